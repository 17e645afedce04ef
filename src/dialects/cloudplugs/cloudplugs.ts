/**
 * Builds the CloudPlugs dialect (docs/cloudplugs.md): opens its module tables, loads its registry, and hands the server
 * the dialect (broker hooks), its two credential steps, the `/iot` HTTP plugin and the management-API calls.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Logger } from 'pino';
import type { AuthenticateResult, Broker, ConnectRequest } from '../../broker/index.js';
import type { Platform } from '../../platform/platform.js';
import type { AuthStep } from '../dialect.js';
import { cloudplugsEnrollmentStep, cloudplugsLoginStep } from './auth.js';
import { CloudplugsMqtt } from './dialect.js';
import { cloudplugsHttpPlugin } from './http-api.js';
import { cloudplugsManagement, type CloudplugsManagement } from './management.js';
import { CloudplugsStore } from './module-store.js';
import { CloudplugsService } from './service.js';

/** Bounds of the HTTP reads (config `cloudplugs.*`, docs/configuration.md). */
export interface CloudplugsLimits {
  defaultReadLimit: number;
  maxReadLimit: number;
  maxScanRecords: number;
  maxReadDevices: number;
}

/** The config schema's defaults (`cloudplugs.*`). */
export const DEFAULT_CLOUDPLUGS_LIMITS: CloudplugsLimits = {
  defaultReadLimit: 100,
  maxReadLimit: 1000,
  maxScanRecords: 100_000,
  maxReadDevices: 1000,
};

/** What the dialect is built from. */
export interface CloudplugsDialectOptions {
  platform: Platform;
  logger: Logger;
  allowAnonymous: boolean;
  limits?: Partial<CloudplugsLimits> | undefined;
}

/** The dialect as the server wires it. */
export interface CloudplugsDialect {
  /** The broker-facing dialect (hooks the router calls; the router's `attach` hands it the broker). */
  readonly mqtt: CloudplugsMqtt;
  /** Step 4: Plug-ID or account e-mail. */
  readonly loginStep: AuthStep;
  /** Step 5 (after ThingsBoard's client-id-only devices): empty username and password. */
  readonly enrollmentStep: (request: ConnectRequest) => AuthenticateResult | undefined;
  readonly httpPlugin: FastifyPluginAsync;
  readonly management: CloudplugsManagement;
  readonly service: CloudplugsService;
  attach(broker: Broker): void;
}

/** Opens the module tables, loads the registry, builds the hooks, auth steps, HTTP plugin and management calls. */
export async function createCloudplugsDialect(options: CloudplugsDialectOptions): Promise<CloudplugsDialect> {
  const logger = options.logger.child({ dialect: 'cloudplugs' });
  const store = await CloudplugsStore.open((schema) => options.platform.store.openModule(schema));
  const service = new CloudplugsService(options.platform, store, logger);
  await service.load();
  const mqtt = new CloudplugsMqtt({ service, logger, allowAnonymous: options.allowAnonymous });
  const limits = { ...DEFAULT_CLOUDPLUGS_LIMITS, ...definedOnly(options.limits ?? {}) };
  return {
    mqtt,
    loginStep: cloudplugsLoginStep(service, logger),
    enrollmentStep: cloudplugsEnrollmentStep(options.allowAnonymous),
    httpPlugin: cloudplugsHttpPlugin({ service, broker: () => mqtt.broker, logger, ...limits }),
    management: cloudplugsManagement(service),
    service,
    attach: (broker) => {
      mqtt.attach(broker);
    },
  };
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
