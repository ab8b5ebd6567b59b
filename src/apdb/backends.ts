/**
 * Config → backend. Each backend's module (and its driver) is imported only when an APDB of that
 * kind is opened. A new backend is one folder under dialects/ plus one case here.
 */
import type { ApdbBackend } from './backend.ts';
import { sqliteUrl, type ApdbConfig, type ApdbTarget } from './config.ts';

export interface BackendDeps {
  /** Environment for connection settings (PG* variables, HOME for ~/.pgpass); default process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

/** 'create' may make the SQLite file and its directory; 'open' refuses a missing one. */
export type BackendMode = 'create' | 'open';

export async function openApdbBackend(target: ApdbTarget, config: ApdbConfig, mode: BackendMode, deps: BackendDeps = {}): Promise<ApdbBackend> {
  switch (target.backend) {
    case 'sqlite':
      return (await import('./dialects/sqlite/sqlite-apdb-backend.ts')).createSqliteApdbBackend(target.file, mode);
    case 'postgres':
      return (await import('./dialects/postgres/postgres-apdb-backend.ts')).createPostgresApdbBackend(target.url, config, deps.env ?? process.env);
  }
}

/** The URL an APDB is described by, without opening it (PostgreSQL: as the PG* variables complete it). */
export async function describeTarget(target: ApdbTarget, deps: BackendDeps = {}): Promise<string> {
  switch (target.backend) {
    case 'sqlite':
      return sqliteUrl(target.file);
    case 'postgres':
      return (await import('./dialects/postgres/postgres-apdb-backend.ts')).postgresApdbUrl(target.url, deps.env ?? process.env);
  }
}
