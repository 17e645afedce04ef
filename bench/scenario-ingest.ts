/**
 * Scenario g: telemetry ingestion through the ThingsBoard MQTT device API into one platform store. N devices, each
 * with its own access token and connection, publish `{"ts":…,"values":{5 keys}}` at QoS 1; the platform PUBACKs a
 * message only once its points are committed. Phase 1 saturates (each device keeps `--device-inflight` messages in
 * flight) and measures acknowledged data points per second; phase 2 paces the devices at half that rate and measures
 * publish→PUBACK latency. Afterwards, with the server stopped, the store must hold every acknowledged point.
 */
import { randomBytes } from 'node:crypto';
import { startSwitchboard, type SwitchboardUnderTest } from './brokers.js';
import { LatencyHistogram } from './latency-histogram.js';
import type { LoadProcess } from './load-pool.js';
import type { BenchOptions } from './options.js';
import { provisionInStore, provisionOverHttp, type ProvisionedDevice } from './platform-provision.js';
import type { PlatformContext, PlatformScenario } from './platform-scenario.js';
import { CpuMeter } from './proc-stats.js';
import type { TelemetryDeviceSpec, TelemetrySample, TelemetryStopResult } from './protocol.js';
import { deal, monotonicMs, sleep, type ScenarioOutcome } from './scenario.js';
import { verifyIngested } from './platform-verify.js';
import type { BackendKind } from './platform-database.js';

/** The five numeric keys of every message. */
export const TELEMETRY_KEYS = ['temperature', 'humidity', 'pressure', 'voltage', 'current'];
/** Unmeasured start of each phase: connections' first commits, JIT, the database's first pages. */
export const WARM_UP_MS = 2_000;
/** After a phase, how long the messages still in flight have to be acknowledged. */
export const DRAIN_TIMEOUT_MS = 30_000;
/** Time for creating the database, starting the server, provisioning and checking the store. */
const SETUP_ALLOWANCE_MS = 180_000;
/**
 * Device n's message k carries `ts = baseTs + k`: unique per device (a point at an existing (device, key, ts) would
 * replace one, and the count check could not tell), and a day in the past so it never runs into the future.
 */
export const BASE_TS_AGE_MS = 86_400_000;

/** One measured phase over every load process. */
export interface PhaseResult {
  /** Acknowledged data points per second between the two samples (messages × keys). */
  pointsPerSecond: number;
  stops: TelemetryStopResult[];
  brokerCpuPercent: number | undefined;
  loadCpuPercent: number | undefined;
  databaseCpuPercent: number | undefined;
}

export async function runPhase(
  context: PlatformContext,
  broker: SwitchboardUnderTest,
  processes: readonly LoadProcess[],
  ratePerDevice: number,
): Promise<PhaseResult> {
  await Promise.all(processes.map((p) => p.call({ type: 'telemetry-go', ratePerDevice })));
  await sleep(WARM_UP_MS);
  // After the warm-up, so the database server's connections from Switchboard's pool all exist.
  const databasePids = await context.database.serverPids();
  const meters = [broker.pid === undefined ? [] : [broker.pid], context.pool.pids, databasePids].map(
    (pids) => new CpuMeter(pids),
  );
  const before = await Promise.all(
    processes.map((p) => p.call<TelemetrySample>({ type: 'telemetry-sample', resetLatency: true })),
  );
  for (const meter of meters) meter.start();
  await sleep(context.options.durationSeconds * 1000);
  const after = await Promise.all(
    processes.map((p) => p.call<TelemetrySample>({ type: 'telemetry-sample', resetLatency: false })),
  );
  const [brokerCpuPercent, loadCpuPercent, databaseCpuPercent] = meters.map((meter) => meter.stopPercent());
  const stops = await Promise.all(
    processes.map((p) => p.call<TelemetryStopResult>({ type: 'telemetry-stop', drainTimeoutMs: DRAIN_TIMEOUT_MS })),
  );
  // Each process's rate over its own sampling interval, summed: the processes sample at slightly different moments.
  let messagesPerSecond = 0;
  before.forEach((first, i) => {
    const last = after[i]!;
    const seconds = (last.atMs - first.atMs) / 1000;
    if (seconds > 0) messagesPerSecond += (last.acked - first.acked) / seconds;
  });
  return {
    pointsPerSecond: messagesPerSecond * TELEMETRY_KEYS.length,
    stops,
    brokerCpuPercent,
    loadCpuPercent,
    databaseCpuPercent: databasePids.length === 0 ? undefined : databaseCpuPercent,
  };
}

