/**
 * One bridge's link to its target broker: an MQTT.js client that republishes its organization's feed entries,
 * retained. It connects with MQTT 5 and falls back to 3.1.1 when the target refuses 5; on every (re)connect it
 * republishes the organization's current state (the resync), then what waited; while disconnected it keeps a bounded
 * buffer (newest entry per topic); after a failure it retries with capped exponential back-off and jitter, forever.
 * MQTT.js's own reconnect and offline queue are off: this class owns both, so the resync, the buffer bound and the
 * protocol fallback are decided in one place.
 */
import mqtt from 'mqtt';
import type { IConnackPacket, IDisconnectPacket, MqttClient } from 'mqtt';
import type { Logger } from '../../../observability/index.js';
import type { FeedEntry, FeedSource, PrivacyFilter } from '../feed-types.js';
import { backoffDelayMs, INITIAL_BACKOFF_MS, type BackoffPolicy } from './backoff.js';
import { DEFAULT_PAYLOAD_FORMAT, formatPayload, targetTopic } from './bridge-payload.js';
import { clientOptions, type BridgeStatus, type BridgeTarget } from './bridge-target.js';
import { PendingEntries } from './pending-entries.js';

/** Limits and timing of one bridge. */
export interface BridgeLinkOptions {
  maxQueuedEntries: number;
  maxBackoffMs: number;
  connectTimeoutMs: number;
  /** Default 250 ms (PlaceOS's first retry). */
  initialBackoffMs?: number | undefined;
  /** [0, 1) for the back-off jitter; default Math.random. */
  random?: (() => number) | undefined;
  /** Called each time a retry is scheduled (attempt 1 = the first retry after a failure). */
  onRetryScheduled?: ((attempt: number, delayMs: number) => void) | undefined;
}

/** QoS 1 publishes awaiting PUBACK at once (lowered to the target's v5 Receive Maximum). */
const MAX_UNACKED_QOS1 = 64;
/** QoS 0 publishes MQTT.js has not yet flushed to the socket; beyond it entries wait in the buffer (backpressure). */
const MAX_UNFLUSHED_QOS0 = 256;
/** Publishes per event-loop turn during a resync, so a large organization does not block the process. */
const SENDS_PER_TURN = 1_000;
/** How long a graceful DISCONNECT may wait for acknowledgements when a bridge is closed. */
const CLOSE_GRACE_MS = 1_000;
/** 3.1.1 CONNACK "unacceptable protocol version" [MQTT-3.1.2-2] and MQTT 5 "Unsupported Protocol Version". */
const REFUSED_VERSION_CODES = new Set([0x01, 0x84]);

export class BridgeLink {
  readonly #orgId: string;
  readonly #source: FeedSource;
  readonly #logger: Logger;
  readonly #options: BridgeLinkOptions;
  readonly #policy: BackoffPolicy;
  readonly #pending: PendingEntries;
  #target: BridgeTarget;
  #filter: PrivacyFilter;

  #client: MqttClient | undefined;
  /** Incremented per client; events of an older client are ignored. */
  #generation = 0;
  #protocolVersion: 4 | 5 = 5;
  #isConnected = false;
  #isClosed = false;
  /** The target refused MQTT 5: the next attempt (with 3.1.1) goes at once, not after a back-off. */
  #isFallingBack = false;
  /** An error was recorded for the current connection attempt (else its close gets a generic reason). */
  #hasAttemptError = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #pumpScheduled = false;
  #isPumping = false;

  /** The resync in progress: entries to send before the buffer, and where it stands. */
  #resync: FeedEntry[] = [];
  #resyncIndex = 0;
  /** Handed to MQTT.js and not yet completed; put back in the buffer if the connection drops. */
  readonly #unacked = new Set<FeedEntry>();
  #window = MAX_UNFLUSHED_QOS0;
  /** Buffer drops the last resync made up for (its snapshot is newer than every entry dropped before it). */
  #dropsCovered = 0;
  #maximumPacketSize = Infinity;

  #sent = 0;
  #filtered = 0;
  #oversize = 0;
  #attempts = 0;
  #lastError: string | null = null;
  #lastErrorAt: number | null = null;
  #connectedAt: number | null = null;
  #nextAttemptAt: number | null = null;

