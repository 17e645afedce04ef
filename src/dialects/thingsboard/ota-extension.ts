/**
 * The MQTT side of firmware and software updates (device-apis.md §3.2): a device subscribes to
 * `v2/fw/response/+/chunk/+` and `v2/fw/error`, then publishes `v2/fw/request/<requestId>/chunk/<n>` with the chunk
 * size in bytes as decimal text (empty or 0: the whole package); the answer is chunk n of its assigned package on
 * `v2/fw/response/<requestId>/chunk/<n>`, empty once n is past the end. Besides ThingsBoard's wildcard filter, a
 * subscription to one response topic is accepted (request/response tools such as `mosquitto_rr` subscribe so). Software uses `v2/sw/…` the same way. A
 * device without a package, or a malformed request, gets a text message on `v2/fw/error` (`v2/sw/error`).
 */
import type { Logger } from 'pino';
import { DeferredAck, type InboundMessage } from '../../broker/index.js';
import type { OtaService, OtaType } from './ota.js';
import type { ThingsboardExtension } from './types.js';

export interface OtaExtensionOptions {
  ota: () => OtaService | undefined;
  logger: Logger;
  /** `Broker.sendToClient`, bound late. */
  send: (clientId: string, message: InboundMessage) => boolean;
  /** Chunk sizes above this are refused (they could not reach the device in one packet anyway). */
  maxChunkBytes: number;
}

const REQUEST = /^v2\/(fw|sw)\/request\/(\d{1,9})\/chunk\/(\d{1,9})$/;
/** One response topic (what `mosquitto_rr -e` subscribes to): accepted besides ThingsBoard's wildcard form. */
const ONE_RESPONSE = /^v2\/(fw|sw)\/response\/\d{1,9}\/chunk\/\d{1,9}$/;
const SUBSCRIPTIONS = new Set(['v2/fw/response/+/chunk/+', 'v2/fw/error', 'v2/sw/response/+/chunk/+', 'v2/sw/error']);

export function createOtaExtension(options: OtaExtensionOptions): ThingsboardExtension {
  return {
    authorizeSubscribe(_context, topicFilter, qos) {
      return SUBSCRIPTIONS.has(topicFilter) || ONE_RESPONSE.test(topicFilter) ? qos : undefined;
    },

    onPublish({ client, identity }, message) {
      const match = REQUEST.exec(message.topicName);
      if (match === null) return undefined;
      const prefix = match[1] as 'fw' | 'sw';
      const type: OtaType = prefix === 'fw' ? 'FIRMWARE' : 'SOFTWARE';
      const requestId = match[2]!;
      const chunk = Number(match[3]);
      const send = (topicName: string, payload: Buffer): void => {
        options.send(client.clientId, { topicName, payload, qos: 0, isRetained: false, properties: undefined });
      };
      const fail = (text: string): void => {
        send(`v2/${prefix}/error`, Buffer.from(text));
      };
      const sizeText = message.payload.toString('utf8').trim();
      const chunkSize = sizeText === '' ? 0 : Number(sizeText);
      const ack = new DeferredAck();
      if (!Number.isInteger(chunkSize) || chunkSize < 0 || chunkSize > options.maxChunkBytes) {
        fail(`invalid chunk size ${JSON.stringify(sizeText)}: an integer 0..${String(options.maxChunkBytes)}`);
        ack.settle();
        return { action: 'consume', ack };
      }
      const ota = options.ota();
      void (async () => {
        const pkg = ota === undefined ? undefined : await ota.packageFor(identity.device, type);
        if (ota === undefined || pkg === undefined) {
          fail(`no ${type.toLowerCase()} is assigned to this device`);
          return;
        }
        const size = chunkSize === 0 ? pkg.size : chunkSize;
        if (chunkSize === 0 && pkg.size > options.maxChunkBytes) {
          fail(`the package is ${String(pkg.size)} bytes: ask for chunks of at most ${String(options.maxChunkBytes)}`);
          return;
        }
        const data = await ota.readData(pkg.id, chunk * size, size);
        send(`v2/${prefix}/response/${requestId}/chunk/${String(chunk)}`, data);
      })()
        .catch((error: unknown) => {
          options.logger.error({ err: error }, 'OTA chunk read failed');
          fail('the package could not be read');
        })
        .finally(() => {
          ack.settle();
        });
      return { action: 'consume', ack };
    },
  };
}
