/**
 * Claiming (device-apis.md §3.7). A device is *unclaimed* while it belongs to the server organization (the oldest
 * one, created at first start: the same rule AuthService uses), which plays the part of ThingsBoard's "no customer
 * yet" with `allowClaimingByDefault` on. The device starts a claim by publishing a secret (and a duration); the secret
 * and its expiry are stored as its server attribute `claimingData` = `{"secretKey","expirationTime"}`. A user then
 * claims it by name with the same secret: the device moves into the user's organization (with that organization's
 * default profile, unplaced) and the claim data is deleted. Reclaiming moves it back to the server organization.
 * Results are ThingsBoard's: SUCCESS; FAILURE (no claim data, expired, wrong secret); CLAIMED (already owned).
 */
import type { Device, JsonValue } from '../../platform/model.js';
import type { Platform } from '../../platform/platform.js';
import { DuplicateError } from '../../storage/platform-store.js';
import { isJsonObject } from './json-telemetry.js';

export type ClaimResult = 'SUCCESS' | 'FAILURE' | 'CLAIMED';

export interface ClaimOutcome {
  result: ClaimResult;
  /** The device named, when one exists (after SUCCESS: as it is now). */
  device: Device | undefined;
  /** Why, for the HTTP message. */
  reason: string;
}

/** The server attribute holding an open claim (ThingsBoard's name). */
export const CLAIMING_DATA_KEY = 'claimingData';
/** ThingsBoard's `security.claim.duration` (1 day). */
export const DEFAULT_CLAIM_DURATION_MS = 86_400_000;

export interface ClaimServiceOptions {
  platform: Platform;
  /** The organization unclaimed devices belong to; default: the oldest organization. */
  serverOrgId?: (() => Promise<string | undefined>) | undefined;
  defaultDurationMs?: number | undefined;
  /** A device changed organization: its sessions carry the old one and must reconnect. */
  onOwnerChanged?: ((device: Device) => void) | undefined;
}

export class ClaimService {
  readonly #platform: Platform;
  readonly #serverOrgId: () => Promise<string | undefined>;
  readonly #defaultDurationMs: number;
  readonly #onOwnerChanged: (device: Device) => void;
  #cachedServerOrgId: string | undefined;

  constructor(options: ClaimServiceOptions) {
    this.#platform = options.platform;
    this.#serverOrgId = options.serverOrgId ?? (() => this.#oldestOrganization());
    this.#defaultDurationMs = options.defaultDurationMs ?? DEFAULT_CLAIM_DURATION_MS;
    this.#onOwnerChanged = options.onOwnerChanged ?? (() => undefined);
  }

  /** Whether the device is unclaimed, so a device-side claim request may be stored. */
  async isClaimable(device: Device): Promise<boolean> {
    return device.orgId === (await this.#serverOrg());
  }

  /** The `claimingData` value for a device-side request; a duration ≤ 0 or absent means the default. */
  claimingData(secretKey: string | undefined, durationMs: number | undefined, nowMs = Date.now()): JsonValue {
    const duration = durationMs !== undefined && durationMs > 0 ? durationMs : this.#defaultDurationMs;
    return { secretKey: secretKey ?? '', expirationTime: nowMs + duration };
  }

  /** A user of `callerOrgId` claims the device named `deviceName` with `secretKey`. */
  async claim(deviceName: string, secretKey: string, callerOrgId: string): Promise<ClaimOutcome> {
    const serverOrgId = await this.#serverOrg();
    const named = await this.#platform.store.findDevicesByName(deviceName);
    const device = named.find((d) => d.orgId === serverOrgId);
    if (device === undefined) {
      const owned = named[0];
      if (owned === undefined) return { result: 'FAILURE', device: undefined, reason: 'no device of that name' };
      return { result: 'CLAIMED', device: owned, reason: 'the device is already claimed' };
    }
    const [stored] = await this.#platform.store.getAttributes(device.id, 'server', [CLAIMING_DATA_KEY]);
    const data = parseClaimingData(stored?.value);
    if (data === undefined) return { result: 'FAILURE', device, reason: 'the device has not asked to be claimed' };
    if (data.expirationTime <= Date.now()) return { result: 'FAILURE', device, reason: 'the claim has expired' };
    if (data.secretKey !== secretKey) return { result: 'FAILURE', device, reason: 'wrong secret key' };
    let moved: Device;
    try {
      moved = await this.#moveTo(device, callerOrgId);
    } catch (error) {
      if (error instanceof DuplicateError) {
        return { result: 'FAILURE', device, reason: 'the organization already has a device of that name' };
      }
      throw error;
    }
    await this.#platform.committed((done) => {
      this.#platform.deleteAttributes(moved, 'server', [CLAIMING_DATA_KEY], done);
    });
    return { result: 'SUCCESS', device: moved, reason: 'claimed' };
  }

  /**
   * Gives a device of `callerOrgId` back: it returns to the server organization, unclaimed. Undefined when the
   * organization has no device of that name. Throws DuplicateError when the server organization has one already.
   */
  async reclaim(deviceName: string, callerOrgId: string): Promise<Device | undefined> {
    const device = await this.#platform.store.getDeviceByName(callerOrgId, deviceName);
    if (device === undefined) return undefined;
    const serverOrgId = await this.#serverOrg();
    if (serverOrgId === undefined || device.orgId === serverOrgId) return device;
    return this.#moveTo(device, serverOrgId);
  }

  async #moveTo(device: Device, orgId: string): Promise<Device> {
    if (device.orgId === orgId) return device;
    const moved = (await this.#platform.entities.moveDevice(device.id, orgId)) ?? { ...device, orgId };
    this.#onOwnerChanged(moved);
    return moved;
  }

  async #serverOrg(): Promise<string | undefined> {
    this.#cachedServerOrgId ??= await this.#serverOrgId();
    return this.#cachedServerOrgId;
  }

  async #oldestOrganization(): Promise<string | undefined> {
    const orgs = await this.#platform.store.listOrganizations();
    let oldest = orgs[0];
    for (const org of orgs) if (oldest === undefined || org.createdAt < oldest.createdAt) oldest = org;
    return oldest?.id;
  }
}

function parseClaimingData(value: unknown): { secretKey: string; expirationTime: number } | undefined {
  let data = value;
  if (typeof data === 'string') {
    // ThingsBoard stores it as JSON text; accept that form too.
    try {
      data = JSON.parse(data) as unknown;
    } catch {
      return undefined;
    }
  }
  if (!isJsonObject(data as JsonValue)) return undefined;
  const { secretKey, expirationTime } = data as { secretKey?: unknown; expirationTime?: unknown };
  if (typeof expirationTime !== 'number') return undefined;
  return { secretKey: typeof secretKey === 'string' ? secretKey : '', expirationTime };
}
