/**
 * A Medium One user's devices are platform devices of the user's organization, found by name and created on their
 * first event: the device id is the device's name; the empty device id (`0/<p>/<u>/`, and REST events without a
 * `device_id`) is the user's own device, named `user/<user mqttId>` (a `/` can never be in a device id, so the name
 * never collides with one). Look-ups are cached (bounded, least recently used out first) so an event costs no query;
 * entity changes drop stale entries.
 */
import type { Logger } from 'pino';
import type { EntityChange } from '../../platform/entities.js';
import type { Device } from '../../platform/model.js';
import type { Platform } from '../../platform/platform.js';
import { DuplicateError } from '../../storage/platform-store.js';
import type { MediumOneIdentity } from './auth.js';
import type { MediumOneTables } from './tables.js';

/** The platform device name of a Medium One device id of a user. */
export function deviceNameOf(userMqttId: string, deviceId: string): string {
  return deviceId.length === 0 ? `user/${userMqttId}` : deviceId;
}

export class MediumOneDevices {
  readonly #platform: Platform;
  readonly #tables: MediumOneTables;
  readonly #maxCached: number;
  readonly #logger: Logger;
  /** `<orgId>\n<name>` → the device (a promise, so concurrent first events create it once). */
  readonly #byName = new Map<string, Promise<Device>>();
  /** Device id → its cache key, to drop it when the device changes. */
  readonly #keyOf = new Map<string, string>();
  /** `<userId>\n<deviceId>` pairs already recorded in mediumone_user_devices (bounded like the cache). */
  readonly #linked = new Set<string>();

  constructor(platform: Platform, tables: MediumOneTables, maxCached: number, logger: Logger) {
    this.#platform = platform;
    this.#tables = tables;
    this.#maxCached = maxCached;
    this.#logger = logger;
  }

  /** The platform device of `deviceId` for this user, created when it does not exist; the user is linked to it. */
  async resolve(identity: MediumOneIdentity, deviceId: string): Promise<Device> {
    const device = await this.#byNameCached(identity.orgId, deviceNameOf(identity.userMqttId, deviceId));
    const link = `${identity.userId}\n${device.id}`;
    if (!this.#linked.has(link)) {
      await this.#tables.linkUserDevice(identity.userId, device.id);
      if (this.#linked.size >= this.#maxCached) this.#linked.clear();
      this.#linked.add(link);
    }
    return device;
  }

  /** Forgets a device (deleted, renamed, moved, or found missing by a write). */
  forget(deviceId: string): void {
    const key = this.#keyOf.get(deviceId);
    if (key !== undefined) this.#byName.delete(key);
    this.#keyOf.delete(deviceId);
    for (const link of this.#linked) if (link.endsWith(`\n${deviceId}`)) this.#linked.delete(link);
  }

  /** Keeps the cache true to the store: called for every entity change. */
  onEntityChange(change: EntityChange): void {
    if (change.entity === 'device' && change.op !== 'created') this.forget(change.id);
    if (change.entity === 'user' && change.op === 'deleted') {
      for (const link of this.#linked) if (link.startsWith(`${change.id}\n`)) this.#linked.delete(link);
    }
    if (change.entity === 'organization' && change.op === 'deleted') {
      for (const key of this.#byName.keys()) if (key.startsWith(`${change.id}\n`)) this.#byName.delete(key);
    }
  }

  #byNameCached(orgId: string, name: string): Promise<Device> {
    const key = `${orgId}\n${name}`;
    const cached = this.#byName.get(key);
    if (cached !== undefined) {
      // Least recently used leaves first: a hit moves the entry to the end of the Map's order.
      this.#byName.delete(key);
      this.#byName.set(key, cached);
      return cached;
    }
    const found = this.#findOrCreate(orgId, name).then(
      (device) => {
        this.#keyOf.set(device.id, key);
        return device;
      },
      (error: unknown) => {
        this.#byName.delete(key);
        throw error;
      },
    );
    this.#byName.set(key, found);
    if (this.#byName.size > this.#maxCached) {
      const oldest = this.#byName.keys().next().value;
      if (oldest !== undefined) this.#byName.delete(oldest);
    }
    return found;
  }

  async #findOrCreate(orgId: string, name: string): Promise<Device> {
    const existing = await this.#platform.store.getDeviceByName(orgId, name);
    if (existing !== undefined) return existing;
    try {
      const created = await this.#platform.entities.createDevice(orgId, { name });
      this.#logger.debug({ orgId, deviceId: created.device.id, name }, 'device created by its first event');
      return created.device;
    } catch (error) {
      // Another writer (a REST upload, another server) created it meanwhile.
      if (!(error instanceof DuplicateError)) throw error;
      const raced = await this.#platform.store.getDeviceByName(orgId, name);
      if (raced === undefined) throw error;
      return raced;
    }
  }
}
