import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError, NotFoundError } from '../core/errors.ts';
import type { RegistryConfig } from '../registry/index.ts';
import type { ObjectStore } from '../storage/object-store.ts';

/**
 * Where a repository lives and how to reach its registry. The repository root is a directory or
 * `s3://bucket/prefix`; `butler.yaml` at the root names the registry database. A seed config
 * (as `butler create --seed-config` takes in the playbook) may set `registry.db` and
 * `registry.namespace`.
 */
export interface RepoConfig {
  readonly root: string;
  readonly registry: RegistryConfig;
}

export const CONFIG_NAME = 'butler.yaml';
/** In butler.yaml, a registry path relative to the repository root starts with this. */
const ROOT_TOKEN = '<butlerRoot>';

const seedSchema = z
  .object({
    registry: z
      .object({ db: z.string().min(1).optional(), namespace: z.string().min(1).optional() })
      .strict()
      .optional(),
  })
  .passthrough();

export function isRemoteRoot(root: string): boolean {
  return /^s3:\/\//.test(root);
}

export function normalizeRoot(root: string): string {
  if (isRemoteRoot(root)) return root.replace(/\/+$/, '');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(root) && !root.startsWith('file://')) {
    throw new ConfigError(`unsupported repository location '${root}' (use a directory or s3://bucket/prefix)`);
  }
  return path.resolve(root.startsWith('file://') ? new URL(root).pathname : root);
}

export async function readSeedConfig(file: string): Promise<{ db?: string; namespace?: string }> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read seed config ${file}: ${(e as Error).message}`);
  }
  const r = seedSchema.safeParse(parseYaml(text) ?? {});
  if (!r.success) {
    const i = r.error.issues[0];
    throw new ConfigError(`seed config ${file}: ${i.path.join('.')} ${i.message}`);
  }
  return r.data.registry ?? {};
}

/** The registry a new repository at `root` gets: the seed's, or SQLite inside a local root. */
export function registryForNewRepo(root: string, seed: { db?: string; namespace?: string }): RegistryConfig {
  if (seed.db) {
    const db = seed.db.replace(/\/+$/, '');
    if (/^postgres(ql)?:\/\//.test(db)) return { db: seed.db, namespace: seed.namespace };
    if (/^sqlite:/.test(db)) return { db: seed.db };
    throw new ConfigError(`registry.db '${seed.db}' is neither sqlite: nor postgresql://`);
  }
  if (isRemoteRoot(root)) {
    throw new ConfigError(
      `a repository in object storage (${root}) needs a PostgreSQL registry: give a seed config with registry.db and registry.namespace`,
    );
  }
  return { db: `sqlite:///${path.join(root, 'gen3.sqlite3')}` };
}

export function encodeRepoConfig(cfg: RepoConfig): string {
  let db = cfg.registry.db;
  if (!isRemoteRoot(cfg.root) && db.startsWith(`sqlite:///${cfg.root}/`)) db = `sqlite:///${ROOT_TOKEN}/${db.slice(`sqlite:///${cfg.root}/`.length)}`;
  const registry: Record<string, string> = { db };
  if (cfg.registry.namespace) registry.namespace = cfg.registry.namespace;
  return stringifyYaml({ registry });
}

export function decodeRepoConfig(root: string, text: string): RepoConfig {
  const y = parseYaml(text) as { registry?: { db?: string; namespace?: string } } | null;
  const db = y?.registry?.db;
  if (!db) throw new ConfigError(`${root}/${CONFIG_NAME} has no registry.db`);
  return {
    root,
    registry: { db: db.replace(ROOT_TOKEN, isRemoteRoot(root) ? ROOT_TOKEN : root), namespace: y?.registry?.namespace },
  };
}

export async function loadRepoConfig(root: string, store: ObjectStore): Promise<RepoConfig> {
  let bytes: Uint8Array;
  try {
    bytes = await store.get(CONFIG_NAME);
  } catch (e) {
    if (e instanceof NotFoundError) {
      throw new NotFoundError(`no repository at ${root} (no ${CONFIG_NAME}); create one with 'prompt butler create ${root}'`);
    }
    throw e;
  }
  return decodeRepoConfig(root, new TextDecoder().decode(bytes));
}
