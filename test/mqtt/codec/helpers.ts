import assert from 'node:assert/strict';
import {
  PacketDecoder,
  ProtocolError,
  type Packet,
  type PacketHandler,
  type ProtocolVersion,
} from '../../../src/mqtt/codec/index.js';

/** Collects decoded packets. */
export class PacketCollector implements PacketHandler {
  readonly packets: Packet[] = [];
  onPacket(packet: Packet): void {
    this.packets.push(packet);
  }
}

/** Decodes `chunks` in order with a fresh decoder set to `protocolVersion`. */
export function decodeChunks(
  chunks: readonly Buffer[],
  protocolVersion: ProtocolVersion,
  maxPacketSizeBytes = 268_435_460,
): Packet[] {
  const decoder = new PacketDecoder(maxPacketSizeBytes);
  decoder.protocolVersion = protocolVersion;
  const collector = new PacketCollector();
  for (const chunk of chunks) decoder.push(chunk, collector);
  return collector.packets;
}

/** Splits `bytes` at the given offsets (any order, duplicates and out-of-range values allowed). */
export function splitAt(bytes: Buffer, offsets: readonly number[]): Buffer[] {
  const cuts = [...new Set(offsets.map((o) => o % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const cut of cuts) {
    chunks.push(bytes.subarray(start, cut));
    start = cut;
  }
  chunks.push(bytes.subarray(start));
  return chunks;
}

/** Asserts that decoding `bytes` fails with a ProtocolError carrying `reason` (never the message text). */
export function assertRejects(
  bytes: Buffer | readonly number[],
  protocolVersion: ProtocolVersion,
  reason: number,
): void {
  const chunk = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
  assert.throws(
    () => decodeChunks([chunk], protocolVersion),
    (error: unknown) => {
      assert.ok(error instanceof ProtocolError, `expected a ProtocolError, got ${String(error)}`);
      assert.equal(error.reason, reason, `reason 0x${error.reason.toString(16)}: ${error.message}`);
      return true;
    },
  );
}
