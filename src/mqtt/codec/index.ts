/** MQTT 3.1.1 / 5.0 codec: a streaming, bounds-checked decoder and an encoder. */
export { PacketType } from './packets.js';
export type {
  AckPacket,
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  Packet,
  PingreqPacket,
  PingrespPacket,
  Properties,
  ProtocolVersion,
  PublishPacket,
  QoS,
  SubackPacket,
  SubscribePacket,
  SubscriptionRequest,
  UnsubackPacket,
  UnsubscribePacket,
  WillMessage,
} from './packets.js';
export { ReasonCode, V3ConnackReturnCode, toV3ConnackReturnCode, toV3SubackReturnCode } from './reason-codes.js';
export { ProtocolError } from './errors.js';
export { PacketDecoder } from './decoder.js';
export type { PacketHandler } from './decoder.js';
export { encodePacket, encodePublishHead } from './encoder.js';
