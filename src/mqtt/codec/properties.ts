/**
 * MQTT 5 properties [MQTT-2.2.2]: one table gives each property its identifier, data type and the packets that may
 * carry it; decoding and encoding are both driven by it.
 */
import { ProtocolError } from './errors.js';
import { PacketType, type Properties } from './packets.js';
import { malformed, protocolError, type Reader } from './reader.js';
import { ReasonCode } from './reason-codes.js';
import { binarySize, utf8Size, varintSize, writeBinary, writeUtf8, writeVarint } from './writer.js';

/** Where a property section sits: a packet type (1..15), or {@link WILL_PROPERTIES} for the CONNECT will. */
export type PropertyContext = number;
/** Will properties live in CONNECT's payload and have their own allowed set [MQTT-3.1.3.2]. */
export const WILL_PROPERTIES: PropertyContext = 0;

const DataType = { Byte: 1, TwoByteInt: 2, FourByteInt: 3, VarInt: 4, Utf8: 5, Binary: 6, StringPair: 7 } as const;
type DataType = (typeof DataType)[keyof typeof DataType];

/** How a decoded value is checked beyond its data type. */
const Check = { None: 0, ZeroOrOne: 1, NonZero: 2, TopicAlias: 3 } as const;
type Check = (typeof Check)[keyof typeof Check];

interface PropertyDescriptor {
  readonly id: number;
  readonly name: string;
  readonly key: keyof Properties;
  readonly dataType: DataType;
  /** Bit n set: allowed in context n (packet type n, bit 0 = will properties). */
  readonly allowedIn: number;
  readonly check: Check;
}

const WILL = 1 << WILL_PROPERTIES;
const CONNECT = 1 << PacketType.Connect;
const CONNACK = 1 << PacketType.Connack;
const PUBLISH = 1 << PacketType.Publish;
const ACKS = (1 << PacketType.Puback) | (1 << PacketType.Pubrec) | (1 << PacketType.Pubrel) | (1 << PacketType.Pubcomp);
const SUBSCRIBE = 1 << PacketType.Subscribe;
const SUBACK = 1 << PacketType.Suback;
const UNSUBSCRIBE = 1 << PacketType.Unsubscribe;
const UNSUBACK = 1 << PacketType.Unsuback;
const DISCONNECT = 1 << PacketType.Disconnect;
const AUTH = 1 << PacketType.Auth;
const ALL = WILL | CONNECT | CONNACK | PUBLISH | ACKS | SUBSCRIBE | SUBACK | UNSUBSCRIBE | UNSUBACK | DISCONNECT | AUTH;

const SUBSCRIPTION_IDENTIFIER = 0x0b;
const USER_PROPERTY = 0x26;

// [MQTT-2.2.2.2] Table 2-4: identifier, name, type, packets.
const DESCRIPTOR_LIST: readonly PropertyDescriptor[] = [
  d(0x01, 'Payload Format Indicator', 'payloadFormatIndicator', DataType.Byte, PUBLISH | WILL, Check.ZeroOrOne),
  d(0x02, 'Message Expiry Interval', 'messageExpiryInterval', DataType.FourByteInt, PUBLISH | WILL),
  d(0x03, 'Content Type', 'contentType', DataType.Utf8, PUBLISH | WILL),
  d(0x08, 'Response Topic', 'responseTopic', DataType.Utf8, PUBLISH | WILL),
  d(0x09, 'Correlation Data', 'correlationData', DataType.Binary, PUBLISH | WILL),
  d(0x0b, 'Subscription Identifier', 'subscriptionIdentifiers', DataType.VarInt, PUBLISH | SUBSCRIBE, Check.NonZero),
  d(0x11, 'Session Expiry Interval', 'sessionExpiryInterval', DataType.FourByteInt, CONNECT | CONNACK | DISCONNECT),
  d(0x12, 'Assigned Client Identifier', 'assignedClientIdentifier', DataType.Utf8, CONNACK),
  d(0x13, 'Server Keep Alive', 'serverKeepAlive', DataType.TwoByteInt, CONNACK),
  d(0x15, 'Authentication Method', 'authenticationMethod', DataType.Utf8, CONNECT | CONNACK | AUTH),
  d(0x16, 'Authentication Data', 'authenticationData', DataType.Binary, CONNECT | CONNACK | AUTH),
  d(0x17, 'Request Problem Information', 'requestProblemInformation', DataType.Byte, CONNECT, Check.ZeroOrOne),
  d(0x18, 'Will Delay Interval', 'willDelayInterval', DataType.FourByteInt, WILL),
  d(0x19, 'Request Response Information', 'requestResponseInformation', DataType.Byte, CONNECT, Check.ZeroOrOne),
  d(0x1a, 'Response Information', 'responseInformation', DataType.Utf8, CONNACK),
  d(0x1c, 'Server Reference', 'serverReference', DataType.Utf8, CONNACK | DISCONNECT),
  d(0x1f, 'Reason String', 'reasonString', DataType.Utf8, CONNACK | ACKS | SUBACK | UNSUBACK | DISCONNECT | AUTH),
  d(0x21, 'Receive Maximum', 'receiveMaximum', DataType.TwoByteInt, CONNECT | CONNACK, Check.NonZero),
  d(0x22, 'Topic Alias Maximum', 'topicAliasMaximum', DataType.TwoByteInt, CONNECT | CONNACK),
  d(0x23, 'Topic Alias', 'topicAlias', DataType.TwoByteInt, PUBLISH, Check.TopicAlias),
  d(0x24, 'Maximum QoS', 'maximumQoS', DataType.Byte, CONNACK, Check.ZeroOrOne),
  d(0x25, 'Retain Available', 'retainAvailable', DataType.Byte, CONNACK, Check.ZeroOrOne),
  d(0x26, 'User Property', 'userProperties', DataType.StringPair, ALL),
  d(0x27, 'Maximum Packet Size', 'maximumPacketSize', DataType.FourByteInt, CONNECT | CONNACK, Check.NonZero),
  d(0x28, 'Wildcard Subscription Available', 'wildcardSubscriptionAvailable', DataType.Byte, CONNACK, Check.ZeroOrOne),
  d(
    0x29,
    'Subscription Identifier Available',
    'subscriptionIdentifiersAvailable',
    DataType.Byte,
    CONNACK,
    Check.ZeroOrOne,
  ),
  d(0x2a, 'Shared Subscription Available', 'sharedSubscriptionAvailable', DataType.Byte, CONNACK, Check.ZeroOrOne),
];

