import { createHash } from 'node:crypto';
import { ConfigError, InvalidInputError, NotFoundError } from '../core/errors.ts';
import type { Instrument } from '../instruments/index.ts';
import { parseGroup, parseObjectKey } from '../instruments/keys.ts';
import {
  ConflictError,
  createRegistry,
  openRegistry,
  type CollectionInfo,
  type DataId,
  type DatasetType,
  type Registry,
  type StoredDataset,
  type Timespan,
} from '../registry/index.ts';
import { openObjectStore, parseS3Url } from '../storage/backends.ts';
import { LocalBucket } from '../storage/local/local-bucket.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import { DATASET_TYPES } from './dataset-types.ts';
import {
  CONFIG_NAME,
  encodeRepoConfig,
  isRemoteRoot,
  loadRepoConfig,
  normalizeRoot,
  registryForNewRepo,
  type RepoConfig,
} from './repo-config.ts';
import type { WhereConstraint } from './where.ts';

export type { StoredDataset };

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function extensionFor(datasetType: string): string {
  if (datasetType === 'raw') return 'fz';
  const storageClass = (DATASET_TYPES as Readonly<Record<string, DatasetType>>)[datasetType]?.storageClass;
  return storageClass === 'StructuredData' ? 'json' : storageClass === 'AvroAlerts' ? 'avro' : 'fits';
}

/**
 * Where a dataset's file goes: by run, type and data ID, with a short content hash so that two
 * writers racing on one dataset never overwrite each other's file; the registry keeps one.
 */
export function datasetPath(datasetType: string, dims: readonly string[], dataId: DataId, run: string, checksum: string): string {
  const values = dims.map((d) => String(dataId[d as keyof DataId]).replace(/[^A-Za-z0-9_.~-]/g, '_'));
  return `${run}/${datasetType}/${values.join('/')}/${datasetType}_${values.join('_')}_${checksum.slice(0, 12)}.${extensionFor(datasetType)}`;
}

/**
 * A data repository: a registry (SQLite or PostgreSQL) that knows every dataset, and a datastore
 * (a directory or an S3 bucket) that holds the files. A dataset's registry row is written only
 * after its file is complete, so a reader never finds a row without its file.
 */
export class Butler {
  private constructor(
    readonly config: RepoConfig,
    readonly registry: Registry,
    readonly store: ObjectStore,
  ) {}

  get root(): string {
    return this.config.root;
  }

  private static storeFor(root: string): ObjectStore {
    return isRemoteRoot(root) ? openObjectStore(root) : new LocalBucket({ root });
  }

  /** Creates a repository at `root` (refuses one that exists). */
  static async create(rootIn: string, seed: { db?: string; namespace?: string } = {}): Promise<Butler> {
    const root = normalizeRoot(rootIn);
    const store = Butler.storeFor(root);
    if (await store.stat(CONFIG_NAME)) throw new ConfigError(`a repository already exists at ${root}`);
    const config: RepoConfig = { root, registry: registryForNewRepo(root, seed) };
    const registry = await createRegistry(config.registry);
    const b = new Butler(config, registry, store);
    for (const t of Object.values(DATASET_TYPES)) await registry.registerDatasetType(t);
    await store.put(CONFIG_NAME, new TextEncoder().encode(encodeRepoConfig(config)));
    return b;
  }

  static async open(rootIn: string): Promise<Butler> {
    const root = normalizeRoot(rootIn);
    const store = Butler.storeFor(root);
    const config = await loadRepoConfig(root, store);
    return new Butler(config, await openRegistry(config.registry), store);
  }

  /** Opens the repository at `root`, creating it first when there is none. */
  static async openOrCreate(root: string, seed: { db?: string; namespace?: string } = {}): Promise<Butler> {
    try {
      return await Butler.open(root);
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
      try {
        return await Butler.create(root, seed);
      } catch (e2) {
        // Another process created it first.
        if (e2 instanceof ConfigError && /already exists/.test(e2.message)) return Butler.open(root);
        throw e2;
      }
    }
  }

  async close(): Promise<void> {
    await this.registry.close();
    await this.store.close();
  }

