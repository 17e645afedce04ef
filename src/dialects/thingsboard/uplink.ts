/**
 * What a ThingsBoard device's PUBLISH in the namespace does (device-apis.md §3.2–3.4, §3.7). Writes (telemetry, client
 * attributes, claim data) are consumed and acknowledged only after the commit; reads and RPC are acknowledged at once
 * and answered on the response topic of the request's form. Bad payloads: v5 PUBACK 0x99 with the session kept;
 * 3.1.1 disconnected (as ThingsBoard does) unless the profile has `sendAckOnValidationFailure`.
 */
import { DeferredAck, type ClientInfo, type InboundMessage, type MessageVerdict } from '../../broker/index.js';
import { OverloadedError, type CommitCallback } from '../../platform/data-writer.js';
import type { DataValue } from '../../platform/model.js';
import type { Platform } from '../../platform/platform.js';
import { readAttributes } from './attributes.js';
import type { ThingsboardDeviceIdentity } from './auth.js';
import type { ClaimService } from './claims.js';
import {
  decodeAttributeRequest,
  decodeClaim,
  decodeClientRpc,
  decodeData,
  decodeRpcReply,
  encodeAttributeResponsePayload,
  encodeClientRpcReplyPayload,
  isPayloadError,
} from './codec.js';
import type { DeviceSession } from './device-session.js';
import { toAttributeValues, toTelemetryPoints, type TypingOptions } from './json-telemetry.js';
import { attributeResponseTopic, rpcResponseTopic, type PublishTopic } from './topics.js';
import type { Logger } from 'pino';

/** MQTT 5 reason codes the dialect answers with. */
export const TbReason = {
  Success: 0x00,
  UnspecifiedError: 0x80,
  ImplementationSpecificError: 0x83,
  NotAuthorized: 0x87,
  ServerUnavailable: 0x88,
  SessionTakenOver: 0x8e,
  TopicFilterInvalid: 0x8f,
  TopicNameInvalid: 0x90,
  QuotaExceeded: 0x97,
  AdministrativeAction: 0x98,
  PayloadFormatInvalid: 0x99,
} as const;

export interface UplinkDeps {
  platform: Platform;
  claims: ClaimService;
  typing: TypingOptions;
  logger: Logger;
}

const DROP_TOPIC_INVALID: MessageVerdict = {
  action: 'drop',
  reasonCode: TbReason.TopicNameInvalid,
  reasonString: 'not a ThingsBoard device topic',
};

