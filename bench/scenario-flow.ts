/** Scenarios a–d: publishers and subscribers in the load processes, every message verified on arrival. */
import { LatencyHistogram } from './latency-histogram.js';
import type { LoadProcess } from './load-pool.js';
import type { BenchOptions } from './options.js';
import type {
  CloseAllResult,
  FlowPublisherSpec,
  FlowReportResult,
  FlowSetupRequest,
  FlowStopResult,
  FlowSubscriberSpec,
} from './protocol.js';
import { deal, PhaseCpu, sleep, type Scenario, type ScenarioContext, type ScenarioOutcome } from './scenario.js';

/** After publishing stops, how long the last messages have to arrive. */
const DRAIN_TIMEOUT_MS = 20_000;
/** Setup (hundreds of connects) and teardown allowance on top of the measured time. */
const SETUP_ALLOWANCE_MS = 60_000;

interface FlowParameters {
  publisherCount: number;
  subscriberCount: number;
  qos: 0 | 1;
  maxInflight: number;
  ratePerSecond: number;
  windowMessages: number;
  /** Topic of publisher `i` (under `prefix`) and the one filter every subscriber uses. */
  topicName(prefix: string, i: number): string;
  topicFilter(prefix: string): string;
}

/** Runs one flow scenario and verifies that every subscriber got every message, intact and in order. */
async function runFlow(context: ScenarioContext, parameters: FlowParameters): Promise<ScenarioOutcome> {
  const { pool, broker, options, tag } = context;
  const processes = pool.processes;
  const persistentNote = 'subscribers of a–d keep a persistent session (--persistent-subscribers)';
  if (options.persistentSubscribers && !context.notes.includes(persistentNote)) context.notes.push(persistentNote);
  const prefix = `bench/${tag}`;
  const topicNames = Array.from({ length: parameters.publisherCount }, (_, i) => parameters.topicName(prefix, i));
  const publishers: FlowPublisherSpec[] = topicNames.map((_, index) => ({ index, clientId: `${tag}-p${index}` }));
  const subscribers: FlowSubscriberSpec[] = Array.from({ length: parameters.subscriberCount }, (_, i) => ({
    clientId: `${tag}-s${i}`,
    topicFilter: parameters.topicFilter(prefix),
  }));
  // Subscribers start on process 0 and publishers on process 1, so one-to-one scenarios cross processes.
  const subscribersByProcess = deal(subscribers, processes.length, 0);
  const publishersByProcess = deal(publishers, processes.length, 1 % processes.length);
  const subscriberProcesses = processes.filter((p) => subscribersByProcess[p.index]!.length > 0);
  const publisherProcesses = processes.filter((p) => publishersByProcess[p.index]!.length > 0);

  // Delivery credit: per publisher, the lowest in-order count over every subscriber, relayed to the publishers.
  const progressByProcess = new Map<LoadProcess, number[]>();
  const delivered = new Array<number>(parameters.publisherCount).fill(0);
  let onDelivered: () => void = () => {};
  for (const process of subscriberProcesses) {
    process.onProgress = (deliveredByPublisher) => {
      progressByProcess.set(process, deliveredByPublisher);
      if (progressByProcess.size < subscriberProcesses.length) return;
      for (let i = 0; i < delivered.length; i++) {
        let min = Infinity;
        for (const counts of progressByProcess.values()) min = Math.min(min, counts[i] ?? 0);
        delivered[i] = min;
      }
      for (const publisherProcess of publisherProcesses) publisherProcess.credit(delivered);
      onDelivered();
    };
  }

  const setupFor = (process: LoadProcess): FlowSetupRequest => ({
    type: 'flow-setup',
    broker: broker.address,
    qos: parameters.qos,
    payloadBytes: options.payloadBytes,
    windowMessages: parameters.windowMessages,
    maxInflight: parameters.maxInflight,
    ratePerSecond: parameters.ratePerSecond,
    persistentSubscribers: options.persistentSubscribers,
    topicNames,
    publishers: publishersByProcess[process.index]!,
    subscribers: subscribersByProcess[process.index]!,
  });
  const errors: string[] = [];
  let outcome: ScenarioOutcome;
  try {
    // Subscribers first: a message published before the subscription exists would be lost by design.
    await Promise.all(subscriberProcesses.map((p) => p.call(setupFor(p))));
    await Promise.all(processes.filter((p) => !subscriberProcesses.includes(p)).map((p) => p.call(setupFor(p))));

    const cpu = new PhaseCpu(context);
    cpu.start();
    await Promise.all(publisherProcesses.map((p) => p.call({ type: 'flow-go' })));
    await sleep(options.durationSeconds * 1000);
    const stops = await Promise.all(publisherProcesses.map((p) => p.call<FlowStopResult>({ type: 'flow-stop' })));
    const sent = new Array<number>(parameters.publisherCount).fill(0);
    let firstSendMs = Infinity;
    for (const stop of stops) {
      for (const publisher of stop.publishers) {
        sent[publisher.index] = publisher.sent;
        firstSendMs = Math.min(firstSendMs, publisher.firstSendMs);
      }
    }
    const isDrained = (): boolean => delivered.every((count, i) => count >= sent[i]!);
    const drainedInTime = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), DRAIN_TIMEOUT_MS);
      onDelivered = () => {
        if (isDrained()) {
          clearTimeout(timer);
          resolve(true);
        }
      };
      onDelivered();
    });
    const cpuPercent = cpu.stop();
    if (!drainedInTime) errors.push(`not every message arrived within ${DRAIN_TIMEOUT_MS} ms after publishing stopped`);

    const reports = await Promise.all(
      subscriberProcesses.map((p) => p.call<FlowReportResult>({ type: 'flow-report' })),
    );
    const latency = new LatencyHistogram();
    let deliveries = 0;
    let lastReceiveMs = 0;
    for (const report of reports) {
      latency.merge(report.latency);
      deliveries += report.deliveries;
      lastReceiveMs = Math.max(lastReceiveMs, report.lastReceiveMs);
      errors.push(...report.errors);
      if (report.errorCount > report.errors.length)
        errors.push(`… and ${report.errorCount - report.errors.length} more`);
      for (const received of report.receivedBySubscriber) {
        const short = received.findIndex((count, i) => count !== sent[i]);
        if (short !== -1) {
          errors.push(`a subscriber received ${received[short]} of ${sent[short]} messages from publisher ${short}`);
        }
      }
    }
    const totalSent = sent.reduce((sum, n) => sum + n, 0);
    const elapsedSeconds = (lastReceiveMs - firstSendMs) / 1000;
    outcome = {
      status: 'ok',
      metrics: {
        rate: elapsedSeconds > 0 ? deliveries / elapsedSeconds : 0,
        p50: latency.percentileMicros(50) / 1000,
        p99: latency.percentileMicros(99) / 1000,
        max: latency.maxMicros / 1000,
      },
      ...cpuPercent,
      errors,
      details: { published: totalSent, deliveries, elapsedSeconds, latencySamples: latency.count },
    };
  } finally {
    for (const process of subscriberProcesses) process.onProgress = () => {};
  }
  const closed = await Promise.all(processes.map((p) => p.call<CloseAllResult>({ type: 'close-all' })));
  const dropped = closed.reduce((sum, c) => sum + c.closedByBroker, 0);
  if (dropped > 0) errors.push(`${dropped} connections were closed by the broker during the scenario`);
  if (errors.length > 0) outcome.status = 'failed';
  return outcome;
}

