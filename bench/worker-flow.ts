import { PacketType, type Packet } from '../src/mqtt/codec/index.js';
import { LatencyHistogram } from './latency-histogram.js';
import { LoadClient, type LoadClientListener } from './load-client.js';
import { PublishTemplate, readPayload, writePuback } from './payload.js';
import type { FlowReportResult, FlowSetupRequest, FlowStopResult } from './protocol.js';

/** Keep-alive of flow clients: longer than any scenario, so quiet subscribers are never timed out. */
const FLOW_KEEPALIVE_SECONDS = 600;
/** Messages per socket write; larger bursts only add latency. */
const MAX_BATCH_MESSAGES = 128;
/** How often subscribers report progress to the orchestrator (which turns it into publisher credit). */
const PROGRESS_INTERVAL_MS = 5;
/** Errors kept verbatim per process; the rest are only counted. */
const MAX_ERRORS_KEPT = 10;

const monotonicMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** One publisher: sends while it has delivery credit (and, at QoS 1, in-flight room). */
class FlowPublisher implements LoadClientListener {
  readonly index: number;
  sent = 0;
  firstSendMs = 0;
  /** Messages of this publisher every subscriber has received (relayed by the orchestrator). */
  delivered = 0;
  #inflight = 0;
  #nextPacketId = 1;
  #isRunning = false;
  #isWaitingForDrain = false;
  readonly #outstandingIds = new Uint8Array(65_536);
  readonly #client: LoadClient;
  readonly #template: PublishTemplate;
  readonly #flow: FlowRole;

  constructor(index: number, client: LoadClient, template: PublishTemplate, flow: FlowRole) {
    this.index = index;
    this.#client = client;
    this.#template = template;
    this.#flow = flow;
    client.listener = this;
    client.socket.on('drain', () => {
      this.#isWaitingForDrain = false;
      this.pump();
    });
  }

  start(): void {
    this.#isRunning = true;
    this.firstSendMs = monotonicMs();
    this.pump();
  }

  stop(): void {
    this.#isRunning = false;
  }

