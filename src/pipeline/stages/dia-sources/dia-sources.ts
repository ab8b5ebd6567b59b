import { z } from 'zod';
import { separationArcsec, pixelToSky, type TanWcs } from '../../../astro/index.ts';
import { AlgorithmError, InvalidInputError } from '../../../core/errors.ts';
import { MaskBit, type MaskedImage } from '../../../core/image.ts';
import { parseConfig } from '../../config.ts';
import { adaptiveMoments, gaussianCentroid } from '../../lib/moments.ts';
import { sipPixelToSky, type SipWcs } from '../../lib/sip-wcs.ts';
import { IQR_TO_SIGMA } from '../../lib/stats.ts';
import { CONVOLUTION_STRIP_ROWS, convolveScratchSize, gaussianKernel, SeparableConvolver, type Footprints } from '../detection/detection.ts';
import { LazySymmetricFilter } from './wide-filter.ts';
import { makeDiaSourceCatalog, type DiaSourceCatalog, type FluxUnit } from './dia-source-catalog.ts';
import { diaSourceIdBase, MAX_ROW } from './dia-source-id.ts';
import {
  apertureFlux,
  continuousSigma,
  DipoleFit,
  fitPsfFlux,
  fitTwoPsfFluxes,
  PsfFit,
  signedStamp,
  subtractPsfFromStamp,
  type ApertureResult,
  type PsfFitOptions,
} from './psf-photometry.ts';
import { findRoot, unionRoots } from '../../lib/union-find.ts';
import { filterKernels } from '../../../wasm/filters.ts';
import { momentKernels } from '../../../wasm/moments.ts';

/**
 * Sources on the difference image D (science minus template, electrons):
 *
 * 1. Detection of positive and negative sources in one pass. D and its variance are filtered
 *    with the PSF-matched Gaussian k (two separable passes each; k² for the variance, so the
 *    predicted variance of the filtered image is per pixel, and high near bright stars), giving
 *    the significance S = (k ⊗ D) / √(k² ⊗ Var D). Pixels with `filterZeroBits` (and non-finite
 *    ones) count as zero in both. The variance plane of D ignores the correlated noise of the
 *    warped, convolved template, so S is wider than unit normal: its robust (sigma-clipped IQR)
 *    sigma over a subsample of unmasked pixels is `noiseScale`, the ratio of the empirical to
 *    the predicted noise of the filtered image. With `useEmpiricalNoise` the threshold is
 *    |S| > thresholdSigma · noiseScale and all flux and centroid errors on D are scaled by
 *    noiseScale; otherwise |S| > thresholdSigma. Footprints: 8-connected pixels of one sign
 *    (union-find labelling), at least `minAreaPx`, peak not on `skipPeakBits`. Footprint pixels
 *    get DETECTED or DETECTED_NEGATIVE in the mask.
 * 2. Lobes: every footprint is measured alone: Gaussian-weighted centroid on ±D (the sign of the
 *    footprint) from its peak, and the PSF flux there.
 * 3. Dipoles: a positive and a negative lobe whose centroids are within `dipole.maxSeparationFwhm`
 *    PSF FWHM, or whose footprints touch, with min(|F+|, |F−|) / max ≥ `dipole.minFluxRatio`, are
 *    paired (closest pairs first) into one DiaSource. The lobe centroids are refined a few times
 *    (each on D minus the other lobe's PSF, fluxes from a joint two-PSF fit at the two
 *    positions); the DiaSource has its centroid at the midpoint, the joint fit's lobe fluxes, and
 *    the separation and orientation of the lobes.
 * 4. Measurement per DiaSource (one catalog row): PSF flux on D by weighted least squares with
 *    the pixel-integrated Gaussian PSF at the centroid (flux = Σ w·D/V / Σ w²/V, error
 *    noiseScale / √(Σ w²/V)), χ², S/N, circular aperture flux, adaptive second moments, forced
 *    PSF fluxes on the science image and the template at the same position, sky position and
 *    errors from the WCS (TAN or TAN-SIP), pixel flags. Fluxes in nJy when calibNjyPerElectron
 *    is given (the catalog's fluxUnit says which).
 *
 * Rows are ordered by the pixel index of their (positive, for dipoles) footprint peak; row r has
 * diaSourceId = diaSourceIdBase(visit, detector) + r (dia-source-id.ts).
 *
 * The template error floor's wide Gaussian is evaluated only at the pixels where the floor can
 * change the outcome (the noise sub-grid, and where |S| without it is beyond a lower bound of the
 * threshold): the floor only lowers |S|, so elsewhere the pixel is below the threshold with or
 * without it. The result is the same as with the floor everywhere.
 *
 * Memory: no full-size plane. The filtered image and variance are computed a strip of rows at a
 * time, in one pass that takes the noise sub-grid's values and keeps the candidate pixels (|S|
 * beyond a lower bound of the threshold, which depends on the noise) with their filtered values;
 * S, the labels and the peaks are then computed over the candidates only. Kept are the
 * candidates, the pixels beyond the threshold with their labels, the labels of two rows and S of
 * three rows, and the rows of the row-filtered template that the floor's evaluation needs; plus a
 * mask copy unless `inPlace`.
 */
