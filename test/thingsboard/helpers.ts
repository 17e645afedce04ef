/**
 * A ThingsBoard-speaking Switchboard for end-to-end tests, assembled as the server will be: SQLite platform store in a
 * temp dir, Platform, the dialect's hooks on the Broker, `attach(broker)`, a TCP listener (and TLS with a test PKI
 * when asked) on port 0, and the HTTP app with the dialect's plugins on port 0.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { AuthService } from '../../src/auth/index.js';
import { Broker } from '../../src/broker/index.js';
import { parseConfig } from '../../src/config/index.js';
import {
  createThingsboardDialect,
  type ThingsboardDialect,
  type ThingsboardLimits,
} from '../../src/dialects/thingsboard/index.js';
import { createHttpApp } from '../../src/http/index.js';
import { createLogger } from '../../src/observability/index.js';
import type { DeviceCredentials, Organization } from '../../src/platform/model.js';
import { Platform } from '../../src/platform/platform.js';
import { MemoryBrokerStore } from '../../src/storage/index.js';
import { SqlitePlatformStore } from '../../src/storage/platform/index.js';
import type { DeviceWithCredentials } from '../../src/storage/platform-store.js';
import { TcpListener, TlsListener } from '../../src/transport/index.js';
import { generateTestCertificate, type TestCertificates } from '../helpers/index.js';

export interface TbServerOptions {
  allowAnonymous?: boolean;
  limits?: ThingsboardLimits;
  tls?: boolean;
  /** Broker limits overrides (`mqtt` config section). */
  mqtt?: Record<string, unknown>;
  maxPendingWrites?: number;
}

export interface TbServer {
  platform: Platform;
  dialect: ThingsboardDialect;
  broker: Broker;
  auth: AuthService;
  http: FastifyInstance;
  /** The server organization (first created; unclaimed devices live here). */
  org: Organization;
  host: string;
  mqttPort: number;
  mqttUrl: string;
  mqttsUrl: string | undefined;
  httpUrl: string;
  certificates: TestCertificates | undefined;
  /** Creates a device in `orgId` (default: the server organization); default credentials: a generated token. */
  createDevice(name: string, credentials?: DeviceCredentials, orgId?: string): Promise<DeviceWithCredentials>;
  /** The access token of a device created with the default credentials. */
  tokenOf(created: DeviceWithCredentials): string;
  close(): Promise<void>;
}

export async function startTbServer(options: TbServerOptions = {}): Promise<TbServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-tb-'));
  const logLevel = process.env['SWITCHBOARD_TEST_LOG_LEVEL'];
  const logger = createLogger(logLevel === undefined ? 'silent' : (logLevel as 'debug'));
  const config = parseConfig({ logLevel: 'silent', mqtt: { port: 0, ...options.mqtt } });
  const store = await SqlitePlatformStore.open(join(dataDir, 'platform.db'));
  const platform = new Platform({
    store,
    logger,
    ...(options.maxPendingWrites === undefined ? {} : { maxPendingWrites: options.maxPendingWrites }),
  });
  const org = await platform.entities.createOrganization({ name: 'default' });
  const dialect = createThingsboardDialect({
    platform,
    logger,
    allowAnonymous: options.allowAnonymous ?? false,
    limits: options.limits,
  });
  const broker = new Broker({
    limits: config.mqtt,
    acl: [],
    allowAnonymous: options.allowAnonymous ?? false,
    store: new MemoryBrokerStore(),
    logger,
    hooks: dialect.hooks,
  });
  dialect.attach(broker);
  broker.start();
  const host = '127.0.0.1';
  const common = { handler: broker, maxConnectionsPerSecond: 10_000, logger };
  const tcp = new TcpListener(common);
  const mqtt = await tcp.listen(0, host);
  const certificates = options.tls === true ? generateTestCertificate() : undefined;
  const tls =
    certificates === undefined
      ? undefined
      : new TlsListener({
          ...common,
          cert: readFileSync(certificates.serverCertPath),
          key: readFileSync(certificates.serverKeyPath),
          ca: readFileSync(certificates.caCertPath),
          requestCert: true,
          handshakeTimeoutMs: 5_000,
        });
  const mqtts = tls === undefined ? undefined : await tls.listen(0, host);
  const auth = new AuthService({ store, entities: platform.entities, jwtKey: randomBytes(32) });
  const http = await createHttpApp({
    platform,
    auth,
    logger,
    plugins: [dialect.httpPlugin, dialect.claimsHttpPlugin],
  });
  await http.listen({ port: 0, host });
  const httpAddress = http.server.address();
  const httpPort = typeof httpAddress === 'object' && httpAddress !== null ? httpAddress.port : 0;
  return {
    platform,
    dialect,
    broker,
    auth,
    http,
    org,
    host,
    mqttPort: mqtt.port,
    mqttUrl: `mqtt://${host}:${String(mqtt.port)}`,
    mqttsUrl: mqtts === undefined ? undefined : `mqtts://localhost:${String(mqtts.port)}`,
    httpUrl: `http://${host}:${String(httpPort)}`,
    certificates,
    createDevice: (name, credentials, orgId) =>
      platform.entities.createDevice(orgId ?? org.id, credentials === undefined ? { name } : { name, credentials }),
    tokenOf: (created) => {
      if (created.credentials.type !== 'ACCESS_TOKEN') throw new Error('not an access-token device');
      return created.credentials.accessToken;
    },
    close: async () => {
      tcp.stopAccepting();
      tls?.stopAccepting();
      await broker.close();
      await http.close();
      await platform.close();
      await tcp.close();
      await tls?.close();
      certificates?.cleanup();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
