/**
 * Body decoders for every packet type except PUBLISH (which the decoder inlines for speed). Each takes a
 * {@link Reader} bounded to exactly one packet body and rejects trailing bytes.
 */
import { ProtocolError } from './errors.js';
import {
  PacketType,
  type AckPacket,
  type AuthPacket,
  type ConnackPacket,
  type ConnectPacket,
  type DisconnectPacket,
  type ProtocolVersion,
  type QoS,
  type SubackPacket,
  type SubscribePacket,
  type SubscriptionRequest,
  type UnsubackPacket,
  type UnsubscribePacket,
  type WillMessage,
} from './packets.js';
import { readProperties, WILL_PROPERTIES } from './properties.js';
import { malformed, protocolError, type Reader } from './reader.js';
import { ReasonCode } from './reason-codes.js';

function expectEnd(reader: Reader, what: string): void {
  if (reader.pos !== reader.end) throw malformed(`${reader.remainingBytes} unexpected bytes at the end of ${what}`);
}

/** Packet Identifier where one is required: 0 is not a valid identifier [MQTT-2.2.1-3], treated as malformed. */
export function readPacketId(reader: Reader): number {
  const packetId = reader.u16('packet identifier');
  if (packetId === 0) throw malformed('packet identifier 0');
  return packetId;
}

/**
 * First step of CONNECT: Protocol Name and Protocol Level. Separate so the decoder can switch to the client's version
 * before the rest of the CONNECT is validated, and any error there is answered in that version.
 */
export function decodeConnectVersion(reader: Reader): ProtocolVersion {
  const protocolName = reader.utf8('protocol name');
  const level = reader.u8('protocol level');
  if (protocolName === 'MQTT') {
    if (level === 4 || level === 5) return level;
    // [MQTT-3.1.2-2] the broker answers CONNACK 0x01 (3.1.1) / 0x84 (5) and closes.
    throw new ProtocolError(ReasonCode.UnsupportedProtocolVersion, `unsupported protocol level ${level}`);
  }
  if (protocolName === 'MQIsdp') {
    if (level === 3) return 3;
    throw new ProtocolError(ReasonCode.UnsupportedProtocolVersion, `MQIsdp with level ${level}`);
  }
  // [MQTT-3.1.2-1] a wrong protocol name may be disconnected without a CONNACK.
  throw malformed(`unknown protocol name '${protocolName}'`);
}

/** The rest of CONNECT, after {@link decodeConnectVersion}. */
export function decodeConnect(reader: Reader, protocolVersion: ProtocolVersion): ConnectPacket {
  const protocolName = protocolVersion === 3 ? 'MQIsdp' : 'MQTT';
  const flags = reader.u8('connect flags');
  // [MQTT-3.1.2-3] the reserved flag must be 0.
  if ((flags & 0x01) !== 0) throw malformed('reserved connect flag is set');
  const hasWill = (flags & 0x04) !== 0;
  const willQoS = (flags >> 3) & 0x03;
  const isWillRetained = (flags & 0x20) !== 0;
  const hasPassword = (flags & 0x40) !== 0;
  const hasUsername = (flags & 0x80) !== 0;
  if (!hasWill && (willQoS !== 0 || isWillRetained)) {
    // [MQTT-3.1.2-11] [MQTT-3.1.2-13] [MQTT-3.1.2-15] will QoS and retain must be 0 without a will.
    throw malformed('will QoS or will retain set without the will flag');
  }
  // [MQTT-3.1.2-14] will QoS 3 is malformed.
  if (willQoS === 3) throw malformed('will QoS 3');
  // [MQTT-3.1.2-22] (3.1.1 only; MQTT 5 allows a password without a user name).
  if (protocolVersion !== 5 && hasPassword && !hasUsername) throw malformed('password flag without user name flag');
  const keepAliveSeconds = reader.u16('keep alive');
  const properties = protocolVersion === 5 ? readProperties(reader, PacketType.Connect) : undefined;
  if (properties?.authenticationData !== undefined && properties.authenticationMethod === undefined) {
    // [MQTT-3.1.2.11.10] Authentication Data without Authentication Method is a Protocol Error.
    throw protocolError('Authentication Data without Authentication Method');
  }
  const clientId = reader.utf8('client identifier');
  let will: WillMessage | undefined;
  if (hasWill) {
    const willProperties = protocolVersion === 5 ? readProperties(reader, WILL_PROPERTIES) : undefined;
    const topicName = reader.utf8('will topic');
    const payload = reader.binary('will payload');
    will = { topicName, payload, qos: willQoS as QoS, isRetained: isWillRetained, properties: willProperties };
  }
  const username = hasUsername ? reader.utf8('user name') : undefined;
  const password = hasPassword ? reader.binary('password') : undefined;
  expectEnd(reader, 'CONNECT');
  return {
    type: PacketType.Connect,
    protocolName,
    protocolVersion,
    cleanStart: (flags & 0x02) !== 0,
    keepAliveSeconds,
    clientId,
    username,
    password,
    will,
    properties,
  };
}

