/**
 * What a database backend gives the registry: a Kysely instance over the registry's tables,
 * capability flags, and the few operations whose SQL differs between engines. A backend only
 * translates; the registry's logic lives in sql-registry.ts, once for every backend.
 */
import type { Kysely, Transaction } from 'kysely';
import type { RegistryTables } from './schema.ts';

export type RegistryDb = Kysely<RegistryTables>;
export type RegistryTx = Transaction<RegistryTables>;

export interface BackendCapabilities {
  /**
   * `SELECT … FOR UPDATE` locks rows until commit. When false, the backend serialises write
   * transactions itself (SQLite's BEGIN IMMEDIATE), so no row lock is needed.
   */
  readonly supportsForUpdate: boolean;
  /** Bind parameters one statement may carry. */
  readonly maxParameters: number;
}

/** How the registry should treat a driver error. */
export type ErrorKind =
  /** Serialization failure or deadlock: run the transaction again. */
  | 'retry'
  /** The database is unreachable or busy: a later retry can succeed. */
  | 'transient'
  /** A unique or primary key constraint. */
  | 'unique'
  /** A foreign key constraint (a row still referenced, or a reference to nothing). */
  | 'foreign-key'
  /** Credentials, permissions, a missing database: fix the configuration. */
  | 'config';

export type OpenMode = 'create' | 'open';

export interface RegistryBackend {
  readonly dialect: 'sqlite' | 'postgres';
  /** Where the registry lives, for messages; never holds a password. */
  readonly location: string;
  readonly capabilities: BackendCapabilities;
  readonly db: RegistryDb;
  /** Whether the registry's tables are there. */
  hasRegistry(db: RegistryDb | RegistryTx): Promise<boolean>;
  /**
   * Inside the creating or migrating transaction: wait until no other process creates or
   * migrates this registry.
   */
  lockRegistry(trx: RegistryTx): Promise<void>;
  /** Inside the creating transaction, after the lock: make the container (the schema). */
  prepare(trx: RegistryTx): Promise<void>;
  classifyError(err: unknown): ErrorKind | null;
  close(): Promise<void>;
}
