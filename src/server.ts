/** Assembles one Switchboard process: store, broker, and the TCP, TLS and HTTP/WebSocket listeners in front of it. */
import { mkdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { AuthService, bootstrapAdmin, loadOrCreateJwtKey } from './auth/index.js';
import { Broker } from './broker/index.js';
import { ConfigError, type Config } from './config/index.js';
import { createLogger, type Logger } from './observability/index.js';
import type { AuthStep, Dialect } from './dialects/dialect.js';
import { AuthThrottle } from './dialects/auth-throttle.js';
import { composeDialects } from './dialects/router.js';
import { createCloudplugsDialect, type CloudplugsDialect } from './dialects/cloudplugs/index.js';
import { createMediumOneDialect, type MediumOneDialect } from './dialects/mediumone/index.js';
import { startBridges, type BridgeService, type Bridges } from './dialects/placeos/bridges/index.js';
import {
  compilePrivacyRules,
  createPlaceosDialect,
  startPlaceosFeed,
  type PlaceosFeed,
} from './dialects/placeos/index.js';
import { createGatewayExtension } from './dialects/thingsboard/gateway-extension.js';
import { createThingsboardDialect, type ThingsboardDialect } from './dialects/thingsboard/index.js';
import { OtaService } from './dialects/thingsboard/ota.js';
import { createOtaExtension } from './dialects/thingsboard/ota-extension.js';
import { otaHttpPlugin } from './dialects/thingsboard/ota-http.js';
import { provisionHttpPlugin } from './dialects/thingsboard/provision-http.js';
import { provisionHandler } from './dialects/thingsboard/provision.js';
import { createUsersDialect, type UsersDialect } from './dialects/users/index.js';
import { createHttpApp } from './http/index.js';
import { registerClientRpcHandlers } from './platform/client-rpc-webhook.js';
import { Platform } from './platform/platform.js';
import { RetentionSweeper } from './platform/retention.js';
import { MemoryBrokerStore, SqliteBrokerStore } from './storage/index.js';
import { PostgresPlatformStore, SqlitePlatformStore, type PlatformStore } from './storage/platform/index.js';
import { TcpListener, TlsListener, WebSocketListener, type BoundAddress, type Listener } from './transport/index.js';

/** A started server. */
export interface RunningServer {
  /** Bound MQTT over TCP port. */
  mqttPort: number;
  /** Bound MQTT over TLS port; undefined when TLS is off (no `tls.cert`/`tls.key`). */
  mqttsPort: number | undefined;
  /** Bound HTTP port (MQTT over WebSocket at `/mqtt` and `/api/mqtt/`). */
  httpPort: number;
  /** Bound HTTPS port (the same, over TLS: WSS); undefined when TLS is off. */
  httpsPort: number | undefined;
  /** Every listener's bound address, for start-up messages. */
  addresses: {
    mqtt: BoundAddress;
    mqtts: BoundAddress | undefined;
    http: BoundAddress;
    https: BoundAddress | undefined;
  };
  broker: Broker;
  /** Devices, their data, RPC and the state-change bus. */
  platform: Platform;
  /** The PlaceOS state feed (docs/placeos.md): what the local target and the bridges publish. */
  placeosFeed: PlaceosFeed;
  /** The PlaceOS bridges to cloud brokers (`/api/bridges`). */
  bridges: BridgeService;
  /** Set on the first start with an empty store: the `admin` user created then (print a generated password once). */
  createdAdmin: { username: string; password: string; isPasswordGenerated: boolean } | undefined;
  /**
   * Stops accepting on every listener, closes the broker (clients get 0x8B, the store is flushed), waits for pending
   * device data to commit and closes the platform store, then the servers.
   */
  close(): Promise<void>;
}

/**
 * Starts store, broker and listeners. Rejects with a `ListenError` (port in use…) or a `ConfigError` (unreadable TLS
 * file), having closed whatever it had opened.
 */
export async function startServer(
  config: Config,
  logger: Logger = createLogger(config.logLevel),
): Promise<RunningServer> {
  const tlsFiles = readTlsFiles(config.tls);
  const platformStore = await openPlatformStore(config);
  const platform = new Platform({
    store: platformStore,
    logger,
    maxPendingWrites: config.platform.maxPendingWrites,
    zoneHierarchy: config.platform.zoneHierarchy,
  });
  const retention = new RetentionSweeper(platformStore, logger, config.platform.retentionIntervalSeconds * 1000);
  const auth = new AuthService({
    store: platformStore,
    entities: platform.entities,
    jwtKey: loadOrCreateJwtKey(config.dataDir),
    tokenLifetimeSeconds: config.platform.jwtLifetimeSeconds,
  });
  const bootstrap = await bootstrapAdmin({
    entities: platform.entities,
    auth,
    ...(config.adminPassword === undefined ? {} : { adminPassword: config.adminPassword }),
  });
  // One registry for `/metrics`: the HTTP app's numbers, the broker's, Medium One's and the bridges'.
  const registry = new Registry();
  const mediumone = await createMediumOneDialect({
    platform,
    auth,
    logger,
    limits: config.mediumone,
    metrics: registry,
  });
  const cloudplugs = await createCloudplugsDialect({
    platform,
    logger,
    allowAnonymous: config.allowAnonymous,
    limits: config.cloudplugs,
  });
  const users = createUsersDialect({
    auth,
    logger,
    changes: platform.entities.changes,
    // Late-bound: the dialect list is built in startBroker.
    isOwnedByAnotherDialect: (topic) => otherDialects.some((dialect) => dialect.ownsTopic?.(topic) === true),
  });
  const otherDialects: Dialect[] = [];
  const ota = await OtaService.open(platform, logger);
  const { broker, thingsboard, dialects } = startBroker(
    config,
    logger,
    platform,
    ota,
    cloudplugs,
    () => auth.serverOrgId(),
    {
      users,
      mediumone,
    },
  );
  otherDialects.push(...dialects.filter((dialect) => dialect !== users));
  let placeos: Awaited<ReturnType<typeof startPlaceosFeed>>;
  try {
    placeos = await startPlaceosFeed({ platform, broker, logger });
  } catch (error) {
    await broker.close();
    users.close();
    mediumone.close();
    await platform.close();
    throw error;
  }
  let bridges: Bridges;
  try {
    bridges = await startBridges({
      registry,
      platform,
      source: placeos.feed,
      compile: compilePrivacyRules,
      limits: config.bridges,
      logger,
    });
  } catch (error) {
    placeos.close();
    await broker.close();
    users.close();
    mediumone.close();
    await platform.close();
    throw error;
  }
  // After the dialects registered theirs: a configured method replaces a built-in one.
  registerClientRpcHandlers(platform.clientRpc, config.platform.clientRpcHandlers, { logger });
  const app = await createHttpApp({
    platform,
    auth,
    logger,
    metrics: { registry, broker: { brokerStats: () => broker.stats } },
    bodyLimitBytes: config.mqtt.maxPacketSizeBytes,
    cloudplugs: cloudplugs.management,
    plugins: [
      thingsboard.httpPlugin,
      thingsboard.claimsHttpPlugin,
      provisionHttpPlugin(platform),
      otaHttpPlugin({ platform, ota, maxPackageBytes: config.platform.maxOtaPackageBytes }),
      placeos.httpPlugin,
      bridges.httpPlugin,
      users.httpPlugin,
      mediumone.restPlugin,
      mediumone.managementPlugin,
      cloudplugs.httpPlugin,
    ],
  });

  const common = { handler: broker, maxConnectionsPerSecond: config.mqtt.maxConnectionsPerSecond, logger };
  const tcp = new TcpListener(common);
  const tls =
    tlsFiles === undefined
      ? undefined
      : new TlsListener({
          ...common,
          ...tlsFiles,
          requestCert: config.tls.requestCert,
          handshakeTimeoutMs: config.mqtt.connectTimeoutMs,
        });
  const web = {
    ...common,
    maxPacketSizeBytes: config.mqtt.maxPacketSizeBytes,
    headersTimeoutMs: config.mqtt.connectTimeoutMs,
    requestListener: (request: IncomingMessage, response: ServerResponse) => {
      app.routing(request, response);
    },
  };
  const http = new WebSocketListener(web);
  // The same application and MQTT paths over TLS (PlaceOS serves its users' MQTT API as WSS at `/api/mqtt/`).
  const https = tlsFiles === undefined ? undefined : new WebSocketListener({ ...web, tls: tlsFiles });
  const listeners: Listener[] = [
    tcp,
    ...(tls === undefined ? [] : [tls]),
    http,
    ...(https === undefined ? [] : [https]),
  ];

  let addresses: RunningServer['addresses'];
  try {
    const mqtt = await tcp.listen(config.mqtt.port, config.host);
    const mqtts = tls === undefined ? undefined : await tls.listen(config.tls.port, config.host);
    const plain = await http.listen(config.http.port, config.host);
    const secure = https === undefined ? undefined : await https.listen(config.tls.httpsPort, config.host);
    addresses = { mqtt, mqtts, http: plain, https: secure };
  } catch (error) {
    for (const listener of listeners) listener.stopAccepting();
    placeos.close();
    await bridges.close();
    await broker.close();
    users.close();
    await app.close();
    mediumone.close();
    await platform.close();
    await Promise.all(listeners.map((listener) => listener.close()));
    throw error;
  }
  retention.start();

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      for (const listener of listeners) listener.stopAccepting();
      await retention.stop();
      // The feed stops first: what the broker's close still commits is not published to a closing broker.
      placeos.close();
      // Bridges send a DISCONNECT to their targets; nothing feeds them any more.
      await bridges.close();
      await broker.close();
      users.close();
      await app.close();
      mediumone.close();
      // After the broker and the HTTP API: nothing posts device data any more, and what was posted is committed before
      // the store closes.
      await platform.close();
      await Promise.all(listeners.map((listener) => listener.close()));
    })();
    return closing;
  };

  return {
    mqttPort: addresses.mqtt.port,
    mqttsPort: addresses.mqtts?.port,
    httpPort: addresses.http.port,
    httpsPort: addresses.https?.port,
    addresses,
    broker,
    platform,
    placeosFeed: placeos.feed,
    bridges: bridges.service,
    createdAdmin: bootstrap.isCreated
      ? {
          username: bootstrap.username,
          password: bootstrap.password,
          isPasswordGenerated: bootstrap.isPasswordGenerated,
        }
      : undefined,
    close,
  };
}