const flowTimeout = (options: BenchOptions): number =>
  options.durationSeconds * 1000 + DRAIN_TIMEOUT_MS + SETUP_ALLOWANCE_MS;

const FAN_IN_PUBLISHERS = 100;
const FAN_OUT_SUBSCRIBERS = 100;
const QOS1_INFLIGHT = 32;
const STEADY_RATE_PER_SECOND = 1_000;

/** (a) fan-in QoS 0: 100 publishers → 1 wildcard subscriber. */
export const fanInQos0: Scenario = {
  id: 'a',
  title: `fan-in QoS 0, ${FAN_IN_PUBLISHERS} pub → 1 sub`,
  metrics: [{ key: 'rate', label: 'delivered msg/s', isHigherBetter: true, decimals: 0 }],
  timeoutMs: flowTimeout,
  run: (context) =>
    runFlow(context, {
      publisherCount: FAN_IN_PUBLISHERS,
      subscriberCount: 1,
      qos: 0,
      maxInflight: 0,
      ratePerSecond: 0,
      windowMessages: context.options.windowMessages,
      topicName: (prefix, i) => `${prefix}/${i}/x`,
      topicFilter: (prefix) => `${prefix}/+/x`,
    }),
};

/** (b) fan-in QoS 1, 32 in flight per publisher, subscriber at QoS 1. */
export const fanInQos1: Scenario = {
  id: 'b',
  title: `fan-in QoS 1, ${FAN_IN_PUBLISHERS} pub → 1 sub, ${QOS1_INFLIGHT} in flight`,
  metrics: [
    { key: 'rate', label: 'delivered msg/s', isHigherBetter: true, decimals: 0 },
    { key: 'p50', label: 'latency p50 ms', isHigherBetter: false, decimals: 2 },
    { key: 'p99', label: 'latency p99 ms', isHigherBetter: false, decimals: 2 },
  ],
  timeoutMs: flowTimeout,
  run: (context) =>
    runFlow(context, {
      publisherCount: FAN_IN_PUBLISHERS,
      subscriberCount: 1,
      qos: 1,
      maxInflight: QOS1_INFLIGHT,
      ratePerSecond: 0,
      windowMessages: Math.max(context.options.windowMessages, QOS1_INFLIGHT),
      topicName: (prefix, i) => `${prefix}/${i}/x`,
      topicFilter: (prefix) => `${prefix}/+/x`,
    }),
};

