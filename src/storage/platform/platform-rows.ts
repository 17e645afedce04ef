/**
 * Rows of the entity tables and their mapping to the platform model, shared by both platform stores: the two
 * schemas use the same column names. Booleans arrive as 0/1 from SQLite and as booleans from PostgreSQL; 64-bit
 * integers arrive as JS numbers from both (the PostgreSQL store parses int8 as a number: timestamps and ids stay far
 * below 2^53).
 */
import type {
  DeviceCredentials,
  DeviceEvent,
  DeviceProfile,
  DeviceSystem,
  Device,
  JsonValue,
  Organization,
  Role,
  Rpc,
  RpcStatus,
  Zone,
} from '../../platform/model.js';
import type { DevicePatch, RpcPatch, StoredApiKey, StoredUser } from '../platform-store.js';

/** A value bound to a statement parameter. */
export type SqlValue = string | number | boolean | null;
/** A boolean column as either driver returns it. */
type SqlBoolean = number | boolean;

export interface OrganizationRow {
  id: string;
  name: string;
  retention_days: number | null;
  mqtt_id: string;
  created_at: number;
}
export function toOrganization(row: OrganizationRow): Organization {
  return {
    id: row.id,
    name: row.name,
    retentionDays: row.retention_days,
    mqttId: row.mqtt_id,
    createdAt: row.created_at,
  };
}

export interface ZoneRow {
  id: string;
  org_id: string;
  name: string;
  kind: string;
  parent_id: string | null;
  created_at: number;
}
export function toZone(row: ZoneRow): Zone {
  return {
    id: row.id,
    orgId: row.org_id,
    name: row.name,
    kind: row.kind,
    parentId: row.parent_id,
    createdAt: row.created_at,
  };
}

export interface SystemRow {
  id: string;
  org_id: string;
  name: string;
  zone_ids: string;
  created_at: number;
}
export function toSystem(row: SystemRow): DeviceSystem {
  return {
    id: row.id,
    orgId: row.org_id,
    name: row.name,
    zoneIds: JSON.parse(row.zone_ids) as string[],
    createdAt: row.created_at,
  };
}

/** The assignments of a system update. */
export function systemAssignments(patch: Partial<Pick<DeviceSystem, 'name' | 'zoneIds'>>): [string, SqlValue][] {
  const out = assignments(patch, { name: 'name' });
  if (patch.zoneIds !== undefined) out.push(['zone_ids', JSON.stringify(patch.zoneIds)]);
  return out;
}

export interface ProfileRow {
  id: string;
  org_id: string;
  name: string;
  payload_type: string;
  proto_schemas: string;
  provisioning: string | null;
  send_ack_on_validation_failure: SqlBoolean;
  is_default: SqlBoolean;
  driver_id: string | null;
  created_at: number;
}
export function toProfile(row: ProfileRow): DeviceProfile {
  return {
    id: row.id,
    orgId: row.org_id,
    name: row.name,
    payloadType: row.payload_type as DeviceProfile['payloadType'],
    protoSchemas: JSON.parse(row.proto_schemas) as DeviceProfile['protoSchemas'],
    provisioning: row.provisioning === null ? null : (JSON.parse(row.provisioning) as DeviceProfile['provisioning']),
    sendAckOnValidationFailure: Boolean(row.send_ack_on_validation_failure),
    isDefault: Boolean(row.is_default),
    driverId: row.driver_id,
    createdAt: row.created_at,
  };
}

/** The profile's columns, in `profileColumns` order; the provision key is its own column for uniqueness. */
export function profileValues(profile: DeviceProfile): SqlValue[] {
  return [
    profile.id,
    profile.orgId,
    profile.name,
    profile.payloadType,
    JSON.stringify(profile.protoSchemas),
    profile.provisioning === null ? null : JSON.stringify(profile.provisioning),
    profile.provisioning?.key ?? null,
    profile.sendAckOnValidationFailure,
    profile.isDefault,
    profile.driverId,
    profile.createdAt,
  ];
}
export const profileColumns = [
  'id',
  'org_id',
  'name',
  'payload_type',
  'proto_schemas',
  'provisioning',
  'provision_key',
  'send_ack_on_validation_failure',
  'is_default',
  'driver_id',
  'created_at',
] as const;

