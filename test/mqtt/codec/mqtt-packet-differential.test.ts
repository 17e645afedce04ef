// Differential tests against mqtt-packet, the codec MQTT.js and Aedes use: what we encode it parses to the same
// packet, and what it generates we decode to the same packet, for 3.1.1 and 5.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import '../../helpers/fast-check-seed.js';
import mqttPacket from 'mqtt-packet';
import {
  encodePacket,
  PacketType,
  toV3ConnackReturnCode,
  type Packet,
  type Properties,
  type ProtocolVersion,
  type QoS,
} from '../../../src/mqtt/codec/index.js';
import { packetArbitraries } from './arbitraries.js';
import { decodeChunks } from './helpers.js';

type Loose = Record<string, unknown>;

const COMMANDS = [
  '',
  'connect',
  'connack',
  'publish',
  'puback',
  'pubrec',
  'pubrel',
  'pubcomp',
  'subscribe',
  'suback',
  'unsubscribe',
  'unsuback',
  'pingreq',
  'pingresp',
  'disconnect',
  'auth',
] as const;

/** mqtt-packet models these 0/1 properties as booleans. */
const BOOLEAN_PROPERTIES = new Set([
  'payloadFormatIndicator',
  'requestResponseInformation',
  'requestProblemInformation',
  'retainAvailable',
  'wildcardSubscriptionAvailable',
  'subscriptionIdentifiersAvailable',
  'sharedSubscriptionAvailable',
]);

function toTheirProperties(properties: Properties | undefined): Loose | undefined {
  if (properties === undefined) return undefined;
  const out: Loose = {};
  for (const [key, value] of Object.entries(properties)) {
    if (key === 'userProperties') out[key] = Object.fromEntries(value as [string, string][]);
    else if (key === 'subscriptionIdentifiers') {
      const ids = value as number[];
      out['subscriptionIdentifier'] = ids.length === 1 ? ids[0] : ids;
    } else if (BOOLEAN_PROPERTIES.has(key)) out[key] = value === 1;
    else out[key] = value;
  }
  return out;
}

