/**
 * The two platform stores the platform scenarios (g, h) measure, each fresh per scenario: SQLite in a new data
 * directory (`<dataDir>/platform.db`, where the server opens it), or a new PostgreSQL database created through
 * `--postgres-url` and dropped afterwards. The bench opens the same store directly for seeding and for checking
 * what was stored, never while Switchboard has it open.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { PlatformStore } from '../src/storage/platform-store.js';
import { PostgresPlatformStore, SqlitePlatformStore } from '../src/storage/index.js';

export type BackendKind = 'sqlite' | 'postgres';

/** Columns of the platform table, in order. */
export const BACKENDS: readonly { kind: BackendKind; name: string }[] = [
  { kind: 'sqlite', name: 'SQLite' },
  { kind: 'postgres', name: 'PostgreSQL' },
];

export function backendName(kind: BackendKind): string {
  return BACKENDS.find((backend) => backend.kind === kind)?.name ?? kind;
}

/** The file the server opens when `database.url` is unset (src/server.ts). */
const SQLITE_FILE_NAME = 'platform.db';
/** A PostgreSQL that does not answer within this is reported as unreachable. */
const CONNECT_TIMEOUT_MS = 5_000;

/** A fresh, empty platform database for one scenario run. */
export interface PlatformDatabase {
  kind: BackendKind;
  /** Switchboard's data directory (broker store, JWT key; the platform store too on SQLite). */
  dataDir: string;
  /** Environment that points Switchboard at this database. */
  env: Record<string, string>;
  description: string;
  /**
   * Processes of the database server doing this database's work (PostgreSQL: its backends, and the WAL writer,
   * checkpointer and background writer they share), for their CPU; none for SQLite, which runs inside Switchboard.
   */
  serverPids(): Promise<number[]>;
  /** Opens the platform store directly (migrating an empty database); the caller closes it. */
  openStore(): Promise<PlatformStore>;
  /** Deletes the data directory and drops the database; never throws. */
  dispose(): Promise<void>;
}

/** A database could not be created: the reason, shown in the table's notes and the skipped column. */
export interface SkippedDatabase {
  skipped: string;
}

/** Creates a fresh database of `kind`. PostgreSQL being unreachable is a skip, not an error. */
export async function createDatabase(
  kind: BackendKind,
  postgresUrl: string,
): Promise<PlatformDatabase | SkippedDatabase> {
  const dataDir = mkdtempSync(join(tmpdir(), `switchboard-bench-${kind}-`));
  const removeDataDir = (): void => rmSync(dataDir, { recursive: true, force: true });
  if (kind === 'sqlite') {
    const file = join(dataDir, SQLITE_FILE_NAME);
    return {
      kind,
      dataDir,
      env: {},
      description: `SQLite ${file}`,
      serverPids: () => Promise.resolve([]),
      openStore: () => SqlitePlatformStore.open(file),
      dispose: () => Promise.resolve(removeDataDir()),
    };
  }
  // Lower-case letters and digits only: a valid unquoted identifier, so it can be spliced into CREATE/DROP.
  const name = `sb_bench_${randomBytes(6).toString('hex')}`;
  try {
    await adminQuery(postgresUrl, `CREATE DATABASE ${name}`);
  } catch (error) {
    removeDataDir();
    return {
      skipped: `PostgreSQL at ${redacted(postgresUrl)} unusable: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
  const url = new URL(postgresUrl);
  url.pathname = `/${name}`;
  return {
    kind,
    dataDir,
    env: { SWITCHBOARD_DATABASE_URL: url.toString() },
    description: `PostgreSQL database ${name} at ${redacted(postgresUrl)}`,
    serverPids: async () => {
      const rows = await adminQuery<{ pid: number }>(
        postgresUrl,
        `SELECT pid FROM pg_stat_activity
          WHERE datname = $1 OR backend_type IN ('walwriter', 'checkpointer', 'background writer')`,
        [name],
      );
      return rows.map((row) => row.pid);
    },
    // In the schema the server uses by default (`database.schema`: switchboard), which the bench does not change.
    openStore: () => PostgresPlatformStore.open(url.toString()),
    dispose: async () => {
      removeDataDir();
      // FORCE (PostgreSQL 13+) ends any session still connected, e.g. of a server that was killed mid-run.
      await adminQuery(postgresUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch((error: unknown) => {
        process.stderr.write(
          `could not drop database ${name}: ${error instanceof Error ? error.message : String(error)}\n`,
        );
      });
    },
  };
}

/** One statement on its own connection to the `--postgres-url` database (CREATE/DROP DATABASE need no transaction). */
async function adminQuery<Row extends pg.QueryResultRow = pg.QueryResultRow>(
  url: string,
  sql: string,
  values: unknown[] = [],
): Promise<Row[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  // A connection error after connect (server shutting down) must not become an uncaught 'error' event.
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query<Row>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

/** The URL without its password, for messages. */
function redacted(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}
