/**
 * APDB configuration, from the `-c key=value` pairs of `make_apdb.py` (dax_apdb's ApdbSqlConfig):
 *
 *   db_url                      sqlite:///relative/file.db, sqlite:////absolute/file.db (SQLAlchemy's
 *                               rule: the path follows the third slash), sqlite:path, sqlite::memory:,
 *                               or postgresql://user@host:port/db (postgres:// too)
 *   namespace                   PostgreSQL schema holding the tables; required there, never `public`;
 *                               SQLite has none
 *   isolation_level             READ_COMMITTED (default), READ_UNCOMMITTED, REPEATABLE_READ, SERIALIZABLE
 *   read_sources_months         DiaSource history window (default 12; months of 30 days)
 *   read_forced_sources_months  DiaForcedSource history window (default 12)
 */
import path from 'node:path';
import { ConfigError } from '../core/errors.ts';

export const ISOLATION_LEVELS = ['READ_COMMITTED', 'READ_UNCOMMITTED', 'REPEATABLE_READ', 'SERIALIZABLE'] as const;
export type IsolationLevel = (typeof ISOLATION_LEVELS)[number];

export interface ApdbConfig {
  readonly dbUrl: string;
  /** PostgreSQL schema; null for SQLite. */
  readonly namespace: string | null;
  readonly isolationLevel: IsolationLevel;
  readonly readSourcesMonths: number;
  readonly readForcedSourcesMonths: number;
}

export type ApdbTarget =
  | { readonly backend: 'sqlite'; readonly file: string }
  | { readonly backend: 'postgres'; readonly url: string };

export const APDB_CONFIG_KEYS = ['db_url', 'namespace', 'isolation_level', 'read_sources_months', 'read_forced_sources_months'] as const;
type ConfigKey = (typeof APDB_CONFIG_KEYS)[number];

const NAMESPACE = /^[a-z_][a-z0-9_]{0,62}$/;
const DEFAULT_MONTHS = 12;

/** The URL with any password removed (for messages, metadata and summaries). */
export function stripPassword(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:@/]*):[^@/]*@/i, '$1@');
}

/** Reads a db_url into a backend and its target; the PostgreSQL URL is checked further when opened. */
export function parseApdbUrl(url: string): ApdbTarget {
  if (/^postgres(ql)?:\/\//i.test(url)) return { backend: 'postgres', url };
  if (/^sqlite:/i.test(url)) {
    const rest = url.slice('sqlite:'.length);
    if (rest === ':memory:' || rest === '//' || rest === '///:memory:') return { backend: 'sqlite', file: ':memory:' };
    if (rest.startsWith('//')) {
      const afterHost = rest.slice(2);
      if (!afterHost.startsWith('/')) {
        throw new ConfigError(`APDB db_url '${url}' names a host; use sqlite:///relative/path or sqlite:////absolute/path`);
      }
      const file = decodeURIComponent(afterHost.slice(1));
      if (file === '') throw new ConfigError(`APDB db_url '${url}' has no file path`);
      return { backend: 'sqlite', file: path.resolve(file) };
    }
    if (rest === '') throw new ConfigError(`APDB db_url '${url}' has no file path`);
    return { backend: 'sqlite', file: path.resolve(rest) };
  }
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1];
  throw new ConfigError(`unsupported APDB db_url ${scheme ? `scheme '${scheme}'` : `'${url}'`} (supported: sqlite:///relative/file, sqlite:////absolute/file, sqlite:path, postgresql://user@host:port/db)`);
}

/** The URL that names a SQLite file unambiguously (SQLAlchemy's four-slash absolute form). */
export function sqliteUrl(file: string): string {
  return file === ':memory:' ? 'sqlite::memory:' : `sqlite:///${file}`;
}

/** Refuses a missing, malformed or shared PostgreSQL schema; returns it. */
export function checkNamespace(namespace: string | null, url: string): string {
  if (namespace === null || namespace === '') {
    throw new ConfigError(
      `a PostgreSQL APDB needs a namespace (${stripPassword(url)}): without one its tables would land in the database's `
      + `public schema, mixed with everything else there and very hard to clean up later. Give it one with -c namespace=NAME `
      + `(e.g. -c namespace=apdb_latiss); it becomes a PostgreSQL schema.`,
    );
  }
  if (!NAMESPACE.test(namespace)) {
    throw new ConfigError(`APDB namespace '${namespace}' must be 1–63 lower-case letters, digits or _, not starting with a digit`);
  }
  if (namespace === 'public' || namespace === 'information_schema' || namespace.startsWith('pg_')) {
    throw new ConfigError(`APDB namespace '${namespace}' is a shared or system schema; an APDB in public is very hard to clean up — choose a namespace of its own`);
  }
  return namespace;
}

function months(key: ConfigKey, value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0 || n > 1200) {
    throw new ConfigError(`APDB config ${key}='${value}' must be a whole number of months in 0..1200`);
  }
  return n;
}

/** Parses `key=value` pairs (the values of `-c`); every error names the key or value at fault. */
export function parseApdbConfig(pairs: readonly string[]): ApdbConfig {
  const seen = new Map<ConfigKey, string>();
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new ConfigError(`APDB config '${pair}' is not key=value (known keys: ${APDB_CONFIG_KEYS.join(', ')})`);
    const key = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    if (!(APDB_CONFIG_KEYS as readonly string[]).includes(key)) {
      throw new ConfigError(`unknown APDB config key '${key}' (known keys: ${APDB_CONFIG_KEYS.join(', ')})`);
    }
    if (seen.has(key as ConfigKey)) throw new ConfigError(`APDB config key '${key}' is given twice`);
    seen.set(key as ConfigKey, value);
  }
  const dbUrl = seen.get('db_url');
  if (dbUrl === undefined || dbUrl === '') {
    throw new ConfigError('APDB config needs db_url (e.g. -c db_url=sqlite:///apdb.db or -c db_url=postgresql://user@host:5432/db)');
  }
  const target = parseApdbUrl(dbUrl);
  const isolation = seen.get('isolation_level') ?? 'READ_COMMITTED';
  if (!(ISOLATION_LEVELS as readonly string[]).includes(isolation)) {
    throw new ConfigError(`APDB config isolation_level='${isolation}' is not one of ${ISOLATION_LEVELS.join(', ')}`);
  }
  const ns = seen.get('namespace');
  let namespace: string | null = null;
  if (target.backend === 'postgres') {
    namespace = checkNamespace(ns ?? null, dbUrl);
  } else if (ns !== undefined && ns !== '') {
    throw new ConfigError(`APDB config namespace='${ns}' applies to PostgreSQL only; a SQLite APDB is its own file (${dbUrl})`);
  }
  const src = seen.get('read_sources_months');
  const forced = seen.get('read_forced_sources_months');
  return {
    dbUrl,
    namespace,
    isolationLevel: isolation as IsolationLevel,
    readSourcesMonths: src === undefined ? DEFAULT_MONTHS : months('read_sources_months', src),
    readForcedSourcesMonths: forced === undefined ? DEFAULT_MONTHS : months('read_forced_sources_months', forced),
  };
}
