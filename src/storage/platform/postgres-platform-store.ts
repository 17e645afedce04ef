/**
 * The platform store on PostgreSQL (`database.url`), through a `pg` pool. `open` connects and applies pending
 * migrations (postgres-platform-schema.ts) before the store is used. All tables live in one schema (default
 * `switchboard`), set as each connection's search_path, so tests and several deployments can share a database.
 */
import pg from 'pg';
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
import { fromPostgresError } from './duplicates.js';
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
import { PostgresDeviceData, type Queryable } from './postgres-device-data.js';
import { openPostgresModule, type ModuleSchema, type ModuleSql } from './module-sql.js';
import { migrate } from './postgres-platform-schema.js';

/** Options of `PostgresPlatformStore.open`. */
export interface PostgresPlatformStoreOptions {
  /** The schema holding every table; created if missing. A lower-case SQL identifier. Default 'switchboard'. */
  schema?: string;
  /** Pool size. Default 10. */
  maxConnections?: number;
  /** How long a new connection may take. Default 10 s. */
  connectionTimeoutMs?: number;
}

/**
 * int8 (timestamps, counts, bigint values) parsed as JS numbers, not strings: every such value the platform stores
 * is a JS number to begin with (below 2^53). Per pool, so no other user of `pg` in the process is affected.
 */
const types: pg.CustomTypesConfig = {
  getTypeParser(...[oid, format]: Parameters<typeof pg.types.getTypeParser>): unknown {
    return oid === pg.types.builtins.INT8 ? parseInt8 : pg.types.getTypeParser(oid, format);
  },
};

function parseInt8(text: string): number {
  return Number(text);
}

const schemaPattern = /^[a-z_][a-z0-9_]{0,62}$/;

/** `$1, $2, …, $n`. */
function placeholders(count: number, from = 1): string {
  return Array.from({ length: count }, (_, i) => `$${i + from}`).join(', ');
}

/** A device and its credentials by credentials key (`token:…`, `basic:…`, `x509:…`). */
const findByCredentials = {
  name: 'sb_device_by_credentials',
  text: `SELECT ${deviceSelect}, c.credentials FROM device_credentials c JOIN devices d ON d.seq = c.device_seq
    WHERE c.credentials_id = $1`,
};

/** The platform store on PostgreSQL; create with `open`. */
export class PostgresPlatformStore implements PlatformStore {
  readonly kind = 'postgres';
  readonly #pool: pg.Pool;
  readonly #data = new PostgresDeviceData();

  private constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /** Connects to `url`, migrates the schema, and returns the store. Throws an Error naming the schema on failure. */
  static async open(url: string, options: PostgresPlatformStoreOptions = {}): Promise<PostgresPlatformStore> {
    const schema = options.schema ?? 'switchboard';
    if (!schemaPattern.test(schema)) throw new RangeError(`invalid schema name "${schema}"`);
    const pool = new pg.Pool({
      connectionString: url,
      options: `-c search_path=${schema}`,
      max: options.maxConnections ?? 10,
      connectionTimeoutMillis: options.connectionTimeoutMs ?? 10_000,
      types,
    });
    // An idle client's error (the server restarting) must not crash the process; the pool drops that client.
    pool.on('error', () => undefined);
    try {
      const client = await pool.connect();
      try {
        await migrate(client, schema);
      } finally {
        client.release();
      }
    } catch (cause) {
      await pool.end();
      const reason = cause instanceof Error ? cause.message : String(cause);
      throw new Error(`cannot open platform store in schema "${schema}": ${reason}`, { cause });
    }
    return new PostgresPlatformStore(pool);
  }

  // ---- helpers ------------------------------------------------------------------------------------------------

