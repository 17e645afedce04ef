/**
 * The value checks the SQLite schema enforces (STRICT types and CHECK constraints), as code, for stores without a
 * database (a delete op only needs the right types: in SQL it matches nothing). A store runs them over a whole batch before changing anything, so a bad op fails the batch atomically.
 */
import type { Properties } from '../mqtt/codec/index.js';
import type { StoredMessage, StoreOp } from './broker-store.js';

const maxUint16 = 0xffff;
const maxUint32 = 0xffffffff;
/** [MQTT-3.3.2.3.8] a Subscription Identifier is 1 .. 268,435,455 (0 = none in `StoredSubscription`). */
const maxSubscriptionId = 268_435_455;

/** Throws a TypeError or RangeError naming the first bad field of `op`. */
export function checkStoreOp(op: StoreOp): void {
  switch (op.op) {
    case 'putSession': {
      const { session } = op;
      checkString(session.clientId, 'session.clientId');
      checkOneOf(session.protocolVersion, [3, 4, 5], 'session.protocolVersion');
      checkInteger(session.sessionExpiryIntervalSeconds, 0, maxUint32, 'session.sessionExpiryIntervalSeconds');
      if (session.disconnectedAtMs !== null) {
        checkInteger(session.disconnectedAtMs, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 'disconnectedAtMs');
      }
      const { will } = session;
      if (will !== undefined) {
        checkString(will.topicName, 'will.topicName');
        checkBuffer(will.payload, 'will.payload');
        checkOneOf(will.qos, [0, 1, 2], 'will.qos');
        checkBoolean(will.isRetained, 'will.isRetained');
        checkProperties(will.properties, 'will.properties');
        checkInteger(will.delaySeconds, 0, maxUint32, 'will.delaySeconds');
      }
      return;
    }
    case 'deleteSession':
      checkString(op.clientId, 'clientId');
      return;
    case 'putSubscription': {
      const { subscription } = op;
      checkString(op.clientId, 'clientId');
      checkString(subscription.topicFilter, 'subscription.topicFilter');
      checkOneOf(subscription.qos, [0, 1, 2], 'subscription.qos');
      checkBoolean(subscription.noLocal, 'subscription.noLocal');
      checkBoolean(subscription.retainAsPublished, 'subscription.retainAsPublished');
      checkOneOf(subscription.retainHandling, [0, 1, 2], 'subscription.retainHandling');
      checkInteger(subscription.subscriptionId, 0, maxSubscriptionId, 'subscription.subscriptionId');
      return;
    }
    case 'deleteSubscription':
      checkString(op.clientId, 'clientId');
      checkString(op.topicFilter, 'topicFilter');
      return;
    case 'putMessage':
      checkMessage(op.message);
      return;
    case 'deleteMessage':
      checkNumber(op.id, 'id');
      return;
    case 'putDelivery': {
      const { delivery } = op;
      checkString(delivery.clientId, 'delivery.clientId');
      checkInteger(delivery.seq, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 'delivery.seq');
      checkInteger(delivery.messageId, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 'delivery.messageId');
      checkOneOf(delivery.qos, [0, 1, 2], 'delivery.qos');
      checkInteger(delivery.packetId, 0, maxUint16, 'delivery.packetId');
      checkOneOf(delivery.state, ['queued', 'sent', 'released'], 'delivery.state');
      if (!Array.isArray(delivery.subscriptionIds)) throw new TypeError('delivery.subscriptionIds is not an array');
      checkBoolean(delivery.isRetained, 'delivery.isRetained');
      return;
    }
    case 'deleteDelivery':
      checkString(op.clientId, 'clientId');
      checkNumber(op.seq, 'seq');
      return;
    case 'putIncomingQos2':
      checkString(op.clientId, 'clientId');
      // [MQTT-2.2.1-3] a QoS 2 PUBLISH has a non-zero packet identifier.
      checkInteger(op.packetId, 1, maxUint16, 'packetId');
      return;
    case 'deleteIncomingQos2':
      checkString(op.clientId, 'clientId');
      checkNumber(op.packetId, 'packetId');
      return;
    case 'putRetained':
      checkString(op.topicName, 'topicName');
      checkMessage(op.message);
      return;
    case 'deleteRetained':
      checkString(op.topicName, 'topicName');
      return;
    default:
      throw new TypeError(`unknown store op ${JSON.stringify((op as { op: unknown }).op)}`);
  }
}

function checkMessage(message: StoredMessage): void {
  checkInteger(message.id, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 'message.id');
  checkString(message.topicName, 'message.topicName');
  checkBuffer(message.payload, 'message.payload');
  checkOneOf(message.qos, [0, 1, 2], 'message.qos');
  checkBoolean(message.isRetained, 'message.isRetained');
  checkProperties(message.properties, 'message.properties');
  checkInteger(message.expiresAtMs, 0, Number.MAX_SAFE_INTEGER, 'message.expiresAtMs');
  checkString(message.publisherClientId, 'message.publisherClientId');
}

function checkString(value: unknown, name: string): void {
  if (typeof value !== 'string') throw new TypeError(`${name} is not a string`);
}

function checkBoolean(value: unknown, name: string): void {
  if (typeof value !== 'boolean') throw new TypeError(`${name} is not a boolean`);
}

function checkBuffer(value: unknown, name: string): void {
  if (!Buffer.isBuffer(value)) throw new TypeError(`${name} is not a Buffer`);
}

function checkNumber(value: unknown, name: string): void {
  if (typeof value !== 'number') throw new TypeError(`${name} is not a number`);
}

function checkInteger(value: unknown, min: number, max: number, name: string): void {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new TypeError(`${name} is not an integer`);
  if (value < min || value > max) throw new RangeError(`${name} ${value} is outside ${min} .. ${max}`);
}

function checkOneOf(value: unknown, allowed: readonly unknown[], name: string): void {
  if (!allowed.includes(value))
    throw new RangeError(`${name} ${JSON.stringify(value)} is not one of ${allowed.join(', ')}`);
}

function checkProperties(value: Properties | undefined, name: string): void {
  if (value !== undefined && (typeof value !== 'object' || value === null || Array.isArray(value))) {
    throw new TypeError(`${name} is not an object`);
  }
}
