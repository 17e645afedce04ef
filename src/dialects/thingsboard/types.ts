/**
 * What the ThingsBoard dialect is configured with, and the seams other parts plug into: provisioning (provision.ts,
 * another module) and extensions for topics the core does not handle (the gateway API, firmware).
 */
import type { ClientInfo, ConnectionInfo, InboundMessage, MessageVerdict } from '../../broker/index.js';
import type { Platform } from '../../platform/platform.js';
import type { QoS } from '../../mqtt/codec/index.js';
import type { ThingsboardDeviceIdentity } from './auth.js';

/** ThingsBoard's rate limit strings (`count:seconds,…`), reported by `getSessionLimits`; absent = no limit. */
export interface ThingsboardRateLimits {
  messages?: string | undefined;
  telemetryMessages?: string | undefined;
  telemetryDataPoints?: string | undefined;
}

export interface ThingsboardLimits {
  /** ThingsBoard's `JSON_TYPE_CAST_ENABLED`: numeric strings become numbers. Default true. */
  castNumericStrings?: boolean | undefined;
  /** ThingsBoard's `JSON_MAX_STRING_VALUE_LENGTH`; 0 (default) = no limit. */
  maxStringValueLength?: number | undefined;
  /** Claim duration when the device gives none; default 86 400 000 (ThingsBoard's `security.claim.duration`). */
  claimDurationMs?: number | undefined;
  /** A provisioning session is closed this long after its reply (ThingsBoard: 60 s). */
  provisionSessionCloseMs?: number | undefined;
  /** HTTP long polls without `?timeout=`; default 60 000 (ThingsBoard's `transport.http.request_timeout`). */
  httpLongPollDefaultMs?: number | undefined;
  /** Longest HTTP long poll; default 300 000 (ThingsBoard's `transport.http.max_request_timeout`). */
  httpLongPollMaxMs?: number | undefined;
  /** Reported by `getSessionLimits`; Switchboard enforces no per-device message rates, so none by default. */
  rateLimits?: ThingsboardRateLimits | undefined;
}

/** A provisioning request, over MQTT (`/provision/request`) or HTTP (`POST /api/v1/provision`). */
export interface ProvisionRequest {
  /** The request body, owned by the handler (a copy, not a socket view). */
  payload: Buffer;
  transport: 'mqtt' | 'http';
  /** MQTT: where the session came from (the X.509 chain strategy reads its certificate). */
  connection: ConnectionInfo | undefined;
}

/** The reply: the bytes to publish on `/provision/response` or send as the HTTP body (JSON or protobuf). */
export interface ProvisionReply {
  payload: Buffer;
  contentType: 'application/json' | 'application/x-protobuf';
}

/**
 * Handles one provisioning request (provision.ts `handleProvisionRequest`). Resolves with the reply for every outcome
 * ThingsBoard answers (SUCCESS, NOT_FOUND, FAILURE); rejects for a request ThingsBoard treats as a processing error
 * (missing key or secret field: PUBACK 0x83 and disconnect).
 */
export type ProvisionHandler = (platform: Platform, request: ProvisionRequest) => Promise<ProvisionReply>;

/** The device session an extension is called for. */
export interface ExtensionContext {
  client: ClientInfo;
  identity: ThingsboardDeviceIdentity;
}

/**
 * Topics of the namespace the core does not know (the gateway API `v1/gateway/…`, firmware `v2/fw/…`). The first
 * extension to return a verdict or a granted QoS decides; without one, PUBLISH gets 0x90 and SUBSCRIBE 0x8F.
 */
export interface ThingsboardExtension {
  onPublish?(context: ExtensionContext, message: InboundMessage): MessageVerdict | undefined;
  authorizeSubscribe?(context: ExtensionContext, topicFilter: string, qos: QoS): number | undefined;
  onConnected?(context: ExtensionContext): void;
  onDisconnected?(context: ExtensionContext): void;
}
