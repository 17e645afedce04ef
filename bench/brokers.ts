/** Starting, probing and stopping the brokers under test. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { BrokerAddress } from './protocol.js';

/** How long a spawned broker has to accept connections. */
const START_TIMEOUT_MS = 20_000;
/** SIGTERM first; SIGKILL if still alive after this. */
const STOP_GRACE_MS = 5_000;
/** Last lines of a broker's output kept for error messages. */
const OUTPUT_TAIL_LINES = 20;

export const MOSQUITTO_PATH = '/usr/sbin/mosquitto';

/** A broker the bench measures. */
export interface BrokerUnderTest {
  /** Column title. */
  name: string;
  address: BrokerAddress;
  /** Known for spawned brokers (CPU and memory readings), undefined for `--target`. */
  pid: number | undefined;
  /** What was started and how, for the JSON result. */
  description: string;
  /** Last lines the broker printed. */
  outputTail(): string;
  stop(): Promise<void>;
}

/** A port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once `address` accepts a TCP connection, polling every 50 ms. */
async function waitForPort(address: BrokerAddress, child: ChildProcess, tail: () => string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`broker exited during start-up (${child.exitCode ?? child.signalCode}):\n${tail()}`);
    }
    const isOpen = await new Promise<boolean>((resolve) => {
      const socket = connect(address.port, address.host);
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (isOpen) return;
    if (Date.now() > deadline)
      throw new Error(`broker not accepting on port ${address.port} after ${START_TIMEOUT_MS} ms:\n${tail()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function captureTail(child: ChildProcess): () => string {
  const lines: string[] = [];
  const collect = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line === '') continue;
      lines.push(line);
      if (lines.length > OUTPUT_TAIL_LINES) lines.shift();
    }
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  return () => lines.join('\n');
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

/** Every child this module started, for the last-resort kill on exit. */
export const startedChildren = new Set<ChildProcess>();

async function startChild(
  name: string,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  port: number,
  description: string,
  cleanup: () => void,
): Promise<BrokerUnderTest> {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  startedChildren.add(child);
  child.once('exit', () => startedChildren.delete(child));
  const outputTail = captureTail(child);
  const address = { host: '127.0.0.1', port };
  const stop = async (): Promise<void> => {
    await stopChild(child);
    cleanup();
  };
  try {
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    await waitForPort(address, child, outputTail);
  } catch (error) {
    await stop();
    throw new Error(`${name} did not start`, { cause: error });
  }
  return { name, address, pid: child.pid, description, outputTail, stop };
}

/**
 * The Node.js flags `npm start` runs Switchboard with (the `--…` words of package.json's `start` script), so the
 * bench measures the server as users run it.
 */
function startScriptNodeFlags(mainPath: string): string[] {
  const packageJson = join(dirname(mainPath), '..', '..', 'package.json');
  const scripts = (JSON.parse(readFileSync(packageJson, 'utf8')) as { scripts?: { start?: string } }).scripts;
  return (scripts?.start ?? '').split(/\s+/).filter((word) => word.startsWith('--'));
}

/** Per-client queue limit given to both brokers, so that neither drops under the bench's backlogs. */
export const BENCH_MAX_QUEUED_MESSAGES = 1_000_000;

/** What the platform scenarios (g, h) change in how Switchboard is started. */
export interface SwitchboardOverrides {
  /** Column and log name; default "Switchboard". */
  name?: string;
  /** The caller's data directory, kept after stop (the caller reads the store there, then deletes it). */
  dataDir?: string;
  /** Added to the environment (database URL, admin password). */
  env?: Record<string, string>;
}

/** Switchboard as started by the bench: also its HTTP port (the platform scenarios use the API). */
export type SwitchboardUnderTest = BrokerUnderTest & { httpPort: number };

/**
 * Starts Switchboard's built server (`mainPath`, i.e. `dist/src/main.js`) on free ports, with a fresh data directory
 * unless `overrides.dataDir` names one.
 */
export async function startSwitchboard(
  mainPath: string,
  overrides: SwitchboardOverrides = {},
): Promise<SwitchboardUnderTest> {
  const mqttPort = await freePort();
  const httpPort = await freePort();
  const isOwnDataDir = overrides.dataDir === undefined;
  const dataDir = overrides.dataDir ?? mkdtempSync(join(tmpdir(), 'switchboard-bench-'));
  const nodeFlags = startScriptNodeFlags(mainPath);
  const broker = await startChild(
    overrides.name ?? 'Switchboard',
    process.execPath,
    [...nodeFlags, mainPath],
    {
      ...process.env,
      SWITCHBOARD_HOST: '127.0.0.1',
      SWITCHBOARD_MQTT_PORT: String(mqttPort),
      SWITCHBOARD_HTTP_PORT: String(httpPort),
      SWITCHBOARD_DATA_DIR: dataDir,
      SWITCHBOARD_LOG_LEVEL: 'warn',
      // The reference Mosquitto runs with allow_anonymous true: the same here.
      SWITCHBOARD_ALLOW_ANONYMOUS: 'true',
      // Same queue bound as the reference Mosquitto: the default 10,000 would drop (by design, counted) when
      // `--window` puts more than that in flight to one subscriber.
      SWITCHBOARD_MQTT_MAX_QUEUED_MESSAGES: String(BENCH_MAX_QUEUED_MESSAGES),
      ...overrides.env,
    },
    mqttPort,
    `node ${[...nodeFlags, mainPath].join(' ')} (MQTT ${mqttPort}, HTTP ${httpPort}, data ${dataDir})`,
    () => {
      if (isOwnDataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  );
  return { ...broker, httpPort };
}

/**
 * Mosquitto's configuration for the reference run. Queues large enough that it drops nothing under the bench
 * (mosquitto.conf(5): QoS 0 to an online client is dropped once `max_queued_messages` packets wait for its socket;
 * QoS 1 beyond it too). `max_inflight_messages` 64 matches Switchboard's default outbound window (`mqtt.maxInflight`)
 * so both brokers queue the same share of a backlog; 0 (unlimited) would make Mosquitto walk a list of thousands of
 * in-flight messages on every PUBACK. Sessions (scenario f) live in memory.
 */
export function mosquittoConfig(port: number): string {
  return [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    'persistence false',
    `max_queued_messages ${String(BENCH_MAX_QUEUED_MESSAGES)}`,
    'max_queued_bytes 0',
    'max_inflight_messages 64',
    'set_tcp_nodelay true',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    '',
  ].join('\n');
}

/** Starts a private Mosquitto on a free port (the system one on 1883 keeps default limits and drops under load). */
export async function startMosquitto(): Promise<BrokerUnderTest> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'mosquitto-bench-'));
  const configPath = join(dir, 'mosquitto.conf');
  writeFileSync(configPath, mosquittoConfig(port));
  return startChild(
    'Mosquitto',
    MOSQUITTO_PATH,
    ['-c', configPath],
    process.env,
    port,
    `${MOSQUITTO_PATH} -c ${configPath} (port ${port})`,
    () => rmSync(dir, { recursive: true, force: true }),
  );
}

/** A broker started by someone else (`--target host:port`, optionally `--target-pid`). */
export function externalBroker(address: BrokerAddress, pid: number | undefined): BrokerUnderTest {
  return {
    name: `${address.host}:${address.port}`,
    address,
    pid,
    description: `external broker at ${address.host}:${address.port}${pid === undefined ? '' : ` (pid ${pid})`}`,
    outputTail: () => '',
    stop: () => Promise.resolve(),
  };
}
