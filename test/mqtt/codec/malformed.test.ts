// Packet-level validation rules, each asserted by the reason code the broker will answer with.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  PacketDecoder,
  PacketType,
  ProtocolError,
  ReasonCode,
  type ProtocolVersion,
} from '../../../src/mqtt/codec/index.js';
import { assertRejects, decodeChunks, PacketCollector } from './helpers.js';

const MALFORMED = ReasonCode.MalformedPacket;
const PROTOCOL_ERROR = ReasonCode.ProtocolError;

/** Two-byte length prefixed UTF-8 string. */
function str(value: string): number[] {
  const bytes = [...Buffer.from(value, 'utf8')];
  return [bytes.length >> 8, bytes.length & 0xff, ...bytes];
}

/** A packet from its first byte and body parts; the Remaining Length is computed (one byte, bodies here are small). */
function frame(firstByte: number, ...parts: (number | number[])[]): number[] {
  const body = parts.flat();
  assert.ok(body.length < 128);
  return [firstByte, body.length, ...body];
}

/** Property section: Property Length then the properties. */
function props(...parts: (number | number[])[]): number[] {
  const body = parts.flat();
  return [body.length, ...body];
}

function connect(version: ProtocolVersion, flags: number, ...rest: (number | number[])[]): number[] {
  const name = version === 3 ? 'MQIsdp' : 'MQTT';
  return frame(0x10, str(name), version, flags, [0x00, 0x3c], version === 5 ? [0] : [], str('c'), ...rest);
}

function decodeOne(bytes: number[], version: ProtocolVersion) {
  const packets = decodeChunks([Buffer.from(bytes)], version);
  assert.equal(packets.length, 1);
  return packets[0]!;
}

describe('PUBLISH', () => {
  test('QoS 3 is malformed [MQTT-3.3.1-4]', () => {
    assertRejects(frame(0x36, str('t'), [0, 1]), 4, MALFORMED);
  });
  test('DUP at QoS 0 is malformed [MQTT-3.3.1-2]', () => {
    assertRejects(frame(0x38, str('t')), 4, MALFORMED);
  });
  test('packet identifier 0 at QoS 1 or 2 is malformed [MQTT-2.2.1-3]', () => {
    assertRejects(frame(0x32, str('t'), [0, 0]), 4, MALFORMED);
    assertRejects(frame(0x34, str('t'), [0, 0], 0), 5, MALFORMED);
  });
  test('a topic length past the end of the packet is malformed', () => {
    assertRejects(frame(0x30, [0x00, 0x09], 0x61), 4, MALFORMED);
    assertRejects(frame(0x30, 0x00), 4, MALFORMED);
  });
  test('ill-formed UTF-8 in the topic is malformed [MQTT-1.5.4-1]', () => {
    for (const bad of [[0xc3, 0x28], [0xed, 0xa0, 0x80] /* surrogate */, [0xc0, 0xaf] /* overlong */, [0xff]]) {
      assertRejects(frame(0x30, [0, bad.length], bad), 4, MALFORMED);
    }
    // Long strings skip the ASCII fast path and go to the native validator.
    const long = [...Buffer.from('x'.repeat(80)), 0xc3];
    assertRejects(frame(0x30, [0, long.length], long), 4, MALFORMED);
  });
  test('U+0000 in the topic is malformed [MQTT-1.5.4-2], in short and long topics', () => {
    assertRejects(frame(0x30, str('a\u0000b')), 4, MALFORMED);
    assertRejects(frame(0x30, str(`é${'y'.repeat(70)}\u0000`)), 4, MALFORMED);
  });
  test('a multi-byte UTF-8 topic decodes to the same text', () => {
    const packet = decodeOne(frame(0x30, str('капля/温度/😀'), 0x41), 4);
    assert.equal(packet.type === PacketType.Publish && packet.topicName, 'капля/温度/😀');
  });
  test('the payload is the bytes after the variable header, and may be empty', () => {
    const packet = decodeOne(frame(0x33, str('t'), [0x12, 0x34], [9, 8, 7]), 4);
    assert.deepEqual(packet, {
      type: PacketType.Publish,
      topicName: 't',
      payload: Buffer.from([9, 8, 7]),
      qos: 1,
      isRetained: true,
      isDuplicate: false,
      packetId: 0x1234,
      properties: undefined,
    });
    const empty = decodeOne(frame(0x30, str('t'), 0), 5);
    assert.equal(empty.type === PacketType.Publish && empty.payload.length, 0);
  });
});