export const DiaSourcesConfig = z
  .object({
    /** Detection threshold in sigmas of the filtered difference image. */
    thresholdSigma: z.number().positive().default(5),
    /** Minimum footprint area (pixels beyond the threshold). */
    minAreaPx: z.number().int().min(1).default(4),
    /**
     * Half-width of the matched filter in PSF sigmas (6 px for a PSF sigma of 2 px; the filter's
     * cost grows with it); the Gaussian beyond 3 sigma carries a negligible part of the matched
     * filter's S/N.
     */
    kernelHalfWidthSigmas: z.number().min(1).max(6).default(3),
    /** Threshold and errors in units of the measured (not the variance-plane) noise. */
    useEmpiricalNoise: z.boolean().default(true),
    /**
     * Error floor of the subtraction proportional to the template: the detection variance gets
     * (f · k ⊗ T)² added, T the template on the science grid, so that the ~0.1% mismatch of a
     * PSF-matching kernel in the wings of bright stars (a few per cent of the local template
     * value) is not taken for a source. A variable star must change by more than about
     * thresholdSigma × f of its flux to be detected on its own; 0 disables the floor. It enters
     * the detection only, not the measured errors.
     */
    templateErrorFraction: z.number().min(0).max(1).default(0.02),
    /**
     * The template enters the floor smoothed by a Gaussian of this many PSF sigmas: the mismatch
     * shows in the wings of a star (up to a few PSF widths out), where the template itself is
     * already faint, and a wider smoothing carries the star's flux out to them.
     */
    templateErrorSmoothingPsfSigmas: z.number().min(1).max(10).default(3),
    noise: z
      .object({
        /** About this many pixels (a regular sub-grid) enter the noise estimate. */
        maxSamples: z.number().int().min(1000).default(200_000),
        /** Fewer usable samples: noiseScale is not measured (NaN) and 1 is used. */
        minSamples: z.number().int().min(10).default(2000),
        clipSigma: z.number().positive().default(3),
        clipIterations: z.number().int().min(0).max(20).default(3),
        /** Pixels with these bits are left out of the estimate. */
        excludeBits: z
          .number()
          .int()
          .min(0)
          .default(MaskBit.BAD | MaskBit.SAT | MaskBit.CR | MaskBit.NO_DATA | MaskBit.EDGE | MaskBit.INTRP | MaskBit.SUSPECT),
      })
      .default({}),
    /** Pixels with these bits count as zero in the filtered image and variance (NO_DATA is always added). */
    filterZeroBits: z.number().int().min(0).default(MaskBit.BAD | MaskBit.NO_DATA | MaskBit.EDGE),
    /** Footprints whose peak pixel has any of these bits are dropped. */
    skipPeakBits: z.number().int().min(0).default(MaskBit.NO_DATA | MaskBit.EDGE),
    /**
     * A footprint whose peak is SAT in the difference and where the template is at least this
     * fraction of the science value is a star saturated in the science image, not a new source:
     * its core is clipped in one image and not the other, and its difference means nothing. It is
     * dropped. A new source bright enough to saturate has a faint template and is kept (flagged
     * saturated). 0 keeps every saturated footprint.
     */
    saturatedStarTemplateFraction: z.number().min(0).default(0.1),
    /** Fail (AlgorithmError) beyond this many footprints: the subtraction went wrong. */
    maxFootprints: z
      .number()
      .int()
      .min(1)
      .max(MAX_ROW + 1)
      .default(100_000),
    dipole: z
      .object({
        enabled: z.boolean().default(true),
        /** Lobe centroids at most this many PSF FWHM apart (touching footprints pair at any distance). */
        maxSeparationFwhm: z.number().positive().default(2),
        /** min(|F+|, |F−|) / max(|F+|, |F−|) of the lobes' own PSF fluxes. */
        minFluxRatio: z.number().min(0).max(1).default(0.3),
        /**
         * Iterations of the lobe refinement: each lobe is re-centroided after subtracting the
         * other lobe's PSF (fluxes from the joint fit), which undoes the push of each lobe's
         * centroid away from the other (+35% separation at 1 FWHM without it). 0 disables it.
         */
        refineIterations: z.number().int().min(0).max(10).default(3),
      })
      .default({}),
    psfFit: z
      .object({
        /** Half-width of the fit window in PSF sigmas. */
        radiusSigmas: z.number().min(1).max(8).default(3),
        /** Usable pixels must carry this fraction of Σw² of the PSF (else psfFlux_flag_noGoodPixels). */
        minCoverage: z.number().positive().max(1).default(0.5),
        /** Pixels with these bits are left out of PSF fits, apertures, centroids and moments. */
        rejectBits: z.number().int().min(0).default(MaskBit.BAD | MaskBit.SAT | MaskBit.NO_DATA),
        /** These bits in a fit window set the *_flag_edge flags. */
        edgeBits: z.number().int().min(0).default(MaskBit.EDGE | MaskBit.NO_DATA),
      })
      .default({}),
    /** Aperture radius (pixels); the alert schema's apFlux is a 12-pixel aperture. */
    apertureRadiusPx: z.number().positive().default(12),
    /** Centroid weight sigma in PSF sigmas. */
    centroidWeightPsfSigmas: z.number().positive().default(1),
  })
  .superRefine((c, ctx) => {
    if (c.noise.minSamples > c.noise.maxSamples) ctx.addIssue({ code: 'custom', path: ['noise', 'minSamples'], message: 'must not exceed noise.maxSamples' });
  });
export type DiaSourcesConfig = z.output<typeof DiaSourcesConfig>;
export type DiaSourcesConfigInput = z.input<typeof DiaSourcesConfig>;

export function makeDiaSourcesConfig(input: DiaSourcesConfigInput = {}): DiaSourcesConfig {
  return parseConfig(DiaSourcesConfig, input, 'dia-sources');
}

export interface DiaSourcesInput {
  /** Science minus template (electrons), with variance and mask (NO_DATA | EDGE at the borders). */
  readonly difference: MaskedImage;
  /** Background-subtracted science image (electrons), same grid. */
  readonly science: MaskedImage;
  /** Warped template scaled to electrons, same grid. */
  readonly template: MaskedImage;
  /** Science PSF Gaussian sigma (pixels) as second moments of the pixel data (psf-matching's sciencePsfSigmaPx). */
  readonly psfSigmaPx: number;
  /** Template PSF sigma for templateFlux; the science one when absent. */
  readonly templatePsfSigmaPx?: number;
  /** nJy per electron; null leaves fluxes in electrons (catalog.fluxUnit = 'electron'). */
  readonly calibNjyPerElectron: number | null;
  /** Pixel → sky; null leaves ra, dec, dipoleLength, dipoleAngle NaN. */
  readonly wcs: SipWcs | TanWcs | null;
  /** Visit id (YYYYMMDD·100000 + seq) and detector, for diaSourceId. */
  readonly visit: number;
  readonly detector: number;
}

export interface DiaSourcesOptions {
  /** Set DETECTED / DETECTED_NEGATIVE in the difference's own mask (the caller owns it) instead of a copy. */
  readonly inPlace?: boolean;
}

export interface DiaSourcesDiagnostics {
  /** Matched-filter Gaussian sigma (pixels). */
  readonly filterSigmaPx: number;
  /** noiseScale as applied (1 when useEmpiricalNoise is off or the scale could not be measured). */
  readonly noiseScaleUsed: number;
  /** Pixels in the noise estimate. */
  readonly noiseSamples: number;
  /** Median significance of the sampled pixels (≈ 0 without residual background). */
  readonly significanceMedian: number;
  /** Median predicted noise of the filtered image, √(k² ⊗ Var), and the empirical one (electrons). */
  readonly filteredNoisePredicted: number;
  readonly filteredNoiseEmpirical: number;
  /** Threshold on |S| = |k ⊗ D| / √(k² ⊗ Var). */
  readonly thresholdSignificance: number;
  /** Footprints dropped because their peak is on skipPeakBits. */
  readonly droppedAtEdge: number;
  /** Footprints dropped as stars saturated in the science image (saturatedStarTemplateFraction). */
  readonly droppedSaturatedStars: number;
  readonly centroidFailures: number;
  readonly psfFluxFailures: number;
  readonly shapeFailures: number;
  readonly edgeSources: number;
  readonly fluxUnit: FluxUnit;
}

export interface DiaSourcesResult {
  readonly catalog: DiaSourceCatalog;
  /** Positive and negative footprints (peakSignificance in units of the threshold's noise, signed). */
  readonly positive: Footprints;
  readonly negative: Footprints;
  /** Catalog rows made of a positive and a negative lobe. */
  readonly dipoles: number;
  /** Per catalog row: its positive and negative footprint (−1 when none). */
  readonly rowPositive: Int32Array;
  readonly rowNegative: Int32Array;
  /** The difference's mask with DETECTED / DETECTED_NEGATIVE (the input's own array with inPlace). */
  readonly mask: Int32Array;
  /** Robust sigma of the filtered difference over what its variance plane predicts (NaN when not measurable). */
  readonly noiseScale: number;
  readonly diagnostics: DiaSourcesDiagnostics;
}

const FWHM_PER_SIGMA = 2 * Math.sqrt(2 * Math.log(2));
const R2D = 180 / Math.PI;
const D2R = Math.PI / 180;

