/**
 * The embedded platform store: one SQLite file through better-sqlite3, WAL journal. Every method answers
 * synchronously inside its promise. Durability as the broker store's (sqlite-broker-store.ts): with `synchronous:
 * 'normal'` a committed write survives a process crash, and power loss may lose the last commits.
 */
import Database from 'better-sqlite3';
import type {
  Attribute,
  AttributeScope,
  DataValue,
  Device,
  DeviceCredentials,
  DeviceEvent,
  DeviceProfile,
  DeviceSystem,
  Organization,
  Rpc,
  RpcStatus,
  TelemetryPoint,
  Zone,
} from '../../platform/model.js';
import type {
  AggregatePoint,
  DataBatch,
  DevicePatch,
  DeviceWithCredentials,
  EventQuery,
  NewDevice,
  PlatformStore,
  RpcPatch,
  StoredApiKey,
  StoredUser,
  TelemetryAggregateQuery,
  TelemetryRangeQuery,
  WriteOutcome,
} from '../platform-store.js';
import { fromSqliteError } from './duplicates.js';
import {
  assignments,
  basicCredentialsKey,
  credentialsKey,
  deviceSelect,
  devicePatchColumns,
  deviceValues,
  profileAssignments,
  profileColumns,
  profileValues,
  rpcAssignments,
  rpcColumns,
  rpcSelect,
  rpcValues,
  toApiKey,
  toDevice,
  toOrganization,
  toProfile,
  toRpc,
  toSystem,
  toUser,
  toZone,
  type ApiKeyRow,
  type DeviceRow,
  type DeviceWithCredentialsRow,
  type OrganizationRow,
  type ProfileRow,
  type RpcRow,
  type SqlValue,
  type SystemRow,
  type UserRow,
  type ZoneRow,
  systemAssignments,
} from './platform-rows.js';
import { openSqliteModule, type ModuleSchema, type ModuleSql } from './module-sql.js';
import { migrate } from './sqlite-platform-schema.js';
import { WalCheckpointer } from '../wal-checkpointer.js';
import { SqliteDeviceData } from './sqlite-device-data.js';
import { SqliteWriterThread } from './sqlite-writer.js';
import { StatementCache } from './statement-cache.js';
import { ReadBatch } from './read-batch.js';

/** Options of `SqlitePlatformStore`. */
export interface SqlitePlatformStoreOptions {
  /** 'normal' (default): survives a process crash; 'full': also survives power loss (fsync per commit). */
  synchronous?: 'normal' | 'full';
  /**
   * Commit device data on a worker thread (default true for a file): the event loop keeps serving sockets during a
   * commit. False writes on the store's own connection, synchronously.
   */
  writerThread?: boolean;
}

/** How long a statement waits for another connection's lock before failing with SQLITE_BUSY. */
const busyTimeoutMs = 5_000;
/** Page cache (negative = KiB): telemetry inserts touch the right edge of many series' B-tree ranges. */
const cacheSizeKiB = 65_536;

/** better-sqlite3 binds no booleans: they are stored as 0/1. */
function bindable(values: readonly SqlValue[]): (string | number | null)[] {
  return values.map((value) => (typeof value === 'boolean' ? (value ? 1 : 0) : value));
}

/** `deleteEvents` takes this many ids at most: one bounded statement. */
const MAX_EVENT_DELETES = 1_000;

