/** Scenarios e (idle connections) and f (persistent sessions). */
import type { BenchOptions } from './options.js';
import { openFileSoftLimit, residentBytes } from './proc-stats.js';
import type {
  CloseAllResult,
  IdleConnectResult,
  SessionSpec,
  SessionsDrainResult,
  SessionsPrepareResult,
  SessionsPublishResult,
} from './protocol.js';
import { deal, PhaseCpu, sleep, type Scenario, type ScenarioContext, type ScenarioOutcome } from './scenario.js';

/** Keep-alive of idle clients: large, so no PINGREQ is needed during the scenario. */
const IDLE_KEEPALIVE_SECONDS = 3_600;
/** File descriptors the broker needs besides client sockets (listeners, store, logs, stdio). */
const FILE_MARGIN = 200;
/** Time for the broker to settle after the last CONNACK before its memory is read. */
const SETTLE_MS = 1_000;
const SESSION_PUBLISHERS = 10;
const SESSION_INFLIGHT = 32;
/** Time for every reconnected session to receive its queued messages. */
const DRAIN_TIMEOUT_MS = 120_000;

async function closeAll(context: ScenarioContext): Promise<number> {
  const closed = await Promise.all(context.pool.processes.map((p) => p.call<CloseAllResult>({ type: 'close-all' })));
  return closed.reduce((sum, c) => sum + c.closedByBroker, 0);
}

function concurrencyPerProcess(context: ScenarioContext): number {
  return Math.max(1, Math.floor(context.options.connectConcurrency / context.pool.processes.length));
}

/** The connection count scenario e can reach: each socket is one file in the broker (and one in a load process). */
export function idleConnectionTarget(options: BenchOptions): { count: number; note: string | undefined } {
  const limit = openFileSoftLimit();
  const fitting = Math.max(1, limit - FILE_MARGIN);
  if (options.idleConnections <= fitting) return { count: options.idleConnections, note: undefined };
  return {
    count: fitting,
    note:
      `(e) uses ${fitting} connections instead of ${options.idleConnections}: the open-file soft limit is ${limit} ` +
      '(raise it with `ulimit -n $(ulimit -Hn)` before `npm run bench`).',
  };
}

/** One round of scenario e: `count` idle connections opened from every load process at once. */
async function connectRound(
  context: ScenarioContext,
  counts: number[],
  round: string,
): Promise<{ connected: number; errors: string[]; rate: number; cpu: ReturnType<PhaseCpu['stop']> }> {
  const { broker, pool, tag } = context;
  const cpu = new PhaseCpu(context);
  cpu.start();
  const results = await Promise.all(
    pool.processes.map((p) =>
      p.call<IdleConnectResult>({
        type: 'idle-connect',
        broker: broker.address,
        clientIdPrefix: `${tag}-${round}${p.index}-`,
        count: counts[p.index]!,
        concurrency: concurrencyPerProcess(context),
        keepAliveSeconds: IDLE_KEEPALIVE_SECONDS,
      }),
    ),
  );
  const cpuPercent = cpu.stop();
  const connected = results.reduce((sum, r) => sum + r.connected, 0);
  const startMs = Math.min(...results.map((r) => r.startMs));
  const endMs = Math.max(...results.map((r) => r.endMs));
  return {
    connected,
    errors: results.flatMap((r) => r.errors),
    rate: connected / ((endMs - startMs) / 1000),
    cpu: cpuPercent,
  };
}

/**
 * (e) many idle connections, in two rounds. The first runs on the freshly started broker: its connect rate is the
 * cold one (a broker just (re)started, every device reconnecting; a JIT-compiled broker pays for compiling here), and
 * resident memory per connection is read after it, before anything was freed. All connections close, then a second
 * round measures the warm connect rate. Both brokers get the same two rounds.
 */
export const idleConnections: Scenario = {
  id: 'e',
  title: 'idle connections',
  metrics: [
    { key: 'connectRate', label: 'connects/s, warm', isHigherBetter: true, decimals: 0 },
    { key: 'connectRateCold', label: 'connects/s, cold start', isHigherBetter: true, decimals: 0 },
    { key: 'bytesPerConnection', label: 'RSS bytes/connection', isHigherBetter: false, decimals: 0 },
    { key: 'connections', label: 'connections held', isHigherBetter: true, decimals: 0 },
  ],
  timeoutMs: () => 300_000,
  async run(context): Promise<ScenarioOutcome> {
    const { broker, pool } = context;
    const { count, note } = idleConnectionTarget(context.options);
    if (note !== undefined && !context.notes.includes(note)) context.notes.push(note);
    const counts = deal(
      Array.from({ length: count }, (_, i) => i),
      pool.processes.length,
    ).map((l) => l.length);
    const rssBefore = broker.pid === undefined ? undefined : residentBytes(broker.pid);
    const cold = await connectRound(context, counts, 'idle');
    await sleep(SETTLE_MS);
    const rssAfter = broker.pid === undefined ? undefined : residentBytes(broker.pid);
    const errors = [...cold.errors];
    if (cold.connected < count) errors.unshift(`${count - cold.connected} of ${count} connections failed`);
    let dropped = await closeAll(context);
    await sleep(SETTLE_MS);
    const warm = await connectRound(context, counts, 'again');
    errors.push(...warm.errors);
    if (warm.connected < count) errors.unshift(`${count - warm.connected} of ${count} warm connections failed`);
    dropped += await closeAll(context);
    if (dropped > 0) errors.push(`${dropped} idle connections were closed by the broker`);
    const metrics: Record<string, number> = {
      connectRate: warm.rate,
      connectRateCold: cold.rate,
      connections: Math.min(cold.connected, warm.connected) - dropped,
    };
    if (rssBefore !== undefined && rssAfter !== undefined && cold.connected > 0) {
      metrics['bytesPerConnection'] = (rssAfter - rssBefore) / cold.connected;
    }
    return {
      status: errors.length === 0 ? 'ok' : 'failed',
      metrics,
      ...warm.cpu,
      errors,
      details: { requested: count, connectedCold: cold.connected, connectedWarm: warm.connected, rssBefore, rssAfter },
    };
  },
};

