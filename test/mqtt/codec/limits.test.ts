// Framing limits and fixed-header rules: checked on the first bytes, before a body is buffered.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PacketDecoder, ProtocolError, ReasonCode } from '../../../src/mqtt/codec/index.js';
import { assertRejects, PacketCollector } from './helpers.js';

function reasonOf(run: () => void): number {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof ProtocolError);
    return error.reason;
  }
  assert.fail('expected a ProtocolError');
}

test('a PUBLISH larger than the limit is refused with 0x95 from its first 5 bytes, before its body is read', () => {
  const decoder = new PacketDecoder(1_048_576);
  // Remaining Length 268,435,455: the largest MQTT allows, announced in 5 bytes with no body behind it.
  const reason = reasonOf(() => decoder.push(Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f]), new PacketCollector()));
  assert.equal(reason, ReasonCode.PacketTooLarge);
});

test('a too-large packet fed one byte at a time is refused as soon as its Remaining Length is complete', () => {
  const decoder = new PacketDecoder(100);
  const collector = new PacketCollector();
  decoder.push(Buffer.from([0x30]), collector);
  // Remaining Length 200 = 0xc8 0x01: the first byte alone does not decide.
  decoder.push(Buffer.from([0xc8]), collector);
  assert.equal(
    reasonOf(() => decoder.push(Buffer.from([0x01]), collector)),
    ReasonCode.PacketTooLarge,
  );
});

test('the size limit counts the fixed header: a packet of exactly the limit is accepted, one byte more is not', () => {
  // PUBLISH topic "a", payload 3 bytes: remaining length 6, total 8.
  const packet = Buffer.from([0x30, 0x06, 0x00, 0x01, 0x61, 1, 2, 3]);
  const collector = new PacketCollector();
  new PacketDecoder(8).push(packet, collector);
  assert.equal(collector.packets.length, 1);
  assert.equal(
    reasonOf(() => new PacketDecoder(7).push(packet, new PacketCollector())),
    ReasonCode.PacketTooLarge,
  );
});

test('a lowered maxPacketSizeBytes applies to the next packet', () => {
  const decoder = new PacketDecoder(1000);
  const collector = new PacketCollector();
  decoder.push(Buffer.from([0xc0, 0x00]), collector);
  decoder.maxPacketSizeBytes = 1;
  assert.equal(
    reasonOf(() => decoder.push(Buffer.from([0xc0, 0x00]), collector)),
    ReasonCode.PacketTooLarge,
  );
});

test('a Remaining Length longer than 4 bytes is malformed (0x81) [MQTT-1.5.5]', () => {
  assertRejects([0x30, 0xff, 0xff, 0xff, 0xff, 0x01], 4, ReasonCode.MalformedPacket);
});

test('after a protocol error the decoder refuses all further input', () => {
  const decoder = new PacketDecoder(1000);
  const collector = new PacketCollector();
  assert.equal(
    reasonOf(() => decoder.push(Buffer.from([0x36, 0x00]), collector)),
    ReasonCode.MalformedPacket,
  );
  assert.equal(
    reasonOf(() => decoder.push(Buffer.from([0xc0, 0x00]), collector)),
    ReasonCode.MalformedPacket,
  );
  assert.equal(collector.packets.length, 0);
});

test('packets before a malformed one in the same chunk are still delivered, in order', () => {
  const decoder = new PacketDecoder(1000);
  const collector = new PacketCollector();
  assert.throws(() => decoder.push(Buffer.from([0xc0, 0x00, 0xd0, 0x00, 0x00, 0x00]), collector), ProtocolError);
  assert.deepEqual(collector.packets, [{ type: 12 }, { type: 13 }]);
});

test('fixed-header flags other than the required ones are malformed (0x81) [MQTT-2.2.2-1] [MQTT-2.2.2-2]', () => {
  const cases: [string, number[]][] = [
    ['reserved packet type 0', [0x00, 0x00]],
    ['CONNECT with flags 1', [0x11, 0x00]],
    ['PUBACK with flags 1', [0x41, 0x02, 0x00, 0x01]],
    // PUBREL, SUBSCRIBE and UNSUBSCRIBE must carry 0b0010.
    ['PUBREL with flags 0', [0x60, 0x02, 0x00, 0x01]],
    ['SUBSCRIBE with flags 0', [0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x00]],
    ['UNSUBSCRIBE with flags 0', [0xa0, 0x05, 0x00, 0x01, 0x00, 0x01, 0x61]],
    ['PINGREQ with flags 1', [0xc1, 0x00]],
    ['DISCONNECT with flags 8', [0xe8, 0x00]],
  ];
  for (const [name, bytes] of cases) {
    assert.doesNotThrow(() => {
      assertRejects(bytes, 4, ReasonCode.MalformedPacket);
    }, name);
  }
});

test('PINGREQ, PINGRESP and 3.1.1 DISCONNECT with a body are malformed (0x81)', () => {
  assertRejects([0xc0, 0x01, 0x00], 4, ReasonCode.MalformedPacket);
  assertRejects([0xd0, 0x01, 0x00], 5, ReasonCode.MalformedPacket);
  assertRejects([0xe0, 0x01, 0x00], 4, ReasonCode.MalformedPacket);
});

test('AUTH does not exist in 3.1.1: packet type 15 is malformed (0x81)', () => {
  assertRejects([0xf0, 0x00], 4, ReasonCode.MalformedPacket);
});
