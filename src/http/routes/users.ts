/**
 * `/api/users` and `/api/api-keys`: admins manage the people and programs of their organization. A user may also
 * change its own password. API keys are shown once, in the creation answer.
 */
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from 'typebox';
import { hasRole } from '../../auth/index.js';
import { callerOf, requireRole } from '../auth-hook.js';
import { HttpError, HttpErrorCode, notFound } from '../errors.js';
import {
  ApiKey,
  AUTHED_ERRORS,
  CreatedApiKey,
  errors,
  IdParams,
  Name,
  Nullable,
  RoleSchema,
  User,
} from '../schemas.js';
import type { RouteContext } from './context.js';
import { throwNotFound } from './zones.js';

const Password = Type.String({ minLength: 8, maxLength: 1024 });
const Email = Type.String({ maxLength: 254, description: 'Unique; also a CloudPlugs account login' });
const MqttId = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[^/+#\\u0000-\\u001f]+$',
  description: 'The Medium One user id (one topic level); generated when absent',
});
const CreateUser = Type.Object({
  username: Name,
  password: Password,
  role: RoleSchema,
  email: Type.Optional(Nullable(Email)),
  mqttId: Type.Optional(MqttId),
  orgId: Type.Optional(
    Type.String({ description: 'Admins of the server organization may create users in another organization' }),
  ),
});
const UpdateUser = Type.Object({
  role: Type.Optional(RoleSchema),
  password: Type.Optional(Password),
  email: Type.Optional(Nullable(Email)),
  mqttId: Type.Optional(MqttId),
});
const CreateKey = Type.Object({ name: Name, role: RoleSchema });

export function userRoutes(app: FastifyInstance, { platform, auth }: RouteContext): void {
  const { entities, store } = platform;
  const admin = { minRole: 'admin' } as const;
  let tags = ['users'];

  app.get(
    '/api/users',
    { config: admin, schema: { tags, response: { 200: Type.Array(User), ...errors(...AUTHED_ERRORS) } } },
    async (request) => entities.listUsers(callerOf(request).orgId),
  );
  app.get<{ Params: IdParams }>(
    '/api/users/:id',
    { config: admin, schema: { tags, params: IdParams, response: { 200: User, ...errors(...AUTHED_ERRORS, 404) } } },
    async (request) => (await entities.getUser(callerOf(request).orgId, request.params.id)) ?? throwNotFound('user'),
  );
  app.post<{ Body: Static<typeof CreateUser> }>(
    '/api/users',
    {
      config: admin,
      schema: { tags, body: CreateUser, response: { 201: User, ...errors(...AUTHED_ERRORS, 404, 409) } },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const orgId = request.body.orgId ?? caller.orgId;
      if (orgId !== caller.orgId && (!caller.isServerAdmin || (await store.getOrganization(orgId)) === undefined)) {
        throw notFound('organization');
      }
      const { username, password, role, email, mqttId } = request.body;
      const user = await auth.createUser(orgId, { username, password, role, email, mqttId });
      return reply.code(201).send(user);
    },
  );
  app.put<{ Params: IdParams; Body: Static<typeof UpdateUser> }>(
    '/api/users/:id',
    {
      // Viewers and operators reach the handler to change their own password; everything else needs admin.
      config: { minRole: 'viewer' },
      schema: {
        tags,
        summary: 'Change a user’s role or password (admins), or one’s own password (anyone)',
        params: IdParams,
        body: UpdateUser,
        response: { 200: User, ...errors(...AUTHED_ERRORS, 404) },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const { id } = request.params;
      const isSelf = caller.kind === 'user' && caller.id === id;
      const { role, email, mqttId } = request.body;
      const isOwnPasswordOnly = isSelf && role === undefined && email === undefined && mqttId === undefined;
      if (!isOwnPasswordOnly) requireRole(caller, 'admin');
      if (isSelf && request.body.role !== undefined && request.body.role !== 'admin') {
        // The last word on roles stays with another admin: an admin cannot lock itself out by accident.
        throw new HttpError(HttpErrorCode.InvalidRequest, 'admins cannot change their own role');
      }
      return (await auth.updateUser(caller.orgId, id, request.body)) ?? throwNotFound('user');
    },
  );
  app.delete<{ Params: IdParams }>(
    '/api/users/:id',
    {
      config: admin,
      schema: { tags, params: IdParams, response: { 204: Type.Null(), ...errors(...AUTHED_ERRORS, 404) } },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      if (caller.kind === 'user' && caller.id === request.params.id) {
        throw new HttpError(HttpErrorCode.InvalidRequest, 'users cannot delete themselves');
      }
      if (!(await entities.deleteUser(caller.orgId, request.params.id))) throw notFound('user');
      return reply.code(204).send();
    },
  );

  tags = ['api-keys'];
  app.get(
    '/api/api-keys',
    { config: admin, schema: { tags, response: { 200: Type.Array(ApiKey), ...errors(...AUTHED_ERRORS) } } },
    async (request) => entities.listApiKeys(callerOf(request).orgId),
  );
  app.get<{ Params: IdParams }>(
    '/api/api-keys/:id',
    { config: admin, schema: { tags, params: IdParams, response: { 200: ApiKey, ...errors(...AUTHED_ERRORS, 404) } } },
    async (request) =>
      (await entities.getApiKey(callerOf(request).orgId, request.params.id)) ?? throwNotFound('api key'),
  );
  app.post<{ Body: Static<typeof CreateKey> }>(
    '/api/api-keys',
    {
      config: admin,
      schema: {
        tags,
        summary: 'Create an API key; the key is in this answer only',
        body: CreateKey,
        response: { 201: CreatedApiKey, ...errors(...AUTHED_ERRORS) },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      if (!hasRole(caller.role, request.body.role)) {
        throw new HttpError(HttpErrorCode.Forbidden, 'a key cannot have more rights than its creator');
      }
      const created = await auth.createApiKey(caller.orgId, request.body);
      return reply.code(201).send(created);
    },
  );
  app.delete<{ Params: IdParams }>(
    '/api/api-keys/:id',
    {
      config: admin,
      schema: { tags, params: IdParams, response: { 204: Type.Null(), ...errors(...AUTHED_ERRORS, 404) } },
    },
    async (request, reply) => {
      if (!(await entities.deleteApiKey(callerOf(request).orgId, request.params.id))) throw notFound('api key');
      return reply.code(204).send();
    },
  );
}
