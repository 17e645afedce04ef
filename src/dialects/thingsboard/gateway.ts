/**
 * ThingsBoard's gateway API (device-apis.md §3.8): one MQTT connection of a device flagged "is gateway" speaks for
 * many child devices on `v1/gateway/*`. Children named in any message are found by name in the gateway's
 * organization or created (profile = the `type` of a connect message, default `default`, created when missing), and
 * each connected child gets a `DeviceLink` so shared-attribute updates and server-side RPCs reach it through the
 * gateway.
 *
 * API (the core dialect creates one session per connected gateway device and hands it the gateway topics):
 *
 *   new GatewaySession(platform, gateway, send, logger)
 *   session.handlePublish(topicName, payload) → Promise<reason code for the one PUBACK>
 *   session.subscribed(topicFilter, qos) / session.unsubscribed(topicFilter)
 *   session.close()
 *   isGatewayTopic(topicName), isGatewaySubscribeTopic(topicFilter)
 *
 * - `send(topicName, payload, qos, onDelivered?)`: publish to the gateway's connection (e.g. `Broker.sendToClient`);
 *   `onDelivered` runs when the gateway has the message (QoS 0 written, QoS 1 PUBACK), for RPC states.
 * - `handlePublish` resolves to 0x00 once every part of a multi-device message is stored ("acknowledged once, after
 *   all per-device parts succeed"); 0x99 Payload format invalid for JSON that does not parse or has the wrong shape
 *   (v5 keeps the session; the core applies the 3.1.1 rule); 0x97 Quota exceeded when storage is overloaded; 0x83
 *   Implementation specific error for any other failure (ThingsBoard then disconnects); 0x90 for a topic that is not
 *   a gateway uplink topic. It never rejects.
 * - Downlinks use the QoS the gateway subscribed with (at most 1). RPCs and attribute updates go only to a gateway
 *   subscribed to `v1/gateway/rpc` / `v1/gateway/attributes` (else the RPC is "offline" or stays queued); attribute
 *   responses are sent in any case, at the subscribed QoS or 0.
 */
import type { Logger } from 'pino';
import { OverloadedError } from '../../platform/data-writer.js';
import type { AttributeUpdate, DeviceLink } from '../../platform/device-links.js';
import type { DataValue, Device, JsonValue, Rpc } from '../../platform/model.js';
import type { Platform } from '../../platform/platform.js';
import { DuplicateError } from '../../storage/platform-store.js';
import {
  parseAttributeRequest,
  parseClaims,
  parseDeviceName,
  parseGatewayAttributes,
  parseGatewayTelemetry,
  parseJsonObject,
  parseRpcReply,
} from './gateway-payloads.js';
import { ClaimService } from './claims.js';
import { DEFAULT_TYPING_OPTIONS, PayloadError, type TypingOptions } from './json-telemetry.js';

/** The v5 reason codes `handlePublish` answers with (3.1.1 clients get a plain PUBACK or the disconnect). */
export const GatewayReason = {
  Success: 0x00,
  ImplementationSpecificError: 0x83,
  TopicNameInvalid: 0x90,
  QuotaExceeded: 0x97,
  PayloadFormatInvalid: 0x99,
} as const;
export type GatewayReason = (typeof GatewayReason)[keyof typeof GatewayReason];

/** Options of a gateway session. */
export interface GatewaySessionOptions {
  /** The typing rules for child telemetry and attributes (the core dialect's configuration). */
  typing?: TypingOptions | undefined;
  /** The core dialect's claim service (claims.ts); default: one over `platform` with ThingsBoard's defaults. */
  claims?: ClaimService | undefined;
}

/** A child already claimed by an organization cannot open a claim (ThingsBoard fails the processing). */
class NotClaimableError extends Error {
  constructor(name: string) {
    super(`device ${name} is already claimed`);
    this.name = 'NotClaimableError';
  }
}

/** The gateway topics (device-apis.md §3.8). */
export const GatewayTopic = {
  Connect: 'v1/gateway/connect',
  Disconnect: 'v1/gateway/disconnect',
  Telemetry: 'v1/gateway/telemetry',
  Attributes: 'v1/gateway/attributes',
  AttributesRequest: 'v1/gateway/attributes/request',
  AttributesResponse: 'v1/gateway/attributes/response',
  Rpc: 'v1/gateway/rpc',
  Claim: 'v1/gateway/claim',
} as const;