/** PostgreSQL when `database.url` is set, else SQLite in `<dataDir>/platform.db`. */
async function openPlatformStore(config: Config): Promise<PlatformStore> {
  mkdirSync(config.dataDir, { recursive: true });
  const url = config.database.url;
  if (url === undefined) {
    return SqlitePlatformStore.open(join(config.dataDir, 'platform.db'), { synchronous: config.storage.synchronous });
  }
  try {
    return await PostgresPlatformStore.open(url, { schema: config.database.schema });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    // One line naming the setting, like every other start-up problem; the URL may hold a password, so it is not shown.
    const issue = {
      key: 'database.url',
      envVar: 'SWITCHBOARD_DATABASE_URL',
      problem: `cannot open the PostgreSQL platform store: ${reason}`,
    };
    throw new ConfigError([issue], { cause: error });
  }
}

/**
 * The broker with the device dialects' hooks, composed by the dialect router (src/dialects/router.ts). Dialects send
 * through the broker, which needs their hooks first: they get it late-bound (`attach`, the gateway's `send`).
 */
function startBroker(
  config: Config,
  logger: Logger,
  platform: Platform,
  ota: OtaService,
  cloudplugs: CloudplugsDialect,
  serverOrgId: () => Promise<string | undefined>,
  { users, mediumone }: { users: UsersDialect; mediumone: MediumOneDialect },
): { broker: Broker; thingsboard: ThingsboardDialect; dialects: readonly Dialect[] } {
  const otaExtension = createOtaExtension({
    ota: () => ota,
    logger,
    send: (clientId, message) => broker.sendToClient(clientId, message),
    maxChunkBytes: config.mqtt.maxPacketSizeBytes - 1024,
  });
  const gateway = createGatewayExtension({
    platform,
    logger,
    // Called only for gateway sessions, so after the broker below exists.
    send: (clientId, message, onAcknowledged) => broker.sendToClient(clientId, message, onAcknowledged),
    claims: () => thingsboard.claims,
  });
  const thingsboard = createThingsboardDialect({
    platform,
    logger,
    allowAnonymous: config.allowAnonymous,
    provision: provisionHandler,
    serverOrgId,
    extensions: [gateway, otaExtension],
  });
  // The PlaceOS dialect owns `placeos/…`: only the server's feed writes there, users read their organization's.
  const dialects: Dialect[] = [thingsboard.dialect, createPlaceosDialect(), mediumone, users, cloudplugs.mqtt];
  // choices.md "Who connects": the first step that recognises the credentials decides.
  const authSteps: AuthStep[] = [
    // 1. ThingsBoard provisioning (username or client id `provision`).
    thingsboard.authSteps.provision,
    // 2. Users: a JWT or an API key as username and password.
    users.authStep,
    // 3. Medium One: `<project>/<user>` with `<api key>/<password>`.
    mediumone.authenticate,
    // 4. CloudPlugs: a Plug-ID or an account e-mail.
    cloudplugs.loginStep,
    // 5 and 6. ThingsBoard devices: client-id-only, access token, basic credentials, X.509 certificate.
    thingsboard.authSteps.devices,
    // 5. No credentials at all: CloudPlugs enrollment; then anonymous when allowed (the router's last resort).
    cloudplugs.enrollmentStep,
  ];
  const router = composeDialects({
    dialects,
    authSteps,
    allowAnonymous: config.allowAnonymous,
    throttle: new AuthThrottle({
      freeFailures: config.mqtt.authFailuresBeforeDelay,
      maxDelayMs: config.mqtt.authFailureMaxDelayMs,
    }),
    onAuthError: (error) => {
      logger.error({ err: error }, 'credential look-up failed');
    },
  });
  const broker = new Broker({
    limits: config.mqtt,
    acl: config.acl,
    allowAnonymous: config.allowAnonymous,
    store: openStore(config),
    logger,
    hooks: router.hooks,
  });
  router.attach(broker);
  broker.start();
  return { broker, thingsboard, dialects };
}