  async #query<R extends pg.QueryResultRow>(sql: string, values: readonly unknown[] = [], db: Queryable = this.#pool) {
    try {
      return await db.query<R>(sql, values as unknown[]);
    } catch (error) {
      throw fromPostgresError(error);
    }
  }

  async #get<R extends pg.QueryResultRow>(sql: string, ...values: SqlValue[]): Promise<R | undefined> {
    return (await this.#query<R>(sql, values)).rows[0];
  }

  async #all<R extends pg.QueryResultRow>(sql: string, ...values: unknown[]): Promise<R[]> {
    return (await this.#query<R>(sql, values)).rows;
  }

  async #insert(table: string, columns: readonly string[], values: readonly SqlValue[], db?: Queryable): Promise<void> {
    await this.#query(
      `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${placeholders(columns.length)})`,
      values,
      db,
    );
  }

  /** UPDATE … WHERE id = $n; true when the row exists (an empty patch only checks that). */
  async #update(table: string, id: string, set: [column: string, value: SqlValue][], db?: Queryable): Promise<boolean> {
    if (set.length === 0) return (await this.#query(`SELECT 1 FROM ${table} WHERE id = $1`, [id], db)).rowCount === 1;
    const sql = `UPDATE ${table} SET ${set.map(([column], i) => `${column} = $${i + 1}`).join(', ')}
      WHERE id = $${set.length + 1}`;
    return ((await this.#query(sql, [...set.map(([, value]) => value), id], db)).rowCount ?? 0) > 0;
  }

  async #delete(table: string, id: string): Promise<boolean> {
    return ((await this.#query(`DELETE FROM ${table} WHERE id = $1`, [id])).rowCount ?? 0) > 0;
  }

  /** Runs `body` in a transaction on one client; rolls back on any error (mapped to DuplicateError where it is one). */
  async #transaction<T>(body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      const result = await body(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw fromPostgresError(error);
    } finally {
      client.release();
    }
  }

  // ---- organizations and the spatial model -------------------------------------------------------------------

  async createOrganization(org: Organization): Promise<void> {
    const columns = ['id', 'name', 'retention_days', 'mqtt_id', 'created_at'];
    await this.#insert('organizations', columns, [org.id, org.name, org.retentionDays, org.mqttId, org.createdAt]);
  }
  async getOrganization(id: string): Promise<Organization | undefined> {
    const row = await this.#get<OrganizationRow>('SELECT * FROM organizations WHERE id = $1', id);
    return row && toOrganization(row);
  }
  async getOrganizationByMqttId(mqttId: string): Promise<Organization | undefined> {
    const row = await this.#get<OrganizationRow>('SELECT * FROM organizations WHERE mqtt_id = $1', mqttId);
    return row && toOrganization(row);
  }
  async listOrganizations(): Promise<Organization[]> {
    return (await this.#all<OrganizationRow>('SELECT * FROM organizations ORDER BY name, id')).map(toOrganization);
  }
  updateOrganization(
    id: string,
    patch: Partial<Pick<Organization, 'name' | 'retentionDays' | 'mqttId'>>,
  ): Promise<boolean> {
    return this.#update(
      'organizations',
      id,
      assignments(patch, { name: 'name', retentionDays: 'retention_days', mqttId: 'mqtt_id' }),
    );
  }
  deleteOrganization(id: string): Promise<boolean> {
    return this.#transaction(async (client) => {
      // Locking the organization first keeps devices from being created in it meanwhile (their foreign key check
      // waits), so every device's data is deleted below.
      const org = await this.#query('SELECT 1 FROM organizations WHERE id = $1 FOR UPDATE', [id], client);
      if (org.rowCount === 0) return false;
      const { rows } = await this.#query<{ seq: number }>(
        'DELETE FROM devices WHERE org_id = $1 RETURNING seq',
        [id],
        client,
      );
      await this.#data.deleteDataOf(
        client,
        rows.map((row) => row.seq),
      );
      // Zones, systems, profiles, users and API keys go by ON DELETE CASCADE.
      await this.#query('DELETE FROM organizations WHERE id = $1', [id], client);
      return true;
    });
  }

  async createZone(zone: Zone): Promise<void> {
    const columns = ['id', 'org_id', 'name', 'kind', 'parent_id', 'created_at'];
    await this.#insert('zones', columns, [zone.id, zone.orgId, zone.name, zone.kind, zone.parentId, zone.createdAt]);
  }
  async getZone(id: string): Promise<Zone | undefined> {
    const row = await this.#get<ZoneRow>('SELECT * FROM zones WHERE id = $1', id);
    return row && toZone(row);
  }
  async listZones(orgId: string): Promise<Zone[]> {
    return (await this.#all<ZoneRow>('SELECT * FROM zones WHERE org_id = $1 ORDER BY name, id', orgId)).map(toZone);
  }
  updateZone(id: string, patch: Partial<Pick<Zone, 'name' | 'kind' | 'parentId'>>): Promise<boolean> {
    return this.#update('zones', id, assignments(patch, { name: 'name', kind: 'kind', parentId: 'parent_id' }));
  }
  deleteZone(id: string): Promise<boolean> {
    return this.#transaction(async (client) => {
      // Systems keep their zones as a JSON list, which no foreign key can unplace: the zone is taken out here.
      await client.query(
        `UPDATE systems SET zone_ids = (
           SELECT coalesce(json_agg(zone), '[]'::json)::text FROM json_array_elements_text(zone_ids::json) AS zone
           WHERE zone <> $1)
         WHERE zone_ids::jsonb ? $1`,
        [id],
      );
      return ((await client.query('DELETE FROM zones WHERE id = $1', [id])).rowCount ?? 0) > 0;
    });
  }

  async createSystem(system: DeviceSystem): Promise<void> {
    const columns = ['id', 'org_id', 'name', 'zone_ids', 'created_at'];
    await this.#insert('systems', columns, [
      system.id,
      system.orgId,
      system.name,
      JSON.stringify(system.zoneIds),
      system.createdAt,
    ]);
  }
  async getSystem(id: string): Promise<DeviceSystem | undefined> {
    const row = await this.#get<SystemRow>('SELECT * FROM systems WHERE id = $1', id);
    return row && toSystem(row);
  }
  async listSystems(orgId: string): Promise<DeviceSystem[]> {
    const rows = await this.#all<SystemRow>('SELECT * FROM systems WHERE org_id = $1 ORDER BY name, id', orgId);
    return rows.map(toSystem);
  }
  updateSystem(id: string, patch: Partial<Pick<DeviceSystem, 'name' | 'zoneIds'>>): Promise<boolean> {
    return this.#update('systems', id, systemAssignments(patch));
  }
  deleteSystem(id: string): Promise<boolean> {
    return this.#delete('systems', id);
  }

  async createProfile(profile: DeviceProfile): Promise<void> {
    await this.#insert('profiles', profileColumns, profileValues(profile));
  }
  async getProfile(id: string): Promise<DeviceProfile | undefined> {
    const row = await this.#get<ProfileRow>('SELECT * FROM profiles WHERE id = $1', id);
    return row && toProfile(row);
  }
  async getProfileByName(orgId: string, name: string): Promise<DeviceProfile | undefined> {
    const row = await this.#get<ProfileRow>('SELECT * FROM profiles WHERE org_id = $1 AND name = $2', orgId, name);
    return row && toProfile(row);
  }
  async getProfileByProvisionKey(key: string): Promise<DeviceProfile | undefined> {
    const row = await this.#get<ProfileRow>('SELECT * FROM profiles WHERE provision_key = $1', key);
    return row && toProfile(row);
  }
  async listProfiles(orgId: string): Promise<DeviceProfile[]> {
    return (await this.#all<ProfileRow>('SELECT * FROM profiles WHERE org_id = $1 ORDER BY name', orgId)).map(
      toProfile,
    );
  }
  updateProfile(id: string, patch: Partial<Omit<DeviceProfile, 'id' | 'orgId' | 'createdAt'>>): Promise<boolean> {
    return this.#update('profiles', id, profileAssignments(patch));
  }
  deleteProfile(id: string): Promise<boolean> {
    return this.#delete('profiles', id);
  }

  // ---- devices and their credentials -------------------------------------------------------------------------

  async createDevice(device: NewDevice): Promise<void> {
    const key = credentialsKey(device.credentials);
    const columns = deviceSelect.replaceAll('d.', '');
    await this.#transaction(async (client) => {
      const { rows } = await this.#query<{ seq: number }>(
        `INSERT INTO devices (${columns}) VALUES (${placeholders(columns.split(', ').length)}) RETURNING seq`,
        deviceValues(device),
        client,
      );
      await this.#insert(
        'device_credentials',
        ['device_seq', 'credentials_id', 'credentials'],
        [rows[0]!.seq, key, JSON.stringify(device.credentials)],
        client,
      );
    });
  }
  async getDevice(id: string): Promise<Device | undefined> {
    const row = await this.#get<DeviceRow>(`SELECT ${deviceSelect} FROM devices d WHERE d.id = $1`, id);
    return row && toDevice(row);
  }
  async getDeviceByName(orgId: string, name: string): Promise<Device | undefined> {
    const sql = `SELECT ${deviceSelect} FROM devices d WHERE d.org_id = $1 AND d.name = $2`;
    const row = await this.#get<DeviceRow>(sql, orgId, name);
    return row && toDevice(row);
  }
  async findDevicesByName(name: string): Promise<Device[]> {
    const sql = `SELECT ${deviceSelect} FROM devices d WHERE d.name = $1 ORDER BY d.seq`;
    return (await this.#all<DeviceRow>(sql, name)).map(toDevice);
  }
  async listDevices(
    orgId: string,
    options: { limit?: number; offset?: number; gatewayId?: string } = {},
  ): Promise<Device[]> {
    const rows = await this.#all<DeviceRow>(
      `SELECT ${deviceSelect} FROM devices d WHERE d.org_id = $1 AND ($2::text IS NULL OR d.gateway_id = $2)
       ORDER BY d.name LIMIT $3 OFFSET $4`,
      orgId,
      options.gatewayId ?? null,
      options.limit ?? null,
      options.offset ?? 0,
    );
    return rows.map(toDevice);
  }
  updateDevice(id: string, patch: DevicePatch & { orgId?: string }): Promise<boolean> {
    return this.#transaction(async (client) => {
      const { rows } = await this.#query<{ seq: number; org_id: string }>(
        'SELECT seq, org_id FROM devices WHERE id = $1 FOR UPDATE',
        [id],
        client,
      );
      const device = rows[0];
      if (device === undefined) return false;
      await this.#update('devices', id, assignments(patch, devicePatchColumns), client);
      if (patch.orgId !== undefined && patch.orgId !== device.org_id) {
        // The device's events and RPCs move with it (retention and listings go by organization).
        for (const table of ['events', 'rpcs']) {
          await this.#query(`UPDATE ${table} SET org_id = $1 WHERE device_seq = $2`, [patch.orgId, device.seq], client);
        }
      }
      return true;
    });
  }
  deleteDevice(id: string): Promise<boolean> {
    return this.#transaction(async (client) => {
      // The device row first: this waits for write batches holding it FOR KEY SHARE, so the data deleted next
      // includes theirs, and later batches find no device. Credentials, attributes and RPCs go by cascade.
      const { rows } = await this.#query<{ seq: number }>(
        'DELETE FROM devices WHERE id = $1 RETURNING seq',
        [id],
        client,
      );
      if (rows.length === 0) return false;
      await this.#data.deleteDataOf(client, [rows[0]!.seq]);
      return true;
    });
  }
  async getCredentials(deviceId: string): Promise<DeviceCredentials | undefined> {
    const row = await this.#get<{ credentials: string }>(
      'SELECT c.credentials FROM devices d JOIN device_credentials c ON c.device_seq = d.seq WHERE d.id = $1',
      deviceId,
    );
    return row && (JSON.parse(row.credentials) as DeviceCredentials);
  }
  async setCredentials(deviceId: string, credentials: DeviceCredentials): Promise<void> {
    const { rowCount } = await this.#query(
      `INSERT INTO device_credentials (device_seq, credentials_id, credentials)
       SELECT seq, $1, $2 FROM devices WHERE id = $3
       ON CONFLICT (device_seq) DO UPDATE SET credentials_id = excluded.credentials_id, credentials = excluded.credentials`,
      [credentialsKey(credentials), JSON.stringify(credentials), deviceId],
    );
    if (rowCount === 0) throw new Error(`unknown device ${deviceId}`);
  }
  findByAccessToken(token: string): Promise<DeviceWithCredentials | undefined> {
    return this.#findByCredentialsKey(`token:${token}`);
  }
  async findByBasicCredentials(
    clientId: string | null,
    username: string | null,
  ): Promise<DeviceWithCredentials | undefined> {
    if (clientId === null && username === null) return undefined;
    return this.#findByCredentialsKey(basicCredentialsKey(clientId, username));
  }
  findByCertificateHash(hash: string): Promise<DeviceWithCredentials | undefined> {
    return this.#findByCredentialsKey(`x509:${hash}`);
  }
  async #findByCredentialsKey(key: string): Promise<DeviceWithCredentials | undefined> {
    let row: DeviceWithCredentialsRow | undefined;
    try {
      // Named: every CONNECT with credentials (and every anonymous one) asks this, so each pooled connection parses
      // and plans it once instead of per login.
      ({
        rows: [row],
      } = await this.#pool.query<DeviceWithCredentialsRow>({ ...findByCredentials, values: [key] }));
    } catch (error) {
      throw fromPostgresError(error);
    }
    return row && { device: toDevice(row), credentials: JSON.parse(row.credentials) as DeviceCredentials };
  }

  // ---- users and API keys ------------------------------------------------------------------------------------

  async createUser(user: StoredUser): Promise<void> {
    const columns = ['id', 'org_id', 'username', 'email', 'mqtt_id', 'role', 'password_hash', 'created_at'];
    await this.#insert('users', columns, [
      user.id,
      user.orgId,
      user.username,
      user.email,
      user.mqttId,
      user.role,
      user.passwordHash,
      user.createdAt,
    ]);
  }
  async getUser(id: string): Promise<StoredUser | undefined> {
    const row = await this.#get<UserRow>('SELECT * FROM users WHERE id = $1', id);
    return row && toUser(row);
  }
  async getUserByUsername(username: string): Promise<StoredUser | undefined> {
    const row = await this.#get<UserRow>('SELECT * FROM users WHERE username = $1', username);
    return row && toUser(row);
  }
  async getUserByEmail(email: string): Promise<StoredUser | undefined> {
    const row = await this.#get<UserRow>('SELECT * FROM users WHERE email = $1', email);
    return row && toUser(row);
  }
  async getUserByMqttId(mqttId: string): Promise<StoredUser | undefined> {
    const row = await this.#get<UserRow>('SELECT * FROM users WHERE mqtt_id = $1', mqttId);
    return row && toUser(row);
  }
  async listUsers(orgId: string): Promise<StoredUser[]> {
    return (await this.#all<UserRow>('SELECT * FROM users WHERE org_id = $1 ORDER BY username', orgId)).map(toUser);
  }
  updateUser(
    id: string,
    patch: Partial<Pick<StoredUser, 'role' | 'passwordHash' | 'email' | 'mqttId'>>,
  ): Promise<boolean> {
    return this.#update(
      'users',
      id,
      assignments(patch, { role: 'role', passwordHash: 'password_hash', email: 'email', mqttId: 'mqtt_id' }),
    );
  }
  deleteUser(id: string): Promise<boolean> {
    return this.#delete('users', id);
  }
  async countUsers(): Promise<number> {
    return (await this.#get<{ count: number }>('SELECT COUNT(*) AS count FROM users'))!.count;
  }

  async createApiKey(key: StoredApiKey): Promise<void> {
    const columns = ['id', 'org_id', 'name', 'role', 'prefix', 'key_hash', 'created_at'];
    await this.#insert('api_keys', columns, [
      key.id,
      key.orgId,
      key.name,
      key.role,
      key.prefix,
      key.keyHash,
      key.createdAt,
    ]);
  }
  async getApiKeyByHash(keyHash: string): Promise<StoredApiKey | undefined> {
    const row = await this.#get<ApiKeyRow>('SELECT * FROM api_keys WHERE key_hash = $1', keyHash);
    return row && toApiKey(row);
  }
  async listApiKeys(orgId: string): Promise<StoredApiKey[]> {
    const rows = await this.#all<ApiKeyRow>('SELECT * FROM api_keys WHERE org_id = $1 ORDER BY created_at, id', orgId);
    return rows.map(toApiKey);
  }
  deleteApiKey(id: string): Promise<boolean> {
    return this.#delete('api_keys', id);
  }

  // ---- device data -------------------------------------------------------------------------------------------

  async write(batch: DataBatch): Promise<WriteOutcome> {
    await this.#data.prepareKeys(this.#pool, batch);
    return this.#transaction((client) => this.#data.write(client, batch));
  }
  latestTelemetry(deviceId: string, keys?: string[]): Promise<TelemetryPoint[]> {
    return this.#data.latestTelemetry(this.#pool, deviceId, keys);
  }
  telemetryKeys(deviceId: string): Promise<string[]> {
    return this.#data.telemetryKeys(this.#pool, deviceId);
  }
  telemetryRange(query: TelemetryRangeQuery): Promise<Map<string, { ts: number; value: DataValue }[]>> {
    return this.#data.telemetryRange(this.#pool, query);
  }
  telemetryAggregate(query: TelemetryAggregateQuery): Promise<Map<string, AggregatePoint[]>> {
    return this.#data.telemetryAggregate(this.#pool, query);
  }
  getAttributes(deviceId: string, scope: AttributeScope, keys?: string[]): Promise<Attribute[]> {
    return this.#data.getAttributes(this.#pool, deviceId, scope, keys);
  }
  queryEvents(query: EventQuery): Promise<DeviceEvent[]> {
    return this.#data.queryEvents(this.#pool, query);
  }
  async deleteEvents(ids: readonly string[]): Promise<number> {
    if (ids.length > 1_000) throw new RangeError('at most 1000 ids per call');
    if (ids.length === 0) return 0;
    return (await this.#query('DELETE FROM events WHERE id = ANY($1::text[])', [ids])).rowCount ?? 0;
  }

  // ---- RPC ---------------------------------------------------------------------------------------------------

  async putRpc(rpc: Rpc): Promise<void> {
    const columns = ['id', 'org_id', 'device_seq', ...rpcColumns];
    const updates = ['org_id', 'device_seq', ...rpcColumns].map((column) => `${column} = excluded.${column}`);
    const { rowCount } = await this.#query(
      `INSERT INTO rpcs (${columns.join(', ')}) SELECT $1, $2, seq, ${placeholders(rpcColumns.length, 3)}
       FROM devices WHERE id = $${rpcColumns.length + 3} ON CONFLICT (id) DO UPDATE SET ${updates.join(', ')}`,
      [rpc.id, rpc.orgId, ...rpcValues(rpc), rpc.deviceId],
    );
    if (rowCount === 0) throw new Error(`unknown device ${rpc.deviceId}`);
  }
  async getRpc(id: string): Promise<Rpc | undefined> {
    const sql = `SELECT ${rpcSelect} FROM rpcs r JOIN devices d ON d.seq = r.device_seq WHERE r.id = $1`;
    const row = await this.#get<RpcRow>(sql, id);
    return row && toRpc(row);
  }
  async listRpcs(deviceId: string, statuses: RpcStatus[]): Promise<Rpc[]> {
    const rows = await this.#all<RpcRow>(
      `SELECT ${rpcSelect} FROM devices d JOIN rpcs r ON r.device_seq = d.seq
       WHERE d.id = $1 AND r.status = ANY($2::text[]) ORDER BY r.created_at, r.id`,
      deviceId,
      statuses,
    );
    return rows.map(toRpc);
  }
  updateRpc(id: string, patch: RpcPatch): Promise<boolean> {
    return this.#update('rpcs', id, rpcAssignments(patch));
  }

  // ---- housekeeping ------------------------------------------------------------------------------------------

  deleteExpired(orgId: string, beforeTs: number, limit: number, nowMs: number = Date.now()): Promise<number> {
    return this.#transaction((client) => this.#data.deleteExpired(client, orgId, beforeTs, limit, nowMs));
  }

  openModule(schema: ModuleSchema): Promise<ModuleSql> {
    return openPostgresModule(this.#pool, schema);
  }

  close(): Promise<void> {
    return this.#pool.end();
  }
}
