/**
 * `/api/bridges`: the caller's organization's bridges to cloud brokers. `POST` answers 201 with the bridge and its
 * `secret` (shown only then); `GET /api/bridges/{id}` shows the bridge and its link's status; `PATCH` changes it (name
 * and filters live, anything else reconnects); `DELETE` disconnects and removes it. Reading needs the operator role,
 * changing the admin role: a bridge sends the organization's whole state to another server. A setting that does not
 * check is 400 with the `field` and, for a privacy rule, its 0-based `ruleIndex`.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type Static, type TSchema } from 'typebox';
import { HttpError, HttpErrorCode } from '../../../http/index.js';
import type { BridgeService } from './bridge-service.js';
import { BridgeLimitError } from './bridge-service.js';
import { PrivacyRules } from '../feed-settings.js';
import { BridgeSettingsError, BRIDGE_LIMITS } from './bridge-settings.js';
import { DuplicateBridgeNameError } from './bridge-store.js';

const Nullable = <T extends TSchema>(schema: T) => Type.Union([Type.Null(), schema]);

const Pem = Type.String({ minLength: 1, maxLength: BRIDGE_LIMITS.maxPemBytes });
const settingFields = {
  name: Type.String({ minLength: 1, maxLength: 255 }),
  host: Type.String({ minLength: 1, maxLength: 253 }),
  port: Type.Integer({ minimum: 1, maximum: 65_535 }),
  tls: Type.Boolean(),
  ca: Nullable(Pem),
  cert: Nullable(Pem),
  key: Nullable(Pem),
  rejectUnauthorized: Type.Boolean(),
  username: Nullable(Type.String()),
  password: Nullable(Type.String()),
  clientId: Nullable(Type.String({ minLength: 1 })),
  topicPrefix: Type.String({ maxLength: BRIDGE_LIMITS.maxTopicPrefixBytes }),
  qos: Type.Union([Type.Literal(0), Type.Literal(1)]),
  filters: PrivacyRules,
};

const CreateBody = Type.Object(
  {
    name: settingFields.name,
    host: settingFields.host,
    port: settingFields.port,
    tls: Type.Optional(settingFields.tls),
    ca: Type.Optional(settingFields.ca),
    cert: Type.Optional(settingFields.cert),
    key: Type.Optional(settingFields.key),
    rejectUnauthorized: Type.Optional(settingFields.rejectUnauthorized),
    username: Type.Optional(settingFields.username),
    password: Type.Optional(settingFields.password),
    clientId: Type.Optional(settingFields.clientId),
    topicPrefix: Type.Optional(settingFields.topicPrefix),
    qos: Type.Optional(settingFields.qos),
    filters: Type.Optional(settingFields.filters),
  },
  { additionalProperties: false },
);
const PatchBody = Type.Partial(CreateBody, { additionalProperties: false });

const Status = Type.Object({
  connected: Type.Boolean(),
  lastError: Nullable(Type.String()),
  lastErrorAt: Nullable(Type.Number()),
  queued: Type.Integer(),
  sent: Type.Integer(),
  dropped: Type.Integer(),
  filtered: Type.Integer(),
  connectedAt: Nullable(Type.Number()),
  protocolVersion: Nullable(Type.Union([Type.Literal('5.0'), Type.Literal('3.1.1')])),
  attempts: Type.Integer(),
  nextAttemptAt: Nullable(Type.Number()),
});

const BridgeFields = {
  id: Type.String(),
  orgId: Type.String(),
  name: Type.String(),
  host: Type.String(),
  port: Type.Integer(),
  tls: Type.Boolean(),
  ca: Nullable(Type.String()),
  cert: Nullable(Type.String()),
  rejectUnauthorized: Type.Boolean(),
  username: Nullable(Type.String()),
  hasPassword: Type.Boolean(),
  hasKey: Type.Boolean(),
  clientId: Nullable(Type.String({ description: 'null: switchboard-<id>' })),
  topicPrefix: Type.String(),
  qos: Type.Integer(),
  filters: PrivacyRules,
  createdAt: Type.Number(),
  updatedAt: Type.Number(),
  status: Status,
};
const Bridge = Type.Object(BridgeFields);
const CreatedBridge = Type.Object({
  ...BridgeFields,
  secret: Type.String({ description: 'HMAC-SHA256 key of the hash rules, hex: shown only in this response' }),
});

const ErrorBody = Type.Object({ error: Type.String(), message: Type.String() });
const SettingsErrorBody = Type.Object({
  error: Type.String(),
  message: Type.String(),
  field: Type.Optional(Type.String()),
  ruleIndex: Type.Optional(Type.Integer()),
});
const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 200 }) });
type IdParams = Static<typeof IdParams>;

const tags = ['bridges'];
const read = { minRole: 'operator' } as const;
const write = { minRole: 'admin' } as const;
const authErrors = { 400: SettingsErrorBody, 401: ErrorBody, 403: ErrorBody };

/** The routes, for `createHttpApp`'s `plugins`. */
export function bridgesHttpPlugin(bridges: () => BridgeService): FastifyPluginAsync {
  return (app) => {
    app.get(
      '/api/bridges',
      { config: read, schema: { tags, response: { 200: Type.Array(Bridge), ...authErrors } } },
      async (request) => bridges().list(orgOf(request)),
    );
    app.get<{ Params: IdParams }>(
      '/api/bridges/:id',
      { config: read, schema: { tags, params: IdParams, response: { 200: Bridge, ...authErrors, 404: ErrorBody } } },
      async (request) => (await bridges().get(orgOf(request), request.params.id)) ?? notFound(),
    );
    app.post<{ Body: Static<typeof CreateBody> }>(
      '/api/bridges',
      {
        config: write,
        schema: {
          tags,
          body: CreateBody,
          response: { 201: CreatedBridge, ...authErrors, 409: ErrorBody },
        },
      },
      async (request, reply) => {
        try {
          const { bridge, secret } = await bridges().create(orgOf(request), request.body);
          return await reply.code(201).send({ ...bridge, secret });
        } catch (error) {
          return answerError(error, reply);
        }
      },
    );
    app.patch<{ Params: IdParams; Body: Static<typeof PatchBody> }>(
      '/api/bridges/:id',
      {
        config: write,
        schema: {
          tags,
          params: IdParams,
          body: PatchBody,
          response: { 200: Bridge, ...authErrors, 404: ErrorBody, 409: ErrorBody },
        },
      },
      async (request, reply) => {
        try {
          const bridge = await bridges().update(orgOf(request), request.params.id, request.body);
          return bridge ?? notFound();
        } catch (error) {
          return answerError(error, reply);
        }
      },
    );
    app.delete<{ Params: IdParams }>(
      '/api/bridges/:id',
      {
        config: write,
        schema: { tags, params: IdParams, response: { 204: Type.Null(), ...authErrors, 404: ErrorBody } },
      },
      async (request, reply) => {
        if (!(await bridges().delete(orgOf(request), request.params.id))) notFound();
        return reply.code(204).send();
      },
    );
    return Promise.resolve();
  };
}

/** The auth hook sets `request.caller` on routes that declare `minRole`. */
function orgOf(request: FastifyRequest): string {
  if (request.caller === null) throw new HttpError(HttpErrorCode.Unauthorized, 'not authenticated');
  return request.caller.orgId;
}

function notFound(): never {
  throw new HttpError(HttpErrorCode.NotFound, 'bridge not found');
}

/** Settings errors carry their field and rule; the rest go to the app's error handler. */
async function answerError(error: unknown, reply: FastifyReply): Promise<FastifyReply> {
  if (error instanceof BridgeSettingsError) {
    return reply.code(400).send({
      error: HttpErrorCode.InvalidRequest,
      message: error.message,
      field: error.field,
      ...(error.ruleIndex === undefined ? {} : { ruleIndex: error.ruleIndex }),
    });
  }
  if (error instanceof DuplicateBridgeNameError) throw new HttpError(HttpErrorCode.Duplicate, error.message);
  if (error instanceof BridgeLimitError) throw new HttpError(HttpErrorCode.InvalidRequest, error.message);
  throw error;
}
