/**
 * Encoding primitives. Encoders compute the exact packet size first, allocate once and write in place, so each helper
 * takes a position and returns the next one. Values the spec cannot carry throw RangeError: that is a bug in the
 * caller, not a peer's protocol error.
 */

/** Largest Variable Byte Integer, and so the largest Remaining Length [MQTT-1.5.5]. */
export const MAX_VARINT = 268_435_455;

/** Bytes a Variable Byte Integer takes [MQTT-1.5.5]. */
export function varintSize(value: number): number {
  if (value < 128) return 1;
  if (value < 16_384) return 2;
  if (value < 2_097_152) return 3;
  if (value <= MAX_VARINT) return 4;
  throw new RangeError(`${value} does not fit a variable byte integer`);
}

/** Writes a Variable Byte Integer [MQTT-1.5.5]. */
export function writeVarint(buf: Buffer, pos: number, value: number): number {
  let rest = value;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    buf[pos++] = byte;
  } while (rest > 0);
  return pos;
}

/** Encoded size of a UTF-8 string including its two-byte length prefix [MQTT-1.5.4]. */
export function utf8Size(value: string): number {
  // Each UTF-16 unit is at most 3 UTF-8 bytes, so short strings skip the exact (native) count.
  const byteLength = value.length * 3 <= 65_535 ? Buffer.byteLength(value, 'utf8') : checkedByteLength(value);
  return 2 + byteLength;
}

function checkedByteLength(value: string): number {
  const byteLength = Buffer.byteLength(value, 'utf8');
  if (byteLength > 65_535) throw new RangeError(`string of ${byteLength} bytes exceeds 65535`);
  return byteLength;
}

/** Writes a UTF-8 string with its two-byte length prefix; size it first with {@link utf8Size}. */
export function writeUtf8(buf: Buffer, pos: number, value: string): number {
  const byteLength = buf.write(value, pos + 2, 'utf8');
  buf[pos] = byteLength >> 8;
  buf[pos + 1] = byteLength & 0xff;
  return pos + 2 + byteLength;
}

/** Encoded size of binary data including its two-byte length prefix [MQTT-1.5.6]. */
export function binarySize(value: Buffer): number {
  if (value.length > 65_535) throw new RangeError(`binary data of ${value.length} bytes exceeds 65535`);
  return 2 + value.length;
}

/** Writes binary data with its two-byte length prefix; size it first with {@link binarySize}. */
export function writeBinary(buf: Buffer, pos: number, value: Buffer): number {
  buf[pos] = value.length >> 8;
  buf[pos + 1] = value.length & 0xff;
  value.copy(buf, pos + 2);
  return pos + 2 + value.length;
}

/** Writes a Two Byte Integer, big-endian [MQTT-1.5.2]. */
export function writeU16(buf: Buffer, pos: number, value: number): number {
  buf[pos] = value >> 8;
  buf[pos + 1] = value & 0xff;
  return pos + 2;
}

/**
 * Allocates a packet and writes its fixed header (first byte and Remaining Length); the variable header starts at
 * `buf.length - remainingLength`.
 */
export function allocPacket(firstByte: number, remainingLength: number): Buffer {
  const buf = Buffer.allocUnsafe(1 + varintSize(remainingLength) + remainingLength);
  buf[0] = firstByte;
  writeVarint(buf, 1, remainingLength);
  return buf;
}
