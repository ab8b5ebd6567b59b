/**
 * PostgreSQL: each repository in its own schema (the `namespace`), every query schema-qualified
 * through Kysely's withSchema, so nothing depends on the connection's search_path (and a
 * transaction-pooling proxy in front of the server changes nothing). pg is imported here only,
 * when a PostgreSQL registry is opened. BIGINT columns come back as numbers (data ID values and
 * sizes stay far below 2^53).
 */
import { Kysely, PostgresDialect, sql } from 'kysely';
import { ConfigError } from '../../../core/errors.ts';
import type { ErrorKind, OpenMode, RegistryBackend, RegistryDb, RegistryTx } from '../../backend.ts';
import type { RegistryTables } from '../../schema.ts';
import { describeSettings, passwordFor, redact, resolvePgSettings, type PgSettings } from './postgres-connection.ts';

/** Connections per registry handle; twelve processes on one server stay well below max_connections. */
export const POSTGRES_POOL_SIZE = 5;

const NAMESPACE = /^[a-z_][a-z0-9_]{0,62}$/;
const INT8_OID = 20;

/** Refuses a missing or unsafe namespace; returns it. */
export function checkNamespace(namespace: string | undefined, db: string): string {
  if (namespace === undefined || namespace === null || namespace === '') {
    throw new ConfigError(
      `a PostgreSQL registry needs a namespace (${db}): without one it would be created in the database's `
      + `public schema, mixed with everything else there and very hard to clean up later. Give every repository `
      + `its own namespace (registry.namespace, e.g. 'prompt_latiss'); it becomes a PostgreSQL schema.`,
    );
  }
  if (!NAMESPACE.test(namespace)) {
    throw new ConfigError(`registry namespace '${namespace}' must be 1–63 lower-case letters, digits or _, not starting with a digit`);
  }
  if (namespace === 'public' || namespace === 'information_schema' || namespace.startsWith('pg_')) {
    throw new ConfigError(`registry namespace '${namespace}' is a shared or system schema; a repository in public is very hard to clean up — choose a namespace of its own`);
  }
  return namespace;
}

function sslOption(s: PgSettings): boolean | { rejectUnauthorized: boolean } {
  switch (s.sslmode) {
    case 'disable': case 'allow': case 'prefer': return false;
    case 'require': return { rejectUnauthorized: false };
    case 'verify-ca': case 'verify-full': return { rejectUnauthorized: true };
  }
}

export async function createPostgresBackend(url: string, namespaceIn: string | undefined, _mode: OpenMode, env: NodeJS.ProcessEnv = process.env): Promise<RegistryBackend> {
  const namespace = checkNamespace(namespaceIn, redact(url));
  const settings = resolvePgSettings(url, env);
  const location = `${describeSettings(settings)} (namespace ${namespace})`;
  const { default: pg } = await import('pg');
  const parseInt8 = (v: string): number | string => {
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : v;
  };
  const builtin = pg.types.getTypeParser;
  const getTypeParser = ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? parseInt8 : builtin(oid, format)) as typeof pg.types.getTypeParser;
  const pool = new pg.Pool({
    host: settings.host,
    port: settings.port,
    database: settings.database,
    user: settings.user,
    password: (async () => passwordFor(settings, env)) as () => Promise<string>,
    ssl: sslOption(settings),
    application_name: settings.applicationName,
    connectionTimeoutMillis: settings.connectTimeoutS !== undefined ? settings.connectTimeoutS * 1000 : 30_000,
    max: POSTGRES_POOL_SIZE,
    types: { getTypeParser },
  });
  // An idle connection dropped by the server must not crash the process; the next query reports it.
  pool.on('error', () => {});
  const root = new Kysely<RegistryTables>({ dialect: new PostgresDialect({ pool }) });
  const db: RegistryDb = root.withSchema(namespace);
  return {
    dialect: 'postgres',
    location,
    capabilities: { supportsForUpdate: true, maxParameters: 65_535 },
    db,
    async hasRegistry(q: RegistryDb | RegistryTx): Promise<boolean> {
      const r = await sql<{ present: number }>`select 1 as present from pg_catalog.pg_tables where schemaname = ${namespace} and tablename = 'registry_meta'`.execute(q);
      return r.rows.length > 0;
    },
    async lockRegistry(trx: RegistryTx): Promise<void> {
      await sql`select pg_advisory_xact_lock(hashtext(${`prompt-registry:${settings.database}:${namespace}`}))`.execute(trx);
    },
    async prepare(trx: RegistryTx): Promise<void> {
      await sql`create schema if not exists ${sql.id(namespace)}`.execute(trx);
    },
    classifyError,
    async close(): Promise<void> {
      await root.destroy();
    },
  };
}

const TRANSIENT_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND']);

function classifyError(err: unknown): ErrorKind | null {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message : '';
  if (code === '40001' || code === '40P01') return 'retry';
  if (code === '23505') return 'unique';
  if (code === '23503') return 'foreign-key';
  if (code.startsWith('08') || code.startsWith('53') || code.startsWith('57P') || code === '55P03' || TRANSIENT_NODE_CODES.has(code)) return 'transient';
  if (code.startsWith('28') || code === '3D000' || code === '42501' || code === '3F000') return 'config';
  if (/Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(message)) return 'transient';
  // pg's own words when the server wants a password and none was found (URL, PGPASSWORD, ~/.pgpass).
  if (/client password must be a string|password authentication failed/i.test(message)) return 'config';
  return null;
}
