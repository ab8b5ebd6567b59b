/**
 * Config → backend. Each backend's module (and its driver) is imported only when a registry of
 * that kind is opened. A new backend is one folder under dialects/ plus one case here.
 */
import type { OpenMode, RegistryBackend } from './backend.ts';
import type { RegistryTarget } from './config.ts';
import type { RegistryConfig } from './types.ts';

export interface BackendDeps {
  /** Environment for connection settings (PG* variables, HOME for ~/.pgpass); default process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

export async function openBackend(target: RegistryTarget, cfg: RegistryConfig, mode: OpenMode, deps: BackendDeps = {}): Promise<RegistryBackend> {
  switch (target.backend) {
    case 'sqlite':
      return (await import('./dialects/sqlite/sqlite-backend.ts')).createSqliteBackend(target.file, mode);
    case 'postgres':
      return (await import('./dialects/postgres/postgres-backend.ts')).createPostgresBackend(target.url, cfg.namespace, mode, deps.env);
  }
}
