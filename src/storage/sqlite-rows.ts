/**
 * Rows of the SQLite broker store and their mapping to stored records (column names as in `sqlite-schema.ts`).
 */
import type { QoS } from '../mqtt/codec/index.js';
import type { StoredDelivery, StoredMessage, StoredSession, StoredSubscription } from './broker-store.js';
import { decodeProperties, encodeProperties } from './properties-json.js';

/** Bind values of a message row, in column order (`messages`, and `retained` with the topic name as key). */
export type MessageColumns = [number, string, Buffer, number, number, string | null, number, string];

/** A `messages` row (also a `retained` row, selected with `message_id AS id`). */
export interface MessageRow {
  id: number;
  topic_name: string;
  payload: Buffer;
  qos: number;
  is_retained: number;
  properties: string | null;
  expires_at_ms: number;
  publisher_client_id: string;
}

/** A `sessions` row; the will columns are all NULL when there is no will. */
export interface SessionRow {
  client_id: string;
  protocol_version: number;
  session_expiry_interval_s: number;
  disconnected_at_ms: number | null;
  will_topic_name: string | null;
  will_payload: Buffer | null;
  will_qos: number | null;
  will_is_retained: number | null;
  will_properties: string | null;
  will_delay_s: number | null;
}

/** A `subscriptions` row. */
export interface SubscriptionRow {
  client_id: string;
  topic_filter: string;
  qos: number;
  no_local: number;
  retain_as_published: number;
  retain_handling: number;
  subscription_id: number;
  guard: string | null;
}

/** A `deliveries` row. */
export interface DeliveryRow {
  client_id: string;
  seq: number;
  message_id: number;
  qos: number;
  packet_id: number;
  state: number;
  subscription_ids: string;
  is_retained: number;
}

/** `deliveries.state`: the index is the stored code. */
const deliveryStates: readonly StoredDelivery['state'][] = ['queued', 'sent', 'released'];

/** The stored code of a delivery state; -1 (refused by the CHECK constraint) for anything else. */
export function deliveryStateCode(state: StoredDelivery['state']): number {
  switch (state) {
    case 'queued':
      return 0;
    case 'sent':
      return 1;
    case 'released':
      return 2;
    default:
      return -1;
  }
}

/** The bind values of a message row under `topicName`. */
export function messageColumns(topicName: string, message: StoredMessage): MessageColumns {
  return [
    message.id,
    topicName,
    message.payload,
    message.qos,
    message.isRetained ? 1 : 0,
    encodeProperties(message.properties),
    message.expiresAtMs,
    message.publisherClientId,
  ];
}

/** Maps a `sessions` row to a session. */
export function toSession(row: SessionRow): StoredSession {
  return {
    clientId: row.client_id,
    protocolVersion: row.protocol_version as StoredSession['protocolVersion'],
    sessionExpiryIntervalSeconds: row.session_expiry_interval_s,
    disconnectedAtMs: row.disconnected_at_ms,
    will:
      row.will_topic_name === null
        ? undefined
        : {
            topicName: row.will_topic_name,
            payload: row.will_payload!,
            qos: row.will_qos as QoS,
            isRetained: row.will_is_retained === 1,
            properties: decodeProperties(row.will_properties),
            delaySeconds: row.will_delay_s!,
          },
  };
}

/** Maps a `subscriptions` row to a subscription. */
export function toSubscription(row: SubscriptionRow): StoredSubscription {
  return {
    topicFilter: row.topic_filter,
    qos: row.qos as QoS,
    noLocal: row.no_local === 1,
    retainAsPublished: row.retain_as_published === 1,
    retainHandling: row.retain_handling as StoredSubscription['retainHandling'],
    subscriptionId: row.subscription_id,
    ...(row.guard === null ? {} : { guard: row.guard }),
  };
}

/** Maps a `deliveries` row to a delivery. */
export function toDelivery(row: DeliveryRow): StoredDelivery {
  return {
    clientId: row.client_id,
    seq: row.seq,
    messageId: row.message_id,
    qos: row.qos as QoS,
    packetId: row.packet_id,
    state: deliveryStates[row.state]!,
    subscriptionIds: row.subscription_ids === '' ? [] : row.subscription_ids.split(',').map(Number),
    isRetained: row.is_retained === 1,
  };
}

/** Maps a `messages` or `retained` row to a message. */
export function toMessage(row: MessageRow): StoredMessage {
  return {
    id: row.id,
    topicName: row.topic_name,
    payload: row.payload,
    qos: row.qos as QoS,
    isRetained: row.is_retained === 1,
    properties: decodeProperties(row.properties),
    expiresAtMs: row.expires_at_ms,
    publisherClientId: row.publisher_client_id,
  };
}
