/**
 * ThingsBoard's HTTP device API (device-apis.md §3.10): `/api/v1/{token}/…` for telemetry, attributes (post, get,
 * long-poll updates), RPC (long poll, reply, client-side) and claim (`POST /api/v1/provision` is provision-http.ts). JSON only, with the
 * same typing rules as MQTT. Unknown token → 401; malformed JSON → 400 `{"error":"INVALID_JSON"}` (ThingsBoard answers
 * 500; its docs promise 400); a body of the wrong shape → 400 `INVALID_REQUEST`; success → 200 with an empty body or
 * the JSON asked for; a long poll that times out → 408 with an empty body.
 *
 * The plugin parses bodies itself (every content type as a buffer): devices often post JSON without a JSON content type
 * (`curl -d` sends form encoding), and a parse failure must be a 400 with the parser's message.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { HttpError, HttpErrorCode } from '../../http/index.js';
import type { AttributeUpdate, DeviceLink } from '../../platform/device-links.js';
import type { Device, JsonValue, Rpc } from '../../platform/model.js';
import type { Platform } from '../../platform/platform.js';
import {
  attributeQuery,
  attributeResponseJson,
  attributeUpdateJson,
  readAttributes,
  splitKeyList,
} from './attributes.js';
import type { ClaimService } from './claims.js';
import { parseClaim, parseClientRpc } from './codec.js';
import {
  parseJsonPayload,
  PayloadError,
  toAttributeValues,
  toTelemetryPoints,
  type TypingOptions,
} from './json-telemetry.js';
import { parseRequestId } from './topics.js';

export interface DeviceHttpDeps {
  platform: Platform;
  claims: ClaimService;
  typing: TypingOptions;
  logger: Logger;
  longPollDefaultMs: number;
  longPollMaxMs: number;
}

interface TokenRoute {
  Params: { token: string };
  Querystring: Record<string, string | undefined>;
}

export function deviceHttpPlugin(deps: DeviceHttpDeps): FastifyPluginAsync {
  const { platform } = deps;
  return (app) => {
    // Encapsulated: only this plugin's routes parse bodies this way.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => {
      done(null, body);
    });

    const deviceOf = async (request: FastifyRequest<TokenRoute>): Promise<Device> => {
      const found = await platform.store.findByAccessToken(request.params.token);
      if (found === undefined) throw new HttpError(HttpErrorCode.Unauthorized, 'unknown access token');
      return found.device;
    };

    app.post<TokenRoute>('/api/v1/:token/telemetry', async (request, reply) => {
      const device = await deviceOf(request);
      const points = asRequest(() => toTelemetryPoints(jsonBody(request), Date.now(), deps.typing));
      await platform.committed((done) => {
        platform.postTelemetry(device, points, done);
      });
      return reply.code(200).send();
    });

    app.post<TokenRoute>('/api/v1/:token/attributes', async (request, reply) => {
      const device = await deviceOf(request);
      const values = asRequest(() => toAttributeValues(jsonBody(request), deps.typing));
      await platform.committed((done) => {
        platform.postAttributes(device, 'client', values, done);
      });
      return reply.code(200).send();
    });

    app.get<TokenRoute>('/api/v1/:token/attributes', async (request) => {
      const device = await deviceOf(request);
      const { clientKeys, sharedKeys } = request.query;
      const query = attributeQuery(
        clientKeys === undefined ? undefined : splitKeyList(clientKeys),
        sharedKeys === undefined ? undefined : splitKeyList(sharedKeys),
      );
      const { client, shared } = await readAttributes(platform.store, device.id, query);
      return attributeResponseJson(client, shared);
    });

    app.get<TokenRoute>('/api/v1/:token/attributes/updates', async (request, reply) => {
      const device = await deviceOf(request);
      return longPoll(request, reply, device, deps, (resolve) => ({
        sendRpc: () => false,
        sendAttributeUpdate: (update: AttributeUpdate) => {
          resolve(attributeUpdateJson(update));
        },
      }));
    });

    app.get<TokenRoute>('/api/v1/:token/rpc', async (request, reply) => {
      const device = await deviceOf(request);
      return longPoll(request, reply, device, deps, (resolve) => ({
        // ThingsBoard marks an RPC DELIVERED once it is written to the long poll.
        sendRpc: (rpc: Rpc, onDelivered: () => void) => {
          if (!resolve({ id: rpc.requestId, method: rpc.method, params: rpc.params })) return false;
          onDelivered();
          return true;
        },
        sendAttributeUpdate: () => undefined,
      }));
    });

    app.post<TokenRoute & { Params: { requestId: string } }>(
      '/api/v1/:token/rpc/:requestId',
      async (request, reply) => {
        const device = await deviceOf(request);
        const requestId = parseRequestId(request.params.requestId);
        if (requestId === undefined) throw new HttpError(HttpErrorCode.InvalidRequest, 'the request id is an integer');
        const body = bodyOf(request);
        let response: JsonValue;
        try {
          response = JSON.parse(body.toString('utf8')) as JsonValue;
        } catch {
          response = body.toString('utf8'); // ThingsBoard stores a non-JSON reply as is
        }
        platform.rpc.reply(device.id, requestId, response);
        return reply.code(200).send();
      },
    );

    app.post<TokenRoute>('/api/v1/:token/rpc', async (request) => {
      const device = await deviceOf(request);
      const { method, params } = asRequest(() => parseClientRpc(jsonBody(request)));
      return platform.callServer(device, method, params);
    });

    app.post<TokenRoute>('/api/v1/:token/claim', async (request, reply) => {
      const device = await deviceOf(request);
      const body = bodyOf(request);
      const { secretKey, durationMs } =
        body.length === 0
          ? { secretKey: undefined, durationMs: undefined }
          : asRequest(() => parseClaim(jsonBody(request)));
      if (!(await deps.claims.isClaimable(device))) {
        throw new HttpError(HttpErrorCode.Forbidden, 'the device is already claimed');
      }
      const data = deps.claims.claimingData(secretKey, durationMs) as { [key: string]: JsonValue };
      await platform.committed((done) => {
        platform.postAttributes(device, 'server', { claimingData: data }, done);
      });
      return reply.code(200).send();
    });

    return Promise.resolve();
  };
}

function bodyOf(request: FastifyRequest): Buffer {
  return Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
}

function parseJsonOrThrow(body: Buffer): JsonValue {
  try {
    return parseJsonPayload(body);
  } catch (error) {
    throw new HttpError(HttpErrorCode.InvalidJson, error instanceof Error ? error.message : 'invalid JSON', {
      cause: error,
    });
  }
}

function jsonBody(request: FastifyRequest): JsonValue {
  return parseJsonOrThrow(bodyOf(request));
}

/** Runs a payload conversion; its PayloadError becomes a 400. */
function asRequest<T>(convert: () => T): T {
  try {
    return convert();
  } catch (error) {
    if (error instanceof PayloadError)
      throw new HttpError(HttpErrorCode.InvalidRequest, error.message, { cause: error });
    throw error;
  }
}

