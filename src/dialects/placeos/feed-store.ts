/**
 * Where feed settings live: one row per organization in the module table `placeos_feed_settings` (SQLite or
 * PostgreSQL, through the platform store's module tables), removed with its organization. Rows are read once at start
 * and written on every `PUT …/feed`.
 */
import type { Logger } from 'pino';
import type { ModuleSchema, ModuleSql, PlatformStore } from '../../storage/platform-store.js';
import type { FeedSettings, PrivacyRule } from './feed-types.js';

/** What the feed needs from storage. */
export interface FeedSettingsStore {
  loadAll(): Promise<Map<string, FeedSettings>>;
  save(orgId: string, settings: FeedSettings): Promise<void>;
}

const TABLE = `CREATE TABLE placeos_feed_settings (
  org_id TEXT PRIMARY KEY REFERENCES organizations(id) ON DELETE CASCADE,
  enabled INTEGER NOT NULL,
  hierarchy TEXT NOT NULL,
  time_unit TEXT NOT NULL,
  value_encoding TEXT NOT NULL,
  filters TEXT NOT NULL,
  secret TEXT NOT NULL,
  updated_at BIGINT NOT NULL
)`;

/** Migration i is schema version i + 1; the two lists stay equivalent. */
export const FEED_SCHEMA: ModuleSchema = { module: 'placeos_feed', sqlite: [TABLE], postgres: [TABLE] };

interface SettingsRow {
  org_id: string;
  enabled: number | string | boolean;
  hierarchy: string;
  time_unit: string;
  value_encoding: string;
  filters: string;
  secret: string;
}

export class SqlFeedSettingsStore implements FeedSettingsStore {
  readonly #sql: ModuleSql;
  readonly #logger: Logger;

  constructor(sql: ModuleSql, logger: Logger) {
    this.#sql = sql;
    this.#logger = logger;
  }

  /** Opens (and migrates) the table in the platform store. */
  static async open(store: PlatformStore, logger: Logger): Promise<SqlFeedSettingsStore> {
    return new SqlFeedSettingsStore(await store.openModule(FEED_SCHEMA), logger);
  }

  async loadAll(): Promise<Map<string, FeedSettings>> {
    const rows = await this.#sql.query<SettingsRow>(
      'SELECT org_id, enabled, hierarchy, time_unit, value_encoding, filters, secret FROM placeos_feed_settings',
    );
    const settings = new Map<string, FeedSettings>();
    for (const row of rows) {
      const parsed = parseRow(row);
      // A row this version cannot read keeps the feed off for that organization rather than stopping the server.
      if (parsed === undefined) this.#logger.error({ orgId: row.org_id }, 'unreadable PlaceOS feed settings ignored');
      else settings.set(row.org_id, parsed);
    }
    return settings;
  }

  async save(orgId: string, settings: FeedSettings): Promise<void> {
    await this.#sql.run(
      `INSERT INTO placeos_feed_settings
         (org_id, enabled, hierarchy, time_unit, value_encoding, filters, secret, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (org_id) DO UPDATE SET enabled = excluded.enabled, hierarchy = excluded.hierarchy,
         time_unit = excluded.time_unit, value_encoding = excluded.value_encoding, filters = excluded.filters,
         secret = excluded.secret, updated_at = excluded.updated_at`,
      [
        orgId,
        settings.enabled ? 1 : 0,
        JSON.stringify(settings.hierarchy),
        settings.timeUnit,
        settings.valueEncoding,
        JSON.stringify(settings.filters),
        settings.secret,
        Date.now(),
      ],
    );
  }
}

function parseRow(row: SettingsRow): FeedSettings | undefined {
  try {
    const hierarchy: unknown = JSON.parse(row.hierarchy);
    const filters: unknown = JSON.parse(row.filters);
    if (!Array.isArray(hierarchy) || !hierarchy.every((tier) => typeof tier === 'string')) return undefined;
    if (!Array.isArray(filters)) return undefined;
    if (row.time_unit !== 'ms' && row.time_unit !== 's') return undefined;
    if (row.value_encoding !== 'string' && row.value_encoding !== 'raw') return undefined;
    return {
      enabled: row.enabled === true || Number(row.enabled) === 1,
      hierarchy,
      timeUnit: row.time_unit,
      valueEncoding: row.value_encoding,
      filters: filters as PrivacyRule[],
      secret: row.secret,
    };
  } catch {
    return undefined;
  }
}
