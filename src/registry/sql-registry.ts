/**
 * The registry's logic, written once over Kysely for every backend. Backends differ only in
 * what RegistryBackend says (flags, the registry lock, error kinds).
 *
 * Concurrency: every write is one transaction. Rows that several processes may write at once
 * (datasets, dataset types, collections, dimension records, tags) are inserted with
 * ON CONFLICT DO NOTHING and then read back and compared, so racing writers neither duplicate
 * nor fail on each other's rows. Rows go in a canonical order so that two writers never lock
 * them in opposite orders. Chain edits and certifications take a lock (SQLite: the write lock
 * every transaction holds; PostgreSQL: the registry's advisory lock, or the collection row
 * FOR UPDATE). Serialization failures and deadlocks rerun the transaction.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, InvalidInputError, NotFoundError, PromptError, TransientError, errorMessage } from '../core/errors.ts';
import type { RegistryBackend, RegistryDb, RegistryTx } from './backend.ts';
import { canonicalise, canonicalJson, type Json } from './canonical-json.ts';
import { datasetId as deterministicId, normaliseDatasetId } from './dataset-id.ts';
import {
  RECORD_KEYS, assertDimension, canonicalDimensions, checkDataId, checkDimensionValue, checkWhereValue, compareDataIds,
  dataIdKey, isDimension,
} from './dimensions.ts';
import { ConflictError } from './errors.ts';
import { globToRegExp } from './glob.ts';
import { readSchemaVersion } from './migrations.ts';
import type { DatasetTable, DimensionColumns } from './schema.ts';
import { contains, formatTimespan, normaliseTime, normaliseTimespan, overlaps, type StoredTimespan } from './timespan.ts';
import {
  COLLECTION_TYPES, DIMENSIONS, type CollectionInfo, type CollectionType, type DataId, type DataIdValue, type DatasetQuery,
  type DatasetType, type Dimension, type NewDataset, type Registry, type RegistryConfig, type StoredDataset, type Timespan,
} from './types.ts';

export interface RegistryDeps {
  /** The clock for ingestedAt and registry_meta times. */
  readonly now?: () => Date;
}

interface CollectionRow {
  readonly name: string;
  readonly type: CollectionType;
  readonly doc: string;
}

interface Hit {
  readonly row: DatasetTable;
  readonly rank: number;
  readonly validity?: StoredTimespan;
}

/** Transactions rerun at most this many times on a serialization failure or deadlock. */
const MAX_ATTEMPTS = 8;
/** Rows per INSERT and values per IN list. */
const CHUNK = 500;

const DATASET_TYPE_NAME = /^[A-Za-z_][A-Za-z0-9_.]*$/;
// eslint-disable-next-line no-control-regex
const BAD_COLLECTION_CHARS = /[\u0000-\u001f\u007f*?]/;

