/**
 * Bridge records in the platform store, in the module table `bridges_targets` (one row per bridge, cascading with its
 * organization). The connection settings are one JSON document; the password, the private key and the secret are
 * stored as given (docs/placeos.md, "Bridges": they are needed in clear to connect and to hash).
 */
import type { ModuleSchema, ModuleSql, PlatformStore } from '../../../storage/index.js';
import type { PrivacyRule } from '../feed-types.js';
import type { BridgeRecord, BridgeSettings } from './bridge-settings.js';

const TABLE_SQL = `CREATE TABLE bridges_targets (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  settings TEXT NOT NULL,
  secret TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  UNIQUE (org_id, name)
)`;

/** The module's migrations (the same SQL is valid on both stores). */
export const BRIDGE_SCHEMA: ModuleSchema = {
  module: 'bridges',
  sqlite: [TABLE_SQL],
  postgres: [TABLE_SQL],
};

/** What the `settings` column holds: every setting but the name. */
type StoredSettings = Omit<BridgeSettings, 'name'>;

interface BridgeRow {
  id: string;
  org_id: string;
  name: string;
  settings: string;
  secret: string;
  created_at: number | string;
  updated_at: number | string;
}

/** Another bridge of the organization already has this name. */
export class DuplicateBridgeNameError extends Error {
  override readonly name = 'DuplicateBridgeNameError';
}

export class BridgeStore {
  readonly #sql: ModuleSql;

  constructor(sql: ModuleSql) {
    this.#sql = sql;
  }

  /** Migrates the module's table in the platform store and opens it. */
  static async open(store: PlatformStore): Promise<BridgeStore> {
    return new BridgeStore(await store.openModule(BRIDGE_SCHEMA));
  }

  async list(orgId?: string): Promise<BridgeRecord[]> {
    const rows =
      orgId === undefined
        ? await this.#sql.query<BridgeRow>('SELECT * FROM bridges_targets ORDER BY created_at, id')
        : await this.#sql.query<BridgeRow>('SELECT * FROM bridges_targets WHERE org_id = ? ORDER BY created_at, id', [
            orgId,
          ]);
    return rows.map(toRecord);
  }

  async get(orgId: string, id: string): Promise<BridgeRecord | undefined> {
    const rows = await this.#sql.query<BridgeRow>('SELECT * FROM bridges_targets WHERE org_id = ? AND id = ?', [
      orgId,
      id,
    ]);
    return rows[0] === undefined ? undefined : toRecord(rows[0]);
  }

  async insert(record: BridgeRecord): Promise<void> {
    await this.#assertNameFree(record.orgId, record.name, record.id);
    await this.#sql.run(
      'INSERT INTO bridges_targets (id, org_id, name, settings, secret, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      [record.id, record.orgId, record.name, settingsJson(record), record.secret, record.createdAt, record.updatedAt],
    );
  }

  /** Saves a changed record; false when it no longer exists. */
  async update(record: BridgeRecord): Promise<boolean> {
    await this.#assertNameFree(record.orgId, record.name, record.id);
    const changed = await this.#sql.run(
      'UPDATE bridges_targets SET name = ?, settings = ?, updated_at = ? WHERE org_id = ? AND id = ?',
      [record.name, settingsJson(record), record.updatedAt, record.orgId, record.id],
    );
    return changed > 0;
  }

  async delete(orgId: string, id: string): Promise<boolean> {
    return (await this.#sql.run('DELETE FROM bridges_targets WHERE org_id = ? AND id = ?', [orgId, id])) > 0;
  }

  /** A clear 409 before the UNIQUE constraint would answer with a store-specific error. */
  async #assertNameFree(orgId: string, name: string, id: string): Promise<void> {
    const rows = await this.#sql.query<{ id: string }>('SELECT id FROM bridges_targets WHERE org_id = ? AND name = ?', [
      orgId,
      name,
    ]);
    if (rows.some((row) => row.id !== id)) {
      throw new DuplicateBridgeNameError(`a bridge named ${JSON.stringify(name)} already exists`);
    }
  }
}

function settingsJson(record: BridgeRecord): string {
  const stored: StoredSettings = {
    host: record.host,
    port: record.port,
    tls: record.tls,
    ca: record.ca,
    cert: record.cert,
    key: record.key,
    rejectUnauthorized: record.rejectUnauthorized,
    username: record.username,
    password: record.password,
    clientId: record.clientId,
    topicPrefix: record.topicPrefix,
    qos: record.qos,
    filters: record.filters,
  };
  return JSON.stringify(stored);
}

function toRecord(row: BridgeRow): BridgeRecord {
  const stored = JSON.parse(row.settings) as StoredSettings;
  return {
    id: row.id,
    orgId: row.org_id,
    name: row.name,
    secret: row.secret,
    // PostgreSQL answers BIGINT as a string.
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    host: stored.host,
    port: stored.port,
    tls: stored.tls,
    ca: stored.ca,
    cert: stored.cert,
    key: stored.key,
    rejectUnauthorized: stored.rejectUnauthorized,
    username: stored.username,
    password: stored.password,
    clientId: stored.clientId,
    topicPrefix: stored.topicPrefix,
    qos: stored.qos,
    filters: stored.filters.map((rule): PrivacyRule => ({
      pattern: rule.pattern,
      action: rule.action,
      ...(rule.keepLast === undefined ? {} : { keepLast: rule.keepLast }),
      ...(rule.replacement === undefined ? {} : { replacement: rule.replacement }),
    })),
  };
}
