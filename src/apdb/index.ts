/**
 * The Alert Production Database (APDB): DiaObjects, DiaSources and DiaForcedSources of the Felis
 * schema ApdbSchema 10.0.0, on SQLite (embedded default) or PostgreSQL (one schema per APDB).
 */
export { openApdb, type Apdb, type ApdbCounts, type CreateResult } from './apdb.ts';
export {
  parseApdbConfig, parseApdbUrl, APDB_CONFIG_KEYS, ISOLATION_LEVELS,
  type ApdbConfig, type ApdbTarget, type IsolationLevel,
} from './config.ts';
export type { BackendDeps } from './backends.ts';
export type { ApdbTableInfo } from './backend.ts';
export type {
  ApdbValue, ApdbRow, ApdbRegion, ApdbHistory, DetectorVisitRows, DetectorVisitKey, StoreResult,
} from './types.ts';
export { APDB_SQL_VERSION, METADATA_KEYS } from './sql-apdb.ts';
export { PIXEL_ID, PIXEL_TABLES } from './physical.ts';
export {
  APDB_HTM_LEVEL, APDB_HTM_MAX_RANGES, APDB_LOCK_HTM_LEVEL, pixelIdOf, regionRanges, lockTrixels,
} from './region.ts';
export * from './schema/tables.ts';
export { parseColumn, tableColumns, type ApdbColumn, type ApdbDatatype, type ApdbIndexSpec, type ApdbTableSpec } from './schema/types.ts';
