/**
 * PostgreSQL: every table in the APDB's own schema (the `namespace`), every query
 * schema-qualified, so nothing depends on the connection's search_path. Connection settings
 * (URL, PG* variables, ~/.pgpass) are resolved as the registry resolves them. pg is imported
 * here only, when a PostgreSQL APDB is opened.
 *
 * Values: BIGINT comes back as bigint, TIMESTAMP as microseconds since 1970 (bigint), CHAR(n)
 * without its padding; REAL and DOUBLE PRECISION carry NaN natively.
 *
 * Writers of overlapping regions serialise on transaction-scoped advisory locks, one per HTM
 * level-8 trixel of the region, taken in ascending order after the detector-visit's own lock, so
 * no two writers wait for each other in a cycle. The write transaction runs at READ COMMITTED
 * whatever isolation_level says: under REPEATABLE READ or SERIALIZABLE its snapshot would be
 * taken by the locking statement itself, before the wait, and would hide what the writer it
 * waited for committed. isolation_level applies to the read transactions (history, counts),
 * READ_COMMITTED and READ_UNCOMMITTED reading at REPEATABLE READ: a history is read by several
 * statements, which must see one snapshot (a read-only transaction never fails to serialise).
 *
 * Transactions are run here on a client of the pool, with a Kysely bound to that client, so
 * that large reads can go through COPY (FORMAT binary) on the same connection (copy-binary.ts).
 */
import { Kysely, PostgresDialect, sql, type Compilable, type PostgresPool, type RawBuilder } from 'kysely';
import type { PoolClient } from 'pg';
import { ConfigError } from '../../../core/errors.ts';
import type { ApdbBackend, ApdbDb, ApdbErrorKind, ApdbTableInfo, ApdbTables, ApdbTx } from '../../backend.ts';
import type { ApdbConfig, IsolationLevel } from '../../config.ts';
import { checkNamespace } from '../../config.ts';
import type { ApdbColumn } from '../../schema/types.ts';
import type { ApdbRow, ApdbValue } from '../../types.ts';
import { insertByUnnest } from './bulk-insert.ts';
import { copyRowsOut, inlineParameters } from './copy-binary.ts';
import { describeSettings, passwordFor, resolvePgSettings, type PgSettings } from '../../../registry/dialects/postgres/postgres-connection.ts';
import { microsToTimestamp, timestampToMicros } from './timestamps.ts';

/** Connections per APDB handle. */
export const POSTGRES_APDB_POOL_SIZE = 4;

const INT8_OID = 20;
const TIMESTAMP_OID = 1114;

/** The isolation of the read transactions: one snapshot at least. */
const READ_ISOLATION: Record<IsolationLevel, 'repeatable read' | 'serializable'> = {
  READ_COMMITTED: 'repeatable read',
  READ_UNCOMMITTED: 'repeatable read',
  REPEATABLE_READ: 'repeatable read',
  SERIALIZABLE: 'serializable',
};

/** The registry's resolution of connection settings, its errors worded for the APDB. */
function settingsOf(url: string, env: NodeJS.ProcessEnv): PgSettings {
  try {
    return resolvePgSettings(url, env);
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigError(e.message.replace(/^registry db/, 'APDB db_url'), { cause: e });
    throw e;
  }
}

export function postgresApdbUrl(url: string, env: NodeJS.ProcessEnv): string {
  return describeSettings(settingsOf(url, env));
}

function sslOption(s: PgSettings): boolean | { rejectUnauthorized: boolean } {
  switch (s.sslmode) {
    case 'disable': case 'allow': case 'prefer': return false;
    case 'require': return { rejectUnauthorized: false };
    case 'verify-ca': case 'verify-full': return { rejectUnauthorized: true };
  }
}

export function postgresSqlType(c: ApdbColumn): string {
  switch (c.datatype) {
    case 'long': return 'BIGINT';
    case 'int': return 'INTEGER';
    case 'short': return 'SMALLINT';
    case 'float': return 'REAL';
    case 'double': return 'DOUBLE PRECISION';
    case 'char': return c.length !== undefined ? `CHAR(${c.length})` : 'CHAR';
    case 'string': return c.length !== undefined ? `VARCHAR(${c.length})` : 'VARCHAR';
    case 'text': return 'TEXT';
    case 'boolean': return 'BOOLEAN';
    case 'timestamp': return 'TIMESTAMP';
  }
}

export function postgresEncode(c: ApdbColumn, v: ApdbValue): ApdbValue {
  if (v !== null && c.datatype === 'timestamp') return microsToTimestamp(BigInt(v));
  return v;
}

