/** MQTT over plain TCP. */
import { createServer, type Server, type Socket } from 'node:net';
import type { BoundAddress, Listener } from './connection.js';
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
    const { remoteAddress, remotePort } = socket;
    // A socket reset before we saw it has no address: nothing to serve.
    if (remoteAddress === undefined || remotePort === undefined) {
      socket.destroy();
      return;
    }
    if (!this.#base.admit(socket)) return;
    socket.setNoDelay(true);
    this.#base.handOver(socket, { remoteAddress, remotePort, listener: 'tcp' });
  }
}
