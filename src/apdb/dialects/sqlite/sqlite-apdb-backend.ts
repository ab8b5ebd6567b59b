/**
 * SQLite, the embedded default: one file, WAL journal so readers never wait for the writer, a
 * busy timeout so several processes can write one file, and every write transaction BEGIN
 * IMMEDIATE, so writers queue for the database's lock up front — which also serialises writers
 * of overlapping regions (of any region: SQLite has one writer at a time). isolation_level is
 * recorded but changes nothing: SQLite's transactions are serializable. Integers come back as
 * bigint (safeIntegers), so 64-bit ids are exact.
 *
 * Values: long and timestamp (microseconds) are INTEGER, booleans INTEGER 0/1, float and double
 * REAL. A NaN is stored as the text 'NaN' in its REAL column (SQLite itself would store NULL);
 * it reads back as NaN and, like PostgreSQL's NaN, compares above every number.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { Kysely, sql, type RawBuilder, type SqliteDatabase } from 'kysely';
import { ConfigError, NotFoundError } from '../../../core/errors.ts';
import type { ApdbBackend, ApdbDb, ApdbErrorKind, ApdbTableInfo, ApdbTables } from '../../backend.ts';
import type { BackendMode } from '../../backends.ts';
import { sqliteUrl } from '../../config.ts';
import type { ApdbColumn } from '../../schema/types.ts';
import type { ApdbValue } from '../../types.ts';

import { immediateSqliteDialect, SQLITE_BUSY_TIMEOUT_MS } from '../../../registry/dialects/sqlite/sqlite-backend.ts';

export { SQLITE_BUSY_TIMEOUT_MS };

interface SharedHandle {
  readonly db: ApdbDb;
  refs: number;
}

/**
 * One connection per file and process, shared by every APDB handle on it: Kysely queues the
 * users of that connection, so two handles in one process never wait for each other inside
 * SQLite's busy handler (which blocks the thread, and with it the handle holding the lock).
 */
const shared = new Map<string, SharedHandle>();

export function sqliteSqlType(c: ApdbColumn): string {
  switch (c.datatype) {
    case 'long': return 'BIGINT';
    case 'int': return 'INTEGER';
    case 'short': return 'SMALLINT';
    case 'float':
    case 'double': return 'REAL';
    case 'char': return c.length !== undefined ? `CHAR(${c.length})` : 'CHAR';
    case 'string': return c.length !== undefined ? `VARCHAR(${c.length})` : 'VARCHAR';
    case 'text': return 'TEXT';
    case 'boolean': return 'INTEGER';
    case 'timestamp': return 'INTEGER';
  }
}

export function sqliteEncode(c: ApdbColumn, v: ApdbValue): ApdbValue {
  if (v === null) return null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number' && Number.isNaN(v) && (c.datatype === 'float' || c.datatype === 'double')) return 'NaN';
  return v;
}

const toNumber = (raw: unknown): ApdbValue => Number(raw);
const toBigint = (raw: unknown): ApdbValue => (typeof raw === 'bigint' ? raw : BigInt(raw as number));
const toFloat = (raw: unknown): ApdbValue => (raw === 'NaN' ? Number.NaN : Number(raw));
const toBoolean = (raw: unknown): ApdbValue => Number(raw) !== 0;

/** Integers come back as bigint (safeIntegers), floats as numbers or 'NaN', booleans as 0/1. */
export function sqliteDecoder(c: ApdbColumn): ((raw: unknown) => ApdbValue) | null {
  switch (c.datatype) {
    case 'long':
    case 'timestamp': return toBigint;
    case 'int':
    case 'short': return toNumber;
    case 'float':
    case 'double': return toFloat;
    case 'boolean': return toBoolean;
    case 'char':
    case 'string':
    case 'text': return null;
  }
}

