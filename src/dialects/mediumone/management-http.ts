/**
 * The Medium One part of the management API (issue 4, "Management API additions"), registered as a plugin of the
 * management app: its auth hook authenticates `minRole` routes and sets `request.caller` before a handler runs.
 *
 * - `POST /api/groups` `{"name"}` → 201 (operator); `GET /api/groups`, `GET /api/groups/{id}` (viewer, with the
 *   member device ids); `DELETE /api/groups/{id}` → 204 (operator).
 * - `PUT /api/groups/{id}/devices/{deviceId}` → 204, `DELETE …` → 204 (operator): membership is bookkeeping, as on
 *   Medium One, where a device chooses which group topics it listens to.
 * - `POST /api/mediumone/messages` `{"user"?, "device"?, "group"?, "type", "payload", "kind"}` → 200
 *   `{"topic", "retained", "qos", "payloadBytes"}` (operator): publishes the down topic (downlink.ts).
 * - `GET /api/mediumone/events?device=|user=&stream&startTs&endTs&limit&order` (viewer): stored events of a device or
 *   of a user's devices, with `at` (ms) and `atText` (the `observed_at` as sent).
 */
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import type { Broker } from '../../broker/index.js';
import { callerOf, HttpError, HttpErrorCode } from '../../http/index.js';
import type { JsonValue } from '../../platform/model.js';
import type { Platform } from '../../platform/platform.js';
import { downTopic, DownMessageError, sendDownMessage, type DownMessage } from './downlink.js';
import { DuplicateGroupError, type Group, type MediumOneTables } from './tables.js';
import { identifierProblem } from './topics.js';

export interface ManagementDeps {
  platform: Platform;
  tables: MediumOneTables;
  broker: () => Broker | undefined;
  maxQueryLimit: number;
}

const EventsQuery = Type.Object({
  device: Type.Optional(Type.String({ minLength: 1, description: 'Platform device id or Medium One device id' })),
  user: Type.Optional(Type.String({ minLength: 1, description: 'User id or mqttId: every device the user sent for' })),
  stream: Type.Optional(Type.String({ minLength: 1 })),
  startTs: Type.Optional(Type.Integer({ description: 'Inclusive, epoch ms' })),
  endTs: Type.Optional(Type.Integer({ description: 'Exclusive, epoch ms' })),
  limit: Type.Optional(Type.Integer({ minimum: 1 })),
  order: Type.Optional(Type.Union([Type.Literal('ASC'), Type.Literal('DESC')])),
});
interface EventsRoute {
  Querystring: {
    device?: string;
    user?: string;
    stream?: string;
    startTs?: number;
    endTs?: number;
    limit?: number;
    order?: 'ASC' | 'DESC';
  };
}

const GroupBody = Type.Object(
  { name: Type.String({ minLength: 1, description: 'The group id of 2/<project>/<group_id>/<type>' }) },
  { additionalProperties: false },
);
const IdParams = Type.Object({ id: Type.String({ minLength: 1 }) });
const MemberParams = Type.Object({ id: Type.String({ minLength: 1 }), deviceId: Type.String({ minLength: 1 }) });
const MessageBody = Type.Object(
  {
    user: Type.Optional(Type.String({ minLength: 1, description: 'User id or user mqttId' })),
    device: Type.Optional(Type.String({ minLength: 1, description: 'Medium One device id, or a platform device id' })),
    group: Type.Optional(Type.String({ minLength: 1, description: 'Group id or name' })),
    type: Type.Optional(Type.String({ minLength: 1, description: 'Update type (last topic level); not for events' })),
    payload: Type.Unknown({ description: 'A string is sent as is; any other JSON value as JSON' }),
    kind: Type.Union([Type.Literal('event'), Type.Literal('update')]),
  },
  { additionalProperties: false },
);
interface MessageRoute {
  Body: { user?: string; device?: string; group?: string; type?: string; payload: unknown; kind: 'event' | 'update' };
}

export function managementPlugin(deps: ManagementDeps): FastifyPluginAsync {
  return (app) => {
    groupRoutes(app, deps);
    messageRoute(app, deps);
    eventsRoute(app, deps);
    return Promise.resolve();
  };
}

