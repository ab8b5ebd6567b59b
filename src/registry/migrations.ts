/**
 * The schema, versioned. `MIGRATIONS` is ordered: each entry brings a registry from the previous
 * version to its own. Creating a registry runs them all; opening one runs those newer than its
 * `registry_meta.schema_version`, in one transaction under the registry lock, so concurrent
 * openers migrate once. A registry newer than this code is refused.
 */
import type { CreateTableBuilder } from 'kysely';
import { ConfigError } from '../core/errors.ts';
import type { RegistryDb, RegistryTx } from './backend.ts';
import { isNumericDimension } from './dimensions.ts';
import { DIMENSIONS } from './types.ts';

export interface Migration {
  /** Semantic version, `MAJOR.MINOR.PATCH`. */
  readonly version: string;
  readonly description: string;
  up(trx: RegistryTx): Promise<void>;
}

function withDimensionColumns<T extends string, C extends string>(t: CreateTableBuilder<T, C>): CreateTableBuilder<T, C> {
  let b = t;
  for (const d of DIMENSIONS) b = b.addColumn(d, isNumericDimension(d) ? 'bigint' : 'text') as CreateTableBuilder<T, C>;
  return b;
}

async function initialSchema(trx: RegistryTx): Promise<void> {
  const s = trx.schema;
  await s.createTable('registry_meta')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .execute();

  await withDimensionColumns(s.createTable('dimension_record')
    .addColumn('element', 'text', (c) => c.notNull())
    .addColumn('record_key', 'text', (c) => c.notNull())
    .addColumn('record', 'text', (c) => c.notNull()))
    .addPrimaryKeyConstraint('dimension_record_pk', ['element', 'record_key'])
    .execute();

  await s.createTable('dataset_type')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('dimensions', 'text', (c) => c.notNull())
    .addColumn('storage_class', 'text', (c) => c.notNull())
    .addColumn('is_calibration', 'integer', (c) => c.notNull())
    .execute();

  await s.createTable('collection')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('doc', 'text', (c) => c.notNull().defaultTo(''))
    .execute();

  await s.createTable('collection_chain')
    .addColumn('parent', 'text', (c) => c.notNull().references('collection.name').onDelete('cascade'))
    .addColumn('position', 'integer', (c) => c.notNull())
    // No cascade: a collection still held by a chain cannot be removed.
    .addColumn('child', 'text', (c) => c.notNull().references('collection.name'))
    .addPrimaryKeyConstraint('collection_chain_pk', ['parent', 'position'])
    .execute();
  await s.createIndex('collection_chain_child').on('collection_chain').column('child').execute();

  await withDimensionColumns(s.createTable('dataset')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('dataset_type', 'text', (c) => c.notNull().references('dataset_type.name'))
    // No cascade: a RUN that still holds datasets cannot be removed.
    .addColumn('run', 'text', (c) => c.notNull().references('collection.name'))
    .addColumn('data_id_key', 'text', (c) => c.notNull())
    .addColumn('path', 'text', (c) => c.notNull())
    .addColumn('size_bytes', 'bigint', (c) => c.notNull())
    .addColumn('checksum', 'text', (c) => c.notNull())
    .addColumn('ingested_at', 'text', (c) => c.notNull()))
    .addUniqueConstraint('dataset_unique_data_id', ['dataset_type', 'run', 'data_id_key'])
    .execute();
  await s.createIndex('dataset_run').on('dataset').column('run').execute();
  await s.createIndex('dataset_type_data_id').on('dataset').columns(['dataset_type', 'data_id_key']).execute();
  await s.createIndex('dataset_type_detector_visit').on('dataset').columns(['dataset_type', 'instrument', 'detector', 'visit']).execute();
  await s.createIndex('dataset_type_detector_exposure').on('dataset').columns(['dataset_type', 'instrument', 'detector', 'exposure']).execute();
  await s.createIndex('dataset_htm7').on('dataset').column('htm7').execute();
  await s.createIndex('dataset_skymap_tract_patch').on('dataset').columns(['skymap', 'tract', 'patch']).execute();

  await s.createTable('dataset_tag')
    .addColumn('collection', 'text', (c) => c.notNull().references('collection.name').onDelete('cascade'))
    .addColumn('dataset_id', 'text', (c) => c.notNull().references('dataset.id').onDelete('cascade'))
    .addColumn('dataset_type', 'text', (c) => c.notNull())
    .addColumn('data_id_key', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('dataset_tag_pk', ['collection', 'dataset_id'])
    // A TAGGED collection holds at most one dataset per dataset type and data ID.
    .addUniqueConstraint('dataset_tag_unique_data_id', ['collection', 'dataset_type', 'data_id_key'])
    .execute();
  await s.createIndex('dataset_tag_dataset').on('dataset_tag').column('dataset_id').execute();

  await s.createTable('dataset_calib')
    .addColumn('collection', 'text', (c) => c.notNull().references('collection.name').onDelete('cascade'))
    .addColumn('dataset_id', 'text', (c) => c.notNull().references('dataset.id').onDelete('cascade'))
    .addColumn('dataset_type', 'text', (c) => c.notNull())
    .addColumn('data_id_key', 'text', (c) => c.notNull())
    .addColumn('begin_time', 'text')
    .addColumn('end_time', 'text')
    .execute();
  await s.createIndex('dataset_calib_lookup').on('dataset_calib').columns(['collection', 'dataset_type', 'data_id_key']).execute();
  await s.createIndex('dataset_calib_dataset').on('dataset_calib').column('dataset_id').execute();
}

export const MIGRATIONS: readonly Migration[] = [
  { version: '1.0.0', description: 'dimension records, dataset types, collections, datasets, tags, certifications', up: initialSchema },
];

export function latestVersion(migrations: readonly Migration[] = MIGRATIONS): string {
  return migrations[migrations.length - 1].version;
}

export function compareVersions(a: string, b: string): number {
  const pa = parseVersion(a);
  const pb = parseVersion(b);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return pa[i] - pb[i];
  return 0;
}

function parseVersion(v: string): [number, number, number] {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(v);
  if (!m) throw new ConfigError(`registry schema version '${v}' is not MAJOR.MINOR.PATCH`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

/** The stored schema version, or null when the registry_meta row is missing. */
export async function readSchemaVersion(trx: RegistryDb | RegistryTx): Promise<string | null> {
  const row = await trx.selectFrom('registry_meta').select('value').where('key', '=', 'schema_version').executeTakeFirst();
  return row?.value ?? null;
}

/**
 * Refuses a schema newer than `migrations` knows (the message says which code version to use),
 * and lists the migrations that bring `from` up to date.
 */
export function pendingMigrations(from: string | null, location: string, migrations: readonly Migration[] = MIGRATIONS): readonly Migration[] {
  checkOrder(migrations);
  if (from === null) return migrations;
  const latest = latestVersion(migrations);
  if (compareVersions(from, latest) > 0) {
    throw new ConfigError(`the registry at ${location} has schema version ${from}, newer than this code knows (${latest}); upgrade prompt-processing to open it`);
  }
  return migrations.filter((m) => compareVersions(m.version, from) > 0);
}

function checkOrder(migrations: readonly Migration[]): void {
  if (migrations.length === 0) throw new ConfigError('no registry migrations');
  for (let i = 1; i < migrations.length; i++) {
    if (compareVersions(migrations[i - 1].version, migrations[i].version) >= 0) {
      throw new ConfigError(`registry migrations out of order: ${migrations[i - 1].version} before ${migrations[i].version}`);
    }
  }
}

/** Runs the pending migrations and records the new version; returns it. */
export async function migrate(trx: RegistryTx, from: string | null, location: string, now: Date, migrations: readonly Migration[] = MIGRATIONS): Promise<string> {
  const todo = pendingMigrations(from, location, migrations);
  for (const m of todo) await m.up(trx);
  const version = todo.length > 0 ? todo[todo.length - 1].version : (from as string);
  if (from === null) {
    await trx.insertInto('registry_meta').values([
      { key: 'schema_version', value: version },
      { key: 'created_at', value: now.toISOString() },
    ]).execute();
  } else if (todo.length > 0) {
    await trx.updateTable('registry_meta').set({ value: version }).where('key', '=', 'schema_version').execute();
    await trx.insertInto('registry_meta').values({ key: `migrated_to_${version}_at`, value: now.toISOString() })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value: now.toISOString() })).execute();
  }
  return version;
}
