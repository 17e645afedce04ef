/**
 * A device user's PUBLISH on `0/<project>/<user>/<device_id>` (device-apis.md §4.3): validated at once; a refusal is
 * MQTT 5 PUBACK 0x99 Payload format invalid (also for an event over the size limit: 0x95 Packet too large is not a
 * PUBACK reason code, MQTT 5 §3.4.2.1, and clients reject it) or 0x90 Topic name invalid, with a reason string; for
 * 3.1.1 (which has no refusal code) and QoS 0 a logged, counted drop with the connection kept.
 * An accepted event is consumed: acknowledged once it is committed, then published as sent on its topic for the
 * organization's platform users who subscribed there (devices cannot).
 */
import type { Logger } from 'pino';
import {
  DeferredAck,
  type Broker,
  type ClientInfo,
  type InboundMessage,
  type MessageVerdict,
} from '../../broker/index.js';
import { OverloadedError } from '../../platform/data-writer.js';
import { M1Reason, type MediumOneIdentity } from './auth.js';
import { parseEvent, type EventRefusal } from './event.js';
import type { EventIngest } from './ingest.js';
import { identifierProblem, parseEventTopic } from './topics.js';

/** What the dialect counts (`switchboard_dialect_messages_total{dialect="mediumone",kind}`). */
export type UplinkCount = 'event' | 'event_refused_invalid' | 'event_refused_too_large' | 'event_refused_topic';

export interface UplinkDeps {
  ingest: EventIngest;
  logger: Logger;
  maxEventBytes: number;
  broker: () => Broker | undefined;
  count: (kind: UplinkCount) => void;
}

/** Refusals are logged at warn at most once per this interval (with how many were not logged), never per message. */
const REFUSAL_LOG_INTERVAL_MS = 10_000;

export class Uplink {
  readonly #deps: UplinkDeps;
  #lastRefusalLogMs = 0;
  #unloggedRefusals = 0;

  constructor(deps: UplinkDeps) {
    this.#deps = deps;
  }

  /** Handles a PUBLISH (or a will) of a device user on a `0/…` topic it is authorized for. */
  onEvent(client: ClientInfo, identity: MediumOneIdentity, message: InboundMessage): MessageVerdict {
    const topic = parseEventTopic(message.topicName);
    if (topic === undefined) {
      return this.#refuse(client, message, 'topic', 'not an event topic 0/<project>/<user>/<device_id>');
    }
    if (topic.deviceId.length > 0) {
      const problem = identifierProblem('device id', topic.deviceId);
      if (problem !== undefined) return this.#refuse(client, message, 'topic', problem);
    }
    const parsed = parseEvent(message.payload, Date.now(), this.#deps.maxEventBytes);
    if (!parsed.ok) return this.#refuse(client, message, parsed.refusal.kind, parsed.refusal.reason);
    this.#deps.count('event');
    const ack = new DeferredAck();
    const isV5 = client.protocolVersion === 5;
    // Copied now: the payload may be a view into a socket buffer, and it is published after the commit.
    const payload = Buffer.copyBytesFrom(message.payload);
    const { topicName, qos } = message;
    this.#deps.ingest.ingest(identity, topic.deviceId, parsed.event).then(
      () => {
        ack.settle(M1Reason.Success);
        this.#deps.broker()?.publish({ topicName, payload, qos, isRetained: false, properties: undefined });
      },
      (error: unknown) => {
        if (error instanceof OverloadedError) {
          // 3.1.1 has no refusal code and a plain PUBACK would say the event is stored: the client is disconnected.
          if (isV5) ack.settle(M1Reason.QuotaExceeded);
          else ack.disconnect(M1Reason.QuotaExceeded, error.message);
          return;
        }
        this.#deps.logger.error({ err: error, clientId: client.clientId }, 'event not stored');
        ack.disconnect(M1Reason.ImplementationSpecificError, 'storage failure');
      },
    );
    return { action: 'consume', ack };
  }

  #refuse(
    client: ClientInfo,
    message: InboundMessage,
    kind: EventRefusal['kind'] | 'topic',
    reason: string,
  ): MessageVerdict {
    this.#deps.count(
      kind === 'tooLarge'
        ? 'event_refused_too_large'
        : kind === 'topic'
          ? 'event_refused_topic'
          : 'event_refused_invalid',
    );
    const now = Date.now();
    if (now - this.#lastRefusalLogMs >= REFUSAL_LOG_INTERVAL_MS) {
      this.#deps.logger.warn(
        { clientId: client.clientId, topic: message.topicName, reason, notLogged: this.#unloggedRefusals },
        'Medium One event refused',
      );
      this.#lastRefusalLogMs = now;
      this.#unloggedRefusals = 0;
    } else {
      this.#unloggedRefusals++;
    }
    const reasonCode = kind === 'topic' ? M1Reason.TopicNameInvalid : M1Reason.PayloadFormatInvalid;
    return { action: 'drop', reasonCode, reasonString: reason };
  }
}
