/**
 * Encoder: each packet is sized exactly, allocated once and written in place. Encoding for 3.1.1 ignores properties
 * and v5-only fields and maps reason codes down to 3.1.1 return codes here, in one place.
 */
import {
  PacketType,
  type AckPacket,
  type AuthPacket,
  type ConnackPacket,
  type ConnectPacket,
  type DisconnectPacket,
  type Packet,
  type Properties,
  type ProtocolVersion,
  type PublishPacket,
  type QoS,
  type SubackPacket,
  type SubscribePacket,
  type UnsubackPacket,
  type UnsubscribePacket,
} from './packets.js';
import { propertiesSize, WILL_PROPERTIES, writeProperties } from './properties.js';
import { toV3ConnackReturnCode, toV3SubackReturnCode } from './reason-codes.js';
import {
  allocPacket,
  binarySize,
  utf8Size,
  varintSize,
  writeBinary,
  writeU16,
  writeUtf8,
  writeVarint,
} from './writer.js';

/**
 * Encodes `packet` for a connection speaking `protocolVersion`. CONNECT is the exception: it is encoded with its own
 * `protocolName` / `protocolVersion`. Throws RangeError for values the protocol cannot carry (a string over 65535
 * bytes, a packet over 256 MiB) and for AUTH in 3.1.1.
 */
export function encodePacket(packet: Packet, protocolVersion: ProtocolVersion): Buffer {
  const isV5 = protocolVersion === 5;
  switch (packet.type) {
    case PacketType.Connect:
      return encodeConnect(packet);
    case PacketType.Connack:
      return encodeConnack(packet, isV5);
    case PacketType.Publish:
      return encodePublish(packet, protocolVersion);
    case PacketType.Puback:
    case PacketType.Pubrec:
    case PacketType.Pubrel:
    case PacketType.Pubcomp:
      return encodeAck(packet, isV5);
    case PacketType.Subscribe:
      return encodeSubscribe(packet, isV5);
    case PacketType.Suback:
      return encodeSuback(packet, isV5);
    case PacketType.Unsubscribe:
      return encodeUnsubscribe(packet, isV5);
    case PacketType.Unsuback:
      return encodeUnsuback(packet, isV5);
    case PacketType.Pingreq:
      return Buffer.from([0xc0, 0x00]);
    case PacketType.Pingresp:
      return Buffer.from([0xd0, 0x00]);
    case PacketType.Disconnect:
      return encodeReasonOnly(packet, isV5);
    case PacketType.Auth:
      if (!isV5) throw new RangeError('AUTH does not exist in MQTT 3.1.1');
      return encodeReasonOnly(packet, true);
  }
}

/**
 * Fixed header + variable header (topic, packet id, properties) of a PUBLISH whose Remaining Length already counts
 * `payloadLength` bytes of payload; write the (shared) payload right after it. The encoded packet size, e.g. to honour
 * a client's Maximum Packet Size [MQTT-3.1.2-24], is `head.length + payloadLength`.
 */
export function encodePublishHead(
  topicName: string,
  payloadLength: number,
  qos: QoS,
  isRetained: boolean,
  isDuplicate: boolean,
  packetId: number,
  properties: Properties | undefined,
  protocolVersion: ProtocolVersion,
): Buffer {
  const topicSize = utf8Size(topicName);
  let variableHeaderSize = topicSize + (qos > 0 ? 2 : 0);
  let propertyBytes = 0;
  if (protocolVersion === 5) {
    propertyBytes = properties === undefined ? 0 : propertiesSize(properties, PacketType.Publish);
    variableHeaderSize += varintSize(propertyBytes) + propertyBytes;
  }
  const remainingLength = variableHeaderSize + payloadLength;
  const headerSize = 1 + varintSize(remainingLength);
  const head = Buffer.allocUnsafe(headerSize + variableHeaderSize);
  head[0] = 0x30 | (isDuplicate ? 0x08 : 0) | (qos << 1) | (isRetained ? 0x01 : 0);
  let pos = writeVarint(head, 1, remainingLength);
  pos = writeUtf8(head, pos, topicName);
  if (qos > 0) pos = writeU16(head, pos, packetId);
  if (protocolVersion === 5) writeProperties(head, pos, properties, PacketType.Publish, propertyBytes);
  return head;
}

