/**
 * What the CloudPlugs dialect persists beside the platform model, in its own module tables (`cloudplugs_…`, opened
 * with `platform.store.openModule`): production templates' Plug-IDs and enrolment secrets, uploaded enrolment
 * passwords, devices' Plug-IDs, hardware ids, status, permission filter, auth hash, controlled things and location,
 * additional properties (static values and channel links), and the ids of private records. Rows reference the core
 * rows (`profiles`, `devices`) with ON DELETE CASCADE, so deleting a profile or device through the management API
 * removes its CloudPlugs part. Device data itself is platform events and telemetry, never stored here.
 */
import type { ModuleSchema, ModuleSql, ModuleStatement } from '../../storage/platform-store.js';
import type { JsonValue } from '../../platform/model.js';
import type { PermFilter } from './perm.js';

/** Prototype (account-enrolled), thing or controller (template-enrolled). */
export type PlugDeviceKind = 'prototype' | 'thing' | 'controller';
/** A device's status (device-apis.md §2.4). */
export type PlugStatus = 'ok' | 'disabled' | 'reactivate';
/** Every status, for validation. */
export const PLUG_STATUSES: readonly PlugStatus[] = ['ok', 'disabled', 'reactivate'];

/** A production template: a platform profile with a `mod-` Plug-ID. */
export interface TemplateRow {
  profileId: string;
  plugId: string;
  /** null: only uploaded per-device passwords enrol. */
  enrollSecret: string | null;
  createdAt: number;
}

/** A device location (`x` longitude, `y` latitude, `z` altitude, `r` accuracy, `t` epoch ms). */
export interface PlugLocation {
  x: number;
  y: number;
  z?: number | undefined;
  r?: number | undefined;
  t: number;
}

/** The CloudPlugs part of a platform device. */
export interface PlugDeviceRow {
  deviceId: string;
  plugId: string;
  kind: PlugDeviceKind;
  /** The template (profile id) a thing or controller was enrolled with; null for prototypes. */
  templateId: string | null;
  hwid: string | null;
  status: PlugStatus;
  perm: PermFilter;
  /** SHA-256 hex of the auth code. */
  authHash: string;
  /** Controllers: the Plug-IDs of the things they control. */
  controls: string[];
  location: PlugLocation | null;
  createdAt: number;
}

/** An additional property: a static value, or a link to the last value of one of the device's channels. */
export type PlugProperty = { kind: 'value'; value: JsonValue } | { kind: 'channel'; channel: string };

const SQLITE: readonly string[] = [
  `CREATE TABLE cloudplugs_templates (
     profile_id TEXT PRIMARY KEY REFERENCES profiles (id) ON DELETE CASCADE,
     plug_id TEXT NOT NULL UNIQUE,
     enroll_secret TEXT,
     created_at INTEGER NOT NULL
   ) STRICT;
   CREATE TABLE cloudplugs_enroll_passes (
     profile_id TEXT NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
     hwid TEXT NOT NULL,
     pass_hash TEXT NOT NULL,
     PRIMARY KEY (profile_id, hwid)
   ) STRICT;
   CREATE TABLE cloudplugs_devices (
     device_id TEXT PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
     plug_id TEXT NOT NULL UNIQUE,
     kind TEXT NOT NULL CHECK (kind IN ('prototype', 'thing', 'controller')),
     template_id TEXT REFERENCES profiles (id) ON DELETE SET NULL,
     hwid TEXT,
     status TEXT NOT NULL CHECK (status IN ('ok', 'disabled', 'reactivate')),
     perm TEXT NOT NULL,
     auth_hash TEXT NOT NULL,
     controls TEXT NOT NULL,
     location TEXT,
     created_at INTEGER NOT NULL
   ) STRICT;
   CREATE UNIQUE INDEX cloudplugs_devices_hwid ON cloudplugs_devices (template_id, kind, hwid);
   CREATE TABLE cloudplugs_props (
     device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
     name TEXT NOT NULL,
     value TEXT,
     channel TEXT,
     PRIMARY KEY (device_id, name)
   ) STRICT;
   CREATE TABLE cloudplugs_private_records (
     event_id TEXT PRIMARY KEY,
     device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE
   ) STRICT;`,
  // 2: the publishing device of a private record, which may read it too (private-records.ts); null for an account.
  `ALTER TABLE cloudplugs_private_records
     ADD COLUMN publisher_device_id TEXT REFERENCES devices (id) ON DELETE SET NULL;`,
];

