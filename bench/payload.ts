import { encodePacket, PacketType } from '../src/mqtt/codec/index.js';

/**
 * Bench payload layout (big-endian): source index u32 | sequence number u32 | send time u64 (ns, CLOCK_MONOTONIC via
 * `process.hrtime.bigint()`, the same clock in every process of the machine) | filler bytes derived from index and
 * sequence, so any corruption, truncation, reordering or duplicate is detected on receipt.
 */
export const PAYLOAD_HEADER_BYTES = 16;

/** The protocol version of every load client: MQTT 3.1.1, which both brokers speak. */
export const LOAD_PROTOCOL_VERSION = 4;

function fillerByte(index: number, seq: number, position: number): number {
  return (index * 7 + seq + position) & 0xff;
}

/** Writes a payload of `length` bytes at `offset`. */
export function writePayload(
  target: Buffer,
  offset: number,
  length: number,
  index: number,
  seq: number,
  sendTimeNs: bigint,
): void {
  target.writeUInt32BE(index, offset);
  target.writeUInt32BE(seq, offset + 4);
  target.writeBigUInt64BE(sendTimeNs, offset + 8);
  for (let position = PAYLOAD_HEADER_BYTES; position < length; position++) {
    target[offset + position] = fillerByte(index, seq, position);
  }
}

/** The decoded header of a received payload, or a reason it is not one of ours. */
export type PayloadCheck = { index: number; seq: number; sendTimeNs: bigint } | string;

/** Checks length and filler of a received payload and returns its header. */
export function readPayload(payload: Buffer, expectedLength: number): PayloadCheck {
  if (payload.length !== expectedLength) {
    return `payload of ${payload.length} bytes, expected ${expectedLength}`;
  }
  const index = payload.readUInt32BE(0);
  const seq = payload.readUInt32BE(4);
  for (let position = PAYLOAD_HEADER_BYTES; position < expectedLength; position++) {
    if (payload[position] !== fillerByte(index, seq, position)) {
      return `payload of source ${index} seq ${seq} corrupt at byte ${position}`;
    }
  }
  return { index, seq, sendTimeNs: payload.readBigUInt64BE(8) };
}

/**
 * A PUBLISH encoded once by our codec; each message is a copy of it with the packet id and the payload header
 * patched in place (the load must cost far less than the broker it measures).
 */
export class PublishTemplate {
  readonly packetBytes: number;
  readonly #template: Buffer;
  readonly #index: number;
  readonly #payloadBytes: number;
  readonly #payloadOffset: number;
  readonly #packetIdOffset: number;

  constructor(topicName: string, qos: 0 | 1, payloadBytes: number, index: number) {
    this.#template = encodePacket(
      {
        type: PacketType.Publish,
        topicName,
        payload: Buffer.alloc(payloadBytes),
        qos,
        isRetained: false,
        isDuplicate: false,
        packetId: qos === 0 ? 0 : 1,
        properties: undefined,
      },
      LOAD_PROTOCOL_VERSION,
    );
    this.packetBytes = this.#template.length;
    this.#index = index;
    this.#payloadBytes = payloadBytes;
    this.#payloadOffset = this.packetBytes - payloadBytes;
    // [MQTT-3.3.2] the packet id follows the topic name, right before the payload in 3.1.1.
    this.#packetIdOffset = qos === 0 ? -1 : this.#payloadOffset - 2;
  }

  /** Writes message `seq` at `offset` of `target` (which has `packetBytes` free there). */
  write(target: Buffer, offset: number, seq: number, packetId: number, sendTimeNs: bigint): void {
    this.#template.copy(target, offset);
    if (this.#packetIdOffset >= 0) target.writeUInt16BE(packetId, offset + this.#packetIdOffset);
    writePayload(target, offset + this.#payloadOffset, this.#payloadBytes, this.#index, seq, sendTimeNs);
  }
}

/** A 3.1.1 CONNECT; `username` (without password) is how ThingsBoard devices present their access token. */
export function encodeConnect(
  clientId: string,
  cleanStart: boolean,
  keepAliveSeconds: number,
  username?: string,
): Buffer {
  return encodePacket(
    {
      type: PacketType.Connect,
      protocolName: 'MQTT',
      protocolVersion: LOAD_PROTOCOL_VERSION,
      cleanStart,
      keepAliveSeconds,
      clientId,
      username,
      password: undefined,
      will: undefined,
      properties: undefined,
    },
    LOAD_PROTOCOL_VERSION,
  );
}

/** A 3.1.1 SUBSCRIBE to one filter. */
export function encodeSubscribe(packetId: number, topicFilter: string, qos: 0 | 1): Buffer {
  return encodePacket(
    {
      type: PacketType.Subscribe,
      packetId,
      subscriptions: [{ topicFilter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
      properties: undefined,
    },
    LOAD_PROTOCOL_VERSION,
  );
}

/** A 3.1.1 DISCONNECT. */
export const DISCONNECT_PACKET: Buffer = Buffer.from([0xe0, 0x00]);

/** Writes a 3.1.1 PUBACK for `packetId` at `offset` (4 bytes). */
export function writePuback(target: Buffer, offset: number, packetId: number): void {
  target[offset] = 0x40;
  target[offset + 1] = 0x02;
  target.writeUInt16BE(packetId, offset + 2);
}
