/**
 * The HTTP application: the management API, live streams, health, metrics and the OpenAPI document, plus whatever
 * routes the device dialects add (ThingsBoard's `/api/v1/{token}/…`). It does not listen: the server hands it requests
 * from its own HTTP server (`app.routing(req, res)`), which also carries MQTT over WebSocket; tests may `listen`.
 */
import fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import type { Logger } from 'pino';
import type { AuthService } from '../auth/index.js';
import type { Platform } from '../platform/platform.js';
import { registerAuthHook } from './auth-hook.js';
import { createErrorHandler, HttpErrorCode } from './errors.js';
import { registerMetrics, type HttpMetricsOptions } from './metrics.js';
import { openApiRoutes, registerOpenApi } from './openapi.js';
import { authRoutes } from './routes/auth.js';
import type { CloudplugsManagement } from '../dialects/cloudplugs/index.js';
import type { RouteContext } from './routes/context.js';
import { deviceRoutes } from './routes/devices.js';
import { eventRoutes } from './routes/events.js';
import { opsRoutes } from './routes/ops.js';
import { organizationRoutes } from './routes/organizations.js';
import { profileRoutes } from './routes/profiles.js';
import { rpcRoutes } from './routes/rpc.js';
import { streamRoutes } from './routes/streams.js';
import { telemetryRoutes } from './routes/telemetry.js';
import { userRoutes } from './routes/users.js';
import { zoneRoutes } from './routes/zones.js';
import { DEFAULT_SSE_OPTIONS, SseStreams, type SseOptions } from './sse.js';

export interface HttpAppDeps {
  platform: Platform;
  auth: AuthService;
  logger: Logger;
  /** Registry and broker numbers for `/metrics`; dialects register their counters on the same registry. */
  metrics?: HttpMetricsOptions | undefined;
  /** Dialect routes, registered after the API's (each in its own encapsulated scope). */
  plugins?: readonly FastifyPluginAsync[] | undefined;
  /** Largest request body; default 1 MiB. */
  bodyLimitBytes?: number | undefined;
  /** Shown in the OpenAPI document. */
  version?: string | undefined;
  sse?: Partial<SseOptions> | undefined;
  /** The CloudPlugs dialect's management calls (`cloudplugs` on profiles, CLOUDPLUGS credentials, PATCH devices). */
  cloudplugs?: CloudplugsManagement | undefined;
}

const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;

/** Builds the app and waits until it is ready (routes final, OpenAPI document complete). */
export async function createHttpApp(deps: HttpAppDeps): Promise<FastifyInstance> {
  const logger = deps.logger.child({ component: 'http' });
  const fastifyLogger: FastifyBaseLogger = logger;
  const app = fastify({
    loggerInstance: fastifyLogger,
    // One log line per request is too much at info for a device API; errors are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES,
    // Keep-alive sockets would hold close() open; only idle ones are closed at once, streams are ended in preClose.
    forceCloseConnections: 'idle',
  });

  const metrics = registerMetrics(
    deps.metrics ?? {},
    () => deps.platform.writeStats,
    (observer) => {
      deps.platform.observeCommits(observer);
    },
  );
  const streams = new SseStreams(deps.platform.bus, { ...DEFAULT_SSE_OPTIONS, ...deps.sse }, (count) => {
    metrics.sseStreams.set(count);
  });
  const context: RouteContext = {
    platform: deps.platform,
    auth: deps.auth,
    metrics,
    streams,
    cloudplugs: deps.cloudplugs,
  };

  app.setErrorHandler(createErrorHandler(logger));
  app.setNotFoundHandler(async (request, reply) => {
    await reply.code(404).send({ error: HttpErrorCode.NotFound, message: `no route ${request.method} ${request.url}` });
  });
  app.addHook('onResponse', (request, reply, done) => {
    metrics.httpRequests.inc({ method: request.method, status: String(reply.statusCode) });
    done();
  });
  app.addHook('preClose', (done) => {
    streams.closeAll();
    done();
  });
  registerAuthHook(app, deps.auth);
  await registerOpenApi(app, deps.version ?? '0.0.0');

  opsRoutes(app, context);
  openApiRoutes(app);
  authRoutes(app, context);
  organizationRoutes(app, context);
  zoneRoutes(app, context);
  profileRoutes(app, context);
  deviceRoutes(app, context);
  telemetryRoutes(app, context);
  eventRoutes(app, context);
  rpcRoutes(app, context);
  userRoutes(app, context);
  streamRoutes(app, context);
  for (const plugin of deps.plugins ?? []) await app.register(plugin);

  await app.ready();
  return app;
}
