/**
 * Codec micro-benchmark: decode many small PUBLISH packets from one big buffer and from 64 KiB socket-sized chunks,
 * mqtt-packet's parser on the same bytes for comparison, and the fan-out `encodePublishHead` rate.
 * Run: node .build-codec/bench/codec-decode.js [packetCount]
 */
import mqttPacket from 'mqtt-packet';
import {
  encodePacket,
  encodePublishHead,
  PacketDecoder,
  PacketType,
  type Packet,
  type PacketHandler,
  type ProtocolVersion,
} from '../src/mqtt/codec/index.js';

const packetCount = Number(process.argv[2] ?? 1_000_000);
const ROUNDS = 5;

function buildStream(protocolVersion: ProtocolVersion, count: number): Buffer {
  const packets: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    packets.push(
      encodePacket(
        {
          type: PacketType.Publish,
          topicName: `devices/dev-${i % 1000}/telemetry`,
          payload: Buffer.from(`{"t":${20 + (i % 10)},"h":40}`),
          qos: i % 2 === 0 ? 0 : 1,
          isRetained: false,
          isDuplicate: false,
          packetId: (i % 65_535) + 1,
          properties: undefined,
        },
        protocolVersion,
      ),
    );
  }
  return Buffer.concat(packets);
}

class CountingHandler implements PacketHandler {
  count = 0;
  payloadBytes = 0;
  onPacket(packet: Packet): void {
    this.count++;
    if (packet.type === PacketType.Publish) this.payloadBytes += packet.payload.length;
  }
}

function report(name: string, count: number, elapsedNs: bigint): void {
  const perSecond = (count / Number(elapsedNs)) * 1e9;
  console.log(`${name.padEnd(48)} ${(perSecond / 1e6).toFixed(2).padStart(7)} M/s`);
}

function best(name: string, count: number, run: () => void): void {
  let bestNs = BigInt(Number.MAX_SAFE_INTEGER);
  for (let round = 0; round < ROUNDS; round++) {
    const start = process.hrtime.bigint();
    run();
    const elapsed = process.hrtime.bigint() - start;
    if (elapsed < bestNs) bestNs = elapsed;
  }
  report(name, count, bestNs);
}

function decodeWhole(stream: Buffer, protocolVersion: ProtocolVersion): void {
  const handler = new CountingHandler();
  const decoder = new PacketDecoder(1_048_576);
  decoder.protocolVersion = protocolVersion;
  decoder.push(stream, handler);
  if (handler.count !== packetCount) throw new Error(`decoded ${handler.count} packets`);
}

function decodeChunked(stream: Buffer, chunkBytes: number): void {
  const handler = new CountingHandler();
  const decoder = new PacketDecoder(1_048_576);
  for (let offset = 0; offset < stream.length; offset += chunkBytes) {
    decoder.push(stream.subarray(offset, offset + chunkBytes), handler);
  }
  if (handler.count !== packetCount) throw new Error(`decoded ${handler.count} packets`);
}

const v4Stream = buildStream(4, packetCount);
const v5Stream = buildStream(5, packetCount);
console.log(
  `${packetCount} PUBLISH packets (QoS 0/1 alternating, ~25-byte topic, ~16-byte payload), ` +
    `${(v4Stream.length / packetCount).toFixed(1)} bytes each (3.1.1); best of ${ROUNDS}`,
);

best('decode 3.1.1, one buffer', packetCount, () => {
  decodeWhole(v4Stream, 4);
});
best('decode 3.1.1, 64 KiB chunks', packetCount, () => {
  decodeChunked(v4Stream, 65_536);
});
best('decode 3.1.1, 1000-byte chunks', packetCount, () => {
  decodeChunked(v4Stream, 1000);
});
best('decode 5.0, one buffer', packetCount, () => {
  decodeWhole(v5Stream, 5);
});

const mqttPacketCount = Math.min(packetCount, 200_000);
const mqttPacketStream = buildStream(4, mqttPacketCount);
best('mqtt-packet parser 3.1.1, one buffer', mqttPacketCount, () => {
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  let count = 0;
  parser.on('packet', () => {
    count++;
  });
  parser.parse(mqttPacketStream);
  if (count !== mqttPacketCount) throw new Error(`mqtt-packet parsed ${count} packets`);
});

const headCount = packetCount;
let headBytes = 0;
best('encodePublishHead 3.1.1 QoS 1', headCount, () => {
  for (let i = 0; i < headCount; i++) {
    headBytes += encodePublishHead(
      'devices/dev-42/telemetry',
      20,
      1,
      false,
      false,
      (i % 65_535) + 1,
      undefined,
      4,
    ).length;
  }
});
const subscriptionProperties = { subscriptionIdentifiers: [7] };
best('encodePublishHead 5.0 QoS 1 + subscription id', headCount, () => {
  for (let i = 0; i < headCount; i++) {
    headBytes += encodePublishHead(
      'devices/dev-42/telemetry',
      20,
      1,
      false,
      false,
      (i % 65_535) + 1,
      subscriptionProperties,
      5,
    ).length;
  }
});
if (headBytes === 0) throw new Error('no heads encoded');
