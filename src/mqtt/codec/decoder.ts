/**
 * Streaming MQTT decoder: frames packets out of arbitrarily chunked bytes, checks limits on the fixed header before
 * buffering anything, and decodes each packet into its typed shape.
 */
import {
  decodeAck,
  decodeAuth,
  decodeConnack,
  decodeConnect,
  decodeConnectVersion,
  decodeDisconnect,
  decodeEmpty,
  decodeSuback,
  decodeSubscribe,
  decodeUnsuback,
  decodeUnsubscribe,
} from './decode-packets.js';
import { ProtocolError } from './errors.js';
import { PacketType, type Packet, type ProtocolVersion, type QoS } from './packets.js';
import { readProperties } from './properties.js';
import { malformed, readUtf8, Reader } from './reader.js';
import { ReasonCode } from './reason-codes.js';

/**
 * One reader for every decoder: decoding is synchronous and the reader is reset before any handler runs, so it is
 * never in use by two decoders at once, and tens of thousands of idle connections do not each carry one.
 */
const sharedReader = new Reader();

/** Receives decoded packets, in wire order. */
export interface PacketHandler {
  onPacket(packet: Packet): void;
}

/**
 * Required fixed-header flags per packet type [MQTT-2.2.2-1] [MQTT-2.2.2-2]; -1 = PUBLISH, whose flags carry
 * DUP/QoS/RETAIN. Type 0 is reserved and always rejected.
 */
const REQUIRED_FLAGS: readonly number[] = [-2, 0, 0, -1, 0, 0, 0b0010, 0, 0b0010, 0, 0b0010, 0, 0, 0, 0, 0];

/**
 * Decodes a byte stream into packets. `push` may be given any chunking (a packet over many chunks, many packets in
 * one chunk); bytes are copied only when a packet spans chunks, and then once.
 *
 * A decoded {@link PublishPacket}'s `payload` is a view into the pushed chunk: a consumer that keeps it beyond the
 * current tick (retained, queued, persisted) must copy it (`Buffer.copyBytesFrom`). Every other Buffer in a packet
 * (password, will payload, binary properties) is already a copy.
 *
 * After `push` throws, the decoder is unusable: every later call throws the same error.
 */
export class PacketDecoder {
  /**
   * Selects the v3.1.1 or v5 layout. Defaults to 4; set automatically as soon as a CONNECT's protocol level is read
   * (so it is already 5 when the rest of a v5 CONNECT is malformed, and stays 4 for an unsupported level); a client
   * sets it to the version it connected with. 3 (MQIsdp) decodes like 4.
   */
  protocolVersion: ProtocolVersion = 4;
  /** Largest packet accepted, fixed header included; larger ones fail with PacketTooLarge (0x95) before buffering. */
  maxPacketSizeBytes: number;

  /**
   * Bytes of an incomplete packet, in order; undefined when the previous chunk ended on a packet boundary (most
   * connections never split a packet, so they never hold an array).
   */
  #pending: Buffer[] | undefined;
  #pendingBytes = 0;
  /** Total size of the pending packet, or -1 while its fixed header is still incomplete. */
  #pendingPacketBytes = -1;
  /** Output of {@link #readFixedHeader}: where the body of the framed packet starts. */
  #bodyStart = 0;
  #failure: Error | undefined;

  constructor(maxPacketSizeBytes: number) {
    this.maxPacketSizeBytes = maxPacketSizeBytes;
  }

