/**
 * Master calibrations of the simulated cameras, made from the simulator's camera model rather
 * than by combining simulated exposures: what a perfect calibration pipeline would converge to.
 * They are written as processed-exposure files (outputs.ts' layout, RICE-compressed; see
 * exposure-file.ts), the form processDetectorVisit({ calibs }) reads.
 *
 * - Bias (electrons): the residual after overscan subtraction. The simulator's bias level and
 *   its row-wise drift are the same in the data and the serial overscan, and it has no fixed
 *   2-D pattern, so the master bias is 0 everywhere; VARIANCE is the read noise² of each amplifier
 *   over the number of combined frames.
 * - Dark (BUNIT electron/s, so the pipeline scales it by each exposure's DARKTIME): the camera's
 *   mean dark current plus the detector's hot pixels and hot columns (defects.ts), exactly the
 *   rates the simulator adds; VARIANCE of a combination of `nCombined` darks of
 *   DARK_EXPOSURE_S seconds; hot pixels and columns carry the SUSPECT mask bit (not BAD: the dark
 *   removes them).
 * - Flat (unitless, mean 1): the simulator's flatFieldPattern (vignetting and per-amplifier
 *   response) divided by its mean; VARIANCE f / (nCombined · FLAT_LEVEL_E), that of flats of
 *   FLAT_LEVEL_E electrons. The simulator's flat is achromatic, so every filter gets the same
 *   pattern (the FILTER and BAND cards differ).
 *
 * Nothing here depends on a seed: masters are the same for every night and can be cached.
 */
import { InvalidInputError } from '../../core/errors.ts';
import { MaskBit, makeMaskedImage, type MaskedImage } from '../../core/image.ts';
import { getInstrument, type Instrument } from '../../instruments/index.ts';
import type { ExposureMetadata } from '../../pipeline/outputs.ts';
import { detectorDefects } from '../sim/defects.ts';
import { CAMERA_PROPERTIES } from '../sim/observation.ts';
import { flatFieldPattern, SIM_VERSION } from '../sim/raw-pixels.ts';
import { writeCompressedExposure, type CompressedExposureOptions } from './exposure-file.ts';

export type MasterKind = 'bias' | 'dark' | 'flat';

/** Frames a master is the combination of (sets its variance). */
export const DEFAULT_N_COMBINED = 20;
/** Exposure time of each dark combined into the master dark, seconds. */
export const DARK_EXPOSURE_S = 30;
/** Electrons per pixel of each flat combined into the master flat. */
export const FLAT_LEVEL_E = 20000;
/** Value of GROUPID in master files (they come from no visit). */
export const MASTER_GROUP = 'CALIB';
/** FILTER and BAND of masters that have no filter (bias, dark). */
export const NO_FILTER = 'NONE';

/**
 * Quantisation steps of the stored planes, far below each master's own noise: bias 0.001 e,
 * dark 1e-5 e/s (a 30 s dark's noise is ~0.2 e/s per frame), flat 1e-4 (0.01 %; a flat of 20
 * frames of 20,000 e has 0.16 % noise per pixel); variances to ~0.1 %.
 */
function quantization(kind: MasterKind, n: number): Pick<CompressedExposureOptions, 'image' | 'variance'> {
  if (kind === 'bias') return { image: { bscale: 1e-3 }, variance: { bscale: 1e-4 } };
  if (kind === 'dark') return { image: { bscale: 1e-5 }, variance: { bscale: 1e-6 } };
  return { image: { bscale: 1e-4 }, variance: { bscale: 1e-3 / (n * FLAT_LEVEL_E) } };
}

export interface MasterOptions {
  /** Frames combined (default DEFAULT_N_COMBINED): sets VARIANCE. */
  readonly nCombined?: number;
  /** false: uncompressed float32 planes, exactly writeProcessedExposure's layout (200 MB for a 4k CCD). */
  readonly compress?: boolean;
}

function instrumentOf(instrument: Instrument | string): Instrument {
  return typeof instrument === 'string' ? getInstrument(instrument) : instrument;
}

function nCombinedOf(opts: MasterOptions): number {
  const n = opts.nCombined ?? DEFAULT_N_COMBINED;
  if (!Number.isInteger(n) || n < 1 || n > 10000) throw new InvalidInputError(`nCombined must be an integer in 1..10000, got ${n}`);
  return n;
}

function metadata(inst: Instrument, detectorId: number, kind: MasterKind, filter: string | undefined, exposureTimeS: number, bunit: string, n: number): ExposureMetadata {
  const det = inst.detector(detectorId);
  const f = filter === undefined ? null : inst.filter(filter);
  return {
    instrument: inst.name,
    detector: det.id,
    detectorName: det.name,
    group: MASTER_GROUP,
    visit: 0,
    exposureIds: [],
    kind: kind === 'bias' ? 'BIAS' : kind === 'dark' ? 'DARK' : 'FLAT',
    filter: f?.name ?? NO_FILTER,
    band: f?.band ?? NO_FILTER,
    exposureTimeS,
    darkTimeS: exposureTimeS,
    mjdObs: null,
    dateObs: null,
    raDeg: null,
    decDeg: null,
    wcs: null,
    bunit,
    diagnostics: [
      { key: 'CALIBTYP', value: kind, comment: 'master calibration type' },
      { key: 'NCOMBINE', value: n, comment: 'frames the master stands for' },
      { key: 'CALIBSRC', value: 'camera model', comment: 'made from the simulator camera model' },
      { key: 'SIMVERS', value: SIM_VERSION, comment: 'simulator version' },
    ],
  };
}

