/**
 * The acknowledgement of a message the platform consumed (`{ action: 'consume', ack }` from `onMessage`): the
 * broker holds the PUBACK/PUBREC until the platform settles it, e.g. once telemetry is committed, so a QoS 1/2
 * publisher learns its data is stored only when it is. Acks keep arrival order per client whatever order they are
 * settled in ([MQTT-4.6.0-2]).
 */
export type DeferredAckOutcome =
  | { kind: 'ack'; reasonCode: number; reasonString: string | undefined }
  | { kind: 'disconnect'; reasonCode: number; reasonString: string | undefined };

export class DeferredAck {
  #outcome: DeferredAckOutcome | undefined;
  #listener: ((outcome: DeferredAckOutcome) => void) | undefined;

  /**
   * Acknowledge: 0x00, or a v5 refusal code such as 0x99 Payload format invalid with an optional reason string
   * (3.1.1 clients get a plain ack).
   */
  settle(reasonCode = 0, reasonString?: string): void {
    this.#resolve({ kind: 'ack', reasonCode, reasonString });
  }

  /** Close the client's connection instead of acknowledging (v5 DISCONNECT with the code). */
  disconnect(reasonCode: number, reasonString?: string): void {
    this.#resolve({ kind: 'disconnect', reasonCode, reasonString });
  }

  get isSettled(): boolean {
    return this.#outcome !== undefined;
  }

  /** For the broker: called once, at once if already settled. */
  onSettled(listener: (outcome: DeferredAckOutcome) => void): void {
    if (this.#outcome !== undefined) listener(this.#outcome);
    else this.#listener = listener;
  }

  #resolve(outcome: DeferredAckOutcome): void {
    if (this.#outcome !== undefined) return;
    this.#outcome = outcome;
    const listener = this.#listener;
    this.#listener = undefined;
    listener?.(outcome);
  }
}