describe('acknowledgements, DISCONNECT and AUTH', () => {
  test('packet identifier 0 is malformed in PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK [MQTT-2.2.1-3]', () => {
    for (const first of [0x40, 0x50, 0x62, 0x70]) assertRejects(frame(first, [0, 0]), 4, MALFORMED);
    assertRejects(frame(0x90, [0, 0], 0), 4, MALFORMED);
    assertRejects(frame(0xb0, [0, 0]), 4, MALFORMED);
  });
  test('a v5 acknowledgement without reason code means Success, without properties means none [MQTT-3.4.2.1]', () => {
    assert.deepEqual(decodeOne([0x40, 0x02, 0x00, 0x07], 5), {
      type: PacketType.Puback,
      packetId: 7,
      reasonCode: 0,
      properties: undefined,
    });
    assert.deepEqual(decodeOne([0x50, 0x03, 0x00, 0x07, 0x10], 5), {
      type: PacketType.Pubrec,
      packetId: 7,
      reasonCode: 0x10,
      properties: undefined,
    });
  });
  test('a v5 DISCONNECT or AUTH with Remaining Length 0 carries reason code 0 [MQTT-3.14.2.1] [MQTT-3.15.2.1]', () => {
    assert.deepEqual(decodeOne([0xe0, 0x00], 5), { type: PacketType.Disconnect, reasonCode: 0, properties: undefined });
    assert.deepEqual(decodeOne([0xe0, 0x01, 0x04], 5), {
      type: PacketType.Disconnect,
      reasonCode: 4,
      properties: undefined,
    });
    assert.deepEqual(decodeOne([0xf0, 0x00], 5), { type: PacketType.Auth, reasonCode: 0, properties: undefined });
  });
  test('a 3.1.1 acknowledgement with more than a packet identifier is malformed', () => {
    assertRejects(frame(0x40, [0, 1], 0), 4, MALFORMED);
    assertRejects(frame(0xb0, [0, 1], 0), 4, MALFORMED);
  });
  test('CONNACK with reserved flag bits is malformed [MQTT-3.2.2-1]', () => {
    assertRejects(frame(0x20, 0x02, 0x00), 4, MALFORMED);
  });
  test('3.1.1 CONNACK return codes are read as the matching v5 reason codes', () => {
    const codes = [0x00, 0x84, 0x85, 0x88, 0x86, 0x87];
    for (let returnCode = 0; returnCode < codes.length; returnCode++) {
      assert.deepEqual(decodeOne([0x20, 0x02, 0x01, returnCode], 4), {
        type: PacketType.Connack,
        sessionPresent: true,
        reasonCode: codes[returnCode],
        properties: undefined,
      });
    }
    assertRejects([0x20, 0x02, 0x00, 0x06], 4, MALFORMED);
  });
  test('a 3.1.1 SUBACK return code other than 0, 1, 2, 0x80 is malformed [MQTT-3.9.3-2]', () => {
    assertRejects(frame(0x90, [0, 1], 0x03), 4, MALFORMED);
  });
});