/** (f) persistent sessions: offline sessions get QoS 1 messages queued, then all reconnect and drain. */
export const persistentSessions: Scenario = {
  id: 'f',
  title: 'persistent sessions, queued QoS 1',
  metrics: [
    { key: 'drainSeconds', label: 'time to drain s', isHigherBetter: false, decimals: 2 },
    { key: 'drainRate', label: 'drained msg/s', isHigherBetter: true, decimals: 0 },
    { key: 'enqueueRate', label: 'queued msg/s (publish)', isHigherBetter: true, decimals: 0 },
  ],
  timeoutMs: () => 240_000,
  async run(context): Promise<ScenarioOutcome> {
    const { broker, pool, tag, options } = context;
    const sessions: SessionSpec[] = Array.from({ length: options.sessions }, (_, index) => ({
      index,
      clientId: `${tag}-sess${index}`,
      topicName: `bench/${tag}/session/${index}`,
    }));
    const sessionsByProcess = deal(sessions, pool.processes.length);
    let outcome: ScenarioOutcome;
    let dropped: number;
    try {
      outcome = await measureSessions(context, sessionsByProcess);
    } finally {
      dropped = await closeAll(context);
      // Leave no sessions behind in a broker we do not own.
      await Promise.all(
        pool.processes.map((p) =>
          p.call({
            type: 'sessions-clear',
            broker: broker.address,
            clientIds: sessionsByProcess[p.index]!.map((s) => s.clientId),
            concurrency: concurrencyPerProcess(context),
          }),
        ),
      );
    }
    if (dropped > 0) {
      outcome.errors.push(`${dropped} session connections were closed by the broker`);
      outcome.status = 'failed';
    }
    return outcome;
  },
};

async function measureSessions(context: ScenarioContext, sessionsByProcess: SessionSpec[][]): Promise<ScenarioOutcome> {
  const { broker, pool, tag, options } = context;
  const processes = pool.processes;
  const perProcess = concurrencyPerProcess(context);
  const errors: string[] = [];
  const expected = options.sessions * options.messagesPerSession;
  const prepared = await Promise.all(
    processes.map((p) =>
      p.call<SessionsPrepareResult>({
        type: 'sessions-prepare',
        broker: broker.address,
        sessions: sessionsByProcess[p.index]!,
        concurrency: perProcess,
      }),
    ),
  );
  errors.push(...prepared.flatMap((r) => r.errors));
  if (errors.length > 0) return failed(errors, { stage: 'prepare' });
  // Let the brokers finish closing the sessions' connections before messages are queued for them.
  await sleep(200);

  // Each process publishes to its own share of the sessions, so every session has exactly one publisher.
  const publishersPerProcess = Math.max(1, Math.ceil(SESSION_PUBLISHERS / processes.length));
  const published = await Promise.all(
    processes.map((p) =>
      p.call<SessionsPublishResult>({
        type: 'sessions-publish',
        broker: broker.address,
        publisherClientIds: Array.from({ length: publishersPerProcess }, (_, i) => `${tag}-sesspub${p.index}-${i}`),
        sessions: sessionsByProcess[p.index]!,
        messagesPerSession: options.messagesPerSession,
        payloadBytes: options.payloadBytes,
        maxInflight: SESSION_INFLIGHT,
      }),
    ),
  );
  errors.push(...published.flatMap((r) => r.errors));
  const publishedCount = published.reduce((sum, r) => sum + r.published, 0);
  if (errors.length > 0) return failed(errors, { stage: 'publish', publishedCount });
  const enqueueSeconds =
    (Math.max(...published.map((r) => r.endMs)) - Math.min(...published.map((r) => r.startMs))) / 1000;

  const cpu = new PhaseCpu(context);
  cpu.start();
  const drained = await Promise.all(
    processes.map((p) =>
      p.call<SessionsDrainResult>({
        type: 'sessions-drain',
        broker: broker.address,
        sessions: sessionsByProcess[p.index]!,
        messagesPerSession: options.messagesPerSession,
        payloadBytes: options.payloadBytes,
        concurrency: perProcess,
        timeoutMs: DRAIN_TIMEOUT_MS,
      }),
    ),
  );
  const cpuPercent = cpu.stop();
  const received = drained.reduce((sum, r) => sum + r.received, 0);
  for (const result of drained) {
    errors.push(...result.errors);
    if (result.errorCount > result.errors.length) errors.push(`… and ${result.errorCount - result.errors.length} more`);
  }
  if (received !== expected) errors.unshift(`${received} of ${expected} queued messages arrived in order`);
  const drainSeconds =
    (Math.max(...drained.map((r) => r.lastReceiveMs)) - Math.min(...drained.map((r) => r.startMs))) / 1000;
  return {
    status: errors.length === 0 ? 'ok' : 'failed',
    metrics: { drainSeconds, drainRate: received / drainSeconds, enqueueRate: publishedCount / enqueueSeconds },
    ...cpuPercent,
    errors,
    details: { sessions: options.sessions, expected, received, publishedCount, enqueueSeconds },
  };
}

function failed(errors: string[], details: Record<string, unknown>): ScenarioOutcome {
  return { status: 'failed', metrics: {}, brokerCpuPercent: undefined, loadCpuPercent: undefined, errors, details };
}
