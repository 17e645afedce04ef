import { connect, type Socket } from 'node:net';
import { PacketDecoder, PacketType, type Packet, type PacketHandler } from '../src/mqtt/codec/index.js';
import type { BrokerAddress } from './protocol.js';
import { DISCONNECT_PACKET, encodeConnect, encodeSubscribe, LOAD_PROTOCOL_VERSION } from './payload.js';

/** Largest packet a load client accepts; far above anything the bench sends. */
const MAX_PACKET_SIZE_BYTES = 1_048_576;
/** Time for TCP connect + CONNACK, and for SUBACK. */
export const HANDSHAKE_TIMEOUT_MS = 15_000;

/** What a load client does with the packets that are not part of a handshake. */
export interface LoadClientListener {
  onPacket(packet: Packet): void;
  /** Called once after every socket chunk, when all its packets were handled: the place to coalesce writes. */
  onChunkEnd(): void;
}

interface Waiter {
  type: number;
  resolve(packet: Packet): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * A minimal MQTT 3.1.1 client over a raw `net` socket: our codec decodes, callers write pre-encoded bytes. Only the
 * handshake (CONNACK, SUBACK) is awaited; everything else goes to the listener with no per-packet promise.
 */
export class LoadClient implements PacketHandler {
  readonly clientId: string;
  readonly socket: Socket;
  /** Set by `LoadClient.open`: the CONNACK's session present flag. */
  isSessionPresent = false;
  #isClosed = false;
  #closeError: Error | undefined;
  readonly #decoder: PacketDecoder;
  readonly #waiters: Waiter[] = [];
  #listener: LoadClientListener | undefined;
  /** Packets that arrived before a listener was set (e.g. queued messages in the same chunk as the CONNACK). */
  #early: Packet[] = [];
  readonly #closed: Promise<void>;

  private constructor(clientId: string, socket: Socket) {
    this.clientId = clientId;
    this.socket = socket;
    this.#decoder = new PacketDecoder(MAX_PACKET_SIZE_BYTES);
    this.#decoder.protocolVersion = LOAD_PROTOCOL_VERSION;
    socket.on('data', (chunk: Buffer) => {
      try {
        this.#decoder.push(chunk, this);
      } catch (error) {
        this.#fail(new Error(`${clientId}: undecodable packet from broker`, { cause: error }));
        return;
      }
      this.#listener?.onChunkEnd();
    });
    socket.on('error', (error) => this.#fail(error));
    this.#closed = new Promise((resolve) => {
      socket.on('close', () => {
        this.#fail(new Error(`${clientId}: connection closed by broker`));
        resolve();
      });
    });
  }

  /** Connects and waits for CONNACK; rejects on refusal, timeout or a closed socket. */
  static async open(
    broker: BrokerAddress,
    clientId: string,
    cleanStart: boolean,
    keepAliveSeconds: number,
    username?: string,
  ): Promise<LoadClient> {
    const socket = connect({ host: broker.host, port: broker.port, noDelay: true });
    const client = new LoadClient(clientId, socket);
    socket.write(encodeConnect(clientId, cleanStart, keepAliveSeconds, username));
    try {
      const connack = await client.#expect(PacketType.Connack);
      if (connack.type !== PacketType.Connack || connack.reasonCode !== 0) {
        throw new Error(
          `${clientId}: CONNACK refused (code ${connack.type === PacketType.Connack ? connack.reasonCode : '?'})`,
        );
      }
      client.isSessionPresent = connack.sessionPresent;
    } catch (error) {
      socket.destroy();
      throw error;
    }
    return client;
  }

  /** Subscribes to one filter and checks the granted QoS. */
  async subscribe(topicFilter: string, qos: 0 | 1, packetId = 1): Promise<void> {
    this.socket.write(encodeSubscribe(packetId, topicFilter, qos));
    const suback = await this.#expect(PacketType.Suback);
    const granted = suback.type === PacketType.Suback ? suback.reasonCodes[0] : undefined;
    if (granted !== qos) {
      throw new Error(`${this.clientId}: SUBSCRIBE ${topicFilter} at QoS ${qos} granted ${String(granted)}`);
    }
  }

  /** Receives every packet that is not part of a handshake, including those that arrived before it was set. */
  set listener(listener: LoadClientListener) {
    this.#listener = listener;
    const early = this.#early;
    if (early.length === 0) return;
    this.#early = [];
    for (const packet of early) listener.onPacket(packet);
    listener.onChunkEnd();
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Why the connection ended, if it did without `close()`. */
  get closeError(): Error | undefined {
    return this.#closeError;
  }

  /** Sends DISCONNECT and ends the socket; resolves when it is closed (destroyed after `timeoutMs`). */
  async close(timeoutMs = 5_000): Promise<void> {
    if (!this.#isClosed) {
      this.#isClosed = true;
      this.socket.end(DISCONNECT_PACKET);
      const timer = setTimeout(() => this.socket.destroy(), timeoutMs);
      await this.#closed;
      clearTimeout(timer);
    }
  }

  /** `PacketHandler`: handshake packets go to their waiter, the rest to the listener. */
  onPacket(packet: Packet): void {
    const waiter = this.#waiters[0];
    if (waiter !== undefined && waiter.type === packet.type) {
      this.#waiters.shift();
      clearTimeout(waiter.timer);
      waiter.resolve(packet);
      return;
    }
    if (this.#listener === undefined) this.#early.push(packet);
    else this.#listener.onPacket(packet);
  }

  #expect(type: number): Promise<Packet> {
    if (this.#isClosed) return Promise.reject(this.#closeError ?? new Error(`${this.clientId}: closed`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#fail(new Error(`${this.clientId}: no ${packetName(type)} within ${HANDSHAKE_TIMEOUT_MS} ms`));
        this.socket.destroy();
      }, HANDSHAKE_TIMEOUT_MS);
      this.#waiters.push({ type, resolve, reject, timer });
    });
  }

  #fail(error: Error): void {
    if (!this.#isClosed) {
      this.#isClosed = true;
      this.#closeError = error;
    }
    for (const waiter of this.#waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(this.#closeError ?? error);
    }
  }
}

function packetName(type: number): string {
  return type === PacketType.Connack ? 'CONNACK' : type === PacketType.Suback ? 'SUBACK' : `packet type ${type}`;
}
