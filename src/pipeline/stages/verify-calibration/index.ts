/**
 * verify-calibration: checks a BIAS, DARK or FLAT visit after signature removal against the
 * master of its own kind and writes the `calib_verification` dataset (JSON).
 *
 * The runner (process-visit) passes, for a calibration visit:
 * - `exposure`: the combined ISR'd exposure (electrons), before it is written; it is only read;
 * - `master`: the decoded master of the visit's own kind (bias in electrons, dark in electrons
 *   per second as masterFrom returns it, flat as stored), or null;
 * - `exposureTimeS`, `darkTimeS`: summed over the snaps; `snaps`: the number of snaps combined;
 * - `amps`: each raw amplifier's name, detector box and read noise (RawAmp: a.amp.name,
 *   a.amp.detector, a.readNoiseE); `readNoiseE` (optional): a read noise per frame.
 */
export {
  CALIBRATION_KINDS,
  findMetric,
  makeVerifyCalibrationConfig,
  runVerifyCalibration,
  VERIFICATION_STATUSES,
  VerifyCalibrationConfig,
  type CalibrationKind,
  type VerificationAmp,
  type VerificationMaster,
  type VerificationMetric,
  type VerificationSegment,
  type VerificationStatus,
  type VerifyCalibrationConfigInput,
  type VerifyCalibrationInput,
  type VerifyCalibrationResult,
} from './verify-calibration.ts';
export {
  readVerificationMetrics,
  VERIFICATION_FORMAT,
  VERIFICATION_FORMAT_VERSION,
  writeVerificationMetrics,
  type VerificationContext,
  type VerificationDocument,
} from './metrics-file.ts';
