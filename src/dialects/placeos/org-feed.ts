/**
 * One organization's feed while it is on: its entity model, the topic prefix of every device (cached, recomputed on
 * entity changes), the current entry of every live state key and of every metadata topic. It turns state changes
 * and entity changes into feed entries in order, removals first when devices move (device-apis.md §1.6).
 *
 * Memory: one `FeedEntry` per live key (its topic string, about 100 bytes, and the serialized value) plus one per
 * metadata topic, and one small record per device; nothing else grows with traffic.
 */
import type { Device, StateChange } from '../../platform/model.js';
import type { FeedEntry, FeedSettings } from './feed-types.js';
import { topicTiers } from './feed-settings.js';
import { driverMetadata, organizationMetadata, systemMetadata, zoneMetadata, type MetadataValue } from './metadata.js';
import { OrgModel } from './org-model.js';
import { metadataTopic, statePrefix, topicSegment } from './topics.js';

/** A device as the feed tracks it. */
interface DeviceFeed {
  /** Topic prefix up to the key; undefined while the device is not published (no system). */
  prefix: string | undefined;
  /** Current entry per status key. */
  entries: Map<string, FeedEntry>;
  /** While its stored state is being read: keys removed meanwhile, so the read cannot bring them back. */
  removedWhileSeeding: Map<string, number> | undefined;
}

export type EntryListener = (entry: FeedEntry) => void;

/** A stored value read when a device starts being published. */
export interface SeedValue {
  key: string;
  ts: number;
  valueJson: string;
}

export class OrgFeed {
  readonly orgId: string;
  readonly model: OrgModel;
  #settings: FeedSettings;
  #tiers: readonly string[];
  readonly #emit: EntryListener;
  readonly #devices = new Map<string, DeviceFeed>();
  /** Metadata entries by metadata id. */
  readonly #metadata = new Map<string, FeedEntry>();

  constructor(orgId: string, model: OrgModel, settings: FeedSettings, emit: EntryListener) {
    this.orgId = orgId;
    this.model = model;
    this.#settings = settings;
    this.#tiers = topicTiers(settings.hierarchy);
    this.#emit = emit;
    for (const device of model.devices.values()) this.#devices.set(device.id, this.#newDeviceFeed(device));
  }

  get settings(): FeedSettings {
    return this.#settings;
  }

  /** Publishes the metadata of every entity (turning the feed on). */
  publishAllMetadata(): void {
    const nowMs = Date.now();
    if (this.model.organization !== undefined) this.#putMetadata(organizationMetadata(this.model.organization), nowMs);
    for (const zone of this.model.zones.values()) this.#putMetadata(zoneMetadata(zone), nowMs);
    for (const system of this.model.systems.values()) this.#putMetadata(systemMetadata(system), nowMs);
    for (const profile of this.model.profiles.values()) this.#putMetadata(driverMetadata(profile), nowMs);
  }

