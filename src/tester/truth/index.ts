/**
 * Truth of the injected transients: the truth files `prompt upload --truth-dir` writes, their
 * recomputation without painting (`visitTruth`), and the matching of difference-image detections
 * to them with completeness and false-detection statistics.
 */
export type { TransientKind, TransientOptions, TransientTruth, VisitTruth } from '../sim/transients.ts';
export { NEGATIVE_KINDS, TRANSIENT_KINDS, differenceSnrModel, expectedDifferenceSnr, groupEpochMs } from '../sim/transients.ts';
export { visitTruth } from '../sim/raw-pixels.ts';
export { parseVisitTruth, readTruthFile, truthFilePath, VisitTruthSchema, writeTruthFile } from './truth-file.ts';
export type { CompletenessCount, DetectionColumns, DetectionCounts, DetectionStatus, MatchOptions, SnrBin, TransientMatch, TruthMatchResult, TruthSummary } from './match.ts';
export { DEFAULT_SNR_EDGES, matchToTruth, summarizeTruth } from './match.ts';