export async function createSqliteApdbBackend(file: string, mode: BackendMode): Promise<ApdbBackend> {
  const url = sqliteUrl(file);
  const memory = file === ':memory:';
  if (!memory) {
    if (mode === 'open' && !existsSync(file)) {
      throw new NotFoundError(`no APDB at ${url}; create it with \`prompt make-apdb -c db_url=${url}\``);
    }
    if (mode === 'create') {
      try {
        mkdirSync(path.dirname(file), { recursive: true });
      } catch (e) {
        throw new ConfigError(`cannot create the directory of ${url}: ${(e as Error).message}`, { cause: e });
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
        sqlite.defaultSafeIntegers(true);
      } catch (e) {
        throw new ConfigError(`cannot open ${url}: ${(e as Error).message}`, { cause: e });
      }
      handle = { db: new Kysely<ApdbTables>({ dialect: immediateSqliteDialect(sqlite as unknown as SqliteDatabase) }), refs: 0 };
      if (!memory) shared.set(file, handle);
    }
  }
  const h = handle;
  h.refs++;
  let closed = false;
  return {
    dialect: 'sqlite',
    url,
    location: url,
    maxParameters: 32_766,
    db: h.db,
    qualify: (name: string): string => name,
    table: (name: string): RawBuilder<unknown> => sql.id(name),
    sqlType: sqliteSqlType,
    encode: sqliteEncode,
    decoder: sqliteDecoder,
    async hasApdb(q: ApdbDb): Promise<boolean> {
      const r = await sql<{ name: string }>`select name from sqlite_master where type = 'table' and name = 'metadata'`.execute(q);
      return r.rows.length > 0;
    },
    // BEGIN IMMEDIATE already holds the database's write lock.
    async prepareCreate(): Promise<void> {},
    async lockRegion(): Promise<void> {},
    writeTransaction: (fn) => h.db.transaction().execute(fn),
    readTransaction: (fn) => h.db.connection().execute(async (c) => {
      await sql`begin`.execute(c);
      try {
        const r = await fn(c);
        await sql`commit`.execute(c);
        return r;
      } catch (e) {
        await sql`rollback`.execute(c).catch(() => {});
        throw e;
      }
    }),
    describeTable: (q, name) => describeSqliteTable(q, name),
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

async function describeSqliteTable(q: ApdbDb, name: string): Promise<ApdbTableInfo | null> {
  const cols = (await sql<{ name: string; type: string; notnull: bigint; pk: bigint }>`select name, type, "notnull", pk from pragma_table_info(${name}) order by cid`.execute(q)).rows;
  if (cols.length === 0) return null;
  const list = (await sql<{ name: string; unique: bigint; origin: string }>`select name, "unique", origin from pragma_index_list(${name})`.execute(q)).rows;
  const indexes: Array<{ name: string; columns: string[]; unique: boolean }> = [];
  for (const ix of list) {
    if (ix.origin === 'pk') continue;
    const ic = (await sql<{ name: string }>`select name from pragma_index_info(${ix.name}) order by seqno`.execute(q)).rows;
    // The index of a UNIQUE constraint carries SQLite's own name (sqlite_autoindex_…).
    indexes.push({ name: ix.name, columns: ic.map((c) => c.name), unique: Number(ix.unique) === 1 });
  }
  return {
    name,
    columns: cols.map((c) => ({ name: c.name, type: c.type.toUpperCase(), nullable: Number(c.notnull) === 0 })),
    primaryKey: cols.filter((c) => Number(c.pk) > 0).sort((a, b) => Number(a.pk) - Number(b.pk)).map((c) => c.name),
    indexes,
  };
}

function classifyError(err: unknown): ApdbErrorKind | null {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return null;
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return 'transient';
  if (code.startsWith('SQLITE_IOERR') || code === 'SQLITE_FULL' || code === 'SQLITE_NOMEM' || code === 'SQLITE_PROTOCOL') return 'transient';
  if (code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_CANTOPEN') || code === 'SQLITE_PERM' || code === 'SQLITE_AUTH'
    || code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) return 'config';
  return null;
}
