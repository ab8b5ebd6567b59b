import { z } from 'zod';
import { InvalidInputError } from '../../../core/errors.ts';
import { MaskBit, type MaskedImage } from '../../../core/image.ts';
import type { Box } from '../../../instruments/index.ts';
import { parseConfig } from '../../config.ts';
import { medianInPlace, sigmaClippedStatsInPlace } from '../../lib/stats.ts';

/**
 * Verification of a calibration visit (BIAS, DARK, FLAT) after signature removal: the exposure
 * is compared with the master calibration of its own kind, which ISR did not apply.
 *
 * - BIAS: residual R = exposure − snaps · master bias (electrons).
 * - DARK: residual R = exposure − darkTimeS · master dark (electrons; rates are R / darkTimeS).
 * - FLAT: ratio q = exposure / master flat, normalised by its median (unitless).
 *
 * Levels, noise and structure are measured on regular subsamples (grid regions, amplifiers);
 * only the outlier counts (hot pixels) look at every pixel. Thresholds come from the config but
 * never go below what the noise of the sample can resolve, so a short dark or a small detector
 * does not fail by chance; the threshold reported is the one applied. Without a master only the
 * exposure's own statistics are reported, with status 'no-master'.
 */

const DEFAULT_IGNORE_BITS = MaskBit.BAD | MaskBit.SAT | MaskBit.NO_DATA | MaskBit.CR;
/** Noise of a median relative to that of a mean (Gaussian, large n). */
const MEDIAN_NOISE = 1.2533;
/** A structure rms passes when below max(threshold, this × the rms pure noise would give). */
const STRUCTURE_NOISE_FACTOR = 2;
/** Variance planes are smooth: their medians come from this many samples at most. */
const VARIANCE_SAMPLES = 20_000;
const SEGMENT_VARIANCE_SAMPLES = 5_000;

export const VerifyCalibrationConfig = z
  .object({
    /** Grid of regions whose medians measure large-scale structure (and stand in for amplifiers when none are given). */
    regionsX: z.number().int().min(1).max(64).default(8),
    regionsY: z.number().int().min(1).max(64).default(8),
    /** Pixels sampled over the whole region grid (regular strides per region). */
    maxSamples: z.number().int().min(1000).default(500_000),
    /** Pixels sampled over all amplifiers (or regions) for the per-segment statistics. */
    maxSegmentSamples: z.number().int().min(1000).default(320_000),
    /** Pixels the global clipped statistics are computed from (a subsample of the grid sample). */
    maxStatisticsSamples: z.number().int().min(1000).default(100_000),
    clipSigma: z.number().positive().default(3),
    clipIterations: z.number().int().min(0).max(10).default(3),
    /** Exposure mask bits whose pixels are left out. */
    ignoreMaskBits: z.number().int().min(0).default(DEFAULT_IGNORE_BITS),
    /** Master mask bits whose pixels are left out. */
    masterIgnoreMaskBits: z.number().int().min(0).default(MaskBit.BAD),
    /** Outliers and hot pixels: further than this many (clipped) sigma from the median. */
    outlierSigma: z.number().positive().default(5),
    /**
     * The outlier and hot-pixel counts look at every pixel of every n-th row (counts are scaled
     * to the whole detector); 1: every pixel, exact counts.
     */
    outlierRowStride: z.number().int().min(1).max(64).default(4),
    /** Level thresholds are at least this many standard errors of the measured level. */
    significanceSigma: z.number().positive().default(5),
    /** Measured / expected pixel noise must lie in [1/noiseRatioMax, noiseRatioMax]. */
    noiseRatioMax: z.number().gt(1).default(1.2),
    bias: z
      .object({
        /** |clipped mean residual| of the detector and of each amplifier, electrons. */
        residualMaxE: z.number().positive().default(1),
        /** rms of the region medians of the residual, electrons. */
        structureMaxE: z.number().positive().default(0.5),
        /** Fraction of pixels beyond outlierSigma. */
        outlierFractionMax: z.number().min(0).max(1).default(1e-3),
      })
      .strict()
      .default({}),
    dark: z
      .object({
        /** |residual dark current| of the detector and of each amplifier, electrons per second... */
        residualMaxEPerS: z.number().positive().default(0.01),
        /** ...or this fraction of the master's dark current when that is larger. */
        residualMaxFraction: z.number().positive().default(0.25),
        /** rms of the region medians of the residual dark current, electrons per second. */
        structureMaxEPerS: z.number().positive().default(0.005),
        /** Fraction of pixels hot in the exposure but not in the master. */
        newHotPixelFractionMax: z.number().min(0).max(1).default(2e-4),
      })
      .strict()
      .default({}),
    flat: z
      .object({
        /** rms of the region medians of the normalised ratio (large-scale non-uniformity). */
        uniformityMax: z.number().positive().default(0.005),
        /** Largest |median ratio − 1| of an amplifier (or region). */
        segmentDeviationMax: z.number().positive().default(0.01),
        /** Fraction of pixels whose ratio lies beyond outlierSigma. */
        outlierFractionMax: z.number().min(0).max(1).default(1e-3),
      })
      .strict()
      .default({}),
  })
  .strict()
  .refine((c) => c.regionsX * c.regionsY >= 4, { message: 'the structure metric needs at least 4 regions', path: ['regionsX'] })
  .refine((c) => c.maxStatisticsSamples <= c.maxSamples, { message: 'must not exceed maxSamples', path: ['maxStatisticsSamples'] });