function d(
  id: number,
  name: string,
  key: keyof Properties,
  dataType: DataType,
  allowedIn: number,
  check: Check = Check.None,
): PropertyDescriptor {
  return { id, name, key, dataType, allowedIn, check };
}

const DESCRIPTORS_BY_ID: (PropertyDescriptor | undefined)[] = [];
const DESCRIPTORS_BY_KEY = new Map<string, PropertyDescriptor>();
for (const descriptor of DESCRIPTOR_LIST) {
  DESCRIPTORS_BY_ID[descriptor.id] = descriptor;
  DESCRIPTORS_BY_KEY.set(descriptor.key, descriptor);
}

/**
 * Reads a property section (Property Length, then properties) at the reader's position. Returns `undefined` for an
 * empty section so hot paths can test cheaply.
 */
export function readProperties(reader: Reader, context: PropertyContext): Properties | undefined {
  const length = reader.varint('property length');
  if (length === 0) return undefined;
  if (length > reader.remainingBytes) throw malformed('property length runs past the end of the packet');
  const packetEnd = reader.end;
  // Bound every read to the property section, so a value cannot spill into the payload.
  reader.end = reader.pos + length;
  const properties: Properties = {};
  const bag = properties as Partial<Record<keyof Properties, unknown>>;
  const contextBit = 1 << context;
  while (reader.pos < reader.end) {
    // Identifiers are Variable Byte Integers, but every defined one is < 0x80 and so a single byte.
    const id = reader.u8('property identifier');
    const descriptor = DESCRIPTORS_BY_ID[id];
    // [MQTT-2.2.2.2] an identifier not valid for the packet type is a Malformed Packet.
    if (descriptor === undefined) throw malformed(`unknown property identifier 0x${id.toString(16)}`);
    if ((descriptor.allowedIn & contextBit) === 0) throw malformed(`${descriptor.name} is not allowed here`);
    if (id === USER_PROPERTY) {
      const name = reader.utf8('user property name');
      const value = reader.utf8('user property value');
      (properties.userProperties ??= []).push([name, value]);
      continue;
    }
    const value = readValue(reader, descriptor);
    if (typeof value === 'number') checkValue(descriptor, value);
    if (id === SUBSCRIPTION_IDENTIFIER) {
      // [MQTT-3.8.2.1.2] at most one in SUBSCRIBE; a PUBLISH to a client may carry one per matching subscription.
      if (context === PacketType.Subscribe && properties.subscriptionIdentifiers !== undefined) {
        throw protocolError('Subscription Identifier included more than once');
      }
      (properties.subscriptionIdentifiers ??= []).push(value as number);
      continue;
    }
    // [MQTT-2.2.2.2] "It is a Protocol Error to include the <property> more than once".
    if (bag[descriptor.key] !== undefined) throw protocolError(`${descriptor.name} included more than once`);
    bag[descriptor.key] = value;
  }
  reader.end = packetEnd;
  return properties;
}

function readValue(reader: Reader, descriptor: PropertyDescriptor): number | string | Buffer {
  switch (descriptor.dataType) {
    case DataType.Byte:
      return reader.u8(descriptor.name);
    case DataType.TwoByteInt:
      return reader.u16(descriptor.name);
    case DataType.FourByteInt:
      return reader.u32(descriptor.name);
    case DataType.VarInt:
      return reader.varint(descriptor.name);
    case DataType.Utf8:
      return reader.utf8(descriptor.name);
    case DataType.Binary:
      return reader.binary(descriptor.name);
    case DataType.StringPair:
      throw new TypeError('string pairs are read by the caller');
  }
}

