/**
 * fast-check arbitraries for valid packets of either protocol version, in the normal form the decoder produces
 * (v5-only fields at their defaults for 3.1.1, `properties` undefined when empty, reason codes from the spec's lists).
 */
import fc from 'fast-check';
import '../../helpers/fast-check-seed.js';
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
  type SubackPacket,
  type SubscribePacket,
  type UnsubackPacket,
  type UnsubscribePacket,
  type WillMessage,
} from '../../../src/mqtt/codec/index.js';

export interface ArbitraryOptions {
  /** mqtt-packet models user properties as an object, so the differential tests need distinct names. */
  uniqueUserPropertyNames?: boolean;
}

/** Any Unicode text except U+0000 [MQTT-1.5.4-2]; short, so shrinking stays fast. */
export const mqttString = (maxLength = 12): fc.Arbitrary<string> =>
  fc.string({ unit: 'binary', maxLength }).map((s) => s.replaceAll('\u0000', '_'));
const nonEmptyString = mqttString().filter((s) => s.length > 0);
const binary = fc.uint8Array({ maxLength: 24 }).map((bytes) => Buffer.from(bytes));
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const packetId = fc.integer({ min: 1, max: 0xffff });
const bit = fc.constantFrom(0, 1);
const qos = fc.constantFrom(0 as const, 1 as const, 2 as const);

/** fc.record with ordinary objects: the decoder's packets have Object.prototype, and deepEqual checks it. */
function record<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true });
}

function userProperties(options: ArbitraryOptions): fc.Arbitrary<[string, string][]> {
  const pair = fc.tuple(mqttString(), mqttString());
  if (options.uniqueUserPropertyNames !== true) return fc.array(pair, { minLength: 1, maxLength: 3 });
  // A letter prefix keeps names from looking like array indexes, which objects reorder.
  return fc
    .uniqueArray(pair, { minLength: 1, maxLength: 3, selector: ([name]) => name })
    .map((pairs) => pairs.map(([name, value]): [string, string] => [`k${name}`, value]));
}

/** A property bag with any subset of `model`; an empty subset becomes `undefined`, as the decoder returns it. */
function properties(model: { [K in keyof Properties]: fc.Arbitrary<NonNullable<Properties[K]>> }) {
  return fc
    .record(model, { requiredKeys: [], noNullPrototype: true })
    .map((bag): Properties | undefined => (Object.keys(bag).length === 0 ? undefined : bag));
}