const POSTGRES: readonly string[] = [
  `CREATE TABLE cloudplugs_templates (
     profile_id text PRIMARY KEY REFERENCES profiles (id) ON DELETE CASCADE,
     plug_id text NOT NULL UNIQUE,
     enroll_secret text,
     created_at bigint NOT NULL
   );
   CREATE TABLE cloudplugs_enroll_passes (
     profile_id text NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
     hwid text NOT NULL,
     pass_hash text NOT NULL,
     PRIMARY KEY (profile_id, hwid)
   );
   CREATE TABLE cloudplugs_devices (
     device_id text PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
     plug_id text NOT NULL UNIQUE,
     kind text NOT NULL CHECK (kind IN ('prototype', 'thing', 'controller')),
     template_id text REFERENCES profiles (id) ON DELETE SET NULL,
     hwid text,
     status text NOT NULL CHECK (status IN ('ok', 'disabled', 'reactivate')),
     perm text NOT NULL,
     auth_hash text NOT NULL,
     controls text NOT NULL,
     location text,
     created_at bigint NOT NULL
   );
   CREATE UNIQUE INDEX cloudplugs_devices_hwid ON cloudplugs_devices (template_id, kind, hwid);
   CREATE TABLE cloudplugs_props (
     device_id text NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
     name text NOT NULL,
     value text,
     channel text,
     PRIMARY KEY (device_id, name)
   );
   CREATE TABLE cloudplugs_private_records (
     event_id text PRIMARY KEY,
     device_id text NOT NULL REFERENCES devices (id) ON DELETE CASCADE
   );`,
  `ALTER TABLE cloudplugs_private_records
     ADD COLUMN publisher_device_id text REFERENCES devices (id) ON DELETE SET NULL;`,
];

/** The dialect's migrations (appended, never edited), for `platform.store.openModule`. */
export const CLOUDPLUGS_SCHEMA: ModuleSchema = { module: 'cloudplugs', sqlite: SQLITE, postgres: POSTGRES };

interface DeviceSqlRow {
  device_id: string;
  plug_id: string;
  kind: PlugDeviceKind;
  template_id: string | null;
  hwid: string | null;
  status: PlugStatus;
  perm: string;
  auth_hash: string;
  controls: string;
  location: string | null;
  created_at: number | string;
}

interface TemplateSqlRow {
  profile_id: string;
  plug_id: string;
  enroll_secret: string | null;
  created_at: number | string;
}

/** Typed access to the module tables. */
export class CloudplugsStore {
  readonly #sql: ModuleSql;

  constructor(sql: ModuleSql) {
    this.#sql = sql;
  }

  /** Opens (and migrates) the module tables. */
  static async open(openModule: (schema: ModuleSchema) => Promise<ModuleSql>): Promise<CloudplugsStore> {
    return new CloudplugsStore(await openModule(CLOUDPLUGS_SCHEMA));
  }