/** The assignments of a profile update. */
export function profileAssignments(
  patch: Partial<Omit<DeviceProfile, 'id' | 'orgId' | 'createdAt'>>,
): [column: string, value: SqlValue][] {
  const out = assignments(patch, {
    name: 'name',
    payloadType: 'payload_type',
    sendAckOnValidationFailure: 'send_ack_on_validation_failure',
    isDefault: 'is_default',
    driverId: 'driver_id',
  });
  if (patch.protoSchemas !== undefined) out.push(['proto_schemas', JSON.stringify(patch.protoSchemas)]);
  if (patch.provisioning !== undefined) {
    out.push(['provisioning', patch.provisioning === null ? null : JSON.stringify(patch.provisioning)]);
    out.push(['provision_key', patch.provisioning?.key ?? null]);
  }
  return out;
}

export interface DeviceRow {
  id: string;
  org_id: string;
  name: string;
  profile_id: string;
  zone_id: string | null;
  system_id: string | null;
  idx: number | null;
  is_gateway: SqlBoolean;
  gateway_id: string | null;
  created_at: number;
}
/** Select list of `DeviceRow` from the `devices` table aliased `d`. */
export const deviceSelect =
  'd.id, d.org_id, d.name, d.profile_id, d.zone_id, d.system_id, d.idx, d.is_gateway, d.gateway_id, d.created_at';
export function toDevice(row: DeviceRow): Device {
  return {
    id: row.id,
    orgId: row.org_id,
    name: row.name,
    profileId: row.profile_id,
    zoneId: row.zone_id,
    systemId: row.system_id,
    index: row.idx,
    isGateway: Boolean(row.is_gateway),
    gatewayId: row.gateway_id,
    createdAt: row.created_at,
  };
}
/** The device's columns (without the surrogate `seq`), in `deviceSelect` order. */
export function deviceValues(device: Device): SqlValue[] {
  return [
    device.id,
    device.orgId,
    device.name,
    device.profileId,
    device.zoneId,
    device.systemId,
    device.index,
    device.isGateway,
    device.gatewayId,
    device.createdAt,
  ];
}
export const devicePatchColumns = {
  name: 'name',
  profileId: 'profile_id',
  zoneId: 'zone_id',
  systemId: 'system_id',
  index: 'idx',
  isGateway: 'is_gateway',
  orgId: 'org_id',
} as const satisfies Record<keyof DevicePatch | 'orgId', string>;

/** A device row joined with its credentials. */
export interface DeviceWithCredentialsRow extends DeviceRow {
  credentials: string;
}

/**
 * The unique key of a device's credentials, across all types, as ThingsBoard's `credentials_id`: MQTT basic
 * credentials are keyed by the (clientId, username) pair with the absent half null, so the three forms never collide.
 * Throws a TypeError for MQTT basic credentials with neither a client id nor a username.
 */
export function credentialsKey(credentials: DeviceCredentials): string {
  switch (credentials.type) {
    case 'ACCESS_TOKEN':
      return `token:${credentials.accessToken}`;
    case 'X509_CERTIFICATE':
      return `x509:${credentials.certificateHash}`;
    case 'MQTT_BASIC':
      return basicCredentialsKey(credentials.clientId, credentials.username);
  }
}
export function basicCredentialsKey(clientId: string | null, username: string | null): string {
  if (clientId === null && username === null) {
    throw new TypeError('MQTT basic credentials need a client id, a username or both');
  }
  return `basic:${JSON.stringify([clientId, username])}`;
}

export interface UserRow {
  id: string;
  org_id: string;
  username: string;
  email: string | null;
  mqtt_id: string;
  role: string;
  password_hash: string;
  created_at: number;
}
export function toUser(row: UserRow): StoredUser {
  return {
    id: row.id,
    orgId: row.org_id,
    username: row.username,
    email: row.email,
    mqttId: row.mqtt_id,
    role: row.role as Role,
    passwordHash: row.password_hash,
    createdAt: row.created_at,
  };
}

export interface ApiKeyRow {
  id: string;
  org_id: string;
  name: string;
  role: string;
  prefix: string;
  key_hash: string;
  created_at: number;
}
export function toApiKey(row: ApiKeyRow): StoredApiKey {
  return {
    id: row.id,
    orgId: row.org_id,
    name: row.name,
    role: row.role as Role,
    prefix: row.prefix,
    keyHash: row.key_hash,
    createdAt: row.created_at,
  };
}

