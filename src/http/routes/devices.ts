/**
 * `/api/devices`: devices of the caller's organization with their credentials. Creation answers the credentials
 * (an access token by default); `GET/PUT /api/devices/{id}/credentials` read and replace them.
 */
import { createHash, X509Certificate } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from 'typebox';
import { randomAlphanumeric, type EntityService } from '../../platform/entities.js';
import type { DeviceCredentials } from '../../platform/model.js';
import { callerOf } from '../auth-hook.js';
import { HttpError, HttpErrorCode, notFound } from '../errors.js';
import {
  AUTHED_ERRORS,
  Credentials,
  CredentialsInput,
  Device,
  DeviceWithCredentials,
  errors,
  Id,
  IdParams,
  Name,
  Nullable,
} from '../schemas.js';
import type { RouteContext } from './context.js';
import { throwNotFound } from './zones.js';

const ACCESS_TOKEN_CHARS = 20;

const placement = {
  profile: Type.Optional(
    Type.String({ minLength: 1, description: 'Profile id or name; default: the default profile' }),
  ),
  zone: Type.Optional(Nullable(Id)),
  system: Type.Optional(Nullable(Id)),
  /** The names `GET` answers with are accepted too, so a fetched device can be sent back as is. */
  profileId: Type.Optional(Id),
  zoneId: Type.Optional(Nullable(Id)),
  systemId: Type.Optional(Nullable(Id)),
  index: Type.Optional(Nullable(Type.Integer({ minimum: 0 }))),
  isGateway: Type.Optional(Type.Boolean()),
};
const CreateBody = Type.Object({
  name: Name,
  ...placement,
  credentials: Type.Optional(CredentialsInput),
});
const UpdateBody = Type.Object({ name: Type.Optional(Name), ...placement });
const ListQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
});

type Placement = Static<typeof UpdateBody>;

/** Credentials as stored, from what the request gave. */
export function toCredentials(input: CredentialsInput): DeviceCredentials {
  switch (input.type) {
    case 'ACCESS_TOKEN':
      return { type: 'ACCESS_TOKEN', accessToken: input.accessToken ?? randomAlphanumeric(ACCESS_TOKEN_CHARS) };
    case 'MQTT_BASIC':
      return {
        type: 'MQTT_BASIC',
        clientId: input.clientId ?? null,
        username: input.username ?? null,
        password: input.password ?? null,
      };
    case 'X509_CERTIFICATE': {
      if (input.certificateHash !== undefined) {
        return { type: 'X509_CERTIFICATE', certificateHash: input.certificateHash.toLowerCase() };
      }
      if (input.certificatePem === undefined) {
        throw new HttpError(HttpErrorCode.InvalidRequest, 'X509_CERTIFICATE needs certificateHash or certificatePem');
      }
      let der: Buffer;
      try {
        der = new X509Certificate(input.certificatePem).raw;
      } catch (error) {
        throw new HttpError(HttpErrorCode.InvalidRequest, 'certificatePem is not a PEM certificate', { cause: error });
      }
      return { type: 'X509_CERTIFICATE', certificateHash: createHash('sha256').update(der).digest('hex') };
    }
  }
}

/** The entity-service input for a device's placement fields; the profile may be named by id or by name. */
async function placementInput(entities: EntityService, orgId: string, body: Placement) {
  const profile = body.profile ?? body.profileId;
  const zone = body.zone !== undefined ? body.zone : body.zoneId;
  const system = body.system !== undefined ? body.system : body.systemId;
  const byId = profile === undefined ? undefined : await entities.getProfile(orgId, profile);
  return {
    ...(profile === undefined ? {} : byId !== undefined ? { profileId: byId.id } : { profileName: profile }),
    ...(zone === undefined ? {} : { zoneId: zone }),
    ...(system === undefined ? {} : { systemId: system }),
    ...(body.index === undefined ? {} : { index: body.index }),
    ...(body.isGateway === undefined ? {} : { isGateway: body.isGateway }),
  };
}

