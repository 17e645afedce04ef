/** `/api/zones` and `/api/systems`: the spatial model of the caller's organization. */
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from 'typebox';
import { callerOf } from '../auth-hook.js';
import { notFound } from '../errors.js';
import { AUTHED_ERRORS, DeviceSystem, errors, Id, IdParams, Name, Nullable, Zone } from '../schemas.js';
import type { RouteContext } from './context.js';

const ZoneBody = Type.Object({
  name: Name,
  kind: Type.String({
    minLength: 1,
    description: 'A level of the configured hierarchy (default building, level, area)',
  }),
  parentId: Type.Optional(Nullable(Id)),
});
const ZonePatch = Type.Partial(ZoneBody);
const SystemBody = Type.Object({ name: Name, zoneId: Type.Optional(Nullable(Id)) });
const SystemPatch = Type.Partial(SystemBody);

export function zoneRoutes(app: FastifyInstance, { platform }: RouteContext): void {
  const { entities, store } = platform;
  const read = { minRole: 'viewer' } as const;
  const write = { minRole: 'operator' } as const;

  // ---- zones
  let tags = ['zones'];
  app.get(
    '/api/zones',
    { config: read, schema: { tags, response: { 200: Type.Array(Zone), ...errors(...AUTHED_ERRORS) } } },
    async (request) => store.listZones(callerOf(request).orgId),
  );
  app.get<{ Params: IdParams }>(
    '/api/zones/:id',
    { config: read, schema: { tags, params: IdParams, response: { 200: Zone, ...errors(...AUTHED_ERRORS, 404) } } },
    async (request) => (await entities.getZone(callerOf(request).orgId, request.params.id)) ?? throwNotFound('zone'),
  );
  app.post<{ Body: Static<typeof ZoneBody> }>(
    '/api/zones',
    { config: write, schema: { tags, body: ZoneBody, response: { 201: Zone, ...errors(...AUTHED_ERRORS, 404, 409) } } },
    async (request, reply) => {
      const zone = await entities.createZone(callerOf(request).orgId, request.body);
      return reply.code(201).send(zone);
    },
  );
  app.put<{ Params: IdParams; Body: Static<typeof ZonePatch> }>(
    '/api/zones/:id',
    {
      config: write,
      schema: { tags, params: IdParams, body: ZonePatch, response: { 200: Zone, ...errors(...AUTHED_ERRORS, 404) } },
    },
    async (request) =>
      (await entities.updateZone(callerOf(request).orgId, request.params.id, request.body)) ?? throwNotFound('zone'),
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
    async (request) => store.listSystems(callerOf(request).orgId),
  );
  app.get<{ Params: IdParams }>(
    '/api/systems/:id',
    {
      config: read,
      schema: { tags, params: IdParams, response: { 200: DeviceSystem, ...errors(...AUTHED_ERRORS, 404) } },
    },
    async (request) =>
      (await entities.getSystem(callerOf(request).orgId, request.params.id)) ?? throwNotFound('system'),
  );
  app.post<{ Body: Static<typeof SystemBody> }>(
    '/api/systems',
    {
      config: write,
      schema: { tags, body: SystemBody, response: { 201: DeviceSystem, ...errors(...AUTHED_ERRORS, 404, 409) } },
    },
    async (request, reply) => {
      const system = await entities.createSystem(callerOf(request).orgId, request.body);
      return reply.code(201).send(system);
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
      (await entities.updateSystem(callerOf(request).orgId, request.params.id, request.body)) ??
      throwNotFound('system'),
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