/** 3.1.1 CONNACK return codes 0..5 mapped up to the v5 reason codes used inside Switchboard. */
const V3_CONNACK_TO_REASON: readonly number[] = [
  ReasonCode.Success,
  ReasonCode.UnsupportedProtocolVersion,
  ReasonCode.ClientIdentifierNotValid,
  ReasonCode.ServerUnavailable,
  ReasonCode.BadUserNameOrPassword,
  ReasonCode.NotAuthorized,
];

/** CONNACK; a 3.1.1 return code becomes the matching v5 reason code. */
export function decodeConnack(reader: Reader, protocolVersion: ProtocolVersion): ConnackPacket {
  const flags = reader.u8('connect acknowledge flags');
  // [MQTT-3.2.2-1] bits 7..1 are reserved.
  if ((flags & 0xfe) !== 0) throw malformed('reserved CONNACK flags are set');
  const code = reader.u8('reason code');
  let reasonCode: number;
  let properties;
  if (protocolVersion === 5) {
    reasonCode = code;
    properties = reader.remainingBytes > 0 ? readProperties(reader, PacketType.Connack) : undefined;
  } else {
    const mapped = V3_CONNACK_TO_REASON[code];
    // [MQTT-3.2.2.3] return codes 6..255 are reserved.
    if (mapped === undefined) throw malformed(`reserved CONNACK return code ${code}`);
    reasonCode = mapped;
  }
  expectEnd(reader, 'CONNACK');
  return { type: PacketType.Connack, sessionPresent: flags === 1, reasonCode, properties };
}

/** PUBACK, PUBREC, PUBREL, PUBCOMP. In v5 the reason code and properties may be omitted [MQTT-3.4.2.1]. */
export function decodeAck(reader: Reader, type: AckPacket['type'], protocolVersion: ProtocolVersion): AckPacket {
  const packetId = readPacketId(reader);
  let reasonCode = 0;
  let properties;
  if (protocolVersion === 5 && reader.remainingBytes > 0) {
    reasonCode = reader.u8('reason code');
    if (reader.remainingBytes > 0) properties = readProperties(reader, type);
  }
  expectEnd(reader, 'acknowledgement');
  return { type, packetId, reasonCode, properties };
}

/** SUBSCRIBE with its subscription options [MQTT-3.8.3]. */
export function decodeSubscribe(reader: Reader, protocolVersion: ProtocolVersion): SubscribePacket {
  const packetId = readPacketId(reader);
  const isV5 = protocolVersion === 5;
  const properties = isV5 ? readProperties(reader, PacketType.Subscribe) : undefined;
  // [MQTT-3.8.3-3] at least one subscription.
  if (reader.remainingBytes === 0) throw protocolError('SUBSCRIBE without subscriptions');
  const subscriptions: SubscriptionRequest[] = [];
  while (reader.remainingBytes > 0) {
    const topicFilter = reader.utf8('topic filter');
    const options = reader.u8('subscription options');
    // [MQTT-3-8.3-4] 3.1.1: bits 7..2 reserved. [MQTT-3.8.3-5] 5: bits 7..6 reserved.
    if ((options & (isV5 ? 0xc0 : 0xfc)) !== 0) throw malformed('reserved subscription option bits are set');
    const qos = options & 0x03;
    // 3.1.1 [MQTT-3-8.3-4]: malformed; 5 (3.8.3.1): "It is a Protocol Error if the Maximum QoS field has the value 3".
    if (qos === 3) throw isV5 ? protocolError('subscription QoS 3') : malformed('subscription QoS 3');
    const retainHandling = (options >> 4) & 0x03;
    // 3.8.3.1: Retain Handling 3 is a Protocol Error.
    if (retainHandling === 3) throw protocolError('Retain Handling 3');
    subscriptions.push({
      topicFilter,
      qos: qos as QoS,
      noLocal: (options & 0x04) !== 0,
      retainAsPublished: (options & 0x08) !== 0,
      retainHandling: retainHandling as 0 | 1 | 2,
    });
  }
  return { type: PacketType.Subscribe, packetId, subscriptions, properties };
}

