/**
 * A raw MQTT client for end-to-end tests that must see the wire: exact CONNACK codes, packet ids, the DUP flag,
 * acknowledgements withheld on purpose. Built on our codec; it does nothing the test does not ask for (no automatic
 * PUBACK, no keepalive pings).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { encodePacket, PacketDecoder, PacketType } from '../../src/mqtt/codec/index.js';
import type {
  AckPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  Packet,
  Properties,
  ProtocolVersion,
  PublishPacket,
  QoS,
  SubackPacket,
  SubscriptionRequest,
} from '../../src/mqtt/codec/index.js';

/** How long a raw-client wait lasts before it fails the test (instead of hanging it). */
export const RAW_WAIT_MS = 5_000;

/** CONNECT fields a test may set; the rest get usable defaults. */
export interface WireConnectOptions {
  clientId?: string;
  cleanStart?: boolean;
  keepAliveSeconds?: number;
  username?: string;
  password?: Buffer;
  properties?: Properties;
}

// Not `Extract<Packet, { type: T }>`: the four acks share one shape whose `type` is a union, which Extract maps to never.
type PacketOf<T extends Packet['type']> = Packet extends infer P
  ? P extends { type: infer U }
    ? T extends U
      ? P
      : never
    : never
  : never;

interface Waiter {
  predicate: (packet: Packet) => boolean;
  resolve: (packet: Packet) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/** One TCP connection speaking MQTT through our codec, with every received packet kept for inspection. */
export class WireClient {
  readonly socket: Socket;
  readonly protocolVersion: ProtocolVersion;
  /** Every packet received, in order (PUBLISH payloads copied). */
  readonly received: Packet[] = [];
  /** Received packets no `next()` has taken yet. */
  readonly #unread: Packet[] = [];
  readonly #waiters: Waiter[] = [];
  readonly #chunks: Buffer[] = [];
  readonly #decoder: PacketDecoder;
  readonly #closed: Promise<void>;
  #isClosed = false;
  #nextPacketId = 1;