  // ---- templates ---------------------------------------------------------------------------------------------
  async putTemplate(template: TemplateRow): Promise<void> {
    await this.#sql.run(
      'INSERT INTO cloudplugs_templates (profile_id, plug_id, enroll_secret, created_at) VALUES (?, ?, ?, ?)',
      [template.profileId, template.plugId, template.enrollSecret, template.createdAt],
    );
  }

  async setEnrollSecret(profileId: string, secret: string | null): Promise<boolean> {
    return (
      (await this.#sql.run('UPDATE cloudplugs_templates SET enroll_secret = ? WHERE profile_id = ?', [
        secret,
        profileId,
      ])) > 0
    );
  }

  async listTemplates(): Promise<TemplateRow[]> {
    const rows = await this.#sql.query<TemplateSqlRow>('SELECT * FROM cloudplugs_templates');
    return rows.map((row) => ({
      profileId: row.profile_id,
      plugId: row.plug_id,
      enrollSecret: row.enroll_secret,
      createdAt: Number(row.created_at),
    }));
  }

  /** Uploads (replaces) explicit enrolment passwords per hardware id, stored hashed. */
  async putEnrollPasses(profileId: string, passHashes: ReadonlyMap<string, string>): Promise<void> {
    const statements: ModuleStatement[] = [];
    for (const [hwid, hash] of passHashes) {
      statements.push(
        { sql: 'DELETE FROM cloudplugs_enroll_passes WHERE profile_id = ? AND hwid = ?', params: [profileId, hwid] },
        {
          sql: 'INSERT INTO cloudplugs_enroll_passes (profile_id, hwid, pass_hash) VALUES (?, ?, ?)',
          params: [profileId, hwid, hash],
        },
      );
    }
    await this.#sql.batch(statements);
  }

  async getEnrollPassHash(profileId: string, hwid: string): Promise<string | undefined> {
    const rows = await this.#sql.query<{ pass_hash: string }>(
      'SELECT pass_hash FROM cloudplugs_enroll_passes WHERE profile_id = ? AND hwid = ?',
      [profileId, hwid],
    );
    return rows[0]?.pass_hash;
  }

  // ---- devices -----------------------------------------------------------------------------------------------
  async putDevice(row: PlugDeviceRow): Promise<void> {
    await this.#sql.run(
      `INSERT INTO cloudplugs_devices
         (device_id, plug_id, kind, template_id, hwid, status, perm, auth_hash, controls, location, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        row.deviceId,
        row.plugId,
        row.kind,
        row.templateId,
        row.hwid,
        row.status,
        JSON.stringify(row.perm),
        row.authHash,
        JSON.stringify(row.controls),
        row.location === null ? null : JSON.stringify(row.location),
        row.createdAt,
      ],
    );
  }

  /** Replaces the mutable fields of a device row. */
  async updateDevice(row: PlugDeviceRow): Promise<boolean> {
    const changed = await this.#sql.run(
      `UPDATE cloudplugs_devices SET status = ?, perm = ?, auth_hash = ?, controls = ?, location = ?
       WHERE device_id = ?`,
      [
        row.status,
        JSON.stringify(row.perm),
        row.authHash,
        JSON.stringify(row.controls),
        row.location === null ? null : JSON.stringify(row.location),
        row.deviceId,
      ],
    );
    return changed > 0;
  }

  async listDevices(): Promise<PlugDeviceRow[]> {
    const rows = await this.#sql.query<DeviceSqlRow>('SELECT * FROM cloudplugs_devices');
    return rows.map(toDeviceRow);
  }

  async getDevice(deviceId: string): Promise<PlugDeviceRow | undefined> {
    const rows = await this.#sql.query<DeviceSqlRow>('SELECT * FROM cloudplugs_devices WHERE device_id = ?', [
      deviceId,
    ]);
    return rows[0] === undefined ? undefined : toDeviceRow(rows[0]);
  }

  // ---- additional properties ---------------------------------------------------------------------------------
  async setProperties(deviceId: string, properties: ReadonlyMap<string, PlugProperty>): Promise<void> {
    const statements: ModuleStatement[] = [];
    for (const [name, property] of properties) {
      statements.push(
        { sql: 'DELETE FROM cloudplugs_props WHERE device_id = ? AND name = ?', params: [deviceId, name] },
        {
          sql: 'INSERT INTO cloudplugs_props (device_id, name, value, channel) VALUES (?, ?, ?, ?)',
          params: [
            deviceId,
            name,
            property.kind === 'value' ? JSON.stringify(property.value) : null,
            property.kind === 'channel' ? property.channel : null,
          ],
        },
      );
    }
    await this.#sql.batch(statements);
  }

  /** All properties, or those named (absent names are absent from the map). */
  async getProperties(deviceId: string, names?: readonly string[]): Promise<Map<string, PlugProperty>> {
    const rows = await this.#sql.query<{ name: string; value: string | null; channel: string | null }>(
      'SELECT name, value, channel FROM cloudplugs_props WHERE device_id = ? ORDER BY name',
      [deviceId],
    );
    const wanted = names === undefined ? undefined : new Set(names);
    const properties = new Map<string, PlugProperty>();
    for (const row of rows) {
      if (wanted !== undefined && !wanted.has(row.name)) continue;
      properties.set(
        row.name,
        row.channel === null
          ? { kind: 'value', value: JSON.parse(row.value ?? 'null') as JsonValue }
          : { kind: 'channel', channel: row.channel },
      );
    }
    return properties;
  }

  async deleteProperty(deviceId: string, name: string): Promise<boolean> {
    return (await this.#sql.run('DELETE FROM cloudplugs_props WHERE device_id = ? AND name = ?', [deviceId, name])) > 0;
  }

  // ---- private records ---------------------------------------------------------------------------------------
  async markPrivate(
    records: readonly { eventId: string; deviceId: string; publisherDeviceId: string | null }[],
  ): Promise<void> {
    if (records.length === 0) return;
    await this.#sql.batch(
      records.map((record) => ({
        sql: 'INSERT INTO cloudplugs_private_records (event_id, device_id, publisher_device_id) VALUES (?, ?, ?)',
        params: [record.eventId, record.deviceId, record.publisherDeviceId],
      })),
    );
  }

  /** Which of these event ids are private records, each with its publishing device (null: an account published). */
  async privateAmong(eventIds: readonly string[]): Promise<Map<string, string | null>> {
    const found = new Map<string, string | null>();
    for (let i = 0; i < eventIds.length; i += 500) {
      const chunk = eventIds.slice(i, i + 500);
      const rows = await this.#sql.query<{ event_id: string; publisher_device_id: string | null }>(
        `SELECT event_id, publisher_device_id FROM cloudplugs_private_records
         WHERE event_id IN (${chunk.map(() => '?').join(', ')})`,
        chunk,
      );
      for (const row of rows) found.set(row.event_id, row.publisher_device_id);
    }
    return found;
  }
}

function toDeviceRow(row: DeviceSqlRow): PlugDeviceRow {
  return {
    deviceId: row.device_id,
    plugId: row.plug_id,
    kind: row.kind,
    templateId: row.template_id,
    hwid: row.hwid,
    status: row.status,
    perm: JSON.parse(row.perm) as PermFilter,
    authHash: row.auth_hash,
    controls: JSON.parse(row.controls) as string[],
    location: row.location === null ? null : (JSON.parse(row.location) as PlugLocation),
    createdAt: Number(row.created_at),
  };
}
