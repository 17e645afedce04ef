// Exact wire forms the encoder must produce, and the fan-out head contract.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import '../../helpers/fast-check-seed.js';
import {
  encodePacket,
  encodePublishHead,
  PacketType,
  type Packet,
  type ProtocolVersion,
} from '../../../src/mqtt/codec/index.js';
import { packetArbitraries } from './arbitraries.js';

const hex = (buf: Buffer) => buf.toString('hex');

describe('short forms', () => {
  test('a v5 PUBACK with Success and no properties is the 2-byte 3.1.1 form [MQTT-3.4.2.1]', () => {
    const puback: Packet = { type: PacketType.Puback, packetId: 1, reasonCode: 0, properties: undefined };
    assert.equal(hex(encodePacket(puback, 5)), '40020001');
    assert.equal(hex(encodePacket({ ...puback, properties: {} }, 5)), '40020001');
    assert.equal(hex(encodePacket({ ...puback, reasonCode: 0x10 }, 5)), '4003000110');
    assert.equal(hex(encodePacket({ ...puback, reasonCode: 0x10 }, 4)), '40020001');
  });
  test('PUBREL carries fixed-header flags 0b0010 [MQTT-3.6.1-1]', () => {
    const pubrel: Packet = { type: PacketType.Pubrel, packetId: 0x0102, reasonCode: 0, properties: undefined };
    assert.equal(hex(encodePacket(pubrel, 4)), '62020102');
  });
  test('a v5 DISCONNECT with reason 0 and no properties is e0 00 [MQTT-3.14.2.1]', () => {
    const disconnect: Packet = { type: PacketType.Disconnect, reasonCode: 0, properties: undefined };
    assert.equal(hex(encodePacket(disconnect, 5)), 'e000');
    assert.equal(hex(encodePacket({ ...disconnect, reasonCode: 0x04 }, 5)), 'e00104');
    // 3.1.1 has no reason code.
    assert.equal(hex(encodePacket({ ...disconnect, reasonCode: 0x04 }, 4)), 'e000');
  });
  test('a 3.1.1 UNSUBACK has no payload [MQTT-3.11.2]', () => {
    const unsuback: Packet = { type: PacketType.Unsuback, packetId: 5, reasonCodes: [0x11], properties: undefined };
    assert.equal(hex(encodePacket(unsuback, 4)), 'b0020005');
    assert.equal(hex(encodePacket(unsuback, 5)), 'b00400050011');
  });
  test('PINGREQ and PINGRESP are two bytes', () => {
    assert.equal(hex(encodePacket({ type: PacketType.Pingreq }, 4)), 'c000');
    assert.equal(hex(encodePacket({ type: PacketType.Pingresp }, 5)), 'd000');
  });
});

describe('3.1.1 mapping', () => {
  test('CONNACK reason codes map to 3.1.1 return codes', () => {
    const cases: [number, number][] = [
      [0x00, 0x00],
      [0x84, 0x01],
      [0x85, 0x02],
      [0x88, 0x03],
      [0x86, 0x04],
      [0x87, 0x05],
      [0x95, 0x03],
    ];
    for (const [reasonCode, returnCode] of cases) {
      const bytes = encodePacket(
        { type: PacketType.Connack, sessionPresent: false, reasonCode, properties: undefined },
        4,
      );
      assert.equal(bytes[3], returnCode);
    }
  });
  test('SUBACK failure reason codes become 0x80 [MQTT-3.9.3]', () => {
    const bytes = encodePacket(
      { type: PacketType.Suback, packetId: 1, reasonCodes: [0, 1, 2, 0x87, 0xa2], properties: undefined },
      4,
    );
    assert.equal(hex(bytes), '9007000100010280' + '80');
  });
  test('properties are not written for 3.1.1', () => {
    const publish: Packet = {
      type: PacketType.Publish,
      topicName: 'a',
      payload: Buffer.from('x'),
      qos: 0,
      isRetained: false,
      isDuplicate: false,
      packetId: 0,
      properties: { topicAlias: 3, userProperties: [['k', 'v']] },
    };
    assert.equal(hex(encodePacket(publish, 4)), '3004000161' + '78');
  });
  test('AUTH cannot be encoded for 3.1.1', () => {
    assert.throws(() => encodePacket({ type: PacketType.Auth, reasonCode: 0, properties: undefined }, 4), RangeError);
  });
});

describe('encoder guards', () => {
  test('a property not allowed on the packet type is left out', () => {
    const puback: Packet = {
      type: PacketType.Puback,
      packetId: 1,
      reasonCode: 0,
      properties: { sessionExpiryInterval: 10 },
    };
    assert.equal(hex(encodePacket(puback, 5)), '40020001');
  });
  test('a string longer than 65535 bytes throws RangeError [MQTT-1.5.4]', () => {
    assert.throws(() => encodePublishHead('é'.repeat(40_000), 0, 0, false, false, 0, undefined, 4), RangeError);
  });
});

describe('encodePublishHead', () => {
  for (const version of [4, 5] as const satisfies readonly ProtocolVersion[]) {
    test(`head + payload is byte-identical to the whole PUBLISH (protocol level ${version})`, () => {
      fc.assert(
        fc.property(packetArbitraries(version).publish, (packet) => {
          const head = encodePublishHead(
            packet.topicName,
            packet.payload.length,
            packet.qos,
            packet.isRetained,
            packet.isDuplicate,
            packet.packetId,
            packet.properties,
            version,
          );
          const whole = encodePacket(packet, version);
          // The documented packet size for Maximum Packet Size checks [MQTT-3.1.2-24].
          assert.equal(head.length + packet.payload.length, whole.length);
          assert.deepEqual(Buffer.concat([head, packet.payload]), whole);
        }),
        { numRuns: 200 },
      );
    });
  }
  test('the Remaining Length grows to 2 bytes at 128 and 3 bytes at 16384 [MQTT-1.5.5]', () => {
    // topic "a": variable header 3 bytes.
    assert.equal(encodePublishHead('a', 124, 0, false, false, 0, undefined, 4).length, 1 + 1 + 3);
    assert.equal(encodePublishHead('a', 125, 0, false, false, 0, undefined, 4).length, 1 + 2 + 3);
    assert.equal(encodePublishHead('a', 16_381, 0, false, false, 0, undefined, 4).length, 1 + 3 + 3);
  });
});