/** (c) fan-out QoS 0: 1 publisher → 100 subscribers of the same topic. */
export const fanOut: Scenario = {
  id: 'c',
  title: `fan-out QoS 0, 1 pub → ${FAN_OUT_SUBSCRIBERS} sub`,
  metrics: [{ key: 'rate', label: 'deliveries/s', isHigherBetter: true, decimals: 0 }],
  timeoutMs: flowTimeout,
  run: (context) =>
    runFlow(context, {
      publisherCount: 1,
      subscriberCount: FAN_OUT_SUBSCRIBERS,
      qos: 0,
      maxInflight: 0,
      ratePerSecond: 0,
      windowMessages: context.options.windowMessages,
      topicName: (prefix) => `${prefix}/fan-out`,
      topicFilter: (prefix) => `${prefix}/fan-out`,
    }),
};

/** (d) latency at a steady 1,000 msg/s, QoS 0, one publisher and one subscriber in different processes. */
export const steadyLatency: Scenario = {
  id: 'd',
  title: `latency at ${STEADY_RATE_PER_SECOND} msg/s, QoS 0`,
  metrics: [
    { key: 'p50', label: 'latency p50 ms', isHigherBetter: false, decimals: 3 },
    { key: 'p99', label: 'latency p99 ms', isHigherBetter: false, decimals: 3 },
    { key: 'max', label: 'latency max ms', isHigherBetter: false, decimals: 3 },
  ],
  timeoutMs: flowTimeout,
  run: (context) =>
    runFlow(context, {
      publisherCount: 1,
      subscriberCount: 1,
      qos: 0,
      maxInflight: 0,
      ratePerSecond: STEADY_RATE_PER_SECOND,
      // Never the limit at this pace: latency is the broker's, not the credit loop's.
      windowMessages: STEADY_RATE_PER_SECOND,
      topicName: (prefix) => `${prefix}/steady`,
      topicFilter: (prefix) => `${prefix}/steady`,
    }),
};