/** Runs a synchronous answer as the contract's promise: a throw becomes a rejection, never a synchronous throw. */
function settle<T>(answer: () => T): Promise<T> {
  try {
    return Promise.resolve(answer());
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

/** The platform store in one SQLite file; see the module comment for durability. */
export class SqlitePlatformStore implements PlatformStore {
  readonly kind = 'sqlite';
  readonly #db: Database.Database;
  readonly #statements: StatementCache;
  /** The CONNECT path's look-ups (credentials, profiles), one read transaction per event-loop turn. */
  readonly #reads: ReadBatch;
  readonly #data: SqliteDeviceData;
  /** Undefined for an in-memory database, which has no WAL. */
  readonly #checkpointer: WalCheckpointer | undefined;
  /** Device-data commits off the event loop (sqlite-writer.ts); undefined for an in-memory database. */
  readonly #writer: SqliteWriterThread | undefined;

  /** Opens (creating if missing) the file and migrates it; its directory must exist. Throws naming the path. */
  constructor(filePath: string, options: SqlitePlatformStoreOptions = {}) {
    let db: Database.Database | undefined;
    try {
      db = new Database(filePath, { timeout: busyTimeoutMs });
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
      db.pragma('foreign_keys = ON');
      db.pragma(`cache_size = -${cacheSizeKiB}`);
      migrate(db);
    } catch (cause) {
      db?.close();
      const reason = cause instanceof Error ? cause.message : String(cause);
      throw new Error(`cannot open platform store "${filePath}": ${reason}`, { cause });
    }
    this.#db = db;
    this.#statements = new StatementCache(db);
    this.#reads = new ReadBatch(db);
    this.#data = new SqliteDeviceData(db);
    const isFile = filePath !== ':memory:' && filePath !== '';
    const synchronous = options.synchronous ?? 'normal';
    this.#checkpointer = isFile ? new WalCheckpointer(db, filePath, { synchronous }) : undefined;
    this.#writer =
      isFile && options.writerThread !== false
        ? new SqliteWriterThread({
            filePath,
            synchronous: synchronous === 'full' ? 'FULL' : 'NORMAL',
            cacheSizeKiB,
            busyTimeoutMs,
          })
        : undefined;
  }

  /** The same as the constructor, for symmetry with `PostgresPlatformStore.open`. */
  static open(filePath: string, options: SqlitePlatformStoreOptions = {}): Promise<SqlitePlatformStore> {
    return Promise.resolve(new SqlitePlatformStore(filePath, options));
  }

  // ---- helpers ------------------------------------------------------------------------------------------------

  /** Runs one statement; a unique violation becomes a DuplicateError. */
  #run(sql: string, values: readonly SqlValue[]): Database.RunResult {
    try {
      return this.#statements.get(sql).run(...bindable(values));
    } catch (error) {
      throw fromSqliteError(error);
    }
  }

  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- R is the caller's row type for `sql`
  #get<R>(sql: string, ...values: SqlValue[]): R | undefined {
    return this.#statements.get<R>(sql).get(...bindable(values));
  }

  #all<R>(sql: string, ...values: SqlValue[]): R[] {
    return this.#statements.get<R>(sql).all(...bindable(values));
  }

  #insert(table: string, columns: readonly string[], values: readonly SqlValue[]): void {
    this.#run(`INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`, values);
  }

  /** UPDATE … WHERE id = ?; true when the row exists (an empty patch only checks that). */
  #update(table: string, id: string, set: [column: string, value: SqlValue][]): boolean {
    if (set.length === 0) return this.#get(`SELECT 1 FROM ${table} WHERE id = ?`, id) !== undefined;
    const sql = `UPDATE ${table} SET ${set.map(([column]) => `${column} = ?`).join(', ')} WHERE id = ?`;
    return this.#run(sql, [...set.map(([, value]) => value), id]).changes > 0;
  }

  #delete(table: string, id: string): boolean {
    return this.#run(`DELETE FROM ${table} WHERE id = ?`, [id]).changes > 0;
  }

  #transaction<T>(body: () => T): T {
    try {
      return this.#db.transaction(body)();
    } catch (error) {
      throw fromSqliteError(error);
    }
  }

  // ---- organizations and the spatial model -------------------------------------------------------------------

  createOrganization(org: Organization): Promise<void> {
    return settle(() => {
      const columns = ['id', 'name', 'retention_days', 'mqtt_id', 'created_at'];
      this.#insert('organizations', columns, [org.id, org.name, org.retentionDays, org.mqttId, org.createdAt]);
    });
  }
  getOrganization(id: string): Promise<Organization | undefined> {
    return settle(() => {
      const row = this.#get<OrganizationRow>('SELECT * FROM organizations WHERE id = ?', id);
      return row && toOrganization(row);
    });
  }
  getOrganizationByMqttId(mqttId: string): Promise<Organization | undefined> {
    return settle(() => {
      const row = this.#get<OrganizationRow>('SELECT * FROM organizations WHERE mqtt_id = ?', mqttId);
      return row && toOrganization(row);
    });
  }
  listOrganizations(): Promise<Organization[]> {
    return settle(() =>
      this.#all<OrganizationRow>('SELECT * FROM organizations ORDER BY name, id').map(toOrganization),
    );
  }
  updateOrganization(
    id: string,
    patch: Partial<Pick<Organization, 'name' | 'retentionDays' | 'mqttId'>>,
  ): Promise<boolean> {
    return settle(() => {
      const set = assignments(patch, { name: 'name', retentionDays: 'retention_days', mqttId: 'mqtt_id' });
      return this.#update('organizations', id, set);
    });
  }
  deleteOrganization(id: string): Promise<boolean> {
    return settle(() =>
      this.#transaction(() => {
        const seqs = this.#all<{ seq: number }>('SELECT seq FROM devices WHERE org_id = ?', id).map((row) => row.seq);
        this.#data.deleteDataOf(seqs);
        this.#run('DELETE FROM devices WHERE org_id = ?', [id]);
        // Zones, systems, profiles, users and API keys go by ON DELETE CASCADE.
        return this.#delete('organizations', id);
      }),
    );
  }

  createZone(zone: Zone): Promise<void> {
    return settle(() => {
      const columns = ['id', 'org_id', 'name', 'kind', 'parent_id', 'created_at'];
      this.#insert('zones', columns, [zone.id, zone.orgId, zone.name, zone.kind, zone.parentId, zone.createdAt]);
    });
  }
  getZone(id: string): Promise<Zone | undefined> {
    return settle(() => {
      const row = this.#get<ZoneRow>('SELECT * FROM zones WHERE id = ?', id);
      return row && toZone(row);
    });
  }
  listZones(orgId: string): Promise<Zone[]> {
    return settle(() =>
      this.#all<ZoneRow>('SELECT * FROM zones WHERE org_id = ? ORDER BY name, id', orgId).map(toZone),
    );
  }
  updateZone(id: string, patch: Partial<Pick<Zone, 'name' | 'kind' | 'parentId'>>): Promise<boolean> {
    return settle(() => {
      const set = assignments(patch, { name: 'name', kind: 'kind', parentId: 'parent_id' });
      return this.#update('zones', id, set);
    });
  }
  deleteZone(id: string): Promise<boolean> {
    return settle(() =>
      this.#transaction(() => {
        // Systems keep their zones as a JSON list, which no foreign key can unplace: the zone is taken out here.
        this.#run(
          `UPDATE systems SET zone_ids = (SELECT json_group_array(value) FROM json_each(systems.zone_ids) WHERE value <> ?)
           WHERE EXISTS (SELECT 1 FROM json_each(systems.zone_ids) WHERE value = ?)`,
          [id, id],
        );
        return this.#delete('zones', id);
      }),
    );
  }

  createSystem(system: DeviceSystem): Promise<void> {
    return settle(() => {
      const columns = ['id', 'org_id', 'name', 'zone_ids', 'created_at'];
      this.#insert('systems', columns, [
        system.id,
        system.orgId,
        system.name,
        JSON.stringify(system.zoneIds),
        system.createdAt,
      ]);
    });
  }
  getSystem(id: string): Promise<DeviceSystem | undefined> {
    return settle(() => {
      const row = this.#get<SystemRow>('SELECT * FROM systems WHERE id = ?', id);
      return row && toSystem(row);
    });
  }
  listSystems(orgId: string): Promise<DeviceSystem[]> {
    return settle(() => {
      const rows = this.#all<SystemRow>('SELECT * FROM systems WHERE org_id = ? ORDER BY name, id', orgId);
      return rows.map(toSystem);
    });
  }
  updateSystem(id: string, patch: Partial<Pick<DeviceSystem, 'name' | 'zoneIds'>>): Promise<boolean> {
    return settle(() => this.#update('systems', id, systemAssignments(patch)));
  }
  deleteSystem(id: string): Promise<boolean> {
    return settle(() => this.#delete('systems', id));
  }

  createProfile(profile: DeviceProfile): Promise<void> {
    return settle(() => {
      this.#insert('profiles', profileColumns, profileValues(profile));
    });
  }
  getProfile(id: string): Promise<DeviceProfile | undefined> {
    return this.#reads.read(() => {
      const row = this.#get<ProfileRow>('SELECT * FROM profiles WHERE id = ?', id);
      return row && toProfile(row);
    });
  }
  getProfileByName(orgId: string, name: string): Promise<DeviceProfile | undefined> {
    return settle(() => {
      const row = this.#get<ProfileRow>('SELECT * FROM profiles WHERE org_id = ? AND name = ?', orgId, name);
      return row && toProfile(row);
    });
  }
  getProfileByProvisionKey(key: string): Promise<DeviceProfile | undefined> {
    return settle(() => {
      const row = this.#get<ProfileRow>('SELECT * FROM profiles WHERE provision_key = ?', key);
      return row && toProfile(row);
    });
  }
  listProfiles(orgId: string): Promise<DeviceProfile[]> {
    return settle(() => {
      const rows = this.#all<ProfileRow>('SELECT * FROM profiles WHERE org_id = ? ORDER BY name', orgId);
      return rows.map(toProfile);
    });
  }
  updateProfile(id: string, patch: Partial<Omit<DeviceProfile, 'id' | 'orgId' | 'createdAt'>>): Promise<boolean> {
    return settle(() => this.#update('profiles', id, profileAssignments(patch)));
  }
  deleteProfile(id: string): Promise<boolean> {
    return settle(() => this.#delete('profiles', id));
  }

  // ---- devices and their credentials -------------------------------------------------------------------------

  createDevice(device: NewDevice): Promise<void> {
    return settle(() => {
      const key = credentialsKey(device.credentials);
      this.#transaction(() => {
        const columns = deviceSelect.replaceAll('d.', '').split(', ');
        const { lastInsertRowid } = this.#run(
          `INSERT INTO devices (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
          deviceValues(device),
        );
        this.#insert(
          'device_credentials',
          ['device_seq', 'credentials_id', 'credentials'],
          [Number(lastInsertRowid), key, JSON.stringify(device.credentials)],
        );
      });
    });
  }
  getDevice(id: string): Promise<Device | undefined> {
    return settle(() => {
      const row = this.#get<DeviceRow>(`SELECT ${deviceSelect} FROM devices d WHERE d.id = ?`, id);
      return row && toDevice(row);
    });
  }
  getDeviceByName(orgId: string, name: string): Promise<Device | undefined> {
    return settle(() => {
      const sql = `SELECT ${deviceSelect} FROM devices d WHERE d.org_id = ? AND d.name = ?`;
      const row = this.#get<DeviceRow>(sql, orgId, name);
      return row && toDevice(row);
    });
  }
  findDevicesByName(name: string): Promise<Device[]> {
    return settle(() => {
      const rows = this.#all<DeviceRow>(`SELECT ${deviceSelect} FROM devices d WHERE d.name = ? ORDER BY d.seq`, name);
      return rows.map(toDevice);
    });
  }
  listDevices(orgId: string, options: { limit?: number; offset?: number; gatewayId?: string } = {}): Promise<Device[]> {
    return settle(() => {
      const rows = this.#all<DeviceRow>(
        `SELECT ${deviceSelect} FROM devices d WHERE d.org_id = ? AND (? IS NULL OR d.gateway_id = ?)
         ORDER BY d.name LIMIT ? OFFSET ?`,
        orgId,
        options.gatewayId ?? null,
        options.gatewayId ?? null,
        options.limit ?? -1,
        options.offset ?? 0,
      );
      return rows.map(toDevice);
    });
  }
  updateDevice(id: string, patch: DevicePatch & { orgId?: string }): Promise<boolean> {
    return settle(() =>
      this.#transaction(() => {
        const device = this.#data.device(id);
        if (device === undefined) return false;
        this.#update('devices', id, assignments(patch, devicePatchColumns));
        if (patch.orgId !== undefined && patch.orgId !== device.org_id) {
          // The device's events and RPCs move with it (retention and listings go by organization).
          this.#data.moveEvents(device.seq, patch.orgId);
          this.#run('UPDATE rpcs SET org_id = ? WHERE device_seq = ?', [patch.orgId, device.seq]);
        }
        return true;
      }),
    );
  }
  deleteDevice(id: string): Promise<boolean> {
    return settle(() =>
      this.#transaction(() => {
        const device = this.#data.device(id);
        if (device === undefined) return false;
        this.#data.deleteDataOf([device.seq]);
        // Credentials, attributes and RPCs go by ON DELETE CASCADE.
        return this.#delete('devices', id);
      }),
    );
  }
  getCredentials(deviceId: string): Promise<DeviceCredentials | undefined> {
    return settle(() => {
      const row = this.#get<{ credentials: string }>(
        'SELECT c.credentials FROM devices d JOIN device_credentials c ON c.device_seq = d.seq WHERE d.id = ?',
        deviceId,
      );
      return row && (JSON.parse(row.credentials) as DeviceCredentials);
    });
  }
  setCredentials(deviceId: string, credentials: DeviceCredentials): Promise<void> {
    return settle(() => {
      const key = credentialsKey(credentials);
      const changes = this.#run(
        `INSERT INTO device_credentials (device_seq, credentials_id, credentials)
         SELECT seq, ?, ? FROM devices WHERE id = ?
         ON CONFLICT (device_seq) DO UPDATE SET credentials_id = excluded.credentials_id, credentials = excluded.credentials`,
        [key, JSON.stringify(credentials), deviceId],
      ).changes;
      if (changes === 0) throw new Error(`unknown device ${deviceId}`);
    });
  }
  findByAccessToken(token: string): Promise<DeviceWithCredentials | undefined> {
    return this.#reads.read(() => this.#findByCredentialsKey(`token:${token}`));
  }
  findByBasicCredentials(clientId: string | null, username: string | null): Promise<DeviceWithCredentials | undefined> {
    if (clientId === null && username === null) return Promise.resolve(undefined);
    const key = basicCredentialsKey(clientId, username);
    return this.#reads.read(() => this.#findByCredentialsKey(key));
  }
  findByCertificateHash(hash: string): Promise<DeviceWithCredentials | undefined> {
    return this.#reads.read(() => this.#findByCredentialsKey(`x509:${hash}`));
  }
  #findByCredentialsKey(key: string): DeviceWithCredentials | undefined {
    const row = this.#get<DeviceWithCredentialsRow>(
      `SELECT ${deviceSelect}, c.credentials FROM device_credentials c JOIN devices d ON d.seq = c.device_seq
       WHERE c.credentials_id = ?`,
      key,
    );
    return row && { device: toDevice(row), credentials: JSON.parse(row.credentials) as DeviceCredentials };
  }

  // ---- users and API keys ------------------------------------------------------------------------------------

  createUser(user: StoredUser): Promise<void> {
    return settle(() => {
      const columns = ['id', 'org_id', 'username', 'email', 'mqtt_id', 'role', 'password_hash', 'created_at'];
      const values = [
        user.id,
        user.orgId,
        user.username,
        user.email,
        user.mqttId,
        user.role,
        user.passwordHash,
        user.createdAt,
      ];
      this.#insert('users', columns, values);
    });
  }
  getUser(id: string): Promise<StoredUser | undefined> {
    return settle(() => {
      const row = this.#get<UserRow>('SELECT * FROM users WHERE id = ?', id);
      return row && toUser(row);
    });
  }
  getUserByUsername(username: string): Promise<StoredUser | undefined> {
    return settle(() => {
      const row = this.#get<UserRow>('SELECT * FROM users WHERE username = ?', username);
      return row && toUser(row);
    });
  }
  getUserByEmail(email: string): Promise<StoredUser | undefined> {
    return settle(() => {
      const row = this.#get<UserRow>('SELECT * FROM users WHERE email = ?', email);
      return row && toUser(row);
    });
  }
  getUserByMqttId(mqttId: string): Promise<StoredUser | undefined> {
    return settle(() => {
      const row = this.#get<UserRow>('SELECT * FROM users WHERE mqtt_id = ?', mqttId);
      return row && toUser(row);
    });
  }
  listUsers(orgId: string): Promise<StoredUser[]> {
    return settle(() =>
      this.#all<UserRow>('SELECT * FROM users WHERE org_id = ? ORDER BY username', orgId).map(toUser),
    );
  }
  updateUser(
    id: string,
    patch: Partial<Pick<StoredUser, 'role' | 'passwordHash' | 'email' | 'mqttId'>>,
  ): Promise<boolean> {
    return settle(() =>
      this.#update(
        'users',
        id,
        assignments(patch, { role: 'role', passwordHash: 'password_hash', email: 'email', mqttId: 'mqtt_id' }),
      ),
    );
  }
  deleteUser(id: string): Promise<boolean> {
    return settle(() => this.#delete('users', id));
  }
  countUsers(): Promise<number> {
    return settle(() => this.#get<{ count: number }>('SELECT COUNT(*) AS count FROM users')!.count);
  }

  createApiKey(key: StoredApiKey): Promise<void> {
    return settle(() => {
      const columns = ['id', 'org_id', 'name', 'role', 'prefix', 'key_hash', 'created_at'];
      this.#insert('api_keys', columns, [
        key.id,
        key.orgId,
        key.name,
        key.role,
        key.prefix,
        key.keyHash,
        key.createdAt,
      ]);
    });
  }
  getApiKeyByHash(keyHash: string): Promise<StoredApiKey | undefined> {
    return settle(() => {
      const row = this.#get<ApiKeyRow>('SELECT * FROM api_keys WHERE key_hash = ?', keyHash);
      return row && toApiKey(row);
    });
  }
  listApiKeys(orgId: string): Promise<StoredApiKey[]> {
    return settle(() => {
      const rows = this.#all<ApiKeyRow>('SELECT * FROM api_keys WHERE org_id = ? ORDER BY created_at, id', orgId);
      return rows.map(toApiKey);
    });
  }
  deleteApiKey(id: string): Promise<boolean> {
    return settle(() => this.#delete('api_keys', id));
  }

  // ---- device data -------------------------------------------------------------------------------------------

  write(batch: DataBatch): Promise<WriteOutcome> {
    if (this.#writer?.isAlive === true) return this.#writer.write(batch);
    return settle(() => this.#data.write(batch));
  }
  latestTelemetry(deviceId: string, keys?: string[]): Promise<TelemetryPoint[]> {
    return settle(() => this.#data.latestTelemetry(deviceId, keys));
  }
  telemetryKeys(deviceId: string): Promise<string[]> {
    return settle(() => this.#data.telemetryKeys(deviceId));
  }
  telemetryRange(query: TelemetryRangeQuery): Promise<Map<string, { ts: number; value: DataValue }[]>> {
    return settle(() => this.#data.telemetryRange(query));
  }
  telemetryAggregate(query: TelemetryAggregateQuery): Promise<Map<string, AggregatePoint[]>> {
    return settle(() => this.#data.telemetryAggregate(query));
  }
  getAttributes(deviceId: string, scope: AttributeScope, keys?: string[]): Promise<Attribute[]> {
    return settle(() => this.#data.getAttributes(deviceId, scope, keys));
  }
  queryEvents(query: EventQuery): Promise<DeviceEvent[]> {
    return settle(() => this.#data.queryEvents(query));
  }
  deleteEvents(ids: readonly string[]): Promise<number> {
    return settle(() => {
      if (ids.length > MAX_EVENT_DELETES) throw new RangeError(`at most ${String(MAX_EVENT_DELETES)} ids per call`);
      if (ids.length === 0) return 0;
      return this.#run('DELETE FROM events WHERE id IN (SELECT value FROM json_each(?))', [JSON.stringify(ids)])
        .changes;
    });
  }

  // ---- RPC ---------------------------------------------------------------------------------------------------

  putRpc(rpc: Rpc): Promise<void> {
    return settle(() => {
      const columns = ['id', 'org_id', 'device_seq', ...rpcColumns];
      const updates = ['org_id', 'device_seq', ...rpcColumns].map((column) => `${column} = excluded.${column}`);
      const changes = this.#run(
        `INSERT INTO rpcs (${columns.join(', ')}) SELECT ?, ?, seq, ${rpcColumns.map(() => '?').join(', ')}
         FROM devices WHERE id = ? ON CONFLICT (id) DO UPDATE SET ${updates.join(', ')}`,
        [rpc.id, rpc.orgId, ...rpcValues(rpc), rpc.deviceId],
      ).changes;
      if (changes === 0) throw new Error(`unknown device ${rpc.deviceId}`);
    });
  }
  getRpc(id: string): Promise<Rpc | undefined> {
    return settle(() => {
      const row = this.#get<RpcRow>(
        `SELECT ${rpcSelect} FROM rpcs r JOIN devices d ON d.seq = r.device_seq WHERE r.id = ?`,
        id,
      );
      return row && toRpc(row);
    });
  }
  listRpcs(deviceId: string, statuses: RpcStatus[]): Promise<Rpc[]> {
    return settle(() => {
      const rows = this.#all<RpcRow>(
        `SELECT ${rpcSelect} FROM devices d JOIN rpcs r ON r.device_seq = d.seq
         WHERE d.id = ? AND r.status IN (SELECT value FROM json_each(?)) ORDER BY r.created_at, r.id`,
        deviceId,
        JSON.stringify(statuses),
      );
      return rows.map(toRpc);
    });
  }
  updateRpc(id: string, patch: RpcPatch): Promise<boolean> {
    return settle(() => this.#update('rpcs', id, rpcAssignments(patch)));
  }

  // ---- housekeeping ------------------------------------------------------------------------------------------

  deleteExpired(orgId: string, beforeTs: number, limit: number, nowMs: number = Date.now()): Promise<number> {
    return settle(() => this.#data.deleteExpired(orgId, beforeTs, limit, nowMs));
  }

  openModule(schema: ModuleSchema): Promise<ModuleSql> {
    return settle(() => openSqliteModule(this.#db, schema));
  }

  async close(): Promise<void> {
    await this.#writer?.stop();
    // The checkpointer's connection first: the writer's connection, closing last, checkpoints and removes the WAL.
    await this.#checkpointer?.stop();
    await settle(() => {
      this.#db.close();
    });
  }
}
