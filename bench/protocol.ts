/**
 * The messages the bench orchestrator (`run.ts`) and its load processes (`load-worker.ts`) exchange over the
 * `child_process` IPC channel. Every request carries an `id`; the worker answers once with the same `id`. Times
 * crossing the channel are milliseconds on the machine-wide monotonic clock (`process.hrtime`, CLOCK_MONOTONIC), so
 * the orchestrator and every load process read the same clock.
 */

/** Where a broker under test listens. */
export interface BrokerAddress {
  host: string;
  port: number;
}

/** One publishing client of a flow scenario (a–d). */
export interface FlowPublisherSpec {
  /** Global publisher index, written into every payload. */
  index: number;
  clientId: string;
}

/** One subscribing client of a flow scenario; it expects every message of every publisher. */
export interface FlowSubscriberSpec {
  clientId: string;
  topicFilter: string;
}

/** Sets up the clients of a flow scenario in one load process. */
export interface FlowSetupRequest {
  type: 'flow-setup';
  broker: BrokerAddress;
  qos: 0 | 1;
  payloadBytes: number;
  /** Messages a publisher may have sent and not yet seen delivered to every subscriber. */
  windowMessages: number;
  /** QoS 1: PUBLISH packets a publisher may have without PUBACK. */
  maxInflight: number;
  /** Per publisher; 0 = as fast as the window allows. */
  ratePerSecond: number;
  /** Subscribers connect with clean session 0; their sessions are deleted when the clients close. */
  persistentSubscribers: boolean;
  /** Topic name of every publisher, by global index (subscribers check the topic of each message against it). */
  topicNames: string[];
  publishers: FlowPublisherSpec[];
  subscribers: FlowSubscriberSpec[];
}

/** Starts publishing. */
export interface FlowGoRequest {
  type: 'flow-go';
}

/** Stops publishing; answered with what was sent. */
export interface FlowStopRequest {
  type: 'flow-stop';
}

/** Asks the subscribers of this process what they received. */
export interface FlowReportRequest {
  type: 'flow-report';
}

/** Opens many idle connections (scenario e). */
export interface IdleConnectRequest {
  type: 'idle-connect';
  broker: BrokerAddress;
  clientIdPrefix: string;
  count: number;
  concurrency: number;
  keepAliveSeconds: number;
}

/** One persistent session of scenario f. */
export interface SessionSpec {
  index: number;
  clientId: string;
  topicName: string;
}

/** Creates offline persistent sessions: clean connect (clears leftovers), then clean-session-0 + SUBSCRIBE QoS 1. */
export interface SessionsPrepareRequest {
  type: 'sessions-prepare';
  broker: BrokerAddress;
  sessions: SessionSpec[];
  concurrency: number;
}

/** Publishes `messagesPerSession` QoS 1 messages to each session's topic, round-robin over sessions. */
export interface SessionsPublishRequest {
  type: 'sessions-publish';
  broker: BrokerAddress;
  publisherClientIds: string[];
  sessions: SessionSpec[];
  messagesPerSession: number;
  payloadBytes: number;
  maxInflight: number;
}

/** Reconnects the sessions and waits until every queued message arrived. */
export interface SessionsDrainRequest {
  type: 'sessions-drain';
  broker: BrokerAddress;
  sessions: SessionSpec[];
  messagesPerSession: number;
  payloadBytes: number;
  concurrency: number;
  timeoutMs: number;
}

/** Connects each client id once with clean session 1 and disconnects, which discards its session. */
export interface SessionsClearRequest {
  type: 'sessions-clear';
  broker: BrokerAddress;
  clientIds: string[];
  concurrency: number;
}

/** Closes every connection of this process (DISCONNECT, then end). */
export interface CloseAllRequest {
  type: 'close-all';
}

/** Exercises the connect path against an in-process CONNACK responder (JIT warm-up); no broker involved. */
export interface WarmUpRequest {
  type: 'warm-up';
  connections: number;
}

/** One ThingsBoard device of scenario g: its own connection, authenticated by its access token. */
export interface TelemetryDeviceSpec {
  /** Global device index (spreads the paced sends of the devices over the period). */
  index: number;
  clientId: string;
  accessToken: string;
}