describe('CONNECT', () => {
  test('MQTT level 4, MQTT level 5 and MQIsdp level 3 are accepted and set the decoder version', () => {
    for (const version of [3, 4, 5] as const) {
      const decoder = new PacketDecoder(1000);
      const collector = new PacketCollector();
      decoder.push(Buffer.from(connect(version, 0x02)), collector);
      assert.equal(decoder.protocolVersion, version);
      assert.deepEqual(collector.packets, [
        {
          type: PacketType.Connect,
          protocolName: version === 3 ? 'MQIsdp' : 'MQTT',
          protocolVersion: version,
          cleanStart: true,
          keepAliveSeconds: 60,
          clientId: 'c',
          username: undefined,
          password: undefined,
          will: undefined,
          properties: undefined,
        },
      ]);
    }
  });
  test('an unknown protocol level is refused with Unsupported Protocol Version (0x84) [MQTT-3.1.2-2]', () => {
    assertRejects(frame(0x10, str('MQTT'), 6, 0x02, [0, 60], str('c')), 4, ReasonCode.UnsupportedProtocolVersion);
    assertRejects(frame(0x10, str('MQTT'), 3, 0x02, [0, 60], str('c')), 4, ReasonCode.UnsupportedProtocolVersion);
    assertRejects(frame(0x10, str('MQIsdp'), 4, 0x02, [0, 60], str('c')), 4, ReasonCode.UnsupportedProtocolVersion);
  });
  test('a v5 CONNECT malformed after its protocol level leaves the decoder at v5, so the CONNACK can be v5', () => {
    const decoder = new PacketDecoder(1000);
    assert.throws(() => {
      decoder.push(Buffer.from(connect(5, 0x01)), new PacketCollector());
    }, ProtocolError);
    assert.equal(decoder.protocolVersion, 5);
  });
  test('an unsupported protocol level leaves the decoder at 3.1.1, so the CONNACK 0x01 is in 3.1.1 form', () => {
    const decoder = new PacketDecoder(1000);
    assert.throws(() => {
      decoder.push(Buffer.from(frame(0x10, str('MQTT'), 6, 0x02, [0, 60], str('c'))), new PacketCollector());
    }, ProtocolError);
    assert.equal(decoder.protocolVersion, 4);
  });
  test('an unknown protocol name is malformed [MQTT-3.1.2-1]', () => {
    assertRejects(frame(0x10, str('MQTX'), 4, 0x02, [0, 60], str('c')), 4, MALFORMED);
  });
  test('the reserved connect flag must be 0 [MQTT-3.1.2-3]', () => {
    assertRejects(connect(4, 0x03), 4, MALFORMED);
  });
  test('will QoS or will retain without the will flag is malformed [MQTT-3.1.2-11] [MQTT-3.1.2-13] [MQTT-3.1.2-15]', () => {
    assertRejects(connect(4, 0x08), 4, MALFORMED);
    assertRejects(connect(4, 0x20), 4, MALFORMED);
  });
  test('will QoS 3 is malformed [MQTT-3.1.2-14]', () => {
    assertRejects(connect(4, 0x1c, str('w'), str('p')), 4, MALFORMED);
  });
  test('a password without a user name is malformed in 3.1.1 [MQTT-3.1.2-22] but allowed in 5', () => {
    assertRejects(connect(4, 0x40, str('pw')), 4, MALFORMED);
    assertRejects(connect(3, 0x40, str('pw')), 4, MALFORMED);
    const packet = decodeOne(connect(5, 0x40, str('pw')), 4);
    assert.deepEqual(packet.type === PacketType.Connect && packet.password, Buffer.from('pw'));
  });
  test('bytes after the last field are malformed', () => {
    assertRejects(connect(4, 0x00, 0x00), 4, MALFORMED);
  });
  test('a field running past the end of the packet is malformed', () => {
    assertRejects(connect(4, 0x80), 4, MALFORMED); // user name flag, no user name
  });
  test('Authentication Data without Authentication Method is a protocol error (0x82) [MQTT-3.1.2.11.10]', () => {
    assertRejects(frame(0x10, str('MQTT'), 5, 0x02, [0, 60], props(0x16, [0, 1, 9]), str('c')), 5, PROTOCOL_ERROR);
  });
  test('v5 will properties are read, and a CONNECT-only property among them is malformed', () => {
    const ok = frame(0x10, str('MQTT'), 5, 0x06, [0, 60], 0, str('c'), props(0x18, [0, 0, 0, 5]), str('w'), str('p'));
    const packet = decodeOne(ok, 4);
    assert.deepEqual(packet.type === PacketType.Connect && packet.will?.properties, { willDelayInterval: 5 });
    const bad = frame(0x10, str('MQTT'), 5, 0x06, [0, 60], 0, str('c'), props(0x11, [0, 0, 0, 5]), str('w'), str('p'));
    assertRejects(bad, 4, MALFORMED);
  });
});

