/** `GET /healthz` and `GET /metrics` (Prometheus text). Both are public, as probes and scrapers expect. */
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { RouteContext } from './context.js';

export function opsRoutes(app: FastifyInstance, { metrics }: RouteContext): void {
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['operations'],
        summary: 'Liveness',
        security: [],
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    (_request, reply) => reply.send({ status: 'ok' }),
  );
  app.get(
    '/metrics',
    {
      schema: {
        tags: ['operations'],
        summary: 'Prometheus metrics (text exposition format)',
        security: [],
        produces: ['text/plain'],
        response: { 200: Type.String() },
      },
    },
    async (_request, reply) => {
      const text = await metrics.registry.metrics();
      return reply.type(metrics.registry.contentType).send(text);
    },
  );
}