  /** Dimension records of an instrument: its detectors, physical filters and bands. */
  async registerInstrument(inst: Instrument): Promise<void> {
    await this.registry.syncDimensionRecords('instrument', [
      { instrument: inst.name, detector_max: Math.max(...inst.detectors.map((d) => d.id)) + 1, snaps: inst.snaps, pixel_scale_arcsec: inst.pixelScaleArcsec },
    ]);
    await this.registry.syncDimensionRecords(
      'detector',
      inst.detectors.map((d) => ({ instrument: inst.name, detector: d.id, full_name: d.name, purpose: d.purpose, ccd_type: d.ccdType })),
    );
    await this.registry.syncDimensionRecords(
      'physical_filter',
      inst.filters.map((f) => ({ instrument: inst.name, physical_filter: f.name, band: f.band })),
    );
    await this.registry.syncDimensionRecords('band', [...new Set(inst.filters.map((f) => f.band))].map((band) => ({ band })));
  }

  async registerDatasetType(t: DatasetType): Promise<void> {
    await this.registry.registerDatasetType(t);
  }

  private async typeOf(name: string): Promise<DatasetType> {
    const t = await this.registry.datasetType(name);
    if (t) return t;
    // A standard type added after the repository was made is registered on first use.
    const standard = (DATASET_TYPES as Readonly<Record<string, DatasetType>>)[name];
    if (standard) {
      await this.registry.registerDatasetType(standard);
      return standard;
    }
    throw new InvalidInputError(`dataset type '${name}' is not registered in ${this.root}`);
  }

  /**
   * Stores one dataset in RUN collection `run` (made if absent). A dataset already in that run
   * with the same data ID is kept as it is and returned: retried writes never duplicate.
   */
  async put(bytes: Uint8Array, datasetType: string, dataId: DataId, run: string): Promise<StoredDataset> {
    return (await this.putMany([{ bytes, datasetType, dataId }], run))[0];
  }

  async putMany(items: ReadonlyArray<{ bytes: Uint8Array; datasetType: string; dataId: DataId }>, run: string): Promise<StoredDataset[]> {
    await this.registry.registerCollection(run, 'RUN');
    const out: StoredDataset[] = [];
    for (const it of items) {
      const t = await this.typeOf(it.datasetType);
      const existing = (await this.registry.queryDatasets({ datasetType: t.name, collections: [run], where: pick(it.dataId, t.dimensions) })).find(
        (d) => sameDataId(d.dataId, it.dataId, t.dimensions),
      );
      if (existing) {
        out.push(existing);
        continue;
      }
      const checksum = sha256(it.bytes);
      const key = datasetPath(t.name, t.dimensions, it.dataId, run, checksum);
      await this.store.put(key, it.bytes);
      try {
        const [row] = await this.registry.insertDatasets([
          { datasetType: t.name, run, dataId: pick(it.dataId, t.dimensions), path: key, sizeBytes: it.bytes.length, checksum },
        ]);
        if (row.path !== key) await this.store.delete(key);
        out.push(row);
      } catch (e) {
        if (e instanceof ConflictError) {
          // Another writer stored different bytes for this dataset first: keep theirs.
          await this.store.delete(key);
          const again = (await this.registry.queryDatasets({ datasetType: t.name, collections: [run], where: pick(it.dataId, t.dimensions) }))[0];
          if (again) {
            out.push(again);
            continue;
          }
        }
        await this.store.delete(key).catch(() => undefined);
        throw e;
      }
    }
    return out;
  }

  /** The file of a dataset, checked against the size and checksum the registry recorded. */
  async get(ref: StoredDataset): Promise<Uint8Array> {
    const bytes = await this.store.get(ref.path);
    if (bytes.length !== ref.sizeBytes || sha256(bytes) !== ref.checksum) {
      throw new InvalidInputError(`dataset ${ref.datasetType} ${JSON.stringify(ref.dataId)} in ${ref.run}: file ${ref.path} does not match its registry record`);
    }
    return bytes;
  }

