/**
 * OTA packages over HTTP. Management API (the caller's organization; routes declare `minRole`, so the API's auth hook
 * sets `request.caller`):
 * - `POST /api/ota-packages?type=FIRMWARE|SOFTWARE&title=&version=` with the package as the raw body
 *   (`application/octet-stream`) → 201 with its metadata (size, SHA-256 checksum);
 * - `GET /api/ota-packages`, `GET /api/ota-packages/{id}`, `GET /api/ota-packages/{id}/data`, `DELETE …/{id}`
 *   (409 while assigned);
 * - `PUT /api/profiles/{id}/ota/{firmware|software}` and `PUT /api/devices/{id}/ota/{firmware|software}` with
 *   `{"packageId": id | null}` assign or unassign; the devices concerned get their `fw_…`/`sw_…` shared attributes.
 * Device API (device-apis.md §3.10): `GET /api/v1/{token}/firmware?title=&version=&size=&chunk=` (and `/software`):
 * 200 with the bytes; unknown token 401; no package assigned 404; a title or version other than the assigned 400.
 */
import type { FastifyPluginAsync } from 'fastify';
import { callerOf, HttpError, HttpErrorCode } from '../../http/index.js';
import type { Platform } from '../../platform/platform.js';
import { OTA_TYPES, type OtaService, type OtaType } from './ota.js';

export interface OtaHttpDeps {
  platform: Platform;
  ota: OtaService;
  /** Largest package accepted on upload. */
  maxPackageBytes: number;
}

const KIND_TO_TYPE: Record<string, OtaType> = { firmware: 'FIRMWARE', software: 'SOFTWARE' };

const idParams = {
  type: 'object',
  properties: { id: { type: 'string', minLength: 1 } },
  required: ['id'],
} as const;
const assignParams = {
  type: 'object',
  properties: { id: { type: 'string', minLength: 1 }, kind: { enum: ['firmware', 'software'] } },
  required: ['id', 'kind'],
} as const;
const assignBody = {
  type: 'object',
  properties: { packageId: { type: ['string', 'null'], minLength: 1 } },
  required: ['packageId'],
  additionalProperties: false,
} as const;
const notFound = (what: string): HttpError => new HttpError(HttpErrorCode.NotFound, `${what} not found`);

export function otaHttpPlugin(deps: OtaHttpDeps): FastifyPluginAsync {
  const { ota, platform } = deps;
  return (app) => {
    // Encapsulated: only this plugin's routes take raw bodies (the package upload); JSON stays JSON.
    app.addContentTypeParser(
      'application/octet-stream',
      { parseAs: 'buffer', bodyLimit: deps.maxPackageBytes },
      (_request, body, done) => {
        done(null, body);
      },
    );
    const tags = ['ota'];

    app.post<{ Querystring: { type: OtaType; title: string; version: string }; Body: Buffer }>(
      '/api/ota-packages',
      {
        bodyLimit: deps.maxPackageBytes,
        config: { minRole: 'operator' },
        schema: {
          tags,
          summary: 'Upload a firmware or software package (raw body, application/octet-stream)',
          querystring: {
            type: 'object',
            properties: {
              type: { enum: OTA_TYPES },
              title: { type: 'string', minLength: 1, maxLength: 255 },
              version: { type: 'string', minLength: 1, maxLength: 255 },
            },
            required: ['type', 'title', 'version'],
          },
        },
      },
      async (request, reply) => {
        if (!Buffer.isBuffer(request.body)) {
          throw new HttpError(HttpErrorCode.UnsupportedMediaType, 'send the package as application/octet-stream');
        }
        const { type, title, version } = request.query;
        const pkg = await ota.createPackage(callerOf(request).orgId, { type, title, version, data: request.body });
        return reply.code(201).send(pkg);
      },
    );

    app.get('/api/ota-packages', { config: { minRole: 'viewer' }, schema: { tags } }, async (request) =>
      ota.listPackages(callerOf(request).orgId),
    );

    app.get<{ Params: { id: string } }>(
      '/api/ota-packages/:id',
      { config: { minRole: 'viewer' }, schema: { tags, params: idParams } },
      async (request) =>
        (await ota.getPackage(callerOf(request).orgId, request.params.id)) ?? Promise.reject(notFound('package')),
    );

    app.get<{ Params: { id: string } }>(
      '/api/ota-packages/:id/data',
      { config: { minRole: 'viewer' }, schema: { tags, params: idParams } },
      async (request, reply) => {
        const pkg = await ota.getPackage(callerOf(request).orgId, request.params.id);
        if (pkg === undefined) throw notFound('package');
        const data = await ota.readData(pkg.id, 0, pkg.size);
        return reply.header('content-type', pkg.contentType).send(data);
      },
    );

    app.delete<{ Params: { id: string } }>(
      '/api/ota-packages/:id',
      { config: { minRole: 'operator' }, schema: { tags, params: idParams } },
      async (request, reply) => {
        if (!(await ota.deletePackage(callerOf(request).orgId, request.params.id))) throw notFound('package');
        return reply.code(204).send();
      },
    );

    for (const entity of ['profiles', 'devices'] as const) {
      app.put<{ Params: { id: string; kind: 'firmware' | 'software' }; Body: { packageId: string | null } }>(
        `/api/${entity}/:id/ota/:kind`,
        {
          config: { minRole: 'operator' },
          schema: {
            tags,
            summary: `Assign (or with null unassign) a ${entity === 'profiles' ? 'profile' : 'device'}'s package`,
            params: assignParams,
            body: assignBody,
          },
        },
        async (request, reply) => {
          const { id, kind } = request.params;
          const target = entity === 'profiles' ? { profileId: id } : { deviceId: id };
          await ota.assign(callerOf(request).orgId, target, KIND_TO_TYPE[kind]!, request.body.packageId);
          return reply.code(204).send();
        },
      );
    }

    // ---- the device side
    for (const kind of ['firmware', 'software'] as const) {
      app.get<{
        Params: { token: string };
        Querystring: { title?: string; version?: string; size?: number; chunk?: number };
      }>(
        `/api/v1/:token/${kind}`,
        {
          schema: {
            tags: ['device API'],
            querystring: {
              type: 'object',
              properties: {
                title: { type: 'string' },
                version: { type: 'string' },
                size: { type: 'integer', minimum: 0 },
                chunk: { type: 'integer', minimum: 0 },
              },
            },
          },
        },
        async (request, reply) => {
          const found = await platform.store.findByAccessToken(request.params.token);
          if (found === undefined) throw new HttpError(HttpErrorCode.Unauthorized, 'unknown access token');
          const pkg = await ota.packageFor(found.device, KIND_TO_TYPE[kind]!);
          if (pkg === undefined) throw new HttpError(HttpErrorCode.NotFound, `no ${kind} is assigned to this device`);
          const { title, version } = request.query;
          if (title !== pkg.title || version !== pkg.version) {
            throw new HttpError(
              HttpErrorCode.InvalidRequest,
              `the assigned ${kind} is ${pkg.title} ${pkg.version}; ask with that title and version`,
            );
          }
          const size = request.query.size === undefined || request.query.size === 0 ? pkg.size : request.query.size;
          const chunk = request.query.chunk ?? 0;
          const data = await ota.readData(pkg.id, chunk * size, size);
          const filename = `${pkg.title}-${pkg.version}`.replace(/[^A-Za-z0-9._-]/g, '_');
          return reply
            .header('content-type', pkg.contentType)
            .header('content-disposition', `attachment; filename="${filename}"`)
            .header('x-filename', filename)
            .send(data);
        },
      );
    }
    return Promise.resolve();
  };
}
