/**
 * What the feed knows of one organization's entities, in memory so the per-change path never waits for the store:
 * zones, systems, profiles and devices, kept current by entity changes. From them it derives where a device is
 * published (its `Placement`): the zone of each tier, its system, its driver, its module name and its index.
 */
import type { Device, DeviceProfile, DeviceSystem, Organization, Zone } from '../../platform/model.js';
import type { Placement } from './topics.js';

/** Deepest zone chain followed upwards; zones nest by tier, so a longer one can only come from a corrupt parent link. */
const MAX_ZONE_DEPTH = 32;

export class OrgModel {
  organization: Organization | undefined;
  readonly zones = new Map<string, Zone>();
  readonly systems = new Map<string, DeviceSystem>();
  readonly profiles = new Map<string, DeviceProfile>();
  readonly devices = new Map<string, Device>();
  /** Device ids per system, for the index of devices that have none. */
  readonly #devicesBySystem = new Map<string, Set<string>>();

  putDevice(device: Device): void {
    this.removeDevice(device.id);
    this.devices.set(device.id, device);
    if (device.systemId !== null) {
      let members = this.#devicesBySystem.get(device.systemId);
      if (members === undefined) this.#devicesBySystem.set(device.systemId, (members = new Set()));
      members.add(device.id);
    }
  }

  removeDevice(id: string): void {
    const previous = this.devices.get(id);
    if (previous === undefined) return;
    this.devices.delete(id);
    if (previous.systemId === null) return;
    const members = this.#devicesBySystem.get(previous.systemId);
    members?.delete(id);
    if (members?.size === 0) this.#devicesBySystem.delete(previous.systemId);
  }

  /** Devices in a system. */
  devicesIn(systemId: string): Iterable<string> {
    return this.#devicesBySystem.get(systemId) ?? [];
  }

  /** The driver segment and metadata id of a profile: its PlaceOS driver id (`dep-123`), else its own id. */
  static driverIdOf(profile: DeviceProfile): string {
    return profile.driverId ?? profile.id;
  }

  /**
   * Where the device is published, or undefined when it is not: a device outside any system is not published
   * (device-apis.md §1.6), nor one whose system or profile this model does not know.
   */
  placementOf(device: Device, tiers: readonly string[]): Placement | undefined {
    if (device.systemId === null) return undefined;
    const system = this.systems.get(device.systemId);
    const profile = this.profiles.get(device.profileId);
    if (system === undefined || profile === undefined) return undefined;
    return {
      tierZoneIds: this.#tierZones(system, tiers),
      systemId: system.id,
      driverId: OrgModel.driverIdOf(profile),
      moduleName: device.name,
      index: device.index ?? this.#implicitIndex(device),
    };
  }

  /**
   * For each tier, the system's zone of that tier: among the zones the system lists and their ancestors, the first
   * found (PlaceOS logs more than one zone of a tier as an error and uses the first, device-apis.md §1.1).
   */
  #tierZones(system: DeviceSystem, tiers: readonly string[]): (string | undefined)[] {
    const byTier = new Map<string, string>();
    for (const zoneId of system.zoneIds) {
      let zone = this.zones.get(zoneId);
      for (let depth = 0; zone !== undefined && depth < MAX_ZONE_DEPTH; depth++) {
        if (!byTier.has(zone.kind)) byTier.set(zone.kind, zone.id);
        zone = zone.parentId === null ? undefined : this.zones.get(zone.parentId);
      }
    }
    return tiers.map((tier) => byTier.get(tier));
  }

  /** PlaceOS's index without one set: 1-based position among the system's devices of the same name, oldest first. */
  #implicitIndex(device: Device): number {
    let index = 1;
    for (const id of this.devicesIn(device.systemId!)) {
      const other = this.devices.get(id);
      if (other === undefined || other.id === device.id || other.name !== device.name) continue;
      if (other.createdAt < device.createdAt || (other.createdAt === device.createdAt && other.id < device.id)) index++;
    }
    return index;
  }
}
