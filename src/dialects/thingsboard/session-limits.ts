/**
 * ThingsBoard's `getSessionLimits` client-side RPC (device-apis.md §3.2): what a device may send, from the limits this
 * server really enforces: `maxPayloadSize` is the broker's maximum packet size, `maxInflightMessages` its Receive
 * Maximum (QoS 1/2 messages a client may have unacknowledged), `rateLimits` the configured strings (none by default:
 * Switchboard has no per-device message rates, and the ThingsBoard SDKs treat an absent limit as none).
 */
import type { BrokerLimits } from '../../broker/index.js';
import type { ClientRpcHandler } from '../../platform/client-rpc.js';
import type { JsonValue } from '../../platform/model.js';
import type { ThingsboardRateLimits } from './types.js';

/** The broker's defaults (docs/limits.md), used only before the broker is attached. */
const FALLBACK = { maxPacketSizeBytes: 1_048_576, receiveMaximum: 100 };

export function sessionLimitsHandler(
  limits: () => Pick<BrokerLimits, 'maxPacketSizeBytes' | 'receiveMaximum'> | undefined,
  rateLimits: ThingsboardRateLimits | undefined,
): ClientRpcHandler {
  return () => {
    const current = limits() ?? FALLBACK;
    const rates: { [key: string]: JsonValue } = {};
    if (rateLimits?.messages !== undefined) rates['messages'] = rateLimits.messages;
    if (rateLimits?.telemetryMessages !== undefined) rates['telemetryMessages'] = rateLimits.telemetryMessages;
    if (rateLimits?.telemetryDataPoints !== undefined) rates['telemetryDataPoints'] = rateLimits.telemetryDataPoints;
    return {
      maxPayloadSize: current.maxPacketSizeBytes,
      maxInflightMessages: current.receiveMaximum,
      rateLimits: rates,
    };
  };
}