/** The only filters a gateway may subscribe to (ThingsBoard's `processSubscribe`). */
const SUBSCRIBE_TOPICS: ReadonlySet<string> = new Set([
  GatewayTopic.Attributes,
  GatewayTopic.AttributesResponse,
  GatewayTopic.Rpc,
]);

const UPLINK_TOPICS: ReadonlySet<string> = new Set([
  GatewayTopic.Connect,
  GatewayTopic.Disconnect,
  GatewayTopic.Telemetry,
  GatewayTopic.Attributes,
  GatewayTopic.AttributesRequest,
  GatewayTopic.Rpc,
  GatewayTopic.Claim,
]);

/** True for a topic a gateway publishes to. */
export function isGatewayTopic(topicName: string): boolean {
  return UPLINK_TOPICS.has(topicName);
}

/** True for a filter a gateway may subscribe to. */
export function isGatewaySubscribeTopic(topicFilter: string): boolean {
  return SUBSCRIBE_TOPICS.has(topicFilter);
}

/** Publishes to the gateway's connection; false when it is gone. */
export type GatewaySend = (topicName: string, payload: Buffer, qos: 0 | 1, onDelivered?: () => void) => boolean;

interface Child {
  device: Device;
  detach: () => void;
}

/** ThingsBoard's default device type for a child named without one. */
const DEFAULT_DEVICE_TYPE = 'default';

export class GatewaySession {
  readonly #platform: Platform;
  readonly #gateway: Device;
  readonly #send: GatewaySend;
  readonly #logger: Logger;
  readonly #typing: TypingOptions;
  readonly #claims: ClaimService;
  /** Connected children by name. */
  readonly #children = new Map<string, Child>();
  /** Children being found or created, so two messages for a new child create it once. */
  readonly #connecting = new Map<string, Promise<Child>>();
  /** Granted QoS of the gateway's subscriptions to the downlink topics. */
  readonly #subscriptions = new Map<string, 0 | 1>();
  #isClosed = false;

  constructor(
    platform: Platform,
    gateway: Device,
    send: GatewaySend,
    logger: Logger,
    options: GatewaySessionOptions = {},
  ) {
    this.#platform = platform;
    this.#gateway = gateway;
    this.#send = send;
    this.#logger = logger.child({ gatewayId: gateway.id });
    this.#typing = options.typing ?? DEFAULT_TYPING_OPTIONS;
    this.#claims = options.claims ?? new ClaimService({ platform });
  }

  /** The gateway device this session speaks for. */
  get gateway(): Device {
    return this.#gateway;
  }

