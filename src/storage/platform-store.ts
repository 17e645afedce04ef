/**
 * What the device platform persists, and the one interface both platform stores implement: SQLite (embedded default)
 * and PostgreSQL (`database.url`). The same contract suite (test/storage/platform-store-contract.ts) runs against
 * both. Every method is async because PostgreSQL is; the SQLite store answers synchronously inside the promise.
 *
 * Writes of device data (telemetry, attributes, events) go through `write(batch)`: one transaction per batch, so the
 * platform can group a whole event-loop turn of messages into one commit and acknowledge QoS 1 only after it
 * returned. Entity writes (devices, users, ...) are single statements.
 */
import type {
  ApiKey,
  Attribute,
  AttributeScope,
  DataValue,
  Device,
  DeviceCredentials,
  DeviceEvent,
  DeviceProfile,
  DeviceSystem,
  JsonValue,
  Organization,
  Role,
  Rpc,
  RpcStatus,
  TelemetryPoint,
  User,
  Zone,
} from '../platform/model.js';
import type { ModuleSchema, ModuleSql } from './platform/module-sql.js';

/** A unique constraint was violated (a duplicate device name in an organization, a taken access token...). */
export class DuplicateError extends Error {
  readonly code = 'DUPLICATE';
  /** What was duplicated, e.g. 'device name', 'access token', 'username'. */
  readonly what: string;
  constructor(what: string, options?: ErrorOptions) {
    super(`${what} already exists`, options);
    this.name = 'DuplicateError';
    this.what = what;
  }
}

/**
 * A write named devices that do not exist (never created, or deleted while their data was in flight). Nothing of the
 * batch was stored; `deviceIds` lists every unknown device so the caller can drop their data and write the rest.
 */
export class UnknownDeviceError extends Error {
  readonly code = 'UNKNOWN_DEVICE';
  readonly deviceIds: string[];
  constructor(deviceIds: string[]) {
    super(`unknown device${deviceIds.length === 1 ? '' : 's'}: ${deviceIds.join(', ')}`);
    this.name = 'UnknownDeviceError';
    this.deviceIds = deviceIds;
  }
}

/**
 * One transaction of device data. Any list may be empty. Telemetry is keyed by (device, key, ts): a point written
 * again at the same ts replaces the value. Attribute sets are applied before attribute deletes. An event is filed under
 * its device's organization (its `orgId` is taken from the device). Events are inserted before modifications are
 * applied, so a modification may name an event of the same batch.
 *
 * Events and modifications are judged one by one: an event whose id is taken, or a modification that does not apply,
 * is left out and reported in the `WriteOutcome`; everything else of the batch is stored. One device's bad item
 * therefore never costs another device its data in the same group commit.
 */
export interface DataBatch {
  telemetry: { deviceId: string; points: TelemetryPoint[] }[];
  attributes: { deviceId: string; scope: AttributeScope; key: string; value: DataValue; ts: number }[];
  attributeDeletes: { deviceId: string; scope: AttributeScope; keys: string[] }[];
  events: DeviceEvent[];
  /** Changes to stored events; absent = none. */
  eventModifications?: EventModification[] | undefined;
}

/**
 * A new version of a stored event. It applies only to an event of the same device (and so of its organization):
 * `stream` and `data` are replaced, `at` and `expiresAt` when given. Two modifications of one event in a batch
 * apply in order.
 */
export interface EventModification {
  id: string;
  deviceId: string;
  stream: string;
  data: JsonValue;
  /** The new time (epoch ms and the original text, or null); undefined keeps the stored one. */
  at: { ms: number; text: string | null } | undefined;
  /** The new expiry (null = the organization's retention only); undefined keeps the stored one. */
  expiresAt: number | null | undefined;
  /**
   * When set and `data` is not null, `data` is also written as a telemetry point of this key at the event's time
   * after the change, in the same transaction and only if the modification applies (a CloudPlugs record's copy).
   */
  telemetryKey: string | undefined;
}