function encodePublish(packet: PublishPacket, protocolVersion: ProtocolVersion): Buffer {
  const { payload } = packet;
  const head = encodePublishHead(
    packet.topicName,
    payload.length,
    packet.qos,
    packet.isRetained,
    packet.isDuplicate,
    packet.packetId,
    packet.properties,
    protocolVersion,
  );
  const buf = Buffer.allocUnsafe(head.length + payload.length);
  head.copy(buf, 0);
  payload.copy(buf, head.length);
  return buf;
}

function encodeConnect(packet: ConnectPacket): Buffer {
  const isV5 = packet.protocolVersion === 5;
  const { will, username, password } = packet;
  const propertyBytes = isV5 ? propertiesSize(packet.properties, PacketType.Connect) : 0;
  const willPropertyBytes = isV5 && will !== undefined ? propertiesSize(will.properties, WILL_PROPERTIES) : 0;
  let remainingLength = utf8Size(packet.protocolName) + 1 + 1 + 2 + utf8Size(packet.clientId);
  if (isV5) remainingLength += varintSize(propertyBytes) + propertyBytes;
  if (will !== undefined) {
    remainingLength += utf8Size(will.topicName) + binarySize(will.payload);
    if (isV5) remainingLength += varintSize(willPropertyBytes) + willPropertyBytes;
  }
  if (username !== undefined) remainingLength += utf8Size(username);
  if (password !== undefined) remainingLength += binarySize(password);
  const buf = allocPacket(0x10, remainingLength);
  let pos = buf.length - remainingLength;
  pos = writeUtf8(buf, pos, packet.protocolName);
  buf[pos++] = packet.protocolVersion;
  let flags = packet.cleanStart ? 0x02 : 0;
  if (will !== undefined) flags |= 0x04 | (will.qos << 3) | (will.isRetained ? 0x20 : 0);
  if (password !== undefined) flags |= 0x40;
  if (username !== undefined) flags |= 0x80;
  buf[pos++] = flags;
  pos = writeU16(buf, pos, packet.keepAliveSeconds);
  if (isV5) pos = writeProperties(buf, pos, packet.properties, PacketType.Connect, propertyBytes);
  pos = writeUtf8(buf, pos, packet.clientId);
  if (will !== undefined) {
    if (isV5) pos = writeProperties(buf, pos, will.properties, WILL_PROPERTIES, willPropertyBytes);
    pos = writeUtf8(buf, pos, will.topicName);
    pos = writeBinary(buf, pos, will.payload);
  }
  if (username !== undefined) pos = writeUtf8(buf, pos, username);
  if (password !== undefined) writeBinary(buf, pos, password);
  return buf;
}

function encodeConnack(packet: ConnackPacket, isV5: boolean): Buffer {
  const propertyBytes = isV5 ? propertiesSize(packet.properties, PacketType.Connack) : 0;
  const remainingLength = 2 + (isV5 ? varintSize(propertyBytes) + propertyBytes : 0);
  const buf = allocPacket(0x20, remainingLength);
  let pos = buf.length - remainingLength;
  buf[pos++] = packet.sessionPresent ? 1 : 0;
  buf[pos++] = isV5 ? packet.reasonCode : toV3ConnackReturnCode(packet.reasonCode);
  if (isV5) writeProperties(buf, pos, packet.properties, PacketType.Connack, propertyBytes);
  return buf;
}

/** PUBACK/PUBREC/PUBREL/PUBCOMP: the 2-byte form when there is nothing more to say, in v5 too [MQTT-3.4.2.1]. */
function encodeAck(packet: AckPacket, isV5: boolean): Buffer {
  const firstByte = (packet.type << 4) | (packet.type === PacketType.Pubrel ? 0b0010 : 0);
  const propertyBytes = isV5 ? propertiesSize(packet.properties, packet.type) : 0;
  let remainingLength = 2;
  if (isV5 && (packet.reasonCode !== 0 || propertyBytes > 0)) {
    remainingLength = propertyBytes > 0 ? 3 + varintSize(propertyBytes) + propertyBytes : 3;
  }
  const buf = allocPacket(firstByte, remainingLength);
  let pos = writeU16(buf, buf.length - remainingLength, packet.packetId);
  if (remainingLength > 2) {
    buf[pos++] = packet.reasonCode;
    if (propertyBytes > 0) writeProperties(buf, pos, packet.properties, packet.type, propertyBytes);
  }
  return buf;
}

