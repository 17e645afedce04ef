/** Messages as the broker routes them, and one message's trip to one session. */
import type { Properties, QoS } from '../mqtt/codec/index.js';

/**
 * An application message, shared by every session it is delivered to. The payload is owned (copied out of the
 * socket chunk) whenever the message outlives the tick it arrived in.
 */
export interface Message {
  /** Store id; 0 until the message is first persisted. */
  id: number;
  topicName: string;
  payload: Buffer;
  qos: QoS;
  isRetained: boolean;
  /** Forwardable properties only (MQTT 5 §3.3.2.3.4, §3.3.4: topic alias and subscription ids are per hop). */
  properties: Properties | undefined;
  /** Epoch ms; 0 = never expires. */
  expiresAtMs: number;
  publisherClientId: string;
  /** Persisted deliveries that reference this message; at 0 the stored copy is deleted. */
  storedRefs: number;
  /** Whether `payload` is owned by the message rather than a view into a socket chunk. */
  isPayloadOwned: boolean;
  /**
   * Encoded QoS 0 PUBLISH heads shared by every subscriber that needs no per-subscriber property ([STYLE hot path
   * 2]): index 0 = 3.1.1, 1 = v5; retain flag clear. Filled lazily during fan-out.
   */
  qos0Heads: [Buffer | undefined, Buffer | undefined] | undefined;
  /**
   * For a message the platform sent to one client (`Broker.sendToClient`): called once the client has it (QoS 0:
   * written; QoS 1: PUBACK; QoS 2: PUBCOMP). RPC delivery states hang on this.
   */
  onAcknowledged: (() => void) | undefined;
  /**
   * A retained message kept in memory only (`Broker.publish` with `persistRetained: false`): state its publisher
   * republishes at every start, such as the PlaceOS feed, so writing it to the store would only cost.
   */
  isRetainedInMemoryOnly: boolean;
  /**
   * Delivered only through guarded subscriptions, each guard deciding (`Broker.publish` with `guardedOnly`): a
   * message whose audience a dialect decides per subscriber (a CloudPlugs private record), which a plain subscription
   * matching the topic (an anonymous `#`) must not receive. Never retained, so it matters only while routing.
   */
  isGuardedOnly: boolean;
}

/** One message on its way to one session: queued, or sent and awaiting acknowledgement. */
export interface Delivery {
  message: Message;
  qos: QoS;
  isRetained: boolean;
  subscriptionIds: number[] | undefined;
  /** 0 while queued. */
  packetId: number;
  /** 'sent' awaits PUBACK/PUBREC; 'released' awaits PUBCOMP. */
  state: 'queued' | 'sent' | 'released';
  /** Order within a persistent session; 0 for sessions that are not persisted. */
  seq: number;
  /** The shared group it was chosen from, when it came through a shared subscription alone (for re-dispatch). */
  sharedGroup: SharedGroupRef | undefined;
}

/** A shared subscription group, as a delivery refers to it; the broker owns the group itself. */
export interface SharedGroupRef {
  readonly kind: 'shared';
}

/** Copies the payload out of a socket chunk so the message may be kept ([STYLE hot path 4]). */
export function ownPayload(message: Message): void {
  if (message.isPayloadOwned) return;
  message.payload = Buffer.copyBytesFrom(message.payload);
  message.isPayloadOwned = true;
}

/** Remaining expiry in whole seconds, rounded up, for the forwarded Message Expiry Interval ([MQTT-3.3.2-6]). */
export function remainingExpirySeconds(message: Message, nowMs: number): number {
  return Math.max(1, Math.ceil((message.expiresAtMs - nowMs) / 1000));
}

/** Properties that travel with the message to subscribers (never topic alias or subscription identifiers). */
export function forwardableProperties(properties: Properties | undefined): Properties | undefined {
  if (properties === undefined) return undefined;
  const out: Properties = {};
  let isEmpty = true;
  if (properties.payloadFormatIndicator !== undefined) {
    out.payloadFormatIndicator = properties.payloadFormatIndicator;
    isEmpty = false;
  }
  if (properties.contentType !== undefined) {
    out.contentType = properties.contentType;
    isEmpty = false;
  }
  if (properties.responseTopic !== undefined) {
    out.responseTopic = properties.responseTopic;
    isEmpty = false;
  }
  if (properties.correlationData !== undefined) {
    out.correlationData = Buffer.copyBytesFrom(properties.correlationData);
    isEmpty = false;
  }
  if (properties.userProperties !== undefined) {
    out.userProperties = properties.userProperties;
    isEmpty = false;
  }
  return isEmpty ? undefined : out;
}
