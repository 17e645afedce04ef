/**
 * `/api/devices`: devices of the caller's organization with their credentials. Creation answers the credentials
 * (an access token by default); `GET/PUT /api/devices/{id}/credentials` read and replace them.
 */
import { createHash, X509Certificate } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from 'typebox';
import { randomAlphanumeric, type EntityService } from '../../platform/entities.js';
import type { DeviceCredentials } from '../../platform/model.js';
import { CloudplugsRequestError } from '../../dialects/cloudplugs/index.js';
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
  hwid: Type.Optional(
    Type.String({ minLength: 1, maxLength: 200, description: 'CloudPlugs hardware id (CLOUDPLUGS credentials)' }),
  ),
  credentials: Type.Optional(CredentialsInput),
});
const PatchBody = Type.Object({
  name: Type.Optional(Name),
  ...placement,
  cloudplugs: Type.Optional(
    Type.Object(
      {
        status: Type.Optional(Type.String({ description: 'ok, disabled or reactivate' })),
        perm: Type.Optional(Type.Unknown({ description: 'CloudPlugs permission filter {"of": {"r", "w"}, "ctrl"}' })),
      },
      { description: 'CloudPlugs status and permission filter (CloudPlugs devices only)' },
    ),
  ),
});
const PatchedDevice = Type.Object({
  ...Device.properties,
  cloudplugs: Type.Optional(Type.Object({ status: Type.String(), perm: Type.Unknown() })),
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
    case 'CLOUDPLUGS':
      // Created by the CloudPlugs dialect (the device route hands these to it), never stored as platform credentials.
      throw new HttpError(HttpErrorCode.InvalidRequest, 'CLOUDPLUGS credentials are issued when the device is created');
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

/** `POST /api/devices` with `credentials: {type: "CLOUDPLUGS"}`: the CloudPlugs dialect creates the device. */
async function createCloudplugsDevice(context: RouteContext, orgId: string, body: Static<typeof CreateBody>) {
  const { entities } = context.platform;
  if (context.cloudplugs === undefined) {
    throw new HttpError(HttpErrorCode.InvalidRequest, 'this server runs without the CloudPlugs dialect');
  }
  const profileRef = body.profile ?? body.profileId;
  const profile =
    profileRef === undefined
      ? undefined
      : ((await entities.getProfile(orgId, profileRef)) ??
        (await context.platform.store.getProfileByName(orgId, profileRef)) ??
        throwNotFound('profile'));
  const { device, credentials } = await context.cloudplugs.createDevice(orgId, {
    name: body.name,
    profileId: profile?.id,
    hwid: body.hwid,
  });
  // The profile is already the device's; only zone, system, index and gateway flag are left to apply.
  const where: Placement = { ...body };
  delete where.profile;
  delete where.profileId;
  const placement = await placementInput(entities, orgId, where);
  const placed =
    Object.keys(placement).length === 0
      ? device
      : ((await entities.updateDevice(orgId, device.id, placement)) ?? device);
  return { ...placed, credentials };
}

export function deviceRoutes(app: FastifyInstance, context: RouteContext): void {
  const { platform } = context;
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
      if (credentials?.type === 'CLOUDPLUGS') {
        return reply.code(201).send(await createCloudplugsDevice(context, orgId, request.body));
      }
      if (request.body.hwid !== undefined) {
        throw new HttpError(HttpErrorCode.InvalidRequest, '"hwid" is for devices with CLOUDPLUGS credentials');
      }
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

  app.patch<{ Params: IdParams; Body: Static<typeof PatchBody> }>(
    '/api/devices/:id',
    {
      config: write,
      schema: {
        tags,
        summary: 'Change some of a device’s fields; `cloudplugs` sets a CloudPlugs device’s status and permissions',
        params: IdParams,
        body: PatchBody,
        response: { 200: PatchedDevice, ...errors(...AUTHED_ERRORS, 404, 409) },
      },
    },
    async (request) => {
      const { orgId } = callerOf(request);
      const { cloudplugs, name, ...rest } = request.body;
      const device = (await entities.getDevice(orgId, request.params.id)) ?? throwNotFound('device');
      let plugs: { status: string; perm: unknown } | undefined;
      if (cloudplugs !== undefined) {
        try {
          plugs = await context.cloudplugs?.patchDevice(device.id, cloudplugs);
        } catch (error) {
          if (error instanceof CloudplugsRequestError) {
            throw new HttpError(HttpErrorCode.InvalidRequest, error.message, { cause: error });
          }
          throw error;
        }
        if (plugs === undefined) throw notFound('CloudPlugs device');
      }
      const input = await placementInput(entities, orgId, rest);
      const patch = name === undefined ? input : { ...input, name };
      const updated = Object.keys(patch).length === 0 ? device : await entities.updateDevice(orgId, device.id, patch);
      if (updated === undefined) throw notFound('device');
      return plugs === undefined ? updated : { ...updated, cloudplugs: plugs };
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
    async (request) => {
      const credentials =
        (await entities.getCredentials(callerOf(request).orgId, request.params.id)) ?? throwNotFound('device');
      // A CloudPlugs device logs in by Plug-ID; its platform access token is a placeholder nobody is given.
      return context.cloudplugs?.credentialsOf(request.params.id) ?? credentials;
    },
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
