/**
 * Live state changes as Server-Sent Events: `GET /api/devices/{id}/stream` (one device) and
 * `GET /api/organizations/{id}/stream` (every device of the caller's organization). Each frame is
 * `event: telemetry|attribute|event` with the change as JSON. Browsers' EventSource cannot send headers, so these
 * routes also take `?access_token=`.
 */
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { callerOf } from '../auth-hook.js';
import { notFound } from '../errors.js';
import { AUTHED_ERRORS, errors, Id } from '../schemas.js';
import type { RouteContext } from './context.js';
import { deviceOf } from './device-of.js';

const StreamQuery = Type.Object({ access_token: Type.Optional(Type.String()) });
const description =
  'text/event-stream; frames `event: <kind>` + `data: <state change JSON>`; `: keep-alive` comments when idle';

export function streamRoutes(app: FastifyInstance, { platform, streams }: RouteContext): void {
  const config = { minRole: 'viewer', isQueryTokenAllowed: true } as const;

  app.get<{ Params: { id: string } }>(
    '/api/devices/:id/stream',
    {
      config,
      schema: {
        tags: ['streams'],
        summary: 'Live state changes of one device (Server-Sent Events)',
        description,
        params: Type.Object({ id: Id }),
        querystring: StreamQuery,
        produces: ['text/event-stream'],
        response: { 200: Type.String({ description }), ...errors(...AUTHED_ERRORS, 404) },
      },
    },
    async (request, reply) => {
      const device = await deviceOf(platform, callerOf(request), request.params.id);
      streams.start(request, reply, (change) => change.deviceId === device.id && change.orgId === device.orgId);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/organizations/:id/stream',
    {
      config,
      schema: {
        tags: ['streams'],
        summary: 'Live state changes of every device of the organization (Server-Sent Events)',
        description,
        params: Type.Object({ id: Id }),
        querystring: StreamQuery,
        produces: ['text/event-stream'],
        response: { 200: Type.String({ description }), ...errors(...AUTHED_ERRORS, 404) },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      // Only the caller's own organization, even for server admins: a stream carries device data, not org records.
      if (request.params.id !== caller.orgId) throw notFound('organization');
      const orgId = caller.orgId;
      streams.start(request, reply, (change) => change.orgId === orgId);
    },
  );
}