  private constructor(socket: Socket, protocolVersion: ProtocolVersion) {
    this.socket = socket;
    this.protocolVersion = protocolVersion;
    this.#decoder = new PacketDecoder(268_435_460);
    this.#decoder.protocolVersion = protocolVersion;
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.#decoder.push(chunk, { onPacket: (packet) => this.#onPacket(packet) });
    });
    this.#closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.#isClosed = true;
        for (const waiter of this.#waiters.splice(0)) {
          clearTimeout(waiter.timer);
          waiter.reject(new Error('connection closed while waiting for a packet'));
        }
        resolve();
      });
    });
  }

  /** Opens a TCP connection (no CONNECT sent yet). */
  static async open(port: number, protocolVersion: ProtocolVersion = 4): Promise<WireClient> {
    const socket = netConnect({ port, host: '127.0.0.1' });
    const client = new WireClient(socket, protocolVersion);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return client;
  }

  /** Opens a connection, sends CONNECT and returns the CONNACK. */
  static async connect(
    port: number,
    protocolVersion: ProtocolVersion,
    options: WireConnectOptions = {},
  ): Promise<{ client: WireClient; connack: ConnackPacket }> {
    const client = await WireClient.open(port, protocolVersion);
    const connack = await client.sendConnect(options);
    return { client, connack };
  }

  /** Every byte received so far, as on the wire (for 3.1.1 return codes, which the decoder maps to v5 codes). */
  get receivedBytes(): Buffer {
    return Buffer.concat(this.#chunks);
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Resolves when the server (or we) closed the socket. */
  closed(timeoutMs = RAW_WAIT_MS): Promise<void> {
    return withTimeout(this.#closed, timeoutMs, 'the connection to close');
  }

  /** Sends a CONNECT for this client's protocol version and waits for the CONNACK. */
  async sendConnect(options: WireConnectOptions = {}): Promise<ConnackPacket> {
    const packet: ConnectPacket = {
      type: PacketType.Connect,
      protocolName: 'MQTT',
      protocolVersion: this.protocolVersion,
      cleanStart: options.cleanStart ?? true,
      keepAliveSeconds: options.keepAliveSeconds ?? 0,
      clientId: options.clientId ?? '',
      username: options.username,
      password: options.password,
      will: undefined,
      properties: options.properties,
    };
    this.send(packet);
    return this.next(PacketType.Connack);
  }

  send(packet: Packet): void {
    this.socket.write(encodePacket(packet, this.protocolVersion));
  }

  sendBytes(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** A fresh packet id for packets this client sends. */
  allocatePacketId(): number {
    const id = this.#nextPacketId;
    this.#nextPacketId = id === 0xffff ? 1 : id + 1;
    return id;
  }

  /** Subscribes and returns the SUBACK. */
  async subscribe(
    filters: string | (Partial<SubscriptionRequest> & { topicFilter: string })[],
    qos: QoS = 0,
    properties?: Properties,
  ): Promise<SubackPacket> {
    const subscriptions: SubscriptionRequest[] = (
      typeof filters === 'string' ? [{ topicFilter: filters, qos }] : filters
    ).map((request) => ({
      topicFilter: request.topicFilter,
      qos: request.qos ?? qos,
      noLocal: request.noLocal ?? false,
      retainAsPublished: request.retainAsPublished ?? false,
      retainHandling: request.retainHandling ?? 0,
    }));
    const packetId = this.allocatePacketId();
    this.send({ type: PacketType.Subscribe, packetId, subscriptions, properties });
    return this.next(PacketType.Suback, (suback) => suback.packetId === packetId);
  }

  /** Sends a PUBLISH (packet id allocated for QoS > 0 unless given) and returns its packet id. */
  publish(
    topicName: string,
    payload: string | Buffer,
    options: {
      qos?: QoS;
      isRetained?: boolean;
      isDuplicate?: boolean;
      packetId?: number;
      properties?: Properties;
    } = {},
  ): number {
    const qos = options.qos ?? 0;
    const packetId = qos === 0 ? 0 : (options.packetId ?? this.allocatePacketId());
    this.send({
      type: PacketType.Publish,
      topicName,
      payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
      qos,
      isRetained: options.isRetained ?? false,
      isDuplicate: options.isDuplicate ?? false,
      packetId,
      properties: options.properties,
    });
    return packetId;
  }

  /** Sends PUBACK / PUBREC / PUBREL / PUBCOMP. */
  ack(type: AckPacket['type'], packetId: number, reasonCode = 0): void {
    this.send({ type, packetId, reasonCode, properties: undefined });
  }

  /**
   * A barrier: PINGREQ, then waits for PINGRESP. The server handles packets in order, so whatever it was going to
   * send in answer to earlier packets has arrived by then (no sleeping to prove that something did not happen).
   */
  async sync(): Promise<void> {
    this.send({ type: PacketType.Pingreq });
    await this.next(PacketType.Pingresp);
  }

  /** Takes the first unread packet of `type` (matching `predicate`), waiting for it if needed. */
  next<T extends Packet['type']>(
    type: T,
    predicate: (packet: PacketOf<T>) => boolean = () => true,
    timeoutMs = RAW_WAIT_MS,
  ): Promise<PacketOf<T>> {
    const matches = (packet: Packet): boolean => packet.type === type && predicate(packet as PacketOf<T>);
    const index = this.#unread.findIndex(matches);
    if (index >= 0) return Promise.resolve(this.#unread.splice(index, 1)[0] as PacketOf<T>);
    if (this.#isClosed) return Promise.reject(new Error(`connection closed; no packet of type ${String(type)}`));
    return new Promise<PacketOf<T>>((resolve, reject) => {
      const waiter: Waiter = {
        predicate: matches,
        resolve: resolve as (packet: Packet) => void,
        reject,
        timer: setTimeout(() => {
          this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
          reject(new Error(`timed out after ${String(timeoutMs)} ms waiting for packet type ${String(type)}`));
        }, timeoutMs),
      };
      this.#waiters.push(waiter);
    });
  }

  /** Takes `count` PUBLISH packets, in arrival order. */
  async nextPublishes(count: number, timeoutMs = RAW_WAIT_MS): Promise<PublishPacket[]> {
    const out: PublishPacket[] = [];
    for (let i = 0; i < count; i++) out.push(await this.next(PacketType.Publish, () => true, timeoutMs));
    return out;
  }

  /** Unread packets of `type` right now (not removed). */
  unread<T extends Packet['type']>(type: T): PacketOf<T>[] {
    return this.#unread.filter((packet) => packet.type === type) as PacketOf<T>[];
  }

  /** Waits for the server's DISCONNECT (v5) and returns it. */
  nextDisconnect(timeoutMs = RAW_WAIT_MS): Promise<DisconnectPacket> {
    return this.next(PacketType.Disconnect, () => true, timeoutMs);
  }

  /** Sends DISCONNECT (optional) and closes the socket; resolves once closed. */
  async close(sendDisconnect = true): Promise<void> {
    if (this.#isClosed) return;
    if (sendDisconnect) this.send({ type: PacketType.Disconnect, reasonCode: 0, properties: undefined });
    this.socket.end();
    const timer = setTimeout(() => this.socket.destroy(), 1_000);
    await this.#closed;
    clearTimeout(timer);
  }

  /** Drops the TCP connection without DISCONNECT (network loss). */
  async destroy(): Promise<void> {
    this.socket.destroy();
    await this.#closed;
  }

  #onPacket(packet: Packet): void {
    if (packet.type === PacketType.Publish) packet = { ...packet, payload: Buffer.copyBytesFrom(packet.payload) };
    this.received.push(packet);
    const index = this.#waiters.findIndex((waiter) => waiter.predicate(packet));
    if (index >= 0) {
      const waiter = this.#waiters.splice(index, 1)[0]!;
      clearTimeout(waiter.timer);
      waiter.resolve(packet);
      return;
    }
    this.#unread.push(packet);
  }
}

/** Rejects with a clear message if `promise` has not settled within `timeoutMs`. */
export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`timed out after ${String(timeoutMs)} ms waiting for ${what}`));
    }, timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => {
    clearTimeout(timer);
  });
}