/**
 * Holds the request until the link delivers something (200 with it) or the timeout passes (408). `?timeout=` in ms,
 * capped; the link is detached when the poll ends for any reason, including the client going away.
 */
function longPoll(
  request: FastifyRequest<TokenRoute>,
  reply: FastifyReply,
  device: Device,
  deps: DeviceHttpDeps,
  makeLink: (resolve: (body: JsonValue) => boolean) => DeviceLink,
): Promise<FastifyReply> {
  const timeoutText = request.query['timeout'];
  const requested = timeoutText === undefined ? deps.longPollDefaultMs : Number(timeoutText);
  if (!Number.isInteger(requested) || requested <= 0) {
    throw new HttpError(HttpErrorCode.InvalidRequest, 'timeout must be a positive integer (ms)');
  }
  const timeoutMs = Math.min(requested, deps.longPollMaxMs);
  return new Promise((resolve) => {
    let isDone = false;
    let detach: () => void = () => undefined;
    const finish = (status: number, body: JsonValue | undefined): boolean => {
      if (isDone) return false;
      isDone = true;
      clearTimeout(timer);
      reply.raw.off('close', onClose);
      // Detach after the current delivery loop: DeviceLinks iterates a copy, so this is safe at once.
      detach();
      resolve(body === undefined ? reply.code(status).send() : reply.code(status).send(body));
      return true;
    };
    const onClose = (): void => {
      finish(408, undefined);
    };
    const timer = setTimeout(onClose, timeoutMs);
    reply.raw.on('close', onClose);
    detach = deps.platform.links.attach(
      device.id,
      makeLink((body) => finish(200, body)),
    );
  });
}
