/**
 * ThingsBoard firmware and software updates (device-apis.md §3.2 `v2/fw/…`, `v2/sw/…`; §3.10 `/api/v1/{token}/
 * firmware`): OTA packages stored per organization, assigned to a device profile (every device of it) or to one
 * device (which wins over its profile). A device learns of its package the ThingsBoard way, through shared attributes
 * `fw_title`, `fw_version`, `fw_size`, `fw_checksum`, `fw_checksum_algorithm` (`sw_…` for software), and downloads
 * it in chunks of the size it asks for. Packages live in module tables (src/storage/platform/module-sql.ts); a chunk
 * is read from the database with a substring, so a large package is never held in memory whole.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { InUseError, InvalidEntityError, NotFoundError } from '../../platform/entities.js';
import type { DataValue, Device } from '../../platform/model.js';
import type { Platform } from '../../platform/platform.js';
import { DuplicateError, type ModuleSchema, type ModuleSql } from '../../storage/index.js';

export type OtaType = 'FIRMWARE' | 'SOFTWARE';
export const OTA_TYPES: readonly OtaType[] = ['FIRMWARE', 'SOFTWARE'];

export interface OtaPackage {
  id: string;
  orgId: string;
  type: OtaType;
  title: string;
  version: string;
  contentType: string;
  /** Bytes. */
  size: number;
  /** SHA-256 of the data, hex (ThingsBoard's default checksum algorithm). */
  checksum: string;
  checksumAlgorithm: 'SHA256';
  createdAt: number;
}

export interface NewOtaPackage {
  type: OtaType;
  title: string;
  version: string;
  contentType?: string | undefined;
  data: Buffer;
}

const SCHEMA: ModuleSchema = {
  module: 'ota',
  sqlite: [
    `CREATE TABLE ota_packages (
       id TEXT PRIMARY KEY,
       org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
       type TEXT NOT NULL CHECK (type IN ('FIRMWARE', 'SOFTWARE')),
       title TEXT NOT NULL,
       version TEXT NOT NULL,
       content_type TEXT NOT NULL,
       size INTEGER NOT NULL,
       checksum TEXT NOT NULL,
       data BLOB NOT NULL,
       created_at INTEGER NOT NULL,
       UNIQUE (org_id, type, title, version)
     ) STRICT;
     CREATE TABLE ota_assignments (
       target_id TEXT NOT NULL,
       type TEXT NOT NULL CHECK (type IN ('FIRMWARE', 'SOFTWARE')),
       package_id TEXT NOT NULL REFERENCES ota_packages (id) ON DELETE CASCADE,
       PRIMARY KEY (target_id, type)
     ) STRICT;
     CREATE INDEX ota_assignments_package ON ota_assignments (package_id);`,
  ],
  postgres: [
    `CREATE TABLE ota_packages (
       id text PRIMARY KEY,
       org_id text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
       type text NOT NULL CHECK (type IN ('FIRMWARE', 'SOFTWARE')),
       title text NOT NULL,
       version text NOT NULL,
       content_type text NOT NULL,
       size bigint NOT NULL,
       checksum text NOT NULL,
       data bytea NOT NULL,
       created_at bigint NOT NULL,
       UNIQUE (org_id, type, title, version)
     );
     CREATE TABLE ota_assignments (
       target_id text NOT NULL,
       type text NOT NULL CHECK (type IN ('FIRMWARE', 'SOFTWARE')),
       package_id text NOT NULL REFERENCES ota_packages (id) ON DELETE CASCADE,
       PRIMARY KEY (target_id, type)
     );
     CREATE INDEX ota_assignments_package ON ota_assignments (package_id);`,
  ],
};

interface PackageRow {
  id: string;
  org_id: string;
  type: string;
  title: string;
  version: string;
  content_type: string;
  size: number;
  checksum: string;
  created_at: number;
}
const PACKAGE_COLUMNS = 'id, org_id, type, title, version, content_type, size, checksum, created_at';

function toPackage(row: PackageRow): OtaPackage {
  return {
    id: row.id,
    orgId: row.org_id,
    type: row.type as OtaType,
    title: row.title,
    version: row.version,
    contentType: row.content_type,
    size: row.size,
    checksum: row.checksum,
    checksumAlgorithm: 'SHA256',
    createdAt: row.created_at,
  };
}

