/**
 * Typed MQTT control packets, one shape for both protocol versions. Fields that exist only in MQTT 5 are optional
 * and ignored when encoding for 3.1.1; `properties` is `undefined` for 3.1.1 packets.
 */

/** Control packet type, the high nibble of the first byte ([MQTT-2.1.2]). */
export const PacketType = {
  Connect: 1,
  Connack: 2,
  Publish: 3,
  Puback: 4,
  Pubrec: 5,
  Pubrel: 6,
  Pubcomp: 7,
  Subscribe: 8,
  Suback: 9,
  Unsubscribe: 10,
  Unsuback: 11,
  Pingreq: 12,
  Pingresp: 13,
  Disconnect: 14,
  Auth: 15,
} as const;
export type PacketType = (typeof PacketType)[keyof typeof PacketType];

/** 4 = MQTT 3.1.1, 5 = MQTT 5.0. (3 = MQTT 3.1 is decoded as 3.1.1 with protocol name `MQIsdp`.) */
export type ProtocolVersion = 3 | 4 | 5;
export type QoS = 0 | 1 | 2;

/** MQTT 5 properties ([MQTT-2.2.2]); each appears only on the packets the spec allows. */
export interface Properties {
  payloadFormatIndicator?: number;
  messageExpiryInterval?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  /** PUBLISH may carry several; SUBSCRIBE carries at most one. */
  subscriptionIdentifiers?: number[];
  sessionExpiryInterval?: number;
  assignedClientIdentifier?: string;
  serverKeepAlive?: number;
  authenticationMethod?: string;
  authenticationData?: Buffer;
  requestProblemInformation?: number;
  willDelayInterval?: number;
  requestResponseInformation?: number;
  responseInformation?: string;
  serverReference?: string;
  reasonString?: string;
  receiveMaximum?: number;
  topicAliasMaximum?: number;
  topicAlias?: number;
  maximumQoS?: number;
  retainAvailable?: number;
  userProperties?: [string, string][];
  maximumPacketSize?: number;
  wildcardSubscriptionAvailable?: number;
  subscriptionIdentifiersAvailable?: number;
  sharedSubscriptionAvailable?: number;
}

export interface WillMessage {
  topicName: string;
  payload: Buffer;
  qos: QoS;
  isRetained: boolean;
  /** Will properties (v5 only). */
  properties: Properties | undefined;
}

export interface ConnectPacket {
  type: typeof PacketType.Connect;
  /** `MQTT` (3.1.1 / 5) or `MQIsdp` (3.1). */
  protocolName: string;
  protocolVersion: ProtocolVersion;
  cleanStart: boolean;
  keepAliveSeconds: number;
  clientId: string;
  username: string | undefined;
  password: Buffer | undefined;
  will: WillMessage | undefined;
  properties: Properties | undefined;
}

export interface ConnackPacket {
  type: typeof PacketType.Connack;
  sessionPresent: boolean;
  /** v5 reason code; mapped to a 3.1.1 return code when encoded for 3.1.1. */
  reasonCode: number;
  properties: Properties | undefined;
}

export interface PublishPacket {
  type: typeof PacketType.Publish;
  /** May be empty in v5 when a topic alias is set. */
  topicName: string;
  /**
   * When decoded: a view into the decoder's input chunk, valid for the current tick. Copy it
   * (`Buffer.copyBytesFrom`) to keep it longer (retained, queued, persisted): a view pins the whole socket chunk.
   */
  payload: Buffer;
  qos: QoS;
  isRetained: boolean;
  isDuplicate: boolean;
  /** 0 for QoS 0. */
  packetId: number;
  properties: Properties | undefined;
}

/** PUBACK, PUBREC, PUBREL, PUBCOMP: same layout ([MQTT-3.4] .. [MQTT-3.7]). */
export interface AckPacket {
  type: typeof PacketType.Puback | typeof PacketType.Pubrec | typeof PacketType.Pubrel | typeof PacketType.Pubcomp;
  packetId: number;
  /** 0 when absent on the wire. */
  reasonCode: number;
  properties: Properties | undefined;
}

export interface SubscriptionRequest {
  topicFilter: string;
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
}

export interface SubscribePacket {
  type: typeof PacketType.Subscribe;
  packetId: number;
  subscriptions: SubscriptionRequest[];
  properties: Properties | undefined;
}

export interface SubackPacket {
  type: typeof PacketType.Suback;
  packetId: number;
  /** v5 reason codes; mapped with toV3SubackReturnCode for 3.1.1. */
  reasonCodes: number[];
  properties: Properties | undefined;
}

export interface UnsubscribePacket {
  type: typeof PacketType.Unsubscribe;
  packetId: number;
  topicFilters: string[];
  properties: Properties | undefined;
}

export interface UnsubackPacket {
  type: typeof PacketType.Unsuback;
  packetId: number;
  /** v5 only; omitted on the wire for 3.1.1. */
  reasonCodes: number[];
  properties: Properties | undefined;
}

export interface PingreqPacket {
  type: typeof PacketType.Pingreq;
}
export interface PingrespPacket {
  type: typeof PacketType.Pingresp;
}

export interface DisconnectPacket {
  type: typeof PacketType.Disconnect;
  /** 0 when absent on the wire (and always for 3.1.1). */
  reasonCode: number;
  properties: Properties | undefined;
}

export interface AuthPacket {
  type: typeof PacketType.Auth;
  reasonCode: number;
  properties: Properties | undefined;
}

export type Packet =
  | ConnectPacket
  | ConnackPacket
  | PublishPacket
  | AckPacket
  | SubscribePacket
  | SubackPacket
  | UnsubscribePacket
  | UnsubackPacket
  | PingreqPacket
  | PingrespPacket
  | DisconnectPacket
  | AuthPacket;
