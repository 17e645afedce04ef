/**
 * The SQLite platform store's schema as an ordered list of migrations: `MIGRATIONS[n]` takes a database from
 * `PRAGMA user_version` n to n + 1. Append a migration to change the schema; never edit a released one.
 */
import type Database from 'better-sqlite3';

/**
 * Version 1. Tables are STRICT; checks use BETWEEN rather than IN lists where a row is written per data point (see
 * sqlite-schema.ts: an IN list costs about 1 µs per row). Entities reference their organization with ON DELETE
 * CASCADE. Device data is keyed by the device's integer `seq`, not its text id: smaller rows and indexes, and a
 * surrogate that AUTOINCREMENT never reuses. Telemetry, latest values and events carry no foreign key (a per-row check
 * on the hot path); the store deletes them itself with their device.
 */
const schemaV1 = `
CREATE TABLE organizations (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  retention_days INTEGER CHECK (retention_days >= 0),
  created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE zones (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  kind TEXT NOT NULL,
  parent_id TEXT REFERENCES zones (id) ON DELETE SET NULL,
  created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX zones_org_id ON zones (org_id);
CREATE INDEX zones_parent_id ON zones (parent_id);

CREATE TABLE systems (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  zone_id TEXT REFERENCES zones (id) ON DELETE SET NULL,
  created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX systems_org_id ON systems (org_id);
CREATE INDEX systems_zone_id ON systems (zone_id);

CREATE TABLE profiles (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  payload_type TEXT NOT NULL CHECK (payload_type IN ('JSON', 'PROTOBUF')),
  proto_schemas TEXT NOT NULL,
  provisioning TEXT,
  provision_key TEXT UNIQUE,
  send_ack_on_validation_failure INTEGER NOT NULL CHECK (send_ack_on_validation_failure BETWEEN 0 AND 1),
  is_default INTEGER NOT NULL CHECK (is_default BETWEEN 0 AND 1),
  created_at INTEGER NOT NULL,
  UNIQUE (org_id, name)
) STRICT;

CREATE TABLE devices (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  profile_id TEXT NOT NULL,
  zone_id TEXT REFERENCES zones (id) ON DELETE SET NULL,
  system_id TEXT REFERENCES systems (id) ON DELETE SET NULL,
  idx INTEGER,
  is_gateway INTEGER NOT NULL CHECK (is_gateway BETWEEN 0 AND 1),
  gateway_id TEXT REFERENCES devices (id) ON DELETE SET NULL,
  created_at INTEGER NOT NULL,
  UNIQUE (org_id, name)
) STRICT;
CREATE INDEX devices_name ON devices (name);
CREATE INDEX devices_zone_id ON devices (zone_id);
CREATE INDEX devices_system_id ON devices (system_id);
CREATE INDEX devices_gateway_id ON devices (gateway_id);

-- credentials_id: see credentialsKey(); unique across every credential type.
CREATE TABLE device_credentials (
  device_seq INTEGER PRIMARY KEY REFERENCES devices (seq) ON DELETE CASCADE,
  credentials_id TEXT NOT NULL UNIQUE,
  credentials TEXT NOT NULL
) STRICT;

CREATE TABLE users (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  username TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
  password_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX users_org_id ON users (org_id);

CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
  prefix TEXT NOT NULL,
  key_hash TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX api_keys_org_id ON api_keys (org_id);

-- The key dictionary: telemetry rows carry a small integer instead of the key text.
CREATE TABLE telemetry_keys (
  id INTEGER PRIMARY KEY,
  key TEXT NOT NULL UNIQUE
) STRICT;

-- One B-tree clustered by (device, ts, key): the points of one device and instant are neighbours, so a commit of
-- messages from N devices dirties about N leaf pages, not N x keys (with 5 keys per message: 3x the acknowledged
-- points/s and a third of the commit time, measured with bench g's batch shape). A range or aggregate of one key is
-- still one contiguous scan of the device's time range; it reads the device's other keys in that range too, a cost
-- that grows with how many keys the device reports.
CREATE TABLE telemetry (
  device_seq INTEGER NOT NULL,
  key_id INTEGER NOT NULL,
  ts INTEGER NOT NULL,
  type INTEGER NOT NULL CHECK (type BETWEEN 0 AND 4),
  bool_v INTEGER,
  long_v INTEGER,
  dbl_v REAL,
  str_v TEXT,
  json_v TEXT,
  PRIMARY KEY (device_seq, ts, key_id)
) STRICT, WITHOUT ROWID;

-- The newest point per (device, key), maintained in the write transaction; also the list of a device's keys.
CREATE TABLE latest (
  device_seq INTEGER NOT NULL,
  key_id INTEGER NOT NULL,
  ts INTEGER NOT NULL,
  type INTEGER NOT NULL CHECK (type BETWEEN 0 AND 4),
  bool_v INTEGER,
  long_v INTEGER,
  dbl_v REAL,
  str_v TEXT,
  json_v TEXT,
  PRIMARY KEY (device_seq, key_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE attributes (
  device_seq INTEGER NOT NULL REFERENCES devices (seq) ON DELETE CASCADE,
  scope TEXT NOT NULL CHECK (scope IN ('client', 'shared', 'server')),
  key TEXT NOT NULL,
  type INTEGER NOT NULL CHECK (type BETWEEN 0 AND 4),
  bool_v INTEGER,
  long_v INTEGER,
  dbl_v REAL,
  str_v TEXT,
  json_v TEXT,
  last_update_ts INTEGER NOT NULL,
  PRIMARY KEY (device_seq, scope, key)
) STRICT, WITHOUT ROWID;

-- seq orders events with the same time by arrival and keys the bounded retention deletes.
CREATE TABLE events (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  org_id TEXT NOT NULL,
  device_seq INTEGER NOT NULL,
  stream TEXT NOT NULL,
  at INTEGER NOT NULL,
  at_text TEXT,
  data TEXT NOT NULL,
  expires_at INTEGER
) STRICT;
CREATE INDEX events_device_at ON events (device_seq, at);
CREATE INDEX events_org_at ON events (org_id, at);
CREATE INDEX events_org_expires_at ON events (org_id, expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE rpcs (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL,
  device_seq INTEGER NOT NULL REFERENCES devices (seq) ON DELETE CASCADE,
  request_id INTEGER NOT NULL,
  method TEXT NOT NULL,
  params TEXT NOT NULL,
  is_oneway INTEGER NOT NULL CHECK (is_oneway BETWEEN 0 AND 1),
  is_persistent INTEGER NOT NULL CHECK (is_persistent BETWEEN 0 AND 1),
  status TEXT NOT NULL
    CHECK (status IN ('QUEUED', 'SENT', 'DELIVERED', 'SUCCESSFUL', 'TIMEOUT', 'EXPIRED', 'FAILED')),
  response TEXT,
  expiration_time INTEGER NOT NULL,
  retries INTEGER NOT NULL,
  max_retries INTEGER NOT NULL,
  additional_info TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX rpcs_device_created_at ON rpcs (device_seq, created_at);
`;