/** `fw` / `sw`: the prefix of the shared attributes and topics of a type. */
export function otaPrefix(type: OtaType): 'fw' | 'sw' {
  return type === 'FIRMWARE' ? 'fw' : 'sw';
}

const DEVICE_PAGE = 1000;

export class OtaService {
  readonly #platform: Platform;
  readonly #sql: ModuleSql;

  private constructor(platform: Platform, sql: ModuleSql, logger: Logger) {
    this.#platform = platform;
    this.#sql = sql;
    // A device created in, or moved to, a profile with a package learns of it as an assignment would tell it.
    platform.entities.changes.subscribe((change) => {
      if ((change.entity === 'device' || change.entity === 'profile') && change.op === 'deleted') {
        // Assignments name a device or a profile, so no foreign key removes them: they go with their target here.
        void sql.run('DELETE FROM ota_assignments WHERE target_id = ?', [change.id]).catch((error: unknown) => {
          logger.error({ err: error, id: change.id }, 'could not remove the OTA assignments of a deleted entity');
        });
        return;
      }
      if (change.entity !== 'device' || change.after === undefined) return;
      if (change.op === 'updated' && change.before?.profileId === change.after.profileId) return;
      const device = change.after;
      void (async () => {
        for (const type of OTA_TYPES) {
          if ((await this.packageFor(device, type)) !== undefined || change.op === 'updated') {
            await this.#announce(device, type);
          }
        }
      })().catch((error: unknown) => {
        logger.error({ err: error, deviceId: device.id }, 'could not announce the OTA package of a device');
      });
    });
  }

  static async open(platform: Platform, logger: Logger): Promise<OtaService> {
    return new OtaService(platform, await platform.store.openModule(SCHEMA), logger);
  }

