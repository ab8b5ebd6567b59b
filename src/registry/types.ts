/**
 * The registry's neutral vocabulary: dimensions, data IDs, dataset types, collections, datasets.
 * Every backend speaks these types and nothing else; no SQL or driver type crosses this line.
 */

/** Every dimension a data ID may carry, in canonical order (the order of `dataIdKey`). */
export const DIMENSIONS = [
  'instrument', 'detector', 'physical_filter', 'band', 'day_obs', 'group',
  'exposure', 'visit', 'skymap', 'tract', 'patch', 'htm7',
] as const;
export type Dimension = (typeof DIMENSIONS)[number];

export type DataIdValue = string | number;
/**
 * Numbers for detector, day_obs, exposure, visit, tract, patch and htm7; strings for the rest
 * (group is a 13-digit string).
 */
export type DataId = Readonly<Partial<Record<Dimension, DataIdValue>>>;

export interface DatasetType {
  readonly name: string;
  /** Returned in canonical (DIMENSIONS) order. */
  readonly dimensions: readonly Dimension[];
  readonly storageClass: string;
  readonly isCalibration: boolean;
}

export const COLLECTION_TYPES = ['RUN', 'TAGGED', 'CHAINED', 'CALIBRATION'] as const;
export type CollectionType = (typeof COLLECTION_TYPES)[number];

export interface CollectionInfo {
  readonly name: string;
  readonly type: CollectionType;
  /** The direct children of a CHAINED collection, in search order; empty for the others. */
  readonly children: readonly string[];
  readonly doc: string;
}

/**
 * A validity range, half-open [begin, end). ISO 8601 in UTC; null = unbounded. Times read back
 * from the registry come in one fixed-width form, `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
 */
export interface Timespan {
  readonly begin: string | null;
  readonly end: string | null;
}

export interface DatasetRef {
  /** A UUID. */
  readonly id: string;
  readonly datasetType: string;
  readonly run: string;
  readonly dataId: DataId;
}

export interface StoredDataset extends DatasetRef {
  readonly path: string;
  readonly sizeBytes: number;
  readonly checksum: string;
  /** ISO 8601 UTC. */
  readonly ingestedAt: string;
  /** Set when the dataset was found through a CALIBRATION collection. */
  readonly validity?: Timespan;
}

export interface NewDataset {
  datasetType: string;
  run: string;
  dataId: DataId;
  path: string;
  sizeBytes: number;
  checksum: string;
  /** Default: a UUIDv5 of (datasetType, run, data ID), the same in every process. */
  id?: string;
}

export interface RegistryConfig {
  /**
   * `sqlite:///abs/file.sqlite3`, `sqlite:relative/file`, `sqlite::memory:`, or
   * `postgresql://user@host:port/db` (also `postgres://`).
   */
  readonly db: string;
  /** PostgreSQL schema holding this repository; required for PostgreSQL. */
  readonly namespace?: string;
}

export type DimensionWhere = Readonly<Partial<Record<Dimension, DataIdValue | readonly DataIdValue[]>>>;

export interface DatasetQuery {
  readonly datasetType?: string | readonly string[];
  readonly collections: readonly string[];
  /** Dimension → value, or list of values (IN). */
  readonly where?: DimensionWhere;
  /** Only the first dataset per (dataset type, data ID) in collection search order. */
  readonly findFirst?: boolean;
  /** ISO time: calibration collections match only datasets valid then. */
  readonly time?: string;
}

export interface Registry {
  readonly config: RegistryConfig;
  readonly dialect: 'sqlite' | 'postgres';
  close(): Promise<void>;
  schemaVersion(): Promise<string>;

  /**
   * Dimension records: metadata per dimension value (a detector's name, an exposure's time, a
   * patch's sky polygon as JSON, an htm7 trixel). Inserts, or ignores an identical record;
   * ConflictError on a different record with the same key.
   */
  syncDimensionRecords(element: Dimension, records: readonly Record<string, unknown>[]): Promise<void>;
  dimensionRecords(element: Dimension, where?: Readonly<Record<string, DataIdValue | readonly DataIdValue[]>>): Promise<Record<string, unknown>[]>;

  /** Idempotent; ConflictError naming the difference if it exists with another definition. */
  registerDatasetType(t: DatasetType): Promise<void>;
  datasetType(name: string): Promise<DatasetType | null>;
  datasetTypes(): Promise<DatasetType[]>;

  /** Idempotent; ConflictError if it exists with another type. */
  registerCollection(name: string, type: CollectionType, doc?: string): Promise<void>;
  /** The parent must be CHAINED, the children must exist; cycles are refused. */
  setChain(parent: string, children: readonly string[]): Promise<void>;
  /** Atomic under concurrent writers; no-op if already the first child (moved to the front if elsewhere); creates nothing. */
  prependToChain(parent: string, child: string): Promise<void>;
  /** Sorted by name; `pattern` is a glob with `*` and `?`. */
  collections(pattern?: string): Promise<CollectionInfo[]>;
  /** Chains expanded depth-first in order, duplicates removed; unknown names → NotFoundError. */
  flattenCollections(names: readonly string[]): Promise<string[]>;

  /**
   * One transaction. The data ID must have exactly the dataset type's dimensions; the run must
   * be a RUN collection. Idempotent: a (datasetType, run, dataId) already present with the same
   * checksum returns the existing row; with another checksum → ConflictError.
   */
  insertDatasets(items: readonly NewDataset[]): Promise<StoredDataset[]>;
  /**
   * Searches the collections in order (chains flattened) and returns the first match. The data
   * ID must hold the type's dimensions (other keys are ignored). A CALIBRATION collection matches
   * only a dataset certified with a validity containing `time`, which is then required.
   */
  findDataset(datasetType: string, dataId: DataId, collections: readonly string[], opts?: { time?: string }): Promise<StoredDataset | null>;
  queryDatasets(q: DatasetQuery): Promise<StoredDataset[]>;

  /** ConflictError when a dataset of the same type and data ID is already certified there with an overlapping validity (unless identical). */
  certify(calibCollection: string, datasetIds: readonly string[], validity: Timespan): Promise<void>;
  decertify(calibCollection: string, datasetIds: readonly string[]): Promise<void>;
  /** Idempotent; ConflictError if another dataset of the same type and data ID is already tagged there. */
  associate(tagged: string, datasetIds: readonly string[]): Promise<void>;
  disassociate(tagged: string, datasetIds: readonly string[]): Promise<void>;
  /** The datasets found, in the order asked; unknown ids are left out. */
  datasetsById(ids: readonly string[]): Promise<StoredDataset[]>;
  /** Rows, tags and certifications (the caller deletes files). Unknown ids are ignored. */
  removeDatasets(ids: readonly string[]): Promise<void>;
  /** A RUN only when empty of datasets, and no collection while a chain holds it; else ConflictError. */
  removeCollection(name: string): Promise<void>;
}
