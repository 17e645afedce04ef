/** The two sides a session talks to: the broker that owns it, and the connection currently attached to it. */
import type { QoS } from '../mqtt/codec/index.js';
import type { Message } from './message.js';
import type { BrokerLimits } from './options.js';
import type { PersistenceQueue } from './persistence.js';

/** What a session needs from the broker. */
export interface SessionHost {
  readonly limits: BrokerLimits;
  readonly persistence: PersistenceQueue;
  /** Gives the message a store id and queues its row, once, however many sessions reference it. */
  persistMessage(message: Message): void;
  /** One stored delivery fewer references the message; the last one deletes its row. */
  releaseMessage(message: Message): void;
  nextDeliverySeq(): number;
  countDropped(count: number): void;
}

/** What a session needs from its connection. */
export interface SessionSink {
  /** False while the socket's buffer is full: deliveries wait in the session queue. */
  readonly isWritable: boolean;
  /** How many QoS 1/2 messages may be unacknowledged: min(our maxInflight, the client's Receive Maximum). */
  readonly sendQuota: number;
  sendPublish(
    message: Message,
    qos: QoS,
    isRetained: boolean,
    subscriptionIds: number[] | undefined,
    packetId: number,
    isDuplicate: boolean,
  ): void;
  sendPubrel(packetId: number): void;
  /** Another connection with the same client id took the session over ([MQTT-3.1.4-3]). */
  takeOver(): void;
}
