/**
 * Creating and opening registries. Creation makes the schema inside one transaction under the
 * registry lock, so two processes creating the same registry cannot both succeed; opening reads
 * the schema version, refuses a newer one and migrates an older one.
 */
import { ConfigError, NotFoundError, PromptError, TransientError, errorMessage } from '../core/errors.ts';
import type { RegistryBackend } from './backend.ts';
import { openBackend, type BackendDeps } from './backends.ts';
import { parseRegistryDb } from './config.ts';

import { MIGRATIONS, migrate, pendingMigrations, readSchemaVersion, type Migration } from './migrations.ts';
import { SqlRegistry, type RegistryDeps } from './sql-registry.ts';
import type { Registry, RegistryConfig } from './types.ts';

export interface OpenRegistryDeps extends RegistryDeps, BackendDeps {
  /** The schema history; tests pass their own to exercise migrations. */
  readonly migrations?: readonly Migration[];
}

function mapOpenError(backend: RegistryBackend, e: unknown, what: string): Error {
  if (e instanceof PromptError) return e;
  const where = `${what} ${backend.location}`;
  switch (backend.classifyError(e)) {
    case 'retry':
    case 'transient':
      return new TransientError(`${where}: ${errorMessage(e)}`, { cause: e });
    case 'config':
      return new ConfigError(`${where}: ${errorMessage(e)}`, { cause: e });
    case 'unique':
      return new ConfigError(`${where}: another process created it at the same time (${errorMessage(e)})`, { cause: e });
    default:
      return e instanceof Error ? e : new Error(String(e));
  }
}

/** Makes a new, empty registry; ConfigError if one already exists there. */
export async function createRegistry(cfg: RegistryConfig, deps: OpenRegistryDeps = {}): Promise<Registry> {
  const target = parseRegistryDb(cfg);
  const backend = await openBackend(target, cfg, 'create', deps);
  const now = deps.now ?? (() => new Date());
  try {
    await backend.db.transaction().execute(async (trx) => {
      await backend.lockRegistry(trx);
      await backend.prepare(trx);
      if (await backend.hasRegistry(trx)) {
        throw new ConfigError(`a registry already exists at ${backend.location}; open it instead, or create the new one elsewhere`);
      }
      await migrate(trx, null, backend.location, now(), deps.migrations ?? MIGRATIONS);
    });
  } catch (e) {
    await backend.close().catch(() => {});
    throw mapOpenError(backend, e, 'creating the registry at');
  }
  return new SqlRegistry(cfg, backend, deps);
}

/** Opens an existing registry, migrating an older schema; NotFoundError if there is none. */
export async function openRegistry(cfg: RegistryConfig, deps: OpenRegistryDeps = {}): Promise<Registry> {
  const target = parseRegistryDb(cfg);
  const backend = await openBackend(target, cfg, 'open', deps);
  const now = deps.now ?? (() => new Date());
  const migrations = deps.migrations ?? MIGRATIONS;
  try {
    if (!(await backend.hasRegistry(backend.db))) {
      throw new NotFoundError(`no registry at ${backend.location}; create it with \`prompt butler create\``);
    }
    const version = await readSchemaVersion(backend.db);
    if (version === null) throw new ConfigError(`the registry at ${backend.location} has no schema_version in registry_meta`);
    if (pendingMigrations(version, backend.location, migrations).length > 0) {
      await backend.db.transaction().execute(async (trx) => {
        await backend.lockRegistry(trx);
        // Another process may have migrated while this one waited for the lock.
        const current = await readSchemaVersion(trx);
        await migrate(trx, current ?? version, backend.location, now(), migrations);
      });
    }
  } catch (e) {
    await backend.close().catch(() => {});
    throw mapOpenError(backend, e, 'opening the registry at');
  }
  return new SqlRegistry(cfg, backend, deps);
}