/** Why a modification did not apply; the other items of its batch were stored. */
export type ModificationRefusal =
  /** No event has the id, or only another organization's (organizations never learn of each other's data). */
  | 'not-found'
  /** The event is another device's, in the same organization. */
  | 'other-device';

/** What one `write` left out; the rest of its batch is stored. */
export interface WriteOutcome {
  /** Indexes into `batch.events` of events not stored because their id was already taken (stored, or earlier in the batch). */
  duplicateEvents: number[];
  /** One per `batch.eventModifications`, in order: the event as stored after the change, or why it did not apply. */
  modifications: ({ applied: DeviceEvent } | { refused: ModificationRefusal })[];
}

/** A modification of a stored event did not apply (`reason`); nothing of it was stored. */
export class EventModificationError extends Error {
  readonly code: 'EVENT_NOT_FOUND' | 'EVENT_OF_ANOTHER_DEVICE';
  readonly eventId: string;
  constructor(eventId: string, reason: ModificationRefusal) {
    super(reason === 'not-found' ? `no event ${eventId} to modify` : `event ${eventId} belongs to another device`);
    this.name = 'EventModificationError';
    this.code = reason === 'not-found' ? 'EVENT_NOT_FOUND' : 'EVENT_OF_ANOTHER_DEVICE';
    this.eventId = eventId;
  }
}

export type SortOrder = 'ASC' | 'DESC';
export type Aggregation = 'AVG' | 'MIN' | 'MAX' | 'SUM' | 'COUNT';

export interface TelemetryRangeQuery {
  deviceId: string;
  keys: string[];
  /** Inclusive. */
  startTs: number;
  /** Exclusive. */
  endTs: number;
  /** Per key. */
  limit: number;
  order: SortOrder;
}

export interface TelemetryAggregateQuery {
  deviceId: string;
  keys: string[];
  startTs: number;
  endTs: number;
  /** Bucket width; buckets start at `startTs + k * intervalMs`. */
  intervalMs: number;
  agg: Aggregation;
}

/**
 * One bucket of an aggregate; `ts` is the bucket's start. Only numeric values (and booleans as 0/1) are aggregated;
 * COUNT counts every value. Buckets without values are absent.
 */
export interface AggregatePoint {
  ts: number;
  value: number;
}

/**
 * Events of some devices, of one organization, or of those devices within the organization. At least one of
 * `deviceIds` and `orgId` is given (a store throws RangeError otherwise): no query reads every tenant's events.
 */
export interface EventQuery {
  /** The devices whose events are read; undefined = every device of `orgId`. */
  deviceIds?: readonly string[] | undefined;
  /** Only events of this organization (its devices' events carry its id, kept when a device moves). */
  orgId?: string | undefined;
  stream?: string | undefined;
  /** Inclusive. */
  since?: number | undefined;
  /** Exclusive. */
  until?: number | undefined;
  limit: number;
  offset?: number | undefined;
  order: SortOrder;
}

/** A device with everything needed to let it in; what the credential look-ups return. */
export interface DeviceWithCredentials {
  device: Device;
  credentials: DeviceCredentials;
}

/** Fields settable on create; ids and `createdAt` are assigned by the caller (the platform service). */
export type NewDevice = Device & { credentials: DeviceCredentials };
export type DevicePatch = Partial<Pick<Device, 'name' | 'profileId' | 'zoneId' | 'systemId' | 'index' | 'isGateway'>>;

export interface StoredUser extends User {
  /** scrypt hash in the platform's format (see src/auth); never leaves the server. */
  passwordHash: string;
}

export interface StoredApiKey extends ApiKey {
  /** SHA-256 (hex) of the whole key. */
  keyHash: string;
}

export interface RpcPatch {
  status?: RpcStatus;
  response?: JsonValue;
  retries?: number;
  updatedAt: number;
}

