/**
 * MQTT 5 reason codes, used everywhere inside Switchboard. MQTT 3.1.1 return codes are derived from these at the
 * edge (encoder), in one place: {@link toV3ConnackReturnCode} and {@link toV3SubackReturnCode}.
 */
export const ReasonCode = {
  Success: 0x00,
  GrantedQoS1: 0x01,
  GrantedQoS2: 0x02,
  DisconnectWithWillMessage: 0x04,
  NoMatchingSubscribers: 0x10,
  NoSubscriptionExisted: 0x11,
  ContinueAuthentication: 0x18,
  ReAuthenticate: 0x19,
  UnspecifiedError: 0x80,
  MalformedPacket: 0x81,
  ProtocolError: 0x82,
  ImplementationSpecificError: 0x83,
  UnsupportedProtocolVersion: 0x84,
  ClientIdentifierNotValid: 0x85,
  BadUserNameOrPassword: 0x86,
  NotAuthorized: 0x87,
  ServerUnavailable: 0x88,
  ServerBusy: 0x89,
  Banned: 0x8a,
  ServerShuttingDown: 0x8b,
  BadAuthenticationMethod: 0x8c,
  KeepAliveTimeout: 0x8d,
  SessionTakenOver: 0x8e,
  TopicFilterInvalid: 0x8f,
  TopicNameInvalid: 0x90,
  PacketIdentifierInUse: 0x91,
  PacketIdentifierNotFound: 0x92,
  ReceiveMaximumExceeded: 0x93,
  TopicAliasInvalid: 0x94,
  PacketTooLarge: 0x95,
  MessageRateTooHigh: 0x96,
  QuotaExceeded: 0x97,
  AdministrativeAction: 0x98,
  PayloadFormatInvalid: 0x99,
  RetainNotSupported: 0x9a,
  QoSNotSupported: 0x9b,
  UseAnotherServer: 0x9c,
  ServerMoved: 0x9d,
  SharedSubscriptionsNotSupported: 0x9e,
  ConnectionRateExceeded: 0x9f,
  MaximumConnectTime: 0xa0,
  SubscriptionIdentifiersNotSupported: 0xa1,
  WildcardSubscriptionsNotSupported: 0xa2,
} as const;
export type ReasonCode = (typeof ReasonCode)[keyof typeof ReasonCode];

/** MQTT 3.1.1 CONNACK return codes ([MQTT-3.2.2.3]). */
export const V3ConnackReturnCode = {
  Accepted: 0x00,
  UnacceptableProtocolVersion: 0x01,
  IdentifierRejected: 0x02,
  ServerUnavailable: 0x03,
  BadUserNameOrPassword: 0x04,
  NotAuthorized: 0x05,
} as const;
export type V3ConnackReturnCode = (typeof V3ConnackReturnCode)[keyof typeof V3ConnackReturnCode];

/** Maps a v5 CONNACK reason code to the closest 3.1.1 return code. */
export function toV3ConnackReturnCode(reasonCode: number): V3ConnackReturnCode {
  switch (reasonCode) {
    case ReasonCode.Success:
      return V3ConnackReturnCode.Accepted;
    case ReasonCode.UnsupportedProtocolVersion:
      return V3ConnackReturnCode.UnacceptableProtocolVersion;
    case ReasonCode.ClientIdentifierNotValid:
      return V3ConnackReturnCode.IdentifierRejected;
    case ReasonCode.BadUserNameOrPassword:
    case ReasonCode.BadAuthenticationMethod:
      return V3ConnackReturnCode.BadUserNameOrPassword;
    case ReasonCode.NotAuthorized:
    case ReasonCode.Banned:
      return V3ConnackReturnCode.NotAuthorized;
    default:
      return V3ConnackReturnCode.ServerUnavailable;
  }
}

/** Maps a v5 SUBACK reason code to 3.1.1: granted QoS 0..2, anything else is failure 0x80 ([MQTT-3.9.3]). */
export function toV3SubackReturnCode(reasonCode: number): number {
  return reasonCode <= 2 ? reasonCode : 0x80;
}
