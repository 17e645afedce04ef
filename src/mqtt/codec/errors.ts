import type { ReasonCode } from './reason-codes.js';

/** A peer broke the protocol: answer with `reason` (v5 DISCONNECT or CONNACK where allowed), then close. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  /** The MQTT 5 reason code; the 3.1.1 mapping happens at the edge. */
  readonly reason: ReasonCode;
  constructor(reason: ReasonCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.reason = reason;
  }
}
