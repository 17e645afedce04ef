/** What a transport hands to the broker, and the errors a listener reports. */
import type { Duplex } from 'node:stream';
import type { PeerCertificate } from 'node:tls';

/** Which listener a connection arrived on. */
export type ListenerKind = 'tcp' | 'tls' | 'ws' | 'wss';

/** Where a connection came from; the broker and its hooks see this same type. */
export interface ConnectionInfo {
  remoteAddress: string;
  remotePort: number;
  listener: ListenerKind;
  /** The client certificate, present only when the client sent one that verified against `tls.ca`. */
  peerCertificate?: PeerCertificate;
}

/** Receives every accepted connection (the broker). Must not throw; if it does, the connection is destroyed. */
export interface ConnectionHandler {
  handleConnection(stream: Duplex, info: ConnectionInfo): void;
}

/** The address a listener is bound to. */
export interface BoundAddress {
  address: string;
  port: number;
}

/** Stable codes for a listener that could not bind. */
export const ListenErrorCode = {
  PortInUse: 'PORT_IN_USE',
  PortAccessDenied: 'PORT_ACCESS_DENIED',
  AddressNotAvailable: 'ADDRESS_NOT_AVAILABLE',
  ListenFailed: 'LISTEN_FAILED',
} as const;
export type ListenErrorCode = (typeof ListenErrorCode)[keyof typeof ListenErrorCode];

/** A listener could not bind its port; `message` names the port. */
export class ListenError extends Error {
  override readonly name = 'ListenError';
  readonly code: ListenErrorCode;
  readonly listener: ListenerKind;
  readonly port: number;
  readonly host: string;
  constructor(
    code: ListenErrorCode,
    where: { listener: ListenerKind; port: number; host: string },
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.code = code;
    this.listener = where.listener;
    this.port = where.port;
    this.host = where.host;
  }
}

/** Counters a listener keeps. */
export interface ListenerStats {
  /** Connections handed to the broker. */
  accepted: number;
  /** Connections closed at once because `maxConnectionsPerSecond` was exceeded. */
  refusedByRate: number;
}

/** A bound server socket that feeds a {@link ConnectionHandler}. */
export interface Listener {
  readonly kind: ListenerKind;
  readonly stats: Readonly<ListenerStats>;
  /** Binds `port` on `host` (port 0 = any free port). Rejects with a {@link ListenError}. */
  listen(port: number, host: string): Promise<BoundAddress>;
  /** Stops accepting new connections; open ones stay (the broker closes them). */
  stopAccepting(): void;
  /** Stops accepting, destroys every connection still open, and resolves once the server is closed. */
  close(): Promise<void>;
}
