/**
 * The data repository's registry: every dataset known by dataset type, data ID and collection,
 * on SQLite (embedded default) or PostgreSQL (one schema per repository).
 */
export {
  DIMENSIONS, COLLECTION_TYPES,
  type Dimension, type DataIdValue, type DataId, type DatasetType, type CollectionType, type CollectionInfo,
  type Timespan, type DatasetRef, type StoredDataset, type NewDataset, type RegistryConfig, type Registry,
  type DatasetQuery, type DimensionWhere,
} from './types.ts';
export { createRegistry, openRegistry, type OpenRegistryDeps } from './registry.ts';
export { ConflictError } from './errors.ts';
export { dataIdKey, RECORD_KEYS } from './dimensions.ts';
export { datasetId, uuidV5 } from './dataset-id.ts';
export { normaliseTime } from './timespan.ts';
export { MIGRATIONS, type Migration } from './migrations.ts';
export { parseRegistryDb, type RegistryTarget } from './config.ts';