export type VerifyCalibrationConfig = z.output<typeof VerifyCalibrationConfig>;
export type VerifyCalibrationConfigInput = z.input<typeof VerifyCalibrationConfig>;

export function makeVerifyCalibrationConfig(input: VerifyCalibrationConfigInput = {}): VerifyCalibrationConfig {
  return parseConfig(VerifyCalibrationConfig, input, 'verify-calibration');
}

export const CALIBRATION_KINDS = ['BIAS', 'DARK', 'FLAT'] as const;
export type CalibrationKind = (typeof CALIBRATION_KINDS)[number];
export const VERIFICATION_STATUSES = ['pass', 'fail', 'no-master'] as const;
export type VerificationStatus = (typeof VERIFICATION_STATUSES)[number];

/**
 * A master calibration in detector coordinates: bias in electrons (per frame), dark in electrons
 * per second, flat in any normalisation. A MaskedImage, or calibrate-signature's
 * MasterCalibration, qualifies.
 */
export interface VerificationMaster {
  readonly width: number;
  readonly height: number;
  readonly image: Float32Array;
  readonly variance?: Float32Array;
  readonly mask?: Int32Array;
}

/** An amplifier's box in the trimmed detector (AmpGeometry qualifies), with its read noise per frame. */
export interface VerificationAmp {
  readonly name: string;
  readonly detector: Box;
  readonly readNoiseE?: number;
}

export interface VerifyCalibrationInput {
  readonly kind: CalibrationKind;
  /** The visit after signature removal (snaps summed), electrons. Read only. */
  readonly exposure: MaskedImage;
  /** Master of the visit's own kind, or null. */
  readonly master: VerificationMaster | null;
  /** Exposure time summed over the snaps, seconds. */
  readonly exposureTimeS: number;
  /** Dark time summed over the snaps, seconds (scales the master dark). */
  readonly darkTimeS: number;
  /** Frames summed into the exposure (scales the master bias and the read noise); default 1. */
  readonly snaps?: number;
  /** Read noise per frame, electrons; absent: the expected noise comes from the variance plane. */
  readonly readNoiseE?: number;
  /** Amplifier boxes for per-amplifier statistics; absent or empty: the region grid is used. */
  readonly amps?: readonly VerificationAmp[];
}

export interface VerificationMetric {
  readonly name: string;
  /** null when it could not be computed (no usable pixels). */
  readonly value: number | null;
  readonly unit: string;
  /** The threshold applied, or null for an informational metric. */
  readonly threshold: number | null;
  /** null for an informational metric (and for every metric without a master). */
  readonly pass: boolean | null;
  readonly doc: string;
}

/** Statistics of the verified quantity in one amplifier or region, in `segmentUnit`. */
export interface VerificationSegment {
  readonly name: string;
  readonly box: Box;
  /** Clipped mean. */
  readonly mean: number | null;
  readonly median: number | null;
  /** Clipped standard deviation. */
  readonly noise: number | null;
  /** Expected pixel noise. */
  readonly expectedNoise: number | null;
  /** Pixels sampled. */
  readonly pixels: number;
}

export interface VerifyCalibrationResult {
  readonly kind: CalibrationKind;
  readonly status: VerificationStatus;
  readonly metrics: readonly VerificationMetric[];
  /** Names of the metrics that failed. */
  readonly failed: readonly string[];
  /**
   * Per amplifier (or region) statistics of the residual (BIAS: electrons; DARK: electrons per
   * second; FLAT: normalised ratio), or of the exposure itself without a master.
   */
  readonly segments: readonly VerificationSegment[];
  readonly segmentSource: 'amp' | 'region';
  readonly segmentUnit: string;
  readonly expectedNoiseSource: 'read-noise' | 'variance-plane';
  /**
   * What the master was multiplied by to predict the exposure: BIAS the frames summed, DARK
   * the dark time (s), FLAT the median exposure / master ratio. null without a master.
   */
  readonly masterScale: number | null;
  /** Unmasked pixels (of the exposure and the master) the outlier counts looked at (every outlierRowStride-th row). */
  readonly pixelsChecked: number;
  /** Pixels in the region-grid sample. */
  readonly pixelsSampled: number;
}

// ---------------------------------------------------------------- sampling

/** How a pixel is compared with the master: not at all, exposure − scale · master, exposure / master. */
const Mode = { Own: 0, Difference: 1, Ratio: 2 } as const;
type Mode = (typeof Mode)[keyof typeof Mode];

interface PixelSource {
  readonly width: number;
  readonly image: Float32Array;
  readonly variance: Float32Array;
  readonly mask: Int32Array;
  readonly ignoreBits: number;
  readonly mode: Mode;
  readonly master: Float32Array | null;
  readonly masterVariance: Float32Array | null;
  readonly masterMask: Int32Array | null;
  readonly masterIgnoreBits: number;
  /** Mode.Difference: the master's multiplier. */
  readonly scale: number;
}