/**
 * Version 2: the fields the CloudPlugs, Medium One and PlaceOS dialects need on core entities (organization and user
 * MQTT ids, user e-mail, a system's zones, a profile's driver id), and `module_migrations`, the version of each
 * module's own tables (module-store.ts). Existing organizations and users get generated MQTT ids. `systems.zone_id`
 * is kept but no longer written: `zone_ids` (a JSON array) replaces it.
 */
const schemaV2 = `
ALTER TABLE organizations ADD COLUMN mqtt_id TEXT;
UPDATE organizations SET mqtt_id = lower(hex(randomblob(8)));
CREATE UNIQUE INDEX organizations_mqtt_id ON organizations (mqtt_id);

ALTER TABLE users ADD COLUMN email TEXT;
CREATE UNIQUE INDEX users_email ON users (email);
ALTER TABLE users ADD COLUMN mqtt_id TEXT;
UPDATE users SET mqtt_id = lower(hex(randomblob(8)));
CREATE UNIQUE INDEX users_mqtt_id ON users (mqtt_id);

ALTER TABLE systems ADD COLUMN zone_ids TEXT NOT NULL DEFAULT '[]';
UPDATE systems SET zone_ids = json_array(zone_id) WHERE zone_id IS NOT NULL;

ALTER TABLE profiles ADD COLUMN driver_id TEXT;

CREATE TABLE module_migrations (
  module TEXT PRIMARY KEY,
  version INTEGER NOT NULL
) STRICT;
`;

const MIGRATIONS: readonly string[] = [schemaV1, schemaV2];

/** The schema version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the database to `SCHEMA_VERSION` in one IMMEDIATE transaction (a second process opening the same file
 * waits on the write lock, then sees the migrated version). Throws when the file is newer than this code.
 */
export function migrate(db: Database.Database): void {
  db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new Error(`schema version ${version} is newer than the supported version ${SCHEMA_VERSION}`);
    }
    for (let next = version; next < SCHEMA_VERSION; next++) db.exec(MIGRATIONS[next]!);
    if (version !== SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}
