/**
 * The PlaceOS state feed (issue 5, device-apis.md §1): a `FeedSource` fed by the platform's state-change bus
 * (telemetry, attributes, event leaves) and by entity changes (metadata; devices that are renamed, moved or deleted).
 * Only organizations whose feed is on are followed; for them the feed keeps the current entry of every topic in
 * memory, so targets can resync. Settings are stored per organization (feed-store.ts) and applied live.
 *
 * Turning a feed on loads the organization's entities, publishes every metadata topic, then reads each published
 * device's latest telemetry and attributes from the store and publishes them (live changes arriving meanwhile win).
 * Turning it off stops publishing and forgets the state; retained messages already in brokers stay.
 */
import type { Logger } from 'pino';
import type { EntityChange } from '../../platform/entities.js';
import type { Platform } from '../../platform/platform.js';
import { ATTRIBUTE_SCOPES, type StateChange } from '../../platform/model.js';
import type { FeedEntry, FeedSettings, FeedSource } from './feed-types.js';
import { defaultFeedSettings, mergeFeedSettings, type FeedSettingsBody } from './feed-settings.js';
import type { FeedSettingsStore } from './feed-store.js';
import { driverMetadata, organizationMetadata, systemMetadata, zoneMetadata } from './metadata.js';
import { OrgFeed, type SeedValue } from './org-feed.js';
import { OrgModel } from './org-model.js';

export interface PlaceosFeedOptions {
  platform: Platform;
  store: FeedSettingsStore;
  logger: Logger;
}

/** Devices listed per store query when an organization's feed is turned on. */
const DEVICE_PAGE = 1000;
/** Entity changes held while an organization's entities load; past this the load starts over. */
const MAX_CHANGES_WHILE_LOADING = 10_000;

/** An organization with stored settings; `feed` is set while it is on. */
interface OrgSlot {
  settings: FeedSettings;
  feed: OrgFeed | undefined;
  /** Entity changes that arrived while the entities load (undefined when not loading). */
  pending: EntityChange[] | undefined;
  /** Bumped by every switch, so a load that finishes after a newer switch gives up. */
  generation: number;
}

