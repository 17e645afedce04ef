/**
 * Server-side RPC with ThingsBoard's REST semantics (device-apis.md §3.5): `POST /api/devices/{id}/rpc` waits for the
 * device's reply (two-way) or delivery (one-way) and answers 504 on timeout or when the device has no connection
 * taking RPC; a persistent call is answered 202 with its id at once and followed with `GET /api/rpc/{rpcId}`.
 */
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from 'typebox';
import type { JsonValue, Rpc } from '../../platform/model.js';
import { callerOf } from '../auth-hook.js';
import { HttpError, HttpErrorCode, notFound } from '../errors.js';
import { AnyJson, AUTHED_ERRORS, errors, Id } from '../schemas.js';
import type { RouteContext } from './context.js';
import { deviceOf } from './device-of.js';

const RpcBody = Type.Object({
  method: Type.String({ minLength: 1, maxLength: 255 }),
  params: Type.Optional(AnyJson),
  timeout: Type.Optional(Type.Integer({ minimum: 1, description: 'ms to wait for the device (a minimum applies)' })),
  oneway: Type.Optional(Type.Boolean({ description: 'Do not wait for a reply' })),
  persistent: Type.Optional(Type.Boolean({ description: 'Store it; deliver whenever the device connects' })),
  retries: Type.Optional(
    Type.Integer({ minimum: 0, description: 'Persistent: redeliveries after a delivery timeout' }),
  ),
  expirationTime: Type.Optional(Type.Integer({ minimum: 0, description: 'Epoch ms; wins over timeout' })),
  additionalInfo: Type.Optional(AnyJson),
});

const RpcState = Type.Object({
  id: Type.String(),
  deviceId: Type.String(),
  method: Type.String(),
  params: AnyJson,
  oneway: Type.Boolean(),
  persistent: Type.Boolean(),
  status: Type.Union([
    Type.Literal('QUEUED'),
    Type.Literal('SENT'),
    Type.Literal('DELIVERED'),
    Type.Literal('SUCCESSFUL'),
    Type.Literal('TIMEOUT'),
    Type.Literal('EXPIRED'),
    Type.Literal('FAILED'),
  ]),
  response: Type.Optional(AnyJson),
  expirationTime: Type.Number(),
  retries: Type.Integer(),
  maxRetries: Type.Integer(),
  additionalInfo: Type.Optional(AnyJson),
  createdAt: Type.Number(),
  updatedAt: Type.Number(),
});

function stateOf(rpc: Rpc): Static<typeof RpcState> {
  return {
    id: rpc.id,
    deviceId: rpc.deviceId,
    method: rpc.method,
    params: rpc.params,
    oneway: rpc.isOneway,
    persistent: rpc.isPersistent,
    status: rpc.status,
    ...(rpc.response === undefined ? {} : { response: rpc.response }),
    expirationTime: rpc.expirationTime,
    retries: rpc.retries,
    maxRetries: rpc.maxRetries,
    ...(rpc.additionalInfo === undefined ? {} : { additionalInfo: rpc.additionalInfo }),
    createdAt: rpc.createdAt,
    updatedAt: rpc.updatedAt,
  };
}

export function rpcRoutes(app: FastifyInstance, { platform }: RouteContext): void {
  app.post<{ Params: { id: string }; Body: Static<typeof RpcBody> }>(
    '/api/devices/:id/rpc',
    {
      config: { minRole: 'operator' },
      schema: {
        tags: ['rpc'],
        summary: 'Call a method on the device',
        description:
          'Two-way: 200 with the device’s reply. One-way: 200 with no body once delivered. Persistent: 202 ' +
          '`{"rpcId"}`. Timeout or no connected device: 504.',
        params: Type.Object({ id: Id }),
        body: RpcBody,
        response: {
          200: Type.Unknown({ description: 'The device’s reply (two-way); empty (one-way)' }),
          202: Type.Object({ rpcId: Type.String() }),
          ...errors(...AUTHED_ERRORS, 404, 504),
        },
      },
    },
    async (request, reply) => {
      const device = await deviceOf(platform, callerOf(request), request.params.id);
      const body = request.body;
      const outcome = await platform.rpc.call(device, {
        method: body.method,
        params: (body.params ?? {}) as JsonValue,
        isOneway: body.oneway ?? false,
        isPersistent: body.persistent ?? false,
        timeoutMs: body.timeout,
        expirationTime: body.expirationTime,
        retries: body.retries,
        additionalInfo: body.additionalInfo as JsonValue | undefined,
      });
      switch (outcome.kind) {
        case 'queued':
          return reply.code(202).send({ rpcId: outcome.rpc.id });
        case 'offline':
          throw new HttpError(HttpErrorCode.DeviceOffline, 'the device has no connection that takes RPC');
        case 'timeout':
          throw new HttpError(HttpErrorCode.RpcTimeout, 'the device did not answer in time');
        case 'done':
          if (outcome.rpc.isOneway) return reply.code(200).send();
          // A reply that is not JSON was kept as a string; it goes out as a JSON string.
          return reply
            .code(200)
            .type('application/json')
            .send(JSON.stringify(outcome.rpc.response ?? null));
      }
    },
  );

  app.get<{ Params: { rpcId: string } }>(
    '/api/rpc/:rpcId',
    {
      config: { minRole: 'viewer' },
      schema: {
        tags: ['rpc'],
        summary: 'State and reply of a persistent RPC',
        params: Type.Object({ rpcId: Id }),
        response: { 200: RpcState, ...errors(...AUTHED_ERRORS, 404) },
      },
    },
    async (request) => {
      const rpc = await platform.rpc.get(request.params.rpcId);
      if (rpc?.orgId !== callerOf(request).orgId) throw notFound('rpc');
      return stateOf(rpc);
    },
  );
}