  constructor(
    orgId: string,
    target: BridgeTarget,
    filter: PrivacyFilter,
    source: FeedSource,
    options: BridgeLinkOptions,
    logger: Logger,
  ) {
    this.#orgId = orgId;
    this.#target = target;
    this.#filter = filter;
    this.#source = source;
    this.#options = options;
    this.#logger = logger;
    this.#policy = { initialMs: options.initialBackoffMs ?? INITIAL_BACKOFF_MS, maxMs: options.maxBackoffMs };
    this.#pending = new PendingEntries(options.maxQueuedEntries);
  }

  /** Connects for the first time. */
  start(): void {
    this.#connect();
  }

  /** A feed entry of this bridge's organization. */
  offer(entry: FeedEntry): void {
    if (this.#isClosed) return;
    if (
      this.#isConnected &&
      this.#resyncIndex >= this.#resync.length &&
      this.#pending.size === 0 &&
      this.#hasWindow()
    ) {
      this.#send(entry);
      return;
    }
    this.#pending.push(entry);
    if (this.#isConnected) this.#schedulePump();
  }

  /**
   * New privacy rules, applied live. Queued entries are filtered when they leave, so they get the new rules too; a
   * connected bridge republishes the current state through them, replacing what the target retained.
   */
  setFilter(filter: PrivacyFilter): void {
    this.#filter = filter;
    if (this.#isConnected) this.#startResync();
  }

  /**
   * New connection settings (and rules, when they changed too): the current connection is dropped and a new one made
   * at once (MQTT 5 tried again); its resync publishes through the new rules.
   */
  reconfigure(target: BridgeTarget, filter: PrivacyFilter = this.#filter): void {
    if (this.#isClosed) return;
    this.#target = target;
    this.#filter = filter;
    this.#protocolVersion = 5;
    this.#attempts = 0;
    this.#dropClient();
    this.#connect();
  }

  status(): BridgeStatus {
    return {
      connected: this.#isConnected,
      lastError: this.#lastError,
      lastErrorAt: this.#lastErrorAt,
      queued: this.#pending.size + (this.#resync.length - this.#resyncIndex),
      sent: this.#sent,
      dropped: this.#pending.dropped + this.#oversize,
      filtered: this.#filtered,
      connectedAt: this.#connectedAt,
      protocolVersion: this.#client === undefined ? null : this.#protocolVersion === 5 ? '5.0' : '3.1.1',
      attempts: this.#attempts,
      nextAttemptAt: this.#nextAttemptAt,
    };
  }

  /** Stops for good: a DISCONNECT to the target (after at most a short wait for acknowledgements), no more retries. */
  async close(): Promise<void> {
    if (this.#isClosed) return;
    this.#isClosed = true;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#nextAttemptAt = null;
    const client = this.#client;
    this.#generation++;
    this.#isConnected = false;
    if (client === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      client.endAsync(false).catch(() => undefined),
      new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_GRACE_MS))),
    ]);
    clearTimeout(timer);
    await client.endAsync(true).catch(() => undefined);
  }

  #connect(): void {
    this.#retryTimer = undefined;
    this.#nextAttemptAt = null;
    this.#hasAttemptError = false;
    const generation = ++this.#generation;
    const version = this.#protocolVersion;
    let client: MqttClient;
    try {
      client = mqtt.connect(clientOptions(this.#target, version, this.#options.connectTimeoutMs));
    } catch (error) {
      // Options Node's TLS layer refuses (a key it cannot use): a failed attempt like any other, retried later.
      this.#recordError(describeError(error instanceof Error ? error : new Error(String(error))));
      this.#scheduleRetry();
      return;
    }
    this.#client = client;
    client.on('connect', (connack) => {
      if (generation === this.#generation) this.#onConnected(connack);
    });
    client.on('error', (error) => {
      if (generation === this.#generation) this.#onError(error, version);
    });
    client.on('disconnect', (packet) => {
      if (generation === this.#generation) this.#onServerDisconnect(packet);
    });
    client.on('close', () => {
      if (generation === this.#generation) this.#onClosed();
    });
  }

  #onConnected(connack: IConnackPacket): void {
    this.#isConnected = true;
    this.#connectedAt = Date.now();
    this.#attempts = 0;
    this.#isFallingBack = false;
    this.#hasAttemptError = false;
    const properties = connack.properties;
    const ceiling = this.#target.qos === 1 ? MAX_UNACKED_QOS1 : MAX_UNFLUSHED_QOS0;
    // [MQTT-3.3.4-7] no more unacknowledged QoS 1 PUBLISH packets than the target's Receive Maximum.
    this.#window = Math.min(ceiling, properties?.receiveMaximum ?? ceiling);
    this.#maximumPacketSize = properties?.maximumPacketSize ?? Infinity;
    this.#logger.info(
      { host: this.#target.host, port: this.#target.port, protocolVersion: this.#protocolVersion },
      'bridge connected',
    );
    this.#startResync();
  }

  /**
   * The resync: every current entry of the organization, then what waited in the buffer for topics the resync does
   * not cover (removals made while disconnected), then entries that arrive meanwhile (they wait in the buffer, so
   * they follow the older current values they replace).
   */
  #startResync(): void {
    this.#dropsCovered = this.#pending.dropped;
    const current = Array.from(this.#source.current(this.#orgId));
    const held = this.#pending.takeAll();
    for (const entry of current) held.delete(entry.topic);
    // What is left of the buffer is for topics current() no longer has (removals): sent after the current values.
    for (const entry of held.values()) current.push(entry);
    this.#resync = current;
    this.#resyncIndex = 0;
    this.#schedulePump();
  }

  #onError(error: Error, version: 4 | 5): void {
    const code = (error as Error & { code?: unknown }).code;
    if (version === 5 && typeof code === 'number' && REFUSED_VERSION_CODES.has(code)) {
      // [MQTT-3.1.2-2] the target does not speak MQTT 5: try 3.1.1 at once (and keep it until the settings change).
      this.#protocolVersion = 4;
      this.#isFallingBack = true;
      this.#logger.info(
        { host: this.#target.host, port: this.#target.port },
        'bridge target refused MQTT 5, using 3.1.1',
      );
    }
    this.#recordError(describeError(error));
  }

  #onServerDisconnect(packet: IDisconnectPacket): void {
    const reason = packet.reasonCode ?? 0;
    const text = packet.properties?.reasonString;
    this.#recordError(
      `the target sent DISCONNECT with reason 0x${reason.toString(16).padStart(2, '0')}${text === undefined ? '' : `: ${text}`}`,
    );
  }

  #recordError(message: string): void {
    this.#hasAttemptError = true;
    this.#lastError = message;
    this.#lastErrorAt = Date.now();
  }

  #onClosed(): void {
    const wasConnected = this.#isConnected;
    this.#isConnected = false;
    this.#putBackUnsent();
    if (wasConnected) {
      this.#logger.warn({ host: this.#target.host, port: this.#target.port, error: this.#lastError }, 'bridge lost');
    }
    if (this.#isClosed) return;
    if (this.#isFallingBack) {
      this.#isFallingBack = false;
      this.#connect();
      return;
    }
    if (!this.#hasAttemptError && !wasConnected && this.#protocolVersion === 5) {
      // [MQTT-3.1.2-2] a server that does not speak the requested version may just close the connection, no CONNACK.
      this.#recordError('the target closed the connection before CONNACK to an MQTT 5 CONNECT; trying 3.1.1');
      this.#protocolVersion = 4;
      this.#connect();
      return;
    }
    if (!this.#hasAttemptError) {
      this.#recordError(
        wasConnected ? 'the target closed the connection' : 'the target closed the connection before CONNACK',
      );
    }
    this.#scheduleRetry();
  }

