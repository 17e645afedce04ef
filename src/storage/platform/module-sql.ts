/**
 * Tables a dialect module owns (CloudPlugs templates and things, Medium One groups, PlaceOS feed settings and
 * bridges...), in the platform store's own database, so they are backed up, migrated and deleted with it. Each module
 * declares its migrations for both databases; `PlatformStore.openModule` applies the pending ones (recorded per module
 * in `module_migrations`) and hands back `ModuleSql`, a small SQL surface that is the same on SQLite and PostgreSQL.
 *
 * Why a batch instead of an interactive transaction: SQLite runs on the event loop's thread, so a transaction that
 * awaited between statements would let any other store call slip into it (and be rolled back with it). A batch is
 * applied in one go on either database, atomically; read-then-write logic belongs in the SQL (`ON CONFLICT`,
 * conditional `UPDATE … WHERE`).
 */
import type Database from 'better-sqlite3';
import type pg from 'pg';
import { fromPostgresError, fromSqliteError } from './duplicates.js';
import { StatementCache } from './statement-cache.js';

/** A module's migrations: `sqlite[i]` and `postgres[i]` take its tables from version i to i + 1. Append, never edit. */
export interface ModuleSchema {
  /** Also the prefix of its tables (`<module>_…`). A lower-case identifier. */
  module: string;
  sqlite: readonly string[];
  postgres: readonly string[];
}

/**
 * A bound value; booleans are stored as 0/1 on SQLite (read them back with `Boolean(…)`); a Buffer is a BLOB on
 * SQLite and a bytea on PostgreSQL, and comes back as a Buffer from both.
 */
export type SqlParam = string | number | boolean | null | Buffer;

export interface ModuleStatement {
  sql: string;
  params?: readonly SqlParam[] | undefined;
}

/**
 * SQL with `?` placeholders (rewritten to `$n` for PostgreSQL; a `?` inside a quoted literal is left alone). On
 * PostgreSQL, int8 columns come back as JS numbers (the store's pool parses them so). A unique violation of a core
 * table's key is a `DuplicateError`; a module's own constraint errors are passed through as the driver raised them.
 */
export interface ModuleSql {
  readonly kind: 'sqlite' | 'postgres';
  query<Row = Record<string, unknown>>(sql: string, params?: readonly SqlParam[]): Promise<Row[]>;
  /** Runs one statement; resolves to the number of rows it changed. */
  run(sql: string, params?: readonly SqlParam[]): Promise<number>;
  /** Runs the statements in one transaction, in order; on any failure none of them is applied. Changed rows each. */
  batch(statements: readonly ModuleStatement[]): Promise<number[]>;
}

const modulePattern = /^[a-z][a-z0-9_]{0,40}$/;

export function checkModuleSchema(schema: ModuleSchema): void {
  if (!modulePattern.test(schema.module)) throw new RangeError(`invalid module name "${schema.module}"`);
  if (schema.sqlite.length !== schema.postgres.length) {
    throw new RangeError(`module ${schema.module}: the SQLite and PostgreSQL migration lists differ in length`);
  }
}

/** `?` → `$1…$n`, skipping quoted literals and identifiers. */
export function toPostgresPlaceholders(sql: string): string {
  let out = '';
  let n = 0;
  let quote: string | undefined;
  for (const char of sql) {
    if (quote !== undefined) {
      if (char === quote) quote = undefined;
      out += char;
    } else if (char === "'" || char === '"') {
      quote = char;
      out += char;
    } else if (char === '?') {
      out += `$${String(++n)}`;
    } else {
      out += char;
    }
  }
  return out;
}

function sqliteParams(params: readonly SqlParam[] | undefined): (string | number | null | Buffer)[] {
  return (params ?? []).map((value) => (typeof value === 'boolean' ? (value ? 1 : 0) : value));
}

