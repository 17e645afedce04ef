/**
 * Stored events of the caller's organization, whatever dialect wrote them (Medium One events, CloudPlugs records,
 * any other `platform.postEvents`): `GET /api/events`. One query across devices, so a dashboard does not need a
 * request per device or per dialect; the organization is always part of the store query, so no parameter can widen it.
 */
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from 'typebox';
import type { DeviceEvent } from '../../platform/model.js';
import { callerOf } from '../auth-hook.js';
import { badRequest } from '../errors.js';
import { AnyJson, AUTHED_ERRORS, errors, Nullable } from '../schemas.js';
import type { RouteContext } from './context.js';
import { deviceOf } from './device-of.js';

/** Events one request answers at most (and by default). */
export const MAX_EVENTS_LIMIT = 1_000;
const DEFAULT_EVENTS_LIMIT = 100;
/** Devices one request may name; more would make the query's id list, and the look-ups before it, unbounded. */
export const MAX_EVENTS_DEVICES = 100;
/** Deepest `offset`: a deeper page costs the database a scan of everything before it; narrow `since`/`until`. */
export const MAX_EVENTS_OFFSET = 100_000;

const KNOWN_PARAMETERS = new Set(['device', 'stream', 'since', 'until', 'limit', 'offset', 'order']);

const EventsQuery = Type.Object({
  device: Type.Optional(
    Type.Array(Type.String({ minLength: 1 }), {
      description: `Device ids: repeat the parameter or give a CSV; at most ${String(MAX_EVENTS_DEVICES)}; default: every device`,
    }),
  ),
  stream: Type.Optional(
    Type.String({ minLength: 1, maxLength: 255, description: 'Medium One stream or CloudPlugs channel (exact)' }),
  ),
  since: Type.Optional(Type.String({ minLength: 1, description: 'Inclusive: epoch ms or ISO-8601 with a zone' })),
  until: Type.Optional(Type.String({ minLength: 1, description: 'Exclusive: epoch ms or ISO-8601 with a zone' })),
  limit: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: MAX_EVENTS_LIMIT,
      description: `Default ${String(DEFAULT_EVENTS_LIMIT)}, at most ${String(MAX_EVENTS_LIMIT)}`,
    }),
  ),
  offset: Type.Optional(
    Type.Integer({ minimum: 0, maximum: MAX_EVENTS_OFFSET, description: 'Events skipped first; default 0' }),
  ),
  order: Type.Optional(
    Type.Union([Type.Literal('desc'), Type.Literal('asc'), Type.Literal('DESC'), Type.Literal('ASC')], {
      description: 'By time, then arrival; default desc (newest first)',
    }),
  ),
});
type EventsQuery = Static<typeof EventsQuery>;

const EventJson = Type.Object({
  id: Type.String(),
  deviceId: Type.String(),
  stream: Type.String({ description: 'Medium One stream or CloudPlugs channel' }),
  at: Type.Number({ description: 'Epoch ms' }),
  atText: Nullable(Type.String({ description: 'The time as the device sent it (Medium One `observed_at`)' })),
  data: AnyJson,
  expiresAt: Nullable(Type.Number({ description: 'Epoch ms (a CloudPlugs `ttl`/`expire_at`); null: retention only' })),
});

export function eventRoutes(app: FastifyInstance, { platform }: RouteContext): void {
  app.get<{ Querystring: EventsQuery }>(
    '/api/events',
    {
      config: { minRole: 'viewer' },
      schema: {
        tags: ['events'],
        summary: 'Stored events of the organization’s devices, from every dialect',
        querystring: EventsQuery,
        response: { 200: Type.Array(EventJson), ...errors(...AUTHED_ERRORS, 404) },
      },
    },
    async (request) => {
      rejectUnknownParameters(request.url);
      const caller = callerOf(request);
      const query = request.query;
      const since = query.since === undefined ? undefined : parseTime(query.since, 'since');
      const until = query.until === undefined ? undefined : parseTime(query.until, 'until');
      if (since !== undefined && until !== undefined && until <= since) throw badRequest('until must be after since');
      const ids = deviceIdsOf(query.device);
      // 404 for a device of another organization as for an unknown one (device-of.ts), before anything is read.
      const devices =
        ids === undefined ? undefined : await Promise.all(ids.map((id) => deviceOf(platform, caller, id)));
      const events = await platform.store.queryEvents({
        orgId: caller.orgId,
        deviceIds: devices?.map((device) => device.id),
        stream: query.stream,
        since,
        until,
        limit: query.limit ?? DEFAULT_EVENTS_LIMIT,
        offset: query.offset,
        order: query.order?.toUpperCase() === 'ASC' ? 'ASC' : 'DESC',
      });
      return events.map(toJson);
    },
  );
}

function toJson({ id, deviceId, stream, at, atText, data, expiresAt }: DeviceEvent): Static<typeof EventJson> {
  return { id, deviceId, stream, at, atText, data, expiresAt };
}

/**
 * Fastify's validator drops parameters the schema does not name; here a misspelt filter (`?devices=`) would silently
 * widen the answer to the whole organization, so it is a 400 instead.
 */
function rejectUnknownParameters(url: string): void {
  const search = url.indexOf('?');
  if (search < 0) return;
  for (const name of new URLSearchParams(url.slice(search + 1)).keys()) {
    if (!KNOWN_PARAMETERS.has(name)) throw badRequest(`unknown parameter "${name}"`);
  }
}

/** `device=a&device=b,c` → ['a', 'b', 'c'] (deduplicated); no parameter → undefined (every device). */
function deviceIdsOf(values: readonly string[] | undefined): string[] | undefined {
  if (values === undefined) return undefined;
  const ids = new Set<string>();
  for (const value of values) {
    for (const part of value.split(',')) {
      const id = part.trim();
      if (id.length === 0) throw badRequest('device names an empty id');
      ids.add(id);
    }
  }
  if (ids.size > MAX_EVENTS_DEVICES) throw badRequest(`at most ${String(MAX_EVENTS_DEVICES)} devices per query`);
  return [...ids];
}

const EPOCH_MS = /^-?\d{1,16}$/;
/** A date and time with a zone; without one the instant would depend on the server's time zone. */
const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})$/;

function parseTime(value: string, name: string): number {
  if (EPOCH_MS.test(value)) return Number(value);
  const ms = ISO_WITH_ZONE.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) throw badRequest(`${name} is neither epoch ms nor an ISO-8601 time with a zone`);
  return ms;
}