  /** The next attempt after the back-off for one more failure. */
  #scheduleRetry(): void {
    const attempt = ++this.#attempts;
    const delayMs = backoffDelayMs(this.#policy, attempt, this.#options.random);
    this.#nextAttemptAt = Date.now() + delayMs;
    this.#retryTimer = setTimeout(() => {
      this.#connect();
    }, delayMs);
    this.#options.onRetryScheduled?.(attempt, delayMs);
  }

  /** After a drop: unacknowledged and not-yet-resent entries wait again, unless something newer waits for the topic. */
  #putBackUnsent(): void {
    for (const entry of this.#unacked) this.#pending.pushIfAbsent(entry);
    this.#unacked.clear();
    for (let index = this.#resyncIndex; index < this.#resync.length; index++) {
      const entry = this.#resync[index]!;
      // Current values come back with the next resync anyway; only removals need to wait in the buffer.
      if (entry.valueJson === null) this.#pending.pushIfAbsent(entry);
    }
    this.#resync = [];
    this.#resyncIndex = 0;
  }

  /** Drops the current client without a retry (reconfigure). */
  #dropClient(): void {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    const client = this.#client;
    this.#generation++;
    if (this.#isConnected) {
      this.#isConnected = false;
      this.#putBackUnsent();
    }
    client?.end(true);
  }

  #hasWindow(): boolean {
    return this.#unacked.size < this.#window;
  }

  #schedulePump(): void {
    if (this.#pumpScheduled || this.#isPumping) return;
    this.#pumpScheduled = true;
    setImmediate(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  /** Sends the resync, then the buffer, while the window allows; at most SENDS_PER_TURN per turn. */
  #pump(): void {
    if (!this.#isConnected) return;
    this.#isPumping = true;
    let sends = 0;
    try {
      while (this.#isConnected && this.#hasWindow()) {
        if (sends >= SENDS_PER_TURN) {
          this.#isPumping = false;
          this.#schedulePump();
          return;
        }
        let entry: FeedEntry | undefined;
        if (this.#resyncIndex < this.#resync.length) {
          entry = this.#resync[this.#resyncIndex++];
          if (this.#resyncIndex === this.#resync.length) {
            this.#resync = [];
            this.#resyncIndex = 0;
          }
        } else {
          entry = this.#pending.shift();
        }
        if (entry === undefined) {
          // Entries were dropped since the last resync began: what the target holds for their topics may be older
          // than the current value, so the current state goes out once more (the resync reads it afresh).
          if (this.#pending.dropped > this.#dropsCovered) {
            this.#startResync();
            continue;
          }
          break;
        }
        this.#send(entry);
        sends++;
      }
    } finally {
      this.#isPumping = false;
    }
  }

  #send(entry: FeedEntry): void {
    const client = this.#client;
    if (client === undefined) return;
    let payload: Buffer | undefined;
    try {
      payload = formatPayload(entry, this.#source.settings(this.#orgId) ?? DEFAULT_PAYLOAD_FORMAT, this.#filter);
    } catch (error) {
      // Rules are compiled when saved, so this is not expected; one bad entry must not stop the bridge.
      this.#filtered++;
      this.#recordError(`filtering ${entry.topic} failed: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    if (payload === undefined) {
      this.#filtered++;
      return;
    }
    const topic = targetTopic(this.#target.topicPrefix, entry.topic);
    // Fixed header (≤ 5) + topic length (2) + topic + packet id (2) + v5 properties length (1) + payload.
    if (Buffer.byteLength(topic) + payload.length + 10 > this.#maximumPacketSize) {
      this.#oversize++;
      this.#recordError(`an entry for ${entry.topic} is larger than the target's Maximum Packet Size`);
      return;
    }
    const generation = this.#generation;
    this.#unacked.add(entry);
    client.publish(topic, payload, { qos: this.#target.qos, retain: true }, (error) => {
      if (generation !== this.#generation) return;
      this.#unacked.delete(entry);
      // MQTT.js passes null or undefined on success, an Error on a failure (v5: PUBACK reason code ≥ 0x80).
      if (!(error instanceof Error)) this.#sent++;
      else if (this.#isConnected) this.#recordError(describeError(error));
      if (this.#isConnected) this.#schedulePump();
    });
  }
}

function describeError(error: Error): string {
  const code = (error as Error & { code?: unknown }).code;
  if (typeof code === 'string' && !error.message.includes(code)) return `${code}: ${error.message}`;
  return error.message;
}
