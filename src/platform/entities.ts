/**
 * Entity management: organizations, zones, systems, device profiles, devices with credentials, users and API keys.
 * Ids, timestamps, defaults (every organization has a `default` profile) and generated credentials are decided here,
 * so the HTTP API, the CLI and the dialects (gateway auto-creation, provisioning) create entities the same way.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { DeviceWithCredentials, PlatformStore } from '../storage/platform-store.js';
import { DuplicateError } from '../storage/platform-store.js';
import type {
  ApiKey,
  Device,
  DeviceCredentials,
  DeviceProfile,
  DeviceSystem,
  Organization,
  Role,
  User,
  Zone,
} from './model.js';

export interface EntityServiceOptions {
  zoneHierarchy: readonly string[];
}

/** What an entity change carries, by entity. */
interface EntityTypes {
  organization: Organization;
  zone: Zone;
  system: DeviceSystem;
  profile: DeviceProfile;
  device: Device;
  user: User;
  apiKey: ApiKey;
}

/**
 * One entity created, updated or deleted, emitted after the store write succeeded. A device moved to another
 * organization (claiming) is an 'updated' whose `before` and `after` name different organizations; `orgId` is the
 * new one.
 */
export type EntityChange = {
  [K in keyof EntityTypes]: {
    entity: K;
    op: 'created' | 'updated' | 'deleted';
    orgId: string;
    id: string;
    before: EntityTypes[K] | undefined;
    after: EntityTypes[K] | undefined;
  };
}[keyof EntityTypes];

export type EntityChangeListener = (change: EntityChange) => void;

/** Listeners of entity changes (the PlaceOS feed's metadata and topic moves, dialect caches). */
export class EntityChanges {
  readonly #listeners = new Set<EntityChangeListener>();

  /** Returns the unsubscribe function. */
  subscribe(listener: EntityChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Calls every listener; one that throws is skipped so the write that happened is still reported to the rest. */
  emit(change: EntityChange): void {
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch {
        // A listener's bug must not turn a successful write into a failed request.
      }
    }
  }
}

/**
 * An MQTT id (organization: Medium One project; user: Medium One user): one topic level, so no `/`, `+`, `#`, no
 * control characters, not the reserved `_all`, at most 64 characters (device-apis.md §4.1).
 */
export function checkMqttId(mqttId: string): void {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (mqttId.length === 0 || mqttId.length > 64 || /[/+#\u0000-\u001f\u007f]/.test(mqttId) || mqttId === '_all') {
    throw new InvalidEntityError('mqttId must be 1 to 64 characters without /, +, #, control characters, and not _all');
  }
}

/** A generated MQTT id: 12 alphanumeric characters. */
function generateMqttId(): string {
  return randomAlphanumeric(12);
}

export interface NewDeviceInput {
  name: string;
  /** Profile id, or name within the organization; default: the organization's default profile. */
  profileId?: string | undefined;
  profileName?: string | undefined;
  /** With `profileName`: create the profile when the organization has none of that name (gateway auto-creation). */
  createProfileIfMissing?: boolean | undefined;
  zoneId?: string | null | undefined;
  systemId?: string | null | undefined;
  index?: number | null | undefined;
  isGateway?: boolean | undefined;
  gatewayId?: string | null | undefined;
  /** Default: a generated access token. */
  credentials?: DeviceCredentials | undefined;
}

/** An entity named in a request does not exist (or is in another organization). */
export class NotFoundError extends Error {
  readonly code = 'NOT_FOUND';
  constructor(what: string) {
    super(`${what} not found`);
    this.name = 'NotFoundError';
  }
}

/** A request names a value the model does not allow (a zone kind outside the hierarchy, a zone as its own parent...). */
export class InvalidEntityError extends Error {
  readonly code = 'INVALID_ENTITY';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidEntityError';
  }
}

/** The entity cannot be deleted or changed that way while others depend on it (a profile devices use...). */
export class InUseError extends Error {
  readonly code = 'IN_USE';
  constructor(message: string) {
    super(message);
    this.name = 'InUseError';
  }
}

