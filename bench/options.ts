/** Command-line options of `npm run bench -- [options]`, validated before anything starts. */
import { parseArgs } from 'node:util';
import type { BrokerAddress } from './protocol.js';

export const SCENARIO_IDS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'] as const;
export type ScenarioId = (typeof SCENARIO_IDS)[number];
/** Scenarios of the device platform (Switchboard alone, on SQLite and on PostgreSQL); the others compare brokers. */
export const PLATFORM_SCENARIO_IDS = ['g', 'h', 'i', 'j'] as const;
export type PlatformScenarioId = (typeof PLATFORM_SCENARIO_IDS)[number];
export type BrokerScenarioId = Exclude<ScenarioId, PlatformScenarioId>;

/** Where scenario g and h's fresh PostgreSQL databases are created (and dropped). */
export const DEFAULT_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test';
/** Scenario h needs one series of at least an hour at 1 s spacing, for each of its 5 keys. */
export const MIN_POINTS = 5 * 3_600;

export interface BenchOptions {
  only: ScenarioId[];
  /** Measuring time of the flow scenarios a–d. */
  durationSeconds: number;
  isSwitchboardOnly: boolean;
  /** Skip Switchboard; measure only the reference (spawned Mosquitto or `--target`). */
  isReferenceOnly: boolean;
  target: BrokerAddress | undefined;
  targetPid: number | undefined;
  loadProcesses: number;
  payloadBytes: number;
  /** Messages a publisher may be ahead of its slowest subscriber (a–c). */
  windowMessages: number;
  /** a–d: subscribers connect with clean session 0, so the broker keeps (and stores) what it routes to them. */
  persistentSubscribers: boolean;
  idleConnections: number;
  connectConcurrency: number;
  sessions: number;
  messagesPerSession: number;
  /** Scenario g: ThingsBoard devices, one connection each. */
  devices: number;
  /** Scenario g: QoS 1 telemetry messages a device may have without PUBACK. */
  deviceInflight: number;
  /** Scenario h: telemetry points seeded before the aggregate queries. */
  points: number;
  /** Scenario j: CloudPlugs things publishing records, one connection each. */
  things: number;
  /** An existing database to connect to; g and h create (and drop) their own database through it. */
  postgresUrl: string;
  /** Scenario g: devices created through the management API of the running server, or in the store beforehand. */
  provision: 'http' | 'store';
}

export const USAGE = `Usage: npm run bench -- [options]

Runs scenarios a–f against Switchboard (dist/src/main.js, started on free ports) and a reference broker
(a private Mosquitto started on a free port, or --target), and prints a side-by-side table; then the platform
scenarios g–j against Switchboard alone, once on SQLite and once on PostgreSQL, in a second table.

  --only a,b,...             scenarios to run (default: all of a,b,c,d,e,f,g,h,i,j)
  --duration SECONDS         measuring time of scenarios a–d, and of each phase of g, i and j (default 10)
  --switchboard-only         do not run a reference broker
  --reference-only           do not start Switchboard (alias: --mosquitto-only)
  --target HOST:PORT         use this broker as the reference instead of spawning Mosquitto
  --target-pid PID           process id of --target on this machine, for its CPU and memory
  --load-processes N         load generator processes (default 2)
  --payload-bytes N          payload size, at least 16 (default 64)
  --window N                 messages a publisher may be ahead of delivery, a–c (default 64)
  --persistent-subscribers   a–d subscribers keep a session (clean session 0): their QoS 1 is stored until acked
  --idle-connections N       scenario e (default 10000; lowered to fit the open-file limit)
  --connect-concurrency N    handshakes in progress at once, e and f (default 100)
  --sessions N               scenario f sessions (default 1000)
  --messages-per-session N   scenario f (default 100)
  --devices N                scenarios g, i: ThingsBoard devices, one connection each (default 100)
  --device-inflight N        scenario g: QoS 1 messages a device may have without PUBACK (default 16)
  --things N                 scenario j: CloudPlugs things publishing QoS 0 records (default 1000)
  --points N                 scenario h: points seeded before the queries, at least ${MIN_POINTS} (default 10000000)
  --postgres-url URL         database g and h connect to, to create and drop their own
                             (default ${DEFAULT_POSTGRES_URL})
  --provision http|store     scenario g: create the devices with POST /api/devices (default), or directly
                             in the store before the server starts
  --help`;

