/**
 * The PostgreSQL platform store's schema as an ordered list of migrations, applied at start under an advisory lock
 * and recorded in `schema_migrations` (one row per version). Append a migration to change the schema; never edit a
 * released one. Column names match the SQLite schema so both stores share their row mappers (platform-rows.ts).
 * Unique constraints keep PostgreSQL's default names, which duplicates.ts maps to DuplicateError.
 */
import type pg from 'pg';

/**
 * Version 1. Device data is keyed by the device's integer `seq`: telemetry rows are (int4, int4, int8) + value,
 * and the primary key (device_seq, key_id, ts) makes a range or an aggregate window one index range scan at any
 * table size. Telemetry, latest values and events carry no foreign key (a per-row trigger on the hot path); the write
 * batch instead locks its devices FOR KEY SHARE, and the store deletes their data itself with the device.
 */
const schemaV1 = `
CREATE TABLE organizations (
  id text PRIMARY KEY,
  name text NOT NULL,
  retention_days integer CHECK (retention_days >= 0),
  created_at bigint NOT NULL
);

CREATE TABLE zones (
  id text PRIMARY KEY,
  org_id text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  name text NOT NULL,
  kind text NOT NULL,
  parent_id text REFERENCES zones (id) ON DELETE SET NULL,
  created_at bigint NOT NULL
);
CREATE INDEX zones_org_id ON zones (org_id);
CREATE INDEX zones_parent_id ON zones (parent_id);

CREATE TABLE systems (
  id text PRIMARY KEY,
  org_id text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  name text NOT NULL,
  zone_id text REFERENCES zones (id) ON DELETE SET NULL,
  created_at bigint NOT NULL
);
CREATE INDEX systems_org_id ON systems (org_id);
CREATE INDEX systems_zone_id ON systems (zone_id);

CREATE TABLE profiles (
  id text PRIMARY KEY,
  org_id text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  name text NOT NULL,
  payload_type text NOT NULL CHECK (payload_type IN ('JSON', 'PROTOBUF')),
  proto_schemas text NOT NULL,
  provisioning text,
  provision_key text UNIQUE,
  send_ack_on_validation_failure boolean NOT NULL,
  is_default boolean NOT NULL,
  created_at bigint NOT NULL,
  UNIQUE (org_id, name)
);

CREATE TABLE devices (
  seq integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id text NOT NULL UNIQUE,
  org_id text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  name text NOT NULL,
  profile_id text NOT NULL,
  zone_id text REFERENCES zones (id) ON DELETE SET NULL,
  system_id text REFERENCES systems (id) ON DELETE SET NULL,
  idx integer,
  is_gateway boolean NOT NULL,
  gateway_id text REFERENCES devices (id) ON DELETE SET NULL,
  created_at bigint NOT NULL,
  UNIQUE (org_id, name)
);
CREATE INDEX devices_name ON devices (name);
CREATE INDEX devices_zone_id ON devices (zone_id);
CREATE INDEX devices_system_id ON devices (system_id);
CREATE INDEX devices_gateway_id ON devices (gateway_id);

CREATE TABLE device_credentials (
  device_seq integer PRIMARY KEY REFERENCES devices (seq) ON DELETE CASCADE,
  credentials_id text NOT NULL UNIQUE,
  credentials text NOT NULL
);

CREATE TABLE users (
  id text PRIMARY KEY,
  org_id text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  username text NOT NULL UNIQUE,
  role text NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
  password_hash text NOT NULL,
  created_at bigint NOT NULL
);
CREATE INDEX users_org_id ON users (org_id);

CREATE TABLE api_keys (
  id text PRIMARY KEY,
  org_id text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  name text NOT NULL,
  role text NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
  prefix text NOT NULL,
  key_hash text NOT NULL UNIQUE,
  created_at bigint NOT NULL
);
CREATE INDEX api_keys_org_id ON api_keys (org_id);

CREATE TABLE telemetry_keys (
  id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  key text NOT NULL UNIQUE
);

CREATE TABLE telemetry (
  device_seq integer NOT NULL,
  key_id integer NOT NULL,
  ts bigint NOT NULL,
  type smallint NOT NULL CHECK (type BETWEEN 0 AND 4),
  bool_v boolean,
  long_v bigint,
  dbl_v double precision,
  str_v text,
  json_v text,
  PRIMARY KEY (device_seq, key_id, ts)
);

CREATE TABLE latest (
  device_seq integer NOT NULL,
  key_id integer NOT NULL,
  ts bigint NOT NULL,
  type smallint NOT NULL CHECK (type BETWEEN 0 AND 4),
  bool_v boolean,
  long_v bigint,
  dbl_v double precision,
  str_v text,
  json_v text,
  PRIMARY KEY (device_seq, key_id)
);

CREATE TABLE attributes (
  device_seq integer NOT NULL REFERENCES devices (seq) ON DELETE CASCADE,
  scope text NOT NULL CHECK (scope IN ('client', 'shared', 'server')),
  key text NOT NULL,
  type smallint NOT NULL CHECK (type BETWEEN 0 AND 4),
  bool_v boolean,
  long_v bigint,
  dbl_v double precision,
  str_v text,
  json_v text,
  last_update_ts bigint NOT NULL,
  PRIMARY KEY (device_seq, scope, key)
);

CREATE TABLE events (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id text NOT NULL UNIQUE,
  org_id text NOT NULL,
  device_seq integer NOT NULL,
  stream text NOT NULL,
  at bigint NOT NULL,
  at_text text,
  data text NOT NULL,
  expires_at bigint
);
CREATE INDEX events_device_at ON events (device_seq, at);
CREATE INDEX events_org_at ON events (org_id, at);
CREATE INDEX events_org_expires_at ON events (org_id, expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE rpcs (
  id text PRIMARY KEY,
  org_id text NOT NULL,
  device_seq integer NOT NULL REFERENCES devices (seq) ON DELETE CASCADE,
  request_id integer NOT NULL,
  method text NOT NULL,
  params text NOT NULL,
  is_oneway boolean NOT NULL,
  is_persistent boolean NOT NULL,
  status text NOT NULL
    CHECK (status IN ('QUEUED', 'SENT', 'DELIVERED', 'SUCCESSFUL', 'TIMEOUT', 'EXPIRED', 'FAILED')),
  response text,
  expiration_time bigint NOT NULL,
  retries integer NOT NULL,
  max_retries integer NOT NULL,
  additional_info text,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL
);
CREATE INDEX rpcs_device_created_at ON rpcs (device_seq, created_at);
`;

