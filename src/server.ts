/** Assembles one Switchboard process: store, broker, and the TCP, TLS and HTTP/WebSocket listeners in front of it. */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Broker } from './broker/index.js';
import { ConfigError, type Config } from './config/index.js';
import { createLogger, type Logger } from './observability/index.js';
import { MemoryBrokerStore, SqliteBrokerStore } from './storage/index.js';
import {
  basicRequestListener,
  TcpListener,
  TlsListener,
  WebSocketListener,
  type BoundAddress,
  type Listener,
} from './transport/index.js';

/** A started server. */
export interface RunningServer {
  /** Bound MQTT over TCP port. */
  mqttPort: number;
  /** Bound MQTT over TLS port; undefined when TLS is off (no `tls.cert`/`tls.key`). */
  mqttsPort: number | undefined;
  /** Bound HTTP port (MQTT over WebSocket at `/mqtt`). */
  httpPort: number;
  /** Every listener's bound address, for start-up messages. */
  addresses: { mqtt: BoundAddress; mqtts: BoundAddress | undefined; http: BoundAddress };
  broker: Broker;
  /** Stops accepting on every listener, closes the broker (clients get 0x8B, the store is flushed), then the servers. */
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
  const store = openStore(config);
  const broker = new Broker({
    limits: config.mqtt,
    acl: config.acl,
    allowAnonymous: config.allowAnonymous,
    store,
    logger,
  });
  broker.start();

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
  const http = new WebSocketListener({
    ...common,
    maxPacketSizeBytes: config.mqtt.maxPacketSizeBytes,
    headersTimeoutMs: config.mqtt.connectTimeoutMs,
    requestListener: basicRequestListener,
  });
  const listeners: Listener[] = tls === undefined ? [tcp, http] : [tcp, tls, http];

  let addresses: RunningServer['addresses'];
  try {
    const mqtt = await tcp.listen(config.mqtt.port, config.host);
    const mqtts = tls === undefined ? undefined : await tls.listen(config.tls.port, config.host);
    addresses = { mqtt, mqtts, http: await http.listen(config.http.port, config.host) };
  } catch (error) {
    for (const listener of listeners) listener.stopAccepting();
    await broker.close();
    await Promise.all(listeners.map((listener) => listener.close()));
    throw error;
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      for (const listener of listeners) listener.stopAccepting();
      await broker.close();
      await Promise.all(listeners.map((listener) => listener.close()));
    })();
    return closing;
  };

  return {
    mqttPort: addresses.mqtt.port,
    mqttsPort: addresses.mqtts?.port,
    httpPort: addresses.http.port,
    addresses,
    broker,
    close,
  };
}

function openStore(config: Config): SqliteBrokerStore | MemoryBrokerStore {
  if (config.storage.kind === 'memory') return new MemoryBrokerStore();
  mkdirSync(config.dataDir, { recursive: true });
  return new SqliteBrokerStore(join(config.dataDir, 'broker.db'), { synchronous: config.storage.synchronous });
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
