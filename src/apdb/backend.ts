/**
 * What a database backend gives the APDB: a Kysely instance over its tables, the SQL types and
 * value conversions of its engine, and the transactions and locks the writers need. A backend
 * only translates; the APDB's logic (sql-apdb.ts) is written once for every backend.
 */
import type { Compilable, Kysely, RawBuilder } from 'kysely';
import type { PhysicalTable } from './physical.ts';
import type { ApdbColumn } from './schema/types.ts';
import type { ApdbRow, ApdbValue } from './types.ts';

/** Every table is a map from column name to value; the schema lives in physical.ts. */
export type ApdbTables = Record<string, Record<string, ApdbValue>>;
export type ApdbDb = Kysely<ApdbTables>;
/** Queries inside one transaction (all on its connection). */
export type ApdbTx = ApdbDb;

/** What an insert does with a row whose primary key is already there. */
export type OnConflict = 'error' | 'nothing' | 'update';

/** How the APDB should treat a driver error. */
export type ApdbErrorKind =
  /** Serialization failure or deadlock: run the transaction again. */
  | 'retry'
  /** The database is unreachable or busy: a later retry can succeed. */
  | 'transient'
  /** Credentials, permissions, a missing database: fix the configuration. */
  | 'config';

/** A table as the database holds it. */
export interface ApdbTableInfo {
  readonly name: string;
  /** Columns in order, with the engine's type names (upper case). */
  readonly columns: ReadonlyArray<{ readonly name: string; readonly type: string; readonly nullable: boolean }>;
  readonly primaryKey: readonly string[];
  /** Indexes and unique constraints, without the primary key's. */
  readonly indexes: ReadonlyArray<{ readonly name: string; readonly columns: readonly string[]; readonly unique: boolean }>;
}

export interface ApdbBackend {
  readonly dialect: 'sqlite' | 'postgres';
  /** The database URL without password (SQLite: sqlite:////absolute/file). */
  readonly url: string;
  /** Where the APDB lives, for messages: the URL and, on PostgreSQL, the namespace. */
  readonly location: string;
  /** Bind parameters one statement may carry. */
  readonly maxParameters: number;
  /** Queries on the APDB's tables, named through qualify(). */
  readonly db: ApdbDb;
  /** A table's name for the query builder: `namespace.Table` on PostgreSQL. */
  qualify(name: string): string;
  /** The schema-qualified table identifier, for raw SQL. */
  table(name: string): RawBuilder<unknown>;
  /** SQL type of a column. */
  sqlType(column: ApdbColumn): string;
  /** A validated row value as the driver should bind it. */
  encode(column: ApdbColumn, value: ApdbValue): ApdbValue;
  /**
   * How a non-NULL value of the column from the driver becomes what the row conventions want
   * (types.ts); null when the driver's value already is that.
   */
  decoder(column: ApdbColumn): ((raw: unknown) => ApdbValue) | null;
  /** Whether the metadata table is there. */
  hasApdb(q: ApdbDb): Promise<boolean>;
  /** Inside the creating transaction: make the container (the schema) and wait out other creators. */
  prepareCreate(trx: ApdbTx): Promise<void>;
  /**
   * One write transaction. SQLite: BEGIN IMMEDIATE (the database's write lock, waited for up to
   * the busy timeout). PostgreSQL: READ COMMITTED, whatever isolation_level says, so that each
   * statement after the locks sees what the writers it waited for committed.
   */
  writeTransaction<R>(fn: (trx: ApdbTx) => Promise<R>): Promise<R>;
  /** Inside a write transaction, first: serialise with every writer of an overlapping region or of the same key. */
  lockRegion(trx: ApdbTx, key: string, trixels: readonly number[]): Promise<void>;
  /**
   * A read-only transaction that sees one snapshot: the configured isolation level, at least
   * REPEATABLE READ on PostgreSQL (SQLite: a deferred transaction).
   */
  readTransaction<R>(fn: (q: ApdbTx) => Promise<R>): Promise<R>;
  /**
   * When the backend has a faster way than the query builder's driver: the rows of a SELECT
   * (inside a transaction of this backend, or on `db`) whose select list is `columns`, in
   * order, already in the row conventions (types.ts). Absent: the query is executed and each
   * row decoded with decoder().
   */
  readonly selectRows?: (q: ApdbDb, query: Compilable<unknown>, columns: readonly ApdbColumn[]) => Promise<ApdbRow[]>;
  /**
   * When the backend has a faster way than multi-row INSERTs: inserts rows encoded by encode(),
   * each holding every stored column of `table`. Absent: INSERTs of at most maxParameters values.
   */
  readonly bulkInsert?: (q: ApdbDb, table: PhysicalTable, rows: ReadonlyArray<Readonly<Record<string, ApdbValue>>>, onConflict: OnConflict) => Promise<void>;
  describeTable(q: ApdbDb, name: string): Promise<ApdbTableInfo | null>;
  classifyError(err: unknown): ApdbErrorKind | null;
  close(): Promise<void>;
}