function fromTheirProperties(properties: unknown): Properties | undefined {
  if (properties === undefined || properties === null) return undefined;
  const out: Loose = {};
  for (const [key, value] of Object.entries(properties as Loose)) {
    if (key === 'userProperties') {
      const pairs: [string, string][] = [];
      for (const [name, v] of Object.entries(value as Record<string, string | string[]>)) {
        for (const item of Array.isArray(v) ? v : [v]) pairs.push([name, item]);
      }
      out[key] = pairs;
    } else if (key === 'subscriptionIdentifier') {
      out['subscriptionIdentifiers'] = Array.isArray(value) ? value : [value];
    } else if (BOOLEAN_PROPERTIES.has(key)) out[key] = value === true ? 1 : 0;
    else out[key] = value;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

/** Our packet as an mqtt-packet object. */
function toTheirs(packet: Packet, version: ProtocolVersion): Loose {
  const cmd = COMMANDS[packet.type];
  switch (packet.type) {
    case PacketType.Connect:
      return {
        cmd,
        protocolId: packet.protocolName,
        protocolVersion: packet.protocolVersion,
        clean: packet.cleanStart,
        keepalive: packet.keepAliveSeconds,
        clientId: packet.clientId,
        username: packet.username,
        password: packet.password,
        will:
          packet.will === undefined
            ? undefined
            : {
                topic: packet.will.topicName,
                payload: packet.will.payload,
                qos: packet.will.qos,
                retain: packet.will.isRetained,
                properties: toTheirProperties(packet.will.properties),
              },
        properties: toTheirProperties(packet.properties),
      };
    case PacketType.Connack:
      return version === 5
        ? {
            cmd,
            sessionPresent: packet.sessionPresent,
            reasonCode: packet.reasonCode,
            properties: toTheirProperties(packet.properties),
          }
        : { cmd, sessionPresent: packet.sessionPresent, returnCode: toV3ConnackReturnCode(packet.reasonCode) };
    case PacketType.Publish:
      return {
        cmd,
        topic: packet.topicName,
        payload: packet.payload,
        qos: packet.qos,
        dup: packet.isDuplicate,
        retain: packet.isRetained,
        messageId: packet.qos > 0 ? packet.packetId : undefined,
        properties: toTheirProperties(packet.properties),
      };
    case PacketType.Puback:
    case PacketType.Pubrec:
    case PacketType.Pubrel:
    case PacketType.Pubcomp:
      return {
        cmd,
        messageId: packet.packetId,
        reasonCode: packet.reasonCode,
        properties: toTheirProperties(packet.properties),
      };
    case PacketType.Subscribe:
      return {
        cmd,
        messageId: packet.packetId,
        subscriptions: packet.subscriptions.map((s) => ({
          topic: s.topicFilter,
          qos: s.qos,
          nl: s.noLocal,
          rap: s.retainAsPublished,
          rh: s.retainHandling,
        })),
        properties: toTheirProperties(packet.properties),
      };
    case PacketType.Suback:
    case PacketType.Unsuback:
      return {
        cmd,
        messageId: packet.packetId,
        granted: packet.reasonCodes,
        properties: toTheirProperties(packet.properties),
      };
    case PacketType.Unsubscribe:
      return {
        cmd,
        messageId: packet.packetId,
        unsubscriptions: packet.topicFilters,
        properties: toTheirProperties(packet.properties),
      };
    case PacketType.Pingreq:
    case PacketType.Pingresp:
      return { cmd };
    case PacketType.Disconnect:
    case PacketType.Auth:
      return { cmd, reasonCode: packet.reasonCode, properties: toTheirProperties(packet.properties) };
  }
}

const V3_RETURN_CODE_TO_REASON = [0x00, 0x84, 0x85, 0x88, 0x86, 0x87];

/** An mqtt-packet object as our packet. */
function fromTheirs(their: Loose, version: ProtocolVersion): Packet {
  const type = COMMANDS.indexOf(their['cmd'] as (typeof COMMANDS)[number]);
  const properties = version === 5 ? fromTheirProperties(their['properties']) : undefined;
  const packetId = their['messageId'] as number;
  const reasonCode = version === 5 ? ((their['reasonCode'] as number | undefined) ?? 0) : 0;
  switch (type) {
    case PacketType.Connect: {
      const will = their['will'] as Loose | undefined;
      const protocolVersion = their['protocolVersion'] as ProtocolVersion;
      return {
        type,
        protocolName: their['protocolId'] as string,
        protocolVersion,
        cleanStart: their['clean'] as boolean,
        keepAliveSeconds: their['keepalive'] as number,
        clientId: their['clientId'] as string,
        username: their['username'] as string | undefined,
        password: their['password'] as Buffer | undefined,
        will:
          will === undefined
            ? undefined
            : {
                topicName: will['topic'] as string,
                payload: will['payload'] as Buffer,
                qos: will['qos'] as QoS,
                isRetained: will['retain'] as boolean,
                properties: protocolVersion === 5 ? fromTheirProperties(will['properties']) : undefined,
              },
        properties: protocolVersion === 5 ? fromTheirProperties(their['properties']) : undefined,
      };
    }
    case PacketType.Connack:
      return {
        type,
        sessionPresent: their['sessionPresent'] as boolean,
        reasonCode: version === 5 ? reasonCode : V3_RETURN_CODE_TO_REASON[their['returnCode'] as number]!,
        properties,
      };
    case PacketType.Publish: {
      const qos = their['qos'] as QoS;
      return {
        type,
        topicName: their['topic'] as string,
        payload: their['payload'] as Buffer,
        qos,
        isRetained: their['retain'] as boolean,
        isDuplicate: their['dup'] as boolean,
        packetId: qos > 0 ? packetId : 0,
        properties,
      };
    }
    case PacketType.Puback:
    case PacketType.Pubrec:
    case PacketType.Pubrel:
    case PacketType.Pubcomp:
      return { type, packetId, reasonCode, properties };
    case PacketType.Subscribe:
      return {
        type,
        packetId,
        subscriptions: (their['subscriptions'] as Loose[]).map((s) => ({
          topicFilter: s['topic'] as string,
          qos: s['qos'] as QoS,
          noLocal: (s['nl'] as boolean | undefined) ?? false,
          retainAsPublished: (s['rap'] as boolean | undefined) ?? false,
          retainHandling: (s['rh'] as 0 | 1 | 2 | undefined) ?? 0,
        })),
        properties,
      };
    case PacketType.Suback:
      return { type, packetId, reasonCodes: their['granted'] as number[], properties };
    case PacketType.Unsuback:
      return { type, packetId, reasonCodes: version === 5 ? (their['granted'] as number[]) : [], properties };
    case PacketType.Unsubscribe:
      return { type, packetId, topicFilters: their['unsubscriptions'] as string[], properties };
    case PacketType.Pingreq:
    case PacketType.Pingresp:
      return { type };
    case PacketType.Disconnect:
    case PacketType.Auth:
      return { type, reasonCode, properties };
    default:
      throw new Error(`unexpected mqtt-packet command ${String(their['cmd'])}`);
  }
}

function parseWithMqttPacket(bytes: Buffer, version: ProtocolVersion): Loose[] {
  const parser = mqttPacket.parser({ protocolVersion: version });
  const packets: Loose[] = [];
  parser.on('packet', (packet) => packets.push(packet as unknown as Loose));
  parser.on('error', (error: unknown) => {
    throw error;
  });
  parser.parse(bytes);
  return packets;
}

/** Packets within what mqtt-packet itself supports. */
function mqttPacketCompatible(packet: Packet): boolean {
  // mqtt-packet refuses an empty client id without clean session, and a password without a user name.
  if (packet.type === PacketType.Connect) {
    return packet.clientId !== '' && (packet.password === undefined || packet.username !== undefined);
  }
  // The 2-byte AUTH (reason 0, no properties: MQTT 5 §3.15.2.1) is valid, but mqtt-packet cannot parse it; our own
  // round-trip tests cover it.
  if (packet.type === PacketType.Auth) return packet.reasonCode !== 0 || packet.properties !== undefined;
  return true;
}

const NUM_RUNS = 100;

for (const version of [3, 4, 5] as const) {
  describe(`mqtt-packet agrees with us at protocol level ${version}`, () => {
    for (const [name, arbitrary] of Object.entries(packetArbitraries(version, { uniqueUserPropertyNames: true }))) {
      const compatible = (arbitrary as fc.Arbitrary<Packet>).filter(mqttPacketCompatible);
      test(`mqtt-packet parses our ${name.toUpperCase()} to the same packet`, () => {
        fc.assert(
          fc.property(compatible, (packet) => {
            const parsed = parseWithMqttPacket(encodePacket(packet, version), version);
            assert.equal(parsed.length, 1);
            assert.deepEqual(fromTheirs(parsed[0]!, version), packet);
          }),
          { numRuns: NUM_RUNS },
        );
      });
      test(`we decode mqtt-packet's ${name.toUpperCase()} to the same packet`, () => {
        fc.assert(
          fc.property(compatible, (packet) => {
            const bytes = mqttPacket.generate(toTheirs(packet, version) as unknown as mqttPacket.Packet, {
              protocolVersion: version,
            });
            assert.deepEqual(decodeChunks([bytes], version), [packet]);
          }),
          { numRuns: NUM_RUNS },
        );
      });
    }
  });
}
