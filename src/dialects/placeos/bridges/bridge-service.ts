/**
 * The bridges of every organization: their records (BridgeStore) and their running links (BridgeLink), fed from one
 * subscription to the feed. Creating, changing and deleting a bridge goes through here, so the store and the running
 * links never disagree: a record is saved first, then the link follows (name and filters live, anything else
 * reconnects).
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../../observability/index.js';
import type { FeedEntry, FeedSource, PrivacyRule } from '../feed-types.js';
import { BridgeLink, type BridgeLinkOptions } from './bridge-link.js';
import type { BridgeStatus } from './bridge-target.js';
import {
  checkBridgeSettings,
  needsReconnect,
  newBridgeSecret,
  targetOf,
  type BridgeRecord,
  type BridgeSettings,
  type CompilePrivacyRules,
} from './bridge-settings.js';
import type { BridgeStore } from './bridge-store.js';

/** Server-wide bridge limits (config section `bridges`). */
export interface BridgeLimits {
  maxPerOrganization: number;
  maxQueuedEntries: number;
  maxBackoffMs: number;
  connectTimeoutMs: number;
}

/** `POST /api/bridges`: name, host and port required, the rest defaulted. */
export interface BridgeInput {
  name: string;
  host: string;
  port: number;
  tls?: boolean | undefined;
  ca?: string | null | undefined;
  cert?: string | null | undefined;
  key?: string | null | undefined;
  rejectUnauthorized?: boolean | undefined;
  username?: string | null | undefined;
  password?: string | null | undefined;
  clientId?: string | null | undefined;
  topicPrefix?: string | undefined;
  qos?: 0 | 1 | undefined;
  filters?: PrivacyRule[] | undefined;
}

/** `PATCH /api/bridges/{id}`: any field; null clears an optional one. */
export type BridgePatch = Partial<BridgeInput>;

/** A bridge as the API shows it: no password, key or secret, whether they are set, and the link's status. */
export interface BridgeView extends Omit<BridgeRecord, 'password' | 'key' | 'secret'> {
  hasPassword: boolean;
  hasKey: boolean;
  status: BridgeStatus;
}

/** Sums over every bridge, for `/metrics`; counters include bridges deleted since start, so they only grow. */
export interface BridgeTotals {
  bridges: number;
  connected: number;
  queued: number;
  sent: number;
  dropped: number;
  filtered: number;
}

/** Too many bridges in one organization. */
export class BridgeLimitError extends Error {
  override readonly name = 'BridgeLimitError';
}

interface RunningBridge {
  record: BridgeRecord;
  link: BridgeLink;
}

export interface BridgeServiceDeps {
  store: BridgeStore;
  source: FeedSource;
  compile: CompilePrivacyRules;
  limits: BridgeLimits;
  logger: Logger;
  /** Extra link options (tests: back-off observers). */
  linkOptions?: Partial<BridgeLinkOptions> | undefined;
}

export class BridgeService {
  readonly #deps: BridgeServiceDeps;
  readonly #logger: Logger;
  readonly #running = new Map<string, RunningBridge>();
  readonly #byOrg = new Map<string, Set<RunningBridge>>();
  #unsubscribe: (() => void) | undefined;
  /** Changes run one at a time, so a check and its save see the same state. */
  #queue: Promise<unknown> = Promise.resolve();
  #isClosed = false;
  /** Counters of links that stopped, so the totals never go down. */
  readonly #retired = { sent: 0, dropped: 0, filtered: 0 };

  private constructor(deps: BridgeServiceDeps) {
    this.#deps = deps;
    this.#logger = deps.logger.child({ component: 'bridges' });
  }

