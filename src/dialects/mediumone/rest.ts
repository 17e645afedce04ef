/**
 * Medium One's REST equivalents (device-apis.md §4.4) as a Fastify plugin:
 *
 * - `POST /v2/login` `{"login_id", "password", "api_key", "no_cookies"?}` → 200 `true` with a session cookie, or
 *   `{"token"}` with `no_cookies`; 401 for a wrong login, 400 for missing fields.
 * - `POST /v2/events/<stream>/<login_id>`: one JSON event per line (newline-delimited), body up to 10 MB; every line
 *   is validated before any is stored; 200 with the number created, 400 naming the first bad line, 401 without a
 *   session, 403 for another user's login id, 413 over the size limit, 503 when the store is behind.
 * - `GET /v2/events/<stream>/<login_id>?since&until&limit&sort_by&sort_direction`: the user's events of the stream.
 *
 * The session is the cookie `mediumone_session` or `Authorization: Bearer <token>`. These routes parse their own
 * bodies (any content type, as text), so clients that send NDJSON as `application/json` work.
 */
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { HttpError, HttpErrorCode } from '../../http/index.js';
import type { JsonValue } from '../../platform/model.js';
import type { PlatformStore, SortOrder } from '../../storage/platform-store.js';
import { verifyLogin, type LoginDeps } from './auth.js';
import { parseEvent, type ParsedEvent } from './event.js';
import type { EventIngest } from './ingest.js';
import type { RestSession, RestSessions } from './rest-sessions.js';
import type { MediumOneTables } from './tables.js';
import { formatTimestamp, parseIsoTimestamp } from './timestamp.js';
import { identifierProblem } from './topics.js';

export const SESSION_COOKIE = 'mediumone_session';

/** Events of one upload stored per group of commits. */
const UPLOAD_SLICE_EVENTS = 1_000;

export interface RestDeps extends LoginDeps {
  store: PlatformStore;
  ingest: EventIngest;
  sessions: RestSessions;
  tables: MediumOneTables;
  maxEventBytes: number;
  maxUploadBytes: number;
  maxQueryLimit: number;
}

const StreamParams = Type.Object({ stream: Type.String({ minLength: 1 }), login_id: Type.String({ minLength: 1 }) });
interface StreamRoute {
  Params: { stream: string; login_id: string };
}

const EventsQuery = Type.Object({
  since: Type.Optional(Type.String({ description: 'ISO-8601 with zone; inclusive' })),
  until: Type.Optional(Type.String({ description: 'ISO-8601 with zone; inclusive, to the millisecond' })),
  limit: Type.Optional(Type.Integer({ minimum: 1 })),
  sort_by: Type.Optional(
    Type.Union([Type.Literal('observed_at'), Type.Literal('received_at'), Type.Literal('internal')]),
  ),
  sort_direction: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')])),
});
interface EventsQueryRoute extends StreamRoute {
  Querystring: {
    since?: string;
    until?: string;
    limit?: number;
    sort_by?: 'observed_at' | 'received_at' | 'internal';
    sort_direction?: 'asc' | 'desc';
  };
}

export function restPlugin(deps: RestDeps): FastifyPluginAsync {
  return (app) => {
    // This scope only: the management API keeps its JSON parser.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: deps.maxUploadBytes }, (_request, body, done) => {
      done(null, body);
    });
    loginRoute(app, deps);
    uploadRoute(app, deps);
    queryRoute(app, deps);
    return Promise.resolve();
  };
}

function loginRoute(app: FastifyInstance, deps: RestDeps): void {
  app.post(
    '/v2/login',
    { schema: { tags: ['mediumone'], summary: 'Medium One REST login (login_id, password, api_key)' } },
    async (request, reply) => {
      const fields = formFields(request);
      const loginId = stringField(fields, 'login_id');
      const password = stringField(fields, 'password');
      const apiKey = stringField(fields, 'api_key');
      const store = deps.store;
      const user = (await store.getUserByUsername(loginId)) ?? (await store.getUserByMqttId(loginId));
      const org = user === undefined ? undefined : await store.getOrganization(user.orgId);
      const outcome = await verifyLogin(deps, org, user, apiKey, password);
      if (!outcome.ok || user === undefined) {
        throw new HttpError(HttpErrorCode.Unauthorized, 'wrong login_id, password or api_key');
      }
      const token = deps.sessions.create(outcome.identity, [user.username, user.mqttId]);
      const noCookies = fields['no_cookies'];
      if (noCookies === true || noCookies === 'true' || noCookies === '1') return reply.code(200).send({ token });
      void reply.header(
        'set-cookie',
        `${SESSION_COOKIE}=${token}; Path=/v2; HttpOnly; SameSite=Strict; Max-Age=${deps.sessions.lifetimeSeconds}`,
      );
      return reply.code(200).type('application/json').send('true');
    },
  );
}

