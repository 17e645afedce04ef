/**
 * The ThingsBoard dialect: broker hooks that authenticate ThingsBoard devices, keep the `v1/`, `v2/` and `/provision`
 * namespace to them (every message there is consumed, never routed as plain MQTT), turn their messages into platform
 * calls, and deliver shared-attribute updates and RPCs back; plus the HTTP device API and the claiming API as Fastify
 * plugins. Wiring (the server): `const tb = createThingsboardDialect({ platform, logger, allowAnonymous })`,
 * `new Broker({ …, hooks: tb.hooks })`, `tb.attach(broker)`, and `tb.httpPlugin` / `tb.claimsHttpPlugin` in the HTTP
 * app's plugins.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Logger } from 'pino';
import type {
  AuthenticateResult,
  Broker,
  BrokerHooks,
  ClientInfo,
  ConnectRequest,
  InboundMessage,
  MessageVerdict,
} from '../../broker/index.js';
import type { QoS } from '../../mqtt/codec/index.js';
import type { Device } from '../../platform/model.js';
import type { Platform } from '../../platform/platform.js';
import {
  authenticateThingsboard,
  authenticateThingsboardDevice,
  type CertificateProvisioner,
  isDeviceIdentity,
  isProvisionConnect,
  isProvisionIdentity,
  isThingsboardIdentity,
  noCredentialsReason,
  PROVISION_IDENTITY,
  type ThingsboardAuthOutcome,
  type ThingsboardDeviceIdentity,
} from './auth.js';
import type { AuthStep, Dialect } from '../dialect.js';
import { ClaimService } from './claims.js';
import { claimsHttpPlugin } from './claims-http.js';
import { DeviceSession } from './device-session.js';
import { deviceHttpPlugin } from './http-device-api.js';
import { DEFAULT_TYPING_OPTIONS, type TypingOptions } from './json-telemetry.js';
import { ProvisionSessions } from './mqtt-provisioning.js';
import { provisionHandler } from './provision.js';
import { provisionByCertificate } from './provision-x509.js';
import { sessionLimitsHandler } from './session-limits.js';
import { isThingsboardNamespace, parsePublishTopic, parseSubscribeFilter, PROVISION_RESPONSE_TOPIC } from './topics.js';
import type { ExtensionContext, ProvisionHandler, ThingsboardExtension, ThingsboardLimits } from './types.js';
import { handleDevicePublish, TbReason, unknownTopic, type UplinkDeps } from './uplink.js';

export interface ThingsboardDialectOptions {
  platform: Platform;
  logger: Logger;
  /** Clients with no credentials at all become plain anonymous MQTT clients (no ThingsBoard rights). Default false. */
  allowAnonymous?: boolean | undefined;
  limits?: ThingsboardLimits | undefined;
  /** Default: provision.ts `provisionHandler` (`handleProvisionRequest`). */
  provision?: ProvisionHandler | undefined;
  /** X.509 chain provisioning at CONNECT; default provision-x509.ts `provisionByCertificate`. */
  provisionByCertificate?: CertificateProvisioner | undefined;
  /** The organization unclaimed devices live in; default the oldest organization (the server organization). */
  serverOrgId?: (() => Promise<string | undefined>) | undefined;
  /** Gateway API, firmware…: topics of the namespace the core does not handle. */
  extensions?: readonly ThingsboardExtension[] | undefined;
}

export interface ThingsboardDialect {
  /** Pass to `new Broker({ hooks })`. */
  readonly hooks: Required<
    Pick<
      BrokerHooks,
      | 'authenticate'
      | 'authorizePublish'
      | 'authorizeSubscribe'
      | 'onMessage'
      | 'onClientConnected'
      | 'onClientDisconnected'
    >
  >;
  /** Call once the broker exists: replies and downlinks are sent through it. */
  attach(broker: Broker): void;
  /** `/api/v1/{token}/…` (device-apis.md §3.10); `/api/v1/provision` is provision-http.ts's plugin. */
  readonly httpPlugin: FastifyPluginAsync;
  /** `POST` / `DELETE /api/claims/{deviceName}`; needs the management API's `request.caller` (minRole routes). */
  readonly claimsHttpPlugin: FastifyPluginAsync;
  readonly claims: ClaimService;
  /** The device credential steps alone (not `provision`), for a server that composes several dialects' steps. */
  authenticateDevice: (request: ConnectRequest) => Promise<ThingsboardAuthOutcome>;
  /** The dialect for `composeDialects` (src/dialects/router.ts): the same hooks, minus authentication. */
  readonly dialect: Dialect;
  /**
   * The two credential steps, for their places in the server's order (choices.md "Who connects"): `provision`
   * (step 1) and `devices` (steps 5 and 6: client-id-only credentials, access tokens, basic credentials, X.509); each
   * answers undefined for credentials that are not its kind (no credentials at all, for `devices`).
   */
  readonly authSteps: { provision: AuthStep; devices: AuthStep };
}