function checkValue(descriptor: PropertyDescriptor, value: number): void {
  switch (descriptor.check) {
    case Check.None:
      return;
    case Check.ZeroOrOne:
      // e.g. [MQTT-3.2.2.3.4] Maximum QoS, [MQTT-3.1.2.11.7] Request Problem Information: other values are Protocol Errors.
      if (value > 1) throw protocolError(`${descriptor.name} must be 0 or 1, got ${value}`);
      return;
    case Check.NonZero:
      // Receive Maximum, Maximum Packet Size [MQTT-3.1.2.11.3/4], Subscription Identifier [MQTT-3.8.2.1.2].
      if (value === 0) throw protocolError(`${descriptor.name} must not be 0`);
      return;
    case Check.TopicAlias:
      // [MQTT-3.3.2-8] a Topic Alias of 0 is not permitted; EMQX and the 0x94 definition treat it as an invalid alias.
      if (value === 0) throw new ProtocolError(ReasonCode.TopicAliasInvalid, 'Topic Alias must not be 0');
      return;
  }
}

/**
 * Size in bytes of the property list (without its Property Length prefix). Only properties allowed in `context` are
 * counted, and {@link writeProperties} writes exactly those: the encoder never emits a property the peer must reject.
 */
export function propertiesSize(properties: Properties | undefined, context: PropertyContext): number {
  if (properties === undefined) return 0;
  const contextBit = 1 << context;
  let size = 0;
  // Walk the bag's own keys, not the whole table: a fan-out head usually carries one or two properties.
  for (const key in properties) {
    const descriptor = DESCRIPTORS_BY_KEY.get(key);
    if (descriptor === undefined || (descriptor.allowedIn & contextBit) === 0) continue;
    const value = properties[descriptor.key];
    if (value === undefined) continue;
    if (descriptor.id === USER_PROPERTY) {
      for (const [name, pairValue] of value as [string, string][]) size += 1 + utf8Size(name) + utf8Size(pairValue);
    } else if (descriptor.id === SUBSCRIPTION_IDENTIFIER) {
      for (const id of value as number[]) size += 1 + varintSize(id);
    } else {
      size += 1 + valueSize(descriptor.dataType, value as number | string | Buffer);
    }
  }
  return size;
}

function valueSize(dataType: DataType, value: number | string | Buffer): number {
  switch (dataType) {
    case DataType.Byte:
      return 1;
    case DataType.TwoByteInt:
      return 2;
    case DataType.FourByteInt:
      return 4;
    case DataType.VarInt:
      return varintSize(value as number);
    case DataType.Utf8:
      return utf8Size(value as string);
    case DataType.Binary:
      return binarySize(value as Buffer);
    case DataType.StringPair:
      throw new TypeError('string pairs are sized by the caller');
  }
}

/** Writes Property Length (`size`, from {@link propertiesSize}) and the properties; returns the next position. */
export function writeProperties(
  buf: Buffer,
  pos: number,
  properties: Properties | undefined,
  context: PropertyContext,
  size: number,
): number {
  pos = writeVarint(buf, pos, size);
  if (size === 0 || properties === undefined) return pos;
  const contextBit = 1 << context;
  for (const key in properties) {
    const descriptor = DESCRIPTORS_BY_KEY.get(key);
    if (descriptor === undefined || (descriptor.allowedIn & contextBit) === 0) continue;
    const value = properties[descriptor.key];
    if (value === undefined) continue;
    if (descriptor.id === USER_PROPERTY) {
      for (const [name, pairValue] of value as [string, string][]) {
        buf[pos++] = USER_PROPERTY;
        pos = writeUtf8(buf, pos, name);
        pos = writeUtf8(buf, pos, pairValue);
      }
    } else if (descriptor.id === SUBSCRIPTION_IDENTIFIER) {
      for (const id of value as number[]) {
        buf[pos++] = SUBSCRIPTION_IDENTIFIER;
        pos = writeVarint(buf, pos, id);
      }
    } else {
      buf[pos++] = descriptor.id;
      pos = writeValue(buf, pos, descriptor.dataType, value as number | string | Buffer);
    }
  }
  return pos;
}

function writeValue(buf: Buffer, pos: number, dataType: DataType, value: number | string | Buffer): number {
  switch (dataType) {
    case DataType.Byte:
      buf[pos] = value as number;
      return pos + 1;
    case DataType.TwoByteInt:
      buf.writeUInt16BE(value as number, pos);
      return pos + 2;
    case DataType.FourByteInt:
      buf.writeUInt32BE(value as number, pos);
      return pos + 4;
    case DataType.VarInt:
      return writeVarint(buf, pos, value as number);
    case DataType.Utf8:
      return writeUtf8(buf, pos, value as string);
    case DataType.Binary:
      return writeBinary(buf, pos, value as Buffer);
    case DataType.StringPair:
      throw new TypeError('string pairs are written by the caller');
  }
}