function uploadRoute(app: FastifyInstance, deps: RestDeps): void {
  app.post<StreamRoute>(
    '/v2/events/:stream/:login_id',
    {
      schema: {
        tags: ['mediumone'],
        summary: 'Upload Medium One events, one JSON object per line',
        params: StreamParams,
      },
    },
    async (request, reply) => {
      const session = sessionOf(request, deps.sessions, request.params.login_id);
      const stream = streamOf(request.params.stream);
      const body = typeof request.body === 'string' ? request.body : '';
      const now = Date.now();
      const events: { deviceId: string; event: ParsedEvent }[] = [];
      const lines = body.split('\n');
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i]!.trim();
        if (line.length === 0) continue;
        const parsed = parseEvent(line, now, deps.maxEventBytes);
        if (!parsed.ok) {
          const code =
            parsed.refusal.kind === 'tooLarge' ? HttpErrorCode.PayloadTooLarge : HttpErrorCode.InvalidRequest;
          throw new HttpError(code, `line ${i + 1}: ${parsed.refusal.reason}`);
        }
        const event = parsed.event;
        const deviceId = deviceIdOf(event.eventData, i + 1);
        if (event.isClientIpRequested) event.eventData = { ...event.eventData, ip_address: request.ip };
        events.push({ deviceId, event: { ...event, stream } });
      }
      if (events.length === 0) throw new HttpError(HttpErrorCode.InvalidRequest, 'the body holds no event');
      // In slices, so one 10 MB upload of small events cannot fill the writer's pending bound on its own.
      for (let start = 0; start < events.length; start += UPLOAD_SLICE_EVENTS) {
        const slice = events.slice(start, start + UPLOAD_SLICE_EVENTS);
        await Promise.all(slice.map(({ deviceId, event }) => deps.ingest.ingest(session.identity, deviceId, event)));
      }
      return reply.code(200).type('application/json').send(String(events.length));
    },
  );
}

function queryRoute(app: FastifyInstance, deps: RestDeps): void {
  app.get<EventsQueryRoute>(
    '/v2/events/:stream/:login_id',
    {
      schema: {
        tags: ['mediumone'],
        summary: 'Query a Medium One user’s events of a stream',
        params: StreamParams,
        querystring: EventsQuery,
      },
    },
    async (request, reply) => {
      const session = sessionOf(request, deps.sessions, request.params.login_id);
      const stream = streamOf(request.params.stream);
      const query = request.query;
      const limit = query.limit ?? deps.maxQueryLimit;
      if (limit > deps.maxQueryLimit) {
        throw new HttpError(HttpErrorCode.InvalidRequest, `limit is at most ${deps.maxQueryLimit}`);
      }
      const since = query.since === undefined ? undefined : timeParam('since', query.since);
      // `until` is inclusive; the store's bound is exclusive, at millisecond resolution.
      const until = query.until === undefined ? undefined : timeParam('until', query.until) + 1;
      const order: SortOrder = query.sort_direction === 'desc' ? 'DESC' : 'ASC';
      const { identity } = session;
      const deviceIds = await deps.tables.userDeviceIds(identity.userId, identity.orgId);
      const events =
        deviceIds.length === 0 ? [] : await deps.store.queryEvents({ deviceIds, stream, since, until, limit, order });
      return reply.code(200).send(
        events.map((event) => ({
          id: event.id,
          stream: event.stream,
          observed_at: event.atText ?? formatTimestamp(event.at),
          event_data: event.data,
        })),
      );
    },
  );
}

/** The session of the request, for the login id in the path; 401 without one, 403 for another user's login id. */
function sessionOf(request: FastifyRequest, sessions: RestSessions, loginId: string): RestSession {
  const token = bearerToken(request) ?? cookieToken(request);
  const session = token === undefined ? undefined : sessions.get(token);
  if (session === undefined) {
    throw new HttpError(HttpErrorCode.Unauthorized, 'not logged in: POST /v2/login first');
  }
  if (!session.loginIds.includes(loginId)) {
    throw new HttpError(HttpErrorCode.Forbidden, `the session is not ${JSON.stringify(loginId)}'s`);
  }
  return session;
}

function bearerToken(request: FastifyRequest): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
  return match?.[1];
}

function cookieToken(request: FastifyRequest): string | undefined {
  const header = request.headers.cookie;
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === SESSION_COOKIE) return value.join('=');
  }
  return undefined;
}

function streamOf(stream: string): string {
  const problem = identifierProblem('stream', stream);
  if (problem !== undefined) throw new HttpError(HttpErrorCode.InvalidRequest, problem);
  return stream;
}

function timeParam(name: string, text: string): number {
  const parsed = parseIsoTimestamp(text);
  if (!parsed.ok) throw new HttpError(HttpErrorCode.InvalidRequest, `${name} ${JSON.stringify(text)} ${parsed.reason}`);
  return parsed.ms;
}

/** A REST event names its device in `event_data.device_id` (what MQTT adds); absent: the user's own device. */
function deviceIdOf(eventData: { [key: string]: JsonValue }, line: number): string {
  const deviceId = eventData['device_id'];
  if (deviceId === undefined || deviceId === null || deviceId === '') return '';
  if (typeof deviceId !== 'string') {
    throw new HttpError(HttpErrorCode.InvalidRequest, `line ${line}: "device_id" is not a string`);
  }
  const problem = identifierProblem('device_id', deviceId);
  if (problem !== undefined) throw new HttpError(HttpErrorCode.InvalidRequest, `line ${line}: ${problem}`);
  return deviceId;
}

/** The login form: a JSON object, or `application/x-www-form-urlencoded`. */
function formFields(request: FastifyRequest): Record<string, unknown> {
  const body = typeof request.body === 'string' ? request.body : '';
  const contentType = request.headers['content-type'] ?? '';
  if (contentType.startsWith('application/x-www-form-urlencoded')) {
    return Object.fromEntries(new URLSearchParams(body));
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new HttpError(HttpErrorCode.InvalidJson, 'the login body is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new HttpError(HttpErrorCode.InvalidRequest, 'the login body is not a JSON object');
  }
  return parsed as Record<string, unknown>;
}

function stringField(fields: Record<string, unknown>, name: string): string {
  const value = fields[name];
  if (typeof value !== 'string' || value.length === 0) {
    throw new HttpError(HttpErrorCode.InvalidRequest, `"${name}" is required`);
  }
  return value;
}
