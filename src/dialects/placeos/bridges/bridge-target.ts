/**
 * What a bridge connects to and how (the connection part of a bridge record), what it reports, and the MQTT.js
 * options made from it.
 */
import type { IClientOptions } from 'mqtt';

/** Where and how a bridge connects (everything of a bridge record but its name, filters and secret). */
export interface BridgeTarget {
  host: string;
  port: number;
  tls: boolean;
  /** PEM CA certificates the target's certificate is verified against (default: Node's bundled roots). */
  ca: string | null;
  /** PEM client certificate (chain) and its private key, for brokers that authenticate clients by certificate. */
  cert: string | null;
  key: string | null;
  rejectUnauthorized: boolean;
  username: string | null;
  password: string | null;
  clientId: string;
  topicPrefix: string;
  qos: 0 | 1;
}

/** What `GET /api/bridges/{id}` shows of the link. */
export interface BridgeStatus {
  connected: boolean;
  /** The last connection or publish error, kept after a reconnect so the cause of an outage stays visible. */
  lastError: string | null;
  lastErrorAt: number | null;
  /** Entries waiting to be published (the bounded buffer and the rest of a running resync). */
  queued: number;
  /** Publishes the target accepted (QoS 1: acknowledged; QoS 0: written to the socket). */
  sent: number;
  /** Entries dropped because the buffer was full, or because one was larger than the target accepts. */
  dropped: number;
  /** Entries a drop rule of the bridge's filters held back. */
  filtered: number;
  connectedAt: number | null;
  /** The MQTT version of the current (or last) connection. */
  protocolVersion: '5.0' | '3.1.1' | null;
  /** Failed connection attempts since the last successful one. */
  attempts: number;
  /** When the next attempt is due, while one is scheduled. */
  nextAttemptAt: number | null;
}

/** Keep Alive (MQTT §3.1.2.10): 60 s, as PlaceOS's publisher uses. */
const KEEPALIVE_SECONDS = 60;

/**
 * MQTT.js options for one attempt: clean start, no MQTT.js reconnect and no offline queue (the link owns both), TLS
 * with verification unless the bridge turned it off.
 */
export function clientOptions(target: BridgeTarget, version: 4 | 5, connectTimeoutMs: number): IClientOptions {
  const options: IClientOptions = {
    host: target.host,
    port: target.port,
    protocol: target.tls ? 'mqtts' : 'mqtt',
    protocolVersion: version,
    clientId: target.clientId,
    keepalive: KEEPALIVE_SECONDS,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: connectTimeoutMs,
    queueQoSZero: false,
    resubscribe: false,
  };
  if (target.username !== null) options.username = target.username;
  if (target.password !== null) options.password = target.password;
  if (target.tls) {
    // Verification stays on unless the bridge says otherwise (PlaceOS's publisher turns it off; we do not).
    options.rejectUnauthorized = target.rejectUnauthorized;
    if (target.ca !== null) options.ca = target.ca;
    if (target.cert !== null) options.cert = target.cert;
    if (target.key !== null) options.key = target.key;
  }
  return options;
}