  /** Loads every stored bridge, starts it, and subscribes to the feed. */
  static async start(deps: BridgeServiceDeps): Promise<BridgeService> {
    const service = new BridgeService(deps);
    for (const record of await deps.store.list()) {
      try {
        service.#launch(record);
      } catch (error) {
        // A record that no longer compiles (rules from an older version) must not stop the server; it stays off.
        service.#logger.error({ err: error, bridgeId: record.id }, 'bridge not started: its settings do not check');
      }
    }
    service.#unsubscribe = deps.source.subscribe((entry) => {
      service.#dispatch(entry);
    });
    return service;
  }

  async list(orgId: string): Promise<BridgeView[]> {
    const records = await this.#deps.store.list(orgId);
    return records.map((record) => this.#view(record));
  }

  async get(orgId: string, id: string): Promise<BridgeView | undefined> {
    const record = await this.#deps.store.get(orgId, id);
    return record === undefined ? undefined : this.#view(record);
  }

  /** Saves and starts a bridge; the secret is in the answer, the only time it is shown. */
  create(orgId: string, input: BridgeInput): Promise<{ bridge: BridgeView; secret: string }> {
    return this.#serialized(async () => {
      const existing = await this.#deps.store.list(orgId);
      const max = this.#deps.limits.maxPerOrganization;
      if (existing.length >= max) throw new BridgeLimitError(`an organization may have at most ${String(max)} bridges`);
      const now = Date.now();
      const record: BridgeRecord = {
        id: randomUUID(),
        orgId,
        secret: newBridgeSecret(),
        createdAt: now,
        updatedAt: now,
        ...withDefaults(input),
      };
      checkBridgeSettings(record, record.secret, this.#deps.compile);
      await this.#deps.store.insert(record);
      this.#launch(record);
      return { bridge: this.#view(record), secret: record.secret };
    });
  }

  /** Changes a bridge; undefined when it does not exist in the organization. */
  update(orgId: string, id: string, patch: BridgePatch): Promise<BridgeView | undefined> {
    return this.#serialized(async () => {
      const before = await this.#deps.store.get(orgId, id);
      if (before === undefined) return undefined;
      const after: BridgeRecord = { ...before, ...applyPatch(before, patch), updatedAt: Date.now() };
      const filter = checkBridgeSettings(after, after.secret, this.#deps.compile);
      if (!(await this.#deps.store.update(after))) return undefined;
      const running = this.#running.get(id);
      if (running === undefined) {
        this.#launch(after);
      } else {
        running.record = after;
        if (needsReconnect(before, after)) running.link.reconfigure(targetOf(after), filter);
        else if (JSON.stringify(before.filters) !== JSON.stringify(after.filters)) running.link.setFilter(filter);
      }
      return this.#view(after);
    });
  }

  /** Deletes and disconnects a bridge; false when it does not exist in the organization. */
  delete(orgId: string, id: string): Promise<boolean> {
    return this.#serialized(async () => {
      if (!(await this.#deps.store.delete(orgId, id))) return false;
      await this.#stop(id);
      return true;
    });
  }

  /** The organization is gone (its rows went with it, ON DELETE CASCADE): its links stop. */
  organizationDeleted(orgId: string): Promise<void> {
    return this.#serialized(async () => {
      const bridges = [...(this.#byOrg.get(orgId) ?? [])];
      await Promise.all(bridges.map((bridge) => this.#stop(bridge.record.id)));
    });
  }

  /** Sums over the running bridges (plus what stopped ones had sent, dropped and filtered). */
  totals(): BridgeTotals {
    const totals: BridgeTotals = { bridges: this.#running.size, connected: 0, queued: 0, ...this.#retired };
    for (const { link } of this.#running.values()) {
      const status = link.status();
      if (status.connected) totals.connected++;
      totals.queued += status.queued;
      totals.sent += status.sent;
      totals.dropped += status.dropped;
      totals.filtered += status.filtered;
    }
    return totals;
  }

  /** Disconnects every bridge (server shutdown). */
  async close(): Promise<void> {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#unsubscribe?.();
    await this.#queue.catch(() => undefined);
    await Promise.all([...this.#running.keys()].map((id) => this.#stop(id)));
  }

  #serialized<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #dispatch(entry: FeedEntry): void {
    const bridges = this.#byOrg.get(entry.orgId);
    if (bridges === undefined) return;
    for (const bridge of bridges) bridge.link.offer(entry);
  }

  #launch(record: BridgeRecord): void {
    if (this.#isClosed) return;
    const filter = checkBridgeSettings(record, record.secret, this.#deps.compile);
    const { limits } = this.#deps;
    const link = new BridgeLink(
      record.orgId,
      targetOf(record),
      filter,
      this.#deps.source,
      {
        maxQueuedEntries: limits.maxQueuedEntries,
        maxBackoffMs: limits.maxBackoffMs,
        connectTimeoutMs: limits.connectTimeoutMs,
        ...this.#deps.linkOptions,
      },
      this.#logger.child({ bridgeId: record.id }),
    );
    const running: RunningBridge = { record, link };
    this.#running.set(record.id, running);
    let org = this.#byOrg.get(record.orgId);
    if (org === undefined) this.#byOrg.set(record.orgId, (org = new Set()));
    org.add(running);
    link.start();
  }

  async #stop(id: string): Promise<void> {
    const running = this.#running.get(id);
    if (running === undefined) return;
    this.#running.delete(id);
    const org = this.#byOrg.get(running.record.orgId);
    org?.delete(running);
    if (org?.size === 0) this.#byOrg.delete(running.record.orgId);
    const last = running.link.status();
    this.#retired.sent += last.sent;
    this.#retired.dropped += last.dropped;
    this.#retired.filtered += last.filtered;
    await running.link.close();
  }

  #view(record: BridgeRecord): BridgeView {
    const status = this.#running.get(record.id)?.link.status() ?? STOPPED_STATUS;
    return {
      id: record.id,
      orgId: record.orgId,
      name: record.name,
      host: record.host,
      port: record.port,
      tls: record.tls,
      ca: record.ca,
      cert: record.cert,
      rejectUnauthorized: record.rejectUnauthorized,
      username: record.username,
      hasPassword: record.password !== null,
      hasKey: record.key !== null,
      clientId: record.clientId,
      topicPrefix: record.topicPrefix,
      qos: record.qos,
      filters: record.filters,
      createdAt: record.createdAt,
      updatedAt: record.updatedAt,
      status,
    };
  }
}

const STOPPED_STATUS: BridgeStatus = {
  connected: false,
  lastError: 'not running: its settings no longer check (see the server log)',
  lastErrorAt: null,
  queued: 0,
  sent: 0,
  dropped: 0,
  filtered: 0,
  connectedAt: null,
  protocolVersion: null,
  attempts: 0,
  nextAttemptAt: null,
};

function withDefaults(input: BridgeInput): BridgeSettings {
  return {
    name: input.name,
    host: input.host,
    port: input.port,
    tls: input.tls ?? false,
    ca: input.ca ?? null,
    cert: input.cert ?? null,
    key: input.key ?? null,
    rejectUnauthorized: input.rejectUnauthorized ?? true,
    username: input.username ?? null,
    password: input.password ?? null,
    clientId: input.clientId ?? null,
    topicPrefix: input.topicPrefix ?? '',
    qos: input.qos ?? 0,
    filters: input.filters ?? [],
  };
}

/** The settings after `patch`: a field left out keeps its value, null clears it. */
function applyPatch(before: BridgeSettings, patch: BridgePatch): BridgeSettings {
  const pick = <K extends keyof BridgeSettings>(key: K): BridgeSettings[K] =>
    key in patch && patch[key] !== undefined ? (patch[key] as BridgeSettings[K]) : before[key];
  const settings: BridgeSettings = {
    name: pick('name'),
    host: pick('host'),
    port: pick('port'),
    tls: pick('tls'),
    ca: pick('ca'),
    cert: pick('cert'),
    key: pick('key'),
    rejectUnauthorized: pick('rejectUnauthorized'),
    username: pick('username'),
    password: pick('password'),
    clientId: pick('clientId'),
    topicPrefix: pick('topicPrefix'),
    qos: pick('qos'),
    filters: pick('filters'),
  };
  return settings;
}
