/**
 * What the broker persists, and the one interface every broker store implements. The broker keeps its working state
 * in memory and writes changes behind it in batches (group commit): `apply` runs one batch in one transaction, and
 * the broker acknowledges QoS 1/2 publishers only after the batch holding their messages returned.
 */
import type { Properties, QoS } from '../mqtt/codec/index.js';

/** A message as stored: payload copied, forwardable v5 properties kept, expiry as an absolute time. */
export interface StoredMessage {
  /** Broker-assigned, unique across restarts (the store reports the highest on load). */
  id: number;
  topicName: string;
  payload: Buffer;
  qos: QoS;
  isRetained: boolean;
  /** Forwardable PUBLISH properties (payload format, content type, response topic, correlation data, user properties). */
  properties: Properties | undefined;
  /** Epoch ms after which the message is dropped; 0 = never ([MQTT-3.3.2-5]). */
  expiresAtMs: number;
  /** Client id of the publisher, for No Local across reconnects. */
  publisherClientId: string;
}

export interface StoredSubscription {
  topicFilter: string;
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
  /** 0 = none. */
  subscriptionId: number;
  /** The delivery guard the subscription was granted with (see BrokerHooks.canDeliver); absent = none. */
  guard?: string | undefined;
}

/**
 * One message on its way to one persistent session. `packetId` 0 = still queued; otherwise sent and awaiting
 * PUBACK/PUBREC (`state` 'sent') or PUBCOMP (`state` 'released').
 */
export interface StoredDelivery {
  clientId: string;
  /** Order within the session (monotonic per broker). */
  seq: number;
  messageId: number;
  /** Delivery QoS (the minimum of publish and subscription QoS). */
  qos: QoS;
  packetId: number;
  state: 'queued' | 'sent' | 'released';
  /** Subscription identifiers to send with it (v5). */
  subscriptionIds: number[];
  /** Retain flag to send with it (retain-as-published or retained-on-subscribe). */
  isRetained: boolean;
}

export interface StoredWill {
  topicName: string;
  payload: Buffer;
  qos: QoS;
  isRetained: boolean;
  properties: Properties | undefined;
  delaySeconds: number;
}

export interface StoredSession {
  clientId: string;
  protocolVersion: 3 | 4 | 5;
  /** Seconds the session outlives its connection; 0xFFFFFFFF = never expires. */
  sessionExpiryIntervalSeconds: number;
  /** Epoch ms of the last disconnect; null while connected (after a crash: treat as disconnected at load time). */
  disconnectedAtMs: number | null;
  will: StoredWill | undefined;
}

/** One write; a batch is applied in order inside one transaction. */
export type StoreOp =
  | { op: 'putSession'; session: StoredSession }
  /** Removes the session with its subscriptions, deliveries and incoming QoS 2 ids. */
  | { op: 'deleteSession'; clientId: string }
  | { op: 'putSubscription'; clientId: string; subscription: StoredSubscription }
  | { op: 'deleteSubscription'; clientId: string; topicFilter: string }
  | { op: 'putMessage'; message: StoredMessage }
  | { op: 'deleteMessage'; id: number }
  /** Insert or replace by (clientId, seq). */
  | { op: 'putDelivery'; delivery: StoredDelivery }
  | { op: 'deleteDelivery'; clientId: string; seq: number }
  /** A QoS 2 PUBLISH received and not yet released by PUBREL ([MQTT-4.3.3-9]). */
  | { op: 'putIncomingQos2'; clientId: string; packetId: number }
  | { op: 'deleteIncomingQos2'; clientId: string; packetId: number }
  /** Retained message per topic, stored with the entry (self-contained: needs no putMessage, keeps no message alive). */
  | { op: 'putRetained'; topicName: string; message: StoredMessage }
  | { op: 'deleteRetained'; topicName: string };

/** Everything the broker needs to resume after a restart. */
export interface BrokerSnapshot {
  sessions: StoredSession[];
  subscriptions: Map<string, StoredSubscription[]>;
  /** Per client, ordered by seq. */
  deliveries: Map<string, StoredDelivery[]>;
  incomingQos2: Map<string, number[]>;
  /** Messages referenced by deliveries, by id. */
  messages: Map<number, StoredMessage>;
  retained: StoredMessage[];
  /** Highest message id and delivery seq ever stored, so new ones never collide. */
  maxMessageId: number;
  maxDeliverySeq: number;
}

/** A broker store. Implementations: SQLite (durable, default) and memory (nothing survives a restart). */
export interface BrokerStore {
  /** Human-readable name for logs. */
  readonly kind: string;
  /** Reads the whole persisted state; also deletes messages no delivery references. */
  load(): BrokerSnapshot;
  /** Applies the ops in one transaction; durable when it returns. Throws on failure, applying nothing. */
  apply(ops: readonly StoreOp[]): void;
  /**
   * Optional: the same off the event loop (a writer thread); resolves once the batch is durable, rejects (applying
   * nothing of it) on failure. Batches apply in call order. A store that has it is written only through it while it
   * runs, so `apply` and this are never interleaved.
   */
  applyInBackground?(ops: readonly StoreOp[]): Promise<void>;
  /** Releases the storage; resolves once every file is closed (a WAL checkpointer's last checkpoint included). */
  close(): Promise<void>;
}
