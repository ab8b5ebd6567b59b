/** Forced PSF photometry at known sky positions on the difference and science images. */
export { runForcedPhotometry, makeForcedPhotometryConfig, ForcedPhotometryConfig } from './forced-photometry.ts';
export type {
  ForcedPhotometryConfigInput,
  ForcedPhotometryInput,
  ForcedPhotometryResult,
  ForcedPosition,
  ForcedMeasurement,
  ForcedMeasurementFlags,
} from './forced-photometry.ts';
