/**
 * SQLite, the embedded default: one file, WAL journal so readers never wait for the writer, a
 * busy timeout so several processes can write one file, and every transaction BEGIN IMMEDIATE so
 * writers queue for the lock up front instead of failing when a read lock cannot be upgraded.
 * better-sqlite3 is imported here only, when a SQLite registry is opened.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import {
  CompiledQuery, Kysely, SqliteAdapter, SqliteDriver, SqliteIntrospector, SqliteQueryCompiler, sql,
  type DatabaseConnection, type Dialect, type SqliteDatabase,
} from 'kysely';
import { ConfigError, NotFoundError } from '../../../core/errors.ts';
import type { ErrorKind, OpenMode, RegistryBackend, RegistryDb, RegistryTx } from '../../backend.ts';
import type { RegistryTables } from '../../schema.ts';

/** How long a writer waits for another process's write lock before giving up. */
export const SQLITE_BUSY_TIMEOUT_MS = 60_000;

/** Kysely's SQLite driver, with writers taking the lock when they begin. */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }
}

/** Kysely's SQLite dialect whose transactions begin IMMEDIATE (shared with the APDB). */
export function immediateSqliteDialect(database: SqliteDatabase): Dialect {
  return {
    createAdapter: () => new SqliteAdapter(),
    createDriver: () => new ImmediateSqliteDriver({ database }),
    createIntrospector: (db) => new SqliteIntrospector(db),
    createQueryCompiler: () => new SqliteQueryCompiler(),
  };
}

export function sqliteLocation(file: string): string {
  return file === ':memory:' ? 'sqlite::memory:' : `sqlite://${file}`;
}

interface SharedHandle {
  readonly db: RegistryDb;
  refs: number;
}

/**
 * One connection per file and process, shared by every registry handle on it. Kysely queues the
 * users of that connection, so two handles in one process never wait for each other inside
 * SQLite's busy handler (which blocks the thread, and with it the handle holding the lock).
 */
const shared = new Map<string, SharedHandle>();

export async function createSqliteBackend(file: string, mode: OpenMode): Promise<RegistryBackend> {
  const location = sqliteLocation(file);
  const memory = file === ':memory:';
  if (!memory) {
    if (mode === 'open' && !existsSync(file)) {
      throw new NotFoundError(`no registry at ${location}; create it with \`prompt butler create\``);
    }
    if (mode === 'create') {
      try {
        mkdirSync(path.dirname(file), { recursive: true });
      } catch (e) {
        throw new ConfigError(`cannot create the directory of ${location}: ${(e as Error).message}`, { cause: e });
      }
    }
  }
  let handle = memory ? undefined : shared.get(file);
  if (!handle) {
    const { default: Database } = await import('better-sqlite3');
    // Another caller may have opened the file while this one imported the driver.
    handle = memory ? undefined : shared.get(file);
    if (!handle) {
      let sqlite: InstanceType<typeof Database>;
      try {
        sqlite = new Database(file, { fileMustExist: mode === 'open' && !memory, timeout: SQLITE_BUSY_TIMEOUT_MS });
        if (!memory) sqlite.pragma('journal_mode = WAL');
        sqlite.pragma('foreign_keys = ON');
      } catch (e) {
        throw new ConfigError(`cannot open ${location}: ${(e as Error).message}`, { cause: e });
      }
      handle = { db: new Kysely<RegistryTables>({ dialect: immediateSqliteDialect(sqlite as unknown as SqliteDatabase) }), refs: 0 };
      if (!memory) shared.set(file, handle);
    }
  }
  const h = handle;
  h.refs++;
  let closed = false;
  return {
    dialect: 'sqlite',
    location,
    capabilities: { supportsForUpdate: false, maxParameters: 32_766 },
    db: h.db,
    async hasRegistry(q: RegistryDb | RegistryTx): Promise<boolean> {
      const r = await sql<{ name: string }>`select name from sqlite_master where type = 'table' and name = 'registry_meta'`.execute(q);
      return r.rows.length > 0;
    },
    // BEGIN IMMEDIATE already holds the database's write lock.
    async lockRegistry(): Promise<void> {},
    async prepare(): Promise<void> {},
    classifyError,
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      if (--h.refs > 0) return;
      if (shared.get(file) === h) shared.delete(file);
      await h.db.destroy();
    },
  };
}

function classifyError(err: unknown): ErrorKind | null {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return null;
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return 'transient';
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') return 'unique';
  if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return 'foreign-key';
  if (code.startsWith('SQLITE_IOERR') || code === 'SQLITE_FULL' || code === 'SQLITE_NOMEM' || code === 'SQLITE_PROTOCOL') return 'transient';
  if (code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_CANTOPEN') || code === 'SQLITE_PERM' || code === 'SQLITE_AUTH'
    || code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) return 'config';
  return null;
}
