/**
 * `/api/organizations`. Organizations are tenants: a caller sees its own. Admins of the server organization (the one
 * created at first start) also list, create, change and delete the others; creating one may create its first admin,
 * since nobody else could then log into it.
 */
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from 'typebox';
import type { Caller } from '../../auth/index.js';
import { callerOf } from '../auth-hook.js';
import { HttpError, HttpErrorCode, notFound } from '../errors.js';
import { AUTHED_ERRORS, errors, IdParams, Name, Nullable, Organization, User } from '../schemas.js';
import type { RouteContext } from './context.js';

const Retention = Nullable(Type.Integer({ minimum: 1, maximum: 36_500, description: 'Days; null keeps data forever' }));
const MqttId = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[^/+#\\u0000-\\u001f]+$',
  description: 'The Medium One project id (one topic level); generated when absent',
});
const CreateBody = Type.Object({
  name: Name,
  retentionDays: Type.Optional(Retention),
  mqttId: Type.Optional(MqttId),
  admin: Type.Optional(
    Type.Object(
      { username: Name, password: Type.String({ minLength: 8, maxLength: 1024 }) },
      { description: 'Created as the new organization’s admin' },
    ),
  ),
});
const UpdateBody = Type.Object({
  name: Type.Optional(Name),
  retentionDays: Type.Optional(Retention),
  mqttId: Type.Optional(MqttId),
});
const Created = Type.Object({ ...Organization.properties, admin: Type.Optional(User) });

/** Whether the caller may see or change organization `id`. */
function canReach(caller: Caller, id: string): boolean {
  return caller.orgId === id || caller.isServerAdmin;
}

export function organizationRoutes(app: FastifyInstance, { platform, auth }: RouteContext): void {
  const { entities, store } = platform;
  const tags = ['organizations'];

  app.get(
    '/api/organizations',
    {
      config: { minRole: 'viewer' },
      schema: {
        tags,
        summary: 'Organizations the caller can see',
        response: { 200: Type.Array(Organization), ...errors(...AUTHED_ERRORS) },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      if (caller.isServerAdmin) return store.listOrganizations();
      const own = await store.getOrganization(caller.orgId);
      return own === undefined ? [] : [own];
    },
  );

  app.get<{ Params: IdParams }>(
    '/api/organizations/:id',
    {
      config: { minRole: 'viewer' },
      schema: { tags, params: IdParams, response: { 200: Organization, ...errors(...AUTHED_ERRORS, 404) } },
    },
    async (request) => {
      const caller = callerOf(request);
      const org = canReach(caller, request.params.id) ? await store.getOrganization(request.params.id) : undefined;
      if (org === undefined) throw notFound('organization');
      return org;
    },
  );

  app.post<{ Body: Static<typeof CreateBody> }>(
    '/api/organizations',
    {
      config: { minRole: 'admin' },
      schema: {
        tags,
        summary: 'Create an organization (admins of the server organization)',
        body: CreateBody,
        response: { 201: Created, ...errors(...AUTHED_ERRORS, 409) },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      if (!caller.isServerAdmin) {
        throw new HttpError(HttpErrorCode.Forbidden, 'only admins of the server organization create organizations');
      }
      const { name, retentionDays, admin, mqttId } = request.body;
      // The username is checked first so a taken one does not leave an organization behind without its admin.
      if (admin !== undefined && (await store.getUserByUsername(admin.username)) !== undefined) {
        throw new HttpError(HttpErrorCode.Duplicate, 'username already exists');
      }
      const org = await entities.createOrganization({ name, retentionDays: retentionDays ?? null, mqttId });
      const user =
        admin === undefined
          ? undefined
          : await auth.createUser(org.id, { username: admin.username, password: admin.password, role: 'admin' });
      void reply.code(201);
      return user === undefined ? org : { ...org, admin: user };
    },
  );

  app.put<{ Params: IdParams; Body: Static<typeof UpdateBody> }>(
    '/api/organizations/:id',
    {
      config: { minRole: 'admin' },
      schema: {
        tags,
        params: IdParams,
        body: UpdateBody,
        response: { 200: Organization, ...errors(...AUTHED_ERRORS, 404) },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const { id } = request.params;
      if (!canReach(caller, id) || (await store.getOrganization(id)) === undefined) throw notFound('organization');
      const { name, retentionDays, mqttId } = request.body;
      await entities.updateOrganization(id, { name, retentionDays, mqttId });
      const updated = await store.getOrganization(id);
      if (updated === undefined) throw notFound('organization');
      return updated;
    },
  );

  app.delete<{ Params: IdParams }>(
    '/api/organizations/:id',
    {
      config: { minRole: 'admin' },
      schema: {
        tags,
        summary: 'Delete an organization and everything in it (admins of the server organization)',
        params: IdParams,
        response: { 204: Type.Null(), ...errors(...AUTHED_ERRORS, 404, 409) },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const { id } = request.params;
      if (!canReach(caller, id) || (await store.getOrganization(id)) === undefined) throw notFound('organization');
      if (!caller.isServerAdmin) {
        throw new HttpError(HttpErrorCode.Forbidden, 'only admins of the server organization delete organizations');
      }
      if (id === caller.orgId)
        throw new HttpError(HttpErrorCode.InUse, 'the caller’s own organization cannot be deleted');
      await entities.deleteOrganization(id);
      return reply.code(204).send();
    },
  );
}
