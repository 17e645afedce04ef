/** MQTT over plain TCP. */
import { createServer, type Server, type Socket } from 'node:net';
import type { BoundAddress, ConnectionInfo, Listener } from './connection.js';
import { ServerSocket, type ListenerOptions } from './server-socket.js';

/** A `net.Server` that hands every accepted socket to the broker (Nagle off: MQTT packets are small and latency-bound). */
export class TcpListener implements Listener {
  readonly kind = 'tcp';
  readonly #server: Server;
  readonly #base: ServerSocket;

  constructor(options: ListenerOptions) {
    this.#server = createServer({ noDelay: true }, (socket) => this.#onConnection(socket));
    this.#base = new ServerSocket(this.#server, 'tcp', options);
  }

  get stats() {
    return this.#base.stats;
  }

  listen(port: number, host: string): Promise<BoundAddress> {
    return this.#base.listen(port, host);
  }

  stopAccepting(): void {
    this.#base.stopAccepting();
  }

  close(): Promise<void> {
    return this.#base.close();
  }

  #onConnection(socket: Socket): void {
    // Nagle is already off (`noDelay` on the server); a socket reset before we saw it just emits 'close'.
    if (!this.#base.admit(socket, true)) return;
    this.#base.handOver(socket, new TcpConnectionInfo(socket));
  }
}

/**
 * Where a TCP connection came from, read on demand: `getpeername` is a system call per connection, and most
 * connections never need their address (hooks and logs ask; Node caches the answer once asked).
 */
class TcpConnectionInfo implements ConnectionInfo {
  readonly listener = 'tcp';
  readonly #socket: Socket;

  constructor(socket: Socket) {
    this.#socket = socket;
  }

  get remoteAddress(): string {
    return this.#socket.remoteAddress ?? '';
  }

  get remotePort(): number {
    return this.#socket.remotePort ?? 0;
  }
}
