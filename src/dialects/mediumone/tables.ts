/**
 * The dialect's own tables (module `mediumone`, opened with `platform.store.openModule`): groups and the devices they
 * hold, and which users sent events for which devices (a user's devices, for the REST event query). Rows follow the
 * core rows they name (`ON DELETE CASCADE`); the same SQL runs on SQLite and PostgreSQL.
 */
import { randomUUID } from 'node:crypto';
import type { ModuleSchema, ModuleSql } from '../../storage/platform-store.js';

export const MEDIUMONE_SCHEMA: ModuleSchema = {
  module: 'mediumone',
  sqlite: [
    `CREATE TABLE mediumone_groups (
       id TEXT PRIMARY KEY,
       org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
       name TEXT NOT NULL,
       created_at INTEGER NOT NULL,
       UNIQUE (org_id, name)
     );
     CREATE TABLE mediumone_group_devices (
       group_id TEXT NOT NULL REFERENCES mediumone_groups (id) ON DELETE CASCADE,
       device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
       added_at INTEGER NOT NULL,
       PRIMARY KEY (group_id, device_id)
     );
     CREATE INDEX mediumone_group_devices_device ON mediumone_group_devices (device_id);
     CREATE TABLE mediumone_user_devices (
       user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
       device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
       PRIMARY KEY (user_id, device_id)
     );
     CREATE INDEX mediumone_user_devices_device ON mediumone_user_devices (device_id);`,
  ],
  postgres: [
    `CREATE TABLE mediumone_groups (
       id text PRIMARY KEY,
       org_id text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
       name text NOT NULL,
       created_at bigint NOT NULL,
       UNIQUE (org_id, name)
     );
     CREATE TABLE mediumone_group_devices (
       group_id text NOT NULL REFERENCES mediumone_groups (id) ON DELETE CASCADE,
       device_id text NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
       added_at bigint NOT NULL,
       PRIMARY KEY (group_id, device_id)
     );
     CREATE INDEX mediumone_group_devices_device ON mediumone_group_devices (device_id);
     CREATE TABLE mediumone_user_devices (
       user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
       device_id text NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
       PRIMARY KEY (user_id, device_id)
     );
     CREATE INDEX mediumone_user_devices_device ON mediumone_user_devices (device_id);`,
  ],
};

/** A Medium One group: its `name` is the `<group_id>` of `2/<project>/<group_id>/<type>`. */
export interface Group {
  id: string;
  orgId: string;
  name: string;
  createdAt: number;
}

interface GroupRow {
  id: string;
  org_id: string;
  name: string;
  created_at: number | string;
}

function toGroup(row: GroupRow): Group {
  // PostgreSQL returns bigint as a string.
  return { id: row.id, orgId: row.org_id, name: row.name, createdAt: Number(row.created_at) };
}

/** A group name already taken in the organization. */
export class DuplicateGroupError extends Error {
  override readonly name = 'DuplicateGroupError';
  readonly code = 'DUPLICATE';
}

/** Groups, memberships and users' devices. */
export class MediumOneTables {
  readonly #sql: ModuleSql;

  constructor(sql: ModuleSql) {
    this.#sql = sql;
  }

  async createGroup(orgId: string, name: string): Promise<Group> {
    const group: Group = { id: randomUUID(), orgId, name, createdAt: Date.now() };
    // ON CONFLICT DO NOTHING on both stores: a taken name is told apart from a failure without parsing driver errors.
    const inserted = await this.#sql.run(
      'INSERT INTO mediumone_groups (id, org_id, name, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
      [group.id, orgId, name, group.createdAt],
    );
    if (inserted === 0) throw new DuplicateGroupError(`group name ${JSON.stringify(name)} already exists`);
    return group;
  }

  async listGroups(orgId: string): Promise<Group[]> {
    const rows = await this.#sql.query<GroupRow>(
      'SELECT id, org_id, name, created_at FROM mediumone_groups WHERE org_id = ? ORDER BY name',
      [orgId],
    );
    return rows.map(toGroup);
  }

  /** The group with this id (or, failing that, this name) in the organization. */
  async findGroup(orgId: string, idOrName: string): Promise<Group | undefined> {
    const rows = await this.#sql.query<GroupRow>(
      'SELECT id, org_id, name, created_at FROM mediumone_groups WHERE org_id = ? AND (id = ? OR name = ?) ORDER BY (id = ?) DESC LIMIT 1',
      [orgId, idOrName, idOrName, idOrName],
    );
    return rows[0] === undefined ? undefined : toGroup(rows[0]);
  }

  async deleteGroup(orgId: string, id: string): Promise<boolean> {
    return (await this.#sql.run('DELETE FROM mediumone_groups WHERE org_id = ? AND id = ?', [orgId, id])) > 0;
  }

  /** Adds a device (idempotent); false when it was already a member. */
  async addDevice(groupId: string, deviceId: string): Promise<boolean> {
    const inserted = await this.#sql.run(
      'INSERT INTO mediumone_group_devices (group_id, device_id, added_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
      [groupId, deviceId, Date.now()],
    );
    return inserted > 0;
  }

  async removeDevice(groupId: string, deviceId: string): Promise<boolean> {
    const deleted = await this.#sql.run('DELETE FROM mediumone_group_devices WHERE group_id = ? AND device_id = ?', [
      groupId,
      deviceId,
    ]);
    return deleted > 0;
  }

  /** Ids of the group's devices that are still in `orgId` (a claimed-away device drops out), by when they were added. */
  async groupDeviceIds(groupId: string, orgId: string): Promise<string[]> {
    const rows = await this.#sql.query<{ device_id: string }>(
      `SELECT gd.device_id FROM mediumone_group_devices gd JOIN devices d ON d.id = gd.device_id
       WHERE gd.group_id = ? AND d.org_id = ? ORDER BY gd.added_at, gd.device_id`,
      [groupId, orgId],
    );
    return rows.map((row) => row.device_id);
  }

  /** Records that the user sent events for the device (idempotent). */
  async linkUserDevice(userId: string, deviceId: string): Promise<void> {
    await this.#sql.run(
      'INSERT INTO mediumone_user_devices (user_id, device_id) VALUES (?, ?) ON CONFLICT DO NOTHING',
      [userId, deviceId],
    );
  }

  /** The devices the user sent events for that are still in `orgId`. */
  async userDeviceIds(userId: string, orgId: string): Promise<string[]> {
    const rows = await this.#sql.query<{ device_id: string }>(
      `SELECT ud.device_id FROM mediumone_user_devices ud JOIN devices d ON d.id = ud.device_id
       WHERE ud.user_id = ? AND d.org_id = ? ORDER BY ud.device_id`,
      [userId, orgId],
    );
    return rows.map((row) => row.device_id);
  }
}
