/**
 * The platform model (../shared/spec/choices.md, "One platform model"): organizations hold zones, systems, device
 * profiles, devices, users and API keys; devices produce telemetry, attributes, RPC and events. Every dialect maps its
 * namespace onto these types; nothing here knows a dialect. Ids are opaque strings; times are epoch milliseconds.
 */

/** Any JSON value, as devices send it. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A stored telemetry or attribute value: JSON types kept (ThingsBoard's number casting happens in its dialect). */
export type DataValue = boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export type Role = 'admin' | 'operator' | 'viewer';
export const ROLES: readonly Role[] = ['admin', 'operator', 'viewer'];

export interface Organization {
  id: string;
  name: string;
  /** Telemetry and events older than this are deleted in the background; null = kept forever. */
  retentionDays: number | null;
  /** The organization's MQTT id: the Medium One project id (`0/<mqttId>/…`). Unique; a valid topic level. */
  mqttId: string;
  createdAt: number;
}

/**
 * One level of the spatial hierarchy; `kind` (the HTTP API's `tier`) is one of the configured levels (default
 * building, level, area; PlaceOS adds org and region).
 */
export interface Zone {
  id: string;
  orgId: string;
  name: string;
  kind: string;
  parentId: string | null;
  createdAt: number;
}

/** A group of devices in a space (a PlaceOS system). */
export interface DeviceSystem {
  id: string;
  orgId: string;
  name: string;
  /** The zones the system is in (PlaceOS: a system's zones span its hierarchy, one per tier). */
  zoneIds: string[];
  createdAt: number;
}

export type ProvisionStrategy = 'ALLOW_CREATE_NEW_DEVICES' | 'CHECK_PRE_PROVISIONED_DEVICES' | 'X509_CERTIFICATE_CHAIN';

export interface ProvisioningSettings {
  strategy: ProvisionStrategy;
  /** `provisionDeviceKey`: unique across the server. */
  key: string;
  /** `provisionDeviceSecret`. */
  secret: string;
  /** X509_CERTIFICATE_CHAIN: regex whose first group extracts the device name from the certificate CN. */
  certificateRegex?: string | undefined;
  /**
   * X509_CERTIFICATE_CHAIN: the CA certificate (PEM) that issues the devices' certificates. The profile's `key` is
   * then `x509ChainProvisionKey(caCertificatePem)` (src/dialects/thingsboard/provision-x509.ts), so a connecting
   * certificate finds its profile through its issuer.
   */
  caCertificatePem?: string | undefined;
  /** X509_CERTIFICATE_CHAIN: create a device when the certificate's CN names none yet (default true). */
  allowCreateNewDevicesByX509Certificate?: boolean | undefined;
}

/** proto3 sources per message kind (ThingsBoard device profiles with payload type PROTOBUF). */
export interface ProtoSchemas {
  telemetry?: string | undefined;
  attributes?: string | undefined;
  rpcRequest?: string | undefined;
  rpcResponse?: string | undefined;
}

/** A device profile (ThingsBoard), production template (CloudPlugs) or driver (PlaceOS). */
export interface DeviceProfile {
  id: string;
  orgId: string;
  name: string;
  payloadType: 'JSON' | 'PROTOBUF';
  protoSchemas: ProtoSchemas;
  provisioning: ProvisioningSettings | null;
  /** ThingsBoard "send PUBACK on PUBLISH message validation failure": keep 3.1.1 sessions on bad payloads. */
  sendAckOnValidationFailure: boolean;
  /** The profile a device gets when none is named; one per organization. */
  isDefault: boolean;
  /** The PlaceOS driver id this profile stands for (e.g. `dep-123`); null = the profile's id. */
  driverId: string | null;
  createdAt: number;
}

export type DeviceCredentials =
  | { type: 'ACCESS_TOKEN'; accessToken: string }
  /** Any of client id alone, username + password, or all three (device-apis.md §3.1). */
  | { type: 'MQTT_BASIC'; clientId: string | null; username: string | null; password: string | null }
  /** SHA-256 (hex) of the client certificate's DER bytes. */
  | { type: 'X509_CERTIFICATE'; certificateHash: string };

export interface Device {
  id: string;
  orgId: string;
  name: string;
  profileId: string;
  zoneId: string | null;
  systemId: string | null;
  /** Position within its system (PlaceOS module index); null when unplaced. */
  index: number | null;
  isGateway: boolean;
  /** The gateway that created this device (ThingsBoard gateway API), if any. */
  gatewayId: string | null;
  createdAt: number;
}

export interface User {
  id: string;
  orgId: string;
  username: string;
  /** Lower-cased; unique. A CloudPlugs account login (with the user's password as master password). */
  email: string | null;
  /** The user's MQTT id: the Medium One user id (`0/<org mqttId>/<mqttId>/…`). Unique; a valid topic level. */
  mqttId: string;
  role: Role;
  createdAt: number;
}

export interface ApiKey {
  id: string;
  orgId: string;
  name: string;
  role: Role;
  /** The first characters of the key, shown so a user can tell keys apart; the key itself is stored only hashed. */
  prefix: string;
  createdAt: number;
}

export interface TelemetryPoint {
  key: string;
  ts: number;
  value: DataValue;
}

export type AttributeScope = 'client' | 'shared' | 'server';
export const ATTRIBUTE_SCOPES: readonly AttributeScope[] = ['client', 'shared', 'server'];

export interface Attribute {
  scope: AttributeScope;
  key: string;
  value: DataValue;
  lastUpdateTs: number;
}

/** ThingsBoard's RPC states (device-apis.md §3.5). */
export type RpcStatus = 'QUEUED' | 'SENT' | 'DELIVERED' | 'SUCCESSFUL' | 'TIMEOUT' | 'EXPIRED' | 'FAILED';

/** A server-side RPC to a device. Persistent ones are stored; lightweight ones live only while the caller waits. */
export interface Rpc {
  id: string;
  orgId: string;
  deviceId: string;
  /** Integer id on the device's topic (`…/rpc/request/<requestId>`). */
  requestId: number;
  method: string;
  params: JsonValue;
  isOneway: boolean;
  isPersistent: boolean;
  status: RpcStatus;
  /** The device's reply, parsed as JSON where it is JSON. */
  response: JsonValue | undefined;
  /** Epoch ms after which the RPC is EXPIRED if not yet delivered. */
  expirationTime: number;
  retries: number;
  maxRetries: number;
  additionalInfo: JsonValue | undefined;
  createdAt: number;
  updatedAt: number;
}

/** An event: a Medium One event, a CloudPlugs channel record. `at` is epoch ms; `atText` the precise original. */
export interface DeviceEvent {
  id: string;
  orgId: string;
  deviceId: string;
  stream: string;
  at: number;
  atText: string | null;
  data: JsonValue;
  /** Epoch ms after which the event is deleted regardless of the organization's retention; null = retention only. */
  expiresAt: number | null;
}

/**
 * One state change on the bus: a telemetry value, an attribute set or deleted, an event. Storage, live HTTP streams,
 * the PlaceOS feed and bridges read these; dialects only produce them (through the platform service).
 */
export type StateChange =
  | { kind: 'telemetry'; orgId: string; deviceId: string; key: string; ts: number; value: DataValue }
  | {
      kind: 'attribute';
      orgId: string;
      deviceId: string;
      scope: AttributeScope;
      key: string;
      ts: number;
      /** undefined = deleted. */
      value: DataValue | undefined;
    }
  | { kind: 'event'; orgId: string; deviceId: string; event: DeviceEvent };