/** Values sampled from a list of boxes, box b in [starts[b], starts[b+1]). */
interface SampleSet {
  readonly starts: Int32Array;
  /** Exposure values. */
  readonly own: Float32Array;
  /** Residual (difference or raw ratio), when there is a master. */
  readonly res: Float32Array | null;
  /** Exposure variance. */
  readonly ownVar: Float32Array;
  /** Master variance in residual units (scale² · var, or var / master² for a ratio). */
  readonly masterVar: Float32Array | null;
  /** Horizontal neighbour differences of the exposure (noise independent of structure). */
  readonly diff: Float32Array | null;
  readonly nDiff: number;
  /** The same for the residual, when there is a master. */
  readonly resDiff: Float32Array | null;
  readonly nResDiff: number;
}

/** Pixels sampled side by side (one cache line of each plane) at each sampled position. */
const RUN = 4;

/** Row and column step giving at most about `cap` samples in runs of RUN pixels; 1 when the box is small. */
function strideFor(b: Box, cap: number): number {
  const area = (b.x1 - b.x0) * (b.y1 - b.y0);
  if (area <= cap) return 1;
  return Math.max(RUN, Math.ceil(Math.sqrt((area * RUN) / Math.max(1, cap))));
}

/** Samples per row of a box of width w with step s. */
function perRow(w: number, s: number): number {
  return s === 1 ? w : Math.ceil(w / s) * RUN;
}

function sampleBoxes(src: PixelSource, boxes: readonly Box[], capPerBox: number, withDiff: boolean): SampleSet {
  const strides = boxes.map((b) => strideFor(b, capPerBox));
  let capacity = 0;
  boxes.forEach((b, k) => {
    const s = strides[k];
    capacity += perRow(b.x1 - b.x0, s) * Math.ceil((b.y1 - b.y0) / s);
  });
  const own = new Float32Array(capacity);
  const ownVar = new Float32Array(capacity);
  const hasMaster = src.master !== null;
  const res = hasMaster ? new Float32Array(capacity) : null;
  const masterVar = hasMaster ? new Float32Array(capacity) : null;
  const diff = withDiff ? new Float32Array(capacity) : null;
  const resDiff = withDiff && hasMaster ? new Float32Array(capacity) : null;
  const starts = new Int32Array(boxes.length + 1);
  const { width: W, image: img, variance: vari, mask, ignoreBits: ign, mode, scale } = src;
  const M = src.master;
  const MV = src.masterVariance;
  const MM = src.masterMask;
  const mIgn = src.masterIgnoreBits;
  const scale2 = scale * scale;
  let k = 0;
  let kd = 0;
  let kr = 0;
  for (let b = 0; b < boxes.length; b++) {
    const { x0, y0, x1, y1 } = boxes[b];
    const s = strides[b];
    // Runs of `run` pixels every s columns, every s rows.
    const run = s === 1 ? 1 : RUN;
    const ox = Math.min((s - run) >> 1, x1 - x0 - 1);
    const oy = Math.min(s >> 1, y1 - y0 - 1);
    for (let y = y0 + oy; y < y1; y += s) {
      const row = y * W;
      for (let xr = x0 + ox; xr < x1; xr += s) {
        const xe = Math.min(xr + run, x1);
        for (let x = xr; x < xe; x++) {
          const i = row + x;
          if (mask[i] & ign) continue;
          const e = img[i];
          const v = vari[i];
          if (e - e !== 0 || v - v !== 0) continue;
          if (M !== null && res !== null && masterVar !== null) {
            if (MM !== null && MM[i] & mIgn) continue;
            const m = M[i];
            if (m - m !== 0) continue;
            if (mode === Mode.Ratio) {
              if (!(m > 0)) continue;
              res[k] = e / m;
              masterVar[k] = MV !== null ? MV[i] / (m * m) : 0;
            } else {
              res[k] = e - scale * m;
              masterVar[k] = MV !== null ? scale2 * MV[i] : 0;
            }
          }
          own[k] = e;
          ownVar[k] = v;
          k++;
          if (diff !== null && x + 1 < x1 && (mask[i + 1] & ign) === 0) {
            const e1 = img[i + 1];
            const d = e1 - e;
            if (d - d === 0) {
              diff[kd++] = d;
              if (resDiff !== null && M !== null && res !== null && (MM === null || (MM[i + 1] & mIgn) === 0)) {
                const m1 = M[i + 1];
                const r1 = mode === Mode.Ratio ? (m1 > 0 ? e1 / m1 : NaN) : e1 - scale * m1;
                const dr = r1 - res[k - 1];
                if (dr - dr === 0) resDiff[kr++] = dr;
              }
            }
          }
        }
      }
    }
    starts[b + 1] = k;
  }
  return { starts, own, res, ownVar, masterVar, diff, nDiff: kd, resDiff, nResDiff: kr };
}

// ---------------------------------------------------------------- statistics

interface Stats {
  readonly median: number;
  readonly mean: number;
  readonly sigma: number;
  readonly n: number;
}

const NO_STATS: Stats = { median: NaN, mean: NaN, sigma: NaN, n: 0 };

