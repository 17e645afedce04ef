/** `$SYS/broker/...`: the broker's own state, published retained every interval (Mosquitto's layout). */
import type { BrokerStats } from './broker.js';

/** What the publisher needs from the broker. */
export interface SysSource {
  readonly stats: BrokerStats;
  readonly startedAtMs: number;
  readonly version: string;
  publishSys(topicName: string, value: string): void;
}

export class SysTopicsPublisher {
  readonly #source: SysSource;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(source: SysSource, intervalSeconds: number) {
    this.#source = source;
    this.#intervalMs = intervalSeconds * 1000;
  }

  start(): void {
    if (this.#intervalMs <= 0) return;
    this.publishNow();
    this.#timer = setInterval(() => {
      this.publishNow();
    }, this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  publishNow(): void {
    const source = this.#source;
    const stats = source.stats;
    const publish = (topic: string, value: number | string): void => {
      source.publishSys(`$SYS/broker/${topic}`, String(value));
    };
    publish('version', `switchboard ${source.version}`);
    publish('uptime', `${String(Math.floor((Date.now() - source.startedAtMs) / 1000))} seconds`);
    publish('clients/connected', stats.clientsConnected);
    publish('clients/total', stats.sessions);
    publish('messages/received', stats.messagesReceived);
    publish('messages/sent', stats.messagesSent);
    publish('messages/dropped', stats.messagesDropped);
    publish('subscriptions/count', stats.subscriptions);
    publish('retained messages/count', stats.retainedMessages);
    publish('connections/refused', stats.connectsRefused);
  }
}