function v5<T>(version: ProtocolVersion, arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> {
  return version === 5 ? arbitrary : fc.constant(undefined);
}

function reasonCode(version: ProtocolVersion, codes: readonly number[]): fc.Arbitrary<number> {
  return version === 5 ? fc.constantFrom(...codes) : fc.constant(0);
}

/** Every valid packet for `version`, including CONNECT of that version. */
export function packetArbitraries(version: ProtocolVersion, options: ArbitraryOptions = {}) {
  const user = userProperties(options);
  const withReason = properties({ reasonString: mqttString(), userProperties: user });

  const will: fc.Arbitrary<WillMessage> = record({
    topicName: nonEmptyString,
    payload: binary,
    qos,
    isRetained: fc.boolean(),
    properties: v5(
      version,
      properties({
        payloadFormatIndicator: bit,
        messageExpiryInterval: u32,
        contentType: mqttString(),
        responseTopic: nonEmptyString,
        correlationData: binary,
        willDelayInterval: u32,
        userProperties: user,
      }),
    ),
  });
  const connect: fc.Arbitrary<ConnectPacket> = record({
    type: fc.constant(PacketType.Connect),
    protocolName: fc.constant(version === 3 ? 'MQIsdp' : 'MQTT'),
    protocolVersion: fc.constant(version),
    cleanStart: fc.boolean(),
    keepAliveSeconds: u16,
    clientId: mqttString(23),
    username: fc.option(mqttString(), { nil: undefined }),
    password: fc.option(binary, { nil: undefined }),
    will: fc.option(will, { nil: undefined }),
    properties: v5(
      version,
      properties({
        sessionExpiryInterval: u32,
        receiveMaximum: fc.integer({ min: 1, max: 0xffff }),
        maximumPacketSize: fc.integer({ min: 1, max: 0xffff_ffff }),
        topicAliasMaximum: u16,
        requestResponseInformation: bit,
        requestProblemInformation: bit,
        userProperties: user,
        authenticationMethod: mqttString(),
      }),
    ),
  })
    // [MQTT-3.1.2-22] 3.1.1 needs a user name for a password.
    .filter((p) => version === 5 || p.password === undefined || p.username !== undefined);

  const connack: fc.Arbitrary<ConnackPacket> = record({
    type: fc.constant(PacketType.Connack),
    sessionPresent: fc.boolean(),
    // 3.1.1 carries only the codes that map to a return code and back.
    reasonCode:
      version === 5
        ? fc.constantFrom(0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x90, 0x95)
        : fc.constantFrom(0x00, 0x84, 0x85, 0x88, 0x86, 0x87),
    properties: v5(
      version,
      properties({
        sessionExpiryInterval: u32,
        receiveMaximum: fc.integer({ min: 1, max: 0xffff }),
        maximumQoS: bit,
        retainAvailable: bit,
        maximumPacketSize: fc.integer({ min: 1, max: 0xffff_ffff }),
        assignedClientIdentifier: mqttString(),
        topicAliasMaximum: u16,
        reasonString: mqttString(),
        userProperties: user,
        wildcardSubscriptionAvailable: bit,
        subscriptionIdentifiersAvailable: bit,
        sharedSubscriptionAvailable: bit,
        serverKeepAlive: u16,
        responseInformation: mqttString(),
        serverReference: mqttString(),
        authenticationMethod: mqttString(),
        authenticationData: binary,
      }),
    ),
  });

  const publish: fc.Arbitrary<PublishPacket> = record({
    type: fc.constant(PacketType.Publish),
    topicName: nonEmptyString,
    payload: fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
    qos,
    isRetained: fc.boolean(),
    isDuplicate: fc.boolean(),
    packetId,
    properties: v5(
      version,
      properties({
        payloadFormatIndicator: bit,
        messageExpiryInterval: u32,
        topicAlias: fc.integer({ min: 1, max: 0xffff }),
        responseTopic: nonEmptyString,
        correlationData: binary,
        userProperties: user,
        subscriptionIdentifiers: fc.array(fc.integer({ min: 1, max: 268_435_455 }), { minLength: 1, maxLength: 3 }),
        contentType: mqttString(),
      }),
    ),
  })
    // QoS 0 has no packet id and no DUP [MQTT-3.3.1-2].
    .map((p) => (p.qos === 0 ? { ...p, packetId: 0, isDuplicate: false } : p));

  const ack = (type: AckPacket['type'], codes: readonly number[]): fc.Arbitrary<AckPacket> =>
    record({
      type: fc.constant(type),
      packetId,
      reasonCode: reasonCode(version, codes),
      properties: v5(version, withReason),
    });
  const pubackCodes = [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99];

  const subscribe: fc.Arbitrary<SubscribePacket> = record({
    type: fc.constant(PacketType.Subscribe),
    packetId,
    subscriptions: fc.array(
      record({
        topicFilter: nonEmptyString,
        qos,
        noLocal: version === 5 ? fc.boolean() : fc.constant(false),
        retainAsPublished: version === 5 ? fc.boolean() : fc.constant(false),
        retainHandling: version === 5 ? fc.constantFrom(0 as const, 1 as const, 2 as const) : fc.constant(0 as const),
      }),
      { minLength: 1, maxLength: 4 },
    ),
    properties: v5(
      version,
      properties({
        subscriptionIdentifiers: fc.integer({ min: 1, max: 268_435_455 }).map((id) => [id]),
        userProperties: user,
      }),
    ),
  });
  const suback: fc.Arbitrary<SubackPacket> = record({
    type: fc.constant(PacketType.Suback),
    packetId,
    reasonCodes: fc.array(
      version === 5
        ? fc.constantFrom(0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2)
        : fc.constantFrom(0x00, 0x01, 0x02, 0x80),
      { minLength: 1, maxLength: 4 },
    ),
    properties: v5(version, withReason),
  });
  const unsubscribe: fc.Arbitrary<UnsubscribePacket> = record({
    type: fc.constant(PacketType.Unsubscribe),
    packetId,
    topicFilters: fc.array(nonEmptyString, { minLength: 1, maxLength: 4 }),
    properties: v5(version, properties({ userProperties: user })),
  });
  const unsuback: fc.Arbitrary<UnsubackPacket> = record({
    type: fc.constant(PacketType.Unsuback),
    packetId,
    reasonCodes:
      version === 5
        ? fc.array(fc.constantFrom(0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91), { minLength: 1, maxLength: 4 })
        : fc.constant([]),
    properties: v5(version, withReason),
  });
  const disconnect: fc.Arbitrary<DisconnectPacket> = record({
    type: fc.constant(PacketType.Disconnect),
    reasonCode: reasonCode(
      version,
      [0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x93, 0x94, 0x95, 0x9c],
    ),
    properties: v5(
      version,
      properties({
        sessionExpiryInterval: u32,
        reasonString: mqttString(),
        serverReference: mqttString(),
        userProperties: user,
      }),
    ),
  });
  const auth: fc.Arbitrary<AuthPacket> = record({
    type: fc.constant(PacketType.Auth),
    reasonCode: fc.constantFrom(0x00, 0x18, 0x19),
    properties: properties({
      authenticationMethod: mqttString(),
      authenticationData: binary,
      reasonString: mqttString(),
      userProperties: user,
    }),
  });

  const byType = {
    connect,
    connack,
    publish,
    puback: ack(PacketType.Puback, pubackCodes),
    pubrec: ack(PacketType.Pubrec, pubackCodes),
    pubrel: ack(PacketType.Pubrel, [0x00, 0x92]),
    pubcomp: ack(PacketType.Pubcomp, [0x00, 0x92]),
    subscribe,
    suback,
    unsubscribe,
    unsuback,
    pingreq: fc.constant({ type: PacketType.Pingreq }),
    pingresp: fc.constant({ type: PacketType.Pingresp }),
    disconnect,
  } satisfies Record<string, fc.Arbitrary<Packet>>;
  return version === 5 ? { ...byType, auth } : byType;
}

/** Any packet of `version` except CONNECT (which switches the decoder's version). */
export function anyNonConnectPacket(version: ProtocolVersion, options: ArbitraryOptions = {}): fc.Arbitrary<Packet> {
  const arbitraries: Record<string, fc.Arbitrary<Packet>> = { ...packetArbitraries(version, options) };
  delete arbitraries['connect'];
  return fc.oneof(...Object.values(arbitraries));
}