  /** Ids of the devices published now, for reading their stored state. */
  placedDeviceIds(): string[] {
    const ids: string[] = [];
    for (const [id, device] of this.#devices) if (device.prefix !== undefined) ids.push(id);
    return ids;
  }

  /** New settings on a running feed: topics move if the hierarchy changed; every current entry is sent again. */
  updateSettings(settings: FeedSettings): void {
    const hierarchyChanged = settings.hierarchy.join(' ') !== this.#settings.hierarchy.join(' ');
    this.#settings = settings;
    this.#tiers = topicTiers(settings.hierarchy);
    if (hierarchyChanged) this.relocate(this.model.devices.keys());
    // Format and filters may have changed: targets re-send what they retain.
    for (const entry of this.current()) this.#emit(entry);
  }

  // ---- state changes (the per-change path: no store, no closures) --------------------------------------------

  onStateChange(change: StateChange): void {
    const device = this.#devices.get(change.deviceId);
    const prefix = device?.prefix;
    if (prefix === undefined) return;
    switch (change.kind) {
      case 'telemetry':
        this.#put(device!, prefix, change.key, change.ts, JSON.stringify(change.value));
        return;
      case 'attribute': {
        const valueJson = change.value === undefined ? null : JSON.stringify(change.value);
        this.#put(device!, prefix, change.key, change.ts, valueJson);
        return;
      }
      case 'event':
        this.#putLeaves(device!, prefix, change.event.stream, change.event.data, change.event.at);
        return;
    }
  }

  /** Stored state of a device that starts being published; live changes since then win (newer or equal time). */
  beginSeeding(deviceId: string): boolean {
    const device = this.#devices.get(deviceId);
    if (device?.prefix === undefined) return false;
    device.removedWhileSeeding = new Map();
    return true;
  }

  seed(deviceId: string, values: readonly SeedValue[]): void {
    const device = this.#devices.get(deviceId);
    if (device === undefined) return;
    const removed = device.removedWhileSeeding;
    device.removedWhileSeeding = undefined;
    const prefix = device.prefix;
    if (prefix === undefined) return;
    for (const value of values) {
      const removedAt = removed?.get(value.key);
      if (removedAt !== undefined && removedAt >= value.ts) continue;
      if (!device.entries.has(value.key)) this.#put(device, prefix, value.key, value.ts, value.valueJson);
    }
  }

  /** Every current entry: metadata, then state. */
  *current(): Generator<FeedEntry> {
    yield* this.#metadata.values();
    for (const device of this.#devices.values()) yield* device.entries.values();
  }

  /** Removal entries for every current topic (the organization is deleted). */
  removeAll(): void {
    const nowMs = Date.now();
    for (const device of this.#devices.values()) this.#removeEntries(device);
    for (const id of [...this.#metadata.keys()]) this.#removeMetadata(id, nowMs);
  }

  #put(device: DeviceFeed, prefix: string, key: string, ts: number, valueJson: string | null): void {
    const existing = device.entries.get(key);
    // The retained value is the newest one: a late point (a gateway's backlog) does not replace it.
    if (existing !== undefined && existing.timeMs > ts) return;
    if (valueJson === null) {
      device.removedWhileSeeding?.set(key, ts);
      if (existing === undefined) return;
      device.entries.delete(key);
    }
    const entry: FeedEntry = {
      orgId: this.orgId,
      kind: 'state',
      topic: existing?.topic ?? prefix + topicSegment(key),
      timeMs: ts,
      valueJson,
    };
    if (valueJson !== null) device.entries.set(key, entry);
    this.#emit(entry);
  }

  /** An event's leaves are status keys (dot-joined paths); an event whose data is not an object is one key, its stream. */
  #putLeaves(device: DeviceFeed, prefix: string, path: string, data: unknown, ts: number, depth = 0): void {
    if (data === null || typeof data !== 'object' || Array.isArray(data) || depth > 16) {
      this.#put(device, prefix, path, ts, JSON.stringify(data));
      return;
    }
    const isTop = depth === 0;
    for (const [key, value] of Object.entries(data)) {
      this.#putLeaves(device, prefix, isTop ? key : `${path}.${key}`, value, ts, depth + 1);
    }
  }

  // ---- entity changes -----------------------------------------------------------------------------------------

  /**
   * Recomputes where devices are published. Those that moved first lose their old topics (every removal before any
   * new topic, so a swap of two devices cannot erase a new value), then appear under the new ones. Returns the ids of
   * devices that started being published and need their stored state.
   */
  relocate(deviceIds: Iterable<string>): string[] {
    const moved: { id: string; device: DeviceFeed; prefix: string | undefined }[] = [];
    for (const id of deviceIds) {
      const model = this.model.devices.get(id);
      let device = this.#devices.get(id);
      const prefix = model === undefined ? undefined : this.#prefixOf(model);
      if (device === undefined) {
        if (model === undefined) continue;
        this.#devices.set(id, (device = { prefix: undefined, entries: new Map(), removedWhileSeeding: undefined }));
      }
      if (device.prefix !== prefix) moved.push({ id, device, prefix });
      if (model === undefined) this.#devices.delete(id);
    }
    for (const { device } of moved) this.#removeEntries(device, false);
    const joined: string[] = [];
    for (const { id, device, prefix } of moved) {
      const wasPublished = device.prefix !== undefined;
      device.prefix = prefix;
      if (prefix === undefined) {
        device.entries.clear();
        continue;
      }
      if (!wasPublished) {
        joined.push(id);
        continue;
      }
      const entries = [...device.entries];
      device.entries.clear();
      for (const [key, old] of entries) {
        const entry: FeedEntry = { ...old, topic: prefix + topicSegment(key) };
        device.entries.set(key, entry);
        this.#emit(entry);
      }
    }
    return joined;
  }

  /** Updates metadata after an entity change (the model is already updated). */
  putMetadata(value: MetadataValue): void {
    this.#putMetadata(value, Date.now());
  }

  removeMetadata(id: string): void {
    this.#removeMetadata(id, Date.now());
  }

  #putMetadata(value: MetadataValue, nowMs: number): void {
    const entry: FeedEntry = {
      orgId: this.orgId,
      kind: 'metadata',
      topic: metadataTopic(this.orgId, value.id),
      timeMs: nowMs,
      valueJson: value.valueJson,
    };
    this.#metadata.set(value.id, entry);
    this.#emit(entry);
  }

  #removeMetadata(id: string, nowMs: number): void {
    const entry = this.#metadata.get(id);
    if (entry === undefined) return;
    this.#metadata.delete(id);
    this.#emit({ ...entry, timeMs: nowMs, valueJson: null });
  }

  /** Empty retained messages for the device's current topics; `clear` forgets them too. */
  #removeEntries(device: DeviceFeed, clear = true): void {
    if (device.prefix === undefined) return;
    for (const entry of device.entries.values()) this.#emit({ ...entry, valueJson: null });
    if (clear) device.entries.clear();
  }

  #newDeviceFeed(device: Device): DeviceFeed {
    return { prefix: this.#prefixOf(device), entries: new Map(), removedWhileSeeding: undefined };
  }

  #prefixOf(device: Device): string | undefined {
    const placement = this.model.placementOf(device, this.#tiers);
    return placement === undefined ? undefined : statePrefix(this.orgId, placement);
  }
}
