/**
 * What the bridge tests drive and connect to: an in-memory feed (the bridge's input, entries pushed by the test), a
 * Mosquitto broker started by the test (plain or TLS, restartable on the same port), a TCP front that refuses MQTT 5
 * the way a 3.1.1-only broker does and passes 3.1.1 through to a real broker, and mosquitto_sub runs.
 */
import { PG_TEST_URL, postgresSkipReason } from '../helpers/postgres.js';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { FeedEntry, FeedSettings, FeedSource } from '../../src/dialects/placeos/feed-types.js';
import { compilePrivacyRules } from '../../src/dialects/placeos/privacy.js';
import mqttPacket from 'mqtt-packet';
import pg from 'pg';
import { pino } from 'pino';
import { AuthService, bootstrapAdmin, loadOrCreateJwtKey } from '../../src/auth/index.js';
import { startBridges, type Bridges } from '../../src/dialects/placeos/bridges/index.js';
import type { BridgeLimits } from '../../src/dialects/placeos/bridges/bridge-service.js';
import { createHttpApp } from '../../src/http/index.js';
import type { Role } from '../../src/platform/model.js';
import { Platform } from '../../src/platform/platform.js';
import { PostgresPlatformStore, SqlitePlatformStore } from '../../src/storage/index.js';
import {
  connectClient,
  runMosquitto,
  type MosquittoResult,
  type Resources,
  type TestClient,
} from '../helpers/index.js';

/** A feed the test writes to: `set` and `remove` update the current state and tell subscribers, in order. */
export class MemoryFeed implements FeedSource {
  readonly #listeners = new Set<(entry: FeedEntry) => void>();
  readonly #current = new Map<string, FeedEntry>();
  readonly #settings = new Map<string, FeedSettings>();

  subscribe(listener: (entry: FeedEntry) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  current(orgId: string): Iterable<FeedEntry> {
    return [...this.#current.values()].filter((entry) => entry.orgId === orgId);
  }

  settings(orgId: string): FeedSettings | undefined {
    return this.#settings.get(orgId);
  }

  setSettings(orgId: string, settings: Partial<FeedSettings>): void {
    this.#settings.set(orgId, {
      enabled: true,
      hierarchy: ['building', 'level', 'area'],
      timeUnit: 'ms',
      valueEncoding: 'string',
      filters: [],
      secret: '00',
      ...settings,
    });
  }

  /** A state or metadata value: `value` is serialized as JSON. */
  set(orgId: string, topic: string, value: unknown, timeMs = Date.now()): FeedEntry {
    const entry: FeedEntry = {
      orgId,
      kind: topic.includes('/metadata/') ? 'metadata' : 'state',
      topic,
      timeMs,
      valueJson: JSON.stringify(value),
    };
    this.#current.set(topic, entry);
    this.#emit(entry);
    return entry;
  }

  /** A removal: the topic leaves the current state. */
  remove(orgId: string, topic: string, timeMs = Date.now()): void {
    this.#current.delete(topic);
    this.#emit({ orgId, kind: topic.includes('/metadata/') ? 'metadata' : 'state', topic, timeMs, valueJson: null });
  }

  #emit(entry: FeedEntry): void {
    for (const listener of this.#listeners) listener(entry);
  }
}

/** A free TCP port on 127.0.0.1 (bound then released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** TLS settings of a test Mosquitto. */
export interface MosquittoTls {
  certPath: string;
  keyPath: string;
  /** Client certificates are verified against this CA, and required. */
  requireCertificateCaPath?: string;
}

