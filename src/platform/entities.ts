/**
 * Entity management: organizations, zones, systems, device profiles, devices with credentials, users and API keys.
 * Ids, timestamps, defaults (every organization has a `default` profile) and generated credentials are decided here,
 * so the HTTP API, the CLI and the dialects (gateway auto-creation, provisioning) create entities the same way.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { DeviceWithCredentials, PlatformStore } from '../storage/platform-store.js';
import { DuplicateError } from '../storage/platform-store.js';
import type { Device, DeviceCredentials, DeviceProfile, Organization } from './model.js';

export interface EntityServiceOptions {
  zoneHierarchy: readonly string[];
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

  constructor(store: PlatformStore, options: EntityServiceOptions) {
    this.store = store;
    this.zoneHierarchy = options.zoneHierarchy;
  }

  async createOrganization(input: { name: string; retentionDays?: number | null }): Promise<Organization> {
    const org: Organization = {
      id: randomUUID(),
      name: input.name,
      retentionDays: input.retentionDays ?? null,
      createdAt: Date.now(),
    };
    await this.store.createOrganization(org);
    await this.createProfile(org.id, { name: 'default', isDefault: true });
    return org;
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
      createdAt: Date.now(),
    };
    await this.store.createProfile(profile);
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
    return { device, credentials };
  }
}