function encodeSubscribe(packet: SubscribePacket, isV5: boolean): Buffer {
  const propertyBytes = isV5 ? propertiesSize(packet.properties, PacketType.Subscribe) : 0;
  let remainingLength = 2 + (isV5 ? varintSize(propertyBytes) + propertyBytes : 0);
  for (const subscription of packet.subscriptions) remainingLength += utf8Size(subscription.topicFilter) + 1;
  const buf = allocPacket(0x82, remainingLength);
  let pos = writeU16(buf, buf.length - remainingLength, packet.packetId);
  if (isV5) pos = writeProperties(buf, pos, packet.properties, PacketType.Subscribe, propertyBytes);
  for (const subscription of packet.subscriptions) {
    pos = writeUtf8(buf, pos, subscription.topicFilter);
    let options: number = subscription.qos;
    if (isV5) {
      if (subscription.noLocal) options |= 0x04;
      if (subscription.retainAsPublished) options |= 0x08;
      options |= subscription.retainHandling << 4;
    }
    buf[pos++] = options;
  }
  return buf;
}

function encodeSuback(packet: SubackPacket, isV5: boolean): Buffer {
  const propertyBytes = isV5 ? propertiesSize(packet.properties, PacketType.Suback) : 0;
  const { reasonCodes } = packet;
  const remainingLength = 2 + (isV5 ? varintSize(propertyBytes) + propertyBytes : 0) + reasonCodes.length;
  const buf = allocPacket(0x90, remainingLength);
  let pos = writeU16(buf, buf.length - remainingLength, packet.packetId);
  if (isV5) pos = writeProperties(buf, pos, packet.properties, PacketType.Suback, propertyBytes);
  for (const code of reasonCodes) buf[pos++] = isV5 ? code : toV3SubackReturnCode(code);
  return buf;
}

function encodeUnsubscribe(packet: UnsubscribePacket, isV5: boolean): Buffer {
  const propertyBytes = isV5 ? propertiesSize(packet.properties, PacketType.Unsubscribe) : 0;
  let remainingLength = 2 + (isV5 ? varintSize(propertyBytes) + propertyBytes : 0);
  for (const topicFilter of packet.topicFilters) remainingLength += utf8Size(topicFilter);
  const buf = allocPacket(0xa2, remainingLength);
  let pos = writeU16(buf, buf.length - remainingLength, packet.packetId);
  if (isV5) pos = writeProperties(buf, pos, packet.properties, PacketType.Unsubscribe, propertyBytes);
  for (const topicFilter of packet.topicFilters) pos = writeUtf8(buf, pos, topicFilter);
  return buf;
}

/** [MQTT-3.11.2] a 3.1.1 UNSUBACK is just the packet identifier. */
function encodeUnsuback(packet: UnsubackPacket, isV5: boolean): Buffer {
  if (!isV5) return Buffer.from([0xb0, 0x02, packet.packetId >> 8, packet.packetId & 0xff]);
  const propertyBytes = propertiesSize(packet.properties, PacketType.Unsuback);
  const { reasonCodes } = packet;
  const remainingLength = 2 + varintSize(propertyBytes) + propertyBytes + reasonCodes.length;
  const buf = allocPacket(0xb0, remainingLength);
  let pos = writeU16(buf, buf.length - remainingLength, packet.packetId);
  pos = writeProperties(buf, pos, packet.properties, PacketType.Unsuback, propertyBytes);
  for (const code of reasonCodes) buf[pos++] = code;
  return buf;
}

/** DISCONNECT and AUTH: `e0 00` / `f0 00` for reason 0 without properties [MQTT-3.14.2.1] [MQTT-3.15.2.1]. */
function encodeReasonOnly(packet: DisconnectPacket | AuthPacket, isV5: boolean): Buffer {
  const firstByte = packet.type << 4;
  const propertyBytes = isV5 ? propertiesSize(packet.properties, packet.type) : 0;
  if (!isV5 || (packet.reasonCode === 0 && propertyBytes === 0)) return Buffer.from([firstByte, 0x00]);
  const remainingLength = propertyBytes > 0 ? 1 + varintSize(propertyBytes) + propertyBytes : 1;
  const buf = allocPacket(firstByte, remainingLength);
  const pos = buf.length - remainingLength;
  buf[pos] = packet.reasonCode;
  if (propertyBytes > 0) writeProperties(buf, pos + 1, packet.properties, packet.type, propertyBytes);
  return buf;
}
