/** What every listener shares: binding with a clear error, live-socket tracking, rate limiting, hand-off. */
import type { Server } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../observability/index.js';
import {
  ListenError,
  ListenErrorCode,
  type BoundAddress,
  type ConnectionHandler,
  type ConnectionInfo,
  type ListenerKind,
  type ListenerStats,
} from './connection.js';
import { RateLimiter } from './rate-limiter.js';

/** Options every listener takes. */
export interface ListenerOptions {
  handler: ConnectionHandler;
  /** `mqtt.maxConnectionsPerSecond`. */
  maxConnectionsPerSecond: number;
  logger?: Logger;
}

const ignoreError = (): void => undefined;

/** Binding, tracking and refusing, for one `net.Server` (or subclass). */
export class ServerSocket {
  readonly stats: ListenerStats = { accepted: 0, refusedByRate: 0 };
  readonly #server: Server;
  readonly #kind: ListenerKind;
  readonly #handler: ConnectionHandler;
  readonly #limiter: RateLimiter;
  readonly #logger: Logger | undefined;
  readonly #sockets = new Set<Duplex>();
  /** One listener for every socket's 'close' (`this` is the socket), rather than a closure per connection. */
  readonly #untrack: (this: Duplex) => void;
  #lastRefusalLogMs = 0;
  #isClosing = false;
  #closed: Promise<void> | undefined;

  constructor(server: Server, kind: ListenerKind, options: ListenerOptions) {
    this.#server = server;
    this.#kind = kind;
    this.#handler = options.handler;
    this.#limiter = new RateLimiter(options.maxConnectionsPerSecond);
    this.#logger = options.logger;
    const sockets = this.#sockets;
    this.#untrack = function untrack(this: Duplex): void {
      sockets.delete(this);
    };
  }

  listen(port: number, host: string): Promise<BoundAddress> {
    const server = this.#server;
    return new Promise((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException): void => {
        server.off('listening', onListening);
        reject(toListenError(error, port, host, this.#kind));
      };
      const onListening = (): void => {
        server.off('error', onError);
        // After binding, errors are per-accept (e.g. EMFILE): log them, never crash.
        server.on('error', (error) => this.#logger?.warn({ err: error, listener: this.#kind }, 'listener error'));
        const address = server.address();
        if (address === null || typeof address === 'string') {
          const where = { listener: this.#kind, port, host };
          reject(new ListenError(ListenErrorCode.ListenFailed, where, `listener on port ${port} has no address`));
          return;
        }
        resolve({ address: address.address, port: address.port });
      };
      server.once('error', onError);
      server.once('listening', onListening);
      server.listen({ port, host, exclusive: true });
    });
  }

  /** Tracks a raw socket so {@link close} can destroy it; false (and destroyed) when over the rate limit. */
  admit(socket: Duplex, isHandedOverAtOnce = false): boolean {
    // Until the broker attaches its own 'error' listener, this one keeps a reset from crashing the process; a socket
    // handed over in the same tick (plain TCP) never needs it.
    if (!isHandedOverAtOnce) socket.on('error', ignoreError);
    if (this.#isClosing || !this.#limiter.tryAcquire()) {
      if (!this.#isClosing) this.#countRefusal();
      socket.destroy();
      return false;
    }
    this.#sockets.add(socket);
    // 'close' comes once; `on` spares the wrapper `once` keeps per socket for as long as the socket lives.
    socket.on('close', this.#untrack);
    return true;
  }

  /** Gives a connection to the broker. */
  handOver(stream: Duplex, info: ConnectionInfo): void {
    if (stream.destroyed) return;
    this.stats.accepted++;
    try {
      this.#handler.handleConnection(stream, info);
    } catch (error) {
      this.#logger?.error({ err: error, listener: this.#kind }, 'connection handler threw; connection closed');
      stream.destroy();
    }
  }

  stopAccepting(): void {
    if (this.#isClosing) return;
    this.#isClosing = true;
    this.#closed = new Promise((resolve) => {
      if (!this.#server.listening) {
        resolve();
        return;
      }
      this.#server.close(() => resolve());
    });
  }

  async close(): Promise<void> {
    this.stopAccepting();
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    await this.#closed;
  }

  #countRefusal(): void {
    this.stats.refusedByRate++;
    const nowMs = Date.now();
    if (nowMs - this.#lastRefusalLogMs >= 10_000) {
      this.#lastRefusalLogMs = nowMs;
      this.#logger?.warn(
        { listener: this.#kind, refusedByRate: this.stats.refusedByRate },
        'refusing connections: more than mqtt.maxConnectionsPerSecond',
      );
    }
  }
}

function toListenError(error: NodeJS.ErrnoException, port: number, host: string, kind: ListenerKind): ListenError {
  const where = { listener: kind, port, host };
  const options = { cause: error };
  switch (error.code) {
    case 'EADDRINUSE':
      return new ListenError(ListenErrorCode.PortInUse, where, `port ${port} is in use`, options);
    case 'EACCES':
      return new ListenError(ListenErrorCode.PortAccessDenied, where, `port ${port} needs privileges`, options);
    case 'EADDRNOTAVAIL':
      return new ListenError(ListenErrorCode.AddressNotAvailable, where, `address ${host} is not available`, options);
    default:
      return new ListenError(
        ListenErrorCode.ListenFailed,
        where,
        `cannot listen on port ${port}: ${error.message}`,
        options,
      );
  }
}
