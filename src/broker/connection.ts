/**
 * One client connection's bytes: decodes what arrives, coalesces what leaves into one socket write per tick, and
 * enforces the write backpressure deadline and the keepalive timer. It knows nothing of MQTT semantics.
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
  /** The socket is gone, whatever the reason. Called exactly once. */
  handleClose(): void;
}

/** Past this many pending bytes a write goes out at once instead of at the end of the tick. */
const FLUSH_THRESHOLD_BYTES = 65_536;

export class Connection implements PacketHandler {
  readonly #stream: Duplex;
  readonly decoder: PacketDecoder;
  #owner: ConnectionOwner | undefined;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #isFlushScheduled = false;
  #isBlocked = false;
  #isClosed = false;
  #isEnding = false;
  #drainDeadlineMs: number;
  #drainTimer: NodeJS.Timeout | undefined;
  #keepAliveTimer: NodeJS.Timeout | undefined;
  /** Bytes received and sent, for $SYS. */
  bytesReceived = 0;

  constructor(stream: Duplex, maxPacketSizeBytes: number, drainDeadlineMs: number) {
    this.#stream = stream;
    this.decoder = new PacketDecoder(maxPacketSizeBytes);
    this.#drainDeadlineMs = drainDeadlineMs;
    stream.on('data', this.#onData);
    stream.on('drain', this.#onDrain);
    stream.on('error', this.#onError);
    stream.on('close', this.#onClose);
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
    this.#pending.push(bytes);
    this.#pendingBytes += bytes.length;
    if (this.#pendingBytes >= FLUSH_THRESHOLD_BYTES) this.flush();
    else if (!this.#isFlushScheduled) {
      this.#isFlushScheduled = true;
      queueMicrotask(this.#flushBound);
    }
  }

  /** Writes everything pending now: one buffer when small, a vectored write otherwise. */
  flush(): void {
    this.#isFlushScheduled = false;
    const count = this.#pending.length;
    if (count === 0 || this.#isClosed) return;
    const stream = this.#stream;
    let isAccepted: boolean;
    if (count === 1) {
      isAccepted = stream.write(this.#pending[0]);
    } else if (this.#pendingBytes < FLUSH_THRESHOLD_BYTES) {
      isAccepted = stream.write(Buffer.concat(this.#pending, this.#pendingBytes));
    } else {
      stream.cork();
      for (let i = 0; i < count - 1; i++) stream.write(this.#pending[i]);
      isAccepted = stream.write(this.#pending[count - 1]);
      stream.uncork();
    }
    this.#pending = [];
    this.#pendingBytes = 0;
    if (!isAccepted && !this.#isBlocked) {
      // [STYLE 3] a full socket starts a deadline; it never turns into an unbounded queue.
      this.#isBlocked = true;
      this.#drainTimer = setTimeout(this.#onDrainDeadline, this.#drainDeadlineMs);
    }
  }

  /** Closes after the keepalive interval passes 1.5 times with no packet received; 0 disables. */
  setKeepAlive(seconds: number): void {
    if (this.#keepAliveTimer !== undefined) clearTimeout(this.#keepAliveTimer);
    this.#keepAliveTimer = undefined;
    if (seconds > 0 && !this.#isClosed) {
      this.#keepAliveTimer = setTimeout(this.#onKeepAlive, seconds * 1500);
      this.#keepAliveTimer.unref();
    }
  }

  /** Flushes what is pending, then closes gracefully. */
  end(): void {
    if (this.#isClosed || this.#isEnding) return;
    this.flush();
    this.#isEnding = true;
    this.#stream.end();
    // A peer that never reads would keep the socket half-open: bound it by the drain deadline.
    setTimeout(this.#onEndDeadline, this.#drainDeadlineMs).unref();
  }

  /** Closes at once, dropping what is pending. */
  destroy(): void {
    if (this.#isClosed) return;
    this.#stream.destroy();
  }

  readonly #flushBound = (): void => {
    this.flush();
  };

  readonly #onData = (chunk: Buffer): void => {
    this.bytesReceived += chunk.length;
    if (this.#keepAliveTimer !== undefined) this.#keepAliveTimer.refresh();
    try {
      this.decoder.push(chunk, this);
    } catch (error) {
      this.#stream.pause();
      if (error instanceof ProtocolError) this.#owner!.handleProtocolError(error);
      else
        this.#owner!.handleProtocolError(
          new ProtocolError(ReasonCode.UnspecifiedError, 'internal error', { cause: error }),
        );
    }
  };

  readonly #onDrain = (): void => {
    if (!this.#isBlocked) return;
    this.#isBlocked = false;
    if (this.#drainTimer !== undefined) clearTimeout(this.#drainTimer);
    this.#drainTimer = undefined;
    this.#owner?.handleDrain();
  };

  readonly #onDrainDeadline = (): void => {
    this.#drainTimer = undefined;
    this.destroy();
  };

  readonly #onEndDeadline = (): void => {
    this.destroy();
  };

  readonly #onKeepAlive = (): void => {
    this.#keepAliveTimer = undefined;
    this.#owner?.handleKeepAliveTimeout();
  };

  readonly #onError = (): void => {
    // 'close' follows; errors such as ECONNRESET are normal network loss.
  };

  readonly #onClose = (): void => {
    if (this.#isClosed) return;
    this.#isClosed = true;
    if (this.#drainTimer !== undefined) clearTimeout(this.#drainTimer);
    if (this.#keepAliveTimer !== undefined) clearTimeout(this.#keepAliveTimer);
    this.#pending = [];
    this.#owner?.handleClose();
  };
}