/** Growable Int32Array. */
class IntList {
  data: Int32Array;
  length = 0;
  constructor(capacity: number) {
    this.data = new Int32Array(Math.max(16, capacity));
  }
  push(v: number): void {
    if (this.length === this.data.length) {
      const bigger = new Int32Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = v;
  }
}

/** Growable Float32Array. */
class FloatList {
  data: Float32Array;
  length = 0;
  constructor(capacity: number) {
    this.data = new Float32Array(Math.max(16, capacity));
  }
  push(v: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float32Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = v;
  }
}

/**
 * The pixels beyond thresholdSigma times this are kept through the pass that measures the noise
 * scale (the threshold's unit): a scale below it takes a second pass. The scale is about 1 or
 * above (the variance plane misses the correlated noise of the warped, convolved template).
 */
const NOISE_SCALE_LOW = 0.75;

/**
 * The template error floor: the filtered variance v (float32) at p plus (f · G ⊗ T)² (G ⊗ T the
 * lazily filtered template at p), rounded to float32; v where G ⊗ T is not a number or there is
 * no floor.
 */
function withFloor(floor: LazySymmetricFilter | null, f: number, p: number, v: number): number {
  if (floor === null) return v;
  const e = f * floor.at(p);
  return e === e ? Math.fround(v + e * e) : v;
}

/** The pixels kept through the pass: index, filtered D and variance, and the variance with the floor. */
class Candidates {
  p = new Int32Array(4096);
  d = new Float32Array(4096);
  v = new Float32Array(4096);
  w = new Float32Array(4096);
  length = 0;
  push(p: number, d: number, v: number, w: number): void {
    if (this.length === this.p.length) this.grow();
    const k = this.length++;
    this.p[k] = p;
    this.d[k] = d;
    this.v[k] = v;
    this.w[k] = w;
  }
  grow(): void {
    const n = 2 * this.length;
    const p = new Int32Array(n);
    const d = new Float32Array(n);
    const v = new Float32Array(n);
    const w = new Float32Array(n);
    p.set(this.p);
    d.set(this.d);
    v.set(this.v);
    w.set(this.w);
    this.p = p;
    this.d = d;
    this.v = v;
    this.w = w;
  }
}

/** Where the noise sub-grid's values go. */
class NoiseSamples {
  readonly s: Float32Array;
  readonly predicted: Float32Array;
  length = 0;
  constructor(capacity: number) {
    this.s = new Float32Array(capacity);
    this.predicted = new Float32Array(capacity);
  }
}

/**
 * The sub-grid values of a row (columns x0, x0 + step, …): S = d / √v, v with the floor, at the
 * pixels without `excludeBits` where v is positive and finite and S finite; and √v.
 * rowsD and rowsV hold the row from `o`, `base` is its first pixel's index.
 */
function sampleRow(
  rowsD: Float32Array,
  rowsV: Float32Array,
  o: number,
  base: number,
  W: number,
  x0: number,
  step: number,
  mask: Int32Array,
  excludeBits: number,
  floor: LazySymmetricFilter | null,
  f: number,
  out: NoiseSamples,
): void {
  const s = out.s;
  const predicted = out.predicted;
  let m = out.length;
  for (let x = x0; x < W; x += step) {
    const p = base + x;
    if (mask[p] & excludeBits) continue;
    const v = withFloor(floor, f, p, rowsV[o + x]);
    if (!(v > 0 && v < Infinity)) continue;
    const sd = Math.sqrt(v);
    const sv = rowsD[o + x] / sd;
    if (!Number.isFinite(sv)) continue;
    s[m] = sv;
    predicted[m] = sd;
    m++;
  }
  out.length = m;
}

/**
 * Keeps the candidates list[q …] of a row (strip offsets below `end`; the row from `o`, its
 * first pixel `base`) with their filtered values and floor; returns the index after them.
 */
function keepCandidates(
  list: Int32Array,
  q: number,
  count: number,
  end: number,
  o: number,
  base: number,
  rowsD: Float32Array,
  rowsV: Float32Array,
  floor: LazySymmetricFilter | null,
  f: number,
  out: Candidates,
): number {
  for (; q < count && list[q] < end; q++) {
    const i = list[q];
    const p = base + i - o;
    const v = rowsV[i];
    out.push(p, rowsD[i], v, withFloor(floor, f, p, v));
  }
  return q;
}

function checkPlanes(m: MaskedImage, W: number, H: number, what: string): void {
  const n = W * H;
  if (m.width !== W || m.height !== H) throw new InvalidInputError(`dia-sources: ${what} is ${m.width}x${m.height}, the difference is ${W}x${H}`);
  if (m.image.length !== n || m.variance.length !== n || m.mask.length !== n) throw new InvalidInputError(`dia-sources: ${what} planes do not match ${W}x${H}`);
}

/** 0-based pixel → (ra, dec) degrees through a TAN or TAN-SIP WCS. */
function toSky(wcs: SipWcs | TanWcs, x: number, y: number, out: Float64Array): void {
  if ('sip' in wcs) sipPixelToSky(wcs, x, y, out);
  else pixelToSky(wcs, x, y, out);
}

/** Wraps an RA difference (degrees) into (−180, 180]. */
function wrapDeg(d: number): number {
  return d - 360 * Math.round(d / 360);
}

interface FootprintSet {
  readonly fp: Footprints;
  /** Lobe measurements. */
  readonly x: Float64Array;
  readonly y: Float64Array;
  readonly xErr: Float64Array;
  readonly yErr: Float64Array;
  readonly centroidOk: Uint8Array;
  readonly flux: Float64Array;
}

export function runDiaSources(input: DiaSourcesInput, cfg: DiaSourcesConfig = makeDiaSourcesConfig(), opts: DiaSourcesOptions = {}): DiaSourcesResult {
  const { difference: D, science, template } = input;
  const W = D.width;
  const H = D.height;
  const n = W * H;
  checkPlanes(D, W, H, 'difference');
  checkPlanes(science, W, H, 'science');
  checkPlanes(template, W, H, 'template');
  const psfSigma = input.psfSigmaPx;
  if (!(psfSigma > 0 && psfSigma < 100)) throw new InvalidInputError(`dia-sources: PSF sigma ${psfSigma} px is not usable`);
  const tmplSigma = input.templatePsfSigmaPx ?? psfSigma;
  if (!(tmplSigma > 0 && tmplSigma < 100)) throw new InvalidInputError(`dia-sources: template PSF sigma ${tmplSigma} px is not usable`);
  const calib = input.calibNjyPerElectron;
  if (calib !== null && !(calib > 0 && Number.isFinite(calib))) throw new InvalidInputError(`dia-sources: calibNjyPerElectron ${calib} is not a positive number`);
  const idBase = diaSourceIdBase(input.visit, input.detector); // validates the id inputs before any work

  // 1. Matched filter of D and of its variance (k²), and the significance S = k ⊗ D / √(k² ⊗ Var),
  // a strip of rows at a time (no full-size plane: the filtered rows are used as they come).
  const r = Math.max(1, Math.ceil(cfg.kernelHalfWidthSigmas * psfSigma));
  const kernel = gaussianKernel(psfSigma, r);
  // k² is a Gaussian of sigma σ/√2: its taps beyond 4 of those sigmas (about 6e-5 of its sum)
  // are dropped.
  const r2 = Math.min(r, Math.ceil((4 * psfSigma) / Math.SQRT2));
  const kernel2 = new Float32Array(2 * r2 + 1);
  for (let i = -r2; i <= r2; i++) kernel2[i + r2] = kernel[i + r] * kernel[i + r];
  const zeroBits = cfg.filterZeroBits | MaskBit.NO_DATA;
  const scratchD = new Float32Array(convolveScratchSize(W, H, r));
  const scratchV = new Float32Array(convolveScratchSize(W, H, r2));
  // The template error floor: variance += (f · G ⊗ T)². A wide G (half-width above 6) is
  // evaluated only at the pixels whose significance the floor can decide (withFloor); a
  // narrow one everywhere, with the variance.
  const f = cfg.templateErrorFraction;
  let floor: LazySymmetricFilter | null = null;
  let narrowKernel: Float32Array | null = null;
  let scratchT: Float32Array | null = null;
  if (f > 0) {
    const sb = cfg.templateErrorSmoothingPsfSigmas * psfSigma;
    const gk = gaussianKernel(sb, Math.ceil(2.5 * sb));
    if (gk.length > 13) {
      floor = new LazySymmetricFilter(input.template.image, W, H, gk, D.mask, zeroBits);
    } else {
      narrowKernel = gk;
      scratchT = new Float32Array(convolveScratchSize(W, H, (gk.length - 1) >> 1));
    }
  }
  /** The filtered variance with a narrow floor: v (float32) += (f · t)², t the filtered template. */
  const plusNarrowFloor = (v: number, tv: number): number => {
    const e = f * tv;
    return e === e ? Math.fround(v + e * e) : v;
  };

  // 2. One pass over the strips: the noise sub-grid's values and the pixels that may be beyond
  // the threshold. The threshold needs the noise, which needs the whole pass; the pass keeps the
  // pixels beyond a lower bound tLow of it instead (thresholdSigma times NOISE_SCALE_LOW, or
  // thresholdSigma itself without useEmpiricalNoise), as the filtered D and variance there (and
  // the variance with the floor); every other pixel has |S| ≤ tLow (or D = 0 after filtering: S
  // is 0 or NaN) with or without the floor, which only lowers |S|. A noise scale below the bound
  // (a threshold below tLow) takes a second pass at the threshold itself.
  const nc = cfg.noise;
  const step = Math.max(1, Math.floor(Math.sqrt(n / nc.maxSamples)));
  const cap = Math.ceil(W / step) * Math.ceil(H / step);
  const noise = new NoiseSamples(cap);
  const strip = CONVOLUTION_STRIP_ROWS;
  const cand = new Candidates();
  const collect = (tl: number, sampling: boolean): void => {
    cand.length = 0;
    const filtered = new SeparableConvolver(D.image, W, H, kernel, scratchD, D.mask, zeroBits);
    const filteredVar = new SeparableConvolver(D.variance, W, H, kernel2, scratchV, D.mask, zeroBits);
    const narrowFloor = narrowKernel !== null ? new SeparableConvolver(input.template.image, W, H, narrowKernel, scratchT, D.mask, zeroBits) : null;
    // The strips are filtered into the kernels' memory, where the candidates are picked.
    const { exports: k, arena } = momentKernels();
    const [bufD, bufV, bufT, bufList] = arena.layout([
      ['f32', strip * W],
      ['f32', strip * W],
      ['f32', narrowFloor !== null ? strip * W : 0],
      ['i32', strip * W],
    ]);
    const rowsD = bufD.view;
    const rowsV = bufV.view;
    const list = bufList.view;
    // A margin far above the rounding of S (and of its float32 value) keeps every pixel beyond tl.
    const tl2 = tl * tl * (1 - 1e-6);
    const half = step >> 1;
    for (let y0 = 0; y0 < H; y0 += strip) {
      const y1 = Math.min(H, y0 + strip);
      const len = (y1 - y0) * W;
      filtered.rows(y0, y1, rowsD, 0);
      filteredVar.rows(y0, y1, rowsV, 0);
      if (narrowFloor !== null) {
        const rowsT = bufT.view;
        narrowFloor.rows(y0, y1, rowsT, 0);
        for (let i = 0; i < len; i++) rowsV[i] = plusNarrowFloor(rowsV[i], rowsT[i]);
      }
      const count = k.candidates(bufD.ptr, bufV.ptr, len, tl2, bufList.ptr);
      let q = 0;
      for (let y = y0; y < y1; y++) {
        const o = (y - y0) * W;
        // The row's sub-grid values (the floor is evaluated in row order: samples, then candidates).
        if (sampling && y >= half && (y - half) % step === 0) sampleRow(rowsD, rowsV, o, y * W, W, half, step, D.mask, nc.excludeBits, floor, f, noise);
        if (q < count) q = keepCandidates(list, q, count, o + W, o, y * W, rowsD, rowsV, floor, f, cand);
      }
    }
  };
  const tLow = cfg.thresholdSigma * (cfg.useEmpiricalNoise ? NOISE_SCALE_LOW : 1);
  collect(tLow, true);

  // Noise: robust sigma of S on the sub-grid of clean pixels (lib/stats.ts's
  // sigmaClippedStatsInPlace and medianInPlace, as the `filters` kernels give them).
  let noiseScale = NaN;
  let significanceMedian = NaN;
  let filteredNoisePredicted = NaN;
  const m = noise.length;
  if (m > 0) {
    const { exports: fk, arena: fa } = filterKernels();
    const [values, keys, work, hist, stats] = fa.layout([
      ['f32', m],
      ['i32', m],
      ['i32', 4 * m],
      ['i32', 8192],
      ['f64', 4],
    ]);
    if (m >= nc.minSamples) {
      values.view.set(noise.s.subarray(0, m));
      fk.clippedStats(values.ptr, m, nc.clipSigma, nc.clipIterations, IQR_TO_SIGMA, keys.ptr, work.ptr, hist.ptr, stats.ptr);
      if (stats.view[2] > 0) noiseScale = stats.view[2];
      significanceMedian = stats.view[0];
    }
    values.view.set(noise.predicted.subarray(0, m));
    filteredNoisePredicted = fk.median(values.ptr, m, keys.ptr, work.ptr, hist.ptr);
  }
  const scale = cfg.useEmpiricalNoise && noiseScale > 0 ? noiseScale : 1;
  const scale2 = scale * scale;
  const t = cfg.thresholdSigma * scale;
  if (!(t >= tLow)) collect(t, false);

  // 3. S at the candidates, as the pixel-by-pixel evaluation gives it: without the floor where
  // |S| ≤ t (the pixel is below the threshold with or without it, and its value is only ever
  // compared with footprint pixels, beyond t, as a neighbour, which comes out the same), with it
  // elsewhere (and for non-finite S). Kept: the pixels beyond ±t (`above`, in scan order) with S.
  const nCand = cand.length;
  const above = new IntList(Math.max(16, nCand));
  const aboveS = new FloatList(Math.max(16, nCand));
  {
    const cd = cand.d;
    const cv = cand.v;
    const cw = cand.w;
    const cp = cand.p;
    for (let c = 0; c < nCand; c++) {
      const d = cd[c];
      const v = cv[c];
      let sv = v > 0 && v < Infinity ? d / Math.sqrt(v) : NaN;
      if (floor !== null && !(sv <= t && sv >= -t)) {
        const w = cw[c];
        sv = w > 0 && w < Infinity ? d / Math.sqrt(w) : NaN;
      }
      sv = Math.fround(sv);
      if (sv > t || sv < -t) {
        above.push(cp[c]);
        aboveS.push(sv);
      }
    }
  }
  floor = null;

  // Labelling: 8-connected pixels of one sign beyond ±t, union-find over provisional labels, in
  // scan order over the pixels beyond the threshold only: the labels of two rows are kept (a
  // row's entries cleared when its slot is reused), a neighbour below the threshold reads 0.
  const nAbove = above.length;
  const list = above.data;
  const sigOf = aboveS.data;
  let lcap = 4096;
  let parent = new Int32Array(lcap);
  let lsign = new Int8Array(lcap);
  let area = new Int32Array(lcap);
  let bx0 = new Int32Array(lcap);
  let by0 = new Int32Array(lcap);
  let bx1 = new Int32Array(lcap);
  let by1 = new Int32Array(lcap);
  let peakP = new Int32Array(lcap);
  let peakS = new Float32Array(lcap);
  const grow = (): void => {
    lcap *= 2;
    const g = <A extends Int32Array | Int8Array | Float32Array>(a: A, make: (k: number) => A): A => {
      const b = make(lcap);
      b.set(a);
      return b;
    };
    const i32 = (k: number) => new Int32Array(k);
    parent = g(parent, i32);
    lsign = g(lsign, (k) => new Int8Array(k));
    area = g(area, i32);
    bx0 = g(bx0, i32);
    by0 = g(by0, i32);
    bx1 = g(bx1, i32);
    by1 = g(by1, i32);
    peakP = g(peakP, i32);
    peakS = g(peakS, (k) => new Float32Array(k));
  };
  const find = (l: number): number => findRoot(parent, l);
  const union = (a: number, b: number): number => unionRoots(parent, a, b);
  const labelOf = new Int32Array(nAbove);
  // The rows that hold pixels beyond the threshold: row rowY[j] holds list[rowStart[j] … rowStart[j + 1]).
  const rowY = new IntList(64);
  const rowStart = new IntList(64);
  for (let q = 0; q < nAbove; q++) {
    const y = Math.floor(list[q] / W);
    if (rowY.length === 0 || rowY.data[rowY.length - 1] !== y) {
      rowY.push(y);
      rowStart.push(q);
    }
  }
  rowStart.push(nAbove);
  const nRowsAbove = rowY.length;
  const ys = rowY.data;
  const starts = rowStart.data;
  let nLabels = 0;
  {
    const labelRows = new Int32Array(2 * W);
    /** Per slot (row parity): the row it holds (−2: none) and that row's index in rowY. */
    const slotRow = [-2, -2];
    const slotIndex = [0, 0];
    for (let j = 0; j < nRowsAbove; j++) {
      const y = ys[j];
      const slot = y & 1;
      const cur = slot * W;
      const up = W - cur;
      if (slotRow[slot] >= 0) {
        const old = slotIndex[slot];
        const oldBase = slotRow[slot] * W;
        for (let q = starts[old]; q < starts[old + 1]; q++) labelRows[cur + list[q] - oldBase] = 0;
      }
      const upHeld = y > 0 && slotRow[1 - slot] === y - 1;
      const base = y * W;
      for (let q = starts[j]; q < starts[j + 1]; q++) {
        const p = list[q];
        const x = p - base;
        const sv = sigOf[q];
        const cls = sv > t ? 1 : -1;
        let l = 0;
        const q0 = x > 0 ? labelRows[cur + x - 1] : 0;
        if (q0 && lsign[q0] === cls) l = q0;
        if (upHeld) {
          const a = x > 0 ? labelRows[up + x - 1] : 0;
          const b = labelRows[up + x];
          const c = x + 1 < W ? labelRows[up + x + 1] : 0;
          if (a && lsign[a] === cls) l = l ? union(l, a) : a;
          if (b && lsign[b] === cls) l = l ? union(l, b) : b;
          if (c && lsign[c] === cls) l = l ? union(l, c) : c;
        }
        if (!l) {
          nLabels++;
          if (nLabels >= lcap) grow();
          l = nLabels;
          parent[l] = l;
          lsign[l] = cls;
          bx0[l] = x;
          bx1[l] = x + 1;
          by0[l] = y;
          peakP[l] = p;
          peakS[l] = sv;
        }
        labelRows[cur + x] = l;
        labelOf[q] = l;
        area[l]++;
        if (x < bx0[l]) bx0[l] = x;
        if (x >= bx1[l]) bx1[l] = x + 1;
        by1[l] = y + 1;
        if (cls * sv > cls * peakS[l]) {
          peakP[l] = p;
          peakS[l] = sv;
        }
      }
      slotRow[slot] = y;
      slotIndex[slot] = j;
    }
  }
  // Local maxima of ±S (ties broken towards the first pixel in scan order) among the 8
  // neighbours: only neighbours beyond the threshold of the same sign can be above a pixel beyond
  // it, so S is kept for three rows of those pixels only (0 elsewhere).
  const peakOf = new Uint8Array(nAbove);
  {
    const sig = new Float32Array(3 * W);
    const held = [-2, -2, -2];
    const heldIndex = [-1, -1, -1];
    /** Makes ring slot yy mod 3 hold row yy: the pixels of rowY[j] (j < 0: none). */
    const hold = (yy: number, j: number): void => {
      const slot = yy % 3;
      if (held[slot] === yy) return;
      const off = slot * W;
      const old = heldIndex[slot];
      if (old >= 0) {
        const oldBase = held[slot] * W;
        for (let q = starts[old]; q < starts[old + 1]; q++) sig[off + list[q] - oldBase] = 0;
      }
      if (j >= 0) {
        const b = yy * W;
        for (let q = starts[j]; q < starts[j + 1]; q++) sig[off + list[q] - b] = sigOf[q];
      }
      held[slot] = yy;
      heldIndex[slot] = j;
    };
    for (let j = 0; j < nRowsAbove; j++) {
      const y = ys[j];
      if (y > 0) hold(y - 1, j > 0 && ys[j - 1] === y - 1 ? j - 1 : -1);
      hold(y, j);
      if (y + 1 < H) hold(y + 1, j + 1 < nRowsAbove && ys[j + 1] === y + 1 ? j + 1 : -1);
      const base = y * W;
      for (let q = starts[j]; q < starts[j + 1]; q++) {
        const x = list[q] - base;
        const sv = sigOf[q];
        const cls = sv > t ? 1 : -1;
        const v = cls * sv;
        let isPeak = true;
        for (let dy = -1; dy <= 1 && isPeak; dy++) {
          const yy = y + dy;
          if (yy < 0 || yy >= H) continue;
          const rowOff = (yy % 3) * W;
          for (let dx = -1; dx <= 1; dx++) {
            const xx = x + dx;
            if ((dx === 0 && dy === 0) || xx < 0 || xx >= W) continue;
            const u = cls * sig[rowOff + xx];
            if (u > v || (u === v && (dy < 0 || (dy === 0 && dx < 0)))) {
              isPeak = false;
              break;
            }
          }
        }
        peakOf[q] = isPeak ? 1 : 0;
      }
    }
  }
  for (let l = 1; l <= nLabels; l++) {
    const root = find(l);
    parent[l] = root;
    if (root === l) continue;
    area[root] += area[l];
    if (bx0[l] < bx0[root]) bx0[root] = bx0[l];
    if (bx1[l] > bx1[root]) bx1[root] = bx1[l];
    if (by0[l] < by0[root]) by0[root] = by0[l];
    if (by1[l] > by1[root]) by1[root] = by1[l];
    const cls = lsign[root];
    if (cls * peakS[l] > cls * peakS[root]) {
      peakP[root] = peakP[l];
      peakS[root] = peakS[l];
    }
  }
  // Final ids: +(k+1) for positive footprint k, −(k+1) for negative footprint k, 0 dropped.
  const finalId = new Int32Array(nLabels + 1);
  let nPos = 0;
  let nNeg = 0;
  let droppedAtEdge = 0;
  let droppedSaturatedStars = 0;
  for (let l = 1; l <= nLabels; l++) {
    if (parent[l] !== l || area[l] < cfg.minAreaPx) continue;
    if (D.mask[peakP[l]] & cfg.skipPeakBits) {
      droppedAtEdge++;
      continue;
    }
    const pk = peakP[l];
    if (cfg.saturatedStarTemplateFraction > 0 && D.mask[pk] & MaskBit.SAT && input.template.image[pk] >= cfg.saturatedStarTemplateFraction * Math.abs(input.science.image[pk])) {
      droppedSaturatedStars++;
      continue;
    }
    finalId[l] = lsign[l] > 0 ? ++nPos : -++nNeg;
  }
  if (nPos + nNeg > cfg.maxFootprints) {
    throw new AlgorithmError(`dia-sources: ${nPos + nNeg} footprints exceed the limit of ${cfg.maxFootprints}`, { positive: nPos, negative: nNeg });
  }
  for (let l = 1; l <= nLabels; l++) finalId[l] = finalId[parent[l]];

  // 4. Footprints; pixel lists, final labels, mask bits and peaks over the listed pixels only.
  const makeFp = (count: number) => ({
    x0: new Int32Array(count),
    y0: new Int32Array(count),
    x1: new Int32Array(count),
    y1: new Int32Array(count),
    area: new Int32Array(count),
    peakX: new Int32Array(count),
    peakY: new Int32Array(count),
    peakSignificance: new Float32Array(count),
    nPeaks: new Int32Array(count),
    pixelOffsets: new Int32Array(count + 1),
  });
  const pos = makeFp(nPos);
  const neg = makeFp(nNeg);
  for (let l = 1; l <= nLabels; l++) {
    const id = finalId[l];
    if (!id || parent[l] !== l) continue;
    const f = id > 0 ? pos : neg;
    const k = Math.abs(id) - 1;
    f.x0[k] = bx0[l];
    f.y0[k] = by0[l];
    f.x1[k] = bx1[l];
    f.y1[k] = by1[l];
    f.area[k] = area[l];
    const pp = peakP[l];
    f.peakX[k] = pp % W;
    f.peakY[k] = (pp - f.peakX[k]) / W;
    f.peakSignificance[k] = peakS[l] / scale;
  }
  for (let k = 0; k < nPos; k++) pos.pixelOffsets[k + 1] = pos.pixelOffsets[k] + pos.area[k];
  for (let k = 0; k < nNeg; k++) neg.pixelOffsets[k + 1] = neg.pixelOffsets[k] + neg.area[k];
  const posPixels = new Int32Array(pos.pixelOffsets[nPos]);
  const negPixels = new Int32Array(neg.pixelOffsets[nNeg]);
  const posFill = pos.pixelOffsets.slice(0, nPos);
  const negFill = neg.pixelOffsets.slice(0, nNeg);
  const outMask = opts.inPlace ? D.mask : D.mask.slice();
  for (let q = 0; q < nAbove; q++) {
    const p = list[q];
    const id = finalId[labelOf[q]];
    labelOf[q] = id;
    if (!id) continue;
    const cls = id > 0 ? 1 : -1;
    const k = Math.abs(id) - 1;
    if (cls > 0) {
      posPixels[posFill[k]++] = p;
      outMask[p] |= MaskBit.DETECTED;
    } else {
      negPixels[negFill[k]++] = p;
      outMask[p] |= MaskBit.DETECTED_NEGATIVE;
    }
    if (peakOf[q]) (cls > 0 ? pos : neg).nPeaks[k]++;
  }
  /** The footprint id (as finalId) of pixel p: `above` is in scan order, so a binary search; 0 for a pixel below the threshold. */
  const labelAt = (p: number): number => {
    let a = 0;
    let b = nAbove;
    while (a < b) {
      const mid = (a + b) >> 1;
      if (list[mid] < p) a = mid + 1;
      else b = mid;
    }
    return a < nAbove && list[a] === p ? labelOf[a] : 0;
  };
  const positive: Footprints = { count: nPos, ...pos, pixels: posPixels };
  const negative: Footprints = { count: nNeg, ...neg, pixels: negPixels };

  // 5. Lobes: centroid on ±D and the PSF flux there.
  const sigmaC = continuousSigma(psfSigma);
  const fitRadius = Math.max(2, Math.ceil(cfg.psfFit.radiusSigmas * psfSigma));
  const psfOpts: PsfFitOptions = {
    sigma: sigmaC,
    radius: fitRadius,
    rejectBits: cfg.psfFit.rejectBits,
    edgeBits: cfg.psfFit.edgeBits,
    varianceScale: scale2,
    minCoverage: cfg.psfFit.minCoverage,
  };
  const weightSigma = cfg.centroidWeightPsfSigmas * psfSigma;
  const hs = Math.max(Math.ceil(6 * psfSigma) + 3, Math.ceil(5.5 * weightSigma) + 3);
  const S = 2 * hs + 1;
  const stampImg = new Float32Array(S * S);
  const stampVar = new Float32Array(S * S);
  const origin = new Int32Array(2);
  const tmplRadius = Math.max(2, Math.ceil(cfg.psfFit.radiusSigmas * tmplSigma));
  const fit = new PsfFit(Math.max(fitRadius, tmplRadius));
  const measureLobes = (fp: Footprints, sign: number): FootprintSet => {
    const c = fp.count;
    const set: FootprintSet = {
      fp,
      x: new Float64Array(c),
      y: new Float64Array(c),
      xErr: new Float64Array(c),
      yErr: new Float64Array(c),
      centroidOk: new Uint8Array(c),
      flux: new Float64Array(c),
    };
    for (let k = 0; k < c; k++) {
      const px = fp.peakX[k];
      const py = fp.peakY[k];
      signedStamp(D, px, py, hs, sign, cfg.psfFit.rejectBits, stampImg, stampVar, origin);
      const ce = gaussianCentroid(stampImg, stampVar, S, S, px - origin[0], py - origin[1], weightSigma);
      if (ce.ok) {
        set.x[k] = ce.x + origin[0];
        set.y[k] = ce.y + origin[1];
        set.xErr[k] = ce.xErr * scale;
        set.yErr[k] = ce.yErr * scale;
        set.centroidOk[k] = 1;
      } else {
        set.x[k] = px;
        set.y[k] = py;
        set.xErr[k] = NaN;
        set.yErr[k] = NaN;
      }
      set.flux[k] = fitPsfFlux(D, set.x[k], set.y[k], psfOpts, fit).flux;
    }
    return set;
  };
  const P = measureLobes(positive, 1);
  const N = measureLobes(negative, -1);

  // 6. Dipoles: candidate pairs by centroid distance (grid hash) or touching footprints; closest first.
  const fwhm = FWHM_PER_SIGMA * psfSigma;
  const maxSep = cfg.dipole.maxSeparationFwhm * fwhm;
  const pairOfPos = new Int32Array(nPos).fill(-1);
  const pairOfNeg = new Int32Array(nNeg).fill(-1);
  let nDipoles = 0;
  if (cfg.dipole.enabled && nPos > 0 && nNeg > 0) {
    const cell = Math.max(1, maxSep);
    const gw = Math.ceil(W / cell) + 2;
    const grid = new Map<number, number[]>();
    const cellKey = (x: number, y: number) => (Math.floor(y / cell) + 1) * gw + Math.floor(x / cell) + 1;
    for (let j = 0; j < nNeg; j++) {
      const key = cellKey(N.x[j], N.y[j]);
      const l = grid.get(key);
      if (l) l.push(j);
      else grid.set(key, [j]);
    }
    const cand: Array<{ i: number; j: number; d: number }> = [];
    const seen = new Set<number>();
    const consider = (i: number, j: number, touching: boolean): void => {
      const key = i * nNeg + j;
      if (seen.has(key)) return;
      const d = Math.hypot(P.x[i] - N.x[j], P.y[i] - N.y[j]);
      if (!touching && !(d <= maxSep)) return;
      seen.add(key);
      const a = Math.abs(P.flux[i]);
      const b = Math.abs(N.flux[j]);
      if (!(Math.min(a, b) >= cfg.dipole.minFluxRatio * Math.max(a, b))) return;
      cand.push({ i, j, d });
    };
    for (let i = 0; i < nPos; i++) {
      const cx = Math.floor(P.x[i] / cell) + 1;
      const cy = Math.floor(P.y[i] / cell) + 1;
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) for (const j of grid.get((cy + dy) * gw + cx + dx) ?? []) consider(i, j, false);
      // Touching: a negative-footprint pixel among the 8 neighbours of one of ours.
      for (let q = positive.pixelOffsets[i]; q < positive.pixelOffsets[i + 1]; q++) {
        const p = posPixels[q];
        const x = p % W;
        const y = (p - x) / W;
        for (let dy = -1; dy <= 1; dy++) {
          const yy = y + dy;
          if (yy < 0 || yy >= H) continue;
          for (let dx = -1; dx <= 1; dx++) {
            const xx = x + dx;
            if (xx < 0 || xx >= W) continue;
            const lab = labelAt(yy * W + xx);
            if (lab < 0) consider(i, -lab - 1, true);
          }
        }
      }
    }
    cand.sort((a, b) => a.d - b.d || a.i - b.i || a.j - b.j);
    for (const c of cand) {
      if (pairOfPos[c.i] >= 0 || pairOfNeg[c.j] >= 0) continue;
      pairOfPos[c.i] = c.j;
      pairOfNeg[c.j] = c.i;
      nDipoles++;
    }
    // Lobe refinement: re-centroid each lobe on D minus the other lobe's fitted PSF.
    const gx = new Float64Array(S);
    const gy = new Float64Array(S);
    const pairFit = new DipoleFit(fitRadius);
    const recentroid = (L: FootprintSet, k: number, sign: number, ox: number, oy: number, otherFlux: number): number => {
      const cx = Math.round(L.x[k]);
      const cy = Math.round(L.y[k]);
      signedStamp(D, cx, cy, hs, sign, cfg.psfFit.rejectBits, stampImg, stampVar, origin);
      subtractPsfFromStamp(stampImg, stampVar, S, origin[0], origin[1], ox, oy, sign * otherFlux, sigmaC, gx, gy);
      const ce = gaussianCentroid(stampImg, stampVar, S, S, L.x[k] - origin[0], L.y[k] - origin[1], weightSigma);
      if (!ce.ok) return 0;
      const nx = ce.x + origin[0];
      const ny = ce.y + origin[1];
      const shift = Math.hypot(nx - L.x[k], ny - L.y[k]);
      L.x[k] = nx;
      L.y[k] = ny;
      L.xErr[k] = ce.xErr * scale;
      L.yErr[k] = ce.yErr * scale;
      L.centroidOk[k] = 1;
      return shift;
    };
    for (let i = 0; i < nPos; i++) {
      const j = pairOfPos[i];
      if (j < 0) continue;
      for (let it = 0; it < cfg.dipole.refineIterations; it++) {
        if (!fitTwoPsfFluxes(D, P.x[i], P.y[i], N.x[j], N.y[j], psfOpts, pairFit).ok) break;
        const xn = N.x[j];
        const yn = N.y[j];
        const s1 = recentroid(P, i, 1, xn, yn, pairFit.flux2);
        const s2 = recentroid(N, j, -1, P.x[i], P.y[i], pairFit.flux1);
        if (s1 + s2 < 1e-3) break;
      }
    }
  }