/** Median and clipped mean / sigma of a[lo..hi), on a regular subsample of at most `max` values copied to scratch. */
function statsOf(a: Float32Array, lo: number, hi: number, max: number, scratchIn: Float32Array, cfg: VerifyCalibrationConfig): Stats {
  const n = hi - lo;
  if (n <= 0) return NO_STATS;
  const step = Math.max(1, Math.ceil(n / max));
  const scratch = scratchIn.length >= Math.ceil(n / step) ? scratchIn : new Float32Array(Math.ceil(n / step));
  let k = 0;
  for (let i = lo; i < hi; i += step) scratch[k++] = a[i];
  const median = medianInPlace(scratch, k);
  const c = sigmaClippedStatsInPlace(scratch, k, cfg.clipSigma, cfg.clipIterations);
  return { median, mean: c.mean, sigma: c.sigma, n };
}

/** Median of the finite values of a[lo..hi), on a subsample of at most `max` values. */
function medianOf(a: Float32Array, lo: number, hi: number, max: number, scratchIn: Float32Array): number {
  const n = hi - lo;
  if (n <= 0) return NaN;
  const step = Math.max(1, Math.ceil(n / max));
  const scratch = scratchIn.length >= Math.ceil(n / step) ? scratchIn : new Float32Array(Math.ceil(n / step));
  let k = 0;
  for (let i = lo; i < hi; i += step) {
    const v = a[i];
    if (v - v === 0) scratch[k++] = v;
  }
  return medianInPlace(scratch, k);
}

interface Structure {
  /** rms of the finite region medians about their mean. */
  readonly rms: number;
  readonly peakToPeak: number;
  /** Mean number of samples per region. */
  readonly meanSamples: number;
}

/** Region medians of buf (reorders each region's slice) → their rms. */
function structureOf(buf: Float32Array, starts: Int32Array, divideBy: number): Structure {
  let s = 0;
  let s2 = 0;
  let n = 0;
  let lo = Infinity;
  let hi = -Infinity;
  let samples = 0;
  for (let r = 0; r + 1 < starts.length; r++) {
    const a = starts[r];
    const cnt = starts[r + 1] - a;
    if (cnt === 0) continue;
    const m = medianInPlace(buf.subarray(a, a + cnt), cnt) / divideBy;
    if (m - m !== 0) continue;
    s += m;
    s2 += m * m;
    n++;
    samples += cnt;
    if (m < lo) lo = m;
    if (m > hi) hi = m;
  }
  if (n < 2) return { rms: NaN, peakToPeak: NaN, meanSamples: n ? samples / n : 0 };
  const mean = s / n;
  return { rms: Math.sqrt(Math.max(0, s2 / n - mean * mean)), peakToPeak: hi - lo, meanSamples: samples / n };
}

function finiteOrNull(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}

interface NamedBox extends Box {
  readonly name: string;
}

/** The nx × ny grid of regions, named region-<column>-<row>; empty ones (a detector narrower than nx) left out. */
function regionBoxes(W: number, H: number, nx: number, ny: number): NamedBox[] {
  const out: NamedBox[] = [];
  for (let j = 0; j < ny; j++) {
    const y0 = Math.floor((j * H) / ny);
    const y1 = Math.floor(((j + 1) * H) / ny);
    for (let i = 0; i < nx; i++) {
      const x0 = Math.floor((i * W) / nx);
      const x1 = Math.floor(((i + 1) * W) / nx);
      if (x1 > x0 && y1 > y0) out.push({ name: `region-${i}-${j}`, x0, y0, x1, y1 });
    }
  }
  return out;
}

// ---------------------------------------------------------------- metrics

type Test = 'abs' | 'max' | 'ratio';

class MetricList {
  readonly items: VerificationMetric[] = [];
  private readonly names = new Set<string>();

  info(name: string, value: number, unit: string, doc: string): void {
    this.push({ name, value: finiteOrNull(value), unit, threshold: null, pass: null, doc });
  }

  check(name: string, value: number, unit: string, threshold: number, test: Test, doc: string): void {
    const v = finiteOrNull(value);
    const t = finiteOrNull(threshold);
    let pass = false;
    if (v !== null && t !== null) {
      if (test === 'abs') pass = Math.abs(v) <= t;
      else if (test === 'max') pass = v <= t;
      else pass = v <= t && v >= 1 / t;
    }
    this.push({ name, value: v, unit, threshold: t, pass, doc });
  }

  private push(m: VerificationMetric): void {
    if (this.names.has(m.name)) throw new Error(`metric ${m.name} reported twice`);
    this.names.add(m.name);
    this.items.push(m);
  }
}

