/**
 * What the broker is configured with: limits, static ACL rules, the store, and hooks through which the platform
 * authenticates clients, authorizes topics and sees messages.
 */
import type { Logger } from 'pino';
import type { Properties, ProtocolVersion, QoS } from '../mqtt/codec/index.js';
import type { BrokerStore } from '../storage/index.js';
import type { ConnectionInfo } from '../transport/index.js';
import type { DeferredAck } from './deferred-ack.js';

/** Broker limits; the names and defaults are declared in the config schema (`docs/limits.md`). */
export interface BrokerLimits {
  maxPacketSizeBytes: number;
  /** Inbound QoS 1/2 PUBLISH a client may have unacknowledged (our v5 Receive Maximum). */
  receiveMaximum: number;
  /** Outbound QoS 1/2 PUBLISH unacknowledged per client (further capped by the client's Receive Maximum). */
  maxInflight: number;
  /** Messages queued per client beyond those in flight; overflow drops QoS 0 first. */
  maxQueuedMessages: number;
  maxKeepAliveSeconds: number;
  topicAliasMaximum: number;
  maxTopicLengthBytes: number;
  maxTopicLevels: number;
  maxSubscriptionsPerClient: number;
  connectTimeoutMs: number;
  drainDeadlineMs: number;
  /** How long a 3.1.1 clean-session-0 session outlives its connection. */
  sessionExpirySeconds: number;
  maxSessionExpirySeconds: number;
  maxRetainedMessages: number;
  sysIntervalSeconds: number;
}

/** One static ACL rule; the first rule that matches decides, no match allows. */
export interface AclRule {
  action: 'publish' | 'subscribe' | 'all';
  /** A topic filter; for subscriptions it is matched against the requested filter taken literally. */
  topic: string;
  allow: boolean;
  users?: string[] | undefined;
  clientIds?: string[] | undefined;
}

/** Where a connection came from: the transport's description, as listeners hand it over. */
export type { ConnectionInfo };

/** A connected (or connecting) client as hooks see it. */
export interface ClientInfo {
  readonly clientId: string;
  readonly username: string | undefined;
  readonly protocolVersion: ProtocolVersion;
  readonly connection: ConnectionInfo;
  /** Whatever `authenticate` attached (e.g. the platform's device or user). */
  readonly identity: unknown;
}

/** What `authenticate` sees of a CONNECT. */
export interface ConnectRequest {
  clientId: string;
  username: string | undefined;
  password: Buffer | undefined;
  protocolVersion: ProtocolVersion;
  connection: ConnectionInfo;
}

export type AuthenticateResult =
  | { ok: true; identity?: unknown }
  /** `reasonCode` is a v5 CONNACK reason (0x86 bad credentials, 0x87 not authorized, ...); mapped for 3.1.1. */
  | { ok: false; reasonCode: number };

/** A message on its way in, after authorization. */
export interface InboundMessage {
  topicName: string;
  payload: Buffer;
  qos: QoS;
  isRetained: boolean;
  properties: Properties | undefined;
}

/**
 * What the message hook decides: route the message (optionally transformed); drop it (with a v5 reason code for the
 * PUBACK/PUBREC, e.g. 0x99 Payload format invalid); consume it (not routed; the PUBACK/PUBREC waits until the hook's
 * owner settles `ack`, e.g. after a commit); or close the connection (v5 DISCONNECT with the code). Answers are sent
 * with `Broker.sendToClient`.
 */
export type MessageVerdict =
  | { action: 'route'; message?: InboundMessage }
  | { action: 'drop'; reasonCode?: number; reasonString?: string }
  | { action: 'consume'; ack: DeferredAck }
  | { action: 'disconnect'; reasonCode: number; reasonString?: string };

/** A subscription granted with a delivery guard (an opaque string the hook owner interprets in `canDeliver`). */
export interface GuardedGrant {
  qos: QoS;
  guard: string;
}

/** What `canDeliver` sees of a message. */
export interface GuardedMessage {
  readonly topicName: string;
  /** The publishing client's id; '' for messages the server published itself (`Broker.publish`). */
  readonly publisherClientId: string;
  /**
   * The payload, shared by every subscriber (one Buffer per message): a guard whose answer depends on the message,
   * not only on its topic (a CloudPlugs private record), reads it; never changed by a guard.
   */
  readonly payload: Buffer;
}

/** Hooks for the platform; every hook is optional and the default allows. */
export interface BrokerHooks {
  /** Accept or refuse a CONNECT; may attach an identity. When set it decides alone (`allowAnonymous` is not consulted). */
  authenticate?: (request: ConnectRequest) => AuthenticateResult | Promise<AuthenticateResult>;
  /** `true` to allow; a v5 reason code (0x87 ...) to refuse. */
  authorizePublish?: (client: ClientInfo, topicName: string, qos: QoS, isRetained: boolean) => true | number;
  /**
   * Granted QoS 0..2 (may be lower than requested: a downgrade), or a v5 reason code >= 0x80 to refuse; or a grant
   * with a delivery guard, which `canDeliver` then judges for every message the filter matches.
   */
  authorizeSubscribe?: (client: ClientInfo, topicFilter: string, qos: QoS) => number | GuardedGrant;
  /**
   * For subscriptions granted with a guard: may this message reach the subscriber? Called once per matching guarded
   * subscription, on live and retained delivery, also for sessions whose client is offline (the guard is persisted
   * with the subscription, the client's identity is not). Must be cheap and synchronous; a throw counts as false.
   */
  canDeliver?: (guard: string, message: GuardedMessage) => boolean;
  /** After authorization, before routing. */
  onMessage?: (client: ClientInfo, message: InboundMessage) => MessageVerdict | undefined;
  onClientConnected?: (client: ClientInfo) => void;
  onClientDisconnected?: (client: ClientInfo, reasonCode: number) => void;
}

export interface BrokerOptions {
  limits: BrokerLimits;
  acl: readonly AclRule[];
  allowAnonymous: boolean;
  store: BrokerStore;
  logger: Logger;
  hooks?: BrokerHooks | undefined;
  /** Reported on `$SYS/broker/version`. */
  version?: string | undefined;
}