function openStore(config: Config): SqliteBrokerStore | MemoryBrokerStore {
  if (config.storage.kind === 'memory') return new MemoryBrokerStore();
  mkdirSync(config.dataDir, { recursive: true });
  return new SqliteBrokerStore(join(config.dataDir, 'broker.db'), {
    synchronous: config.storage.synchronous,
    // Commits stay on the event loop for now. On the writer thread a commit takes milliseconds, and an outbound QoS 2
    // PUBLISH or PUBREL to a persistent session goes out before its delivery record is durable: a crash in that
    // window would resend the message after the restart, a duplicate for a client that completed it. The thread is
    // switched on once those two sends wait for their commit (ARCHITECTURE.md, `persistence.ts`).
    writerThread: false,
  });
}

/** Reads the PEM files named in `tls`; undefined when TLS is off. */
function readTlsFiles(tls: Config['tls']): { cert: Buffer; key: Buffer; ca?: Buffer } | undefined {
  if (tls.cert === undefined || tls.key === undefined) return undefined;
  const files = { cert: readPem('tls.cert', tls.cert), key: readPem('tls.key', tls.key) };
  return tls.ca === undefined ? files : { ...files, ca: readPem('tls.ca', tls.ca) };
}

function readPem(key: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new ConfigError([{ key, problem: `cannot read ${JSON.stringify(path)}: ${reason}` }], { cause: error });
  }
}
