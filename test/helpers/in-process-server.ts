/** An in-process Switchboard on free ports with a fresh data directory, for end-to-end tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type Config } from '../../src/config/index.js';
import { createLogger } from '../../src/observability/index.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { generateTestCertificate, type TestCertificates } from './certificates.js';

/** Every key optional, at any depth (arrays are replaced whole). */
export type DeepPartial<T> = T extends readonly unknown[]
  ? T
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;

/** Options beyond the configuration. */
export interface TestServerOptions {
  /** Start the TLS listener too, with a generated CA/server/client PKI (`certificates`). Default false. */
  tls?: boolean;
  /** Reuse this PKI instead of generating one (implies `tls`). */
  certificates?: TestCertificates;
}

/** A started test server. */
export interface TestServer {
  config: Config;
  server: RunningServer;
  broker: RunningServer['broker'];
  host: string;
  mqttPort: number;
  mqttsPort: number | undefined;
  httpPort: number;
  /** The HTTPS (WSS) port, when TLS is on. */
  httpsPort: number | undefined;
  /** `mqtt://127.0.0.1:<port>` */
  mqttUrl: string;
  /** `mqtts://localhost:<port>`, when TLS is on (the server certificate names localhost and 127.0.0.1). */
  mqttsUrl: string | undefined;
  /** `ws://127.0.0.1:<port>/mqtt` */
  wsUrl: string;
  /** `http://127.0.0.1:<port>` */
  httpUrl: string;
  dataDir: string;
  certificates: TestCertificates | undefined;
  /**
   * Closes the server. Removes the data directory (and generated PKI) unless the caller passed `dataDir` (so a test
   * can start a second server on the same data to check what survived).
   */
  close(): Promise<void>;
}

/**
 * Starts Switchboard on 127.0.0.1 with every port 0, a fresh temp `dataDir`, SQLite storage and a silent logger
 * (`SWITCHBOARD_TEST_LOG_LEVEL` overrides), then applies `overrides` (validated like a config file).
 */
export async function startTestServer(
  overrides: DeepPartial<Config> = {},
  options: TestServerOptions = {},
): Promise<TestServer> {
  const ownsDataDir = overrides.dataDir === undefined;
  const dataDir = overrides.dataDir ?? mkdtempSync(join(tmpdir(), 'switchboard-test-'));
  const wantsTls = options.tls === true || options.certificates !== undefined;
  const ownsCertificates = wantsTls && options.certificates === undefined;
  const certificates = wantsTls ? (options.certificates ?? generateTestCertificate()) : undefined;
  const host = '127.0.0.1';
  const base = {
    host,
    dataDir,
    logLevel: 'silent',
    // The broker's own tests are plain MQTT clients without credentials; tests of authentication turn this off.
    allowAnonymous: true,
    mqtt: { port: 0 },
    http: { port: 0 },
    tls:
      certificates === undefined
        ? { port: 0, httpsPort: 0 }
        : {
            port: 0,
            httpsPort: 0,
            cert: certificates.serverCertPath,
            key: certificates.serverKeyPath,
            ca: certificates.caCertPath,
          },
  };
  const config = parseConfig(merge(base, overrides));
  const logLevel = process.env['SWITCHBOARD_TEST_LOG_LEVEL'];
  const logger = createLogger(logLevel === undefined ? config.logLevel : (logLevel as Config['logLevel']));
  const cleanup = (): void => {
    if (ownsDataDir) rmSync(dataDir, { recursive: true, force: true });
    if (ownsCertificates) certificates?.cleanup();
  };
  let server: RunningServer;
  try {
    server = await startServer(config, logger);
  } catch (error) {
    cleanup();
    throw error;
  }
  return {
    config,
    server,
    broker: server.broker,
    host,
    mqttPort: server.mqttPort,
    mqttsPort: server.mqttsPort,
    httpPort: server.httpPort,
    httpsPort: server.httpsPort,
    mqttUrl: `mqtt://${host}:${server.mqttPort}`,
    mqttsUrl: server.mqttsPort === undefined ? undefined : `mqtts://localhost:${server.mqttsPort}`,
    wsUrl: `ws://${host}:${server.httpPort}/mqtt`,
    httpUrl: `http://${host}:${server.httpPort}`,
    dataDir,
    certificates,
    close: async () => {
      try {
        await server.close();
      } finally {
        cleanup();
      }
    },
  };
}

/** `overrides` laid over `base`: objects merge key by key, anything else (arrays included) replaces. */
function merge(base: unknown, overrides: unknown): unknown {
  if (!isObject(base) || !isObject(overrides)) return overrides === undefined ? base : overrides;
  const result: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(overrides)) result[key] = merge(base[key], value);
  return result;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}
