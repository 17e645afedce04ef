/** Builders and comparison helpers for the broker store tests (registers no tests). */
import type {
  BrokerSnapshot,
  StoredDelivery,
  StoredMessage,
  StoredSession,
  StoredSubscription,
  StoreOp,
} from '../../src/storage/index.js';

/** What a new store loads. */
export function emptySnapshot(): BrokerSnapshot {
  return {
    sessions: [],
    subscriptions: new Map(),
    deliveries: new Map(),
    incomingQos2: new Map(),
    messages: new Map(),
    retained: [],
    maxMessageId: 0,
    maxDeliverySeq: 0,
  };
}

/** A session, v5 by default. */
export function session(clientId: string, overrides: Partial<StoredSession> = {}): StoredSession {
  return {
    clientId,
    protocolVersion: 5,
    sessionExpiryIntervalSeconds: 3600,
    disconnectedAtMs: 1_700_000_000_000,
    will: undefined,
    ...overrides,
  };
}

/** A QoS 1 subscription with no options. */
export function subscription(topicFilter: string, overrides: Partial<StoredSubscription> = {}): StoredSubscription {
  return {
    topicFilter,
    qos: 1,
    noLocal: false,
    retainAsPublished: false,
    retainHandling: 0,
    subscriptionId: 0,
    ...overrides,
  };
}

/** A QoS 1 message with a small payload and no properties. */
export function message(id: number, overrides: Partial<StoredMessage> = {}): StoredMessage {
  return {
    id,
    topicName: `t/${id}`,
    payload: Buffer.from(`payload ${id}`),
    qos: 1,
    isRetained: false,
    properties: undefined,
    expiresAtMs: 0,
    publisherClientId: 'publisher',
    ...overrides,
  };
}

/** A queued QoS 1 delivery. */
export function delivery(
  clientId: string,
  seq: number,
  messageId: number,
  overrides: Partial<StoredDelivery> = {},
): StoredDelivery {
  return {
    clientId,
    seq,
    messageId,
    qos: 1,
    packetId: 0,
    state: 'queued',
    subscriptionIds: [],
    isRetained: false,
    ...overrides,
  };
}

/** The put op of a session or message. */
export function put(value: StoredSession | StoredMessage): StoreOp {
  return 'clientId' in value ? { op: 'putSession', session: value } : { op: 'putMessage', message: value };
}

/** The put op of a delivery. */
export function putDelivery(value: StoredDelivery): StoreOp {
  return { op: 'putDelivery', delivery: value };
}

/** The putRetained op of a message, under its own topic. */
export function retain(value: StoredMessage): StoreOp {
  return { op: 'putRetained', topicName: value.topicName, message: value };
}

/** A deep copy of a message, made independently of the stores' own copying. */
export function structuredCopy(value: StoredMessage): StoredMessage {
  const { properties } = value;
  return {
    ...value,
    payload: Buffer.from(value.payload),
    properties: properties && {
      ...properties,
      ...(properties.correlationData && { correlationData: Buffer.from(properties.correlationData) }),
      ...(properties.userProperties && {
        userProperties: properties.userProperties.map(([k, v]): [string, string] => [k, v]),
      }),
    },
  };
}

/** The two counters of a snapshot. */
export function counters(snapshot: BrokerSnapshot): { maxMessageId: number; maxDeliverySeq: number } {
  return { maxMessageId: snapshot.maxMessageId, maxDeliverySeq: snapshot.maxDeliverySeq };
}

/** Sessions sorted by client id. */
export function sortedSessions(snapshot: BrokerSnapshot): StoredSession[] {
  return snapshot.sessions.toSorted((a, b) => compare(a.clientId, b.clientId));
}

/** Subscriptions sorted by topic filter per client. */
export function sortedSubscriptions(map: Map<string, StoredSubscription[]>): Map<string, StoredSubscription[]> {
  return new Map([...map].map(([k, list]) => [k, list.toSorted((a, b) => compare(a.topicFilter, b.topicFilter))]));
}

/** Retained messages sorted by topic. */
export function sortedRetained(snapshot: BrokerSnapshot): StoredMessage[] {
  return snapshot.retained.toSorted((a, b) => compare(a.topicName, b.topicName));
}

/** Code-unit string order. */
export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