function chunks<T>(items: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function emptyDimensionColumns(): DimensionColumns {
  const cols = {} as Record<Dimension, string | number | null>;
  for (const d of DIMENSIONS) cols[d] = null;
  return cols;
}

function checkCollectionName(name: string): string {
  if (typeof name !== 'string' || name.trim() === '' || name !== name.trim()) {
    throw new InvalidInputError(`collection name ${JSON.stringify(name)} must be a non-empty string without surrounding spaces`);
  }
  if (BAD_COLLECTION_CHARS.test(name)) {
    throw new InvalidInputError(`collection name ${JSON.stringify(name)} must not contain control characters, '*' or '?'`);
  }
  return name;
}

function checkCollectionType(type: string): CollectionType {
  if (!(COLLECTION_TYPES as readonly string[]).includes(type)) {
    throw new InvalidInputError(`collection type '${type}' is not one of ${COLLECTION_TYPES.join(', ')}`);
  }
  return type as CollectionType;
}

function typeFromRow(r: { name: string; dimensions: string; storage_class: string; is_calibration: number | boolean }): DatasetType {
  return {
    name: r.name,
    dimensions: r.dimensions === '' ? [] : (r.dimensions.split(',') as Dimension[]),
    storageClass: r.storage_class,
    isCalibration: Number(r.is_calibration) === 1,
  };
}

function idList(ids: readonly string[], what: string): string[] {
  if (!Array.isArray(ids)) throw new InvalidInputError(`${what} takes a list of dataset ids`);
  return [...new Set(ids.map((id) => normaliseDatasetId(id)))].sort();
}

function describeDataId(dataId: DataId): string {
  return JSON.stringify(dataId);
}

export class SqlRegistry implements Registry {
  readonly config: RegistryConfig;
  readonly dialect: 'sqlite' | 'postgres';
  readonly #backend: RegistryBackend;
  readonly #db: RegistryDb;
  readonly #now: () => Date;
  /** Dataset types never change once registered, so a found one is remembered. */
  readonly #types = new Map<string, DatasetType>();
  #closed = false;

  constructor(config: RegistryConfig, backend: RegistryBackend, deps: RegistryDeps = {}) {
    this.config = Object.freeze({ ...config });
    this.dialect = backend.dialect;
    this.#backend = backend;
    this.#db = backend.db;
    this.#now = deps.now ?? (() => new Date());
  }

  // ------------------------------------------------------------------ plumbing

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#backend.close();
  }

  /** Maps a driver error into the shared error classes. */
  #mapError(e: unknown, what: string): Error {
    if (e instanceof PromptError) return e;
    const where = `${what} (${this.#backend.location})`;
    switch (this.#backend.classifyError(e)) {
      case 'retry':
      case 'transient':
        return new TransientError(`${where}: ${errorMessage(e)}`, { cause: e });
      case 'config':
        return new ConfigError(`${where}: ${errorMessage(e)}`, { cause: e });
      case 'unique':
      case 'foreign-key':
        return new ConflictError(`${where}: ${errorMessage(e)}`, { cause: e });
      default:
        return e instanceof Error ? e : new Error(String(e));
    }
  }

  async #read<T>(what: string, fn: (db: RegistryDb) => Promise<T>): Promise<T> {
    this.#checkOpen();
    try {
      return await fn(this.#db);
    } catch (e) {
      throw this.#mapError(e, what);
    }
  }

  async #write<T>(what: string, fn: (trx: RegistryTx) => Promise<T>): Promise<T> {
    this.#checkOpen();
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#db.transaction().execute(fn);
      } catch (e) {
        if (!(e instanceof PromptError) && this.#backend.classifyError(e) === 'retry' && attempt < MAX_ATTEMPTS) {
          await sleep(Math.random() * 20 * attempt);
          continue;
        }
        throw this.#mapError(e, what);
      }
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new InvalidInputError(`the registry at ${this.#backend.location} is closed`);
  }

  async schemaVersion(): Promise<string> {
    return this.#read('reading the schema version', async (db) => {
      const v = await readSchemaVersion(db);
      if (v === null) throw new ConfigError(`the registry at ${this.#backend.location} has no schema_version`);
      return v;
    });
  }

  // ------------------------------------------------------------------ dimension records

  async syncDimensionRecords(element: Dimension, records: readonly Record<string, unknown>[]): Promise<void> {
    const el = assertDimension(element, 'dimension element');
    const keyDims = RECORD_KEYS[el];
    if (!Array.isArray(records)) throw new InvalidInputError(`${el} records must be given as a list`);
    const rows = new Map<string, { record_key: string; record: string; cols: DimensionColumns }>();
    records.forEach((rec, i) => {
      const where = `${el} record ${i}`;
      if (rec === null || typeof rec !== 'object' || Array.isArray(rec)) throw new InvalidInputError(`${where} must be an object`);
      const cols = emptyDimensionColumns();
      for (const d of DIMENSIONS) {
        const v = rec[d];
        if (v === undefined || (v === null && !keyDims.includes(d))) continue;
        try {
          cols[d] = checkDimensionValue(d, v);
        } catch (e) {
          throw new InvalidInputError(`${where} (${JSON.stringify(rec)}): ${(e as Error).message}`);
        }
      }
      const missing = keyDims.filter((d) => cols[d] === null);
      if (missing.length > 0) throw new InvalidInputError(`${where} lacks its key ${missing.join(', ')} (a ${el} record is identified by ${keyDims.join(', ')})`);
      const key = dataIdKey(keyDims, cols as DataId);
      const text = canonicalJson(rec, where);
      const prev = rows.get(key);
      if (prev && prev.record !== text) throw new ConflictError(`two different ${el} records for ${key} in one call: ${prev.record} and ${text}`);
      rows.set(key, { record_key: key, record: text, cols });
    });
    if (rows.size === 0) return;
    const sorted = [...rows.values()].sort((a, b) => (a.record_key < b.record_key ? -1 : a.record_key > b.record_key ? 1 : 0));
    await this.#write(`syncing ${el} records`, async (trx) => {
      for (const part of chunks(sorted)) {
        await trx.insertInto('dimension_record')
          .values(part.map((r) => ({ element: el, record_key: r.record_key, record: r.record, ...r.cols })))
          .onConflict((oc) => oc.doNothing())
          .execute();
        const stored = await trx.selectFrom('dimension_record').select(['record_key', 'record'])
          .where('element', '=', el).where('record_key', 'in', part.map((r) => r.record_key)).execute();
        const byKey = new Map(stored.map((s) => [s.record_key, s.record]));
        for (const r of part) {
          const existing = byKey.get(r.record_key);
          if (existing === undefined) throw new TransientError(`${el} record ${r.record_key} vanished while it was being written`);
          if (existing !== r.record) {
            throw new ConflictError(`a different ${el} record for ${r.record_key} is already registered; ${diffRecords(existing, r.record)}`);
          }
        }
      }
    });
  }

  async dimensionRecords(element: Dimension, where: Readonly<Record<string, DataIdValue | readonly DataIdValue[]>> = {}): Promise<Record<string, unknown>[]> {
    const el = assertDimension(element, 'dimension element');
    const sqlWhere: Array<[Dimension, DataIdValue[]]> = [];
    const jsWhere: Array<[string, DataIdValue[]]> = [];
    for (const [k, v] of Object.entries(where)) {
      if (v === undefined) continue;
      if (isDimension(k)) sqlWhere.push([k, checkWhereValue(k, v)]);
      else jsWhere.push([k, Array.isArray(v) ? [...(v as readonly DataIdValue[])] : [v as DataIdValue]]);
    }
    if ([...sqlWhere, ...jsWhere].some(([, vals]) => vals.length === 0)) return [];
    const rows = await this.#read(`reading ${el} records`, async (db) => {
      let q = db.selectFrom('dimension_record').select(['record']).where('element', '=', el);
      for (const [d, vals] of sqlWhere) q = vals.length === 1 ? q.where(d, '=', vals[0]) : q.where(d, 'in', vals);
      for (const d of RECORD_KEYS[el]) q = q.orderBy(d);
      return q.orderBy('record_key').execute();
    });
    const out: Record<string, unknown>[] = [];
    for (const r of rows) {
      const rec = JSON.parse(r.record) as Record<string, unknown>;
      if (jsWhere.every(([k, vals]) => vals.includes(rec[k] as DataIdValue))) out.push(rec);
    }
    return out;
  }

  // ------------------------------------------------------------------ dataset types

  async registerDatasetType(t: DatasetType): Promise<void> {
    if (t === null || typeof t !== 'object') throw new InvalidInputError('dataset type must be an object');
    if (typeof t.name !== 'string' || !DATASET_TYPE_NAME.test(t.name)) {
      throw new InvalidInputError(`dataset type name ${JSON.stringify(t.name)} must start with a letter or _ and hold only letters, digits, _ and .`);
    }
    if (!Array.isArray(t.dimensions)) throw new InvalidInputError(`dimensions of dataset type '${t.name}' must be a list`);
    const dims = canonicalDimensions(t.dimensions, `dataset type '${t.name}'`);
    if (typeof t.storageClass !== 'string' || t.storageClass.trim() === '') {
      throw new InvalidInputError(`dataset type '${t.name}' needs a storage class`);
    }
    if (typeof t.isCalibration !== 'boolean') throw new InvalidInputError(`isCalibration of dataset type '${t.name}' must be true or false`);
    const wanted: DatasetType = { name: t.name, dimensions: dims, storageClass: t.storageClass, isCalibration: t.isCalibration };
    const stored = await this.#write(`registering dataset type '${t.name}'`, async (trx) => {
      await trx.insertInto('dataset_type')
        .values({ name: wanted.name, dimensions: dims.join(','), storage_class: wanted.storageClass, is_calibration: wanted.isCalibration ? 1 : 0 })
        .onConflict((oc) => oc.doNothing())
        .execute();
      const row = await trx.selectFrom('dataset_type').selectAll().where('name', '=', wanted.name).executeTakeFirstOrThrow();
      return typeFromRow(row);
    });
    const diffs: string[] = [];
    if (stored.dimensions.join(',') !== dims.join(',')) diffs.push(`dimensions [${stored.dimensions.join(', ')}], not [${dims.join(', ')}]`);
    if (stored.storageClass !== wanted.storageClass) diffs.push(`storage class ${stored.storageClass}, not ${wanted.storageClass}`);
    if (stored.isCalibration !== wanted.isCalibration) diffs.push(`isCalibration ${stored.isCalibration}, not ${wanted.isCalibration}`);
    if (diffs.length > 0) throw new ConflictError(`dataset type '${t.name}' is already registered with ${diffs.join('; ')}`);
    this.#types.set(stored.name, stored);
  }

  async datasetType(name: string): Promise<DatasetType | null> {
    const cached = this.#types.get(name);
    if (cached) return cached;
    const row = await this.#read(`reading dataset type '${name}'`, (db) =>
      db.selectFrom('dataset_type').selectAll().where('name', '=', name).executeTakeFirst());
    if (!row) return null;
    const t = typeFromRow(row);
    this.#types.set(name, t);
    return t;
  }

  async datasetTypes(): Promise<DatasetType[]> {
    const rows = await this.#read('listing dataset types', (db) => db.selectFrom('dataset_type').selectAll().orderBy('name').execute());
    return rows.map(typeFromRow);
  }

  async #requireType(name: string): Promise<DatasetType> {
    if (typeof name !== 'string') throw new InvalidInputError(`dataset type name must be a string, got ${typeof name}`);
    const t = await this.datasetType(name);
    if (!t) throw new NotFoundError(`dataset type '${name}' is not registered`);
    return t;
  }

  // ------------------------------------------------------------------ collections

  async registerCollection(name: string, type: CollectionType, doc = ''): Promise<void> {
    checkCollectionName(name);
    checkCollectionType(type);
    if (typeof doc !== 'string') throw new InvalidInputError(`doc of collection '${name}' must be a string`);
    const stored = await this.#write(`registering collection '${name}'`, async (trx) => {
      await trx.insertInto('collection').values({ name, type, doc }).onConflict((oc) => oc.doNothing()).execute();
      return trx.selectFrom('collection').select(['type']).where('name', '=', name).executeTakeFirstOrThrow();
    });
    if (stored.type !== type) throw new ConflictError(`collection '${name}' already exists as ${stored.type}, not ${type}`);
  }

  async #collectionRows(q: RegistryDb | RegistryTx, names: readonly string[]): Promise<Map<string, CollectionRow>> {
    const out = new Map<string, CollectionRow>();
    for (const part of chunks([...new Set(names)])) {
      const rows = await q.selectFrom('collection').selectAll().where('name', 'in', part).execute();
      for (const r of rows) out.set(r.name, { name: r.name, type: r.type as CollectionType, doc: r.doc });
    }
    return out;
  }

  /** The collection, or NotFoundError; InvalidInputError if it is not of `type`. Locks its row when the backend can. */
  async #requireCollection(trx: RegistryDb | RegistryTx, name: string, type: CollectionType | undefined, purpose: string, lock = false): Promise<CollectionRow> {
    let q = trx.selectFrom('collection').selectAll().where('name', '=', name);
    if (lock && this.#backend.capabilities.supportsForUpdate) q = q.forUpdate();
    const r = await q.executeTakeFirst();
    if (!r) throw new NotFoundError(`collection '${name}' does not exist`);
    if (type !== undefined && r.type !== type) throw new InvalidInputError(`collection '${name}' is ${r.type}; ${purpose} needs a ${type} collection`);
    return { name: r.name, type: r.type as CollectionType, doc: r.doc };
  }

  async #chainChildren(q: RegistryDb | RegistryTx, parents: readonly string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const p of parents) out.set(p, []);
    for (const part of chunks([...new Set(parents)])) {
      const rows = await q.selectFrom('collection_chain').select(['parent', 'child'])
        .where('parent', 'in', part).orderBy('parent').orderBy('position').execute();
      for (const r of rows) out.get(r.parent)?.push(r.child);
    }
    return out;
  }

  /** Every collection reachable from `names`, and the children of the chained ones; unknown names → NotFoundError. */
  async #graph(q: RegistryDb | RegistryTx, names: readonly string[]): Promise<{ rows: Map<string, CollectionRow>; children: Map<string, string[]> }> {
    const rows = new Map<string, CollectionRow>();
    const children = new Map<string, string[]>();
    let frontier = [...new Set(names)];
    let first = true;
    while (frontier.length > 0) {
      const found = await this.#collectionRows(q, frontier);
      if (first) {
        const unknown = frontier.filter((n) => !found.has(n));
        if (unknown.length > 0) throw new NotFoundError(`collection${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `'${n}'`).join(', ')} not found`);
        first = false;
      }
      for (const [n, r] of found) rows.set(n, r);
      const chained = [...found.values()].filter((r) => r.type === 'CHAINED').map((r) => r.name);
      const kids = await this.#chainChildren(q, chained);
      const next = new Set<string>();
      for (const [p, ks] of kids) {
        children.set(p, ks);
        for (const k of ks) if (!rows.has(k)) next.add(k);
      }
      frontier = [...next];
    }
    return { rows, children };
  }

  async #flatten(q: RegistryDb | RegistryTx, names: readonly string[]): Promise<CollectionRow[]> {
    if (!Array.isArray(names)) throw new InvalidInputError('collections must be given as a list of names');
    for (const n of names) if (typeof n !== 'string') throw new InvalidInputError('collection names must be strings');
    const { rows, children } = await this.#graph(q, names);
    const out: CollectionRow[] = [];
    const seen = new Set<string>();
    const visit = (name: string, stack: readonly string[]): void => {
      const row = rows.get(name);
      if (!row) throw new NotFoundError(`collection '${name}' not found`);
      if (row.type === 'CHAINED') {
        if (stack.includes(name)) return;
        for (const c of children.get(name) ?? []) visit(c, [...stack, name]);
      } else if (!seen.has(name)) {
        seen.add(name);
        out.push(row);
      }
    };
    for (const n of names) visit(n, []);
    return out;
  }

  async flattenCollections(names: readonly string[]): Promise<string[]> {
    const flat = await this.#read('flattening collections', (db) => this.#flatten(db, names));
    return flat.map((r) => r.name);
  }

  async collections(pattern?: string): Promise<CollectionInfo[]> {
    const re = pattern === undefined ? null : globToRegExp(pattern);
    const { rows, links } = await this.#read('listing collections', async (db) => ({
      rows: await db.selectFrom('collection').selectAll().orderBy('name').execute(),
      links: await db.selectFrom('collection_chain').select(['parent', 'child']).orderBy('parent').orderBy('position').execute(),
    }));
    const kids = new Map<string, string[]>();
    for (const l of links) {
      const list = kids.get(l.parent) ?? [];
      list.push(l.child);
      kids.set(l.parent, list);
    }
    return rows
      .filter((r) => re === null || re.test(r.name))
      .map((r) => ({ name: r.name, type: r.type as CollectionType, children: kids.get(r.name) ?? [], doc: r.doc }));
  }

  /** Refuses a chain of `parent` over `children` that would reach `parent` again. */
  async #checkNoCycle(trx: RegistryTx, parent: string, children: readonly string[]): Promise<void> {
    if (children.includes(parent)) throw new InvalidInputError(`collection '${parent}' cannot be a child of itself`);
    const { children: kids } = await this.#graph(trx, children);
    const path = (from: string, trail: string[]): string[] | null => {
      for (const k of kids.get(from) ?? []) {
        if (k === parent) return [...trail, k];
        if (trail.includes(k)) continue;
        const p = path(k, [...trail, k]);
        if (p) return p;
      }
      return null;
    };
    for (const c of children) {
      const p = path(c, [c]);
      if (p) throw new InvalidInputError(`chain '${parent}' → ${p.map((n) => `'${n}'`).join(' → ')} would be a cycle`);
    }
  }

  async #writeChain(trx: RegistryTx, parent: string, children: readonly string[]): Promise<void> {
    await trx.deleteFrom('collection_chain').where('parent', '=', parent).execute();
    for (const part of chunks(children.map((child, position) => ({ parent, position, child })))) {
      await trx.insertInto('collection_chain').values(part).execute();
    }
  }

  async setChain(parent: string, children: readonly string[]): Promise<void> {
    checkCollectionName(parent);
    if (!Array.isArray(children)) throw new InvalidInputError(`children of chain '${parent}' must be a list`);
    const dup = children.find((c, i) => children.indexOf(c) !== i);
    if (dup !== undefined) throw new InvalidInputError(`collection '${dup}' appears twice in chain '${parent}'`);
    await this.#write(`setting chain '${parent}'`, async (trx) => {
      // Chain edits are serialised registry-wide, so two concurrent edits cannot close a cycle between them.
      await this.#backend.lockRegistry(trx);
      await this.#requireCollection(trx, parent, 'CHAINED', 'setChain', true);
      const found = await this.#collectionRows(trx, children);
      const missing = children.filter((c) => !found.has(c));
      if (missing.length > 0) throw new NotFoundError(`chain '${parent}': no collection ${missing.map((m) => `'${m}'`).join(', ')}`);
      await this.#checkNoCycle(trx, parent, children);
      await this.#writeChain(trx, parent, children);
    });
  }

  async prependToChain(parent: string, child: string): Promise<void> {
    checkCollectionName(parent);
    checkCollectionName(child);
    await this.#write(`prepending '${child}' to chain '${parent}'`, async (trx) => {
      await this.#backend.lockRegistry(trx);
      await this.#requireCollection(trx, parent, 'CHAINED', 'prependToChain', true);
      await this.#requireCollection(trx, child, undefined, 'prependToChain');
      const current = (await this.#chainChildren(trx, [parent])).get(parent) ?? [];
      if (current[0] === child) return;
      await this.#checkNoCycle(trx, parent, [child]);
      await this.#writeChain(trx, parent, [child, ...current.filter((c) => c !== child)]);
    });
  }

  async removeCollection(name: string): Promise<void> {
    checkCollectionName(name);
    await this.#write(`removing collection '${name}'`, async (trx) => {
      await this.#backend.lockRegistry(trx);
      const row = await this.#requireCollection(trx, name, undefined, 'removeCollection', true);
      const parents = await trx.selectFrom('collection_chain').select('parent').distinct().where('child', '=', name).orderBy('parent').execute();
      if (parents.length > 0) {
        throw new ConflictError(`collection '${name}' is still in chain${parents.length > 1 ? 's' : ''} ${parents.map((p) => `'${p.parent}'`).join(', ')}; take it out first`);
      }
      switch (row.type) {
        case 'RUN': {
          const n = await trx.selectFrom('dataset').select((eb) => eb.fn.countAll<number>().as('n')).where('run', '=', name).executeTakeFirstOrThrow();
          if (Number(n.n) > 0) throw new ConflictError(`RUN collection '${name}' still holds ${n.n} dataset${Number(n.n) === 1 ? '' : 's'}; remove them first`);
          break;
        }
        case 'TAGGED':
          await trx.deleteFrom('dataset_tag').where('collection', '=', name).execute();
          break;
        case 'CALIBRATION':
          await trx.deleteFrom('dataset_calib').where('collection', '=', name).execute();
          break;
        case 'CHAINED':
          await trx.deleteFrom('collection_chain').where('parent', '=', name).execute();
          break;
      }
      await trx.deleteFrom('collection').where('name', '=', name).execute();
    });
  }

  // ------------------------------------------------------------------ datasets

  #toStored(row: DatasetTable, type: DatasetType, validity?: StoredTimespan): StoredDataset {
    const dataId: Partial<Record<Dimension, DataIdValue>> = {};
    for (const d of type.dimensions) {
      const v = row[d];
      if (v !== null) dataId[d] = v;
    }
    const out: StoredDataset = {
      id: row.id,
      datasetType: row.dataset_type,
      run: row.run,
      dataId,
      path: row.path,
      sizeBytes: Number(row.size_bytes),
      checksum: row.checksum,
      ingestedAt: row.ingested_at,
    };
    return validity ? { ...out, validity: { begin: validity.begin, end: validity.end } } : out;
  }

  async insertDatasets(items: readonly NewDataset[]): Promise<StoredDataset[]> {
    if (!Array.isArray(items)) throw new InvalidInputError('insertDatasets takes a list');
    if (items.length === 0) return [];
    interface Prepared { readonly row: DatasetTable; readonly explicitId: boolean; readonly type: DatasetType; readonly triple: string }
    const prepared: Prepared[] = [];
    const byTriple = new Map<string, Prepared>();
    const byId = new Map<string, Prepared>();
    const ingestedAt = this.#now().toISOString();
    for (const [i, it] of items.entries()) {
      const what = `dataset ${i}${it && typeof it.datasetType === 'string' ? ` (${it.datasetType})` : ''}`;
      if (it === null || typeof it !== 'object') throw new InvalidInputError(`${what} must be an object`);
      const type = await this.#requireType(it.datasetType);
      if (typeof it.run !== 'string' || it.run === '') throw new InvalidInputError(`${what} needs a run`);
      checkDataId(type.dimensions, it.dataId, what);
      if (typeof it.path !== 'string' || it.path === '') throw new InvalidInputError(`${what} needs a path`);
      if (typeof it.sizeBytes !== 'number' || !Number.isSafeInteger(it.sizeBytes) || it.sizeBytes < 0) {
        throw new InvalidInputError(`${what}: sizeBytes must be a non-negative integer, got ${String(it.sizeBytes)}`);
      }
      if (typeof it.checksum !== 'string' || it.checksum === '') throw new InvalidInputError(`${what} needs a checksum`);
      const key = dataIdKey(type.dimensions, it.dataId);
      const id = it.id === undefined ? deterministicId(type.name, it.run, key) : normaliseDatasetId(it.id);
      const cols = emptyDimensionColumns();
      for (const d of type.dimensions) cols[d] = it.dataId[d] as DataIdValue;
      const p: Prepared = {
        row: { id, dataset_type: type.name, run: it.run, data_id_key: key, ...cols, path: it.path, size_bytes: it.sizeBytes, checksum: it.checksum, ingested_at: ingestedAt },
        explicitId: it.id !== undefined,
        type,
        triple: JSON.stringify([type.name, it.run, key]),
      };
      const twin = byTriple.get(p.triple);
      if (twin && (twin.row.checksum !== p.row.checksum || twin.row.id !== p.row.id)) {
        throw new ConflictError(`${type.name} ${key} in run '${it.run}' appears twice in one call with different ${twin.row.checksum !== p.row.checksum ? 'checksums' : 'ids'}`);
      }
      const idTwin = byId.get(id);
      if (idTwin && idTwin.triple !== p.triple) throw new ConflictError(`dataset id ${id} is given to two different datasets in one call`);
      byTriple.set(p.triple, p);
      byId.set(id, p);
      prepared.push(p);
    }
    const unique = [...byTriple.values()].sort((a, b) => (a.triple < b.triple ? -1 : a.triple > b.triple ? 1 : 0));
    const runs = [...new Set(unique.map((p) => p.row.run))];

    const stored = await this.#write('inserting datasets', async (trx) => {
      const runRows = await this.#collectionRows(trx, runs);
      for (const r of runs) {
        const row = runRows.get(r);
        if (!row) throw new NotFoundError(`run '${r}' does not exist; register it as a RUN collection first`);
        if (row.type !== 'RUN') throw new InvalidInputError(`collection '${r}' is ${row.type}; datasets are inserted into RUN collections only`);
      }
      const perRow = Math.max(1, Math.min(CHUNK, Math.floor(this.#backend.capabilities.maxParameters / (8 + DIMENSIONS.length))));
      for (const part of chunks(unique, perRow)) {
        await trx.insertInto('dataset').values(part.map((p) => p.row)).onConflict((oc) => oc.doNothing()).execute();
      }
      const found = new Map<string, DatasetTable>();
      const groups = new Map<string, Prepared[]>();
      for (const p of unique) {
        const g = JSON.stringify([p.row.dataset_type, p.row.run]);
        const list = groups.get(g) ?? [];
        list.push(p);
        groups.set(g, list);
      }
      for (const list of groups.values()) {
        for (const part of chunks(list)) {
          const rows = await trx.selectFrom('dataset').selectAll()
            .where('dataset_type', '=', part[0].row.dataset_type).where('run', '=', part[0].row.run)
            .where('data_id_key', 'in', part.map((p) => p.row.data_id_key)).execute();
          for (const r of rows) found.set(JSON.stringify([r.dataset_type, r.run, r.data_id_key]), r);
        }
      }
      for (const p of unique) {
        const r = found.get(p.triple);
        if (!r) {
          const other = await trx.selectFrom('dataset').select(['dataset_type', 'run', 'data_id_key']).where('id', '=', p.row.id).executeTakeFirst();
          throw new ConflictError(`dataset id ${p.row.id} already belongs to ${other ? `${other.dataset_type} ${other.data_id_key} in run '${other.run}'` : 'another dataset'}`);
        }
        if (r.checksum !== p.row.checksum) {
          throw new ConflictError(`${p.row.dataset_type} ${p.row.data_id_key} in run '${p.row.run}' already exists with checksum ${r.checksum}, not ${p.row.checksum}`);
        }
        if (p.explicitId && r.id !== p.row.id) {
          throw new ConflictError(`${p.row.dataset_type} ${p.row.data_id_key} in run '${p.row.run}' already exists with id ${r.id}, not ${p.row.id}`);
        }
      }
      return found;
    });
    return prepared.map((p) => this.#toStored(stored.get(p.triple) as DatasetTable, p.type));
  }

  async #typesByName(names: Iterable<string>): Promise<Map<string, DatasetType>> {
    const out = new Map<string, DatasetType>();
    for (const n of new Set(names)) out.set(n, await this.#requireType(n));
    return out;
  }

  async datasetsById(ids: readonly string[]): Promise<StoredDataset[]> {
    if (!Array.isArray(ids)) throw new InvalidInputError('datasetsById takes a list of dataset ids');
    const wanted = ids.map((id) => normaliseDatasetId(id));
    if (wanted.length === 0) return [];
    const rows = await this.#read('reading datasets by id', async (db) => {
      const out: DatasetTable[] = [];
      for (const part of chunks([...new Set(wanted)])) out.push(...await db.selectFrom('dataset').selectAll().where('id', 'in', part).execute());
      return out;
    });
    const types = await this.#typesByName(rows.map((r) => r.dataset_type));
    const byId = new Map(rows.map((r) => [r.id, r]));
    const out: StoredDataset[] = [];
    for (const id of wanted) {
      const r = byId.get(id);
      if (r) out.push(this.#toStored(r, types.get(r.dataset_type) as DatasetType));
    }
    return out;
  }

  async removeDatasets(ids: readonly string[]): Promise<void> {
    const wanted = idList(ids, 'removeDatasets');
    if (wanted.length === 0) return;
    await this.#write('removing datasets', async (trx) => {
      for (const part of chunks(wanted)) {
        await trx.deleteFrom('dataset_tag').where('dataset_id', 'in', part).execute();
        await trx.deleteFrom('dataset_calib').where('dataset_id', 'in', part).execute();
        await trx.deleteFrom('dataset').where('id', 'in', part).execute();
      }
    });
  }

  /** The datasets with these ids; NotFoundError naming those missing. */
  async #requireDatasets(trx: RegistryTx, ids: readonly string[]): Promise<DatasetTable[]> {
    const out: DatasetTable[] = [];
    for (const part of chunks(ids)) out.push(...await trx.selectFrom('dataset').selectAll().where('id', 'in', part).execute());
    if (out.length !== ids.length) {
      const have = new Set(out.map((r) => r.id));
      const missing = ids.filter((id) => !have.has(id));
      throw new NotFoundError(`no dataset with id ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''}`);
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  // ------------------------------------------------------------------ tags and certifications

  async associate(tagged: string, datasetIds: readonly string[]): Promise<void> {
    checkCollectionName(tagged);
    const ids = idList(datasetIds, 'associate');
    if (ids.length === 0) return;
    await this.#write(`associating datasets with '${tagged}'`, async (trx) => {
      await this.#requireCollection(trx, tagged, 'TAGGED', 'associate');
      const rows = await this.#requireDatasets(trx, ids);
      const seen = new Map<string, string>();
      for (const r of rows) {
        const k = JSON.stringify([r.dataset_type, r.data_id_key]);
        const other = seen.get(k);
        if (other) throw new ConflictError(`datasets ${other} and ${r.id} are both ${r.dataset_type} ${r.data_id_key}; a TAGGED collection holds one of them`);
        seen.set(k, r.id);
      }
      for (const part of chunks(rows)) {
        await trx.insertInto('dataset_tag')
          .values(part.map((r) => ({ collection: tagged, dataset_id: r.id, dataset_type: r.dataset_type, data_id_key: r.data_id_key })))
          .onConflict((oc) => oc.doNothing())
          .execute();
      }
      for (const part of chunks(rows)) {
        const present = await trx.selectFrom('dataset_tag').select(['dataset_type', 'data_id_key', 'dataset_id'])
          .where('collection', '=', tagged).where('data_id_key', 'in', part.map((r) => r.data_id_key)).execute();
        const holder = new Map(present.map((p) => [JSON.stringify([p.dataset_type, p.data_id_key]), p.dataset_id]));
        for (const r of part) {
          const h = holder.get(JSON.stringify([r.dataset_type, r.data_id_key]));
          if (h !== r.id) {
            throw new ConflictError(`'${tagged}' already holds dataset ${h} as ${r.dataset_type} ${r.data_id_key}; cannot tag ${r.id} too`);
          }
        }
      }
    });
  }

  async disassociate(tagged: string, datasetIds: readonly string[]): Promise<void> {
    checkCollectionName(tagged);
    const ids = idList(datasetIds, 'disassociate');
    await this.#write(`disassociating datasets from '${tagged}'`, async (trx) => {
      await this.#requireCollection(trx, tagged, 'TAGGED', 'disassociate');
      for (const part of chunks(ids)) await trx.deleteFrom('dataset_tag').where('collection', '=', tagged).where('dataset_id', 'in', part).execute();
    });
  }

  async certify(calibCollection: string, datasetIds: readonly string[], validity: Timespan): Promise<void> {
    checkCollectionName(calibCollection);
    const span = normaliseTimespan(validity);
    const ids = idList(datasetIds, 'certify');
    if (ids.length === 0) return;
    await this.#write(`certifying datasets in '${calibCollection}'`, async (trx) => {
      // Locks the collection's row: certifications into one collection happen one at a time.
      await this.#requireCollection(trx, calibCollection, 'CALIBRATION', 'certify', true);
      const rows = await this.#requireDatasets(trx, ids);
      const types = await this.#typesByName(rows.map((r) => r.dataset_type));
      const batch = new Map<string, string>();
      for (const r of rows) {
        if (!types.get(r.dataset_type)?.isCalibration) {
          throw new InvalidInputError(`dataset ${r.id} is a ${r.dataset_type}, not a calibration dataset type; only those can be certified`);
        }
        const k = JSON.stringify([r.dataset_type, r.data_id_key]);
        const other = batch.get(k);
        if (other) throw new ConflictError(`datasets ${other} and ${r.id} are both ${r.dataset_type} ${r.data_id_key}: certifying both for ${formatTimespan(span)} would overlap`);
        batch.set(k, r.id);
      }
      const existing: Array<{ dataset_id: string; dataset_type: string; data_id_key: string; begin_time: string | null; end_time: string | null }> = [];
      for (const part of chunks(rows)) {
        existing.push(...await trx.selectFrom('dataset_calib').select(['dataset_id', 'dataset_type', 'data_id_key', 'begin_time', 'end_time'])
          .where('collection', '=', calibCollection).where('data_id_key', 'in', part.map((r) => r.data_id_key)).execute());
      }
      const toInsert: DatasetTable[] = [];
      for (const r of rows) {
        let identical = false;
        for (const e of existing) {
          if (e.dataset_type !== r.dataset_type || e.data_id_key !== r.data_id_key) continue;
          const es = { begin: e.begin_time, end: e.end_time };
          if (e.dataset_id === r.id && es.begin === span.begin && es.end === span.end) {
            identical = true;
            continue;
          }
          if (overlaps(es, span)) {
            throw new ConflictError(`${r.dataset_type} ${r.data_id_key} is already certified in '${calibCollection}' for ${formatTimespan(es)} (dataset ${e.dataset_id}), which overlaps ${formatTimespan(span)}`);
          }
        }
        if (!identical) toInsert.push(r);
      }
      for (const part of chunks(toInsert)) {
        await trx.insertInto('dataset_calib').values(part.map((r) => ({
          collection: calibCollection, dataset_id: r.id, dataset_type: r.dataset_type, data_id_key: r.data_id_key, begin_time: span.begin, end_time: span.end,
        }))).execute();
      }
    });
  }

  async decertify(calibCollection: string, datasetIds: readonly string[]): Promise<void> {
    checkCollectionName(calibCollection);
    const ids = idList(datasetIds, 'decertify');
    await this.#write(`decertifying datasets in '${calibCollection}'`, async (trx) => {
      await this.#requireCollection(trx, calibCollection, 'CALIBRATION', 'decertify', true);
      for (const part of chunks(ids)) await trx.deleteFrom('dataset_calib').where('collection', '=', calibCollection).where('dataset_id', 'in', part).execute();
    });
  }

  // ------------------------------------------------------------------ searching

  /**
   * Every dataset of `types` in the flattened collections that passes the filters, with the rank
   * (search position) of the collection it was found in.
   */
  async #search(db: RegistryDb, types: readonly DatasetType[], flat: readonly CollectionRow[], filter: {
    key?: string; where: ReadonlyArray<readonly [Dimension, readonly DataIdValue[]]>; time?: string;
  }): Promise<Hit[]> {
    const rank = new Map(flat.map((c, i) => [c.name, i]));
    const names = types.map((t) => t.name);
    const calibNames = types.filter((t) => t.isCalibration).map((t) => t.name);
    const runs = flat.filter((c) => c.type === 'RUN').map((c) => c.name);
    const tagged = flat.filter((c) => c.type === 'TAGGED').map((c) => c.name);
    const calibs = flat.filter((c) => c.type === 'CALIBRATION').map((c) => c.name);
    const hits: Hit[] = [];
    if (names.length === 0 || filter.where.some(([, v]) => v.length === 0)) return hits;
    if (runs.length > 0) {
      let q = db.selectFrom('dataset as d').selectAll('d').where('d.dataset_type', 'in', names).where('d.run', 'in', runs);
      if (filter.key !== undefined) q = q.where('d.data_id_key', '=', filter.key);
      for (const [dim, vals] of filter.where) q = q.where(`d.${dim}` as `d.${Dimension}`, 'in', vals);
      for (const row of await q.execute()) hits.push({ row, rank: rank.get(row.run) as number });
    }
    if (tagged.length > 0) {
      let q = db.selectFrom('dataset_tag as t').innerJoin('dataset as d', 'd.id', 't.dataset_id').selectAll('d').select('t.collection as found_in')
        .where('t.collection', 'in', tagged).where('t.dataset_type', 'in', names);
      if (filter.key !== undefined) q = q.where('t.data_id_key', '=', filter.key);
      for (const [dim, vals] of filter.where) q = q.where(`d.${dim}` as `d.${Dimension}`, 'in', vals);
      for (const { found_in, ...row } of await q.execute()) hits.push({ row, rank: rank.get(found_in) as number });
    }
    if (calibs.length > 0 && calibNames.length > 0) {
      let q = db.selectFrom('dataset_calib as c').innerJoin('dataset as d', 'd.id', 'c.dataset_id').selectAll('d')
        .select(['c.collection as found_in', 'c.begin_time', 'c.end_time'])
        .where('c.collection', 'in', calibs).where('c.dataset_type', 'in', calibNames);
      if (filter.key !== undefined) q = q.where('c.data_id_key', '=', filter.key);
      if (filter.time !== undefined) {
        const t = filter.time;
        q = q.where((eb) => eb.or([eb('c.begin_time', 'is', null), eb('c.begin_time', '<=', t)]))
          .where((eb) => eb.or([eb('c.end_time', 'is', null), eb('c.end_time', '>', t)]));
      }
      for (const [dim, vals] of filter.where) q = q.where(`d.${dim}` as `d.${Dimension}`, 'in', vals);
      for (const { found_in, begin_time, end_time, ...row } of await q.execute()) {
        const validity = { begin: begin_time, end: end_time };
        if (filter.time === undefined || contains(validity, filter.time)) hits.push({ row, rank: rank.get(found_in) as number, validity });
      }
    }
    return hits;
  }

  async findDataset(datasetType: string, dataId: DataId, collections: readonly string[], opts: { time?: string } = {}): Promise<StoredDataset | null> {
    const type = await this.#requireType(datasetType);
    checkDataId(type.dimensions, dataId, `a ${type.name} lookup`, true);
    const key = dataIdKey(type.dimensions, dataId);
    const time = opts.time === undefined ? undefined : normaliseTime(opts.time);
    const hits = await this.#read(`finding ${type.name} ${key}`, async (db) => {
      const flat = await this.#flatten(db, collections);
      if (type.isCalibration && time === undefined && flat.some((c) => c.type === 'CALIBRATION')) {
        throw new InvalidInputError(`finding calibration ${type.name} ${describeDataId(dataId)} through CALIBRATION collection${flat.filter((c) => c.type === 'CALIBRATION').length > 1 ? 's' : ''} ${flat.filter((c) => c.type === 'CALIBRATION').map((c) => `'${c.name}'`).join(', ')} needs a time`);
      }
      return this.#search(db, [type], flat, { key, where: [], time });
    });
    if (hits.length === 0) return null;
    const best = hits.reduce((a, b) => (b.rank < a.rank ? b : a));
    return this.#toStored(best.row, type, best.validity);
  }

  async queryDatasets(q: DatasetQuery): Promise<StoredDataset[]> {
    if (q === null || typeof q !== 'object') throw new InvalidInputError('queryDatasets takes { collections, datasetType?, where?, findFirst?, time? }');
    if (!Array.isArray(q.collections)) throw new InvalidInputError('queryDatasets needs a list of collections');
    const explicit = q.datasetType !== undefined;
    const typeNames = q.datasetType === undefined ? null : typeof q.datasetType === 'string' ? [q.datasetType] : [...q.datasetType];
    const allTypes = typeNames === null ? await this.datasetTypes() : [...(await this.#typesByName(typeNames)).values()];
    const where: Array<[Dimension, DataIdValue[]]> = [];
    for (const [k, v] of Object.entries(q.where ?? {})) {
      if (v === undefined) continue;
      const d = assertDimension(k, 'dimension in where');
      where.push([d, checkWhereValue(d, v as DataIdValue | readonly DataIdValue[])]);
    }
    // A type without a dimension the query constrains cannot match it: named types are an error, the rest are skipped.
    const types = allTypes.filter((t) => {
      const lacking = where.filter(([d]) => !t.dimensions.includes(d)).map(([d]) => d);
      if (lacking.length > 0 && explicit) throw new InvalidInputError(`dataset type '${t.name}' has no dimension ${lacking.join(', ')} to query by (its dimensions: ${t.dimensions.join(', ')})`);
      return lacking.length === 0;
    });
    const time = q.time === undefined ? undefined : normaliseTime(q.time);
    const hits = await this.#read('querying datasets', async (db) => {
      const flat = await this.#flatten(db, q.collections);
      if (q.findFirst && time === undefined && types.some((t) => t.isCalibration) && flat.some((c) => c.type === 'CALIBRATION')) {
        throw new InvalidInputError('a findFirst query of calibration datasets through a CALIBRATION collection needs a time');
      }
      return this.#search(db, types, flat, { where, time });
    });
    const typeMap = new Map(types.map((t) => [t.name, t]));
    hits.sort((a, b) => a.rank - b.rank);
    const kept: Hit[] = [];
    const seen = new Set<string>();
    for (const h of hits) {
      const k = q.findFirst ? JSON.stringify([h.row.dataset_type, h.row.data_id_key]) : h.row.id;
      if (seen.has(k)) continue;
      seen.add(k);
      kept.push(h);
    }
    const out = kept.map((h) => ({ h, ds: this.#toStored(h.row, typeMap.get(h.row.dataset_type) as DatasetType, h.validity) }));
    out.sort((a, b) => (a.ds.datasetType < b.ds.datasetType ? -1 : a.ds.datasetType > b.ds.datasetType ? 1 : 0)
      || compareDataIds(a.ds.dataId, b.ds.dataId) || a.h.rank - b.h.rank);
    return out.map((o) => o.ds);
  }
}

/** The top-level fields in which two canonical JSON records differ. */
function diffRecords(existingText: string, wantedText: string): string {
  const a = JSON.parse(existingText) as Record<string, Json>;
  const b = JSON.parse(wantedText) as Record<string, Json>;
  const fields = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  const diffs = fields
    .filter((f) => JSON.stringify(canonicalise(a[f] ?? null, f)) !== JSON.stringify(canonicalise(b[f] ?? null, f)) || (f in a) !== (f in b))
    .map((f) => `${f}: ${f in a ? JSON.stringify(a[f]) : '(absent)'} registered, ${f in b ? JSON.stringify(b[f]) : '(absent)'} given`);
  return diffs.join('; ');
}
