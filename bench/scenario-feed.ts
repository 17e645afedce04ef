/**
 * Scenario i: what the PlaceOS state feed costs at the platform bench's ingestion rate, and that it delivers every
 * change (issue 5: "at the ingestion rate of the platform bench, the feed adds under 20% CPU and delivers every
 * change"). Scenario g's devices, placed in one system, publish telemetry paced at half the store's target rate
 * (g's latency phase), first with the organization's feed off, then with it on and a subscriber on
 * `placeos/<org>/state/#`. Overhead = Switchboard's CPU per acknowledged point with the feed ÷ without − 1. Every
 * change must reach the
 * subscriber: per device and key, consecutive timestamps and the values the device sent, up to its last message.
 */
import { randomBytes } from 'node:crypto';
import { PacketType, type Packet } from '../src/mqtt/codec/index.js';
import { startSwitchboard, type SwitchboardUnderTest } from './brokers.js';
import { LoadClient } from './load-client.js';
import type { BenchOptions } from './options.js';
import type { ProvisionedDevice } from './platform-provision.js';
import type { PlatformContext, PlatformScenario } from './platform-scenario.js';
import type { ScenarioOutcome } from './scenario.js';
import {
  connectTelemetryDevices,
  DRAIN_TIMEOUT_MS,
  HALF_TARGET_POINTS_PER_SECOND,
  phaseErrors,
  provision,
  runPhase,
  TELEMETRY_KEYS,
  WARM_UP_MS,
} from './scenario-ingest.js';

/** Time for creating the database, starting the server, provisioning and placing the devices. */
const SETUP_ALLOWANCE_MS = 180_000;
/** Problems listed up to this many; the rest are counted. */
const MAX_ERRORS = 10;
const PINGREQ = Buffer.from([0xc0, 0x00]);