/** Errors the load processes reported in a phase, and messages that never got their PUBACK. */
export function phaseErrors(phase: PhaseResult, name: string): string[] {
  const errors: string[] = [];
  for (const stop of phase.stops) {
    errors.push(...stop.errors.map((error) => `${name}: ${error}`));
    if (stop.errorCount > stop.errors.length)
      errors.push(`${name}: … and ${stop.errorCount - stop.errors.length} more`);
    if (stop.unacknowledged > 0) {
      errors.push(
        `${name}: ${stop.unacknowledged} messages without PUBACK ${DRAIN_TIMEOUT_MS / 1000} s after sending stopped`,
      );
    }
  }
  return errors;
}

/** Half of the ingestion targets (100,000 points/s on SQLite, 50,000 on PostgreSQL): the latency phase's rate. */
export const HALF_TARGET_POINTS_PER_SECOND: Readonly<Record<BackendKind, number>> = {
  sqlite: 50_000,
  postgres: 25_000,
};

/**
 * Deals the devices over the load processes and connects them (each with its token, `--device-inflight` messages in
 * flight at most); their message k will carry `ts = baseTs + k`. Answers the processes that hold devices.
 */
export async function connectTelemetryDevices(
  context: PlatformContext,
  broker: SwitchboardUnderTest,
  devices: readonly ProvisionedDevice[],
): Promise<{ specs: TelemetryDeviceSpec[]; baseTs: number; active: LoadProcess[] }> {
  const { options, pool, tag } = context;
  const processes = pool.processes;
  const specs: TelemetryDeviceSpec[] = devices.map((device, index) => ({
    index,
    clientId: `${tag}-d${index}`,
    accessToken: device.accessToken,
  }));
  const byProcess = deal(specs, processes.length);
  const baseTs = Date.now() - BASE_TS_AGE_MS;
  const active = processes.filter((p) => byProcess[p.index]!.length > 0);
  await Promise.all(
    active.map((p) =>
      p.call({
        type: 'telemetry-setup',
        broker: broker.address,
        devices: byProcess[p.index]!,
        deviceCount: specs.length,
        keys: TELEMETRY_KEYS,
        maxInflight: options.deviceInflight,
        baseTs,
        concurrency: options.connectConcurrency,
      }),
    ),
  );
  return { specs, baseTs, active };
}

export async function provision(
  context: PlatformContext,
  startServer: () => Promise<SwitchboardUnderTest>,
  password: string,
) {
  const { options, database, tag } = context;
  const startedMs = monotonicMs();
  let devices: ProvisionedDevice[];
  let broker: SwitchboardUnderTest;
  if (options.provision === 'store') {
    const store = await database.openStore();
    try {
      devices = await provisionInStore(store, options.devices, tag);
    } finally {
      await store.close();
    }
    broker = await startServer();
  } else {
    broker = await startServer();
    devices = await provisionOverHttp(`http://127.0.0.1:${broker.httpPort}`, password, options.devices, tag);
  }
  return { devices, broker, provisionMs: monotonicMs() - startedMs };
}