const trimPadding = (raw: unknown): ApdbValue => String(raw).replace(/ +$/, '');
const fromTimestamp = (raw: unknown): ApdbValue => timestampToMicros(String(raw));

/**
 * The pool's type parsers already give bigint for BIGINT, numbers, booleans and strings; CHAR
 * loses its padding and TIMESTAMP text becomes microseconds.
 */
export function postgresDecoder(c: ApdbColumn): ((raw: unknown) => ApdbValue) | null {
  switch (c.datatype) {
    case 'char': return trimPadding;
    case 'timestamp': return fromTimestamp;
    default: return null;
  }
}

export async function createPostgresApdbBackend(url: string, config: ApdbConfig, env: NodeJS.ProcessEnv): Promise<ApdbBackend> {
  const namespace = checkNamespace(config.namespace, url);
  const settings = settingsOf(url, env);
  const publicUrl = describeSettings(settings);
  const { default: pg } = await import('pg');
  const builtin = pg.types.getTypeParser;
  const getTypeParser = ((oid: number, format?: 'text' | 'binary') => {
    if (format === 'binary') return builtin(oid, format);
    if (oid === INT8_OID) return (v: string) => BigInt(v);
    if (oid === TIMESTAMP_OID) return (v: string) => v;
    return builtin(oid, format);
  }) as typeof pg.types.getTypeParser;
  const pool = new pg.Pool({
    host: settings.host,
    port: settings.port,
    database: settings.database,
    user: settings.user,
    password: (async () => passwordFor(settings, env)) as () => Promise<string>,
    ssl: sslOption(settings),
    application_name: settings.applicationName === 'prompt-registry' ? 'prompt-apdb' : settings.applicationName,
    connectionTimeoutMillis: settings.connectTimeoutS !== undefined ? settings.connectTimeoutS * 1000 : 30_000,
    max: POSTGRES_APDB_POOL_SIZE,
    types: { getTypeParser },
  });
  // An idle connection dropped by the server must not crash the process; the next query reports it.
  pool.on('error', () => {});
  const db: ApdbDb = new Kysely<ApdbTables>({ dialect: new PostgresDialect({ pool }) });
  // Names are qualified by qualify(), not by withSchema: its plugin walks every node of every
  // query, which for a statement of thousands of values costs more than running it.

  /** Each transaction's Kysely and its client. */
  const transactions = new WeakMap<ApdbDb, Bound>();

  /** `begin` … fn … COMMIT on one client; ROLLBACK on any error, and the client dropped if that fails too. */
  async function transaction<R>(begin: string, fn: (trx: ApdbDb) => Promise<R>): Promise<R> {
    const client = await pool.connect();
    let bound: Bound | null = null;
    let broken = false;
    try {
      await client.query(begin);
      bound = boundTo(client);
      transactions.set(bound.db, bound);
      const result = await fn(bound.db);
      const done = await client.query('commit');
      // COMMIT of a transaction an earlier error aborted answers ROLLBACK.
      if (done.command === 'ROLLBACK') throw new Error('the transaction was rolled back: one of its statements had failed');
      return result;
    } catch (e) {
      await client.query('rollback').catch(() => {
        broken = true;
      });
      throw e;
    } finally {
      if (bound) bound.over = true;
      client.release(broken);
    }
  }

  async function selectRows(q: ApdbDb, query: Compilable<unknown>, columns: readonly ApdbColumn[]): Promise<ApdbRow[]> {
    const compiled = query.compile();
    const select = inlineParameters(compiled.sql, compiled.parameters);
    const bound = transactions.get(q);
    if (bound) return copyRowsOut(bound.client(), select, columns);
    // A connection that failed is not queryable any more, and the pool drops it on release.
    const own = await pool.connect();
    try {
      return await copyRowsOut(own, select, columns);
    } finally {
      own.release();
    }
  }

  const lockClass = (what: string): string => `prompt-apdb-${what}:${settings.database}:${namespace}`;
  return {
    dialect: 'postgres',
    url: publicUrl,
    location: `${publicUrl} (namespace ${namespace})`,
    maxParameters: 65_535,
    db,
    qualify: (name: string): string => `${namespace}.${name}`,
    table: (name: string): RawBuilder<unknown> => sql.id(namespace, name),
    sqlType: postgresSqlType,
    encode: postgresEncode,
    decoder: postgresDecoder,
    async hasApdb(q: ApdbDb): Promise<boolean> {
      const r = await sql<{ present: number }>`select 1 as present from pg_catalog.pg_tables where schemaname = ${namespace} and tablename = 'metadata'`.execute(q);
      return r.rows.length > 0;
    },
    async prepareCreate(trx: ApdbTx): Promise<void> {
      await sql`select pg_advisory_xact_lock(hashtext(${lockClass('create')}))`.execute(trx);
      await sql`create schema if not exists ${sql.id(namespace)}`.execute(trx);
    },
    writeTransaction: (fn) => transaction('start transaction isolation level read committed', fn),
    async lockRegion(trx: ApdbTx, key: string, trixels: readonly number[]): Promise<void> {
      const locks = [sql`pg_advisory_xact_lock(hashtext(${lockClass('visit')}), hashtext(${key}))`];
      for (const t of [...trixels].sort((a, b) => a - b)) {
        locks.push(sql`pg_advisory_xact_lock(hashtext(${lockClass('trixel')}), ${t}::integer)`);
      }
      // Target-list expressions run left to right: the key first, then the trixels ascending.
      await sql`select ${sql.join(locks)}`.execute(trx);
    },
    readTransaction: (fn) => transaction(`start transaction isolation level ${READ_ISOLATION[config.isolationLevel]} read only`, fn),
    selectRows,
    bulkInsert: (q, table, rows, onConflict) => insertByUnnest(q, sql.id(namespace, table.name), table, rows, onConflict),
    describeTable: (q, name) => describePostgresTable(q, namespace, name),
    classifyError,
    async close(): Promise<void> {
      await db.destroy();
    },
  };
}

