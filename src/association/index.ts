/**
 * Association: APDB DiaSource rows from a detector-visit's DiaSource catalog, matching them to
 * the DiaObjects around the detector, new DiaObject versions and the visit's DiaForcedSources.
 */
export { diaSourceRowsFromCatalog, DiaSourceRowContext, DIA_SOURCE_ROW_COLUMNS, BANDS } from './dia-source-rows.ts';
export type { Band } from './dia-source-rows.ts';
export { associate, matchPositions, makeAssociationConfig, AssociationConfig } from './associate.ts';
export type { AssociationConfigInput, AssociationInput, AssociationResult, AssociationStats, MatchResult } from './associate.ts';
export { summarizeDiaObject, meanPosition, weightedMean, psfFluxStats } from './summary.ts';
export type { DiaObjectSummaryInput, SkyMean, WeightedMean, PsfFluxStats } from './summary.ts';
export type { ForcedMeasurement } from '../pipeline/stages/forced-photometry/index.ts';