function groupJson(group: Group, deviceIds?: string[]): Record<string, unknown> {
  const json: Record<string, unknown> = { id: group.id, name: group.name, createdAt: group.createdAt };
  if (deviceIds !== undefined) json['devices'] = deviceIds;
  return json;
}

async function groupOf(tables: MediumOneTables, orgId: string, id: string): Promise<Group> {
  const group = await tables.findGroup(orgId, id);
  if (group === undefined) throw new HttpError(HttpErrorCode.NotFound, 'group not found');
  return group;
}

function groupRoutes(app: FastifyInstance, { platform, tables }: ManagementDeps): void {
  const tags = ['mediumone'];
  app.post<{ Body: { name: string } }>(
    '/api/groups',
    { config: { minRole: 'operator' }, schema: { tags, summary: 'Create a Medium One group', body: GroupBody } },
    async (request, reply) => {
      const { orgId } = callerOf(request);
      const problem = identifierProblem('group name', request.body.name);
      if (problem !== undefined) throw new HttpError(HttpErrorCode.InvalidRequest, problem);
      try {
        const group = await tables.createGroup(orgId, request.body.name);
        return await reply.code(201).send(groupJson(group, []));
      } catch (error) {
        if (error instanceof DuplicateGroupError) throw new HttpError(HttpErrorCode.Duplicate, error.message);
        throw error;
      }
    },
  );
  app.get(
    '/api/groups',
    { config: { minRole: 'viewer' }, schema: { tags, summary: 'List the Medium One groups' } },
    async (request) => (await tables.listGroups(callerOf(request).orgId)).map((group) => groupJson(group)),
  );
  app.get<{ Params: { id: string } }>(
    '/api/groups/:id',
    { config: { minRole: 'viewer' }, schema: { tags, summary: 'A group with its devices', params: IdParams } },
    async (request) => {
      const { orgId } = callerOf(request);
      const group = await groupOf(tables, orgId, request.params.id);
      return groupJson(group, await tables.groupDeviceIds(group.id, orgId));
    },
  );
  app.delete<{ Params: { id: string } }>(
    '/api/groups/:id',
    { config: { minRole: 'operator' }, schema: { tags, summary: 'Delete a group', params: IdParams } },
    async (request, reply) => {
      const { orgId } = callerOf(request);
      const group = await groupOf(tables, orgId, request.params.id);
      await tables.deleteGroup(orgId, group.id);
      return reply.code(204).send();
    },
  );
  app.put<{ Params: { id: string; deviceId: string } }>(
    '/api/groups/:id/devices/:deviceId',
    { config: { minRole: 'operator' }, schema: { tags, summary: 'Add a device to a group', params: MemberParams } },
    async (request, reply) => {
      const { orgId } = callerOf(request);
      const group = await groupOf(tables, orgId, request.params.id);
      const device = await platform.entities.getDevice(orgId, request.params.deviceId);
      if (device === undefined) throw new HttpError(HttpErrorCode.NotFound, 'device not found');
      await tables.addDevice(group.id, device.id);
      return reply.code(204).send();
    },
  );
  app.delete<{ Params: { id: string; deviceId: string } }>(
    '/api/groups/:id/devices/:deviceId',
    {
      config: { minRole: 'operator' },
      schema: { tags, summary: 'Remove a device from a group', params: MemberParams },
    },
    async (request, reply) => {
      const { orgId } = callerOf(request);
      const group = await groupOf(tables, orgId, request.params.id);
      if (!(await tables.removeDevice(group.id, request.params.deviceId))) {
        throw new HttpError(HttpErrorCode.NotFound, 'the device is not in the group');
      }
      return reply.code(204).send();
    },
  );
}

