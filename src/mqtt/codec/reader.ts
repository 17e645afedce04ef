import { isUtf8 } from 'node:buffer';
import { ProtocolError } from './errors.js';
import { ReasonCode } from './reason-codes.js';

/** Shorthand for the most common decode failure. */
export function malformed(message: string): ProtocolError {
  return new ProtocolError(ReasonCode.MalformedPacket, message);
}

/** Shorthand for a well-formed packet that breaks a protocol rule. */
export function protocolError(message: string): ProtocolError {
  return new ProtocolError(ReasonCode.ProtocolError, message);
}

/** Strings up to this many bytes are checked for ASCII in JS; longer ones go straight to the native validator. */
const ASCII_SCAN_MAX_BYTES = 64;

/**
 * Decodes bytes `start..end` of `buf` as an MQTT UTF-8 string. Ill-formed UTF-8 (including surrogates and overlong
 * forms) [MQTT-1.5.4-1] and U+0000 [MQTT-1.5.4-2] are Malformed Packets. Short ASCII strings (the usual topic) take a
 * JS fast path that allocates nothing but the string.
 */
export function readUtf8(buf: Buffer, start: number, end: number): string {
  if (end - start <= ASCII_SCAN_MAX_BYTES) {
    let i = start;
    while (i < end) {
      const byte = buf[i]!;
      if (byte === 0 || byte >= 0x80) break;
      i++;
    }
    if (i === end) return buf.toString('latin1', start, end);
  }
  const view = buf.subarray(start, end);
  if (!isUtf8(view)) throw malformed('ill-formed UTF-8 string');
  if (view.indexOf(0) !== -1) throw malformed('UTF-8 string contains U+0000');
  return buf.toString('utf8', start, end);
}

/**
 * A cursor over one packet body (`pos..end` of `buf`). Every read is bounds-checked against `end`, so a length field
 * pointing past the packet is a Malformed Packet, never a read into the next packet. One instance is reused per
 * decoder, so reading a packet allocates only the values it returns.
 */
export class Reader {
  buf: Buffer = Buffer.alloc(0);
  pos = 0;
  end = 0;

  reset(buf: Buffer, pos: number, end: number): void {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  get remainingBytes(): number {
    return this.end - this.pos;
  }

  #need(byteCount: number, what: string): void {
    if (this.pos + byteCount > this.end) throw malformed(`${what} runs past the end of the packet`);
  }

  u8(what: string): number {
    this.#need(1, what);
    return this.buf[this.pos++]!;
  }

  u16(what: string): number {
    this.#need(2, what);
    const value = (this.buf[this.pos]! << 8) | this.buf[this.pos + 1]!;
    this.pos += 2;
    return value;
  }

  u32(what: string): number {
    this.#need(4, what);
    const value = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return value;
  }

  /** Variable Byte Integer, at most 4 bytes [MQTT-1.5.5]. */
  varint(what: string): number {
    let value = 0;
    let multiplier = 1;
    for (let i = 0; i < 4; i++) {
      const byte = this.u8(what);
      value += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) return value;
      multiplier *= 128;
    }
    throw malformed(`${what}: variable byte integer longer than 4 bytes`);
  }

  /** Two-byte length prefixed UTF-8 string [MQTT-1.5.4]. */
  utf8(what: string): string {
    const length = this.u16(what);
    this.#need(length, what);
    const start = this.pos;
    this.pos += length;
    return readUtf8(this.buf, start, this.pos);
  }

  /** Two-byte length prefixed binary data [MQTT-1.5.6], copied: callers keep it beyond the current chunk. */
  binary(what: string): Buffer {
    const length = this.u16(what);
    this.#need(length, what);
    const start = this.pos;
    this.pos += length;
    return Buffer.copyBytesFrom(this.buf, start, length);
  }
}
