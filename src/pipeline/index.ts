/**
 * The science pipeline: other folders import from here.
 */
export { processDetectorVisit, makeVisitConfig, VisitConfig, VISIT_STAGES, imageStatistics } from './process-visit.ts';
export type { ProcessVisitInput, ProcessVisitResult, VisitSummary, ImageStatistics, VisitConfigInput, VisitStage } from './process-visit.ts';
export { StageRunner, classifyStageError } from './runner.ts';
export type { Clock } from './runner.ts';
export { runIsr, makeIsrConfig, IsrConfig } from './isr.ts';
export type { IsrResult, IsrInput, IsrConfigInput, StageHook } from './isr.ts';
export { readRawExposure } from './stages/raw-input/raw-input.ts';
export type { RawExposure, RawExpectation } from './stages/raw-input/raw-input.ts';
export { writeProcessedExposure, readProcessedExposure, writeSourceCatalog, readSourceCatalog, reuseOutputBuffers } from './outputs.ts';
export type { ExposureMetadata, DiagnosticCard, VisitKind, ProcessedExposure, SourceCatalogFile } from './outputs.ts';
export { SourceFlag, SOURCE_COLUMNS, makeSourceCatalog } from './source-catalog.ts';
export type { SourceCatalog, SourceFlagName } from './source-catalog.ts';
export type { RawPlane, RawAmp, Defect } from './types.ts';
export { runOverscan, measureOverscan, makeOverscanConfig, OverscanConfig } from './stages/overscan/overscan.ts';
export { runAssembly, makeAssemblyConfig, AssemblyConfig } from './stages/assembly/assembly.ts';
export { runCalibrateSignature, makeCalibrateSignatureConfig, CalibrateSignatureConfig } from './stages/calibrate-signature/calibrate-signature.ts';
export type { MasterCalibration, CalibrationMasters } from './stages/calibrate-signature/calibrate-signature.ts';
export { runSnapCombine, makeSnapCombineConfig, SnapCombineConfig } from './stages/snap-combine/snap-combine.ts';
export { runBackground, evaluateBackground, makeBackgroundConfig, BackgroundConfig } from './stages/background/background.ts';
export type { BackgroundModel } from './stages/background/background.ts';
export { runDetection, makeDetectionConfig, DetectionConfig } from './stages/detection/detection.ts';
export type { Footprints, PsfEstimate, DetectionResult } from './stages/detection/detection.ts';
export { runMeasurement, makeMeasurementConfig, MeasurementConfig } from './stages/measurement/measurement.ts';