/** Builds the dialect; it registers `getSessionLimits` with the platform's client-side RPC registry. */
export function createThingsboardDialect(options: ThingsboardDialectOptions): ThingsboardDialect {
  const { platform } = options;
  const logger = options.logger.child({ dialect: 'thingsboard' });
  const limits = options.limits ?? {};
  const extensions = options.extensions ?? [];
  const allowAnonymous = options.allowAnonymous ?? false;
  const typing: TypingOptions = {
    castNumericStrings: limits.castNumericStrings ?? DEFAULT_TYPING_OPTIONS.castNumericStrings,
    maxStringValueLength: limits.maxStringValueLength ?? DEFAULT_TYPING_OPTIONS.maxStringValueLength,
  };
  let broker: Broker | undefined;
  /** Sessions by connection (the broker's ClientInfo is the connection), and the one session each device may have. */
  const sessions = new Map<ClientInfo, DeviceSession>();
  const byDevice = new Map<string, DeviceSession>();

  const disconnectDevice = (device: Device, reasonCode: number, reason: string): void => {
    const session = byDevice.get(device.id);
    if (session === undefined) return;
    session.close();
    broker?.disconnectClient(session.client.clientId, reasonCode, reason);
  };
  const claims = new ClaimService({
    platform,
    serverOrgId: options.serverOrgId,
    defaultDurationMs: limits.claimDurationMs,
    // The session's identity names the old organization: the device reconnects as what it is now.
    onOwnerChanged: (device) => {
      disconnectDevice(device, TbReason.AdministrativeAction, 'the device changed organization');
    },
  });
  const provision = options.provision ?? provisionHandler;
  const byCertificate: CertificateProvisioner =
    options.provisionByCertificate ?? ((certificate) => provisionByCertificate(platform, certificate));
  const provisionSessions = new ProvisionSessions({
    platform,
    handler: provision,
    logger,
    closeAfterReplyMs: limits.provisionSessionCloseMs ?? 60_000,
    send: (clientId, message) => broker?.sendToClient(clientId, message) ?? false,
    disconnect: (clientId, reasonCode, reason) => broker?.disconnectClient(clientId, reasonCode, reason) ?? false,
  });
  const deps: UplinkDeps = { platform, claims, typing, logger };
  platform.clientRpc.register(
    'getSessionLimits',
    sessionLimitsHandler(() => broker?.limits, limits.rateLimits),
  );

  const contextOf = (client: ClientInfo, identity: ThingsboardDeviceIdentity): ExtensionContext => ({
    client,
    identity,
  });

  const hooks: ThingsboardDialect['hooks'] = {
    authenticate: async (request) => {
      let outcome: ThingsboardAuthOutcome;
      try {
        outcome = await authenticateThingsboard(platform.store, request, byCertificate);
      } catch (error) {
        logger.error({ err: error }, 'credential look-up failed');
        return { ok: false, reasonCode: TbReason.ServerUnavailable };
      }
      const result = toAuthenticateResult(outcome);
      if (result !== undefined) return result;
      return allowAnonymous ? { ok: true } : { ok: false, reasonCode: noCredentialsReason(request.protocolVersion) };
    },

    authorizePublish: (client, topicName) => {
      if (!isThingsboardNamespace(topicName)) return true;
      const identity = client.identity;
      if (isDeviceIdentity(identity)) {
        return topicName.charCodeAt(0) === 0x2f ? TbReason.NotAuthorized : true; // `/provision…` is not a device's
      }
      // A provisioning session's topics are checked by onMessage (a wrong one closes the session, §3.6).
      return isProvisionIdentity(identity) ? true : TbReason.NotAuthorized;
    },

    onMessage: (client, message): MessageVerdict | undefined => {
      const identity = client.identity;
      if (isProvisionIdentity(identity)) return provisionSessions.onMessage(client, message);
      const topic = parsePublishTopic(message.topicName);
      if (topic === undefined) return undefined; // plain MQTT
      if (!isDeviceIdentity(identity)) return { action: 'drop', reasonCode: TbReason.NotAuthorized };
      if (topic.kind === 'unknown') return extensionPublish(extensions, contextOf(client, identity), message);
      return handleDevicePublish(deps, client, identity, sessions.get(client), topic, message);
    },

    authorizeSubscribe: (client, topicFilter, qos) => {
      const identity = client.identity;
      if (isProvisionIdentity(identity)) {
        return topicFilter === PROVISION_RESPONSE_TOPIC ? qos : TbReason.TopicFilterInvalid;
      }
      if (!isThingsboardNamespace(topicFilter)) return plainSubscribe(identity, topicFilter, qos);
      if (!isDeviceIdentity(identity)) return TbReason.NotAuthorized;
      const topic = parseSubscribeFilter(topicFilter);
      if (topic === undefined || topic.kind === 'provisionResponse') {
        return extensionSubscribe(extensions, contextOf(client, identity), topicFilter, qos);
      }
      sessions.get(client)?.subscribed(topic, qos);
      return qos;
    },

    onClientConnected: (client) => {
      const identity = client.identity;
      if (!isDeviceIdentity(identity)) return;
      const session = new DeviceSession(client, identity, platform.links, (clientId, message, onAcknowledged) =>
        sendToClient(broker, clientId, message, onAcknowledged),
      );
      // One session per device (ThingsBoard's max_concurrent_sessions_per_device = 1): the newer connection wins.
      // The broker already takes over a connection with the same client id; another client id is closed here.
      const previous = byDevice.get(identity.device.id);
      if (previous !== undefined) {
        previous.close();
        if (previous.client.clientId !== client.clientId) {
          broker?.disconnectClient(
            previous.client.clientId,
            TbReason.SessionTakenOver,
            'another connection of the device took over',
          );
        }
      }
      sessions.set(client, session);
      byDevice.set(identity.device.id, session);
      session.open();
      for (const extension of extensions) extension.onConnected?.(contextOf(client, identity));
    },

    onClientDisconnected: (client) => {
      provisionSessions.forget(client);
      const session = sessions.get(client);
      if (session === undefined) return;
      sessions.delete(client);
      session.close();
      if (byDevice.get(session.deviceId) === session) byDevice.delete(session.deviceId);
      for (const extension of extensions) extension.onDisconnected?.(contextOf(client, session.identity));
    },
  };

  const authenticateDevices: AuthStep = async (request) =>
    toAuthenticateResult(await authenticateThingsboardDevice(platform.store, request, byCertificate));
  const dialect: Dialect = {
    name: 'thingsboard',
    ownsIdentity: isThingsboardIdentity,
    ownsTopic: isThingsboardNamespace,
    authorizePublish: hooks.authorizePublish,
    authorizeSubscribe: hooks.authorizeSubscribe,
    onMessage: hooks.onMessage,
    onClientConnected: hooks.onClientConnected,
    onClientDisconnected: hooks.onClientDisconnected,
    attach: (attached) => {
      broker = attached;
    },
  };

  const httpDeps = {
    platform,
    claims,
    typing,
    logger,
    longPollDefaultMs: limits.httpLongPollDefaultMs ?? 60_000,
    longPollMaxMs: limits.httpLongPollMaxMs ?? 300_000,
  };

  return {
    hooks,
    attach: (attached) => {
      broker = attached;
    },
    httpPlugin: deviceHttpPlugin(httpDeps),
    claimsHttpPlugin: claimsHttpPlugin({ claims }),
    claims,
    authenticateDevice: (request) => authenticateThingsboardDevice(platform.store, request, byCertificate),
    dialect,
    authSteps: {
      provision: (request) => (isProvisionConnect(request) ? { ok: true, identity: PROVISION_IDENTITY } : undefined),
      devices: authenticateDevices,
    },
  };
}