function checkInput(input: VerifyCalibrationInput): void {
  const { exposure: e, master } = input;
  const n = e.width * e.height;
  if (!(CALIBRATION_KINDS as readonly string[]).includes(input.kind)) {
    throw new InvalidInputError(`verify-calibration: kind '${String(input.kind)}' is not one of ${CALIBRATION_KINDS.join(', ')}`);
  }
  if (!(n > 0) || e.image.length !== n || e.variance.length !== n || e.mask.length !== n) {
    throw new InvalidInputError(`verify-calibration: exposure planes do not match its ${e.width}x${e.height} size`);
  }
  if (master) {
    if (master.width !== e.width || master.height !== e.height || master.image.length !== n) {
      throw new InvalidInputError(`verify-calibration: master ${input.kind.toLowerCase()} is ${master.width}x${master.height}, the exposure ${e.width}x${e.height}`);
    }
    if (master.variance && master.variance.length !== n) throw new InvalidInputError('verify-calibration: master variance has the wrong size');
    if (master.mask && master.mask.length !== n) throw new InvalidInputError('verify-calibration: master mask has the wrong size');
  }
  if (!(input.exposureTimeS >= 0) || !Number.isFinite(input.exposureTimeS)) {
    throw new InvalidInputError(`verify-calibration: exposureTimeS ${input.exposureTimeS} is not a finite time >= 0`);
  }
  if (!(input.darkTimeS >= 0) || !Number.isFinite(input.darkTimeS)) {
    throw new InvalidInputError(`verify-calibration: darkTimeS ${input.darkTimeS} is not a finite time >= 0`);
  }
  if (input.kind === 'DARK' && !(input.darkTimeS > 0)) throw new InvalidInputError('verify-calibration: a DARK needs darkTimeS > 0');
  const snaps = input.snaps ?? 1;
  if (!Number.isInteger(snaps) || snaps < 1) throw new InvalidInputError(`verify-calibration: snaps ${snaps} is not an integer >= 1`);
  if (input.readNoiseE !== undefined && !(input.readNoiseE >= 0 && Number.isFinite(input.readNoiseE))) {
    throw new InvalidInputError(`verify-calibration: readNoiseE ${input.readNoiseE} is not a finite value >= 0`);
  }
  for (const a of input.amps ?? []) {
    const b = a.detector;
    if (!(b.x0 >= 0 && b.y0 >= 0 && b.x1 > b.x0 && b.y1 > b.y0 && b.x1 <= e.width && b.y1 <= e.height) || ![b.x0, b.y0, b.x1, b.y1].every(Number.isInteger)) {
      throw new InvalidInputError(`verify-calibration: amp ${a.name} box [${b.x0}:${b.x1}, ${b.y0}:${b.y1}] is not inside the ${e.width}x${e.height} exposure`);
    }
    if (a.readNoiseE !== undefined && !(a.readNoiseE >= 0 && Number.isFinite(a.readNoiseE))) {
      throw new InvalidInputError(`verify-calibration: amp ${a.name} readNoiseE ${a.readNoiseE} is not a finite value >= 0`);
    }
  }
}

interface FullResCounts {
  readonly pixels: number;
  readonly ownOutliers: number;
  readonly ownHot: number;
  readonly resOutliers: number;
  readonly resHot: number;
  /** Rows looked at. */
  readonly rows: number;
}

/**
 * One pass over every pixel: outliers (two-sided) and hot pixels (high side) of the exposure and
 * of the residual. A pixel counts when it is more than k sigma from the median both by the
 * clipped sigma of the sample and by its own variance (a hot pixel's shot noise is not an excess).
 * The variance is only read for the few pixels beyond the first test.
 */
function countOutliers(src: PixelSource, rowStride: number, k: number, ownMed: number, ownSigma: number, resMed: number, resSigma: number): FullResCounts {
  const { width: W, image: img, variance: vari, mask, ignoreBits: ign, mode, scale } = src;
  const H = img.length / W;
  const y0 = Math.min(rowStride >> 1, H - 1);
  let rows = 0;
  for (let y = y0; y < H; y += rowStride) rows++;
  const k2 = k * k;
  const oHalf = k * ownSigma;
  const rHalf = k * resSigma;
  let pixels = 0;
  let ownOut = 0;
  let ownHot = 0;
  let resOut = 0;
  let resHot = 0;
  const M = src.master;
  if (M === null) {
    for (let y = y0; y < H; y += rowStride) {
      const end = (y + 1) * W;
      for (let i = y * W; i < end; i++) {
        if (mask[i] & ign) continue;
        const e = img[i];
        const d = e - ownMed;
        if (!(d <= oHalf && d >= -oHalf)) {
          if (e - e !== 0) continue;
          if (d * d > k2 * vari[i]) {
            ownOut++;
            if (d > 0) ownHot++;
          }
        }
        pixels++;
      }
    }
    return { pixels, ownOutliers: ownOut, ownHot, resOutliers: 0, resHot: 0, rows };
  }
  const MV = src.masterVariance;
  const MM = src.masterMask !== null && src.masterIgnoreBits !== 0 ? src.masterMask : null;
  const mIgn = src.masterIgnoreBits;
  const ratio = mode === Mode.Ratio;
  const scale2 = scale * scale;
  for (let y = y0; y < H; y += rowStride) {
    const end = (y + 1) * W;
    for (let i = y * W; i < end; i++) {
      if (mask[i] & ign) continue;
      if (MM !== null && MM[i] & mIgn) continue;
      const e = img[i];
      const m = M[i];
      const r = ratio ? e / m : e - scale * m;
      const dr = r - resMed;
      if (!(dr <= rHalf && dr >= -rHalf)) {
        // Not finite (the exposure or the master), or a flat pixel <= 0: not usable.
        if (r - r !== 0 || (ratio && !(m > 0))) continue;
        const mv = MV !== null ? MV[i] : 0;
        const v = ratio ? (vari[i] + r * r * mv) / (m * m) : vari[i] + scale2 * mv;
        if (dr * dr > k2 * v) {
          resOut++;
          if (dr > 0) resHot++;
        }
      }
      const d = e - ownMed;
      if (!(d <= oHalf && d >= -oHalf) && d * d > k2 * vari[i]) {
        ownOut++;
        if (d > 0) ownHot++;
      }
      pixels++;
    }
  }
  return { pixels, ownOutliers: ownOut, ownHot, resOutliers: resOut, resHot, rows };
}

