/**
 * The gateway API as a ThingsBoard dialect extension (types.ts `ThingsboardExtension`): one `GatewaySession` per
 * connected device flagged "is gateway", its `v1/gateway/*` publishes consumed and acknowledged once processed, its
 * subscriptions to the three gateway downlink topics granted (QoS at most 1).
 *
 * API: `createGatewayExtension({ platform, logger, send, typing?, claims? })` → pass it in
 * `createThingsboardDialect({ extensions: [...] })`. `send` is `Broker.sendToClient` (bound late: the broker exists
 * after the dialect); `claims` returns the dialect's ClaimService (`tb.claims`), so gateway claims follow the same
 * rules as device claims.
 *
 * PUBACK per device-apis.md §3.4 and choices.md: 0x00 once stored; 0x99 (bad payload) as a PUBACK for MQTT 5 and for
 * profiles with "send PUBACK on validation failure", else (3.1.1) the connection is closed; 0x83 (processing failure)
 * closes the connection with 0x83, as ThingsBoard does for gateway topics; 0x97 and 0x90 as PUBACKs.
 */
import type { Logger } from 'pino';
import { DeferredAck, type ClientInfo, type InboundMessage } from '../../broker/index.js';
import type { Platform } from '../../platform/platform.js';
import type { ClaimService } from './claims.js';
import { GatewayReason, GatewaySession, isGatewaySubscribeTopic, isGatewayTopic } from './gateway.js';
import type { TypingOptions } from './json-telemetry.js';
import type { ThingsboardExtension } from './types.js';

export interface GatewayExtensionOptions {
  platform: Platform;
  logger: Logger;
  /** Sends to one connected client (`Broker.sendToClient`); false when it is not connected. */
  send: (clientId: string, message: InboundMessage, onAcknowledged?: () => void) => boolean;
  typing?: TypingOptions | undefined;
  /** The dialect's claim service, read when a gateway connects. */
  claims?: (() => ClaimService | undefined) | undefined;
}

/** Builds the extension; see the module comment. */
export function createGatewayExtension(options: GatewayExtensionOptions): ThingsboardExtension {
  const { platform, logger } = options;
  const sessions = new Map<ClientInfo, GatewaySession>();
  return {
    onConnected({ client, identity }) {
      if (!identity.device.isGateway) return;
      const send = (topicName: string, payload: Buffer, qos: 0 | 1, onDelivered?: () => void): boolean => {
        const message = { topicName, payload, qos, isRetained: false, properties: undefined };
        return onDelivered === undefined
          ? options.send(client.clientId, message)
          : options.send(client.clientId, message, onDelivered);
      };
      const session = new GatewaySession(platform, identity.device, send, logger, {
        typing: options.typing,
        claims: options.claims?.(),
      });
      sessions.set(client, session);
    },
    onDisconnected({ client }) {
      sessions.get(client)?.close();
      sessions.delete(client);
    },
    authorizeSubscribe({ client }, topicFilter, qos) {
      const session = sessions.get(client);
      if (session === undefined || !isGatewaySubscribeTopic(topicFilter)) return undefined;
      const granted = qos >= 1 ? 1 : 0;
      session.subscribed(topicFilter, granted);
      return granted;
    },
    onPublish({ client, identity }, message) {
      const session = sessions.get(client);
      if (session === undefined || !isGatewayTopic(message.topicName)) return undefined;
      const ack = new DeferredAck();
      const isV5 = client.protocolVersion === 5;
      void session.handlePublish(message.topicName, message.payload).then((reasonCode) => {
        if (reasonCode === GatewayReason.ImplementationSpecificError) {
          ack.disconnect(reasonCode, 'gateway message processing failed');
        } else if (reasonCode === GatewayReason.PayloadFormatInvalid && !isV5) {
          if (identity.profile.sendAckOnValidationFailure) ack.settle(reasonCode);
          else ack.disconnect(reasonCode, 'gateway payload invalid');
        } else {
          ack.settle(reasonCode);
        }
      });
      return { action: 'consume', ack };
    },
  };
}
