/**
 * Provisioning sessions over MQTT (device-apis.md §3.6): a client connected as `provision` may only publish
 * `/provision/request` (the MQTT doc's `/provision` too) and subscribe `/provision/response`; anything else closes the
 * session with 0x90. The request goes to the provisioning handler (provision.ts); its reply is published on
 * `/provision/response`, the PUBACK follows, and the session is closed a while after the reply, as ThingsBoard does.
 * A handler failure (ThingsBoard: missing key or secret field) closes the session with 0x83.
 */
import type { Logger } from 'pino';
import { DeferredAck, type ClientInfo, type InboundMessage, type MessageVerdict } from '../../broker/index.js';
import type { Platform } from '../../platform/platform.js';
import { PROVISION_RESPONSE_TOPIC } from './topics.js';
import type { ProvisionHandler } from './types.js';

export interface ProvisionSessionsOptions {
  platform: Platform;
  handler: ProvisionHandler;
  logger: Logger;
  closeAfterReplyMs: number;
  send: (clientId: string, message: InboundMessage) => boolean;
  disconnect: (clientId: string, reasonCode: number, reason: string) => boolean;
}

const CLOSE_TOPIC_INVALID: MessageVerdict = {
  action: 'disconnect',
  reasonCode: 0x90,
  reasonString: 'a provisioning session may only publish /provision/request',
};

export class ProvisionSessions {
  readonly #options: ProvisionSessionsOptions;
  /** Sessions that got a reply and are waiting to be closed; a session that ends first is forgotten. */
  readonly #closing = new Map<ClientInfo, NodeJS.Timeout>();

  constructor(options: ProvisionSessionsOptions) {
    this.#options = options;
  }

  onMessage(client: ClientInfo, message: InboundMessage): MessageVerdict {
    if (message.topicName !== '/provision/request' && message.topicName !== '/provision') return CLOSE_TOPIC_INVALID;
    const { handler, platform, logger } = this.#options;
    const ack = new DeferredAck();
    // The handler is asynchronous: it gets a copy, as the payload may be a view of the socket buffer.
    const request = {
      payload: Buffer.from(message.payload),
      transport: 'mqtt' as const,
      connection: client.connection,
    };
    handler(platform, request).then(
      (reply) => {
        this.#options.send(client.clientId, {
          topicName: PROVISION_RESPONSE_TOPIC,
          payload: reply.payload,
          qos: message.qos === 0 ? 0 : 1,
          isRetained: false,
          properties: undefined,
        });
        ack.settle(0);
        this.#scheduleClose(client);
      },
      (error: unknown) => {
        logger.debug({ err: error }, 'provisioning request failed');
        ack.disconnect(0x83, error instanceof Error ? error.message : 'provisioning failed');
      },
    );
    return { action: 'consume', ack };
  }

  /** The connection ended: nothing left to close. */
  forget(client: ClientInfo): void {
    const timer = this.#closing.get(client);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.#closing.delete(client);
  }

  #scheduleClose(client: ClientInfo): void {
    if (this.#closing.has(client)) return;
    const timer = setTimeout(() => {
      this.#closing.delete(client);
      // Still in the map means still connected: the client id is this connection's (a takeover would have ended it).
      this.#options.disconnect(client.clientId, 0x00, 'provisioning done');
    }, this.#options.closeAfterReplyMs);
    timer.unref();
    this.#closing.set(client, timer);
  }
}