function messageRoute(app: FastifyInstance, { platform, tables, broker }: ManagementDeps): void {
  app.post<MessageRoute>(
    '/api/mediumone/messages',
    {
      config: { minRole: 'operator' },
      schema: { tags: ['mediumone'], summary: 'Send a message to Medium One devices', body: MessageBody },
    },
    async (request, reply) => {
      const { orgId } = callerOf(request);
      const body = request.body;
      if (body.payload === undefined) throw new HttpError(HttpErrorCode.InvalidRequest, '"payload" is required');
      const org = await platform.store.getOrganization(orgId);
      if (org === undefined) throw new HttpError(HttpErrorCode.NotFound, 'organization not found');
      // The shape first (400 before any 404): the ids as given stand in for the ones they name.
      asBadRequest(() =>
        downTopic({
          kind: body.kind,
          projectMqttId: org.mqttId,
          userMqttId: body.user,
          deviceId: body.device,
          groupName: body.group,
          type: body.type,
          payload: null,
        }),
      );
      const message: DownMessage = {
        kind: body.kind,
        projectMqttId: org.mqttId,
        userMqttId: body.user === undefined ? undefined : await userMqttIdOf(platform, orgId, body.user),
        deviceId: body.device === undefined ? undefined : await deviceIdOf(platform, orgId, body.device),
        groupName: body.group === undefined ? undefined : (await groupOf(tables, orgId, body.group)).name,
        type: body.type,
        payload: body.payload as JsonValue,
      };
      const connected = broker();
      if (connected === undefined) throw new HttpError(HttpErrorCode.Internal, 'the broker is not running');
      const sent = asBadRequest(() => sendDownMessage(connected, message));
      return reply
        .code(200)
        .send({ topic: sent.topic, retained: sent.isRetained, qos: sent.qos, payloadBytes: sent.payloadBytes });
    },
  );
}

function eventsRoute(app: FastifyInstance, { platform, tables, maxQueryLimit }: ManagementDeps): void {
  app.get<EventsRoute>(
    '/api/mediumone/events',
    {
      config: { minRole: 'viewer' },
      schema: {
        tags: ['mediumone'],
        summary: 'Stored Medium One events of a device or a user',
        querystring: EventsQuery,
      },
    },
    async (request) => {
      const { orgId } = callerOf(request);
      const query = request.query;
      if ((query.device === undefined) === (query.user === undefined)) {
        throw new HttpError(HttpErrorCode.InvalidRequest, 'give one of "device" and "user"');
      }
      const limit = query.limit ?? maxQueryLimit;
      if (limit > maxQueryLimit) throw new HttpError(HttpErrorCode.InvalidRequest, `limit is at most ${maxQueryLimit}`);
      let deviceIds: string[];
      if (query.device !== undefined) {
        const device =
          (await platform.entities.getDevice(orgId, query.device)) ??
          (await platform.store.getDeviceByName(orgId, query.device));
        if (device === undefined) throw new HttpError(HttpErrorCode.NotFound, 'device not found');
        deviceIds = [device.id];
      } else {
        const user =
          (await platform.entities.getUser(orgId, query.user!)) ?? (await platform.store.getUserByMqttId(query.user!));
        if (user?.orgId !== orgId) throw new HttpError(HttpErrorCode.NotFound, 'user not found');
        deviceIds = await tables.userDeviceIds(user.id, orgId);
      }
      if (deviceIds.length === 0) return [];
      const events = await platform.store.queryEvents({
        deviceIds,
        stream: query.stream,
        since: query.startTs,
        until: query.endTs,
        limit,
        order: query.order ?? 'DESC',
      });
      return events.map(({ id, deviceId, stream, at, atText, data }) => ({ id, deviceId, stream, at, atText, data }));
    },
  );
}

function asBadRequest<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    if (error instanceof DownMessageError) throw new HttpError(HttpErrorCode.InvalidRequest, error.message);
    throw error;
  }
}

/** A user of the organization by id, else by mqttId; 404 otherwise. */
async function userMqttIdOf(platform: Platform, orgId: string, user: string): Promise<string> {
  const byId = await platform.entities.getUser(orgId, user);
  if (byId !== undefined) return byId.mqttId;
  const byMqttId = await platform.store.getUserByMqttId(user);
  if (byMqttId?.orgId === orgId) return byMqttId.mqttId;
  throw new HttpError(HttpErrorCode.NotFound, 'user not found');
}

/** A platform device id of the organization names its device (its name); anything else is a Medium One device id. */
async function deviceIdOf(platform: Platform, orgId: string, device: string): Promise<string> {
  const byId = await platform.entities.getDevice(orgId, device);
  return byId === undefined ? device : byId.name;
}