/** A Mosquitto broker of the test's own, on 127.0.0.1. */
export interface TestMosquitto {
  port: number;
  /** Stops it (SIGTERM, so it would write its persistence file) and waits for the exit. */
  stop(): Promise<void>;
  /** Starts it again on the same port, with the same configuration. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Starts `/usr/sbin/mosquitto` with a generated configuration; resolves once it accepts TCP connections. */
export async function startMosquitto(
  options: { tls?: MosquittoTls; port?: number; users?: Record<string, string> } = {},
): Promise<TestMosquitto> {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-mosquitto-'));
  const port = options.port ?? (await freePort());
  const lines = [
    `listener ${String(port)} 127.0.0.1`,
    options.users === undefined ? 'allow_anonymous true' : 'allow_anonymous false',
    'persistence false',
    'log_dest stderr',
    'log_type error',
    // Started as root, Mosquitto would switch to the `mosquitto` user, which cannot read the test's temp files.
    `user ${userInfo().username}`,
  ];
  if (options.tls !== undefined) {
    lines.push(`certfile ${options.tls.certPath}`, `keyfile ${options.tls.keyPath}`);
    if (options.tls.requireCertificateCaPath !== undefined) {
      lines.push(`cafile ${options.tls.requireCertificateCaPath}`, 'require_certificate true');
    }
  }
  if (options.users !== undefined) {
    // Only these users, with mosquitto_passwd's hashes.
    const passwordFile = join(dir, 'passwords');
    for (const [username, password] of Object.entries(options.users)) {
      execFileSync('/usr/bin/mosquitto_passwd', [
        '-b',
        ...(existsSync(passwordFile) ? [] : ['-c']),
        passwordFile,
        username,
        password,
      ]);
    }
    lines.push(`password_file ${passwordFile}`);
  }
  const configPath = join(dir, 'mosquitto.conf');
  writeFileSync(configPath, lines.join('\n') + '\n');
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const start = async (): Promise<void> => {
    const spawned = spawn('/usr/sbin/mosquitto', ['-c', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    spawned.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child = spawned;
    exited = new Promise((resolve) => spawned.once('exit', () => resolve()));
    const deadline = Date.now() + 5_000;
    while (!(await accepts(port))) {
      if (spawned.exitCode !== null) throw new Error(`mosquitto exited: ${stderr}`);
      if (Date.now() > deadline) throw new Error(`mosquitto did not listen on ${String(port)}: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const stop = async (): Promise<void> => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    child = undefined;
  };
  await start();
  return {
    port,
    start,
    stop,
    close: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * A TCP front for a real broker that does not speak MQTT 5: a CONNECT with protocol level 5 gets the refusal
 * `refusal` names ('3.1.1': a 3.1.1 CONNACK with return code 0x01, as a 3.1.1-only broker answers [MQTT-3.1.2-2];
 * '5.0': a v5 CONNACK with reason 0x84; 'close': no CONNACK at all), then the connection is closed; any other CONNECT is passed through to
 * `targetPort`, and so is everything after it. `versions` lists the protocol levels seen, in order, `connects` the
 * CONNECT packets' bytes.
 */
export async function startV5RefusingFront(
  targetPort: number,
  refusal: '3.1.1' | '5.0' | 'close',
): Promise<{ port: number; versions: number[]; connects: Buffer[]; close(): Promise<void> }> {
  const versions: number[] = [];
  const connects: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const level = protocolLevel(head);
      if (level === undefined) return;
      socket.off('data', onData);
      versions.push(level);
      connects.push(head);
      if (level === 5) {
        if (refusal === 'close') socket.end();
        else if (refusal === '3.1.1') socket.end(Buffer.from([0x20, 0x02, 0x00, 0x01]));
        else socket.end(Buffer.from([0x20, 0x03, 0x00, 0x84, 0x00]));
        return;
      }
      const upstream = netConnect(targetPort, '127.0.0.1');
      sockets.add(upstream);
      upstream.once('close', () => {
        sockets.delete(upstream);
        socket.destroy();
      });
      socket.once('close', () => upstream.destroy());
      upstream.on('error', () => socket.destroy());
      socket.on('error', () => upstream.destroy());
      upstream.write(head);
      socket.pipe(upstream);
      upstream.pipe(socket);
    };
    socket.on('data', onData);
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    versions,
    connects,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * The protocol level byte of the CONNECT at the start of `bytes`: fixed header (1 byte + 1..4 length bytes), then
 * the protocol name (2-byte length + "MQTT"), then the level. Undefined until enough bytes arrived.
 */
function protocolLevel(bytes: Buffer): number | undefined {
  // MQTT §2.2.3 Remaining Length: 7 bits per byte, high bit set on every byte but the last.
  let remaining = 0;
  let offset = 1;
  for (let shift = 0; ; shift += 7) {
    if (offset >= bytes.length) return undefined;
    const byte = bytes[offset++]!;
    remaining += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) break;
  }
  // Only once the whole CONNECT is here, so the test can decode it.
  if (bytes.length < offset + remaining) return undefined;
  const nameLength = bytes.readUInt16BE(offset);
  return bytes[offset + 2 + nameLength];
}

/** One message as `mosquitto_sub -F '%r %t %p'` prints it: retained flag, topic, payload. */
export interface SubLine {
  isRetained: boolean;
  topic: string;
  payload: string;
}

/**
 * Runs mosquitto_sub on `filter` until it has printed `count` messages (it exits by itself), and parses them.
 * Retained messages are included: they are what a bridge leaves on its target.
 */
export async function mosquittoSubscribe(
  port: number,
  filter: string,
  count: number,
  extraArgs: readonly string[] = [],
): Promise<SubLine[]> {
  const result: MosquittoResult = await runMosquitto(
    'mosquitto_sub',
    port,
    ['-t', filter, '-C', String(count), '-F', '%r %t %p', '-W', '10', ...extraArgs],
    12_000,
  ).result;
  if (result.code !== 0) throw new Error(`mosquitto_sub failed (${String(result.code)}): ${result.stderr}`);
  return result.stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [flag, topic, ...rest] = line.split(' ');
      return { isRetained: flag === '1', topic: topic!, payload: rest.join(' ') };
    });
}

/** A unique topic prefix per test, so tests sharing the machine's Mosquitto never see each other's retained state. */
export function uniquePrefix(name: string): string {
  return `switchboard-test/${name}/${String(process.pid)}-${String(Date.now())}-${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * A TCP pass-through to a real broker that the test can close (every connection cut, nothing listening: the
 * target is "down") and open again on the same port, while the broker behind it keeps its retained state.
 */
export interface Gate {
  port: number;
  /** Connections open through the gate now. */
  readonly connections: number;
  open(): Promise<void>;
  close(): Promise<void>;
}

export async function startGate(targetPort: number): Promise<Gate> {
  const sockets = new Set<Socket>();
  const clients = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const open = async (): Promise<void> => {
    const listening = createServer((socket) => {
      clients.add(socket);
      socket.once('close', () => clients.delete(socket));
      const upstream = netConnect(targetPort, '127.0.0.1');
      for (const end of [socket, upstream]) {
        sockets.add(end);
        end.once('close', () => sockets.delete(end));
        end.on('error', () => undefined);
      }
      socket.once('close', () => upstream.destroy());
      upstream.once('close', () => socket.destroy());
      socket.pipe(upstream);
      upstream.pipe(socket);
    });
    await new Promise<void>((resolve) => listening.listen(port, '127.0.0.1', resolve));
    const address = listening.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    port = address.port;
    server = listening;
  };
  await open();
  return {
    get port() {
      return port;
    },
    get connections() {
      return clients.size;
    },
    open,
    close: async () => {
      const closing = server;
      server = undefined;
      for (const socket of sockets) socket.destroy();
      if (closing !== undefined) await new Promise<void>((resolve) => closing.close(() => resolve()));
    },
  };
}

/** Where the API's platform store lives. */
export type StoreKind = 'sqlite' | 'postgres';

/** PostgreSQL for tests: `SWITCHBOARD_TEST_PG_URL`, default the machine's server. */
/** PostgreSQL for tests (test/helpers/postgres.ts). */
export const PG_URL = PG_TEST_URL;
export const postgresUnreachable = postgresSkipReason;

/** Why PostgreSQL tests are skipped, or undefined when the server answers. */

/** A real management API with bridges on a platform store of `kind`, fed by a MemoryFeed. */
export interface BridgeApi {
  baseUrl: string;
  feed: MemoryFeed;
  platform: Platform;
  auth: AuthService;
  bridges: Bridges;
  orgId: string;
  adminToken: string;
  request(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; json: unknown }>;
  /** A JWT of a new user with `role` in `orgId` (default the admin's). */
  userToken(role: Role, orgId?: string): Promise<string>;
  /** Stops the API and the bridges; keeps the database when `keepData` (a restart test reopens it). */
  close(keepData?: boolean): Promise<void>;
}

/** Reopens an API on the same database: pass the `location` of a closed one. */
export interface BridgeApiLocation {
  kind: StoreKind;
  /** SQLite: the data directory; PostgreSQL: the schema. */
  where: string;
}

let apiUsers = 0;

export async function startBridgeApi(
  kind: StoreKind,
  options: { reuse?: BridgeApiLocation; feed?: MemoryFeed; limits?: Partial<BridgeLimits> } = {},
): Promise<BridgeApi & { location: BridgeApiLocation }> {
  const logger = pino({ level: 'silent' });
  const where =
    options.reuse?.where ??
    (kind === 'sqlite'
      ? mkdtempSync(join(tmpdir(), 'switchboard-bridges-'))
      : `sb_test_${randomBytes(6).toString('hex')}`);
  const store =
    kind === 'sqlite'
      ? new SqlitePlatformStore(join(where, 'platform.db'))
      : await PostgresPlatformStore.open(PG_URL, { schema: where, maxConnections: 4 });
  const platform = new Platform({ store, logger });
  const jwtDir = kind === 'sqlite' ? where : mkdtempSync(join(tmpdir(), 'switchboard-bridges-jwt-'));
  const auth = new AuthService({ store, entities: platform.entities, jwtKey: loadOrCreateJwtKey(jwtDir) });
  const boot = await bootstrapAdmin({ entities: platform.entities, auth, adminPassword: 'admin-password-1' });
  const orgId = boot.isCreated ? boot.orgId : await auth.serverOrgId();
  if (orgId === undefined) throw new Error('no organization after bootstrap');
  const feed = options.feed ?? new MemoryFeed();
  const bridges = await startBridges({
    platform,
    source: feed,
    compile: compilePrivacyRules,
    limits: {
      maxPerOrganization: 4,
      maxQueuedEntries: 1_000,
      maxBackoffMs: 1_000,
      connectTimeoutMs: 5_000,
      ...options.limits,
    },
    logger,
  });
  const app = await createHttpApp({ platform, auth, logger, plugins: [bridges.httpPlugin] });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  const baseUrl = `http://127.0.0.1:${String(address.port)}`;

  const request = async (method: string, path: string, body?: unknown, token?: string) => {
    const headers: Record<string, string> = { authorization: `Bearer ${token ?? adminToken}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(baseUrl + path, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, json: text === '' ? undefined : (JSON.parse(text) as unknown) };
  };
  const login = async (username: string, password: string): Promise<string> => {
    const response = await fetch(`${baseUrl}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });
    return ((await response.json()) as { token: string }).token;
  };
  const adminToken = await login('admin', 'admin-password-1');
  return {
    baseUrl,
    feed,
    platform,
    auth,
    bridges,
    orgId,
    adminToken,
    location: { kind, where },
    request,
    async userToken(role, userOrgId = orgId) {
      const username = `bridge-user-${String(++apiUsers)}-${role}`;
      await auth.createUser(userOrgId, { username, password: 'password-123', role });
      return login(username, 'password-123');
    },
    async close(keepData = false) {
      await app.close();
      await bridges.close();
      await platform.close();
      if (jwtDir !== where) rmSync(jwtDir, { recursive: true, force: true });
      if (keepData) return;
      if (kind === 'sqlite') rmSync(where, { recursive: true, force: true });
      else {
        const admin = new pg.Client({ connectionString: PG_URL });
        await admin.connect();
        await admin.query(`DROP SCHEMA IF EXISTS ${where} CASCADE`);
        await admin.end();
      }
    },
  };
}

/**
 * A minimal MQTT 5 server for flow-control tests: it accepts any CONNECT with a CONNACK that announces
 * `receiveMaximum` (and `maximumPacketSize` when given), decodes what follows (mqtt-packet, the test oracle), records every PUBLISH, and acknowledges only
 * when the test calls `ackAll()`.
 */
export interface HoldingBroker {
  port: number;
  connects: mqttPacket.IConnectPacket[];
  publishes: mqttPacket.IPublishPacket[];
  /** PUBACKs every QoS 1 PUBLISH not yet acknowledged. */
  ackAll(): void;
  /** From now on acknowledges every QoS 1 PUBLISH as it arrives (and the ones waiting now). */
  autoAck(): void;
  /** Sends every client a v5 DISCONNECT with `reasonCode` and a reason string, then closes the connections. */
  disconnectAll(reasonCode: number, reasonString: string): void;
  close(): Promise<void>;
}

export async function startHoldingBroker(receiveMaximum: number, maximumPacketSize?: number): Promise<HoldingBroker> {
  const publishes: mqttPacket.IPublishPacket[] = [];
  const connects: mqttPacket.IConnectPacket[] = [];
  const sockets = new Set<Socket>();
  const unacked: { socket: Socket; messageId: number }[] = [];
  let isAutoAck = false;
  const puback = (socket: Socket, messageId: number): void => {
    socket.write(mqttPacket.generate({ cmd: 'puback', messageId, reasonCode: 0 }, { protocolVersion: 5 }));
  };
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    parser.on('packet', (packet) => {
      if (packet.cmd === 'connect') {
        connects.push(packet);
        const connack = mqttPacket.generate(
          {
            cmd: 'connack',
            sessionPresent: false,
            reasonCode: 0,
            properties: { receiveMaximum, ...(maximumPacketSize === undefined ? {} : { maximumPacketSize }) },
          },
          { protocolVersion: 5 },
        );
        socket.write(connack);
      } else if (packet.cmd === 'publish') {
        publishes.push(packet);
        if (packet.qos === 1 && packet.messageId !== undefined) {
          if (isAutoAck) puback(socket, packet.messageId);
          else unacked.push({ socket, messageId: packet.messageId });
        }
      } else if (packet.cmd === 'pingreq') {
        socket.write(mqttPacket.generate({ cmd: 'pingresp' }, { protocolVersion: 5 }));
      } else if (packet.cmd === 'disconnect') {
        socket.end();
      }
    });
    socket.on('data', (chunk: Buffer) => parser.parse(chunk));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    connects,
    publishes,
    ackAll: () => {
      for (const { socket, messageId } of unacked.splice(0)) puback(socket, messageId);
    },
    autoAck: () => {
      isAutoAck = true;
      for (const { socket, messageId } of unacked.splice(0)) puback(socket, messageId);
    },
    disconnectAll: (reasonCode, reasonString) => {
      const packet = mqttPacket.generate(
        { cmd: 'disconnect', reasonCode, properties: { reasonString } },
        { protocolVersion: 5 },
      );
      for (const socket of sockets) socket.end(packet);
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** This machine's Mosquitto, a bridge target the tests share (they publish under a unique prefix each). */
export const SYSTEM_MOSQUITTO = 1883;

/**
 * An MQTT.js subscriber to `<prefix>/#` on the broker at `port`; when `resources` close it, it clears every retained
 * topic it saw, so a test leaves nothing behind on a shared broker.
 */
export async function cleaningSubscriber(
  resources: Resources,
  port: number,
  prefix: string,
  qos: 0 | 1 = 0,
): Promise<TestClient> {
  const client = await connectClient(`mqtt://127.0.0.1:${String(port)}`, { protocolVersion: 5 });
  await client.client.subscribeAsync(`${prefix}/#`, { qos });
  resources.add({
    close: async () => {
      for (const topic of new Set(client.messages.map((message) => message.topic))) {
        await client.client.publishAsync(topic, '', { retain: true, qos: 1 });
      }
      await client.client.endAsync(true);
    },
  });
  return client;
}