/** The broker's answer for an outcome; undefined for 'none' (no credentials: the caller decides). */
function toAuthenticateResult(outcome: ThingsboardAuthOutcome): AuthenticateResult | undefined {
  switch (outcome.outcome) {
    case 'device':
    case 'provision':
      return { ok: true, identity: outcome.identity };
    case 'none':
      return undefined;
    case 'refused':
      return { ok: false, reasonCode: outcome.reasonCode };
  }
}

function sendToClient(
  broker: Broker | undefined,
  clientId: string,
  message: InboundMessage,
  onAcknowledged: (() => void) | undefined,
): boolean {
  if (broker === undefined) return false;
  return onAcknowledged === undefined
    ? broker.sendToClient(clientId, message)
    : broker.sendToClient(clientId, message, onAcknowledged);
}

/**
 * Outside the namespace the broker is general: any client may use plain topics (the ACL governs them). A ThingsBoard
 * device may not put a wildcard at the first level (`#`, `+/…`): such a filter would read every organization's plain
 * traffic and the other dialects' namespaces, which a device never needs.
 */
function plainSubscribe(identity: unknown, topicFilter: string, qos: QoS): number {
  if (!isDeviceIdentity(identity)) return qos;
  const c = topicFilter.charCodeAt(0);
  return c === 0x23 /* # */ || c === 0x2b /* + */ ? TbReason.NotAuthorized : qos;
}

function extensionPublish(
  extensions: readonly ThingsboardExtension[],
  context: ExtensionContext,
  message: InboundMessage,
): MessageVerdict {
  for (const extension of extensions) {
    const verdict = extension.onPublish?.(context, message);
    if (verdict !== undefined) return verdict;
  }
  return unknownTopic();
}

function extensionSubscribe(
  extensions: readonly ThingsboardExtension[],
  context: ExtensionContext,
  topicFilter: string,
  qos: QoS,
): number {
  for (const extension of extensions) {
    const granted = extension.authorizeSubscribe?.(context, topicFilter, qos);
    if (granted !== undefined) return granted;
  }
  return TbReason.TopicFilterInvalid;
}