export class PlaceosFeed implements FeedSource {
  readonly #platform: Platform;
  readonly #store: FeedSettingsStore;
  readonly #logger: Logger;
  readonly #orgs = new Map<string, OrgSlot>();
  #listeners: ((entry: FeedEntry) => void)[] = [];
  readonly #unsubscribe: (() => void)[] = [];
  /** Bound once: the bus calls it for every change of every organization. */
  readonly #onStateChange = (change: StateChange): void => {
    this.#orgs.get(change.orgId)?.feed?.onStateChange(change);
  };
  readonly #emit = (entry: FeedEntry): void => {
    const listeners = this.#listeners;
    for (let i = 0; i < listeners.length; i++) {
      try {
        listeners[i]!(entry);
      } catch (error) {
        this.#logger.error({ err: error, topic: entry.topic }, 'feed listener failed');
      }
    }
  };

  constructor(options: PlaceosFeedOptions) {
    this.#platform = options.platform;
    this.#store = options.store;
    this.#logger = options.logger.child({ component: 'placeos-feed' });
  }

  /** Loads stored settings and turns on every feed that is on; resolves once their current state is published. */
  async start(): Promise<void> {
    this.#unsubscribe.push(this.#platform.bus.subscribe(this.#onStateChange));
    this.#unsubscribe.push(
      this.#platform.entities.changes.subscribe((change) => {
        this.#onEntityChange(change);
      }),
    );
    const stored = await this.#store.loadAll();
    for (const [orgId, settings] of stored) this.#orgs.set(orgId, newSlot(settings));
    for (const [orgId, slot] of this.#orgs) if (slot.settings.enabled) await this.#switchOn(orgId, slot);
  }

  close(): void {
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
    this.#orgs.clear();
  }

  subscribe(listener: (entry: FeedEntry) => void): () => void {
    this.#listeners = [...this.#listeners, listener];
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  *current(orgId: string): Iterable<FeedEntry> {
    const feed = this.#orgs.get(orgId)?.feed;
    if (feed !== undefined) yield* feed.current();
  }

  settings(orgId: string): FeedSettings | undefined {
    return this.#orgs.get(orgId)?.settings;
  }

  /** The organization's settings, or the defaults when it has none stored. */
  settingsOrDefault(orgId: string): FeedSettings {
    return this.#orgs.get(orgId)?.settings ?? defaultFeedSettings();
  }

  /**
   * Applies a `PUT …/feed` request: validates it (FeedSettingsError, PrivacyRuleError), stores it, then applies it;
   * resolves once a feed turned on has published its current state.
   */
  async configure(orgId: string, body: FeedSettingsBody): Promise<FeedSettings> {
    const existing = this.#orgs.get(orgId);
    const current = existing?.settings ?? defaultFeedSettings();
    const settings = mergeFeedSettings(current, body);
    await this.#store.save(orgId, settings);
    const slot = this.#orgs.get(orgId) ?? newSlot(settings);
    this.#orgs.set(orgId, slot);
    slot.settings = settings;
    if (!settings.enabled) {
      slot.generation++;
      slot.feed = undefined;
      slot.pending = undefined;
    } else if (slot.feed !== undefined) {
      slot.feed.updateSettings(settings);
    } else if (slot.pending === undefined) {
      await this.#switchOn(orgId, slot);
    }
    return settings;
  }

  async #switchOn(orgId: string, slot: OrgSlot): Promise<void> {
    const generation = ++slot.generation;
    slot.pending = [];
    let model: OrgModel;
    try {
      model = await this.#loadModel(orgId);
    } catch (error) {
      slot.pending = undefined;
      throw error;
    }
    if (slot.generation !== generation) return;
    const pending = slot.pending;
    slot.pending = undefined;
    if (pending.length > MAX_CHANGES_WHILE_LOADING) {
      await this.#switchOn(orgId, slot);
      return;
    }
    const feed = new OrgFeed(orgId, model, slot.settings, this.#emit);
    slot.feed = feed;
    for (const change of pending) this.#apply(feed, change);
    feed.publishAllMetadata();
    await this.#seed(slot, generation, feed.placedDeviceIds());
  }

  async #loadModel(orgId: string): Promise<OrgModel> {
    const { store } = this.#platform;
    const model = new OrgModel();
    model.organization = await store.getOrganization(orgId);
    for (const zone of await store.listZones(orgId)) model.zones.set(zone.id, zone);
    for (const system of await store.listSystems(orgId)) model.systems.set(system.id, system);
    for (const profile of await store.listProfiles(orgId)) model.profiles.set(profile.id, profile);
    for (let offset = 0; ; offset += DEVICE_PAGE) {
      const page = await store.listDevices(orgId, { limit: DEVICE_PAGE, offset });
      for (const device of page) model.putDevice(device);
      if (page.length < DEVICE_PAGE) break;
    }
    return model;
  }

  /** Reads and publishes the stored state of devices that started being published, one device at a time. */
  async #seed(slot: OrgSlot, generation: number, deviceIds: readonly string[]): Promise<void> {
    const { store } = this.#platform;
    for (const deviceId of deviceIds) {
      const feed = slot.feed;
      if (slot.generation !== generation || feed === undefined || !feed.beginSeeding(deviceId)) continue;
      const values: SeedValue[] = [];
      try {
        for (const point of await store.latestTelemetry(deviceId)) {
          values.push({ key: point.key, ts: point.ts, valueJson: JSON.stringify(point.value) });
        }
        for (const scope of ATTRIBUTE_SCOPES) {
          for (const attribute of await store.getAttributes(deviceId, scope)) {
            values.push({ key: attribute.key, ts: attribute.lastUpdateTs, valueJson: JSON.stringify(attribute.value) });
          }
        }
      } catch (error) {
        this.#logger.error({ err: error, deviceId }, 'reading a device’s state for the feed failed');
      }
      if (slot.generation === generation) feed.seed(deviceId, values);
    }
  }

  // ---- entity changes -----------------------------------------------------------------------------------------

  #onEntityChange(change: EntityChange): void {
    // A device claimed into another organization leaves the old one's feed first.
    if (change.entity === 'device' && change.before !== undefined && change.after !== undefined) {
      const fromOrg = change.before.orgId;
      if (fromOrg !== change.after.orgId) {
        this.#route(fromOrg, { ...change, orgId: fromOrg, op: 'deleted', after: undefined });
        this.#route(change.after.orgId, { ...change, orgId: change.after.orgId, op: 'created', before: undefined });
        return;
      }
    }
    this.#route(change.orgId, change);
  }

  #route(orgId: string, change: EntityChange): void {
    const slot = this.#orgs.get(orgId);
    if (slot === undefined) return;
    if (slot.pending !== undefined) {
      slot.pending.push(change);
      return;
    }
    const feed = slot.feed;
    if (feed === undefined) return;
    if (change.entity === 'organization' && change.op === 'deleted') {
      feed.removeAll();
      slot.generation++;
      this.#orgs.delete(orgId); // its settings row went with it (ON DELETE CASCADE)
      return;
    }
    const joined = this.#apply(feed, change);
    if (joined.length > 0) {
      this.#seed(slot, slot.generation, joined).catch((error: unknown) => {
        this.#logger.error({ err: error, orgId }, 'publishing moved devices failed');
      });
    }
  }

  /** Applies one change to the model and the topics; returns devices that started being published. */
  #apply(feed: OrgFeed, change: EntityChange): string[] {
    const { model } = feed;
    switch (change.entity) {
      case 'organization':
        if (change.after !== undefined) {
          model.organization = change.after;
          feed.putMetadata(organizationMetadata(change.after));
        }
        return [];
      case 'zone': {
        const before = change.before;
        if (change.after === undefined) {
          model.zones.delete(change.id);
          feed.removeMetadata(change.id);
        } else {
          model.zones.set(change.id, change.after);
          feed.putMetadata(zoneMetadata(change.after));
        }
        const moves =
          before === undefined || before.kind !== change.after?.kind || before.parentId !== change.after.parentId;
        return moves ? feed.relocate(model.devices.keys()) : [];
      }
      case 'system':
        if (change.after === undefined) {
          model.systems.delete(change.id);
          feed.removeMetadata(change.id);
        } else {
          model.systems.set(change.id, change.after);
          feed.putMetadata(systemMetadata(change.after));
        }
        return feed.relocate([...model.devicesIn(change.id)]);
      case 'profile': {
        const before = change.before === undefined ? undefined : driverMetadata(change.before);
        if (change.after === undefined) {
          model.profiles.delete(change.id);
          if (before !== undefined) feed.removeMetadata(before.id);
          return [];
        }
        model.profiles.set(change.id, change.after);
        const after = driverMetadata(change.after);
        if (before !== undefined && before.id !== after.id) feed.removeMetadata(before.id);
        feed.putMetadata(after);
        if (before?.id === after.id) return [];
        return feed.relocate([...model.devices.values()].filter((d) => d.profileId === change.id).map((d) => d.id));
      }
      case 'device': {
        const affected = new Set<string>([change.id]);
        const oldSystem = model.devices.get(change.id)?.systemId ?? null;
        if (change.after === undefined) model.removeDevice(change.id);
        else model.putDevice(change.after);
        // Devices of the same name in the systems it left and joined may change their implicit index.
        for (const systemId of [oldSystem, change.after?.systemId ?? null]) {
          if (systemId !== null) for (const id of model.devicesIn(systemId)) affected.add(id);
        }
        return feed.relocate(affected);
      }
      default:
        return []; // users and API keys are not on the feed
    }
  }
}

function newSlot(settings: FeedSettings): OrgSlot {
  return { settings, feed: undefined, pending: undefined, generation: 0 };
}