/** Connects scenario g's devices of this load process (CONNECT with username = access token). */
export interface TelemetrySetupRequest {
  type: 'telemetry-setup';
  broker: BrokerAddress;
  devices: TelemetryDeviceSpec[];
  /** All devices, over every load process (the pacing phase of a device depends on its index among them). */
  deviceCount: number;
  /** The telemetry keys of every message (`{"ts":…,"values":{key: number, …}}`). */
  keys: string[];
  /** QoS 1 messages a device may have without PUBACK. */
  maxInflight: number;
  /** `ts` of a device's message n is `baseTs + n` ms: unique per device, so no stored point replaces another. */
  baseTs: number;
  /** Handshakes in progress at once. */
  concurrency: number;
}

/** Starts a publishing phase: as fast as the in-flight window allows (rate 0), or paced at a rate per device. */
export interface TelemetryGoRequest {
  type: 'telemetry-go';
  /** Messages per second per device; 0 = unpaced (saturation). */
  ratePerDevice: number;
}

/** Reads the counters without stopping; with `resetLatency`, latency is recorded afresh from here (warm-up ends). */
export interface TelemetrySampleRequest {
  type: 'telemetry-sample';
  resetLatency: boolean;
}

/** Stops publishing and waits until every message sent is acknowledged (or `drainTimeoutMs` passed). */
export interface TelemetryStopRequest {
  type: 'telemetry-stop';
  drainTimeoutMs: number;
}

export type WorkerCommand =
  | FlowSetupRequest
  | FlowGoRequest
  | FlowStopRequest
  | FlowReportRequest
  | IdleConnectRequest
  | SessionsPrepareRequest
  | SessionsPublishRequest
  | SessionsDrainRequest
  | SessionsClearRequest
  | CloseAllRequest
  | WarmUpRequest
  | TelemetrySetupRequest
  | TelemetryGoRequest
  | TelemetrySampleRequest
  | TelemetryStopRequest;

/** Orchestrator → worker: a request, or a fire-and-forget delivery credit for the publishers of this process. */
export type ToWorker =
  { kind: 'request'; id: number; command: WorkerCommand } | { kind: 'credit'; deliveredByPublisher: number[] };

/** Worker → orchestrator. `progress` is the lowest count, over this process's subscribers, per publisher. */
export type FromWorker =
  | { kind: 'response'; id: number; result: unknown }
  | { kind: 'failure'; id: number; message: string }
  | { kind: 'progress'; deliveredByPublisher: number[] };

/** What the publishers of one process sent. */
export interface FlowStopResult {
  publishers: { index: number; sent: number; firstSendMs: number }[];
}

/** What the subscribers of one process received. */
export interface FlowReportResult {
  subscriberCount: number;
  /** Messages received in order, summed over subscribers. */
  deliveries: number;
  /** Per subscriber, per publisher: messages received in order. */
  receivedBySubscriber: number[][];
  lastReceiveMs: number;
  errorCount: number;
  errors: string[];
  latency: SerializedHistogram;
}

/** A latency histogram in transit (see `latency-histogram.ts`). */
export interface SerializedHistogram {
  buckets: [number, number][];
  count: number;
  maxMicros: number;
}

export interface CloseAllResult {
  /** Connections the broker had closed before close-all (a broker must not drop healthy clients). */
  closedByBroker: number;
}

export interface IdleConnectResult {
  connected: number;
  failed: number;
  errors: string[];
  startMs: number;
  endMs: number;
}

export interface SessionsPrepareResult {
  prepared: number;
  errors: string[];
}

export interface SessionsPublishResult {
  published: number;
  startMs: number;
  endMs: number;
  errors: string[];
}

export interface SessionsDrainResult {
  /** Messages received in order, over all sessions. */
  received: number;
  completeSessions: number;
  startMs: number;
  lastReceiveMs: number;
  errorCount: number;
  errors: string[];
}

/** Counters of one load process's devices at one moment of a phase. */
export interface TelemetrySample {
  /** PUBACKs received since setup, over the process's devices. */
  acked: number;
  sent: number;
  atMs: number;
}

/** What one load process's devices did, answered by `telemetry-stop` (counts are since setup). */
export interface TelemetryStopResult {
  /** Per device: messages sent and acknowledged since setup. */
  devices: { index: number; sent: number; acked: number }[];
  /** Messages still without PUBACK when the drain timed out. */
  unacknowledged: number;
  /** Publish→PUBACK of the messages acknowledged since the last `resetLatency`. */
  latency: SerializedHistogram;
  /** When the phase started and when `telemetry-stop` arrived. */
  goMs: number;
  stopMs: number;
  errorCount: number;
  errors: string[];
}