async function api(base: string, token: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status} ${text.slice(0, 200)}`);
  return text === '' ? undefined : (JSON.parse(text) as unknown);
}

function field(value: unknown, name: string): string {
  const found = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[name] : undefined;
  if (typeof found !== 'string')
    throw new Error(`expected a string "${name}" in ${JSON.stringify(value).slice(0, 200)}`);
  return found;
}

/** One system holding every device (a device outside any system is not on the feed); answers the organization id. */
async function placeDevices(base: string, password: string, devices: readonly ProvisionedDevice[], tag: string) {
  const token = field(await api(base, '', 'POST', '/api/auth/login', { username: 'admin', password }), 'token');
  const orgs = await api(base, token, 'GET', '/api/organizations');
  const orgId = field(Array.isArray(orgs) ? orgs[0] : undefined, 'id');
  const systemId = field(await api(base, token, 'POST', '/api/systems', { name: `${tag}-system` }), 'id');
  for (let i = 0; i < devices.length; i += 16) {
    await Promise.all(
      devices.slice(i, i + 16).map((d) => api(base, token, 'PUT', `/api/devices/${d.id}`, { system: systemId })),
    );
  }
  return { token, orgId };
}

/**
 * The subscriber: checks each feed message against what device `name` sent as message k (`ts = baseTs + k`, key j =
 * `k + j/4`, serialized as a JSON string in `value`); after its first message per topic (the state published when the
 * feed turned on), every next one must be k + 1.
 */
class FeedChecker {
  readonly lastK = new Map<string, number>();
  messages = 0;
  problems = 0;
  readonly errors: string[] = [];
  #pong: (() => void) | undefined;
  readonly #deviceNames: ReadonlySet<string>;
  readonly #baseTs: number;

  constructor(devices: readonly ProvisionedDevice[], baseTs: number) {
    this.#deviceNames = new Set(devices.map((d) => d.name));
    this.#baseTs = baseTs;
  }

  onPacket(packet: Packet): void {
    if (packet.type === PacketType.Pingresp) {
      this.#pong?.();
      return;
    }
    if (packet.type !== PacketType.Publish) return;
    this.messages++;
    const levels = packet.topicName.split('/');
    const key = levels[levels.length - 1]!;
    const name = levels[levels.length - 3]!;
    const j = TELEMETRY_KEYS.indexOf(key);
    if (j < 0 || !this.#deviceNames.has(name)) return this.#problem(`unexpected feed topic ${packet.topicName}`);
    let k: number;
    try {
      const body = JSON.parse(packet.payload.toString()) as { time: number; value: string };
      k = body.time - this.#baseTs;
      if (body.value !== JSON.stringify(k + j / 4)) {
        return this.#problem(`${packet.topicName}: value ${body.value} at k=${k}`);
      }
    } catch {
      return this.#problem(`${packet.topicName}: payload is not {"time","value"} JSON`);
    }
    const topic = `${name}/${key}`;
    const last = this.lastK.get(topic);
    if (last !== undefined && k !== last + 1) this.#problem(`${topic}: message ${k} after ${last}`);
    this.lastK.set(topic, k);
  }

  onChunkEnd(): void {}

  /** Resolves once everything the broker queued for this client before the PINGREQ has arrived. */
  barrier(client: LoadClient): Promise<void> {
    return new Promise((resolve) => {
      this.#pong = resolve;
      client.socket.write(PINGREQ);
    });
  }

  #problem(message: string): void {
    if (++this.problems <= MAX_ERRORS) this.errors.push(message);
  }
}

async function run(context: PlatformContext): Promise<ScenarioOutcome> {
  const { database, pool, tag, backend } = context;
  const adminPassword = randomBytes(12).toString('hex');
  const startServer = async (): Promise<SwitchboardUnderTest> => {
    const started = await startSwitchboard(context.switchboardMainPath, {
      name: `Switchboard (${backend.name})`,
      dataDir: database.dataDir,
      // The feed's subscriber connects without credentials (the bench's load client sends none).
      env: { ...database.env, SWITCHBOARD_ADMIN_PASSWORD: adminPassword, SWITCHBOARD_ALLOW_ANONYMOUS: 'true' },
    });
    context.onCleanup(() => started.stop());
    return started;
  };
  const { devices, broker } = await provision(context, startServer, adminPassword);
  const base = `http://127.0.0.1:${broker.httpPort}`;
  const { token, orgId } = await placeDevices(base, adminPassword, devices, tag);
  context.log(`    ${devices.length} devices in one system of organization ${orgId}`);

  const { specs, baseTs, active } = await connectTelemetryDevices(context, broker, devices);
  const pointsPerSecond = HALF_TARGET_POINTS_PER_SECOND[backend.kind];
  const ratePerDevice = pointsPerSecond / TELEMETRY_KEYS.length / specs.length;

  const off = await runPhase(context, broker, active, ratePerDevice);
  context.log(
    `    feed off: ${Math.round(off.pointsPerSecond)} points/s, Switchboard CPU ${fmt(off.brokerCpuPercent)}`,
  );
  const errors = phaseErrors(off, 'feed off');

  const checker = new FeedChecker(devices, baseTs);
  const subscriber = await LoadClient.open(broker.address, `${tag}-feed`, true, 600);
  context.onCleanup(() => subscriber.close());
  subscriber.listener = checker;
  await subscriber.subscribe(`placeos/${orgId}/state/#`, 0);
  await api(base, token, 'PUT', `/api/organizations/${orgId}/feed`, { enabled: true });

  const on = await runPhase(context, broker, active, ratePerDevice);
  context.log(`    feed on: ${Math.round(on.pointsPerSecond)} points/s, Switchboard CPU ${fmt(on.brokerCpuPercent)}`);
  errors.push(...phaseErrors(on, 'feed on'));
  // Every change was published before its PUBACK's commit callback returned, so once the devices are drained the
  // feed messages are queued for the subscriber ahead of its PINGRESP.
  await checker.barrier(subscriber);
  if (subscriber.isClosed) errors.push(`feed subscriber: ${subscriber.closeError?.message ?? 'closed'}`);
  errors.push(...checker.errors);
  if (checker.problems > checker.errors.length) errors.push(`… and ${checker.problems - checker.errors.length} more`);
  let missing = 0;
  for (const { index, acked } of on.stops.flatMap((stop) => stop.devices)) {
    for (const key of TELEMETRY_KEYS) {
      const topic = `${devices[index]!.name}/${key}`;
      const last = checker.lastK.get(topic);
      if (acked > 0 && last !== acked - 1) {
        missing++;
        if (missing <= MAX_ERRORS) errors.push(`${topic}: last change on the feed ${String(last)}, sent ${acked - 1}`);
      }
    }
  }
  await Promise.all(pool.processes.map((p) => p.call({ type: 'close-all' })));

  // CPU per acknowledged point, on ÷ off − 1: the paced rate is the same in both phases when the server keeps up, and
  // this stays fair when it does not (a busy machine, a slower phase).
  const cpuPerPoint = (phase: typeof on): number =>
    phase.brokerCpuPercent === undefined || phase.pointsPerSecond <= 0
      ? Number.NaN
      : phase.brokerCpuPercent / phase.pointsPerSecond;
  const overhead = (cpuPerPoint(on) / cpuPerPoint(off) - 1) * 100;
  return {
    status: errors.length === 0 ? 'ok' : 'failed',
    metrics: {
      overhead,
      offRate: off.pointsPerSecond,
      onRate: on.pointsPerSecond,
      offCpu: off.brokerCpuPercent ?? Number.NaN,
      onCpu: on.brokerCpuPercent ?? Number.NaN,
      feedMessages: checker.messages,
      missing,
    },
    brokerCpuPercent: on.brokerCpuPercent,
    loadCpuPercent: on.loadCpuPercent,
    errors,
    details: {
      store: database.description,
      server: broker.description,
      devices: devices.length,
      pacedPointsPerSecond: pointsPerSecond,
      ratePerDevice,
      offLoadCpuPercent: off.loadCpuPercent,
      topicsSeen: checker.lastK.size,
    },
  };
}

function fmt(percent: number | undefined): string {
  return percent === undefined ? '?' : `${Math.round(percent)} %`;
}

export const feedOverhead: PlatformScenario = {
  id: 'i',
  title: 'PlaceOS feed overhead',
  metrics: [
    {
      key: 'overhead',
      label: 'CPU added by the feed, %',
      isHigherBetter: false,
      decimals: 1,
      targets: { sqlite: 20, postgres: 20 },
    },
    { key: 'offRate', label: 'data points/s, feed off', isHigherBetter: true, decimals: 0 },
    { key: 'onRate', label: 'data points/s, feed on', isHigherBetter: true, decimals: 0 },
    { key: 'offCpu', label: 'Switchboard CPU feed off, %', isHigherBetter: false, decimals: 0 },
    { key: 'onCpu', label: 'Switchboard CPU feed on, %', isHigherBetter: false, decimals: 0 },
    { key: 'feedMessages', label: 'feed messages received', isHigherBetter: true, decimals: 0 },
    { key: 'missing', label: 'changes missing on the feed', isHigherBetter: false, decimals: 0 },
  ],
  timeoutMs: (options: BenchOptions) =>
    2 * (WARM_UP_MS + options.durationSeconds * 1000 + DRAIN_TIMEOUT_MS) + SETUP_ALLOWANCE_MS + options.devices * 100,
  run,
};