export interface NewZoneInput {
  name: string;
  kind: string;
  parentId?: string | null | undefined;
}

export interface NewSystemInput {
  name: string;
  zoneIds?: string[] | undefined;
}

export type ProfileInput = Partial<Omit<DeviceProfile, 'id' | 'orgId' | 'createdAt'>>;

export interface DeviceUpdateInput {
  name?: string | undefined;
  profileId?: string | undefined;
  profileName?: string | undefined;
  zoneId?: string | null | undefined;
  systemId?: string | null | undefined;
  index?: number | null | undefined;
  isGateway?: boolean | undefined;
}

/** Devices are scanned in pages of this size when a delete must know whether any device still refers to an entity. */
const DEVICE_SCAN_PAGE = 1000;

const TOKEN_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A random alphanumeric string (access tokens are 20 characters, as ThingsBoard generates them). */
export function randomAlphanumeric(length: number): string {
  const bytes = randomBytes(length * 2);
  let out = '';
  // Rejection sampling keeps the alphabet uniform (256 is not a multiple of 62).
  for (let i = 0; i < bytes.length && out.length < length; i++) {
    const byte = bytes[i]!;
    if (byte < 248) out += TOKEN_ALPHABET.charAt(byte % 62);
  }
  return out.length === length ? out : out + randomAlphanumeric(length - out.length);
}

export class EntityService {
  readonly store: PlatformStore;
  readonly zoneHierarchy: readonly string[];
  /** Every successful create, update and delete made through this service. */
  readonly changes = new EntityChanges();

  constructor(store: PlatformStore, options: EntityServiceOptions) {
    this.store = store;
    this.zoneHierarchy = options.zoneHierarchy;
  }

  /** Throws DuplicateError('organization mqttId') for a taken `mqttId`, InvalidEntityError for a malformed one. */
  async createOrganization(input: {
    name: string;
    retentionDays?: number | null;
    mqttId?: string | undefined;
  }): Promise<Organization> {
    if (input.mqttId !== undefined) checkMqttId(input.mqttId);
    const org: Organization = {
      id: randomUUID(),
      name: input.name,
      retentionDays: input.retentionDays ?? null,
      mqttId: input.mqttId ?? generateMqttId(),
      createdAt: Date.now(),
    };
    await this.store.createOrganization(org);
    this.changes.emit({
      entity: 'organization',
      op: 'created',
      orgId: org.id,
      id: org.id,
      before: undefined,
      after: org,
    });
    await this.createProfile(org.id, { name: 'default', isDefault: true });
    return org;
  }

  async getOrganization(id: string): Promise<Organization | undefined> {
    return this.store.getOrganization(id);
  }

  async createProfile(
    orgId: string,
    input: Partial<Omit<DeviceProfile, 'id' | 'orgId' | 'createdAt'>> & { name: string },
  ): Promise<DeviceProfile> {
    const profile: DeviceProfile = {
      id: randomUUID(),
      orgId,
      name: input.name,
      payloadType: input.payloadType ?? 'JSON',
      protoSchemas: input.protoSchemas ?? {},
      provisioning: input.provisioning ?? null,
      sendAckOnValidationFailure: input.sendAckOnValidationFailure ?? false,
      isDefault: input.isDefault ?? false,
      driverId: input.driverId ?? null,
      createdAt: Date.now(),
    };
    await this.store.createProfile(profile);
    this.changes.emit({ entity: 'profile', op: 'created', orgId, id: profile.id, before: undefined, after: profile });
    return profile;
  }

  /** The organization's default profile (created with the organization). */
  async defaultProfile(orgId: string): Promise<DeviceProfile> {
    const profiles = await this.store.listProfiles(orgId);
    const found = profiles.find((p) => p.isDefault) ?? profiles.find((p) => p.name === 'default');
    if (found !== undefined) return found;
    return this.createProfile(orgId, { name: 'default', isDefault: true });
  }