function integer(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`--${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

function postgresUrl(raw: string | undefined): string {
  if (raw === undefined) return DEFAULT_POSTGRES_URL;
  if (!/^postgres(ql)?:\/\//.test(raw)) throw new Error(`--postgres-url must start with postgres://, got "${raw}"`);
  return raw;
}

function provision(raw: string | undefined): 'http' | 'store' {
  if (raw === undefined || raw === 'http' || raw === 'store') return raw ?? 'http';
  throw new Error(`--provision must be http or store, got "${raw}"`);
}

/** Parses argv; throws an Error naming the bad option. Returns undefined for `--help`. */
export function parseOptions(argv: string[]): BenchOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      only: { type: 'string' },
      duration: { type: 'string' },
      'switchboard-only': { type: 'boolean' },
      'reference-only': { type: 'boolean' },
      'mosquitto-only': { type: 'boolean' },
      target: { type: 'string' },
      'target-pid': { type: 'string' },
      'load-processes': { type: 'string' },
      'payload-bytes': { type: 'string' },
      window: { type: 'string' },
      'persistent-subscribers': { type: 'boolean' },
      'idle-connections': { type: 'string' },
      'connect-concurrency': { type: 'string' },
      sessions: { type: 'string' },
      'messages-per-session': { type: 'string' },
      devices: { type: 'string' },
      'device-inflight': { type: 'string' },
      points: { type: 'string' },
      things: { type: 'string' },
      'postgres-url': { type: 'string' },
      provision: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help === true) return undefined;

  let only: ScenarioId[] = [...SCENARIO_IDS];
  if (values.only !== undefined) {
    const requested = values.only.split(',').map((s) => s.trim().toLowerCase());
    const unknown = requested.filter((id) => !(SCENARIO_IDS as readonly string[]).includes(id));
    if (unknown.length > 0 || requested.length === 0) {
      throw new Error(`--only takes scenario letters from ${SCENARIO_IDS.join(',')}, got "${values.only}"`);
    }
    only = SCENARIO_IDS.filter((id) => requested.includes(id));
  }

  let target: BrokerAddress | undefined;
  if (values.target !== undefined) {
    const match = /^(.+):(\d+)$/.exec(values.target);
    const port = match === null ? NaN : Number(match[2]);
    if (match === null || port < 1 || port > 65_535) {
      throw new Error(`--target must be HOST:PORT, got "${values.target}"`);
    }
    target = { host: match[1]!, port };
  }

  const isSwitchboardOnly = values['switchboard-only'] === true;
  const isReferenceOnly = values['reference-only'] === true || values['mosquitto-only'] === true;
  if (isSwitchboardOnly && isReferenceOnly)
    throw new Error('--switchboard-only and --reference-only exclude each other');
  if (isSwitchboardOnly && target !== undefined) throw new Error('--switchboard-only and --target exclude each other');

  const targetPid =
    values['target-pid'] === undefined ? undefined : integer('target-pid', values['target-pid'], 0, 1, 2 ** 22);
  return {
    only,
    durationSeconds: integer('duration', values.duration, 10, 1, 3_600),
    isSwitchboardOnly,
    isReferenceOnly,
    target,
    targetPid,
    loadProcesses: integer('load-processes', values['load-processes'], 2, 1, 64),
    payloadBytes: integer('payload-bytes', values['payload-bytes'], 64, 16, 65_536),
    windowMessages: integer('window', values.window, 64, 1, 100_000),
    persistentSubscribers: values['persistent-subscribers'] === true,
    idleConnections: integer('idle-connections', values['idle-connections'], 10_000, 1, 1_000_000),
    connectConcurrency: integer('connect-concurrency', values['connect-concurrency'], 100, 1, 10_000),
    sessions: integer('sessions', values.sessions, 1_000, 1, 100_000),
    messagesPerSession: integer('messages-per-session', values['messages-per-session'], 100, 1, 100_000),
    devices: integer('devices', values.devices, 100, 1, 100_000),
    // 65,535 packet ids per connection; past a few hundred, more in flight only adds queueing.
    deviceInflight: integer('device-inflight', values['device-inflight'], 16, 1, 65_535),
    points: integer('points', values.points, 10_000_000, MIN_POINTS, 2_000_000_000),
    things: integer('things', values.things, 1_000, 1, 100_000),
    postgresUrl: postgresUrl(values['postgres-url']),
    provision: provision(values.provision),
  };
}
