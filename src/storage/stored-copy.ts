/**
 * Deep copies of stored records, so a store's state never shares a Buffer, array or object with its caller
 *. `structuredClone` is not used: it turns a Buffer into a Uint8Array.
 */
import type { Properties } from '../mqtt/codec/index.js';
import type { StoredDelivery, StoredMessage, StoredSession, StoredSubscription, StoredWill } from './broker-store.js';

/** Copies properties: Buffers and arrays (including each user property pair) are new objects. */
export function copyProperties(properties: Properties | undefined): Properties | undefined {
  if (properties === undefined) return undefined;
  const copy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(properties)) {
    if (value === undefined) continue; // JSON (the SQLite encoding) drops it too
    if (Buffer.isBuffer(value)) copy[key] = Buffer.copyBytesFrom(value);
    else if (Array.isArray(value))
      copy[key] = value.map((item: unknown) => (Array.isArray(item) ? Array.from(item as unknown[]) : item));
    else copy[key] = value;
  }
  return copy;
}

/** Copies a message, optionally under another topic name. */
export function copyMessage(message: StoredMessage, topicName = message.topicName): StoredMessage {
  return {
    id: message.id,
    topicName,
    payload: Buffer.copyBytesFrom(message.payload),
    qos: message.qos,
    isRetained: message.isRetained,
    properties: copyProperties(message.properties),
    expiresAtMs: message.expiresAtMs,
    publisherClientId: message.publisherClientId,
  };
}

function copyWill(will: StoredWill | undefined): StoredWill | undefined {
  if (will === undefined) return undefined;
  return {
    topicName: will.topicName,
    payload: Buffer.copyBytesFrom(will.payload),
    qos: will.qos,
    isRetained: will.isRetained,
    properties: copyProperties(will.properties),
    delaySeconds: will.delaySeconds,
  };
}

/** Copies a session with its will. */
export function copySession(session: StoredSession): StoredSession {
  return {
    clientId: session.clientId,
    protocolVersion: session.protocolVersion,
    sessionExpiryIntervalSeconds: session.sessionExpiryIntervalSeconds,
    disconnectedAtMs: session.disconnectedAtMs,
    will: copyWill(session.will),
  };
}

/** Copies a subscription. */
export function copySubscription(subscription: StoredSubscription): StoredSubscription {
  return { ...subscription };
}

/** Copies a delivery with its subscription id list. */
export function copyDelivery(delivery: StoredDelivery): StoredDelivery {
  return { ...delivery, subscriptionIds: [...delivery.subscriptionIds] };
}