export function deviceRoutes(app: FastifyInstance, { platform }: RouteContext): void {
  const { entities, store } = platform;
  const tags = ['devices'];
  const read = { minRole: 'viewer' } as const;
  const write = { minRole: 'operator' } as const;

  app.get<{ Querystring: Static<typeof ListQuery> }>(
    '/api/devices',
    {
      config: read,
      schema: { tags, querystring: ListQuery, response: { 200: Type.Array(Device), ...errors(...AUTHED_ERRORS) } },
    },
    async (request) =>
      store.listDevices(callerOf(request).orgId, {
        limit: request.query.limit ?? 1000,
        offset: request.query.offset ?? 0,
      }),
  );

  app.get<{ Params: IdParams }>(
    '/api/devices/:id',
    { config: read, schema: { tags, params: IdParams, response: { 200: Device, ...errors(...AUTHED_ERRORS, 404) } } },
    async (request) =>
      (await entities.getDevice(callerOf(request).orgId, request.params.id)) ?? throwNotFound('device'),
  );

  app.post<{ Body: Static<typeof CreateBody> }>(
    '/api/devices',
    {
      config: write,
      schema: {
        tags,
        summary: 'Create a device; the answer carries its credentials (an access token unless others are given)',
        body: CreateBody,
        response: { 201: DeviceWithCredentials, ...errors(...AUTHED_ERRORS, 404, 409) },
      },
    },
    async (request, reply) => {
      const { orgId } = callerOf(request);
      const { name, credentials } = request.body;
      const created = await entities.createDevice(orgId, {
        name,
        ...(await placementInput(entities, orgId, request.body)),
        ...(credentials === undefined ? {} : { credentials: toCredentials(credentials) }),
      });
      return reply.code(201).send({ ...created.device, credentials: created.credentials });
    },
  );

  app.put<{ Params: IdParams; Body: Static<typeof UpdateBody> }>(
    '/api/devices/:id',
    {
      config: write,
      schema: {
        tags,
        params: IdParams,
        body: UpdateBody,
        response: { 200: Device, ...errors(...AUTHED_ERRORS, 404, 409) },
      },
    },
    async (request) => {
      const { orgId } = callerOf(request);
      const input = await placementInput(entities, orgId, request.body);
      const name = request.body.name;
      const updated = await entities.updateDevice(
        orgId,
        request.params.id,
        name === undefined ? input : { ...input, name },
      );
      return updated ?? throwNotFound('device');
    },
  );

  app.delete<{ Params: IdParams }>(
    '/api/devices/:id',
    {
      config: write,
      schema: {
        tags,
        summary: 'Delete a device with its credentials and data',
        params: IdParams,
        response: { 204: Type.Null(), ...errors(...AUTHED_ERRORS, 404) },
      },
    },
    async (request, reply) => {
      if (!(await entities.deleteDevice(callerOf(request).orgId, request.params.id))) throw notFound('device');
      return reply.code(204).send();
    },
  );

  app.get<{ Params: IdParams }>(
    '/api/devices/:id/credentials',
    {
      config: read,
      schema: { tags, params: IdParams, response: { 200: Credentials, ...errors(...AUTHED_ERRORS, 404) } },
    },
    async (request) =>
      (await entities.getCredentials(callerOf(request).orgId, request.params.id)) ?? throwNotFound('device'),
  );

  app.put<{ Params: IdParams; Body: CredentialsInput }>(
    '/api/devices/:id/credentials',
    {
      config: write,
      schema: {
        tags,
        summary: 'Replace the device’s credentials',
        params: IdParams,
        body: CredentialsInput,
        response: { 200: Credentials, ...errors(...AUTHED_ERRORS, 404, 409) },
      },
    },
    async (request) => {
      const credentials = toCredentials(request.body);
      if (!(await entities.setCredentials(callerOf(request).orgId, request.params.id, credentials))) {
        throw notFound('device');
      }
      return credentials;
    },
  );
}
