/**
 * Telemetry and attributes of one device: `/api/devices/{id}/telemetry[/latest]` and
 * `/api/devices/{id}/attributes/{scope}`. Writes go through the platform (group commit, bus, shared attributes to the
 * device) and are answered after the commit.
 */
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from 'typebox';
import type { AttributeScope, DataValue } from '../../platform/model.js';
import { callerOf } from '../auth-hook.js';
import { HttpError, HttpErrorCode } from '../errors.js';
import { AnyJson, AUTHED_ERRORS, errors, Id, KeyedObject } from '../schemas.js';
import type { RouteContext } from './context.js';
import { deviceOf, splitKeys } from './device-of.js';

/** Aggregated queries may ask for at most this many buckets per key. */
const MAX_BUCKETS = 100_000;
const DEFAULT_LIMIT = 100;

const Point = Type.Object({ ts: Type.Number(), value: AnyJson });
const DeviceParams = Type.Object({ id: Id });
const KeysQuery = Type.Object({
  keys: Type.Optional(Type.String({ description: 'Comma-separated keys; default: all' })),
});
const RangeQuery = Type.Object({
  keys: Type.Optional(Type.String({ description: 'Comma-separated keys; default: every key the device reported' })),
  startTs: Type.Optional(Type.Integer({ minimum: 0, description: 'Epoch ms, inclusive; default 0' })),
  endTs: Type.Optional(Type.Integer({ minimum: 0, description: 'Epoch ms, exclusive; default: now + 1' })),
  limit: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 100_000, description: `Per key; default ${DEFAULT_LIMIT}` }),
  ),
  order: Type.Optional(Type.Union([Type.Literal('ASC'), Type.Literal('DESC')], { description: 'Default DESC' })),
  interval: Type.Optional(Type.Integer({ minimum: 1, description: 'Bucket width in ms; default: the whole range' })),
  agg: Type.Optional(
    Type.Union(
      [
        Type.Literal('NONE'),
        Type.Literal('AVG'),
        Type.Literal('MIN'),
        Type.Literal('MAX'),
        Type.Literal('SUM'),
        Type.Literal('COUNT'),
      ],
      { description: 'NONE (default): raw points' },
    ),
  ),
});
const ScopeParams = Type.Object({
  id: Id,
  scope: Type.Union([Type.Literal('client'), Type.Literal('shared'), Type.Literal('server')]),
});
const WritableScopeParams = Type.Object({
  id: Id,
  scope: Type.Union([Type.Literal('shared'), Type.Literal('server')], {
    description: 'Client attributes are the device’s own',
  }),
});
const AttributeValues = Type.Record(Type.String({ minLength: 1, maxLength: 255 }), AnyJson, {
  minProperties: 1,
  description: '`{"<key>": value}`; values keep their JSON type; null is not a value (DELETE removes a key)',
});

type RangeQuery = Static<typeof RangeQuery>;