  async #resolveProfile(orgId: string, input: NewDeviceInput): Promise<DeviceProfile> {
    if (input.profileId !== undefined) {
      const profile = await this.store.getProfile(input.profileId);
      if (profile?.orgId !== orgId) throw new NotFoundError('profile');
      return profile;
    }
    if (input.profileName !== undefined) {
      const profile = await this.store.getProfileByName(orgId, input.profileName);
      if (profile !== undefined) return profile;
      if (input.createProfileIfMissing !== true) throw new NotFoundError('profile');
      try {
        return await this.createProfile(orgId, { name: input.profileName });
      } catch (error) {
        // Two gateways announcing the same new type at once: the other one created it.
        const raced = await this.store.getProfileByName(orgId, input.profileName);
        if (error instanceof DuplicateError && raced !== undefined) return raced;
        throw error;
      }
    }
    return this.defaultProfile(orgId);
  }

  /** Creates a device; throws DuplicateError for a taken name or credentials, NotFoundError for a bad profile. */
  async createDevice(orgId: string, input: NewDeviceInput): Promise<DeviceWithCredentials> {
    const profile = await this.#resolveProfile(orgId, input);
    await this.#checkPlacement(orgId, input.zoneId, input.systemId);
    if (input.credentials !== undefined) checkCredentials(input.credentials);
    const device: Device = {
      id: randomUUID(),
      orgId,
      name: input.name,
      profileId: profile.id,
      zoneId: input.zoneId ?? null,
      systemId: input.systemId ?? null,
      index: input.index ?? null,
      isGateway: input.isGateway ?? false,
      gatewayId: input.gatewayId ?? null,
      createdAt: Date.now(),
    };
    const credentials: DeviceCredentials = input.credentials ?? {
      type: 'ACCESS_TOKEN',
      accessToken: randomAlphanumeric(20),
    };
    await this.store.createDevice({ ...device, credentials });
    this.changes.emit({ entity: 'device', op: 'created', orgId, id: device.id, before: undefined, after: device });
    return { device, credentials };
  }

  // ---- organizations ---------------------------------------------------------------------------------------

  async updateOrganization(
    id: string,
    patch: { name?: string | undefined; retentionDays?: number | null | undefined; mqttId?: string | undefined },
  ): Promise<boolean> {
    if (patch.mqttId !== undefined) checkMqttId(patch.mqttId);
    const before = await this.store.getOrganization(id);
    if (before === undefined) return false;
    if (!(await this.store.updateOrganization(id, definedOnly(patch)))) return false;
    const after: Organization = { ...before, ...definedOnly(patch) };
    this.changes.emit({ entity: 'organization', op: 'updated', orgId: id, id, before, after });
    return true;
  }

  /** Deletes the organization and everything in it; one 'deleted' change is emitted, for the organization. */
  async deleteOrganization(id: string): Promise<boolean> {
    const before = await this.store.getOrganization(id);
    if (before === undefined || !(await this.store.deleteOrganization(id))) return false;
    this.changes.emit({ entity: 'organization', op: 'deleted', orgId: id, id, before, after: undefined });
    return true;
  }

  // ---- zones ---------------------------------------------------------------------------------------------------
  // Every `get…(orgId, id)` answers undefined for an entity of another organization, so callers cannot tell it
  // from one that does not exist.

  async getZone(orgId: string, id: string): Promise<Zone | undefined> {
    const zone = await this.store.getZone(id);
    return zone?.orgId === orgId ? zone : undefined;
  }

  /** Creates a zone; its kind must be a level of the hierarchy, below its parent's. */
  async createZone(orgId: string, input: NewZoneInput): Promise<Zone> {
    const zone: Zone = {
      id: randomUUID(),
      orgId,
      name: input.name,
      kind: input.kind,
      parentId: input.parentId ?? null,
      createdAt: Date.now(),
    };
    await this.#checkZone(zone);
    await this.store.createZone(zone);
    this.changes.emit({ entity: 'zone', op: 'created', orgId, id: zone.id, before: undefined, after: zone });
    return zone;
  }

  async updateZone(orgId: string, id: string, patch: Partial<NewZoneInput>): Promise<Zone | undefined> {
    const zone = await this.getZone(orgId, id);
    if (zone === undefined) return undefined;
    const next: Zone = {
      ...zone,
      name: patch.name ?? zone.name,
      kind: patch.kind ?? zone.kind,
      parentId: patch.parentId === undefined ? zone.parentId : patch.parentId,
    };
    await this.#checkZone(next);
    await this.store.updateZone(id, { name: next.name, kind: next.kind, parentId: next.parentId });
    this.changes.emit({ entity: 'zone', op: 'updated', orgId, id, before: zone, after: next });
    return next;
  }

  /** Refuses (InUseError) while zones, systems or devices are placed in the zone. */
  async deleteZone(orgId: string, id: string): Promise<boolean> {
    const zone = await this.getZone(orgId, id);
    if (zone === undefined) return false;
    if ((await this.store.listZones(orgId)).some((z) => z.parentId === id)) throw new InUseError('the zone has zones');
    if ((await this.store.listSystems(orgId)).some((s) => s.zoneIds.includes(id)))
      throw new InUseError('the zone has systems');
    if (await this.#anyDevice(orgId, (d) => d.zoneId === id)) throw new InUseError('devices are placed in the zone');
    if (!(await this.store.deleteZone(id))) return false;
    this.changes.emit({ entity: 'zone', op: 'deleted', orgId, id, before: zone, after: undefined });
    return true;
  }

  async #checkZone(zone: Zone): Promise<void> {
    const level = this.zoneHierarchy.indexOf(zone.kind);
    if (level < 0) {
      throw new InvalidEntityError(`zone kind must be one of ${this.zoneHierarchy.join(', ')}`);
    }
    if (zone.parentId === null) return;
    const parent = await this.getZone(zone.orgId, zone.parentId);
    if (parent === undefined) throw new NotFoundError('parent zone');
    if (this.zoneHierarchy.indexOf(parent.kind) >= level) {
      throw new InvalidEntityError(`a ${zone.kind} cannot be inside a ${parent.kind}`);
    }
    // Kinds strictly descend along the chain, so no cycle can form: a zone can never be its own ancestor.
  }

  // ---- systems -----------------------------------------------------------------------------------------------

  async getSystem(orgId: string, id: string): Promise<DeviceSystem | undefined> {
    const system = await this.store.getSystem(id);
    return system?.orgId === orgId ? system : undefined;
  }

  async createSystem(orgId: string, input: NewSystemInput): Promise<DeviceSystem> {
    const system: DeviceSystem = {
      id: randomUUID(),
      orgId,
      name: input.name,
      zoneIds: [...new Set(input.zoneIds ?? [])],
      createdAt: Date.now(),
    };
    await this.#checkZones(orgId, system.zoneIds);
    await this.store.createSystem(system);
    this.changes.emit({ entity: 'system', op: 'created', orgId, id: system.id, before: undefined, after: system });
    return system;
  }

  async updateSystem(orgId: string, id: string, patch: Partial<NewSystemInput>): Promise<DeviceSystem | undefined> {
    const system = await this.getSystem(orgId, id);
    if (system === undefined) return undefined;
    const next: DeviceSystem = {
      ...system,
      name: patch.name ?? system.name,
      zoneIds: patch.zoneIds === undefined ? system.zoneIds : [...new Set(patch.zoneIds)],
    };
    await this.#checkZones(orgId, next.zoneIds);
    await this.store.updateSystem(id, { name: next.name, zoneIds: next.zoneIds });
    this.changes.emit({ entity: 'system', op: 'updated', orgId, id, before: system, after: next });
    return next;
  }

  /** Refuses (InUseError) while devices are in the system. */
  async deleteSystem(orgId: string, id: string): Promise<boolean> {
    const system = await this.getSystem(orgId, id);
    if (system === undefined) return false;
    if (await this.#anyDevice(orgId, (d) => d.systemId === id)) throw new InUseError('devices are in the system');
    if (!(await this.store.deleteSystem(id))) return false;
    this.changes.emit({ entity: 'system', op: 'deleted', orgId, id, before: system, after: undefined });
    return true;
  }

  async #checkZones(orgId: string, zoneIds: readonly string[]): Promise<void> {
    for (const zoneId of zoneIds) {
      if ((await this.getZone(orgId, zoneId)) === undefined) throw new NotFoundError(`zone ${zoneId}`);
    }
  }

  // ---- profiles ----------------------------------------------------------------------------------------------

  async getProfile(orgId: string, id: string): Promise<DeviceProfile | undefined> {
    const profile = await this.store.getProfile(id);
    return profile?.orgId === orgId ? profile : undefined;
  }

  /** Creates a profile; one made default takes that role from the previous default. */
  async createProfileChecked(orgId: string, input: ProfileInput & { name: string }): Promise<DeviceProfile> {
    const previous = input.isDefault === true ? await this.defaultProfile(orgId) : undefined;
    const profile = await this.createProfile(orgId, input);
    if (previous !== undefined) await this.store.updateProfile(previous.id, { isDefault: false });
    return profile;
  }

  async updateProfile(orgId: string, id: string, patch: ProfileInput): Promise<DeviceProfile | undefined> {
    const profile = await this.getProfile(orgId, id);
    if (profile === undefined) return undefined;
    if (patch.isDefault === false && profile.isDefault) {
      throw new InvalidEntityError('make another profile the default instead');
    }
    const changes = definedOnly(patch);
    if (patch.isDefault === true && !profile.isDefault) {
      const previous = await this.defaultProfile(orgId);
      await this.store.updateProfile(id, changes);
      if (previous.id !== id) await this.store.updateProfile(previous.id, { isDefault: false });
    } else {
      await this.store.updateProfile(id, changes);
    }
    const next: DeviceProfile = { ...profile, ...changes };
    this.changes.emit({ entity: 'profile', op: 'updated', orgId, id, before: profile, after: next });
    return next;
  }

  /** Refuses (InUseError) the default profile and a profile devices use. */
  async deleteProfile(orgId: string, id: string): Promise<boolean> {
    const profile = await this.getProfile(orgId, id);
    if (profile === undefined) return false;
    if (profile.isDefault) throw new InUseError('the default profile cannot be deleted');
    if (await this.#anyDevice(orgId, (d) => d.profileId === id)) throw new InUseError('devices use the profile');
    if (!(await this.store.deleteProfile(id))) return false;
    this.changes.emit({ entity: 'profile', op: 'deleted', orgId, id, before: profile, after: undefined });
    return true;
  }

  // ---- devices -----------------------------------------------------------------------------------------------

  async getDevice(orgId: string, id: string): Promise<Device | undefined> {
    const device = await this.store.getDevice(id);
    return device?.orgId === orgId ? device : undefined;
  }

  /** Renames, re-profiles or places a device; throws DuplicateError for a taken name. */
  async updateDevice(orgId: string, id: string, input: DeviceUpdateInput): Promise<Device | undefined> {
    const device = await this.getDevice(orgId, id);
    if (device === undefined) return undefined;
    const profileId =
      input.profileId === undefined && input.profileName === undefined
        ? device.profileId
        : (await this.#resolveProfile(orgId, { name: device.name, ...definedOnly(input) })).id;
    const next: Device = {
      ...device,
      name: input.name ?? device.name,
      profileId,
      zoneId: input.zoneId === undefined ? device.zoneId : input.zoneId,
      systemId: input.systemId === undefined ? device.systemId : input.systemId,
      index: input.index === undefined ? device.index : input.index,
      isGateway: input.isGateway ?? device.isGateway,
    };
    await this.#checkPlacement(orgId, next.zoneId, next.systemId);
    await this.store.updateDevice(id, {
      name: next.name,
      profileId: next.profileId,
      zoneId: next.zoneId,
      systemId: next.systemId,
      index: next.index,
      isGateway: next.isGateway,
    });
    this.changes.emit({ entity: 'device', op: 'updated', orgId, id, before: device, after: next });
    return next;
  }

  /**
   * Moves a device into another organization (claiming and reclaiming): its zone and system belong to the old one, so
   * it arrives unplaced. Answers the moved device, or undefined when it no longer exists.
   */
  async moveDevice(id: string, orgId: string): Promise<Device | undefined> {
    const device = await this.store.getDevice(id);
    if (device === undefined) return undefined;
    // Profiles belong to an organization too: the device takes its new organization's default profile.
    const profile = await this.defaultProfile(orgId);
    const patch = { orgId, profileId: profile.id, zoneId: null, systemId: null, index: null };
    if (!(await this.store.updateDevice(id, patch))) return undefined;
    const next: Device = { ...device, ...patch };
    this.changes.emit({ entity: 'device', op: 'updated', orgId, id, before: device, after: next });
    return next;
  }

  async deleteDevice(orgId: string, id: string): Promise<boolean> {
    const device = await this.getDevice(orgId, id);
    if (device === undefined) return false;
    if (!(await this.store.deleteDevice(id))) return false;
    this.changes.emit({ entity: 'device', op: 'deleted', orgId, id, before: device, after: undefined });
    return true;
  }

  async getCredentials(orgId: string, deviceId: string): Promise<DeviceCredentials | undefined> {
    if ((await this.getDevice(orgId, deviceId)) === undefined) return undefined;
    return this.store.getCredentials(deviceId);
  }

  /** Replaces a device's credentials; throws DuplicateError when another device has them. */
  async setCredentials(orgId: string, deviceId: string, credentials: DeviceCredentials): Promise<boolean> {
    if ((await this.getDevice(orgId, deviceId)) === undefined) return false;
    checkCredentials(credentials);
    await this.store.setCredentials(deviceId, credentials);
    return true;
  }

  async #checkPlacement(
    orgId: string,
    zoneId: string | null | undefined,
    systemId: string | null | undefined,
  ): Promise<void> {
    if (zoneId != null && (await this.getZone(orgId, zoneId)) === undefined) throw new NotFoundError('zone');
    if (systemId != null && (await this.getSystem(orgId, systemId)) === undefined) throw new NotFoundError('system');
  }

  async #anyDevice(orgId: string, predicate: (device: Device) => boolean): Promise<boolean> {
    for (let offset = 0; ; offset += DEVICE_SCAN_PAGE) {
      const page = await this.store.listDevices(orgId, { limit: DEVICE_SCAN_PAGE, offset });
      if (page.some(predicate)) return true;
      if (page.length < DEVICE_SCAN_PAGE) return false;
    }
  }

  // ---- users and API keys ------------------------------------------------------------------------------------
  // Hashing happens in src/auth; these store what it produced.

  /**
   * Throws DuplicateError('username' | 'email' | 'user mqttId'): all three are unique across the server. The e-mail is
   * stored lower-cased (logins compare it so).
   */
  async createUser(
    orgId: string,
    input: {
      username: string;
      passwordHash: string;
      role: Role;
      email?: string | null | undefined;
      mqttId?: string | undefined;
    },
  ): Promise<User> {
    if (input.mqttId !== undefined) checkMqttId(input.mqttId);
    const user: User = {
      id: randomUUID(),
      orgId,
      username: input.username,
      email: normalizeEmail(input.email),
      mqttId: input.mqttId ?? generateMqttId(),
      role: input.role,
      createdAt: Date.now(),
    };
    await this.store.createUser({ ...user, passwordHash: input.passwordHash });
    this.changes.emit({ entity: 'user', op: 'created', orgId, id: user.id, before: undefined, after: user });
    return user;
  }

  async getUser(orgId: string, id: string): Promise<User | undefined> {
    const stored = await this.store.getUser(id);
    return stored?.orgId === orgId ? publicUser(stored) : undefined;
  }

  async listUsers(orgId: string): Promise<User[]> {
    return (await this.store.listUsers(orgId)).map(publicUser);
  }

  async updateUser(
    orgId: string,
    id: string,
    patch: {
      role?: Role | undefined;
      passwordHash?: string | undefined;
      email?: string | null | undefined;
      mqttId?: string | undefined;
    },
  ): Promise<User | undefined> {
    const user = await this.getUser(orgId, id);
    if (user === undefined) return undefined;
    if (patch.mqttId !== undefined) checkMqttId(patch.mqttId);
    const changes = definedOnly({
      role: patch.role,
      passwordHash: patch.passwordHash,
      mqttId: patch.mqttId,
      email: patch.email === undefined ? undefined : normalizeEmail(patch.email),
    });
    await this.store.updateUser(id, changes);
    const next: User = {
      ...user,
      role: changes.role ?? user.role,
      mqttId: changes.mqttId ?? user.mqttId,
      email: changes.email === undefined ? user.email : changes.email,
    };
    this.changes.emit({ entity: 'user', op: 'updated', orgId, id, before: user, after: next });
    return next;
  }

  async deleteUser(orgId: string, id: string): Promise<boolean> {
    const user = await this.getUser(orgId, id);
    if (user === undefined || !(await this.store.deleteUser(id))) return false;
    this.changes.emit({ entity: 'user', op: 'deleted', orgId, id, before: user, after: undefined });
    return true;
  }

  async createApiKey(
    orgId: string,
    input: { name: string; role: Role; prefix: string; keyHash: string },
  ): Promise<ApiKey> {
    const key: ApiKey = {
      id: randomUUID(),
      orgId,
      name: input.name,
      role: input.role,
      prefix: input.prefix,
      createdAt: Date.now(),
    };
    await this.store.createApiKey({ ...key, keyHash: input.keyHash });
    this.changes.emit({ entity: 'apiKey', op: 'created', orgId, id: key.id, before: undefined, after: key });
    return key;
  }

  async listApiKeys(orgId: string): Promise<ApiKey[]> {
    return (await this.store.listApiKeys(orgId)).map(publicApiKey);
  }

  async getApiKey(orgId: string, id: string): Promise<ApiKey | undefined> {
    return (await this.listApiKeys(orgId)).find((k) => k.id === id);
  }

  async deleteApiKey(orgId: string, id: string): Promise<boolean> {
    const key = await this.getApiKey(orgId, id);
    if (key === undefined || !(await this.store.deleteApiKey(id))) return false;
    this.changes.emit({ entity: 'apiKey', op: 'deleted', orgId, id, before: key, after: undefined });
    return true;
  }
}