export interface PlatformStore {
  readonly kind: 'sqlite' | 'postgres';

  // ---- organizations and the spatial model -------------------------------------------------------------------
  createOrganization(org: Organization): Promise<void>;
  getOrganization(id: string): Promise<Organization | undefined>;
  getOrganizationByMqttId(mqttId: string): Promise<Organization | undefined>;
  listOrganizations(): Promise<Organization[]>;
  /** Throws DuplicateError('organization mqttId'). */
  updateOrganization(
    id: string,
    patch: Partial<Pick<Organization, 'name' | 'retentionDays' | 'mqttId'>>,
  ): Promise<boolean>;
  /** Deletes the organization and everything in it. */
  deleteOrganization(id: string): Promise<boolean>;

  createZone(zone: Zone): Promise<void>;
  getZone(id: string): Promise<Zone | undefined>;
  listZones(orgId: string): Promise<Zone[]>;
  updateZone(id: string, patch: Partial<Pick<Zone, 'name' | 'kind' | 'parentId'>>): Promise<boolean>;
  deleteZone(id: string): Promise<boolean>;

  createSystem(system: DeviceSystem): Promise<void>;
  getSystem(id: string): Promise<DeviceSystem | undefined>;
  listSystems(orgId: string): Promise<DeviceSystem[]>;
  updateSystem(id: string, patch: Partial<Pick<DeviceSystem, 'name' | 'zoneIds'>>): Promise<boolean>;
  deleteSystem(id: string): Promise<boolean>;

  /** Throws DuplicateError('profile name') or DuplicateError('provision key'). */
  createProfile(profile: DeviceProfile): Promise<void>;
  getProfile(id: string): Promise<DeviceProfile | undefined>;
  getProfileByName(orgId: string, name: string): Promise<DeviceProfile | undefined>;
  getProfileByProvisionKey(key: string): Promise<DeviceProfile | undefined>;
  listProfiles(orgId: string): Promise<DeviceProfile[]>;
  updateProfile(id: string, patch: Partial<Omit<DeviceProfile, 'id' | 'orgId' | 'createdAt'>>): Promise<boolean>;
  deleteProfile(id: string): Promise<boolean>;

  // ---- devices and their credentials -------------------------------------------------------------------------
  /** Throws DuplicateError('device name') or DuplicateError('credentials'). */
  createDevice(device: NewDevice): Promise<void>;
  getDevice(id: string): Promise<Device | undefined>;
  getDeviceByName(orgId: string, name: string): Promise<Device | undefined>;
  /** Device names are unique per organization; claiming looks a device up by name across the server. */
  findDevicesByName(name: string): Promise<Device[]>;
  listDevices(orgId: string, options?: { limit?: number; offset?: number; gatewayId?: string }): Promise<Device[]>;
  /** Moves a device between organizations (claiming) or renames, re-profiles, places it. */
  updateDevice(id: string, patch: DevicePatch & { orgId?: string }): Promise<boolean>;
  /** Deletes the device with its credentials, telemetry, attributes, RPCs and events. */
  deleteDevice(id: string): Promise<boolean>;
  getCredentials(deviceId: string): Promise<DeviceCredentials | undefined>;
  /** Replaces the device's credentials. Throws DuplicateError('credentials'). */
  setCredentials(deviceId: string, credentials: DeviceCredentials): Promise<void>;
  findByAccessToken(token: string): Promise<DeviceWithCredentials | undefined>;
  /**
   * MQTT basic credentials keyed as ThingsBoard does: (clientId, username) pair, or clientId alone (username null),
   * or username alone (clientId null). The caller checks the password.
   */
  findByBasicCredentials(clientId: string | null, username: string | null): Promise<DeviceWithCredentials | undefined>;
  findByCertificateHash(hash: string): Promise<DeviceWithCredentials | undefined>;

