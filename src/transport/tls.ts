/** MQTT over TLS. The client certificate, when one verified against the configured CA, goes to the broker for auth. */
import type { Socket } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { BoundAddress, ConnectionInfo, Listener } from './connection.js';
import { ServerSocket, type ListenerOptions } from './server-socket.js';

/** PEM material and client-certificate policy (file contents, not paths). */
export interface TlsListenerOptions extends ListenerOptions {
  cert: Buffer | string;
  key: Buffer | string;
  ca?: Buffer | string;
  /** Ask clients for a certificate. Clients without one (or with one that does not verify) are still accepted. */
  requestCert: boolean;
  /** `mqtt.connectTimeoutMs`: the TLS handshake must finish within it. */
  handshakeTimeoutMs: number;
}

/** A `tls.Server`; connections are rate-limited before the handshake, so a flood costs no crypto. */
export class TlsListener implements Listener {
  readonly kind = 'tls';
  readonly #server: Server;
  readonly #base: ServerSocket;
  readonly #requestCert: boolean;

  constructor(options: TlsListenerOptions) {
    this.#requestCert = options.requestCert;
    this.#server = createServer({
      cert: options.cert,
      key: options.key,
      ...(options.ca === undefined ? {} : { ca: options.ca }),
      requestCert: options.requestCert,
      // Unverified certificates are not rejected at the handshake (the client may authenticate with a password);
      // they are simply not passed on, so only a verified certificate can ever identify a client.
      rejectUnauthorized: false,
      handshakeTimeout: options.handshakeTimeoutMs,
      noDelay: true,
    });
    this.#base = new ServerSocket(this.#server, 'tls', options);
    this.#server.on('connection', (socket: Socket) => this.#base.admit(socket));
    this.#server.on('secureConnection', (socket: TLSSocket) => this.#onSecureConnection(socket));
    this.#server.on('tlsClientError', (error, socket) => {
      options.logger?.debug({ err: error, remoteAddress: socket.remoteAddress }, 'TLS handshake failed');
    });
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

  #onSecureConnection(socket: TLSSocket): void {
    const { remoteAddress, remotePort } = socket;
    if (remoteAddress === undefined || remotePort === undefined) {
      socket.destroy();
      return;
    }
    socket.on('error', () => undefined);
    socket.setNoDelay(true);
    const info: ConnectionInfo = { remoteAddress, remotePort, listener: 'tls' };
    if (this.#requestCert && socket.authorized) {
      const peerCertificate = socket.getPeerCertificate();
      if (Object.keys(peerCertificate).length > 0) info.peerCertificate = peerCertificate;
    }
    this.#base.handOver(socket, info);
  }
}