export function telemetryRoutes(app: FastifyInstance, { platform }: RouteContext): void {
  const { store } = platform;
  const read = { minRole: 'viewer' } as const;
  const write = { minRole: 'operator' } as const;

  app.get<{ Params: Static<typeof DeviceParams>; Querystring: Static<typeof KeysQuery> }>(
    '/api/devices/:id/telemetry/latest',
    {
      config: read,
      schema: {
        tags: ['telemetry'],
        summary: 'The newest value of each key',
        params: DeviceParams,
        querystring: KeysQuery,
        response: { 200: KeyedObject(Point), ...errors(...AUTHED_ERRORS, 404) },
      },
    },
    async (request) => {
      const device = await deviceOf(platform, callerOf(request), request.params.id);
      const points = await store.latestTelemetry(device.id, splitKeys(request.query.keys));
      const out: Record<string, { ts: number; value: DataValue }> = {};
      for (const point of points) out[point.key] = { ts: point.ts, value: point.value };
      return out;
    },
  );

  app.get<{ Params: Static<typeof DeviceParams>; Querystring: RangeQuery }>(
    '/api/devices/:id/telemetry',
    {
      config: read,
      schema: {
        tags: ['telemetry'],
        summary: 'Points in a time range, raw or aggregated in the database',
        params: DeviceParams,
        querystring: RangeQuery,
        response: { 200: KeyedObject(Type.Array(Point)), ...errors(...AUTHED_ERRORS, 404) },
      },
    },
    async (request) => {
      const device = await deviceOf(platform, callerOf(request), request.params.id);
      const query = request.query;
      const keys = splitKeys(query.keys) ?? (await store.telemetryKeys(device.id));
      const startTs = query.startTs ?? 0;
      const endTs = query.endTs ?? Date.now() + 1;
      if (endTs <= startTs) throw new HttpError(HttpErrorCode.InvalidRequest, 'endTs must be after startTs');
      const out: Record<string, { ts: number; value: unknown }[]> = {};
      if (keys.length === 0) return out;
      const agg = query.agg ?? 'NONE';
      const limit = query.limit ?? DEFAULT_LIMIT;
      const order = query.order ?? 'DESC';
      if (agg === 'NONE') {
        const range = await store.telemetryRange({ deviceId: device.id, keys, startTs, endTs, limit, order });
        for (const [key, points] of range) out[key] = points;
        return out;
      }
      const intervalMs = query.interval ?? endTs - startTs;
      if ((endTs - startTs) / intervalMs > MAX_BUCKETS) {
        throw new HttpError(
          HttpErrorCode.InvalidRequest,
          `at most ${MAX_BUCKETS} intervals per query: narrow the range or widen the interval`,
        );
      }
      const buckets = await store.telemetryAggregate({
        deviceId: device.id,
        keys,
        startTs,
        endTs,
        intervalMs,
        agg,
      });
      // Buckets come oldest first; `order` and `limit` apply to them as to raw points.
      for (const [key, points] of buckets) {
        const ordered = order === 'DESC' ? [...points].reverse() : points;
        out[key] = ordered.slice(0, limit);
      }
      return out;
    },
  );

  app.get<{ Params: Static<typeof ScopeParams>; Querystring: Static<typeof KeysQuery> }>(
    '/api/devices/:id/attributes/:scope',
    {
      config: read,
      schema: {
        tags: ['attributes'],
        summary: 'Attributes of one scope as `{"<key>": value}`',
        params: ScopeParams,
        querystring: KeysQuery,
        response: { 200: KeyedObject(AnyJson), ...errors(...AUTHED_ERRORS, 404) },
      },
    },
    async (request) => {
      const device = await deviceOf(platform, callerOf(request), request.params.id);
      const attributes = await store.getAttributes(device.id, request.params.scope, splitKeys(request.query.keys));
      const out: Record<string, DataValue> = {};
      for (const attribute of attributes) out[attribute.key] = attribute.value;
      return out;
    },
  );

  app.post<{ Params: Static<typeof WritableScopeParams>; Body: Record<string, unknown> }>(
    '/api/devices/:id/attributes/:scope',
    {
      config: write,
      schema: {
        tags: ['attributes'],
        summary: 'Set shared or server attributes; shared changes are sent to the connected device',
        params: WritableScopeParams,
        body: AttributeValues,
        response: { 200: KeyedObject(AnyJson), ...errors(...AUTHED_ERRORS, 404, 503) },
      },
    },
    async (request) => {
      const device = await deviceOf(platform, callerOf(request), request.params.id);
      const values: Record<string, DataValue> = {};
      for (const [key, value] of Object.entries(request.body)) {
        if (value === null || value === undefined) {
          throw new HttpError(HttpErrorCode.InvalidRequest, `attribute ${key} is null; delete it instead`);
        }
        values[key] = value as DataValue;
      }
      const scope: AttributeScope = request.params.scope;
      await platform.committed((done) => {
        platform.postAttributes(device, scope, values, done);
      });
      return values;
    },
  );

  app.delete<{ Params: Static<typeof ScopeParams>; Querystring: { keys: string } }>(
    '/api/devices/:id/attributes/:scope',
    {
      config: write,
      schema: {
        tags: ['attributes'],
        summary: 'Delete attributes; deleted shared ones are announced to the device',
        params: ScopeParams,
        querystring: Type.Object({ keys: Type.String({ minLength: 1, description: 'Comma-separated keys' }) }),
        response: { 204: Type.Null(), ...errors(...AUTHED_ERRORS, 404, 503) },
      },
    },
    async (request, reply) => {
      const device = await deviceOf(platform, callerOf(request), request.params.id);
      const keys = splitKeys(request.query.keys);
      if (keys === undefined) throw new HttpError(HttpErrorCode.InvalidRequest, 'keys names no key');
      await platform.committed((done) => {
        platform.deleteAttributes(device, request.params.scope, keys, done);
      });
      return reply.code(204).send();
    },
  );
}