  /** Names of the children connected through this session. */
  get connectedDevices(): string[] {
    return [...this.#children.keys()];
  }

  /** Handles one PUBLISH on a gateway topic; resolves to the v5 reason code of its PUBACK. Never rejects. */
  async handlePublish(topicName: string, payload: Buffer): Promise<number> {
    if (this.#isClosed) return GatewayReason.ImplementationSpecificError;
    try {
      switch (topicName) {
        case GatewayTopic.Connect:
          await this.#onConnect(payload);
          break;
        case GatewayTopic.Disconnect:
          this.#onDisconnect(payload);
          break;
        case GatewayTopic.Telemetry:
          await this.#onTelemetry(payload);
          break;
        case GatewayTopic.Attributes:
          await this.#onAttributes(payload);
          break;
        case GatewayTopic.AttributesRequest:
          await this.#onAttributeRequest(payload);
          break;
        case GatewayTopic.Rpc:
          await this.#onRpcReply(payload);
          break;
        case GatewayTopic.Claim:
          await this.#onClaim(payload);
          break;
        default:
          return GatewayReason.TopicNameInvalid;
      }
      return GatewayReason.Success;
    } catch (error) {
      const reason = reasonFor(error);
      if (reason === GatewayReason.ImplementationSpecificError) {
        this.#logger.warn({ err: error, topicName }, 'gateway message failed');
      } else {
        this.#logger.debug({ err: error, topicName }, 'gateway message refused');
      }
      return reason;
    }
  }

  /** The gateway subscribed to `topicFilter` with granted `qos`. */
  subscribed(topicFilter: string, qos: number): void {
    if (SUBSCRIBE_TOPICS.has(topicFilter)) this.#subscriptions.set(topicFilter, qos >= 1 ? 1 : 0);
  }

  unsubscribed(topicFilter: string): void {
    this.#subscriptions.delete(topicFilter);
  }

  /** The gateway's connection ended: every child is disconnected. */
  close(): void {
    this.#isClosed = true;
    for (const child of this.#children.values()) child.detach();
    this.#children.clear();
  }

  // ---- uplinks -------------------------------------------------------------------------------------------------

  async #onConnect(payload: Buffer): Promise<void> {
    const json = parseJsonObject(payload);
    const name = parseDeviceName(json);
    const type = json['type'];
    if (type !== undefined && typeof type !== 'string') throw new PayloadError('"type" must be a string');
    await this.#child(name, type === undefined || type === '' ? DEFAULT_DEVICE_TYPE : type);
  }

  #onDisconnect(payload: Buffer): void {
    const name = parseDeviceName(parseJsonObject(payload));
    const child = this.#children.get(name);
    if (child === undefined) return;
    child.detach();
    this.#children.delete(name);
  }

  async #onTelemetry(payload: Buffer): Promise<void> {
    const perDevice = parseGatewayTelemetry(parseJsonObject(payload), Date.now(), this.#typing, (name) => {
      this.#logger.warn({ device: name }, 'gateway telemetry entry is not an array; skipped');
    });
    await Promise.all(
      perDevice.map(async ({ name, points }) => {
        const { device } = await this.#child(name, DEFAULT_DEVICE_TYPE);
        await this.#platform.committed((done) => {
          this.#platform.postTelemetry(device, points, done);
        });
      }),
    );
  }

  async #onAttributes(payload: Buffer): Promise<void> {
    const perDevice = parseGatewayAttributes(parseJsonObject(payload), this.#typing, (name) => {
      this.#logger.warn({ device: name }, 'gateway attributes entry is not an object; skipped');
    });
    await Promise.all(
      perDevice.map(async ({ name, values }) => {
        const { device } = await this.#child(name, DEFAULT_DEVICE_TYPE);
        await this.#platform.committed((done) => {
          this.#platform.postAttributes(device, 'client', values, done);
        });
      }),
    );
  }

  /** ThingsBoard's `onDeviceAttributesRequestJson` and `JsonConverter.addValues`: one found key → `value`. */
  async #onAttributeRequest(payload: Buffer): Promise<void> {
    const request = parseAttributeRequest(parseJsonObject(payload));
    const { device } = await this.#child(request.name, DEFAULT_DEVICE_TYPE);
    const found = await this.#platform.store.getAttributes(
      device.id,
      request.isClient ? 'client' : 'shared',
      request.keys,
    );
    const response: { [key: string]: JsonValue } = { id: request.id, device: request.name };
    if (found.length === 1) {
      response['value'] = found[0]!.value;
    } else if (found.length > 1) {
      const values: { [key: string]: JsonValue } = {};
      for (const attribute of found) values[attribute.key] = attribute.value;
      response['values'] = values;
    }
    const qos = this.#subscriptions.get(GatewayTopic.AttributesResponse) ?? 0;
    this.#send(GatewayTopic.AttributesResponse, Buffer.from(JSON.stringify(response)), qos);
  }

  async #onRpcReply(payload: Buffer): Promise<void> {
    const reply = parseRpcReply(parseJsonObject(payload));
    const { device } = await this.#child(reply.name, DEFAULT_DEVICE_TYPE);
    // A reply nobody waits for (timed out, unknown id) is dropped, as ThingsBoard does.
    if (!this.#platform.rpc.reply(device.id, reply.id, reply.data)) {
      this.#logger.debug({ device: reply.name, id: reply.id }, 'gateway rpc reply for no waiting request');
    }
  }

  async #onClaim(payload: Buffer): Promise<void> {
    const claims = parseClaims(parseJsonObject(payload));
    await Promise.all(
      claims.map(async ({ name, secretKey, durationMs }) => {
        const { device } = await this.#child(name, DEFAULT_DEVICE_TYPE);
        await this.#storeClaim(device, secretKey, durationMs);
      }),
    );
  }

  /**
   * Opens a claim for a child exactly as a device's own `v1/devices/me/claim` does (claims.ts): the server attribute
   * `claimingData` that the claim API checks; refused for a child that is already claimed.
   */
  async #storeClaim(device: Device, secretKey: string, durationMs: number | undefined): Promise<void> {
    if (!(await this.#claims.isClaimable(device))) throw new NotClaimableError(device.name);
    const claimingData = this.#claims.claimingData(secretKey, durationMs) as DataValue;
    await this.#platform.committed((done) => {
      this.#platform.postAttributes(device, 'server', { claimingData }, done);
    });
  }

  // ---- children ------------------------------------------------------------------------------------------------

  /** The connected child `name`, found or created (with profile `type`) and linked on first use. */
  #child(name: string, type: string): Promise<Child> {
    const connected = this.#children.get(name);
    if (connected !== undefined) return Promise.resolve(connected);
    let connecting = this.#connecting.get(name);
    if (connecting === undefined) {
      connecting = this.#connectChild(name, type).finally(() => this.#connecting.delete(name));
      this.#connecting.set(name, connecting);
    }
    return connecting;
  }

  async #connectChild(name: string, type: string): Promise<Child> {
    const device = await this.#findOrCreate(name, type);
    const link: DeviceLink = {
      sendRpc: (rpc, onDelivered) => this.#sendRpc(name, rpc, onDelivered),
      sendAttributeUpdate: (update) => {
        this.#sendAttributeUpdate(name, update);
      },
    };
    // Attach after storing the child: attaching sends queued persistent RPCs, which look the child up by name.
    const child: Child = { device, detach: () => {} };
    this.#children.set(name, child);
    if (this.#isClosed) {
      this.#children.delete(name);
      return child;
    }
    child.detach = this.#platform.links.attach(device.id, link);
    return child;
  }

  async #findOrCreate(name: string, type: string): Promise<Device> {
    const orgId = this.#gateway.orgId;
    const existing = await this.#platform.store.getDeviceByName(orgId, name);
    if (existing !== undefined) return existing;
    try {
      const created = await this.#platform.entities.createDevice(orgId, {
        name,
        profileName: type,
        createProfileIfMissing: true,
        gatewayId: this.#gateway.id,
      });
      return created.device;
    } catch (error) {
      // Another session (or a gateway reconnecting) created it meanwhile.
      const raced =
        error instanceof DuplicateError ? await this.#platform.store.getDeviceByName(orgId, name) : undefined;
      if (raced !== undefined) return raced;
      throw error;
    }
  }

  // ---- downlinks -----------------------------------------------------------------------------------------------

  /** `{"device","data":{"id","method","params"}}` on v1/gateway/rpc (ThingsBoard's `toGatewayJson`). */
  #sendRpc(name: string, rpc: Rpc, onDelivered: () => void): boolean {
    const qos = this.#subscriptions.get(GatewayTopic.Rpc);
    if (qos === undefined || this.#isClosed) return false;
    const body = { device: name, data: { id: rpc.requestId, method: rpc.method, params: rpc.params } };
    return this.#send(GatewayTopic.Rpc, Buffer.from(JSON.stringify(body)), qos, onDelivered);
  }

  /** `{"device","data":{…,"deleted":[…]}}` on v1/gateway/attributes; `deleted` only when something was deleted. */
  #sendAttributeUpdate(name: string, update: AttributeUpdate): void {
    const qos = this.#subscriptions.get(GatewayTopic.Attributes);
    if (qos === undefined || this.#isClosed) return;
    const data: { [key: string]: JsonValue } = { ...update.values };
    if (update.deleted.length > 0) data['deleted'] = update.deleted;
    this.#send(GatewayTopic.Attributes, Buffer.from(JSON.stringify({ device: name, data })), qos);
  }
}

/** The PUBACK reason for a failure: the payload's fault, storage overload, or anything else. */
function reasonFor(error: unknown): GatewayReason {
  if (error instanceof PayloadError) return GatewayReason.PayloadFormatInvalid;
  if (error instanceof OverloadedError) return GatewayReason.QuotaExceeded;
  return GatewayReason.ImplementationSpecificError;
}