/** SUBACK return codes allowed in 3.1.1 [MQTT-3.9.3-2]; they equal the v5 codes with the same meaning. */
function isV3SubackReturnCode(code: number): boolean {
  return code <= 2 || code === 0x80;
}

/** SUBACK: one reason code per subscription. */
export function decodeSuback(reader: Reader, protocolVersion: ProtocolVersion): SubackPacket {
  const packetId = readPacketId(reader);
  const isV5 = protocolVersion === 5;
  const properties = isV5 ? readProperties(reader, PacketType.Suback) : undefined;
  const reasonCodes: number[] = [];
  while (reader.remainingBytes > 0) {
    const code = reader.u8('reason code');
    if (!isV5 && !isV3SubackReturnCode(code)) throw malformed(`reserved SUBACK return code ${code}`);
    reasonCodes.push(code);
  }
  return { type: PacketType.Suback, packetId, reasonCodes, properties };
}

/** UNSUBSCRIBE: a non-empty list of topic filters. */
export function decodeUnsubscribe(reader: Reader, protocolVersion: ProtocolVersion): UnsubscribePacket {
  const packetId = readPacketId(reader);
  const properties = protocolVersion === 5 ? readProperties(reader, PacketType.Unsubscribe) : undefined;
  // [MQTT-3.10.3-2] at least one topic filter.
  if (reader.remainingBytes === 0) throw protocolError('UNSUBSCRIBE without topic filters');
  const topicFilters: string[] = [];
  while (reader.remainingBytes > 0) topicFilters.push(reader.utf8('topic filter'));
  return { type: PacketType.Unsubscribe, packetId, topicFilters, properties };
}

/** UNSUBACK: reason codes in v5, only the packet identifier in 3.1.1. */
export function decodeUnsuback(reader: Reader, protocolVersion: ProtocolVersion): UnsubackPacket {
  const packetId = readPacketId(reader);
  const reasonCodes: number[] = [];
  let properties;
  if (protocolVersion === 5) {
    properties = readProperties(reader, PacketType.Unsuback);
    while (reader.remainingBytes > 0) reasonCodes.push(reader.u8('reason code'));
  }
  // [MQTT-3.11.2] a 3.1.1 UNSUBACK has no payload.
  expectEnd(reader, 'UNSUBACK');
  return { type: PacketType.Unsuback, packetId, reasonCodes, properties };
}

/** DISCONNECT and AUTH: reason code and properties may be omitted (Remaining Length 0 or 1) [MQTT-3.14.2.1]. */
export function decodeDisconnect(reader: Reader, protocolVersion: ProtocolVersion): DisconnectPacket {
  let reasonCode = 0;
  let properties;
  if (protocolVersion === 5 && reader.remainingBytes > 0) {
    reasonCode = reader.u8('reason code');
    if (reader.remainingBytes > 0) properties = readProperties(reader, PacketType.Disconnect);
  }
  expectEnd(reader, 'DISCONNECT');
  return { type: PacketType.Disconnect, reasonCode, properties };
}

/** AUTH (v5 only). */
export function decodeAuth(reader: Reader, protocolVersion: ProtocolVersion): AuthPacket {
  // AUTH (type 15) is reserved in 3.1.1 [MQTT-2.2.1].
  if (protocolVersion !== 5) throw malformed('AUTH is not a 3.1.1 packet');
  let reasonCode = 0;
  let properties;
  if (reader.remainingBytes > 0) {
    reasonCode = reader.u8('reason code');
    if (reader.remainingBytes > 0) properties = readProperties(reader, PacketType.Auth);
  }
  expectEnd(reader, 'AUTH');
  return { type: PacketType.Auth, reasonCode, properties };
}

/** PINGREQ / PINGRESP: no variable header, no payload. */
export function decodeEmpty<T extends typeof PacketType.Pingreq | typeof PacketType.Pingresp>(
  reader: Reader,
  type: T,
): { type: T } {
  expectEnd(reader, 'PINGREQ/PINGRESP');
  return { type };
}