async function run(context: PlatformContext): Promise<ScenarioOutcome> {
  const { options, database, pool, backend } = context;
  const adminPassword = randomBytes(12).toString('hex');
  const startServer = async (): Promise<SwitchboardUnderTest> => {
    const started = await startSwitchboard(context.switchboardMainPath, {
      name: `Switchboard (${backend.name})`,
      dataDir: database.dataDir,
      env: { ...database.env, SWITCHBOARD_ADMIN_PASSWORD: adminPassword },
    });
    context.onCleanup(() => started.stop());
    return started;
  };
  const { devices, broker, provisionMs } = await provision(context, startServer, adminPassword);
  context.log(
    `    ${devices.length} devices with access tokens (${options.provision}) in ${Math.round(provisionMs)} ms`,
  );

  const { specs, baseTs, active } = await connectTelemetryDevices(context, broker, devices);

  const saturated = await runPhase(context, broker, active, 0);
  context.log(`    saturated: ${Math.round(saturated.pointsPerSecond)} data points/s acknowledged`);
  const errors = phaseErrors(saturated, 'saturated phase');
  // Two paced phases, each measuring publish→PUBACK latency with no backlog: at half the rate the issue targets
  // ("p99 ack under 50 ms at half that rate": 50,000 points/s for SQLite's 100,000), and at half the rate just
  // measured (harder as the store gets faster). Rates are per device, in messages: one point per key each.
  const perDevice = (pointsPerSecond: number): number => pointsPerSecond / TELEMETRY_KEYS.length / specs.length;
  const halfTargetPointsPerSecond = HALF_TARGET_POINTS_PER_SECOND[backend.kind];
  const pacedPointsPerSecond = saturated.pointsPerSecond / 2;
  let atHalfTarget: PhaseResult | undefined;
  let paced: PhaseResult | undefined;
  if (saturated.pointsPerSecond > 0) {
    if (halfTargetPointsPerSecond < pacedPointsPerSecond) {
      atHalfTarget = await runPhase(context, broker, active, perDevice(halfTargetPointsPerSecond));
      errors.push(...phaseErrors(atHalfTarget, 'phase at half the target rate'));
    }
    paced = await runPhase(context, broker, active, perDevice(pacedPointsPerSecond));
    errors.push(...phaseErrors(paced, 'paced phase'));
  } else {
    errors.push('nothing was acknowledged in the saturated phase; no paced phase');
  }
  const ratePerDevice = perDevice(pacedPointsPerSecond);
  await Promise.all(pool.processes.map((p) => p.call({ type: 'close-all' })));
  await broker.stop();

  // Counts since setup: the last phase's answer has every phase.
  const counts = (paced ?? saturated).stops.flatMap((stop) => stop.devices);
  const store = await database.openStore();
  let verified;
  try {
    verified = await verifyIngested(store, devices, counts, TELEMETRY_KEYS, baseTs);
  } finally {
    await store.close();
  }
  errors.push(...verified.errors);

  const latency = new LatencyHistogram();
  for (const stop of paced?.stops ?? []) latency.merge(stop.latency);
  const targetLatency = new LatencyHistogram();
  for (const stop of atHalfTarget?.stops ?? []) targetLatency.merge(stop.latency);
  const metrics: Record<string, number> = {
    rate: saturated.pointsPerSecond,
    targetRate: atHalfTarget?.pointsPerSecond ?? Number.NaN,
    targetP50: atHalfTarget === undefined ? Number.NaN : targetLatency.percentileMicros(50) / 1000,
    targetP99: atHalfTarget === undefined ? Number.NaN : targetLatency.percentileMicros(99) / 1000,
    p50: latency.percentileMicros(50) / 1000,
    p99: latency.percentileMicros(99) / 1000,
    pacedRate: paced?.pointsPerSecond ?? Number.NaN,
  };
  if (saturated.databaseCpuPercent !== undefined) metrics['databaseCpu'] = saturated.databaseCpuPercent;
  return {
    status: errors.length === 0 ? 'ok' : 'failed',
    metrics,
    brokerCpuPercent: saturated.brokerCpuPercent,
    loadCpuPercent: saturated.loadCpuPercent,
    errors,
    details: {
      store: database.description,
      server: broker.description,
      devices: devices.length,
      provisioning: options.provision,
      provisionMs,
      inflightPerDevice: options.deviceInflight,
      halfTargetPointsPerSecond,
      halfTargetLatencyMaxMs: atHalfTarget === undefined ? undefined : targetLatency.maxMicros / 1000,
      pacedTargetPointsPerSecond: pacedPointsPerSecond,
      pacedRatePerDevice: ratePerDevice,
      pacedBrokerCpuPercent: paced?.brokerCpuPercent,
      pacedLoadCpuPercent: paced?.loadCpuPercent,
      pacedDatabaseCpuPercent: paced?.databaseCpuPercent,
      latencySamples: latency.count,
      latencyMaxMs: latency.maxMicros / 1000,
      messagesSent: verified.sent,
      pointsAcknowledged: verified.acknowledgedPoints,
      pointsStored: verified.storedPoints,
    },
  };
}

export const telemetryIngestion: PlatformScenario = {
  id: 'g',
  title: 'telemetry ingestion',
  metrics: [
    {
      key: 'rate',
      label: 'acked data points/s',
      isHigherBetter: true,
      decimals: 0,
      targets: { sqlite: 100_000, postgres: 50_000 },
    },
    { key: 'targetRate', label: 'data points/s at ½ target', isHigherBetter: true, decimals: 0 },
    { key: 'targetP50', label: 'ack p50 at ½ target, ms', isHigherBetter: false, decimals: 2 },
    {
      key: 'targetP99',
      label: 'ack p99 at ½ target, ms',
      isHigherBetter: false,
      decimals: 2,
      targets: { sqlite: 50 },
    },
    { key: 'pacedRate', label: 'data points/s at ½ measured', isHigherBetter: true, decimals: 0 },
    { key: 'p50', label: 'ack p50 at ½ measured, ms', isHigherBetter: false, decimals: 2 },
    { key: 'p99', label: 'ack p99 at ½ measured, ms', isHigherBetter: false, decimals: 2 },
    { key: 'databaseCpu', label: 'PostgreSQL CPU, %', isHigherBetter: false, decimals: 0 },
  ],
  timeoutMs: (options: BenchOptions) =>
    3 * (WARM_UP_MS + options.durationSeconds * 1000 + DRAIN_TIMEOUT_MS) + SETUP_ALLOWANCE_MS + options.devices * 50,
  run,
};
