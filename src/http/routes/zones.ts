/** `/api/zones` and `/api/systems`: the spatial model of the caller's organization. */
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from 'typebox';
import { callerOf } from '../auth-hook.js';
import type { NewSystemInput, NewZoneInput } from '../../platform/entities.js';
import type { DeviceSystem as ModelSystem, Zone as ModelZone } from '../../platform/model.js';
import { badRequest, notFound } from '../errors.js';
import { AUTHED_ERRORS, DeviceSystem, errors, Id, IdParams, Name, Nullable, Zone } from '../schemas.js';
import type { RouteContext } from './context.js';

const Tier = Type.String({
  minLength: 1,
  description: 'A level of the configured hierarchy (default building, level, area; e.g. org, region for PlaceOS)',
});
/** `tier` and `parent` are the PlaceOS-style names; `kind` and `parentId` the older ones. Either may be sent. */
const ZonePatch = Type.Object({
  name: Type.Optional(Name),
  tier: Type.Optional(Tier),
  kind: Type.Optional(Tier),
  parent: Type.Optional(Nullable(Id)),
  parentId: Type.Optional(Nullable(Id)),
});
const ZoneBody = Type.Intersect([Type.Object({ name: Name }), ZonePatch]);
const SystemPatch = Type.Object({
  name: Type.Optional(Name),
  zones: Type.Optional(Type.Array(Id, { maxItems: 64, description: 'The zones the system is in' })),
  zoneId: Type.Optional(Nullable(Id)),
});
const SystemBody = Type.Intersect([Type.Object({ name: Name }), SystemPatch]);

type ZoneFields = Static<typeof ZonePatch>;
type SystemFields = Static<typeof SystemPatch>;

function zoneInput(body: ZoneFields): Partial<NewZoneInput> {
  const kind = body.tier ?? body.kind;
  const parentId = body.parent === undefined ? body.parentId : body.parent;
  return {
    ...(body.name === undefined ? {} : { name: body.name }),
    ...(kind === undefined ? {} : { kind }),
    ...(parentId === undefined ? {} : { parentId }),
  };
}

function systemInput(body: SystemFields): Partial<NewSystemInput> {
  const zoneIds = body.zones ?? (body.zoneId === undefined ? undefined : body.zoneId === null ? [] : [body.zoneId]);
  return {
    ...(body.name === undefined ? {} : { name: body.name }),
    ...(zoneIds === undefined ? {} : { zoneIds }),
  };
}

/** A zone as the API shows it: `tier` is the model's `kind`. */
export function zoneView(zone: ModelZone): Static<typeof Zone> {
  return { ...zone, tier: zone.kind };
}

/** A system as the API shows it: `zones`, and `zoneId` (the first) for older clients. */
export function systemView(system: ModelSystem): Static<typeof DeviceSystem> {
  const { zoneIds, ...rest } = system;
  return { ...rest, zones: zoneIds, zoneId: zoneIds[0] ?? null };
}

export function zoneRoutes(app: FastifyInstance, { platform }: RouteContext): void {
  const { entities, store } = platform;
  const read = { minRole: 'viewer' } as const;
  const write = { minRole: 'operator' } as const;

  // ---- zones
  let tags = ['zones'];
  app.get(
    '/api/zones',
    { config: read, schema: { tags, response: { 200: Type.Array(Zone), ...errors(...AUTHED_ERRORS) } } },
    async (request) => (await store.listZones(callerOf(request).orgId)).map(zoneView),
  );
  app.get<{ Params: IdParams }>(
    '/api/zones/:id',
    { config: read, schema: { tags, params: IdParams, response: { 200: Zone, ...errors(...AUTHED_ERRORS, 404) } } },
    async (request) =>
      zoneView((await entities.getZone(callerOf(request).orgId, request.params.id)) ?? throwNotFound('zone')),
  );
  app.post<{ Body: Static<typeof ZoneBody> }>(
    '/api/zones',
    { config: write, schema: { tags, body: ZoneBody, response: { 201: Zone, ...errors(...AUTHED_ERRORS, 404, 409) } } },
    async (request, reply) => {
      const input = zoneInput(request.body);
      if (input.kind === undefined) throw badRequest('tier is required');
      const zone = await entities.createZone(callerOf(request).orgId, {
        ...input,
        name: request.body.name,
        kind: input.kind,
      });
      return reply.code(201).send(zoneView(zone));
    },
  );
  app.put<{ Params: IdParams; Body: Static<typeof ZonePatch> }>(
    '/api/zones/:id',
    {
      config: write,
      schema: { tags, params: IdParams, body: ZonePatch, response: { 200: Zone, ...errors(...AUTHED_ERRORS, 404) } },
    },
    async (request) =>
      zoneView(
        (await entities.updateZone(callerOf(request).orgId, request.params.id, zoneInput(request.body))) ??
          throwNotFound('zone'),
      ),
  );
  app.delete<{ Params: IdParams }>(
    '/api/zones/:id',
    {
      config: write,
      schema: { tags, params: IdParams, response: { 204: Type.Null(), ...errors(...AUTHED_ERRORS, 404, 409) } },
    },
    async (request, reply) => {
      if (!(await entities.deleteZone(callerOf(request).orgId, request.params.id))) throw notFound('zone');
      return reply.code(204).send();
    },
  );

  // ---- systems
  tags = ['systems'];
  app.get(
    '/api/systems',
    { config: read, schema: { tags, response: { 200: Type.Array(DeviceSystem), ...errors(...AUTHED_ERRORS) } } },
    async (request) => (await store.listSystems(callerOf(request).orgId)).map(systemView),
  );
  app.get<{ Params: IdParams }>(
    '/api/systems/:id',
    {
      config: read,
      schema: { tags, params: IdParams, response: { 200: DeviceSystem, ...errors(...AUTHED_ERRORS, 404) } },
    },
    async (request) =>
      systemView((await entities.getSystem(callerOf(request).orgId, request.params.id)) ?? throwNotFound('system')),
  );
  app.post<{ Body: Static<typeof SystemBody> }>(
    '/api/systems',
    {
      config: write,
      schema: { tags, body: SystemBody, response: { 201: DeviceSystem, ...errors(...AUTHED_ERRORS, 404, 409) } },
    },
    async (request, reply) => {
      const input = systemInput(request.body);
      const system = await entities.createSystem(callerOf(request).orgId, { ...input, name: request.body.name });
      return reply.code(201).send(systemView(system));
    },
  );
  app.put<{ Params: IdParams; Body: Static<typeof SystemPatch> }>(
    '/api/systems/:id',
    {
      config: write,
      schema: {
        tags,
        params: IdParams,
        body: SystemPatch,
        response: { 200: DeviceSystem, ...errors(...AUTHED_ERRORS, 404) },
      },
    },
    async (request) =>
      systemView(
        (await entities.updateSystem(callerOf(request).orgId, request.params.id, systemInput(request.body))) ??
          throwNotFound('system'),
      ),
  );
  app.delete<{ Params: IdParams }>(
    '/api/systems/:id',
    {
      config: write,
      schema: { tags, params: IdParams, response: { 204: Type.Null(), ...errors(...AUTHED_ERRORS, 404, 409) } },
    },
    async (request, reply) => {
      if (!(await entities.deleteSystem(callerOf(request).orgId, request.params.id))) throw notFound('system');
      return reply.code(204).send();
    },
  );
}

/** For `?? throwNotFound(...)` after an organization-scoped look-up. */
export function throwNotFound(what: string): never {
  throw notFound(what);
}
