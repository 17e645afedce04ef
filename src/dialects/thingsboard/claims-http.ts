/**
 * The user side of claiming (device-apis.md §3.7) on the management API: `POST /api/claims/{deviceName}`
 * `{"secretKey"}` claims an unclaimed device into the caller's organization, `DELETE /api/claims/{deviceName}` gives one
 * back. Routes declare `config.minRole`, so the management API's auth hook (src/http/auth-hook.ts) authenticates the
 * caller and sets `request.caller` (`{orgId, role, …}`) before the handler runs; register this plugin inside that app.
 * Results are ThingsBoard's: 200 `{"result":"SUCCESS",…}`; 400 with `"result":"FAILURE"` or `"CLAIMED"`; 404 for a
 * name no device has.
 */
import type { FastifyPluginAsync } from 'fastify';
import { callerOf, HttpError, HttpErrorCode } from '../../http/index.js';
import type { ClaimService } from './claims.js';

export interface ClaimsHttpDeps {
  claims: ClaimService;
}

interface ClaimRoute {
  Params: { deviceName: string };
  Body: { secretKey?: string } | undefined;
}

const params = {
  type: 'object',
  properties: { deviceName: { type: 'string', minLength: 1 } },
  required: ['deviceName'],
} as const;

export function claimsHttpPlugin(deps: ClaimsHttpDeps): FastifyPluginAsync {
  return (app) => {
    app.post<ClaimRoute>(
      '/api/claims/:deviceName',
      {
        config: { minRole: 'operator' },
        schema: {
          summary: 'Claim an unclaimed device into the caller’s organization with the secret the device published',
          tags: ['claims'],
          params,
          body: {
            type: 'object',
            properties: { secretKey: { type: 'string' } },
            additionalProperties: false,
          },
        },
      },
      async (request, reply) => {
        const orgId = callerOf(request).orgId;
        const outcome = await deps.claims.claim(request.params.deviceName, request.body?.secretKey ?? '', orgId);
        if (outcome.result === 'SUCCESS') {
          const device = outcome.device!;
          return reply.code(200).send({ result: 'SUCCESS', device: { id: device.id, name: device.name } });
        }
        if (outcome.device === undefined) throw new HttpError(HttpErrorCode.NotFound, 'device not found');
        return reply
          .code(400)
          .send({ error: HttpErrorCode.InvalidRequest, message: outcome.reason, result: outcome.result });
      },
    );

    app.delete<{ Params: { deviceName: string } }>(
      '/api/claims/:deviceName',
      {
        config: { minRole: 'operator' },
        schema: {
          summary: 'Reclaim: give a device of the caller’s organization back, unclaimed',
          tags: ['claims'],
          params,
        },
      },
      async (request, reply) => {
        const device = await deps.claims.reclaim(request.params.deviceName, callerOf(request).orgId);
        if (device === undefined) throw new HttpError(HttpErrorCode.NotFound, 'device not found');
        return reply.code(200).send({ result: 'SUCCESS' });
      },
    );
    return Promise.resolve();
  };
}
