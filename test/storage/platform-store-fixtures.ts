/** Builders of platform entities for the platform store contract: every field set, times fixed. */
import type {
  Device,
  DeviceCredentials,
  DeviceEvent,
  DeviceProfile,
  Organization,
  Rpc,
  TelemetryPoint,
} from '../../src/platform/model.js';
import type { DataBatch, NewDevice, PlatformStore, StoredApiKey, StoredUser } from '../../src/storage/index.js';

/** A fixed creation time: tests never read the clock. */
export const createdAt = 1_700_000_000_000;

export function organization(id: string, overrides: Partial<Organization> = {}): Organization {
  return { id, name: `Org ${id}`, retentionDays: null, mqttId: `mqtt-${id}`, createdAt, ...overrides };
}

export function profile(id: string, orgId: string, overrides: Partial<DeviceProfile> = {}): DeviceProfile {
  return {
    id,
    orgId,
    name: `profile ${id}`,
    payloadType: 'JSON',
    protoSchemas: {},
    provisioning: null,
    sendAckOnValidationFailure: false,
    isDefault: false,
    driverId: null,
    createdAt,
    ...overrides,
  };
}

export function device(
  id: string,
  orgId: string,
  overrides: Partial<Device> & { credentials?: DeviceCredentials } = {},
): NewDevice {
  return {
    id,
    orgId,
    name: `device ${id}`,
    profileId: `profile-${orgId}`,
    zoneId: null,
    systemId: null,
    index: null,
    isGateway: false,
    gatewayId: null,
    createdAt,
    credentials: { type: 'ACCESS_TOKEN', accessToken: `token-${id}` },
    ...overrides,
  };
}

/** The `Device` part of a `NewDevice` (what the getters return). */
export function withoutCredentials(newDevice: NewDevice): Device {
  const copy: Device & { credentials?: DeviceCredentials } = { ...newDevice };
  delete copy.credentials;
  return copy;
}

export function user(id: string, orgId: string, overrides: Partial<StoredUser> = {}): StoredUser {
  return {
    id,
    orgId,
    username: `user-${id}`,
    email: null,
    mqttId: `mqtt-user-${id}`,
    role: 'operator',
    passwordHash: `scrypt$${id}`,
    createdAt,
    ...overrides,
  };
}

export function apiKey(id: string, orgId: string, overrides: Partial<StoredApiKey> = {}): StoredApiKey {
  return {
    id,
    orgId,
    name: `key ${id}`,
    role: 'viewer',
    prefix: `sb_${id}`,
    keyHash: `hash-${id}`,
    createdAt,
    ...overrides,
  };
}

export function rpc(id: string, orgId: string, deviceId: string, overrides: Partial<Rpc> = {}): Rpc {
  return {
    id,
    orgId,
    deviceId,
    requestId: 1,
    method: 'setGpio',
    params: { pin: 7, value: 1 },
    isOneway: false,
    isPersistent: true,
    status: 'QUEUED',
    response: undefined,
    expirationTime: createdAt + 60_000,
    retries: 0,
    maxRetries: 3,
    additionalInfo: undefined,
    createdAt,
    updatedAt: createdAt,
    ...overrides,
  };
}

export function event(id: string, orgId: string, deviceId: string, overrides: Partial<DeviceEvent> = {}): DeviceEvent {
  return {
    id,
    orgId,
    deviceId,
    stream: 'raw',
    at: createdAt,
    atText: null,
    data: { id },
    expiresAt: null,
    ...overrides,
  };
}

export function emptyBatch(overrides: Partial<DataBatch> = {}): DataBatch {
  return { telemetry: [], attributes: [], attributeDeletes: [], events: [], ...overrides };
}

/** A batch with only telemetry of one device. */
export function telemetry(deviceId: string, points: TelemetryPoint[]): DataBatch {
  return emptyBatch({ telemetry: [{ deviceId, points }] });
}

/** One point per ts in `tsList`, valued by `value(ts)`. */
export function series(
  key: string,
  tsList: number[],
  value: (ts: number) => TelemetryPoint['value'],
): TelemetryPoint[] {
  return tsList.map((ts) => ({ key, ts, value: value(ts) }));
}

/** An organization with a profile and the given devices (ACCESS_TOKEN credentials `token-<id>`). */
export async function seedOrganization(store: PlatformStore, orgId: string, deviceIds: string[]): Promise<void> {
  await store.createOrganization(organization(orgId));
  await store.createProfile(profile(`profile-${orgId}`, orgId));
  for (const id of deviceIds) await store.createDevice(device(id, orgId));
}
