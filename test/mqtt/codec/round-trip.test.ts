// Property tests in the spirit of EMQX prop_emqx_frame: every valid packet survives encode -> decode, whatever the
// chunking of the byte stream.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import '../../helpers/fast-check-seed.js';
import { encodePacket, PacketDecoder, type Packet, type ProtocolVersion } from '../../../src/mqtt/codec/index.js';
import { anyNonConnectPacket, packetArbitraries } from './arbitraries.js';
import { decodeChunks, PacketCollector, splitAt } from './helpers.js';

const VERSIONS: readonly ProtocolVersion[] = [3, 4, 5];
const NUM_RUNS = 150;

for (const version of VERSIONS) {
  describe(`MQTT protocol level ${version}`, () => {
    for (const [name, arbitrary] of Object.entries(packetArbitraries(version))) {
      test(`every valid ${name.toUpperCase()} decodes to the packet that was encoded`, () => {
        fc.assert(
          fc.property(arbitrary, (packet: Packet) => {
            const bytes = encodePacket(packet, version);
            assert.deepEqual(decodeChunks([bytes], version), [packet]);
          }),
          { numRuns: NUM_RUNS },
        );
      });
    }

    test('a stream of packets split at arbitrary points decodes to the same packets', () => {
      const { connect } = packetArbitraries(version);
      fc.assert(
        fc.property(
          connect,
          fc.array(anyNonConnectPacket(version), { maxLength: 12 }),
          fc.array(fc.nat(), { maxLength: 20 }),
          (connectPacket, packets, offsets) => {
            // The decoder starts at its default version and learns the real one from CONNECT.
            const all = [connectPacket, ...packets];
            const stream = Buffer.concat(all.map((p) => encodePacket(p, version)));
            const decoder = new PacketDecoder(1_000_000);
            const collector = new PacketCollector();
            for (const chunk of splitAt(stream, offsets)) decoder.push(chunk, collector);
            assert.deepEqual(collector.packets, all);
            assert.equal(decoder.protocolVersion, version);
          },
        ),
        { numRuns: NUM_RUNS },
      );
    });

    test('a stream fed one byte at a time decodes to the same packets', () => {
      fc.assert(
        fc.property(fc.array(anyNonConnectPacket(version), { maxLength: 6 }), (packets) => {
          const stream = Buffer.concat(packets.map((p) => encodePacket(p, version)));
          const chunks: Buffer[] = [];
          for (let i = 0; i < stream.length; i++) chunks.push(stream.subarray(i, i + 1));
          assert.deepEqual(decodeChunks(chunks, version), packets);
        }),
        { numRuns: 50 },
      );
    });
  });
}

test('a PUBLISH with a payload larger than one socket read decodes across many chunks', () => {
  const payload = Buffer.alloc(200_000, 7);
  const packet: Packet = {
    type: 3,
    topicName: 'big/payload',
    payload,
    qos: 1,
    isRetained: true,
    isDuplicate: false,
    packetId: 9,
    properties: undefined,
  };
  const bytes = encodePacket(packet, 4);
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < bytes.length; offset += 65_536) chunks.push(bytes.subarray(offset, offset + 65_536));
  assert.deepEqual(decodeChunks(chunks, 4), [packet]);
});
