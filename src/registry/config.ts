/**
 * The `db` string of a RegistryConfig, read into a backend and its target. Only the shape is
 * checked here; each backend checks the rest (the PostgreSQL one: host, credentials, namespace).
 */
import path from 'node:path';
import { ConfigError } from '../core/errors.ts';
import type { RegistryConfig } from './types.ts';

export type RegistryTarget =
  | { readonly backend: 'sqlite'; readonly file: string | ':memory:' }
  | { readonly backend: 'postgres'; readonly url: string };

export function parseRegistryDb(cfg: RegistryConfig): RegistryTarget {
  const db = cfg?.db;
  if (typeof db !== 'string' || db.trim() === '') {
    throw new ConfigError('registry db is missing: give sqlite:///abs/file.sqlite3, sqlite:relative/file, sqlite::memory: or postgresql://user@host:port/db');
  }
  if (/^postgres(ql)?:\/\//i.test(db)) return { backend: 'postgres', url: db };
  if (/^sqlite:/i.test(db)) {
    if (cfg.namespace !== undefined) {
      throw new ConfigError(`registry namespace '${cfg.namespace}' applies to PostgreSQL only; a SQLite registry is its own file (${db})`);
    }
    const rest = db.slice('sqlite:'.length);
    if (rest === ':memory:') return { backend: 'sqlite', file: ':memory:' };
    if (rest.startsWith('//')) {
      const afterHost = rest.slice(2);
      if (!afterHost.startsWith('/')) {
        throw new ConfigError(`registry db '${db}' names a host; use sqlite:///absolute/path (three slashes) or sqlite:relative/path`);
      }
      return { backend: 'sqlite', file: decodeURIComponent(afterHost) };
    }
    if (rest === '') throw new ConfigError(`registry db '${db}' has no file path`);
    return { backend: 'sqlite', file: path.resolve(rest) };
  }
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(db)?.[1];
  throw new ConfigError(`unsupported registry db ${scheme ? `scheme '${scheme}'` : `'${db}'`} (supported: sqlite:///abs/file, sqlite:relative/file, sqlite::memory:, postgresql://…, postgres://…)`);
}