/** Handles one PUBLISH on a known device topic. `session` is undefined for a will (the connection is gone). */
export function handleDevicePublish(
  deps: UplinkDeps,
  client: ClientInfo,
  identity: ThingsboardDeviceIdentity,
  session: DeviceSession | undefined,
  topic: PublishTopic,
  message: InboundMessage,
): MessageVerdict {
  const { platform } = deps;
  const { device, profile } = identity;
  const isV5 = client.protocolVersion === 5;
  try {
    switch (topic.kind) {
      case 'telemetry': {
        const json = decodeData(profile, topic.form, 'telemetry', message.payload);
        const points = toTelemetryPoints(json, Date.now(), deps.typing);
        const ack = new DeferredAck();
        platform.postTelemetry(device, points, settleOnCommit(ack, isV5));
        return { action: 'consume', ack };
      }
      case 'attributes': {
        const json = decodeData(profile, topic.form, 'attributes', message.payload);
        const values = toAttributeValues(json, deps.typing);
        const ack = new DeferredAck();
        platform.postAttributes(device, 'client', values, settleOnCommit(ack, isV5));
        return { action: 'consume', ack };
      }
      case 'attributeRequest': {
        const query = decodeAttributeRequest(profile, topic.form, message.payload);
        const { form, requestId } = topic;
        readAttributes(platform.store, device.id, query).then(
          ({ client: clientAttributes, shared }) => {
            const payload = encodeAttributeResponsePayload(profile, form, requestId, clientAttributes, shared);
            session?.reply(attributeResponseTopic(form, requestId), payload, session.attributeResponses);
          },
          (error: unknown) => {
            deps.logger.error({ err: error, deviceId: device.id }, 'attribute request not answered');
          },
        );
        return settled();
      }
      case 'rpcResponse': {
        // A reply nobody waits for (timed out, unknown id) is dropped, as ThingsBoard does.
        platform.rpc.reply(device.id, topic.requestId, decodeRpcReply(profile, topic.form, message.payload));
        return settled();
      }
      case 'rpcRequest': {
        const { method, params } = decodeClientRpc(profile, topic.form, message.payload);
        const { form, requestId } = topic;
        void platform.callServer(device, method, params).then((reply) => {
          const payload = encodeClientRpcReplyPayload(profile, form, requestId, reply);
          session?.reply(rpcResponseTopic(form, requestId), payload, session.rpcResponses);
        });
        return settled();
      }
      case 'claim': {
        const { secretKey, durationMs } = decodeClaim(profile, message.payload);
        const ack = new DeferredAck();
        deps.claims.isClaimable(device).then(
          (isClaimable) => {
            // An already claimed device: ThingsBoard fails the processing and disconnects; the refusal code says why
            // instead (v5; a 3.1.1 device gets a plain PUBACK and nothing is stored).
            if (!isClaimable) {
              ack.settle(TbReason.NotAuthorized);
              return;
            }
            const data = deps.claims.claimingData(secretKey, durationMs) as DataValue;
            platform.postAttributes(device, 'server', { claimingData: data }, settleOnCommit(ack, isV5));
          },
          (error: unknown) => {
            deps.logger.error({ err: error, deviceId: device.id }, 'claim request failed');
            ack.disconnect(TbReason.ImplementationSpecificError, 'claim request failed');
          },
        );
        return { action: 'consume', ack };
      }
      case 'provisionRequest':
        return { action: 'drop', reasonCode: TbReason.NotAuthorized, reasonString: 'not a provisioning session' };
      case 'unknown':
        return DROP_TOPIC_INVALID;
    }
  } catch (error) {
    if (!isPayloadError(error)) throw error;
    return badPayload(client, identity, error instanceof Error ? error.message : String(error));
  }
}

/** An unknown topic in the namespace: v5 PUBACK 0x90; 3.1.1 a plain PUBACK (silently ignored, as in ThingsBoard). */
export function unknownTopic(): MessageVerdict {
  return DROP_TOPIC_INVALID;
}

function badPayload(client: ClientInfo, identity: ThingsboardDeviceIdentity, reason: string): MessageVerdict {
  if (client.protocolVersion === 5 || identity.profile.sendAckOnValidationFailure) {
    return { action: 'drop', reasonCode: TbReason.PayloadFormatInvalid, reasonString: reason };
  }
  return { action: 'disconnect', reasonCode: TbReason.PayloadFormatInvalid, reasonString: reason };
}

function settled(): MessageVerdict {
  const ack = new DeferredAck();
  ack.settle(TbReason.Success);
  return { action: 'consume', ack };
}

/**
 * The commit callback that settles a PUBACK: success after the commit; overload → v5 0x97 Quota exceeded with the
 * session kept (3.1.1 has no refusal code, and a plain PUBACK would claim the data is stored: disconnected); any other
 * storage failure → disconnect 0x83, as ThingsBoard does for processing failures.
 */
export function settleOnCommit(ack: DeferredAck, isV5: boolean): CommitCallback {
  return (error) => {
    if (error === undefined) ack.settle(TbReason.Success);
    else if (error instanceof OverloadedError && isV5) ack.settle(TbReason.QuotaExceeded);
    else if (error instanceof OverloadedError) ack.disconnect(TbReason.QuotaExceeded, error.message);
    else ack.disconnect(TbReason.ImplementationSpecificError, 'storage failure');
  };
}
