/**
 * One client connection's bytes: decodes what arrives, coalesces what leaves into one socket write per tick, and
 * enforces the write backpressure deadline and the keepalive. It knows nothing of MQTT semantics.
 *
 * Memory per idle connection matters (tens of thousands of devices): event handlers are shared module functions
 * that find their connection through a symbol on the stream, and deadlines (CONNECT, keepalive, drain) are checked
 * by one {@link DeadlineSweeper} for all connections instead of one timer each.
 */
import type { Duplex } from 'node:stream';
import { PacketDecoder, ProtocolError, ReasonCode } from '../mqtt/codec/index.js';
import type { Packet, PacketHandler } from '../mqtt/codec/index.js';

/** What a connection delivers upwards. */
export interface ConnectionOwner {
  handlePacket(packet: Packet): void;
  /** Input broke the protocol; the owner answers (v5 DISCONNECT / CONNACK) and closes. */
  handleProtocolError(error: ProtocolError): void;
  /** The socket became writable again after backpressure. */
  handleDrain(): void;
  /** Keepalive expired ([MQTT-3.1.2-24]). */
  handleKeepAliveTimeout(): void;
  /** No CONNECT within the connect timeout. */
  handleConnectTimeout(): void;
  /** The socket is gone, whatever the reason. Called exactly once. */
  handleClose(): void;
  /** The server is stopping: say so (v5 DISCONNECT) and close. */
  disconnect(reasonCode: number, reasonString: string): void;
}

/** Past this many pending bytes a write goes out at once instead of at the end of the tick. */
const FLUSH_THRESHOLD_BYTES = 65_536;
const NO_DEADLINE = Number.POSITIVE_INFINITY;
/** The stream's connection, for the shared event handlers. */
const kConnection = Symbol('switchboard.connection');

type OwnedStream = Duplex & { [kConnection]?: Connection };

export class Connection implements PacketHandler {
  readonly #stream: OwnedStream;
  readonly #sweeper: DeadlineSweeper;
  readonly decoder: PacketDecoder;
  #owner: ConnectionOwner | undefined;
  #pending: Buffer[] | undefined;
  #pendingBytes = 0;
  #isFlushScheduled = false;
  #isBlocked = false;
  #isClosed = false;
  #isEnding = false;
  /** Epoch ms of the last bytes received. */
  #lastReadMs: number;
  /** 1.5 × keepalive in ms; infinite until CONNECT set it, or when keepalive is 0. */
  #keepAliveWindowMs = NO_DEADLINE;
  /** Epoch ms by which CONNECT must have arrived; infinite once it did. */
  #connectDeadlineMs: number;
  /** Epoch ms by which a blocked socket must drain, or a closing one must be gone. */
  #drainDeadlineMs = NO_DEADLINE;

  constructor(stream: Duplex, maxPacketSizeBytes: number, sweeper: DeadlineSweeper) {
    this.#stream = stream;
    this.#sweeper = sweeper;
    this.decoder = new PacketDecoder(maxPacketSizeBytes);
    const nowMs = Date.now();
    this.#lastReadMs = nowMs;
    this.#connectDeadlineMs = nowMs + sweeper.connectTimeoutMs;
    this.#stream[kConnection] = this;
    stream.on('data', onStreamData);
    stream.on('error', onStreamError);
    stream.on('close', onStreamClose);
    sweeper.add(this);
  }

  /** Attaches the protocol handler; separate from the constructor so both can reference each other. */
  attach(owner: ConnectionOwner): void {
    this.#owner = owner;
  }

  /** PacketHandler: the decoder calls this for each complete packet. */
  onPacket(packet: Packet): void {
    this.#owner!.handlePacket(packet);
  }