  /** Feeds bytes; calls `handler.onPacket` for each complete packet. Throws {@link ProtocolError} on bad input. */
  push(chunk: Buffer, handler: PacketHandler): void {
    if (this.#failure !== undefined) throw this.#failure;
    try {
      let offset = 0;
      if (this.#pendingBytes > 0) {
        offset = this.#completePending(chunk, handler);
        if (offset < 0) return;
      }
      const end = chunk.length;
      while (offset < end) {
        const packetBytes = this.#readFixedHeader(chunk, offset, end);
        if (packetBytes < 0) {
          // Copy the few header bytes rather than pin the whole chunk.
          this.#stash(Buffer.copyBytesFrom(chunk, offset), -1);
          return;
        }
        if (offset + packetBytes > end) {
          this.#stash(chunk.subarray(offset), packetBytes);
          return;
        }
        this.#decode(chunk, offset, this.#bodyStart, offset + packetBytes, handler);
        offset += packetBytes;
      }
    } catch (error) {
      this.#failure = error instanceof Error ? error : new Error('packet handler threw', { cause: error });
      throw error;
    }
  }

  #stash(bytes: Buffer, packetBytes: number): void {
    this.#pending = [bytes];
    this.#pendingBytes = bytes.length;
    this.#pendingPacketBytes = packetBytes;
  }

  /**
   * Adds the start of `chunk` to the pending packet. Returns the offset in `chunk` after the completed packet, or -1
   * when the whole chunk was absorbed and the packet is still incomplete.
   */
  #completePending(chunk: Buffer, handler: PacketHandler): number {
    const pending = this.#pending!;
    if (this.#pendingPacketBytes < 0) {
      // The fixed header is incomplete, so pending is one buffer of at most 4 bytes; 5 more bytes always finish it.
      const head = Buffer.concat([pending[0]!, chunk.subarray(0, 5)]);
      const packetBytes = this.#readFixedHeader(head, 0, head.length);
      if (packetBytes < 0) {
        pending[0] = head;
        this.#pendingBytes = head.length;
        return -1;
      }
      this.#pendingPacketBytes = packetBytes;
    }
    const missingBytes = this.#pendingPacketBytes - this.#pendingBytes;
    if (chunk.length < missingBytes) {
      pending.push(chunk);
      this.#pendingBytes += chunk.length;
      return -1;
    }
    pending.push(missingBytes === chunk.length ? chunk : chunk.subarray(0, missingBytes));
    const packet = Buffer.concat(pending, this.#pendingPacketBytes);
    this.#pending = undefined;
    this.#pendingBytes = 0;
    this.#pendingPacketBytes = -1;
    this.#readFixedHeader(packet, 0, packet.length);
    this.#decode(packet, 0, this.#bodyStart, packet.length, handler);
    return missingBytes;
  }