/** Migrates and wraps the SQLite store's connection. */
export function openSqliteModule(db: Database.Database, schema: ModuleSchema): ModuleSql {
  checkModuleSchema(schema);
  db.transaction(() => {
    const row = db.prepare('SELECT version FROM module_migrations WHERE module = ?').get(schema.module) as
      { version: number } | undefined;
    const version = row?.version ?? 0;
    if (version > schema.sqlite.length) {
      throw new Error(`module ${schema.module}: stored version ${String(version)} is newer than this code`);
    }
    for (let next = version; next < schema.sqlite.length; next++) db.exec(schema.sqlite[next]!);
    if (version !== schema.sqlite.length) {
      db.prepare(
        'INSERT INTO module_migrations (module, version) VALUES (?, ?) ON CONFLICT (module) DO UPDATE SET version = excluded.version',
      ).run(schema.module, schema.sqlite.length);
    }
  }).immediate();

  const statements = new StatementCache(db);
  const runOne = (statement: ModuleStatement): number =>
    statements.get(statement.sql).run(...sqliteParams(statement.params)).changes;
  const attempt = <T>(work: () => T): Promise<T> => {
    try {
      return Promise.resolve(work());
    } catch (error) {
      const mapped = fromSqliteError(error);
      return Promise.reject(mapped instanceof Error ? mapped : new Error(String(mapped)));
    }
  };
  return {
    kind: 'sqlite',
    query: <Row>(sql: string, params?: readonly SqlParam[]) =>
      attempt(() => statements.get<Row>(sql).all(...sqliteParams(params))),
    run: (sql, params) => attempt(() => runOne({ sql, params })),
    batch: (statements) => attempt(() => db.transaction(() => statements.map(runOne))()),
  };
}

/** Migrates (under the same advisory lock idea as the core schema: one process at a time) and wraps the pool. */
export async function openPostgresModule(pool: pg.Pool, schema: ModuleSchema): Promise<ModuleSql> {
  checkModuleSchema(schema);
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    try {
      // A transaction-scoped lock per module: two processes starting at once migrate one after the other.
      await client.query('SELECT pg_advisory_xact_lock(23306, hashtext($1))', [schema.module]);
      const { rows } = await client.query<{ version: number }>(
        'SELECT version FROM module_migrations WHERE module = $1',
        [schema.module],
      );
      const version = rows[0]?.version ?? 0;
      if (version > schema.postgres.length) {
        throw new Error(`module ${schema.module}: stored version ${String(version)} is newer than this code`);
      }
      for (let next = version; next < schema.postgres.length; next++) await client.query(schema.postgres[next]!);
      await client.query(
        `INSERT INTO module_migrations (module, version) VALUES ($1, $2)
         ON CONFLICT (module) DO UPDATE SET version = excluded.version`,
        [schema.module, schema.postgres.length],
      );
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  } finally {
    client.release();
  }

  const mapError = (error: unknown): Error => {
    const mapped = fromPostgresError(error);
    return mapped instanceof Error ? mapped : new Error(String(mapped));
  };
  const values = (params: readonly SqlParam[] | undefined): unknown[] => [...(params ?? [])];
  return {
    kind: 'postgres',
    query: async <Row>(sql: string, params?: readonly SqlParam[]) => {
      try {
        return (await pool.query(toPostgresPlaceholders(sql), values(params))).rows as Row[];
      } catch (error) {
        throw mapError(error);
      }
    },
    run: async (sql, params) => {
      try {
        return (await pool.query(toPostgresPlaceholders(sql), values(params))).rowCount ?? 0;
      } catch (error) {
        throw mapError(error);
      }
    },
    batch: async (statements) => {
      const batchClient = await pool.connect();
      try {
        await batchClient.query('BEGIN');
        const changed: number[] = [];
        for (const statement of statements) {
          const result = await batchClient.query(toPostgresPlaceholders(statement.sql), values(statement.params));
          changed.push(result.rowCount ?? 0);
        }
        await batchClient.query('COMMIT');
        return changed;
      } catch (error) {
        await batchClient.query('ROLLBACK').catch(() => undefined);
        throw mapError(error);
      } finally {
        batchClient.release();
      }
    },
  };
}