/** Checks credentials a caller chose: the forms ThingsBoard accepts (device-apis.md §3.1). */
export function checkCredentials(credentials: DeviceCredentials): void {
  switch (credentials.type) {
    case 'ACCESS_TOKEN':
      if (credentials.accessToken.length === 0) throw new InvalidEntityError('the access token is empty');
      return;
    case 'MQTT_BASIC':
      if (!credentials.clientId && !credentials.username) {
        throw new InvalidEntityError('MQTT basic credentials need a client id, a username or both');
      }
      if (credentials.password && !credentials.username) {
        throw new InvalidEntityError('a password needs a username');
      }
      return;
    case 'X509_CERTIFICATE':
      if (!/^[0-9a-f]{64}$/.test(credentials.certificateHash)) {
        throw new InvalidEntityError('certificateHash must be the SHA-256 of the DER certificate, 64 hex digits');
      }
      return;
  }
}

/** A user as it leaves the store: without the password hash. */
export function publicUser(stored: User): User {
  return {
    id: stored.id,
    orgId: stored.orgId,
    username: stored.username,
    email: stored.email,
    mqttId: stored.mqttId,
    role: stored.role,
    createdAt: stored.createdAt,
  };
}

/** E-mail addresses compare case-insensitively (logins), so they are stored lower-cased; empty = none. */
export function normalizeEmail(email: string | null | undefined): string | null {
  if (email === undefined || email === null) return null;
  const trimmed = email.trim().toLowerCase();
  if (trimmed.length === 0) return null;
  if (trimmed.length > 254 || !/^[^\s@]+@[^\s@]+$/.test(trimmed)) {
    throw new InvalidEntityError('email must look like name@domain');
  }
  return trimmed;
}

function publicApiKey(stored: ApiKey): ApiKey {
  const { id, orgId, name, role, prefix, createdAt } = stored;
  return { id, orgId, name, role, prefix, createdAt };
}

/** The patch without its undefined members, for store patches under exactOptionalPropertyTypes. */
function definedOnly<T extends object>(patch: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(patch)) if (value !== undefined) out[key] = value;
  return out as { [K in keyof T]?: Exclude<T[K], undefined> };
}
