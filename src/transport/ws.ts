/**
 * MQTT over WebSocket on the HTTP listener ([MQTT-6.0.0]): at `/mqtt`, and at `/api/mqtt/` where PlaceOS serves its
 * users' WebSocket MQTT API (device-apis.md §1.5). With TLS material the same listener is an HTTPS server (WSS). Each
 * WebSocket becomes a byte stream; a frame may carry part of a packet or several packets, and the broker's decoder
 * reassembles them.
 */
import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createWebSocketStream, WebSocketServer, type WebSocket } from 'ws';
import type { BoundAddress, Listener } from './connection.js';
import { ServerSocket, type ListenerOptions } from './server-socket.js';

/** Options of the HTTP listener that also carries MQTT over WebSocket. */
export interface WebSocketListenerOptions extends ListenerOptions {
  /** `mqtt.maxPacketSizeBytes`: the largest WebSocket message accepted. */
  maxPacketSizeBytes: number;
  /** `mqtt.connectTimeoutMs`: time allowed for the upgrade request's headers. */
  headersTimeoutMs: number;
  /** Answers every plain HTTP request (everything that is not a WebSocket upgrade). */
  requestListener: RequestListener;
  /** Upgrade paths for MQTT, matched exactly (query strings ignored); default {@link DEFAULT_MQTT_PATHS}. */
  paths?: readonly string[];
  /** PEM material (file contents): serve HTTPS and WSS instead of HTTP and WS. */
  tls?: { cert: Buffer | string; key: Buffer | string } | undefined;
}

/**
 * `/mqtt` (the broker's own) and `/api/mqtt/` (PlaceOS's route for users, where nginx proxies to its Mosquitto); the
 * form without the trailing slash too, since clients configured by hand often drop it.
 */
export const DEFAULT_MQTT_PATHS: readonly string[] = ['/mqtt', '/api/mqtt/', '/api/mqtt'];

/** Subprotocols in order of preference; `mqttv3.1` is what some 3.1-era clients still offer. */
const SUBPROTOCOLS = ['mqtt', 'mqttv3.1'] as const;

/** [MQTT-6.0.0-3] the server selects `mqtt` when offered; a client offering none is still served. */
function selectSubprotocol(offered: Set<string>): string | false {
  for (const name of SUBPROTOCOLS) if (offered.has(name)) return name;
  return false;
}

/** An HTTP (or HTTPS) server whose `upgrade` requests on the MQTT paths become MQTT connections. */
export class WebSocketListener implements Listener {
  readonly kind: 'ws' | 'wss';
  readonly #server: Server;
  readonly #wss: WebSocketServer;
  readonly #base: ServerSocket;
  readonly #paths: ReadonlySet<string>;

  constructor(options: WebSocketListenerOptions) {
    this.#paths = new Set(options.paths ?? DEFAULT_MQTT_PATHS);
    const common = { noDelay: true, headersTimeout: options.headersTimeoutMs };
    if (options.tls === undefined) {
      this.kind = 'ws';
      this.#server = createServer(common, options.requestListener);
    } else {
      this.kind = 'wss';
      // The handshake shares the headers' deadline, so a client that opens a socket and stalls costs no more than on WS.
      const { cert, key } = options.tls;
      this.#server = createHttpsServer(
        { ...common, cert, key, handshakeTimeout: options.headersTimeoutMs },
        options.requestListener,
      );
      this.#server.on('tlsClientError', (error: Error, socket: { remoteAddress?: string }) => {
        options.logger?.debug({ err: error, remoteAddress: socket.remoteAddress }, 'HTTPS handshake failed');
      });
    }
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxPacketSizeBytes,
      handleProtocols: selectSubprotocol,
      perMessageDeflate: false,
      clientTracking: false,
    });
    this.#base = new ServerSocket(this.#server, this.kind, options);
    this.#server.on('connection', (socket: Socket) => this.#base.admit(socket));
    this.#server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.#onUpgrade(request, socket, head),
    );
  }

  get stats() {
    return this.#base.stats;
  }

  listen(port: number, host: string): Promise<BoundAddress> {
    return this.#base.listen(port, host);
  }

  stopAccepting(): void {
    this.#base.stopAccepting();
    this.#server.closeIdleConnections();
  }

  async close(): Promise<void> {
    const closed = this.#base.close();
    this.#server.closeAllConnections();
    await closed;
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }

  #onUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (!this.#paths.has(pathOf(request.url))) {
      const body = JSON.stringify({ error: 'not_found', message: `no WebSocket endpoint at ${pathOf(request.url)}` });
      socket.end(
        `HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      return;
    }
    this.#wss.handleUpgrade(request, socket, head, (ws) => this.#onWebSocket(ws, request));
  }

  #onWebSocket(ws: WebSocket, request: IncomingMessage): void {
    const { remoteAddress, remotePort } = request.socket;
    const stream = createWebSocketStream(ws);
    stream.on('error', () => undefined);
    if (remoteAddress === undefined || remotePort === undefined) {
      stream.destroy();
      return;
    }
    // [MQTT-6.0.0-1] a text frame closes the connection; this runs before the stream pushes the frame's bytes.
    ws.prependListener('message', (_data: unknown, isBinary: boolean) => {
      if (!isBinary) stream.destroy();
    });
    // Behave like a socket (allowHalfOpen false): the duplex from createWebSocketStream only ends its readable side
    // when the WebSocket closes and never emits 'close' by itself; destroy it once the broker has read to the end.
    stream.once('end', () => stream.destroy());
    request.socket.setNoDelay(true);
    this.#base.handOver(stream, { remoteAddress, remotePort, listener: this.kind });
  }
}

function pathOf(url: string | undefined): string {
  if (url === undefined) return '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}