describe('SUBSCRIBE and UNSUBSCRIBE', () => {
  test('SUBSCRIBE without subscriptions is a protocol error (0x82) [MQTT-3.8.3-3]', () => {
    assertRejects(frame(0x82, [0, 1]), 4, PROTOCOL_ERROR);
    assertRejects(frame(0x82, [0, 1], 0), 5, PROTOCOL_ERROR);
  });
  test('3.1.1 subscription options other than QoS are malformed [MQTT-3-8.3-4]', () => {
    for (const options of [0x04, 0x08, 0x10, 0x80]) assertRejects(frame(0x82, [0, 1], str('a'), options), 4, MALFORMED);
  });
  test('v5 reserved subscription option bits are malformed [MQTT-3.8.3-5]', () => {
    assertRejects(frame(0x82, [0, 1], 0, str('a'), 0x40), 5, MALFORMED);
    assertRejects(frame(0x82, [0, 1], 0, str('a'), 0x80), 5, MALFORMED);
  });
  test('subscription QoS 3 is refused: malformed in 3.1.1, a protocol error in 5 (3.8.3.1)', () => {
    assertRejects(frame(0x82, [0, 1], str('a'), 0x03), 4, MALFORMED);
    assertRejects(frame(0x82, [0, 1], 0, str('a'), 0x03), 5, PROTOCOL_ERROR);
  });
  test('Retain Handling 3 is a protocol error (0x82) (3.8.3.1)', () => {
    assertRejects(frame(0x82, [0, 1], 0, str('a'), 0x30), 5, PROTOCOL_ERROR);
  });
  test('v5 subscription options decode to their fields', () => {
    const packet = decodeOne(frame(0x82, [0, 1], 0, str('a'), 0x2e), 5);
    assert.deepEqual(packet.type === PacketType.Subscribe && packet.subscriptions, [
      { topicFilter: 'a', qos: 2, noLocal: true, retainAsPublished: true, retainHandling: 2 },
    ]);
  });
  test('SUBSCRIBE and UNSUBSCRIBE with packet identifier 0 are malformed [MQTT-2.2.1-3]', () => {
    assertRejects(frame(0x82, [0, 0], str('a'), 0), 4, MALFORMED);
    assertRejects(frame(0xa2, [0, 0], str('a')), 4, MALFORMED);
  });
  test('UNSUBSCRIBE without topic filters is a protocol error (0x82) [MQTT-3.10.3-2]', () => {
    assertRejects(frame(0xa2, [0, 1]), 4, PROTOCOL_ERROR);
    assertRejects(frame(0xa2, [0, 1], 0), 5, PROTOCOL_ERROR);
  });
  test('a topic filter with ill-formed UTF-8 is malformed [MQTT-1.5.4-1]', () => {
    assertRejects(frame(0xa2, [0, 1], [0, 1, 0xfe]), 4, MALFORMED);
  });
});

