/**
 * Bridges as the server assembles them: the store's module table opened, every stored bridge started on the feed,
 * links stopped when their organization is deleted, and the `/api/bridges` routes for `createHttpApp`.
 */
import type { FastifyPluginAsync } from 'fastify';
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