export interface RpcRow {
  id: string;
  org_id: string;
  device_id: string;
  request_id: number;
  method: string;
  params: string;
  is_oneway: SqlBoolean;
  is_persistent: SqlBoolean;
  status: string;
  response: string | null;
  expiration_time: number;
  retries: number;
  max_retries: number;
  additional_info: string | null;
  created_at: number;
  updated_at: number;
}
/** Select list of `RpcRow` from `rpcs r` joined with `devices d`. */
export const rpcSelect =
  'r.id, r.org_id, d.id AS device_id, r.request_id, r.method, r.params, r.is_oneway, r.is_persistent, r.status, ' +
  'r.response, r.expiration_time, r.retries, r.max_retries, r.additional_info, r.created_at, r.updated_at';
export function toRpc(row: RpcRow): Rpc {
  return {
    id: row.id,
    orgId: row.org_id,
    deviceId: row.device_id,
    requestId: row.request_id,
    method: row.method,
    params: JSON.parse(row.params) as JsonValue,
    isOneway: Boolean(row.is_oneway),
    isPersistent: Boolean(row.is_persistent),
    status: row.status as RpcStatus,
    response: parseOptionalJson(row.response),
    expirationTime: row.expiration_time,
    retries: row.retries,
    maxRetries: row.max_retries,
    additionalInfo: parseOptionalJson(row.additional_info),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
/** The RPC's columns after `device_seq` (which the store resolves), in `rpcColumns` order. */
export function rpcValues(rpc: Rpc): SqlValue[] {
  return [
    rpc.requestId,
    rpc.method,
    JSON.stringify(rpc.params),
    rpc.isOneway,
    rpc.isPersistent,
    rpc.status,
    stringifyOptionalJson(rpc.response),
    rpc.expirationTime,
    rpc.retries,
    rpc.maxRetries,
    stringifyOptionalJson(rpc.additionalInfo),
    rpc.createdAt,
    rpc.updatedAt,
  ];
}
/** Columns of `rpcs` after id, org_id and device_seq. */
export const rpcColumns = [
  'request_id',
  'method',
  'params',
  'is_oneway',
  'is_persistent',
  'status',
  'response',
  'expiration_time',
  'retries',
  'max_retries',
  'additional_info',
  'created_at',
  'updated_at',
] as const;
export function rpcAssignments(patch: RpcPatch): [column: string, value: SqlValue][] {
  const out = assignments(patch, { status: 'status', retries: 'retries', updatedAt: 'updated_at' });
  if (patch.response !== undefined) out.push(['response', JSON.stringify(patch.response)]);
  return out;
}

export interface EventRow {
  id: string;
  org_id: string;
  device_id: string;
  stream: string;
  at: number;
  at_text: string | null;
  data: string;
  expires_at: number | null;
}
/** Select list of `EventRow` from `events e` joined with `devices d`. */
export const eventSelect = 'e.id, e.org_id, d.id AS device_id, e.stream, e.at, e.at_text, e.data, e.expires_at';
/** An event query must name devices or an organization: a query without either would cross tenants. */
export function checkEventScope(query: {
  deviceIds?: readonly string[] | undefined;
  orgId?: string | undefined;
}): void {
  if (query.deviceIds === undefined && query.orgId === undefined) {
    throw new RangeError('an event query names devices or an organization');
  }
}
export function toEvent(row: EventRow): DeviceEvent {
  return {
    id: row.id,
    orgId: row.org_id,
    deviceId: row.device_id,
    stream: row.stream,
    at: row.at,
    atText: row.at_text,
    data: JSON.parse(row.data) as JsonValue,
    expiresAt: row.expires_at,
  };
}

/**
 * Column assignments for an UPDATE from the defined fields of `patch` (undefined = leave as is; null is a value).
 */
export function assignments<T extends object>(
  patch: T,
  columns: Partial<Record<keyof T, string>>,
): [column: string, value: SqlValue][] {
  const out: [string, SqlValue][] = [];
  for (const field of Object.keys(columns) as (keyof T)[]) {
    const value = patch[field];
    if (value !== undefined) out.push([columns[field]!, value as SqlValue]);
  }
  return out;
}

/** JSON text of a value that may be absent; SQL NULL stands for absent, so JSON null stays distinct. */
function stringifyOptionalJson(value: JsonValue | undefined): string | null {
  return value === undefined ? null : JSON.stringify(value);
}
function parseOptionalJson(text: string | null): JsonValue | undefined {
  return text === null ? undefined : (JSON.parse(text) as JsonValue);
}