describe('v5 properties', () => {
  /** A v5 PUBLISH (QoS 0, topic "t") with the given property section. */
  const publish = (...properties: (number | number[])[]) => frame(0x30, str('t'), props(...properties));

  test('are parsed by type: byte, integers, variable byte integer, string, binary, string pair', () => {
    const packet = decodeOne(
      publish(
        [0x01, 1],
        [0x02, 0, 0, 1, 0],
        [0x23, 0, 9],
        [0x0b, 0x80, 0x01],
        [0x03, ...str('json')],
        [0x09, 0, 2, 0xaa, 0xbb],
        [0x26, ...str('k'), ...str('v')],
      ),
      5,
    );
    assert.deepEqual(packet.type === PacketType.Publish && packet.properties, {
      payloadFormatIndicator: 1,
      messageExpiryInterval: 256,
      topicAlias: 9,
      subscriptionIdentifiers: [128],
      contentType: 'json',
      correlationData: Buffer.from([0xaa, 0xbb]),
      userProperties: [['k', 'v']],
    });
  });
  test('are not read in 3.1.1: the same bytes are payload', () => {
    const packet = decodeOne(frame(0x30, str('t'), [0x02, 0x23, 0, 9]), 4);
    assert.deepEqual(packet.type === PacketType.Publish && packet.payload, Buffer.from([0x02, 0x23, 0, 9]));
  });
  test('an unknown property identifier is malformed', () => {
    assertRejects(publish(0x7f, 0), 5, MALFORMED);
  });
  test('a property not allowed on the packet type is malformed [MQTT-2.2.2.2]', () => {
    assertRejects(publish(0x11, [0, 0, 0, 1]), 5, MALFORMED); // Session Expiry Interval on PUBLISH
    assertRejects(frame(0x40, [0, 1], 0, props(0x23, [0, 1])), 5, MALFORMED); // Topic Alias on PUBACK
    assertRejects(frame(0x10, str('MQTT'), 5, 0x02, [0, 60], props(0x24, 1), str('c')), 5, MALFORMED); // Maximum QoS
  });
  test('a property included twice is a protocol error (0x82)', () => {
    assertRejects(publish([0x02, 0, 0, 0, 1], [0x02, 0, 0, 0, 2]), 5, PROTOCOL_ERROR);
    assertRejects(frame(0x82, [0, 1], props([0x0b, 1], [0x0b, 2]), str('a'), 0), 5, PROTOCOL_ERROR);
  });
  test('User Property may repeat, and a PUBLISH may carry several Subscription Identifiers', () => {
    const packet = decodeOne(
      publish([0x26, ...str('k'), ...str('1')], [0x26, ...str('k'), ...str('2')], [0x0b, 1], [0x0b, 2]),
      5,
    );
    assert.deepEqual(packet.type === PacketType.Publish && packet.properties, {
      userProperties: [
        ['k', '1'],
        ['k', '2'],
      ],
      subscriptionIdentifiers: [1, 2],
    });
  });
  test('invalid property values are protocol errors (0x82)', () => {
    const connectWith = (...p: (number | number[])[]) =>
      frame(0x10, str('MQTT'), 5, 0x02, [0, 60], props(...p), str('c'));
    const connackWith = (...p: (number | number[])[]) => frame(0x20, 0, 0, props(...p));
    const cases: [string, number[]][] = [
      ['Receive Maximum 0', connectWith(0x21, [0, 0])],
      ['Maximum Packet Size 0', connectWith(0x27, [0, 0, 0, 0])],
      ['Request Problem Information 2', connectWith(0x17, 2)],
      ['Request Response Information 2', connectWith(0x19, 2)],
      ['Payload Format Indicator 2', publish(0x01, 2)],
      ['Subscription Identifier 0', frame(0x82, [0, 1], props(0x0b, 0), str('a'), 0)],
      ['Maximum QoS 2', connackWith(0x24, 2)],
      ['Retain Available 2', connackWith(0x25, 2)],
      ['Wildcard Subscription Available 2', connackWith(0x28, 2)],
      ['Subscription Identifier Available 2', connackWith(0x29, 2)],
      ['Shared Subscription Available 2', connackWith(0x2a, 2)],
    ];
    for (const [name, bytes] of cases) {
      assert.doesNotThrow(() => {
        assertRejects(bytes, 5, PROTOCOL_ERROR);
      }, name);
    }
  });
  test('Topic Alias 0 is refused with Topic Alias Invalid (0x94) [MQTT-3.3.2-8]', () => {
    assertRejects(publish(0x23, [0, 0]), 5, ReasonCode.TopicAliasInvalid);
  });
  test('a property length past the end of the packet is malformed', () => {
    assertRejects(frame(0x30, str('t'), 0x05, 0x23, 0, 1), 5, MALFORMED);
  });
  test('a value running past the end of the property section is malformed, even if the packet goes on', () => {
    // Property Length 3 holds Content Type's length prefix and one byte; the string claims 2.
    assertRejects(frame(0x30, str('t'), 0x03, 0x03, 0, 2, 0x61, 0x62), 5, MALFORMED);
  });
  test('a v5 PUBLISH with no property length byte is malformed', () => {
    assertRejects(frame(0x30, str('t')), 5, MALFORMED);
  });
  test('ill-formed UTF-8 in a string property is malformed [MQTT-1.5.4-1]', () => {
    assertRejects(publish(0x03, [0, 1, 0xff]), 5, MALFORMED);
    assertRejects(publish(0x26, str('k'), [0, 1, 0x00]), 5, MALFORMED);
  });
});