/** The master bias planes (electrons): zero, with the read-noise variance of `nCombined` frames. */
export function masterBiasImage(instrument: Instrument | string, detectorId: number, opts: MasterOptions = {}): MaskedImage {
  const inst = instrumentOf(instrument);
  const g = inst.detector(detectorId).geometry();
  const n = nCombinedOf(opts);
  const mi = makeMaskedImage(g.width, g.height);
  for (const amp of g.amps) {
    const v = (amp.readNoiseE * amp.readNoiseE) / n;
    const d = amp.detector;
    for (let y = d.y0; y < d.y1; y++) mi.variance.fill(v, y * g.width + d.x0, y * g.width + d.x1);
  }
  return mi;
}

/** The master dark planes (electrons per second): dark current, hot pixels and hot columns. */
export function masterDarkImage(instrument: Instrument | string, detectorId: number, opts: MasterOptions = {}): MaskedImage {
  const inst = instrumentOf(instrument);
  const det = inst.detector(detectorId);
  const g = det.geometry();
  const W = g.width;
  const n = nCombinedOf(opts);
  const mi = makeMaskedImage(W, g.height);
  const img = mi.image;
  img.fill(CAMERA_PROPERTIES[inst.name].darkCurrentEPerS);
  const defects = detectorDefects(inst.name, det);
  for (let k = 0; k < defects.hotPixels.length; k++) {
    const idx = defects.hotPixels[k];
    img[idx] += defects.hotPixelRates[k];
    mi.mask[idx] |= MaskBit.SUSPECT;
  }
  for (const c of defects.hotColumns) {
    for (let y = c.y0; y < c.y1; y++) {
      img[y * W + c.x] += c.rateEPerS;
      mi.mask[y * W + c.x] |= MaskBit.SUSPECT;
    }
  }
  // Variance of the mean rate of n darks of T seconds: (rate·T + read noise²) / (n T²).
  const T = DARK_EXPOSURE_S;
  const scale = 1 / (n * T * T);
  for (const amp of g.amps) {
    const rn2 = amp.readNoiseE * amp.readNoiseE;
    const d = amp.detector;
    for (let y = d.y0; y < d.y1; y++) {
      const row = y * W;
      for (let x = d.x0; x < d.x1; x++) mi.variance[row + x] = (img[row + x] * T + rn2) * scale;
    }
  }
  return mi;
}

/** The master flat planes: the simulator's flat-field pattern normalised to mean 1. */
export function masterFlatImage(instrument: Instrument | string, detectorId: number, opts: MasterOptions = {}): MaskedImage {
  const inst = instrumentOf(instrument);
  const det = inst.detector(detectorId);
  const g = det.geometry();
  const n = nCombinedOf(opts);
  const pattern = flatFieldPattern(inst.name, det.id);
  let sum = 0;
  for (let i = 0; i < pattern.length; i++) sum += pattern[i];
  const inv = pattern.length / sum;
  const variance = new Float32Array(pattern.length);
  const vScale = 1 / (n * FLAT_LEVEL_E);
  const mask = new Int32Array(pattern.length);
  for (let i = 0; i < pattern.length; i++) {
    const f = pattern[i] * inv;
    pattern[i] = f;
    if (f > 0) variance[i] = f * vScale;
    else mask[i] = MaskBit.BAD;
  }
  return { width: g.width, height: g.height, image: pattern, mask, variance };
}

function write(mi: MaskedImage, meta: ExposureMetadata, kind: MasterKind, opts: MasterOptions): Uint8Array {
  const q = opts.compress === false ? { image: null, variance: null } : quantization(kind, nCombinedOf(opts));
  return writeCompressedExposure(mi, meta, q);
}

/** Master bias file of a detector (processed-exposure format, BUNIT electron). `filter` only labels it. */
export function masterBias(instrument: Instrument | string, detectorId: number, filter?: string, opts: MasterOptions = {}): Uint8Array {
  const inst = instrumentOf(instrument);
  return write(masterBiasImage(inst, detectorId, opts), metadata(inst, detectorId, 'bias', filter, 0, 'electron', nCombinedOf(opts)), 'bias', opts);
}

/** Master dark file of a detector (BUNIT electron/s). `filter` only labels it. */
export function masterDark(instrument: Instrument | string, detectorId: number, filter?: string, opts: MasterOptions = {}): Uint8Array {
  const inst = instrumentOf(instrument);
  return write(masterDarkImage(inst, detectorId, opts), metadata(inst, detectorId, 'dark', filter, DARK_EXPOSURE_S, 'electron/s', nCombinedOf(opts)), 'dark', opts);
}

/** Master flat file of a detector for a physical filter (unitless, mean 1). */
export function masterFlat(instrument: Instrument | string, detectorId: number, filter: string, opts: MasterOptions = {}): Uint8Array {
  const inst = instrumentOf(instrument);
  if (typeof filter !== 'string') throw new InvalidInputError('a master flat needs a physical filter');
  return write(masterFlatImage(inst, detectorId, opts), metadata(inst, detectorId, 'flat', filter, 0, '', nCombinedOf(opts)), 'flat', opts);
}

/** The master of a kind (dispatch for the planner's requests). */
export function masterFile(kind: MasterKind, instrument: Instrument | string, detectorId: number, filter: string | null, opts: MasterOptions = {}): Uint8Array {
  if (kind === 'bias') return masterBias(instrument, detectorId, filter ?? undefined, opts);
  if (kind === 'dark') return masterDark(instrument, detectorId, filter ?? undefined, opts);
  if (filter === null) throw new InvalidInputError('a master flat needs a physical filter');
  return masterFlat(instrument, detectorId, filter, opts);
}
