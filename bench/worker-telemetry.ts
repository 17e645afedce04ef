/**
 * Scenario g's load in one load process: ThingsBoard devices, each on its own connection (username = access token),
 * publishing `{"ts":…,"values":{…}}` on `v1/devices/me/telemetry` at QoS 1 with a bounded number in flight. The
 * platform acknowledges a message only once its points are committed, so PUBACKs per second are stored messages per
 * second, and publish→PUBACK is the latency of a durable write.
 */
import { PacketType, type Packet } from '../src/mqtt/codec/index.js';
import { LatencyHistogram } from './latency-histogram.js';
import type { Closable } from './idle-client.js';
import { LoadClient, type LoadClientListener } from './load-client.js';
import type { TelemetryDeviceSpec, TelemetrySample, TelemetrySetupRequest, TelemetryStopResult } from './protocol.js';

/** ThingsBoard's device telemetry topic (device-apis.md §3); the device is known from its connection. */
export const TELEMETRY_TOPIC = 'v1/devices/me/telemetry';
/** Longer than any phase, so a device waiting for PUBACKs is never timed out by its keep-alive. */
const KEEPALIVE_SECONDS = 600;
/** Tick of the paced phase: each tick sends what every device is due (catching up if a tick came late). */
const PACE_INTERVAL_MS = 1;
/** How often `stop` checks whether the last PUBACKs arrived. */
const DRAIN_POLL_MS = 5;
/** Errors kept verbatim per process; the rest are only counted. */
const MAX_ERRORS_KEPT = 10;
/** `[MQTT-2.3.1-1]` packet ids are 1–65,535. */
const MAX_PACKET_ID = 65_535;

const monotonicMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/**
 * Builds the PUBLISH packets. The payload changes with every message (`ts` and values), so unlike the flow scenarios'
 * templates each packet is written field by field: fixed header, topic, packet id, then the JSON as latin1 (it is
 * ASCII, so its string length is its byte length and no `Buffer.byteLength` is needed).
 */
class TelemetryEncoder {
  readonly #topic = Buffer.from(TELEMETRY_TOPIC, 'utf8');
  /** `"key":` for each key, with the separating comma from the second key on. */
  readonly #keyParts: string[];

  constructor(keys: readonly string[]) {
    this.#keyParts = keys.map((key, k) => `${k === 0 ? '' : ','}${JSON.stringify(key)}:`);
  }

  /**
   * Message `seq`'s payload. Key k's value is `seq + k/4`: every value is exact in binary, so the stored sums can be
   * checked exactly, and each key of a message differs from the others.
   */
  json(ts: number, seq: number): string {
    let json = `{"ts":${ts},"values":{`;
    for (let k = 0; k < this.#keyParts.length; k++) json += `${this.#keyParts[k]!}${seq + k * 0.25}`;
    return `${json}}}`;
  }

  /** Size of the PUBLISH carrying `json`. */
  packetBytes(json: string): number {
    const remaining = this.#remainingLength(json);
    return 1 + varintBytes(remaining) + remaining;
  }

  /** Writes the PUBLISH at `offset` and returns the offset after it. */
  write(target: Buffer, offset: number, packetId: number, json: string): number {
    let pos = offset;
    target[pos++] = 0x32; // PUBLISH, QoS 1, not retained, not a duplicate
    let remaining = this.#remainingLength(json);
    do {
      const byte = remaining % 128;
      remaining = Math.floor(remaining / 128);
      target[pos++] = remaining > 0 ? byte | 0x80 : byte;
    } while (remaining > 0);
    pos = target.writeUInt16BE(this.#topic.length, pos);
    pos += this.#topic.copy(target, pos);
    pos = target.writeUInt16BE(packetId, pos);
    return pos + target.write(json, pos, 'latin1');
  }

  #remainingLength(json: string): number {
    return 2 + this.#topic.length + 2 + json.length;
  }
}

function varintBytes(value: number): number {
  return value < 128 ? 1 : value < 16_384 ? 2 : value < 2_097_152 ? 3 : 4;
}

/** One device: one connection, its own sequence of messages, at most `maxInflight` of them unacknowledged. */
class TelemetryDevice implements LoadClientListener {
  readonly index: number;
  /** Messages sent and acknowledged since setup; message n carries `ts = baseTs + n`. */
  sent = 0;
  acked = 0;
  inflight = 0;
  readonly client: LoadClient;
  /** Messages sent in the current phase (the pacing counts from the phase's start). */
  #phaseSent = 0;
  #nextPacketId = 1;
  #isRunning = false;
  #isWaitingForDrain = false;
  /** `performance.now()` at send, by packet id; NaN when the id is free. */
  readonly #sentAtMs = new Float64Array(MAX_PACKET_ID + 1).fill(Number.NaN);
  readonly #role: TelemetryRole;