  // ---- users and API keys ------------------------------------------------------------------------------------
  /**
   * Usernames, e-mails and MQTT ids are unique across the server (login names). Throws DuplicateError('username'),
   * DuplicateError('email') or DuplicateError('user mqttId').
   */
  createUser(user: StoredUser): Promise<void>;
  getUser(id: string): Promise<StoredUser | undefined>;
  getUserByUsername(username: string): Promise<StoredUser | undefined>;
  /** `email` as stored: lower-cased. */
  getUserByEmail(email: string): Promise<StoredUser | undefined>;
  getUserByMqttId(mqttId: string): Promise<StoredUser | undefined>;
  listUsers(orgId: string): Promise<StoredUser[]>;
  updateUser(
    id: string,
    patch: Partial<Pick<StoredUser, 'role' | 'passwordHash' | 'email' | 'mqttId'>>,
  ): Promise<boolean>;
  deleteUser(id: string): Promise<boolean>;
  countUsers(): Promise<number>;

  createApiKey(key: StoredApiKey): Promise<void>;
  getApiKeyByHash(keyHash: string): Promise<StoredApiKey | undefined>;
  listApiKeys(orgId: string): Promise<StoredApiKey[]>;
  deleteApiKey(id: string): Promise<boolean>;

  // ---- device data -------------------------------------------------------------------------------------------
  /**
   * Applies the batch in one transaction and resolves to what it left out (events whose id was taken, modifications
   * that did not apply; see `DataBatch`). On a rejection nothing of it is stored: UnknownDeviceError when the batch
   * names a device that does not exist, or the database's error.
   */
  write(batch: DataBatch): Promise<WriteOutcome>;
  /** The newest point per key (all keys when `keys` is undefined). */
  latestTelemetry(deviceId: string, keys?: string[]): Promise<TelemetryPoint[]>;
  /** Keys the device ever reported. */
  telemetryKeys(deviceId: string): Promise<string[]>;
  telemetryRange(query: TelemetryRangeQuery): Promise<Map<string, { ts: number; value: DataValue }[]>>;
  /** Computed in the database. */
  telemetryAggregate(query: TelemetryAggregateQuery): Promise<Map<string, AggregatePoint[]>>;

  /** All attributes of a scope, or only `keys`. */
  getAttributes(deviceId: string, scope: AttributeScope, keys?: string[]): Promise<Attribute[]>;

  queryEvents(query: EventQuery): Promise<DeviceEvent[]>;
  /** Deletes the events with these ids (at most 1,000 per call); resolves to how many existed. */
  deleteEvents(ids: readonly string[]): Promise<number>;

  // ---- RPC ---------------------------------------------------------------------------------------------------
  putRpc(rpc: Rpc): Promise<void>;
  getRpc(id: string): Promise<Rpc | undefined>;
  /** A device's RPCs in the given states, oldest first (the queue a reconnecting device is sent). */
  listRpcs(deviceId: string, statuses: RpcStatus[]): Promise<Rpc[]>;
  updateRpc(id: string, patch: RpcPatch): Promise<boolean>;

  // ---- dialect modules ---------------------------------------------------------------------------------------
  /**
   * Applies the module's pending migrations (recorded in `module_migrations`) and returns SQL access to the same
   * database, for tables a dialect owns. Throws when the database holds a newer version than `schema` knows.
   */
  openModule(schema: ModuleSchema): Promise<ModuleSql>;

  // ---- housekeeping ------------------------------------------------------------------------------------------
  /**
   * Deletes at most `limit` telemetry points and events of the organization older than `beforeTs` (and events past
   * their own `expiresAt`: `expiresAt < nowMs`, default `Date.now()`); returns how many were deleted, so
   * retention can run in small steps between ingestion. Latest values are kept.
   */
  deleteExpired(orgId: string, beforeTs: number, limit: number, nowMs?: number): Promise<number>;

  close(): Promise<void>;
}

export type { Role };
export type { ModuleSchema, ModuleSql, ModuleStatement, SqlParam } from './platform/module-sql.js';