  // 7. Rows, ordered by the pixel index of their (positive) peak.
  const nRows = nPos + nNeg - nDipoles;
  const rowPosUnsorted = new Int32Array(nRows);
  const rowNegUnsorted = new Int32Array(nRows);
  const rowKey = new Float64Array(nRows);
  {
    let r = 0;
    for (let i = 0; i < nPos; i++) {
      rowPosUnsorted[r] = i;
      rowNegUnsorted[r] = pairOfPos[i];
      rowKey[r++] = positive.peakY[i] * W + positive.peakX[i];
    }
    for (let j = 0; j < nNeg; j++) {
      if (pairOfNeg[j] >= 0) continue;
      rowPosUnsorted[r] = -1;
      rowNegUnsorted[r] = j;
      rowKey[r++] = negative.peakY[j] * W + negative.peakX[j];
    }
  }
  const order = Array.from({ length: nRows }, (_, i) => i).sort((a, b) => rowKey[a] - rowKey[b] || a - b);
  const rowPositive = Int32Array.from(order, (i) => rowPosUnsorted[i]);
  const rowNegative = Int32Array.from(order, (i) => rowNegUnsorted[i]);

  // 8. Measurement.
  const fluxUnit: FluxUnit = calib !== null ? 'nJy' : 'electron';
  const cal = calib ?? 1;
  const cat = makeDiaSourceCatalog(nRows, fluxUnit);
  const sciOpts: PsfFitOptions = { ...psfOpts, varianceScale: 1 };
  const tmplOpts: PsfFitOptions = { ...psfOpts, sigma: continuousSigma(tmplSigma), radius: tmplRadius, varianceScale: 1 };
  const dfit = new DipoleFit(fitRadius);
  const ap: ApertureResult = { flux: NaN, fluxErr: NaN, truncated: false, nPixels: 0 };
  const sky = new Float64Array(2);
  const sky2 = new Float64Array(2);
  const skyA = new Float64Array(2);
  const skyB = new Float64Array(2);
  const wcs = input.wcs;
  const visitBig = BigInt(input.visit);
  let centroidFailures = 0;
  let psfFluxFailures = 0;
  let shapeFailures = 0;
  let edgeSources = 0;
  const edgeMaskBits = MaskBit.EDGE | MaskBit.NO_DATA;
  const bbox = new Float64Array(4);
  /** Mask bits ORed over a footprint; grows bbox ([x0, y0, x1, y1]) to hold it. */
  const footprintBits = (fp: Footprints, k: number): number => {
    let bits = 0;
    for (let q = fp.pixelOffsets[k]; q < fp.pixelOffsets[k + 1]; q++) bits |= D.mask[fp.pixels[q]];
    bbox[0] = Math.min(bbox[0], fp.x0[k]);
    bbox[1] = Math.min(bbox[1], fp.y0[k]);
    bbox[2] = Math.max(bbox[2], fp.x1[k]);
    bbox[3] = Math.max(bbox[3], fp.y1[k]);
    return bits;
  };
  for (let row = 0; row < nRows; row++) {
    const i = rowPositive[row];
    const j = rowNegative[row];
    const isDipole = i >= 0 && j >= 0;
    // Centroid.
    let x: number;
    let y: number;
    let xErr: number;
    let yErr: number;
    let centroidOk: boolean;
    if (isDipole) {
      x = 0.5 * (P.x[i] + N.x[j]);
      y = 0.5 * (P.y[i] + N.y[j]);
      xErr = 0.5 * Math.hypot(P.xErr[i], N.xErr[j]);
      yErr = 0.5 * Math.hypot(P.yErr[i], N.yErr[j]);
      centroidOk = P.centroidOk[i] === 1 && N.centroidOk[j] === 1;
    } else {
      const L = i >= 0 ? P : N;
      const k = i >= 0 ? i : j;
      x = L.x[k];
      y = L.y[k];
      xErr = L.xErr[k];
      yErr = L.yErr[k];
      centroidOk = L.centroidOk[k] === 1;
    }
    if (!centroidOk) centroidFailures++;
    cat.diaSourceId[row] = idBase + BigInt(row);
    cat.visit[row] = visitBig;
    cat.detector[row] = input.detector;
    cat.x[row] = x;
    cat.y[row] = y;
    cat.xErr[row] = xErr;
    cat.yErr[row] = yErr;
    cat.centroid_flag[row] = centroidOk ? 0 : 1;
    cat.isNegative[row] = i < 0 ? 1 : 0;
    cat.isDipole[row] = isDipole ? 1 : 0;

    // PSF flux on D.
    fitPsfFlux(D, x, y, psfOpts, fit);
    let windowBits = fit.windowBits;
    let edge = fit.edge;
    cat.psfFlux[row] = fit.flux * cal;
    cat.psfFluxErr[row] = fit.fluxErr * cal;
    cat.psfChi2[row] = fit.chi2;
    cat.psfNdata[row] = fit.nData;
    cat.psfFlux_flag[row] = fit.ok && !fit.edge ? 0 : 1;
    cat.psfFlux_flag_edge[row] = fit.edge ? 1 : 0;
    cat.psfFlux_flag_noGoodPixels[row] = fit.noGoodPixels ? 1 : 0;
    cat.snr[row] = fit.flux / fit.fluxErr;
    if (!fit.ok) psfFluxFailures++;

    // Aperture on D.
    apertureFlux(D, x, y, cfg.apertureRadiusPx, cfg.psfFit.rejectBits, scale2, ap);
    cat.apFlux[row] = ap.flux * cal;
    cat.apFluxErr[row] = ap.fluxErr * cal;
    cat.apFlux_flag[row] = ap.nPixels > 0 ? 0 : 1;
    cat.apFlux_flag_apertureTruncated[row] = ap.truncated ? 1 : 0;

    // Forced PSF fluxes on the science image and the template.
    fitPsfFlux(science, x, y, sciOpts, fit);
    cat.scienceFlux[row] = fit.flux * cal;
    cat.scienceFluxErr[row] = fit.fluxErr * cal;
    cat.forced_PsfFlux_flag[row] = fit.ok && !fit.edge ? 0 : 1;
    cat.forced_PsfFlux_flag_edge[row] = fit.edge ? 1 : 0;
    cat.forced_PsfFlux_flag_noGoodPixels[row] = fit.noGoodPixels ? 1 : 0;
    fitPsfFlux(template, x, y, tmplOpts, fit);
    cat.templateFlux[row] = fit.flux * cal;
    cat.templateFluxErr[row] = fit.fluxErr * cal;
    cat.templateFlux_flag[row] = fit.ok && !fit.edge ? 0 : 1;

    // Dipole: joint fit of the lobes at their centroids.
    let shapeSign = i >= 0 ? 1 : -1;
    let shapeX = x;
    let shapeY = y;
    if (isDipole) {
      fitTwoPsfFluxes(D, P.x[i], P.y[i], N.x[j], N.y[j], psfOpts, dfit);
      const fp = dfit.ok ? dfit.flux1 : NaN;
      const fn = dfit.ok ? dfit.flux2 : NaN;
      const meanVar = 0.25 * (dfit.var1 + dfit.var2 - 2 * dfit.cov12);
      const diffVar = dfit.var1 + dfit.var2 + 2 * dfit.cov12;
      cat.dipolePosFlux[row] = fp * cal;
      cat.dipolePosFluxErr[row] = Math.sqrt(dfit.var1) * cal;
      cat.dipoleNegFlux[row] = fn * cal;
      cat.dipoleNegFluxErr[row] = Math.sqrt(dfit.var2) * cal;
      cat.dipoleMeanFlux[row] = 0.5 * (fp - fn) * cal;
      cat.dipoleMeanFluxErr[row] = Math.sqrt(meanVar) * cal;
      cat.dipoleFluxDiff[row] = (fp + fn) * cal;
      cat.dipoleFluxDiffErr[row] = Math.sqrt(diffVar) * cal;
      const ddx = P.x[i] - N.x[j];
      const ddy = P.y[i] - N.y[j];
      cat.dipoleSeparation[row] = Math.hypot(ddx, ddy);
      cat.dipoleOrientation[row] = Math.atan2(ddy, ddx) * R2D;
      if (wcs) {
        toSky(wcs, N.x[j], N.y[j], skyA);
        toSky(wcs, P.x[i], P.y[i], skyB);
        cat.dipoleLength[row] = separationArcsec(skyA[0], skyA[1], skyB[0], skyB[1]);
        const d1 = skyA[1] * D2R;
        const d2 = skyB[1] * D2R;
        const dra = wrapDeg(skyB[0] - skyA[0]) * D2R;
        const bearing = Math.atan2(Math.sin(dra) * Math.cos(d2), Math.cos(d1) * Math.sin(d2) - Math.sin(d1) * Math.cos(d2) * Math.cos(dra)) * R2D;
        cat.dipoleAngle[row] = (bearing + 360) % 360;
      }
      // Shape of the brighter lobe.
      const usePos = !(Math.abs(fn) > Math.abs(fp));
      shapeSign = usePos ? 1 : -1;
      shapeX = usePos ? P.x[i] : N.x[j];
      shapeY = usePos ? P.y[i] : N.y[j];
    }

    // Shape: adaptive moments on ±D.
    const scx = Math.round(shapeX);
    const scy = Math.round(shapeY);
    signedStamp(D, scx, scy, hs, shapeSign, cfg.psfFit.rejectBits, stampImg, stampVar, origin);
    const mo = adaptiveMoments(stampImg, S, S, shapeX - origin[0], shapeY - origin[1], psfSigma, 40, hs - 1);
    cat.ixx[row] = mo.ixx;
    cat.iyy[row] = mo.iyy;
    cat.ixy[row] = mo.ixy;
    cat.shape_flag[row] = mo.ok ? 0 : 1;
    if (!mo.ok) shapeFailures++;

    // Pixel flags over the footprint(s) and the PSF window; bounding box.
    bbox[0] = Infinity;
    bbox[1] = Infinity;
    bbox[2] = -Infinity;
    bbox[3] = -Infinity;
    if (i >= 0) windowBits |= footprintBits(positive, i);
    if (j >= 0) windowBits |= footprintBits(negative, j);
    cat.bboxSize[row] = Math.max(bbox[2] - bbox[0], bbox[3] - bbox[1]);
    let centerBits = 0;
    const rx = Math.round(x);
    const ry = Math.round(y);
    for (let yy = Math.max(0, ry - 1); yy <= Math.min(H - 1, ry + 1); yy++) {
      for (let xx = Math.max(0, rx - 1); xx <= Math.min(W - 1, rx + 1); xx++) centerBits |= D.mask[yy * W + xx];
    }
    const offImage = !(x >= -0.5 && x < W - 0.5 && y >= -0.5 && y < H - 0.5);
    if (windowBits & edgeMaskBits || offImage) edge = true;
    if (edge) edgeSources++;
    cat.pixelFlags_edge[row] = edge ? 1 : 0;
    cat.pixelFlags_offimage[row] = offImage ? 1 : 0;
    cat.pixelFlags_bad[row] = windowBits & MaskBit.BAD ? 1 : 0;
    cat.pixelFlags_cr[row] = windowBits & MaskBit.CR ? 1 : 0;
    cat.pixelFlags_crCenter[row] = centerBits & MaskBit.CR ? 1 : 0;
    cat.pixelFlags_nodata[row] = windowBits & MaskBit.NO_DATA ? 1 : 0;
    cat.pixelFlags_nodataCenter[row] = centerBits & MaskBit.NO_DATA ? 1 : 0;
    cat.pixelFlags_interpolated[row] = windowBits & MaskBit.INTRP ? 1 : 0;
    cat.pixelFlags_interpolatedCenter[row] = centerBits & MaskBit.INTRP ? 1 : 0;
    cat.pixelFlags_saturated[row] = windowBits & MaskBit.SAT ? 1 : 0;
    cat.pixelFlags_saturatedCenter[row] = centerBits & MaskBit.SAT ? 1 : 0;
    cat.pixelFlags_suspect[row] = windowBits & MaskBit.SUSPECT ? 1 : 0;
    cat.pixelFlags_suspectCenter[row] = centerBits & MaskBit.SUSPECT ? 1 : 0;

    // Sky position and its errors through the local Jacobian (central differences of ±0.5 px).
    if (wcs) {
      toSky(wcs, x, y, sky);
      cat.ra[row] = sky[0];
      cat.dec[row] = sky[1];
      toSky(wcs, x + 0.5, y, skyA);
      toSky(wcs, x - 0.5, y, skyB);
      const raX = wrapDeg(skyA[0] - skyB[0]);
      const decX = skyA[1] - skyB[1];
      toSky(wcs, x, y + 0.5, sky2);
      toSky(wcs, x, y - 0.5, skyB);
      const raY = wrapDeg(sky2[0] - skyB[0]);
      const decY = sky2[1] - skyB[1];
      const vx = xErr * xErr;
      const vy = yErr * yErr;
      cat.raErr[row] = Math.sqrt(raX * raX * vx + raY * raY * vy);
      cat.decErr[row] = Math.sqrt(decX * decX * vx + decY * decY * vy);
      cat.ra_dec_Cov[row] = raX * decX * vx + raY * decY * vy;
    }
  }

  return {
    catalog: cat,
    positive,
    negative,
    dipoles: nDipoles,
    rowPositive,
    rowNegative,
    mask: outMask,
    noiseScale,
    diagnostics: {
      filterSigmaPx: psfSigma,
      noiseScaleUsed: scale,
      noiseSamples: m,
      significanceMedian,
      filteredNoisePredicted,
      filteredNoiseEmpirical: filteredNoisePredicted * (noiseScale > 0 ? noiseScale : NaN),
      thresholdSignificance: t,
      droppedAtEdge,
      droppedSaturatedStars,
      centroidFailures,
      psfFluxFailures,
      shapeFailures,
      edgeSources,
      fluxUnit,
    },
  };
}