  /**
   * Validates the fixed header at `offset` and returns the packet's total size, or -1 if the header is not complete
   * within `end`. Sets {@link #bodyStart}. Limits are checked here, before any body byte is buffered.
   */
  #readFixedHeader(buf: Buffer, offset: number, end: number): number {
    const firstByte = buf[offset]!;
    const type = firstByte >> 4;
    const requiredFlags = REQUIRED_FLAGS[type]!;
    if (requiredFlags !== -1 && (firstByte & 0x0f) !== requiredFlags) {
      if (type === 0) throw malformed('reserved packet type 0');
      throw malformed(`invalid fixed header flags 0x${(firstByte & 0x0f).toString(16)} for packet type ${type}`);
    }
    // [MQTT-1.5.5] Remaining Length: a Variable Byte Integer of at most 4 bytes.
    let remainingLength = 0;
    let multiplier = 1;
    let pos = offset + 1;
    for (;;) {
      if (pos >= end) return -1;
      const byte = buf[pos++]!;
      remainingLength += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) break;
      if (pos - offset > 4) throw malformed('Remaining Length longer than 4 bytes');
      multiplier *= 128;
    }
    const packetBytes = pos - offset + remainingLength;
    if (packetBytes > this.maxPacketSizeBytes) {
      throw new ProtocolError(
        ReasonCode.PacketTooLarge,
        `packet of ${packetBytes} bytes exceeds the maximum of ${this.maxPacketSizeBytes}`,
      );
    }
    this.#bodyStart = pos;
    return packetBytes;
  }

  /** Decodes the packet in `buf[offset..end)` whose body starts at `bodyStart`. */
  #decode(buf: Buffer, offset: number, bodyStart: number, end: number, handler: PacketHandler): void {
    const firstByte = buf[offset]!;
    const type = firstByte >> 4;
    if (type === PacketType.Publish) {
      this.#decodePublish(buf, firstByte, bodyStart, end, handler);
      return;
    }
    const reader = sharedReader;
    reader.reset(buf, bodyStart, end);
    const version = this.protocolVersion;
    let packet: Packet;
    switch (type) {
      case PacketType.Connect:
        // Switch version first: an error in the rest of CONNECT is then answered in the client's version.
        this.protocolVersion = decodeConnectVersion(reader);
        packet = decodeConnect(reader, this.protocolVersion);
        break;
      case PacketType.Connack:
        packet = decodeConnack(reader, version);
        break;
      case PacketType.Puback:
      case PacketType.Pubrec:
      case PacketType.Pubrel:
      case PacketType.Pubcomp:
        packet = decodeAck(reader, type, version);
        break;
      case PacketType.Subscribe:
        packet = decodeSubscribe(reader, version);
        break;
      case PacketType.Suback:
        packet = decodeSuback(reader, version);
        break;
      case PacketType.Unsubscribe:
        packet = decodeUnsubscribe(reader, version);
        break;
      case PacketType.Unsuback:
        packet = decodeUnsuback(reader, version);
        break;
      case PacketType.Pingreq:
      case PacketType.Pingresp:
        packet = decodeEmpty(reader, type);
        break;
      case PacketType.Disconnect:
        packet = decodeDisconnect(reader, version);
        break;
      case PacketType.Auth:
        packet = decodeAuth(reader, version);
        break;
      default:
        throw malformed(`reserved packet type ${type}`);
    }
    // Reset before the handler runs so a handler that keeps a reference never sees the reader move.
    reader.reset(EMPTY, 0, 0);
    handler.onPacket(packet);
  }

  /** The hot path: PUBLISH without the Reader unless it carries v5 properties. */
  #decodePublish(buf: Buffer, firstByte: number, bodyStart: number, end: number, handler: PacketHandler): void {
    const qos = (firstByte >> 1) & 0x03;
    // [MQTT-3.3.1-4] QoS 3 is malformed.
    if (qos === 3) throw malformed('PUBLISH with QoS 3');
    const isDuplicate = (firstByte & 0x08) !== 0;
    // [MQTT-3.3.1-2] DUP must be 0 for QoS 0.
    if (isDuplicate && qos === 0) throw malformed('PUBLISH with DUP set at QoS 0');
    let pos = bodyStart;
    if (pos + 2 > end) throw malformed('topic name runs past the end of the packet');
    const topicEnd = pos + 2 + ((buf[pos]! << 8) | buf[pos + 1]!);
    pos += 2;
    if (topicEnd > end) throw malformed('topic name runs past the end of the packet');
    const topicName = readUtf8(buf, pos, topicEnd);
    pos = topicEnd;
    let packetId = 0;
    if (qos > 0) {
      if (pos + 2 > end) throw malformed('packet identifier runs past the end of the packet');
      packetId = (buf[pos]! << 8) | buf[pos + 1]!;
      // [MQTT-2.2.1-3] a QoS > 0 PUBLISH needs a non-zero packet identifier.
      if (packetId === 0) throw malformed('packet identifier 0');
      pos += 2;
    }
    let properties;
    if (this.protocolVersion === 5) {
      if (pos < end && buf[pos] === 0) {
        pos++; // empty property section, the common case
      } else {
        const reader = sharedReader;
        reader.reset(buf, pos, end);
        properties = readProperties(reader, PacketType.Publish);
        pos = reader.pos;
        reader.reset(EMPTY, 0, 0);
      }
    }
    handler.onPacket({
      type: PacketType.Publish,
      topicName,
      payload: buf.subarray(pos, end),
      qos: qos as QoS,
      isRetained: (firstByte & 0x01) !== 0,
      isDuplicate,
      packetId,
      properties,
    });
  }
}

const EMPTY = Buffer.alloc(0);
