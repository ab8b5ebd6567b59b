/**
 * Difference-image sources: detection and measurement (dia-sources.ts), their catalog file
 * (dia-source-catalog.ts), ids (dia-source-id.ts) and postage stamps (cutouts.ts).
 */
export { runDiaSources, makeDiaSourcesConfig, DiaSourcesConfig } from './dia-sources.ts';
export type { DiaSourcesConfigInput, DiaSourcesInput, DiaSourcesOptions, DiaSourcesResult, DiaSourcesDiagnostics } from './dia-sources.ts';
export { DIA_SOURCE_COLUMNS, makeDiaSourceCatalog, writeDiaSourceCatalog, readDiaSourceCatalog, columnUnit } from './dia-source-catalog.ts';
export type { DiaSourceCatalog, DiaSourceCatalogFile, DiaSourceColumnName, DiaSourceColumnSpec, DiaColumnFormat, FluxUnit } from './dia-source-catalog.ts';
export { packDiaSourceId, unpackDiaSourceId, diaSourceIdBase, MAX_DAY_INDEX, MAX_DETECTOR, MAX_ROW } from './dia-source-id.ts';
export {
  cutPostageStamps,
  stampAt,
  stampOrigin,
  shiftedWcsCards,
  cutoutToFitsImage,
  writeDiaCutouts,
  readDiaCutouts,
  makeCutoutsConfig,
  CutoutsConfig,
  DEFAULT_CUTOUT_SIZE_PX,
  STAMP_KINDS,
} from './cutouts.ts';
export type { CutoutsConfigInput, CutPostageStampsInput, PostageStamps, StampPlanes, Stamp, StampKind, CutoutFitsOptions, DiaCutoutsFile } from './cutouts.ts';