  constructor(spec: TelemetryDeviceSpec, client: LoadClient, role: TelemetryRole) {
    this.index = spec.index;
    this.client = client;
    this.#role = role;
    client.listener = this;
    client.socket.on('drain', () => {
      this.#isWaitingForDrain = false;
      this.pump();
    });
  }

  start(): void {
    this.#phaseSent = 0;
    this.#isRunning = true;
    this.pump();
  }

  stop(): void {
    this.#isRunning = false;
  }

  /** Sends what the in-flight window (and, when paced, the schedule) allows, in one socket write. */
  pump(): void {
    const role = this.#role;
    if (!this.#isRunning || this.#isWaitingForDrain || this.client.isClosed) return;
    let count = role.setup.maxInflight - this.inflight;
    if (role.ratePerDevice > 0) count = Math.min(count, role.dueMessages(this.index) - this.#phaseSent);
    if (count <= 0) return;
    const { encoder, setup } = role;
    const payloads: string[] = [];
    let bytes = 0;
    for (let k = 0; k < count; k++) {
      const seq = this.sent + k;
      const json = encoder.json(setup.baseTs + seq, seq);
      payloads.push(json);
      bytes += encoder.packetBytes(json);
    }
    const batch = Buffer.allocUnsafe(bytes);
    let offset = 0;
    const now = performance.now();
    for (const json of payloads) {
      const packetId = this.#takePacketId();
      this.#sentAtMs[packetId] = now;
      offset = encoder.write(batch, offset, packetId, json);
    }
    this.sent += count;
    this.#phaseSent += count;
    this.inflight += count;
    if (!this.client.socket.write(batch)) this.#isWaitingForDrain = true;
  }

  onPacket(packet: Packet): void {
    if (packet.type === PacketType.Puback) {
      const sentAt = this.#sentAtMs[packet.packetId]!;
      if (Number.isNaN(sentAt)) {
        this.#role.error(`device ${this.index}: PUBACK for unknown packet id ${packet.packetId}`);
        return;
      }
      this.#sentAtMs[packet.packetId] = Number.NaN;
      this.inflight--;
      this.acked++;
      this.#role.latency.record((performance.now() - sentAt) * 1000);
    } else if (packet.type !== PacketType.Pingresp) {
      // ThingsBoard devices subscribe to nothing here: anything else (an RPC, attribute update) is unexpected.
      this.#role.error(`device ${this.index}: unexpected packet type ${packet.type}`);
    }
  }

  onChunkEnd(): void {
    this.pump();
  }

  /** The next free packet id (ids of unacknowledged messages are skipped, never reused). */
  #takePacketId(): number {
    let id = this.#nextPacketId;
    while (!Number.isNaN(this.#sentAtMs[id]!)) id = id === MAX_PACKET_ID ? 1 : id + 1;
    this.#nextPacketId = id === MAX_PACKET_ID ? 1 : id + 1;
    return id;
  }
}

/** Scenario g's devices in one load process. */
export class TelemetryRole {
  readonly setup: TelemetrySetupRequest;
  readonly encoder: TelemetryEncoder;
  latency = new LatencyHistogram();
  /** Messages per second per device in the current phase; 0 = as fast as the window allows. */
  ratePerDevice = 0;
  errorCount = 0;
  readonly errors: string[] = [];
  readonly #devices: TelemetryDevice[] = [];
  #goMs = 0;
  #goPerfMs = 0;
  #paceTimer: NodeJS.Timeout | undefined;

  constructor(setup: TelemetrySetupRequest) {
    this.setup = setup;
    this.encoder = new TelemetryEncoder(setup.keys);
  }

  /** Connects every device (`concurrency` handshakes at once); each open client is added to `clients` at once. */
  async open(clients: Closable[]): Promise<void> {
    const { broker, devices, concurrency } = this.setup;
    let next = 0;
    const connectNext = async (): Promise<void> => {
      while (next < devices.length) {
        const spec = devices[next++]!;
        const client = await LoadClient.open(broker, spec.clientId, true, KEEPALIVE_SECONDS, spec.accessToken);
        clients.push(client);
        this.#devices.push(new TelemetryDevice(spec, client, this));
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, devices.length) }, connectNext));
  }

  go(ratePerDevice: number): void {
    this.ratePerDevice = ratePerDevice;
    this.#goMs = monotonicMs();
    this.#goPerfMs = performance.now();
    for (const device of this.#devices) device.start();
    if (ratePerDevice > 0) {
      this.#paceTimer = setInterval(() => {
        for (const device of this.#devices) device.pump();
      }, PACE_INTERVAL_MS);
    }
  }

  /**
   * Messages device `index` is due by now in a paced phase. Device i's schedule is shifted by i/N of a period, so the
   * devices' sends are spread over each period instead of all falling on the same tick.
   */
  dueMessages(index: number): number {
    const elapsedMs = performance.now() - this.#goPerfMs;
    return Math.floor((elapsedMs * this.ratePerDevice) / 1000 + index / this.setup.deviceCount);
  }

  sample(resetLatency: boolean): TelemetrySample {
    if (resetLatency) this.latency = new LatencyHistogram();
    let acked = 0;
    let sent = 0;
    for (const device of this.#devices) {
      acked += device.acked;
      sent += device.sent;
    }
    return { acked, sent, atMs: monotonicMs() };
  }

  /** Stops sending, then waits for the PUBACKs of everything in flight (at most `drainTimeoutMs`). */
  async stop(drainTimeoutMs: number): Promise<TelemetryStopResult> {
    const stopMs = monotonicMs();
    clearInterval(this.#paceTimer);
    for (const device of this.#devices) device.stop();
    const inflight = (): number => this.#devices.reduce((sum, d) => sum + (d.client.isClosed ? 0 : d.inflight), 0);
    const deadline = performance.now() + drainTimeoutMs;
    while (inflight() > 0 && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
    }
    for (const device of this.#devices) {
      if (device.client.closeError !== undefined) this.error(device.client.closeError.message);
    }
    const result: TelemetryStopResult = {
      devices: this.#devices.map((d) => ({ index: d.index, sent: d.sent, acked: d.acked })),
      unacknowledged: this.#devices.reduce((sum, d) => sum + d.inflight, 0),
      latency: this.latency.serialize(),
      goMs: this.#goMs,
      stopMs,
      errorCount: this.errorCount,
      errors: this.errors.splice(0),
    };
    // Each phase reports its own errors.
    this.errorCount = 0;
    return result;
  }

  dispose(): void {
    clearInterval(this.#paceTimer);
    for (const device of this.#devices) device.stop();
  }

  error(message: string): void {
    this.errorCount++;
    if (this.errors.length < MAX_ERRORS_KEPT) this.errors.push(message);
  }
}