  uriOf(ref: StoredDataset): string {
    if (!isRemoteRoot(this.root)) return `file://${this.root}/${ref.path}`;
    const s3 = parseS3Url(this.root);
    return `s3://${s3.bucket}/${s3.prefix ? `${s3.prefix}/` : ''}${ref.path}`;
  }

  find(datasetType: string, dataId: DataId, collections: readonly string[], opts?: { time?: string }): Promise<StoredDataset | null> {
    return this.registry.findDataset(datasetType, dataId, collections, opts);
  }

  query(q: { datasetType?: string | readonly string[]; collections: readonly string[]; where?: WhereConstraint; findFirst?: boolean; time?: string }): Promise<StoredDataset[]> {
    return this.registry.queryDatasets(q);
  }

  collections(pattern?: string): Promise<CollectionInfo[]> {
    return this.registry.collections(pattern);
  }

  /**
   * Copies raws from a bucket into RUN `run` as `raw` datasets, with their exposure, group and
   * day_obs dimension records. Keys that are not valid raw keys are refused by name.
   */
  async ingestRaws(bucket: ObjectStore, keys: readonly string[], run: string): Promise<StoredDataset[]> {
    const out: StoredDataset[] = [];
    for (const key of keys) {
      const k = parseObjectKey(key);
      const bytes = await bucket.get(key);
      const { dayObs } = parseGroup(k.group);
      await this.registry.syncDimensionRecords('day_obs', [{ instrument: k.instrument, day_obs: dayObs }]);
      await this.registry.syncDimensionRecords('group', [{ instrument: k.instrument, group: k.group, day_obs: dayObs }]);
      await this.registry.syncDimensionRecords('exposure', [
        { instrument: k.instrument, exposure: k.exposureId, group: k.group, day_obs: dayObs, physical_filter: k.filter, snap: k.snap },
      ]);
      out.push(await this.put(bytes, 'raw', { instrument: k.instrument, detector: k.detector, exposure: k.exposureId }, run));
    }
    return out;
  }

  /** Certifies every dataset of `datasetType` in `fromRun` into CALIBRATION collection `calib`. */
  async certifyCalibrations(fromRun: string, calib: string, datasetType: string, validity: Timespan): Promise<number> {
    const t = await this.typeOf(datasetType);
    if (!t.isCalibration) throw new InvalidInputError(`dataset type '${datasetType}' is not a calibration type`);
    await this.registry.registerCollection(calib, 'CALIBRATION');
    const refs = await this.registry.queryDatasets({ datasetType, collections: [fromRun] });
    if (refs.length) await this.registry.certify(calib, refs.map((r) => r.id), validity);
    return refs.length;
  }

  /**
   * Copies datasets (files and registry rows) from another repository into this one, keeping
   * their runs, dataset types and data IDs; datasets already here are left as they are.
   */
  async transferFrom(source: Butler, refs: readonly StoredDataset[]): Promise<StoredDataset[]> {
    const out: StoredDataset[] = [];
    const types = new Set<string>();
    for (const r of refs) {
      if (!types.has(r.datasetType)) {
        const t = await source.registry.datasetType(r.datasetType);
        if (!t) throw new NotFoundError(`dataset type ${r.datasetType} is missing from ${source.root}`);
        await this.registry.registerDatasetType(t);
        types.add(r.datasetType);
      }
      out.push(await this.put(await source.get(r), r.datasetType, r.dataId, r.run));
    }
    return out;
  }

  /** Removes datasets and their files (the local repository's clean-up). */
  async remove(refs: readonly StoredDataset[]): Promise<void> {
    await this.registry.removeDatasets(refs.map((r) => r.id));
    for (const r of refs) await this.store.delete(r.path);
  }
}

function pick(dataId: DataId, dims: readonly string[]): DataId {
  const out: Record<string, string | number> = {};
  for (const d of dims) {
    const v = dataId[d as keyof DataId];
    if (v === undefined) throw new InvalidInputError(`data ID ${JSON.stringify(dataId)} lacks '${d}'`);
    out[d] = v;
  }
  return out as DataId;
}

function sameDataId(a: DataId, b: DataId, dims: readonly string[]): boolean {
  return dims.every((d) => String(a[d as keyof DataId]) === String(b[d as keyof DataId]));
}