/** Version 2: as the SQLite schema's version 2 (sqlite-platform-schema.ts). */
const schemaV2 = `
ALTER TABLE organizations ADD COLUMN mqtt_id text;
UPDATE organizations SET mqtt_id = substr(md5(random()::text || id), 1, 16);
CREATE UNIQUE INDEX organizations_mqtt_id ON organizations (mqtt_id);

ALTER TABLE users ADD COLUMN email text;
CREATE UNIQUE INDEX users_email ON users (email);
ALTER TABLE users ADD COLUMN mqtt_id text;
UPDATE users SET mqtt_id = substr(md5(random()::text || id), 1, 16);
CREATE UNIQUE INDEX users_mqtt_id ON users (mqtt_id);

ALTER TABLE systems ADD COLUMN zone_ids text NOT NULL DEFAULT '[]';
UPDATE systems SET zone_ids = json_build_array(zone_id)::text WHERE zone_id IS NOT NULL;

ALTER TABLE profiles ADD COLUMN driver_id text;

CREATE TABLE module_migrations (
  module text PRIMARY KEY,
  version integer NOT NULL
);
`;

const MIGRATIONS: readonly string[] = [schemaV1, schemaV2];

/** The schema version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** First key of the two-int advisory lock; the second is the schema name's hash, so schemas migrate independently. */
const advisoryLockClass = 0x5b0a;

/**
 * Creates the schema if needed and applies every pending migration, each in its own transaction. Runs under a
 * session advisory lock, so two processes starting at once migrate one after the other (the second finds nothing to
 * do). Throws when the database is newer than this code.
 */
export async function migrate(client: pg.PoolClient, schema: string): Promise<void> {
  await client.query('SELECT pg_advisory_lock($1, hashtext($2))', [advisoryLockClass, schema]);
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${schema}.schema_migrations (
         version integer PRIMARY KEY,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const { rows } = await client.query<{ version: number | null }>(
      `SELECT max(version) AS version FROM ${schema}.schema_migrations`,
    );
    const version = rows[0]?.version ?? 0;
    if (version > SCHEMA_VERSION) {
      throw new Error(`schema version ${version} is newer than the supported version ${SCHEMA_VERSION}`);
    }
    for (let next = version; next < SCHEMA_VERSION; next++) {
      await client.query('BEGIN');
      try {
        await client.query(`SET LOCAL search_path TO ${schema}`);
        await client.query(MIGRATIONS[next]!);
        await client.query(`INSERT INTO ${schema}.schema_migrations (version) VALUES ($1)`, [next + 1]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      }
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [advisoryLockClass, schema]);
  }
}