  /** Sends as many messages as the window, the in-flight limit and the pace allow, in batches of one write each. */
  pump(): void {
    const setup = this.#flow.setup;
    while (this.#isRunning && !this.#isWaitingForDrain && !this.#client.isClosed) {
      let count = this.delivered + setup.windowMessages - this.sent;
      if (setup.qos === 1) count = Math.min(count, setup.maxInflight - this.#inflight);
      if (setup.ratePerSecond > 0) count = Math.min(count, this.#flow.dueMessages() - this.sent);
      if (count <= 0) return;
      count = Math.min(count, MAX_BATCH_MESSAGES);
      const packetBytes = this.#template.packetBytes;
      const batch = Buffer.allocUnsafe(count * packetBytes);
      const now = process.hrtime.bigint();
      for (let k = 0; k < count; k++) {
        let packetId = 0;
        if (setup.qos === 1) {
          packetId = this.#nextPacketId;
          this.#nextPacketId = packetId === 65_535 ? 1 : packetId + 1;
          this.#outstandingIds[packetId] = 1;
          this.#inflight++;
        }
        this.#template.write(batch, k * packetBytes, this.sent, packetId, now);
        this.sent++;
      }
      if (!this.#client.socket.write(batch)) this.#isWaitingForDrain = true;
    }
  }

  onPacket(packet: Packet): void {
    if (packet.type === PacketType.Puback) {
      if (this.#outstandingIds[packet.packetId] !== 1) {
        this.#flow.error(`publisher ${this.index}: PUBACK for unknown packet id ${packet.packetId}`);
        return;
      }
      this.#outstandingIds[packet.packetId] = 0;
      this.#inflight--;
    } else if (packet.type !== PacketType.Pingresp) {
      this.#flow.error(`publisher ${this.index}: unexpected packet type ${packet.type}`);
    }
  }

  onChunkEnd(): void {
    this.pump();
  }
}

/** One subscriber: checks every message (topic, payload, order per publisher) and acknowledges QoS 1 in one write. */
class FlowSubscriber implements LoadClientListener {
  /** Next expected sequence number per publisher. */
  readonly nextSeq: Uint32Array;
  /** Messages received intact and in order, per publisher. */
  readonly received: Uint32Array;
  deliveries = 0;
  readonly #client: LoadClient;
  readonly #flow: FlowRole;
  readonly #pendingAckIds: number[] = [];

  constructor(client: LoadClient, flow: FlowRole) {
    this.#client = client;
    this.#flow = flow;
    const publisherCount = flow.setup.topicNames.length;
    this.nextSeq = new Uint32Array(publisherCount);
    this.received = new Uint32Array(publisherCount);
    client.listener = this;
  }

  onPacket(packet: Packet): void {
    if (packet.type !== PacketType.Publish) {
      if (packet.type !== PacketType.Pingresp) this.#flow.error(`subscriber: unexpected packet type ${packet.type}`);
      return;
    }
    const now = process.hrtime.bigint();
    if (packet.qos > 0) this.#pendingAckIds.push(packet.packetId);
    const flow = this.#flow;
    const checked = readPayload(packet.payload, flow.setup.payloadBytes);
    if (typeof checked === 'string') {
      flow.error(`${this.#client.clientId}: ${checked}`);
      return;
    }
    const { index, seq } = checked;
    if (index >= this.nextSeq.length) {
      flow.error(`${this.#client.clientId}: message from unknown publisher ${index}`);
      return;
    }
    if (packet.topicName !== flow.setup.topicNames[index]) {
      flow.error(`${this.#client.clientId}: publisher ${index} seq ${seq} arrived on topic ${packet.topicName}`);
      return;
    }
    if (packet.qos !== flow.setup.qos) {
      flow.error(`${this.#client.clientId}: publisher ${index} seq ${seq} arrived at QoS ${packet.qos}`);
    }
    const expected = this.nextSeq[index]!;
    if (seq !== expected) {
      flow.error(
        `${this.#client.clientId}: publisher ${index} seq ${seq} arrived when ${expected} was expected ` +
          (seq > expected ? `(${seq - expected} missing)` : '(duplicate or reordered)'),
      );
      if (seq < expected) return;
    } else {
      this.received[index]!++;
      this.deliveries++;
    }
    this.nextSeq[index] = seq + 1;
    flow.lastReceiveNs = now;
    flow.latency.record(Number(now - checked.sendTimeNs) / 1000);
  }

  onChunkEnd(): void {
    const count = this.#pendingAckIds.length;
    if (count === 0) return;
    const acks = Buffer.allocUnsafe(count * 4);
    for (let k = 0; k < count; k++) writePuback(acks, k * 4, this.#pendingAckIds[k]!);
    this.#pendingAckIds.length = 0;
    this.#client.socket.write(acks);
  }
}

/** The flow scenarios' clients in one load process. */
export class FlowRole {
  readonly setup: FlowSetupRequest;
  readonly latency = new LatencyHistogram();
  lastReceiveNs = 0n;
  errorCount = 0;
  readonly errors: string[] = [];
  readonly #clients: LoadClient[] = [];
  readonly #publishers: FlowPublisher[] = [];
  readonly #subscribers: FlowSubscriber[] = [];
  readonly #publisherByIndex = new Map<number, FlowPublisher>();
  #progressTimer: NodeJS.Timeout | undefined;
  #paceTimer: NodeJS.Timeout | undefined;
  #startNs = 0n;
  readonly #sendProgress: (deliveredByPublisher: number[]) => void;
  #lastProgressKey = '';

  constructor(setup: FlowSetupRequest, sendProgress: (deliveredByPublisher: number[]) => void) {
    this.setup = setup;
    this.#sendProgress = sendProgress;
  }

  /** Deletes persistent subscribers' sessions (a clean-session connect per client id); call after they closed. */
  async forgetSessions(): Promise<void> {
    if (!this.setup.persistentSubscribers) return;
    for (const spec of this.setup.subscribers) {
      await (await LoadClient.open(this.setup.broker, spec.clientId, true, FLOW_KEEPALIVE_SECONDS)).close();
    }
  }

  /** Connects and subscribes the subscribers first, then connects the publishers. */
  async open(): Promise<LoadClient[]> {
    const { broker, qos, payloadBytes, topicNames } = this.setup;
    for (const spec of this.setup.subscribers) {
      const cleanStart = !this.setup.persistentSubscribers;
      const client = await LoadClient.open(broker, spec.clientId, cleanStart, FLOW_KEEPALIVE_SECONDS);
      this.#clients.push(client);
      await client.subscribe(spec.topicFilter, qos);
      this.#subscribers.push(new FlowSubscriber(client, this));
    }
    for (const spec of this.setup.publishers) {
      const client = await LoadClient.open(broker, spec.clientId, true, FLOW_KEEPALIVE_SECONDS);
      this.#clients.push(client);
      const template = new PublishTemplate(topicNames[spec.index]!, qos, payloadBytes, spec.index);
      const publisher = new FlowPublisher(spec.index, client, template, this);
      this.#publishers.push(publisher);
      this.#publisherByIndex.set(spec.index, publisher);
    }
    if (this.#subscribers.length > 0) {
      this.#progressTimer = setInterval(() => this.#reportProgress(), PROGRESS_INTERVAL_MS);
    }
    return this.#clients;
  }

  go(): void {
    this.#startNs = process.hrtime.bigint();
    for (const publisher of this.#publishers) publisher.start();
    if (this.setup.ratePerSecond > 0 && this.#publishers.length > 0) {
      this.#paceTimer = setInterval(() => {
        for (const publisher of this.#publishers) publisher.pump();
      }, 1);
    }
  }

  /** Messages each publisher should have sent by now at the configured pace. */
  dueMessages(): number {
    const elapsedNs = Number(process.hrtime.bigint() - this.#startNs);
    return Math.floor((elapsedNs * this.setup.ratePerSecond) / 1e9) + 1;
  }

  credit(deliveredByPublisher: number[]): void {
    for (const publisher of this.#publishers) {
      const delivered = deliveredByPublisher[publisher.index] ?? 0;
      if (delivered > publisher.delivered) {
        publisher.delivered = delivered;
        publisher.pump();
      }
    }
  }

  stop(): FlowStopResult {
    clearInterval(this.#paceTimer);
    for (const publisher of this.#publishers) publisher.stop();
    return {
      publishers: this.#publishers.map((p) => ({ index: p.index, sent: p.sent, firstSendMs: p.firstSendMs })),
    };
  }

  report(): FlowReportResult {
    this.#reportProgress();
    clearInterval(this.#progressTimer);
    for (const client of this.#clients) {
      if (client.closeError !== undefined) this.error(client.closeError.message);
    }
    return {
      subscriberCount: this.#subscribers.length,
      deliveries: this.#subscribers.reduce((sum, s) => sum + s.deliveries, 0),
      receivedBySubscriber: this.#subscribers.map((s) => Array.from(s.received)),
      lastReceiveMs: Number(this.lastReceiveNs) / 1e6,
      errorCount: this.errorCount,
      errors: this.errors,
      latency: this.latency.serialize(),
    };
  }

  dispose(): void {
    clearInterval(this.#progressTimer);
    clearInterval(this.#paceTimer);
  }

  error(message: string): void {
    this.errorCount++;
    if (this.errors.length < MAX_ERRORS_KEPT) this.errors.push(message);
  }

  /** Sends, per publisher, the lowest in-order count over this process's subscribers, when it changed. */
  #reportProgress(): void {
    const publisherCount = this.setup.topicNames.length;
    const lowest: number[] = new Array<number>(publisherCount);
    for (let index = 0; index < publisherCount; index++) {
      let min = Infinity;
      for (const subscriber of this.#subscribers) min = Math.min(min, subscriber.nextSeq[index]!);
      lowest[index] = min;
    }
    const key = lowest.join(',');
    if (key === this.#lastProgressKey) return;
    this.#lastProgressKey = key;
    this.#sendProgress(lowest);
  }
}