  get isWritable(): boolean {
    return !this.#isBlocked && !this.#isClosed && !this.#isEnding;
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Queues bytes for the coalesced write at the end of this tick. */
  send(bytes: Buffer): void {
    if (this.#isClosed || this.#isEnding) return;
    (this.#pending ??= []).push(bytes);
    this.#pendingBytes += bytes.length;
    if (this.#pendingBytes >= FLUSH_THRESHOLD_BYTES) this.flush();
    else if (!this.#isFlushScheduled) {
      this.#isFlushScheduled = true;
      scheduleFlush(this);
    }
  }

  /** Writes everything pending now: one buffer when small, a vectored write otherwise. */
  flush(): void {
    this.#isFlushScheduled = false;
    const pending = this.#pending;
    if (pending === undefined || pending.length === 0 || this.#isClosed) return;
    const stream = this.#stream;
    const count = pending.length;
    let isAccepted: boolean;
    if (count === 1) {
      isAccepted = stream.write(pending[0]);
    } else if (this.#pendingBytes < FLUSH_THRESHOLD_BYTES) {
      isAccepted = stream.write(Buffer.concat(pending, this.#pendingBytes));
    } else {
      stream.cork();
      for (let i = 0; i < count - 1; i++) stream.write(pending[i]);
      isAccepted = stream.write(pending[count - 1]);
      stream.uncork();
    }
    // A connection that writes one packet per turn (most: idle devices) drops its array; a busy one reuses it.
    if (count === 1) this.#pending = undefined;
    else pending.length = 0;
    this.#pendingBytes = 0;
    if (!isAccepted && !this.#isBlocked) {
      // [STYLE 3] a full socket starts a deadline; it never turns into an unbounded queue.
      this.#isBlocked = true;
      this.#drainDeadlineMs = Date.now() + this.#sweeper.drainDeadlineMs;
      stream.once('drain', onStreamDrain); // only while blocked: most connections never need it
    }
  }

  /** CONNECT arrived: the connect deadline ends, keepalive (1.5 × the interval, [MQTT-3.1.2-24]) starts; 0 = none. */
  setKeepAlive(seconds: number): void {
    this.#connectDeadlineMs = NO_DEADLINE;
    this.#keepAliveWindowMs = seconds > 0 ? seconds * 1500 : NO_DEADLINE;
  }

  /** Flushes what is pending, then closes gracefully. */
  end(): void {
    if (this.#isClosed || this.#isEnding) return;
    this.flush();
    this.#isEnding = true;
    this.#stream.end();
    // A peer that never reads would keep the socket half-open: bound it by the drain deadline.
    this.#drainDeadlineMs = Math.min(this.#drainDeadlineMs, Date.now() + this.#sweeper.drainDeadlineMs);
  }

  /** Asks the owner to disconnect the client (server shutdown); with no owner yet, just closes. */
  disconnect(reasonCode: number, reasonString: string): void {
    if (this.#owner === undefined) this.destroy();
    else this.#owner.disconnect(reasonCode, reasonString);
  }

  /** Closes at once, dropping what is pending. */
  destroy(): void {
    if (this.#isClosed) return;
    this.#stream.destroy();
  }

  /** Called by the sweeper: acts on whichever deadline has passed. */
  checkDeadlines(nowMs: number): void {
    if (this.#isClosed) return;
    if (nowMs >= this.#drainDeadlineMs) {
      this.destroy();
    } else if (nowMs >= this.#connectDeadlineMs) {
      this.#connectDeadlineMs = NO_DEADLINE;
      this.#owner?.handleConnectTimeout();
    } else if (nowMs - this.#lastReadMs >= this.#keepAliveWindowMs) {
      this.#keepAliveWindowMs = NO_DEADLINE;
      this.#owner?.handleKeepAliveTimeout();
    }
  }

  handleData(chunk: Buffer): void {
    this.#lastReadMs = Date.now();
    try {
      this.decoder.push(chunk, this);
    } catch (error) {
      this.#stream.pause();
      const protocolError =
        error instanceof ProtocolError
          ? error
          : new ProtocolError(ReasonCode.UnspecifiedError, 'internal error', { cause: error });
      this.#owner!.handleProtocolError(protocolError);
    }
  }

  handleDrain(): void {
    if (!this.#isBlocked) return;
    this.#isBlocked = false;
    if (!this.#isEnding) this.#drainDeadlineMs = NO_DEADLINE;
    this.#owner?.handleDrain();
  }

  handleClose(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#pending = undefined;
    this.#sweeper.delete(this);
    this.#owner?.handleClose();
  }
}

/** Connections with bytes waiting; one microtask per tick flushes them all ([STYLE 3] coalesced writes). */
let flushQueue: Connection[] = [];
let isFlushQueued = false;

function scheduleFlush(connection: Connection): void {
  flushQueue.push(connection);
  if (isFlushQueued) return;
  isFlushQueued = true;
  queueMicrotask(flushAll);
}

function flushAll(): void {
  const queue = flushQueue;
  flushQueue = [];
  isFlushQueued = false;
  for (let i = 0; i < queue.length; i++) queue[i]!.flush();
}

// Shared by every stream: `this` is the stream that emitted.
function onStreamData(this: OwnedStream, chunk: Buffer): void {
  this[kConnection]?.handleData(chunk);
}
function onStreamDrain(this: OwnedStream): void {
  this[kConnection]?.handleDrain();
}
function onStreamError(): void {
  // 'close' follows; errors such as ECONNRESET are normal network loss.
}
function onStreamClose(this: OwnedStream): void {
  this[kConnection]?.handleClose();
}

/**
 * Checks every connection's deadlines a few times a second: one timer for all connections, and nothing to re-arm
 * per packet (a read only records its time).
 */
export class DeadlineSweeper {
  readonly connectTimeoutMs: number;
  readonly drainDeadlineMs: number;
  readonly #connections = new Set<Connection>();
  readonly #timer: NodeJS.Timeout;

  constructor(connectTimeoutMs: number, drainDeadlineMs: number, intervalMs = 250) {
    this.connectTimeoutMs = connectTimeoutMs;
    this.drainDeadlineMs = drainDeadlineMs;
    this.#timer = setInterval(() => {
      this.#sweep();
    }, intervalMs);
    this.#timer.unref();
  }

  add(connection: Connection): void {
    this.#connections.add(connection);
  }

  delete(connection: Connection): void {
    this.#connections.delete(connection);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Tells every open connection's owner the server is stopping. */
  disconnectAll(reasonCode: number, reasonString: string): void {
    for (const connection of [...this.#connections]) connection.disconnect(reasonCode, reasonString);
  }

  #sweep(): void {
    const nowMs = Date.now();
    for (const connection of this.#connections) connection.checkDeadlines(nowMs);
  }
}