// ---------------------------------------------------------------- the stage

export function runVerifyCalibration(input: VerifyCalibrationInput, cfg: VerifyCalibrationConfig = makeVerifyCalibrationConfig()): VerifyCalibrationResult {
  checkInput(input);
  const { kind, exposure, master } = input;
  const W = exposure.width;
  const H = exposure.height;
  const snaps = input.snaps ?? 1;
  const t = input.darkTimeS;
  const mode = master === null ? Mode.Own : kind === 'FLAT' ? Mode.Ratio : Mode.Difference;
  const scale = kind === 'BIAS' ? snaps : kind === 'DARK' ? t : 1;
  const src: PixelSource = {
    width: W,
    image: exposure.image,
    variance: exposure.variance,
    mask: exposure.mask,
    ignoreBits: cfg.ignoreMaskBits,
    mode,
    master: master?.image ?? null,
    masterVariance: master?.variance ?? null,
    masterMask: master?.mask ?? null,
    masterIgnoreBits: cfg.masterIgnoreMaskBits,
    scale,
  };

  // 1. The region grid: global statistics on a subsample of it, then the region medians.
  const regions = regionBoxes(W, H, cfg.regionsX, cfg.regionsY);
  const grid = sampleBoxes(src, regions, cfg.maxSamples / regions.length, true);
  const nGrid = grid.starts[regions.length];
  const maxStat = cfg.maxStatisticsSamples;
  const scratch = new Float32Array(Math.min(Math.max(nGrid, grid.nDiff, 1), maxStat));
  const own = statsOf(grid.own, 0, nGrid, maxStat, scratch, cfg);
  const diff = grid.diff !== null ? statsOf(grid.diff, 0, grid.nDiff, maxStat, scratch, cfg) : NO_STATS;
  const ownVarMedian = medianOf(grid.ownVar, 0, nGrid, VARIANCE_SAMPLES, scratch);
  const res = grid.res !== null ? statsOf(grid.res, 0, nGrid, maxStat, scratch, cfg) : NO_STATS;
  const masterVarMedian = grid.masterVar !== null ? medianOf(grid.masterVar, 0, nGrid, VARIANCE_SAMPLES, scratch) : NaN;
  const resDiff = grid.resDiff !== null ? statsOf(grid.resDiff, 0, grid.nResDiff, maxStat, scratch, cfg) : NO_STATS;
  // FLAT: everything relative to the median level (of the exposure, or of the ratio).
  const ownNorm = kind === 'FLAT' ? own.median : 1;
  const ratioNorm = mode === Mode.Ratio ? res.median : 1;
  const ownStructure = structureOf(grid.own, grid.starts, ownNorm);
  const resStructure = grid.res !== null ? structureOf(grid.res, grid.starts, ratioNorm) : null;

  // 2. Expected noise: read noise when given (BIAS, DARK: plus the dark signal's shot noise; FLAT: the flat's), else the variance plane.
  const useReadNoise = input.readNoiseE !== undefined;
  const expectedOwnVar = (rn: number | undefined, ownMedian: number, varMedian: number): number =>
    rn !== undefined ? snaps * rn * rn + (kind === 'BIAS' ? 0 : Math.max(0, ownMedian)) : varMedian;
  const ownVarExpected = expectedOwnVar(input.readNoiseE, own.median, ownVarMedian);
  const mVar = Number.isFinite(masterVarMedian) ? masterVarMedian : 0;
  // Residual (electrons) or ratio (relative) expected variance.
  const resVarExpected = mode === Mode.Ratio ? ownVarExpected / (own.median * own.median) + mVar : ownVarExpected + mVar;

  // 3. Segments: amplifiers, or the region grid.
  const amps = input.amps && input.amps.length > 0 ? input.amps : null;
  const segBoxes: readonly NamedBox[] = amps ? amps.map((a) => ({ ...a.detector, name: a.name })) : regions;
  const seg = sampleBoxes(src, segBoxes, cfg.maxSegmentSamples / segBoxes.length, false);
  const segValues = seg.res ?? seg.own;
  // DARK: rates; FLAT: relative to the median level.
  const segDiv = kind === 'DARK' ? t : kind === 'FLAT' ? (mode === Mode.Ratio ? ratioNorm : ownNorm) : 1;
  let segScratch = new Float32Array(0);
  const segments: VerificationSegment[] = segBoxes.map((box, b) => {
    const lo = seg.starts[b];
    const hi = seg.starts[b + 1];
    if (segScratch.length < hi - lo) segScratch = new Float32Array(hi - lo);
    const st = statsOf(segValues, lo, hi, maxStat, segScratch, cfg);
    const ownMedian = mode === Mode.Own ? st.median : medianOf(seg.own, lo, hi, SEGMENT_VARIANCE_SAMPLES, segScratch);
    const vOwn = expectedOwnVar(amps?.[b].readNoiseE ?? input.readNoiseE, ownMedian, medianOf(seg.ownVar, lo, hi, SEGMENT_VARIANCE_SAMPLES, segScratch));
    const vMaster = seg.masterVar !== null ? medianOf(seg.masterVar, lo, hi, SEGMENT_VARIANCE_SAMPLES, segScratch) : 0;
    // Expected noise in the segment's unit.
    const expected =
      kind === 'FLAT'
        ? mode === Mode.Ratio
          ? Math.sqrt(vOwn / (ownMedian * ownMedian) + vMaster)
          : Math.sqrt(vOwn) / ownNorm
        : Math.sqrt(vOwn + vMaster) / segDiv;
    return {
      name: box.name,
      box: { x0: box.x0, y0: box.y0, x1: box.x1, y1: box.y1 },
      mean: finiteOrNull(st.mean / segDiv),
      median: finiteOrNull(st.median / segDiv),
      noise: finiteOrNull(st.sigma / segDiv),
      expectedNoise: finiteOrNull(expected),
      pixels: st.n,
    };
  });

  // 4. Every pixel: outliers and hot pixels.
  const k = cfg.outlierSigma;
  const counts = countOutliers(src, cfg.outlierRowStride, k, own.median, own.sigma, res.median, res.sigma);
  const px = Math.max(1, counts.pixels);
  // Counts for the whole detector.
  const perDetector = (count: number) => Math.round((count * H) / counts.rows);
  const sampledRows = cfg.outlierRowStride > 1 ? `; estimated from every ${cfg.outlierRowStride}th row` : '';

  // 5. Metrics: the exposure's own, then the comparison with the master.
  const out = new MetricList();
  const E = 'electron';
  const EPS = 'electron/s';
  const levelUnit = kind === 'FLAT' ? 'fraction' : E;
  out.info('exposureMedian', own.median, E, 'median of the unmasked pixels (the level)');
  out.info('exposureMean', own.mean, E, `${cfg.clipSigma}-sigma clipped mean of the unmasked pixels`);
  out.info('exposureStdev', own.sigma, E, `${cfg.clipSigma}-sigma clipped standard deviation (includes any large-scale structure)`);
  out.info('exposureNoise', diff.sigma / Math.SQRT2, E, 'pixel noise from horizontal neighbour differences (clipped sigma / sqrt 2), blind to large-scale structure');
  out.info('expectedNoise', Math.sqrt(ownVarExpected), E, useReadNoise ? 'expected pixel noise from the read noise (and shot noise of the signal)' : 'expected pixel noise: sqrt of the median of the variance plane');
  out.info(
    'exposureStructure',
    ownStructure.rms,
    levelUnit,
    `rms of the medians of ${cfg.regionsX}x${cfg.regionsY} regions${kind === 'FLAT' ? ', relative to the median level' : ''}`,
  );
  out.info('exposureOutlierFraction', counts.ownOutliers / px, 'fraction', `fraction of pixels more than ${k} sigma (clipped, and their own) from the median`);
  if (kind === 'DARK') {
    out.info('darkCurrent', own.mean / t, EPS, 'clipped mean of the exposure per second of dark time');
    out.info('hotPixels', perDetector(counts.ownHot), 'count', `pixels more than ${k} sigma (clipped, and their own) above the median${sampledRows}`);
  }
  if (kind === 'FLAT') {
    out.info('flatFlux', input.exposureTimeS > 0 ? own.median / input.exposureTimeS : NaN, EPS, 'median level per second of exposure');
  }

  if (mode !== Mode.Own) {
    const nStat = Math.min(res.n, maxStat);
    const stdErr = (sigma: number, n: number) => (cfg.significanceSigma * sigma) / Math.sqrt(Math.max(1, n));
    // FLAT: pixel noise from neighbour differences of the ratio, blind to its large-scale structure.
    const resNoise = resDiff.sigma / Math.SQRT2 / ratioNorm;
    const expectedNoise = Math.sqrt(resVarExpected);
    const noiseDoc = (what: string) => `measured / expected ${what} noise; passes within [1/${cfg.noiseRatioMax}, ${cfg.noiseRatioMax}]`;
    // The worst segment and the threshold its own noise allows.
    let segWorst = NaN;
    let segFloor = 0;
    for (const s of segments) {
      if (s.median === null || s.mean === null || s.noise === null) continue;
      const dev = kind === 'FLAT' ? Math.abs(s.median - 1) : Math.abs(s.mean);
      if (!(dev <= segWorst)) segWorst = dev;
      const floor = stdErr(kind === 'FLAT' ? MEDIAN_NOISE * s.noise : s.noise, Math.min(s.pixels, maxStat));
      if (floor > segFloor) segFloor = floor;
    }
    const structureFloor = (sigma: number, st: Structure) => (STRUCTURE_NOISE_FACTOR * MEDIAN_NOISE * sigma) / Math.sqrt(Math.max(1, st.meanSamples));
    const rs = resStructure as Structure;
    if (kind === 'BIAS') {
      const c = cfg.bias;
      out.check('residualMean', res.mean, E, Math.max(c.residualMaxE, stdErr(res.sigma, nStat)), 'abs', `clipped mean of exposure − ${snaps} × master bias`);
      out.info('residualMedian', res.median, E, 'median of the residual');
      out.check('segmentResidualMaxAbs', segWorst, E, Math.max(c.residualMaxE, segFloor), 'abs', `largest |clipped mean residual| of an ${amps ? 'amplifier' : 'region'}`);
      out.info('residualNoise', res.sigma, E, 'clipped standard deviation of the residual');
      out.info('expectedResidualNoise', expectedNoise, E, 'expected noise of the residual: exposure and master variance');
      out.check('noiseRatio', res.sigma / expectedNoise, 'ratio', cfg.noiseRatioMax, 'ratio', noiseDoc('residual'));
      out.check('outlierFraction', counts.resOutliers / px, 'fraction', c.outlierFractionMax, 'max', `fraction of pixels whose residual is more than ${k} sigma (clipped, and their own) from its median`);
      out.check('residualStructure', rs.rms, E, Math.max(c.structureMaxE, structureFloor(res.sigma, rs)), 'max', `rms of the residual medians of ${cfg.regionsX}x${cfg.regionsY} regions`);
    } else if (kind === 'DARK') {
      const c = cfg.dark;
      const masterRate = master ? medianOf(master.image, 0, master.image.length, maxStat, scratch) : NaN;
      const rateMax = Math.max(c.residualMaxEPerS, c.residualMaxFraction * (Number.isFinite(masterRate) ? Math.abs(masterRate) : 0));
      out.info('masterDarkCurrent', masterRate, EPS, 'median of the master dark');
      out.check('residualDarkCurrent', res.mean / t, EPS, Math.max(rateMax, stdErr(res.sigma, nStat) / t), 'abs', `clipped mean of (exposure − ${t} s × master dark) per second`);
      out.info('residualDarkCurrentMedian', res.median / t, EPS, 'median of the residual per second');
      out.check('segmentResidualMaxAbs', segWorst, EPS, Math.max(rateMax, segFloor), 'abs', `largest |clipped mean residual dark current| of an ${amps ? 'amplifier' : 'region'}`);
      out.info('residualNoise', res.sigma, E, 'clipped standard deviation of the residual');
      out.info('expectedResidualNoise', expectedNoise, E, 'expected noise of the residual: exposure and scaled master variance');
      out.check('noiseRatio', res.sigma / expectedNoise, 'ratio', cfg.noiseRatioMax, 'ratio', noiseDoc('residual'));
      out.info('newHotPixels', perDetector(counts.resHot), 'count', `pixels whose residual is more than ${k} sigma (clipped, and their own) above its median: hot, and not in the master${sampledRows}`);
      out.check('newHotPixelFraction', counts.resHot / px, 'fraction', c.newHotPixelFractionMax, 'max', 'newHotPixels over the unmasked pixels');
      out.check(
        'residualStructure',
        rs.rms / t,
        EPS,
        Math.max(c.structureMaxEPerS, structureFloor(res.sigma, rs) / t),
        'max',
        `rms of the residual dark-current medians of ${cfg.regionsX}x${cfg.regionsY} regions`,
      );
    } else {
      const c = cfg.flat;
      out.info('ratioNormalization', ratioNorm, E, 'median of exposure / master flat: the level the master is scaled to');
      out.info('ratioNoise', resNoise, 'fraction', 'pixel noise of the normalised ratio from horizontal neighbour differences (clipped sigma / sqrt 2)');
      out.info('ratioStdev', res.sigma / ratioNorm, 'fraction', 'clipped standard deviation of the normalised ratio (includes large-scale structure)');
      out.info('expectedRatioNoise', expectedNoise, 'fraction', 'expected relative noise: photon and read noise of the exposure, noise of the master');
      out.check('noiseRatio', resNoise / expectedNoise, 'ratio', cfg.noiseRatioMax, 'ratio', noiseDoc('ratio'));
      out.check(
        'uniformity',
        rs.rms,
        'fraction',
        Math.max(c.uniformityMax, structureFloor(resNoise, rs)),
        'max',
        `rms of the normalised-ratio medians of ${cfg.regionsX}x${cfg.regionsY} regions (large-scale non-uniformity)`,
      );
      out.info('uniformityPeakToPeak', rs.peakToPeak, 'fraction', 'largest minus smallest region median of the normalised ratio');
      out.check('segmentRatioMaxDeviation', segWorst, 'fraction', Math.max(c.segmentDeviationMax, segFloor), 'abs', `largest |median normalised ratio − 1| of an ${amps ? 'amplifier' : 'region'}`);
      out.check('outlierFraction', counts.resOutliers / px, 'fraction', c.outlierFractionMax, 'max', `fraction of pixels whose ratio is more than ${k} sigma (clipped, and their own) from its median`);
    }
  }

  const failed = out.items.filter((m) => m.pass === false).map((m) => m.name);
  return {
    kind,
    status: mode === Mode.Own ? 'no-master' : failed.length > 0 ? 'fail' : 'pass',
    metrics: out.items,
    failed,
    segments,
    segmentSource: amps ? 'amp' : 'region',
    segmentUnit: kind === 'BIAS' ? E : kind === 'DARK' ? EPS : 'ratio',
    expectedNoiseSource: useReadNoise ? 'read-noise' : 'variance-plane',
    masterScale: mode === Mode.Own ? null : kind === 'FLAT' ? finiteOrNull(ratioNorm) : scale,
    pixelsChecked: counts.pixels,
    pixelsSampled: nGrid,
  };
}

/** The metric of that name, or undefined. */
export function findMetric(result: Pick<VerifyCalibrationResult, 'metrics'>, name: string): VerificationMetric | undefined {
  return result.metrics.find((m) => m.name === name);
}