  /** Throws InvalidEntityError for an empty package, DuplicateError for a title and version the type has already. */
  async createPackage(orgId: string, input: NewOtaPackage): Promise<OtaPackage> {
    if (input.data.length === 0) throw new InvalidEntityError('the package is empty');
    const existing = await this.#sql.query(
      'SELECT id FROM ota_packages WHERE org_id = ? AND type = ? AND title = ? AND version = ?',
      [orgId, input.type, input.title, input.version],
    );
    if (existing.length > 0) throw new DuplicateError(`${input.type.toLowerCase()} ${input.title} ${input.version}`);
    const pkg: OtaPackage = {
      id: randomUUID(),
      orgId,
      type: input.type,
      title: input.title,
      version: input.version,
      contentType: input.contentType ?? 'application/octet-stream',
      size: input.data.length,
      checksum: createHash('sha256').update(input.data).digest('hex'),
      checksumAlgorithm: 'SHA256',
      createdAt: Date.now(),
    };
    await this.#sql.run(
      `INSERT INTO ota_packages (id, org_id, type, title, version, content_type, size, checksum, data, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        pkg.id,
        orgId,
        pkg.type,
        pkg.title,
        pkg.version,
        pkg.contentType,
        pkg.size,
        pkg.checksum,
        input.data,
        pkg.createdAt,
      ],
    );
    return pkg;
  }

  async listPackages(orgId: string): Promise<OtaPackage[]> {
    const rows = await this.#sql.query<PackageRow>(
      `SELECT ${PACKAGE_COLUMNS} FROM ota_packages WHERE org_id = ? ORDER BY type, title, created_at`,
      [orgId],
    );
    return rows.map(toPackage);
  }

  async getPackage(orgId: string, id: string): Promise<OtaPackage | undefined> {
    const [row] = await this.#sql.query<PackageRow>(
      `SELECT ${PACKAGE_COLUMNS} FROM ota_packages WHERE id = ? AND org_id = ?`,
      [id, orgId],
    );
    return row && toPackage(row);
  }

  /** `length` bytes from `offset` (fewer at the end, none past it). */
  async readData(id: string, offset: number, length: number): Promise<Buffer> {
    if (length <= 0) return Buffer.alloc(0);
    // Both databases count from 1; a substring past the end is empty.
    const sql =
      this.#sql.kind === 'sqlite'
        ? 'SELECT substr(data, ?, ?) AS part FROM ota_packages WHERE id = ?'
        : 'SELECT substring(data FROM ?::int FOR ?::int) AS part FROM ota_packages WHERE id = ?';
    const [row] = await this.#sql.query<{ part: Buffer | null }>(sql, [offset + 1, length, id]);
    return row?.part ?? Buffer.alloc(0);
  }

  /** Refuses (InUseError) a package still assigned to a profile or device. */
  async deletePackage(orgId: string, id: string): Promise<boolean> {
    if ((await this.getPackage(orgId, id)) === undefined) return false;
    const assigned = await this.#sql.query('SELECT 1 FROM ota_assignments WHERE package_id = ?', [id]);
    if (assigned.length > 0) throw new InUseError('the package is assigned; unassign it first');
    return (await this.#sql.run('DELETE FROM ota_packages WHERE id = ?', [id])) > 0;
  }

  /**
   * Assigns (or with `packageId` null, unassigns) the package of a type to a profile or a device of the
   * organization, then tells every affected device through its shared attributes.
   */
  async assign(
    orgId: string,
    target: { profileId: string } | { deviceId: string },
    type: OtaType,
    packageId: string | null,
  ): Promise<void> {
    const targetId = 'profileId' in target ? target.profileId : target.deviceId;
    const exists =
      'profileId' in target
        ? (await this.#platform.entities.getProfile(orgId, targetId)) !== undefined
        : (await this.#platform.entities.getDevice(orgId, targetId)) !== undefined;
    if (!exists) throw new NotFoundError('profileId' in target ? 'profile' : 'device');
    if (packageId !== null) {
      const pkg = await this.getPackage(orgId, packageId);
      if (pkg === undefined) throw new NotFoundError('package');
      if (pkg.type !== type) throw new InvalidEntityError(`the package is ${pkg.type}, not ${type}`);
      await this.#sql.batch([
        { sql: 'DELETE FROM ota_assignments WHERE target_id = ? AND type = ?', params: [targetId, type] },
        {
          sql: 'INSERT INTO ota_assignments (target_id, type, package_id) VALUES (?, ?, ?)',
          params: [targetId, type, packageId],
        },
      ]);
    } else {
      await this.#sql.run('DELETE FROM ota_assignments WHERE target_id = ? AND type = ?', [targetId, type]);
    }
    const devices =
      'deviceId' in target
        ? [(await this.#platform.entities.getDevice(orgId, targetId))!]
        : await this.#devicesOfProfile(orgId, targetId);
    for (const device of devices) await this.#announce(device, type);
  }

  /** The package a device should run: its own assignment, else its profile's. */
  async packageFor(device: Device, type: OtaType): Promise<OtaPackage | undefined> {
    const rows = await this.#sql.query<PackageRow & { target_id: string }>(
      `SELECT a.target_id, p.id, p.org_id, p.type, p.title, p.version, p.content_type, p.size, p.checksum, p.created_at
       FROM ota_assignments a JOIN ota_packages p ON p.id = a.package_id
       WHERE a.type = ? AND a.target_id IN (?, ?) AND p.org_id = ?`,
      [type, device.id, device.profileId, device.orgId],
    );
    const own = rows.find((row) => row.target_id === device.id) ?? rows[0];
    return own && toPackage(own);
  }

  /** Sets the device's `fw_…`/`sw_…` shared attributes to its package, or deletes them when it has none. */
  async #announce(device: Device, type: OtaType): Promise<void> {
    const prefix = otaPrefix(type);
    const pkg = await this.packageFor(device, type);
    if (pkg === undefined) {
      const keys = ['title', 'version', 'size', 'checksum', 'checksum_algorithm'].map((k) => `${prefix}_${k}`);
      await this.#platform.committed((done) => this.#platform.deleteAttributes(device, 'shared', keys, done));
      return;
    }
    const attributes: Record<string, DataValue> = {
      [`${prefix}_title`]: pkg.title,
      [`${prefix}_version`]: pkg.version,
      [`${prefix}_size`]: pkg.size,
      [`${prefix}_checksum`]: pkg.checksum,
      [`${prefix}_checksum_algorithm`]: pkg.checksumAlgorithm,
    };
    await this.#platform.committed((done) => this.#platform.postAttributes(device, 'shared', attributes, done));
  }

  async #devicesOfProfile(orgId: string, profileId: string): Promise<Device[]> {
    const out: Device[] = [];
    for (let offset = 0; ; offset += DEVICE_PAGE) {
      const page = await this.#platform.store.listDevices(orgId, { limit: DEVICE_PAGE, offset });
      out.push(...page.filter((device) => device.profileId === profileId));
      if (page.length < DEVICE_PAGE) return out;
    }
  }
}