/** A Kysely whose every query runs on one transaction's connection, until the transaction is over. */
interface Bound {
  readonly db: ApdbDb;
  client(): PoolClient;
  over: boolean;
}

function boundTo(client: PoolClient): Bound {
  const bound: Bound = {
    over: false,
    client: () => {
      if (bound.over) throw new Error('the APDB transaction is over: its queries cannot run any more');
      return client;
    },
    db: new Kysely<ApdbTables>({
      dialect: new PostgresDialect({
        pool: {
          connect: async () => ({ query: bound.client().query.bind(client) as never, release: () => {} }),
          end: async () => {},
        } satisfies PostgresPool,
      }),
    }),
  };
  return bound;
}

async function describePostgresTable(q: ApdbDb, namespace: string, name: string): Promise<ApdbTableInfo | null> {
  const cols = (await sql<{ name: string; type: string; length: number | null; nullable: string }>`
    select column_name as name, data_type as type, character_maximum_length as length, is_nullable as nullable
    from information_schema.columns where table_schema = ${namespace} and table_name = ${name} order by ordinal_position`.execute(q)).rows;
  if (cols.length === 0) return null;
  const ix = (await sql<{ name: string; unique: boolean; primary: boolean; columns: string[] }>`
    select i.relname as name, x.indisunique as unique, x.indisprimary as primary,
           array_agg(a.attname::text order by k.ord) as columns
    from pg_index x
    join pg_class i on i.oid = x.indexrelid
    join pg_class t on t.oid = x.indrelid
    join pg_namespace n on n.oid = t.relnamespace
    cross join lateral unnest(x.indkey::int2[]) with ordinality as k(attnum, ord)
    join pg_attribute a on a.attrelid = t.oid and a.attnum = k.attnum
    where n.nspname = ${namespace} and t.relname = ${name}
    group by i.relname, x.indisunique, x.indisprimary
    order by i.relname`.execute(q)).rows;
  return {
    name,
    columns: cols.map((c) => ({ name: c.name, type: c.type.toUpperCase() + (c.length !== null ? `(${c.length})` : ''), nullable: c.nullable === 'YES' })),
    primaryKey: ix.find((i) => i.primary)?.columns ?? [],
    indexes: ix.filter((i) => !i.primary).map((i) => ({ name: i.name, columns: i.columns, unique: i.unique })),
  };
}

const TRANSIENT_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND']);

function classifyError(err: unknown): ApdbErrorKind | null {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message : '';
  if (code === '40001' || code === '40P01') return 'retry';
  if (code.startsWith('08') || code.startsWith('53') || code.startsWith('57P') || code === '55P03' || TRANSIENT_NODE_CODES.has(code)) return 'transient';
  if (code.startsWith('28') || code === '3D000' || code === '42501' || code === '3F000') return 'config';
  if (/Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(message)) return 'transient';
  if (/client password must be a string|password authentication failed/i.test(message)) return 'config';
  return null;
}
