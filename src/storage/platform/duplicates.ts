/**
 * Maps a unique-constraint violation of either database to the contract's `DuplicateError`, naming what was
 * duplicated. SQLite names the columns in its message ("UNIQUE constraint failed: devices.org_id, devices.name");
 * PostgreSQL names the constraint, which the schema leaves at PostgreSQL's default name (`<table>_<columns>_key`,
 * `<table>_pkey`).
 */
import { DuplicateError } from '../platform-store.js';

interface UniqueKey {
  /** The column list in SQLite's message. */
  sqlite: string;
  /** The PostgreSQL constraint name. */
  postgres: string;
  what: string;
}

const uniqueKeys: readonly UniqueKey[] = [
  { sqlite: 'organizations.id', postgres: 'organizations_pkey', what: 'organization id' },
  { sqlite: 'zones.id', postgres: 'zones_pkey', what: 'zone id' },
  { sqlite: 'systems.id', postgres: 'systems_pkey', what: 'system id' },
  { sqlite: 'profiles.id', postgres: 'profiles_pkey', what: 'profile id' },
  { sqlite: 'profiles.org_id, profiles.name', postgres: 'profiles_org_id_name_key', what: 'profile name' },
  { sqlite: 'profiles.provision_key', postgres: 'profiles_provision_key_key', what: 'provision key' },
  { sqlite: 'devices.id', postgres: 'devices_id_key', what: 'device id' },
  { sqlite: 'devices.org_id, devices.name', postgres: 'devices_org_id_name_key', what: 'device name' },
  {
    sqlite: 'device_credentials.credentials_id',
    postgres: 'device_credentials_credentials_id_key',
    what: 'credentials',
  },
  { sqlite: 'users.id', postgres: 'users_pkey', what: 'user id' },
  { sqlite: 'users.username', postgres: 'users_username_key', what: 'username' },
  { sqlite: 'organizations.mqtt_id', postgres: 'organizations_mqtt_id', what: 'organization mqttId' },
  { sqlite: 'users.email', postgres: 'users_email', what: 'email' },
  { sqlite: 'users.mqtt_id', postgres: 'users_mqtt_id', what: 'user mqttId' },
  { sqlite: 'api_keys.id', postgres: 'api_keys_pkey', what: 'api key id' },
  { sqlite: 'api_keys.key_hash', postgres: 'api_keys_key_hash_key', what: 'api key' },
  { sqlite: 'events.id', postgres: 'events_id_key', what: 'event id' },
];

const sqlitePrefix = 'UNIQUE constraint failed: ';

/** `error` as a DuplicateError when it is an SQLite unique violation of a known key, else `error` itself. */
export function fromSqliteError(error: unknown): unknown {
  if (!(error instanceof Error) || !('code' in error)) return error;
  if (error.code !== 'SQLITE_CONSTRAINT_UNIQUE' && error.code !== 'SQLITE_CONSTRAINT_PRIMARYKEY') return error;
  if (!error.message.startsWith(sqlitePrefix)) return error;
  const columns = error.message.slice(sqlitePrefix.length);
  const key = uniqueKeys.find((candidate) => candidate.sqlite === columns);
  return key === undefined ? error : new DuplicateError(key.what, { cause: error });
}

/** `error` as a DuplicateError when it is a PostgreSQL unique violation (23505) of a known key, else `error`. */
export function fromPostgresError(error: unknown): unknown {
  if (!(error instanceof Error) || !('code' in error) || error.code !== '23505') return error;
  const constraint = 'constraint' in error ? error.constraint : undefined;
  const key = uniqueKeys.find((candidate) => candidate.postgres === constraint);
  return key === undefined ? error : new DuplicateError(key.what, { cause: error });
}
