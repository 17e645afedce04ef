/**
 * Bridges as the server assembles them: the store's module table opened, every stored bridge started on the feed,
 * links stopped when their organization is deleted, and the `/api/bridges` routes for `createHttpApp`.
 */
import type { FastifyPluginAsync } from 'fastify';
import { Gauge, type Registry } from 'prom-client';
import { mirroredCounter, mirroredGauge } from '../../../http/index.js';
import type { Logger } from '../../../observability/index.js';
import type { Platform } from '../../../platform/platform.js';
import type { FeedSource } from '../feed-types.js';
import type { BridgeLinkOptions } from './bridge-link.js';
import { BridgeService, type BridgeLimits } from './bridge-service.js';
import type { CompilePrivacyRules } from './bridge-settings.js';
import { BridgeStore } from './bridge-store.js';
import { bridgesHttpPlugin } from './bridges-http.js';

export interface BridgesDeps {
  platform: Platform;
  source: FeedSource;
  compile: CompilePrivacyRules;
  limits: BridgeLimits;
  logger: Logger;
  linkOptions?: Partial<BridgeLinkOptions> | undefined;
  /** Where the bridges' numbers go for `/metrics` (the registry the server gives `createHttpApp`). */
  registry?: Registry | undefined;
}

/** Running bridges. */
export interface Bridges {
  service: BridgeService;
  httpPlugin: FastifyPluginAsync;
  /** Disconnects every bridge (before the platform store closes). */
  close(): Promise<void>;
}

export async function startBridges(deps: BridgesDeps): Promise<Bridges> {
  const service = await BridgeService.start({
    store: await BridgeStore.open(deps.platform.store),
    source: deps.source,
    compile: deps.compile,
    limits: deps.limits,
    logger: deps.logger,
    linkOptions: deps.linkOptions,
  });
  if (deps.registry !== undefined) registerBridgeMetrics(deps.registry, service);
  const unsubscribe = deps.platform.entities.changes.subscribe((change) => {
    if (change.entity === 'organization' && change.op === 'deleted') {
      service.organizationDeleted(change.id).catch((error: unknown) => {
        deps.logger.error({ err: error, orgId: change.id }, 'stopping the bridges of a deleted organization failed');
      });
    }
  });
  return {
    service,
    httpPlugin: bridgesHttpPlugin(() => service),
    close: async () => {
      unsubscribe();
      await service.close();
    },
  };
}

/** Read when scraped: the link counts per entry already, nothing more runs on the publish path. */
function registerBridgeMetrics(registry: Registry, service: BridgeService): void {
  registry.removeSingleMetric('switchboard_bridges');
  new Gauge({
    name: 'switchboard_bridges',
    help: 'PlaceOS bridges running, by whether they are connected to their target',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const totals = service.totals();
      this.set({ state: 'connected' }, totals.connected);
      this.set({ state: 'disconnected' }, totals.bridges - totals.connected);
    },
  });
  mirroredGauge(
    registry,
    'switchboard_bridge_queued_entries',
    'Feed entries waiting in the bridges’ buffers',
    () => service.totals().queued,
  );
  mirroredCounter(
    registry,
    'switchboard_bridge_publishes_total',
    'Publishes bridge targets took',
    () => service.totals().sent,
  );
  mirroredCounter(
    registry,
    'switchboard_bridge_dropped_total',
    'Feed entries bridges dropped (full buffer, too large)',
    () => service.totals().dropped,
  );
  mirroredCounter(
    registry,
    'switchboard_bridge_filtered_total',
    'Feed entries bridges’ drop rules held back',
    () => service.totals().filtered,
  );
}
