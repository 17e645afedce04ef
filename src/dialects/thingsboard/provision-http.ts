/**
 * `POST /api/v1/provision` (device-apis.md §3.6, §3.10): the HTTP form of provisioning, JSON only.
 *
 * API: `provisionHttpPlugin(platform)` → a Fastify plugin for `createHttpApp({ plugins: [...] })` (public route: the
 * provision key and secret are the authentication).
 *
 * - 200 with the same JSON body as the MQTT reply, for SUCCESS and also for NOT_FOUND and FAILURE (ThingsBoard answers
 *   200 with the status inside, and device code checks `status`, not the HTTP status).
 * - 400 `{"error":"INVALID_JSON","message"}` for a body that is not JSON, 400 `{"error":"INVALID_REQUEST","message"}`
 *   for JSON that is not an object or lacks `provisionDeviceKey` / `provisionDeviceSecret` or names an unknown
 *   credentials type (ThingsBoard answers 500 there; the issue asks for a 400 with a message).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Platform } from '../../platform/platform.js';
import { handleProvisionRequest } from './provision.js';

/** The route's path. */
export const PROVISION_HTTP_PATH = '/api/v1/provision';

/** Builds the plugin that serves `POST /api/v1/provision` for `platform`. */
export function provisionHttpPlugin(platform: Platform): FastifyPluginAsync {
  return (app) => {
    // Our own parser in this scope: the body is read whatever its content type (devices often send none or
    // text/plain), and a JSON error is answered here with our body rather than Fastify's.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => {
      done(null, body);
    });
    app.post(PROVISION_HTTP_PATH, async (request, reply) => {
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      let json: unknown;
      try {
        json = JSON.parse(body.toString('utf8'));
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        return reply.code(400).send({ error: 'INVALID_JSON', message: `the body is not JSON: ${reason}` });
      }
      if (json === null || typeof json !== 'object' || Array.isArray(json)) {
        return reply.code(400).send({ error: 'INVALID_REQUEST', message: 'the body must be a JSON object' });
      }
      const result = await handleProvisionRequest(platform, body);
      if (result.outcome === 'ERROR') {
        return reply.code(400).send({
          error: 'INVALID_REQUEST',
          message:
            'provisionDeviceKey and provisionDeviceSecret are required; credentialsType is ACCESS_TOKEN, MQTT_BASIC or X509_CERTIFICATE',
        });
      }
      return reply.code(200).type('application/json').send(result.reply);
    });
    return Promise.resolve();
  };
}
