/**
 * Prepared statements by SQL text, for one SQLite connection. Preparing costs tens of microseconds (SQLite parses
 * and plans the text every time), which is most of a primary-key lookup; the CONNECT path looks credentials up on
 * every login, so the store keeps what it prepared. Bounded: the SQL texts are the code's own (a few hundred at most),
 * but dynamic UPDATE column lists could otherwise grow it, so past `capacity` the oldest entry goes.
 */
import type Database from 'better-sqlite3';

/** Enough for every static statement of the store and the dialect modules with room to spare. */
const DEFAULT_CAPACITY = 512;

export class StatementCache {
  readonly #db: Database.Database;
  readonly #capacity: number;
  readonly #statements = new Map<string, Database.Statement>();

  constructor(db: Database.Database, capacity = DEFAULT_CAPACITY) {
    this.#db = db;
    this.#capacity = capacity;
  }

  get<R>(sql: string): Database.Statement<unknown[], R> {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      if (this.#statements.size >= this.#capacity) {
        const oldest = this.#statements.keys().next();
        if (oldest.done !== true) this.#statements.delete(oldest.value);
      }
      this.#statements.set(sql, statement);
    }
    return statement as Database.Statement<unknown[], R>;
  }
}
