/**
 * Prometheus metrics for `/metrics`. Broker and store numbers are read when scraped (collect callbacks), so the hot
 * paths only bump their own plain counters. Dialects count their messages through `dialectMessageCounter`, on the same
 * registry the server passes to `createHttpApp`.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BrokerStats } from '../broker/index.js';
import type { CommitObserver, DataWriterStats } from '../platform/data-writer.js';

/** Where broker numbers come from: the server passes `{ brokerStats: () => broker.stats }`. */
export interface HttpMetricsSource {
  brokerStats(): BrokerStats;
}

/** What `createHttpApp` takes for metrics. */
export interface HttpMetricsOptions {
  /** Default: a new registry with Node's default process metrics. */
  registry?: Registry | undefined;
  broker?: HttpMetricsSource | undefined;
}

export const DIALECT_MESSAGES_METRIC = 'switchboard_dialect_messages_total';

/**
 * The counter dialects bump per message: labels `dialect` (thingsboard, cloudplugs, ...) and `kind` (telemetry,
 * attributes, rpc, ...). Every caller with the same registry gets the same counter.
 */
export function dialectMessageCounter(registry: Registry): Counter<'dialect' | 'kind'> {
  const existing = registry.getSingleMetric(DIALECT_MESSAGES_METRIC);
  if (existing instanceof Counter) return existing;
  return new Counter({
    name: DIALECT_MESSAGES_METRIC,
    help: 'Device messages handled by each dialect, by kind',
    labelNames: ['dialect', 'kind'],
    registers: [registry],
  });
}

/** Counters and gauges the HTTP app owns. */
export interface AppMetrics {
  registry: Registry;
  httpRequests: Counter<'method' | 'status'>;
  sseStreams: Gauge;
}

/** A counter whose value is read from elsewhere when scraped. */
export function mirroredCounter(registry: Registry, name: string, help: string, read: () => number): void {
  registry.removeSingleMetric(name);
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

/** A gauge whose value is read from elsewhere when scraped. */
export function mirroredGauge(registry: Registry, name: string, help: string, read: () => number): void {
  registry.removeSingleMetric(name);
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

/**
 * Registers the broker, store, HTTP and dialect metrics. A metric of the same name already in the registry is
 * replaced, so a registry can outlive one app (tests, restarts in one process).
 */
export function registerMetrics(
  options: HttpMetricsOptions,
  writeStats: () => DataWriterStats,
  observeCommits: (observer: CommitObserver) => void,
): AppMetrics {
  const registry = options.registry ?? defaultRegistry();
  registry.removeSingleMetric('switchboard_store_write_seconds');
  const writeSeconds = new Histogram({
    name: 'switchboard_store_write_seconds',
    help: 'Duration of device-data store writes (one transaction per batch), by outcome',
    labelNames: ['outcome'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  observeCommits((durationMs, _items, isCommitted) => {
    writeSeconds.observe({ outcome: isCommitted ? 'committed' : 'failed' }, durationMs / 1000);
  });
  const broker = options.broker;
  if (broker !== undefined) {
    const stat = (key: keyof BrokerStats) => () => broker.brokerStats()[key];
    mirroredGauge(registry, 'switchboard_mqtt_clients_connected', 'MQTT clients connected', stat('clientsConnected'));
    mirroredCounter(
      registry,
      'switchboard_mqtt_messages_received_total',
      'PUBLISH packets received from clients',
      stat('messagesReceived'),
    );
    mirroredCounter(
      registry,
      'switchboard_mqtt_messages_sent_total',
      'PUBLISH packets sent to clients',
      stat('messagesSent'),
    );
    mirroredCounter(
      registry,
      'switchboard_mqtt_messages_dropped_total',
      'Messages dropped (full queues, expired, QoS 0 to slow clients)',
      stat('messagesDropped'),
    );
    mirroredCounter(registry, 'switchboard_mqtt_connects_refused_total', 'CONNECTs refused', stat('connectsRefused'));
    mirroredGauge(registry, 'switchboard_mqtt_subscriptions', 'Subscriptions held', stat('subscriptions'));
    mirroredGauge(registry, 'switchboard_mqtt_retained_messages', 'Retained messages held', stat('retainedMessages'));
    mirroredGauge(registry, 'switchboard_mqtt_sessions', 'Sessions held (connected or persistent)', stat('sessions'));
    mirroredCounter(
      registry,
      'switchboard_mqtt_store_commits_total',
      'Broker store transactions committed',
      stat('storeCommits'),
    );
    mirroredCounter(
      registry,
      'switchboard_mqtt_store_ops_queued_total',
      'Session, message and delivery writes queued for the broker store',
      stat('storeOpsQueued'),
    );
    mirroredCounter(
      registry,
      'switchboard_mqtt_store_ops_written_total',
      'Broker store writes left after dropping those a later write of the same batch made pointless',
      stat('storeOpsWritten'),
    );
  }
  mirroredCounter(registry, 'switchboard_store_commits_total', 'Device-data transactions committed', () => {
    return writeStats().commits;
  });
  mirroredCounter(
    registry,
    'switchboard_store_items_committed_total',
    'Data points, attributes and events stored',
    () => {
      return writeStats().itemsCommitted;
    },
  );
  mirroredCounter(registry, 'switchboard_store_failed_commits_total', 'Device-data transactions that failed', () => {
    return writeStats().failedCommits;
  });
  mirroredGauge(registry, 'switchboard_store_last_commit_seconds', 'Duration of the last device-data commit', () => {
    return writeStats().lastCommitMs / 1000;
  });
  mirroredGauge(registry, 'switchboard_store_pending_items', 'Data items waiting for a commit', () => {
    return writeStats().pendingItems;
  });
  dialectMessageCounter(registry);

  registry.removeSingleMetric('switchboard_http_requests_total');
  registry.removeSingleMetric('switchboard_http_streams');
  return {
    registry,
    httpRequests: new Counter({
      name: 'switchboard_http_requests_total',
      help: 'HTTP requests answered, by method and status',
      labelNames: ['method', 'status'],
      registers: [registry],
    }),
    sseStreams: new Gauge({
      name: 'switchboard_http_streams',
      help: 'Open Server-Sent Events streams',
      registers: [registry],
    }),
  };
}

function defaultRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'switchboard_' });
  return registry;
}
