import { z } from 'zod';
import { InvalidInputError } from '../../../core/errors.ts';
import { MaskBit, type MaskedImage } from '../../../core/image.ts';
import { parseConfig } from '../../config.ts';
import { PivotedCholesky } from '../../lib/dense-symmetric.ts';
import { medianInPlace, sigmaClippedStatsInPlace } from '../../lib/stats.ts';
import { polynomialTermCount, polynomialTerms, realizeKernel, scaledCoordinate, type MatchingKernel } from '../psf-matching/kernel.ts';
import { StampStatus, type PsfMatchingResult } from '../psf-matching/psf-matching.ts';
import { horizontalPass, padTaps, PASS_SLACK, verticalPass } from './passes.ts';
import { correlationTaps, preserveSums, separableApproximation, type SeparableKernelSet, type Taps } from './separable.ts';

/**
 * Image subtraction with a PSF-matching kernel (psf-matching's result):
 *
 *   template convolved:  D = S − (K ⊗ T + B),            Var D = Var S + K² ⊗ Var T
 *   science convolved:   D = (K ⊗ S + B − T) / k,        Var D = (K² ⊗ Var S + Var T) / k²
 *
 * with B the differential background and k the kernel sum, so that D is always "science minus
 * template" in the science image's units (a source that brightened is positive, with its
 * science-image flux).
 *
 * Convolution with the spatially varying kernel. The image is cut into cells of `cellSizePx`;
 * the kernel is realised at every cell centre (a weak variation across a cell is neglected).
 * Each cell's kernel is approximated as Σ_{p<R} h_p(u) g_p(v) (separable.ts: the leading
 * singular vectors), R the smallest rank within the cell's tolerance (relative error of a
 * convolved star, i.e. after smoothing by the convolved image's PSF) and the kernel sum kept
 * exact. The tolerance is `kernelRankTolerance` where bright sources are, and is relaxed (up to
 * `maxKernelRankTolerance`) where the brightest source is faint enough that the error stays
 * below `kernelResidualSigma` of the noise. A matching kernel is close to a Gaussian, so R is
 * small (1 for Gaussian PSFs; 2–5 for Moffat ones at 2e-3, 1 in faint cells), and a cell costs
 * 2R one-dimensional passes of 2r + 1 taps.
 * This beats convolving with each of the ~30 Alard–Lupton basis functions and combining them
 * with coefficient images (each basis function is separable, but that is 30+ vertical passes
 * and as many full-size images) and a direct 2-D convolution ((2r + 1)² taps per pixel). Rows
 * are processed in strips one cell high (plus the kernel border) so the intermediate rows stay
 * in cache; each strip's horizontal passes run cell by cell into strip buffers, then each
 * cell's vertical passes, then the strip's difference, variance and mask are combined. The
 * variance plane is convolved with K² the same way (`varianceRankTolerance`, its sum exact).
 *
 * Background: the kernel fit's differential background B is subtracted, then (backgroundRefit)
 * the residual background is re-measured on the difference itself — sigma-clipped medians of
 * source-free pixels in meshes, fitted by a polynomial of the same degree — and subtracted: the
 * stamps' B is biased by PSF wings the kernel cannot reach, the whole image is not.
 *
 * Masks: the bits `growMaskBits` of the convolved image (and its non-finite pixels, as NO_DATA)
 * are grown by the kernel footprint, ORed with the other image's mask and the convolved
 * image's other bits; `clearMaskBits` (the inputs' detections) are removed. Pixels within r of
 * the edge get NO_DATA | EDGE. NO_DATA pixels take `noDataValue` in image and variance.
 *
 * Diagnostics: the mean and standard deviation of D / √Var over source-free pixels (no
 * `diagnostics.sourceBits` in either input, none of `diagnostics.badBits` in D), which should be
 * ≈ 0 and ≈ 1; and for the stars of the kernel fit, χ² per pixel of D on their stamps, and the
 * fraction whose residual is within the noise (χ²/pixel ≤ `diagnostics.starMaxChi2PerPixel`).
 */
export const SubtractionConfig = z.object({
  /**
   * Cell size (pixels) of the kernel's spatial sampling: the kernel of the cell centre is used
   * over the whole cell (a linear variation of the PSF width of a few per cent across the image
   * changes the kernel by well under 1% across a 128-pixel cell).
   */
  cellSizePx: z.number().int().min(16).default(128),
  /**
   * Relative error of the separable approximation of the kernel in every cell, measured on a
   * convolved star (separable.ts): ‖G ⊗ (K − approx)‖ / ‖G ⊗ K‖ with G the convolved image's PSF.
   */
  kernelRankTolerance: z.number().positive().max(0.5).default(2e-3),
  maxKernelRank: z.number().int().min(1).max(41).default(6),
  /**
   * Noise-adaptive tolerance: a cell's tolerance is raised to kernelResidualSigma × its noise /
   * its brightest convolved source (above its background), at most maxKernelRankTolerance, so
   * that the approximation error stays below this fraction of the noise: cells with only faint
   * sources get rank 1. 0 applies kernelRankTolerance everywhere.
   */
  kernelResidualSigma: z.number().min(0).default(0.1),
  maxKernelRankTolerance: z.number().positive().max(0.5).default(0.05),
  /**
   * The same for K² (the variance convolution), as a plain relative Frobenius error. The sum of
   * K² is kept exact per cell, and the variance needs far less precision than the image: by
   * default one separable term.
   */
  varianceRankTolerance: z.number().positive().max(0.5).default(0.1),
  maxVarianceRank: z.number().int().min(1).max(41).default(1),
  /** Taps of the K² profiles below this fraction of the largest are dropped at the ends. */
  varianceTapTrim: z.number().min(0).max(0.1).default(1e-4),
  /** Mask bits of the convolved image grown by the kernel footprint. */
  growMaskBits: z
    .number()
    .int()
    .min(0)
    .default(MaskBit.BAD | MaskBit.SAT | MaskBit.CR | MaskBit.NO_DATA | MaskBit.EDGE | MaskBit.INTRP | MaskBit.SUSPECT),
  /** Mask bits removed from the difference (the inputs' detections do not apply to it). */
  clearMaskBits: z.number().int().min(0).default(MaskBit.DETECTED | MaskBit.DETECTED_NEGATIVE),
  /** Subtract the differential background of the kernel fit. */
  subtractBackground: z.boolean().default(true),
  /** Image and variance of NO_DATA pixels. */
  noDataValue: z.enum(['nan', 'zero']).default('nan'),
  /**
   * Re-measure the differential background on the difference image: sigma-clipped medians of
   * source-free pixels in meshes of `meshPx`, fitted by a polynomial of the kernel fit's
   * background degree and subtracted. The stamps' background is biased by PSF wings the kernel
   * cannot reach (bright stars' stamps are mostly wing at their edges); the whole image is not.
   */
  backgroundRefit: z
    .object({
      enabled: z.boolean().default(true),
      meshPx: z.number().int().min(16).default(256),
      /** Every step-th pixel of every step-th row enters the mesh statistics (at least)... */
      sampleStep: z.number().int().min(1).max(64).default(2),
      /** ... and at most about this many per mesh. */
      maxSamplesPerMesh: z.number().int().min(16).default(2048),
      /** Meshes with fewer usable samples than this fraction are skipped. */
      minGoodFraction: z.number().min(0).max(1).default(0.2),
    })
    .default({}),
  diagnostics: z
    .object({
      /** Pixels with these bits in the difference are left out of the statistics. */
      badBits: z
        .number()
        .int()
        .min(0)
        .default(MaskBit.BAD | MaskBit.SAT | MaskBit.CR | MaskBit.NO_DATA | MaskBit.EDGE | MaskBit.INTRP | MaskBit.SUSPECT),
      /** Pixels with these bits in either input are sources, left out of the noise statistics. */
      sourceBits: z.number().int().min(0).default(MaskBit.DETECTED | MaskBit.DETECTED_NEGATIVE),
      /** Normalised values beyond ± this are outliers, left out of the mean and std (and counted). */
      clipSigma: z.number().positive().default(5),
      /** The noise statistics use every step-th pixel of every step-th row. */
      sampleStep: z.number().int().min(1).max(16).default(2),
      /** A star's stamp is "within the noise" when its χ² per pixel is at most this. */
      starMaxChi2PerPixel: z.number().positive().default(1.5),
    })
    .default({}),
});
export type SubtractionConfig = z.output<typeof SubtractionConfig>;
export type SubtractionConfigInput = z.input<typeof SubtractionConfig>;

export function makeSubtractionConfig(input: SubtractionConfigInput = {}): SubtractionConfig {
  return parseConfig(SubtractionConfig, input, 'subtraction');
}

export interface SubtractionInput {
  readonly science: MaskedImage;
  /** The template on the science pixel grid (as given to psf-matching). */
  readonly template: MaskedImage;
  readonly matching: Pick<
    PsfMatchingResult,
    'kernel' | 'convolved' | 'kernelSum' | 'stamps' | 'stampHalfWidthPx' | 'sciencePsfSigmaPx' | 'templatePsfSigmaPx'
  >;
}

export interface SubtractionDiagnostics {
  /** Mean and std of D / √Var over source-free, unmasked pixels (sampled) within ± clipSigma. */
  readonly normalizedMean: number;
  readonly normalizedStd: number;
  readonly pixelsUsed: number;
  /** Fraction of those pixels beyond ± clipSigma. */
  readonly outlierFraction: number;
  /** Stars of the kernel fit whose stamps were checked (wholly unmasked). */
  readonly starsChecked: number;
  readonly starsWithinNoise: number;
  readonly starsWithinNoiseFraction: number;
  /** Median χ² per pixel of the star stamps. */
  readonly starMedianChi2PerPixel: number;
}

export interface SubtractionResult {
  /** Science minus template, science units; fresh planes (image and variance: those given in the options). */
  readonly difference: MaskedImage;
  readonly convolved: 'template' | 'science';
  /** D = scale · (other − K ⊗ convolved − B): 1 when the template is convolved, −1 / kernel sum when the science is. */
  readonly scale: number;
  readonly cellsX: number;
  readonly cellsY: number;
  /** Largest and mean rank over the cells of the separable approximation of the kernel, and its largest relative error. */
  readonly kernelRank: number;
  readonly kernelMeanRank: number;
  readonly kernelApproximationError: number;
  readonly varianceKernelRank: number;
  readonly varianceKernelApproximationError: number;
  /** Cells whose tolerance was raised by the noise-adaptive rule (faint cells). */
  readonly cellsRelaxed: number;
  /**
   * The background re-measured on the difference and subtracted (polynomial coefficients over the
   * scaled coordinates, as the kernel's background), and the rms of the mesh medians before and
   * after; null when not re-measured.
   */
  readonly backgroundRefit: { readonly coefficients: Float64Array; readonly meshes: number; readonly rmsBefore: number; readonly rmsAfter: number } | null;
  readonly diagnostics: SubtractionDiagnostics;
}

function edges(size: number, n: number): Int32Array {
  const e = new Int32Array(n + 1);
  for (let i = 0; i <= n; i++) e[i] = Math.round((i * size) / n);
  return e;
}

export interface SubtractionOptions {
  /**
   * Image and variance planes for the difference (the science's size, fresh: all zero), e.g.
   * laid out for the output file; new ones when not given.
   */
  readonly planes?: { readonly image: Float32Array; readonly variance: Float32Array };
}

export function runSubtraction(input: SubtractionInput, cfg: SubtractionConfig = makeSubtractionConfig(), opts: SubtractionOptions = {}): SubtractionResult {
  const { science, template, matching } = input;
  const { kernel } = matching;
  const W = science.width;
  const H = science.height;
  const n = W * H;
  for (const [name, mi] of [['science', science], ['template', template]] as const) {
    if (mi.width !== W || mi.height !== H) throw new InvalidInputError(`subtraction: ${name} is ${mi.width}x${mi.height}, expected ${W}x${H}`);
    if (mi.image.length !== n || mi.mask.length !== n || mi.variance.length !== n) throw new InvalidInputError(`subtraction: ${name} planes do not match ${W}x${H}`);
  }
  if (kernel.width !== W || kernel.height !== H) {
    throw new InvalidInputError(`subtraction: the kernel was fitted on ${kernel.width}x${kernel.height}, the images are ${W}x${H}`);
  }
  const ks = matching.kernelSum;
  if (!(ks > 0) || !Number.isFinite(ks)) throw new InvalidInputError(`subtraction: kernel sum ${ks} is not usable`);
  const convolvedIsTemplate = matching.convolved === 'template';
  const src = convolvedIsTemplate ? template : science;
  const other = convolvedIsTemplate ? science : template;
  // D = sign · (other − conv − B) · scale: template convolved → +1 · 1; science → −1 / k.
  const scale = convolvedIsTemplate ? 1 : -1 / ks;
  const r = kernel.basis.halfWidthPx;
  const size = kernel.basis.size;
  const n2 = size * size;

  // Cells and their kernels.
  const nx = Math.max(1, Math.round(W / cfg.cellSizePx));
  const ny = Math.max(1, Math.round(H / cfg.cellSizePx));
  const ex = edges(W, nx);
  const ey = edges(H, ny);
  const cells = nx * ny;
  const kImgs = new Float64Array(cells * n2);
  const k2Imgs = new Float64Array(cells * n2);
  for (let j = 0; j < ny; j++) {
    for (let i = 0; i < nx; i++) {
      const c = j * nx + i;
      const kc = kImgs.subarray(c * n2, (c + 1) * n2);
      realizeKernel(kernel, (ex[i] + ex[i + 1] - 1) / 2, (ey[j] + ey[j + 1] - 1) / 2, kc);
      for (let q = 0; q < n2; q++) k2Imgs[c * n2 + q] = kc[q] * kc[q];
    }
  }
  // Separable approximations per cell; the error is judged on a convolved star (smoothed by
  // the convolved image's PSF).
  const srcSigma = convolvedIsTemplate ? matching.templatePsfSigmaPx : matching.sciencePsfSigmaPx;
  const smooth = srcSigma > 0 ? srcSigma : 0;
  const tol = new Float64Array(cells).fill(cfg.kernelRankTolerance);
  let cellsRelaxed = 0;
  if (cfg.kernelResidualSigma > 0) {
    const peaks = cellPeaks(src, other, ex, ey, r);
    for (let c = 0; c < cells; c++) {
      const t = (cfg.kernelResidualSigma * peaks.noise[c]) / (ks * peaks.peak[c]);
      const v = Math.min(cfg.maxKernelRankTolerance, Math.max(cfg.kernelRankTolerance, t));
      if (v === v && v > cfg.kernelRankTolerance) {
        tol[c] = v;
        cellsRelaxed++;
      }
    }
  }
  const kSep = decomposeCells(kImgs, cells, size, tol, cfg.maxKernelRank, smooth, 0, true);
  const vSep = decomposeCells(k2Imgs, cells, size, new Float64Array(cells).fill(cfg.varianceRankTolerance), cfg.maxVarianceRank, 0, cfg.varianceTapTrim, true);

  // Mask of the convolved image grown by the kernel footprint (non-finite pixels as NO_DATA),
  // and which rows have non-finite pixels.
  const outMask = new Int32Array(n);
  const dirtyRows = growMask(src, r, cfg.growMaskBits, outMask);

  // Convolutions and the combination, strip by strip (one cell row at a time, in cache):
  // D = scale · (other − conv − B), Var = scale² · (Var other + conv var); masks ORed.
  if (opts.planes && (opts.planes.image.length !== n || opts.planes.variance.length !== n)) {
    throw new InvalidInputError(`subtraction: the planes given for the difference are not ${W}x${H}`);
  }
  const outImage = opts.planes ? opts.planes.image : new Float32Array(n);
  const outVar = opts.planes ? opts.planes.variance : new Float32Array(n);
  const strips = new StripBuffers(W, Math.max(...Array.from({ length: ny }, (_, j) => ey[j + 1] - ey[j])), r, Math.max(kSep.maxRank, vSep.maxRank));
  const combiner = new Combiner(other, kernel, scale, r, cfg);
  for (let j = 0; j < ny; j++) {
    convolveStrip(src.image, W, H, kSep, r, ex, ey, j, dirtyRows, strips, outImage);
    convolveStrip(src.variance, W, H, vSep, r, ex, ey, j, dirtyRows, strips, outVar);
    combiner.rows(ey[j], ey[j + 1], outImage, outVar, outMask);
  }
  const difference: MaskedImage = { width: W, height: H, image: outImage, mask: outMask, variance: outVar };
  const backgroundRefit =
    cfg.backgroundRefit.enabled && kernel.backgroundDegree >= 0 ? refitBackground(difference, science.mask, template.mask, kernel.backgroundDegree, cfg) : null;
  const diagnostics = diagnose(difference, science.mask, template.mask, matching, cfg, backgroundRefit && { coefficients: backgroundRefit.coefficients, degree: kernel.backgroundDegree });
  return {
    difference,
    convolved: matching.convolved,
    scale,
    cellsX: nx,
    cellsY: ny,
    kernelRank: kSep.maxRank,
    kernelMeanRank: kSep.meanRank,
    kernelApproximationError: kSep.maxError,
    varianceKernelRank: vSep.maxRank,
    varianceKernelApproximationError: vSep.maxError,
    cellsRelaxed,
    backgroundRefit,
    diagnostics,
  };
}

/**
 * Per cell: the brightest pixel of the convolved image above the cell's background (its
 * median), over the cell and r pixels around it (a source that close reaches into the cell),
 * and the noise of the other image (√ of its median variance). Medians from a sub-grid.
 */
function cellPeaks(src: MaskedImage, other: MaskedImage, ex: Int32Array, ey: Int32Array, r: number): { peak: Float64Array; noise: Float64Array } {
  const { width: W, height: H, image } = src;
  const nx = ex.length - 1;
  const ny = ey.length - 1;
  const cells = nx * ny;
  const peak = new Float64Array(cells);
  const noise = new Float64Array(cells);
  let maxCell = 0;
  for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) maxCell = Math.max(maxCell, (ex[i + 1] - ex[i]) * (ey[j + 1] - ey[j]));
  const step = Math.max(1, Math.ceil(Math.sqrt(maxCell / 512)));
  const a = new Float32Array(Math.ceil(maxCell / (step * step)) + 4 * (W + 1));
  const b = new Float32Array(a.length);
  for (let j = 0; j < ny; j++) {
    for (let i = 0; i < nx; i++) {
      const c = j * nx + i;
      let m = -Infinity;
      const xa = Math.max(0, ex[i] - r);
      const xb = Math.min(W, ex[i + 1] + r);
      for (let y = Math.max(0, ey[j] - r); y < Math.min(H, ey[j + 1] + r); y++) {
        for (let p = y * W + xa, end = y * W + xb; p < end; p++) if (image[p] > m) m = image[p];
      }
      let n = 0;
      for (let y = ey[j] + (step >> 1); y < ey[j + 1]; y += step) {
        for (let p = y * W + ex[i] + (step >> 1), end = y * W + ex[i + 1]; p < end; p += step) {
          const v = image[p];
          const vv = other.variance[p];
          if (v === v && vv === vv) {
            a[n] = v;
            b[n] = vv;
            n++;
          }
        }
      }
      // Unknown (NaN) or non-positive peaks give no relaxation.
      const pk = n > 0 ? m - medianInPlace(a, n) : NaN;
      peak[c] = pk > 0 ? pk : NaN;
      noise[c] = n > 0 ? Math.sqrt(Math.max(0, medianInPlace(b, n))) : NaN;
    }
  }
  return { peak, noise };
}

/** Per-cell separable approximations as correlation taps. */
interface CellKernels {
  /** Rank per cell. */
  readonly ranks: Int32Array;
  readonly maxRank: number;
  readonly meanRank: number;
  readonly maxError: number;
  /** Taps of cell c, term p at [c · maxRank + p], padded for the passes. */
  readonly horizontal: Taps[];
  readonly vertical: Taps[];
}

function decomposeCells(
  kernels: Float64Array,
  cells: number,
  size: number,
  tolerance: Float64Array,
  maxRank: number,
  smoothingSigmaPx: number,
  trim: number,
  keepSums: boolean,
): CellKernels {
  const n2 = size * size;
  const sets: SeparableKernelSet[] = [];
  let mx = 0;
  let sum = 0;
  let err = 0;
  let start: Float64Array | null = null;
  for (let c = 0; c < cells; c++) {
    const kc = kernels.subarray(c * n2, (c + 1) * n2);
    // Each cell's eigen-decomposition starts from the previous cell's (similar kernels).
    const set = separableApproximation(kc, 1, size, tolerance[c], maxRank, smoothingSigmaPx, start);
    start = set.eigenvectors;
    if (keepSums) preserveSums(set, kc);
    sets.push(set);
    mx = Math.max(mx, set.rank);
    sum += set.rank;
    err = Math.max(err, set.maxRelativeError);
  }
  const ranks = new Int32Array(cells);
  const horizontal: Taps[] = [];
  const vertical: Taps[] = [];
  const none: Taps = { taps: new Float64Array(0), first: 0 };
  const padded = (t: Taps): Taps => ({ taps: padTaps(t.taps), first: t.first });
  for (let c = 0; c < cells; c++) {
    const set = sets[c];
    ranks[c] = set.rank;
    for (let p = 0; p < mx; p++) {
      if (p >= set.rank) {
        horizontal.push(none);
        vertical.push(none);
        continue;
      }
      horizontal.push(padded(correlationTaps(set.horizontal.subarray(p * size, (p + 1) * size), trim)));
      vertical.push(padded(correlationTaps(set.vertical.subarray(p * size, (p + 1) * size), trim)));
    }
  }
  return { ranks, maxRank: mx, meanRank: sum / cells, maxError: err, horizontal, vertical };
}

/** Scratch of the strip convolution: one strip buffer per term, a padded row, an accumulator. */
class StripBuffers {
  readonly tmp: Float32Array[] = [];
  readonly row: Float32Array;
  readonly scratch: Float64Array;
  constructor(W: number, maxStripRows: number, r: number, maxRank: number) {
    for (let p = 0; p < maxRank; p++) this.tmp.push(new Float32Array((maxStripRows + 2 * r + PASS_SLACK) * W));
    // Padded row: row[i] = src(i − r) for i − r ∈ [0, W), zero elsewhere (and slack).
    this.row = new Float32Array(W + 2 * r + PASS_SLACK);
    this.scratch = new Float64Array(W);
  }
}

/**
 * Rows [ey[j], ey[j + 1]) of out = src convolved with each cell's separable kernel (zero outside
 * the image; non-finite pixels as zero in rows flagged in `dirtyRows`). For every row of the
 * strip and r rows either side, each cell's horizontal passes fill the strip buffers (one per
 * term); then each cell takes its vertical passes into out.
 */
function convolveStrip(
  src: Float32Array,
  W: number,
  H: number,
  ck: CellKernels,
  r: number,
  ex: Int32Array,
  ey: Int32Array,
  j: number,
  dirtyRows: Uint8Array,
  buf: StripBuffers,
  out: Float32Array,
): void {
  const R = ck.maxRank;
  const nx = ex.length - 1;
  const { tmp, row, scratch } = buf;
  const y0 = ey[j];
  const y1 = ey[j + 1];
  const ya = y0 - r;
  const rows = y1 - y0 + 2 * r;
  // Row views per cell and term (the taps' first offsets differ).
  const views: Float32Array[] = [];
  for (let i = 0; i < nx; i++) {
    for (let p = 0; p < R; p++) views.push(row.subarray(ex[i] + ck.horizontal[(j * nx + i) * R + p].first));
  }
  let maxRankHere = 0;
  for (let i = 0; i < nx; i++) maxRankHere = Math.max(maxRankHere, ck.ranks[j * nx + i]);
  for (let k = 0; k < rows; k++) {
    const y = ya + k;
    if (y < 0 || y >= H) {
      for (let p = 0; p < maxRankHere; p++) tmp[p].fill(0, k * W, (k + 1) * W);
      continue;
    }
    const base = y * W;
    if (dirtyRows[y]) {
      for (let x = 0; x < W; x++) {
        const v = src[base + x];
        row[r + x] = v - v === 0 ? v : 0; // non-finite → 0
      }
    } else {
      row.set(src.subarray(base, base + W), r);
    }
    for (let i = 0; i < nx; i++) {
      const c = j * nx + i;
      for (let p = 0; p < ck.ranks[c]; p++) {
        horizontalPass(views[i * R + p], tmp[p], k * W + ex[i], ex[i + 1] - ex[i], ck.horizontal[c * R + p].taps, scratch);
      }
    }
  }
  for (let i = 0; i < nx; i++) {
    const c = j * nx + i;
    for (let p = 0; p < ck.ranks[c]; p++) {
      const t = ck.vertical[c * R + p];
      verticalPass(tmp[p], t.first * W, out, y0 * W, W, y1 - y0, ex[i], ex[i + 1], t.taps, p > 0, scratch);
    }
  }
}

/**
 * In place, row by row: outImage (the convolution) → scale · (other − conv − B); outVar (the
 * convolved variance) → scale² · (Var other + conv var); outMask (the convolved image's mask,
 * grown) → ORed with the other image's mask, the border and non-finite pixels of `other`
 * flagged, `clearMaskBits` removed; NO_DATA pixels filled with `noDataValue`.
 */
class Combiner {
  readonly #bgRow: Float64Array;
  constructor(
    readonly other: MaskedImage,
    readonly kernel: MatchingKernel,
    readonly scale: number,
    readonly r: number,
    readonly cfg: SubtractionConfig,
  ) {
    this.#bgRow = new Float64Array(other.width);
  }

  rows(y0: number, y1: number, outImage: Float32Array, outVar: Float32Array, outMask: Int32Array): void {
    const { other, kernel, scale, r, cfg } = this;
    const { width: W, height: H } = other;
    const bgRow = this.#bgRow;
    const useBg = cfg.subtractBackground && kernel.backgroundDegree >= 0;
    const s2 = scale * scale;
    const keep = ~cfg.clearMaskBits;
    const noData = MaskBit.NO_DATA;
    const border = MaskBit.NO_DATA | MaskBit.EDGE;
    const fill = cfg.noDataValue === 'nan' ? NaN : 0;
    const oImg = other.image;
    const oVar = other.variance;
    const oMask = other.mask;
    for (let y = y0; y < y1; y++) {
      if (useBg) backgroundRow(kernel.backgroundCoefficients, kernel.backgroundDegree, H, y, bgRow);
      const base = y * W;
      const rowBits = y < r || y >= H - r ? border : 0;
      let anyNoData = 0;
      for (let x = 0; x < W; x++) {
        const p = base + x;
        const v = oImg[p];
        outImage[p] = scale * (v - outImage[p] - bgRow[x]);
        outVar[p] = s2 * (oVar[p] + outVar[p]);
        const m = (outMask[p] | oMask[p] | rowBits | (v - v === 0 ? 0 : noData)) & keep;
        outMask[p] = m;
        anyNoData |= m;
      }
      // Left and right borders.
      for (let x = 0; x < r; x++) {
        outMask[base + x] |= border;
        outMask[base + W - 1 - x] |= border;
      }
      if (r > 0) anyNoData |= noData;
      if ((anyNoData & noData) === 0) continue;
      for (let x = 0; x < W; x++) {
        if (outMask[base + x] & noData) {
          outImage[base + x] = fill;
          outVar[base + x] = fill;
        }
      }
    }
  }
}

/** A background polynomial (degree d, scaled coordinates over width × height) along row y, into out (width values). */
function backgroundRow(coefficients: Float64Array, d: number, height: number, y: number, out: Float64Array): void {
  const W = out.length;
  const yh = scaledCoordinate(y, height);
  // Coefficient of x̂^e: Σ_j c(n = e + j, j) ŷ^j, terms ordered x^(n−j) y^j.
  const cx = new Float64Array(d + 1);
  let t = 0;
  for (let nn = 0; nn <= d; nn++) {
    for (let j = 0; j <= nn; j++, t++) cx[nn - j] += coefficients[t] * yh ** j;
  }
  if (t !== polynomialTermCount(d)) throw new RangeError('background polynomial: term count mismatch');
  const half = Math.max(1, (W - 1) / 2);
  for (let x = 0; x < W; x++) {
    const xh = (x - (W - 1) / 2) / half;
    let v = cx[d];
    for (let e = d - 1; e >= 0; e--) v = v * xh + cx[e];
    out[x] = v;
  }
}

/**
 * out = the bits `bits` of mi's mask (plus NO_DATA where its image or variance is not finite)
 * grown by a (2r + 1)² box — a van Herk / Gil–Werman running OR along each row, then, for each
 * output row, an OR over the 2r + 1 row results (a ring buffer; all-zero rows skipped) — ORed
 * with the mask's other bits in place. Returns a flag per row: has a non-finite pixel.
 */
function growMask(mi: MaskedImage, r: number, bits: number, out: Int32Array): Uint8Array {
  const { width: W, height: H, mask, image, variance } = mi;
  const T = 2 * r + 1;
  const L = W + 2 * r;
  const line = new Int32Array(L);
  const pre = new Int32Array(L);
  const suf = new Int32Array(L);
  const ring = new Int32Array(T * W);
  const ringAny = new Uint8Array(T);
  const dirty = new Uint8Array(H);
  const noData = MaskBit.NO_DATA;
  const keepBits = ~bits;
  // Row y's horizontal result goes to ring slot y mod T; output row y − r is complete once row
  // y has been added (rows beyond the image are empty).
  for (let y = 0; y < H + r; y++) {
    const slot = y % T;
    ringAny[slot] = 0;
    if (y < H) {
      const base = y * W;
      let nz = 0;
      let bad = 0;
      for (let x = 0; x < W; x++) {
        const p = base + x;
        const finite = image[p] - image[p] + (variance[p] - variance[p]) === 0;
        const mk = mask[p];
        const m = (mk & bits) | (finite ? 0 : noData);
        if (mk & keepBits) out[p] |= mk & keepBits;
        line[r + x] = m;
        nz |= m;
        if (!finite) bad = 1;
      }
      dirty[y] = bad;
      if (nz !== 0) {
        ringAny[slot] = 1;
        for (let i = 0; i < L; i++) pre[i] = i % T === 0 ? line[i] : pre[i - 1] | line[i];
        for (let i = L - 1; i >= 0; i--) suf[i] = i % T === T - 1 || i === L - 1 ? line[i] : suf[i + 1] | line[i];
        const o = slot * W;
        for (let x = 0; x < W; x++) ring[o + x] = suf[x] | pre[x + 2 * r];
      }
    }
    const yo = y - r;
    if (yo < 0) continue;
    const base = yo * W;
    // The ring holds exactly rows y − 2r .. y = yo − r .. yo + r (slots of rows outside the
    // image are marked empty).
    for (let s = 0; s < T; s++) {
      if (!ringAny[s]) continue;
      const o = s * W;
      for (let x = 0; x < W; x++) out[base + x] |= ring[o + x];
    }
  }
  return dirty;
}

/**
 * Fits a polynomial of `degree` (scaled coordinates) to sigma-clipped mesh medians of the
 * difference over source-free, unmasked pixels (subtracted by `diagnose`, in the same pass as
 * the statistics).
 */
function refitBackground(
  d: MaskedImage,
  sciMask: Int32Array,
  tmplMask: Int32Array,
  degree: number,
  cfg: SubtractionConfig,
): { coefficients: Float64Array; meshes: number; rmsBefore: number; rmsAfter: number } | null {
  const { width: W, height: H, image, mask } = d;
  const rc = cfg.backgroundRefit;
  const bad = cfg.diagnostics.badBits;
  const srcBits = cfg.diagnostics.sourceBits;
  const nx = Math.max(1, Math.round(W / rc.meshPx));
  const ny = Math.max(1, Math.round(H / rc.meshPx));
  const ex = edges(W, nx);
  const ey = edges(H, ny);
  let maxMesh = 0;
  for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) maxMesh = Math.max(maxMesh, (ex[i + 1] - ex[i]) * (ey[j + 1] - ey[j]));
  const step = Math.max(rc.sampleStep, Math.ceil(Math.sqrt(maxMesh / rc.maxSamplesPerMesh)));
  const scratch = new Float32Array(Math.ceil(maxMesh / (step * step)) + W + H);
  const mx: number[] = [];
  const my: number[] = [];
  const mv: number[] = [];
  for (let j = 0; j < ny; j++) {
    for (let i = 0; i < nx; i++) {
      let n = 0;
      let tried = 0;
      for (let y = ey[j] + (step >> 1); y < ey[j + 1]; y += step) {
        for (let p = y * W + ex[i] + (step >> 1), end = y * W + ex[i + 1]; p < end; p += step) {
          tried++;
          const v = image[p];
          if (mask[p] & bad || (sciMask[p] | tmplMask[p]) & srcBits || v !== v) continue;
          scratch[n++] = v;
        }
      }
      if (n < Math.max(10, rc.minGoodFraction * tried)) continue;
      const st = sigmaClippedStatsInPlace(scratch, n, 3, 3);
      mx.push(scaledCoordinate((ex[i] + ex[i + 1] - 1) / 2, W));
      my.push(scaledCoordinate((ey[j] + ey[j + 1] - 1) / 2, H));
      mv.push(st.median);
    }
  }
  const nT = polynomialTermCount(degree);
  const m = mv.length;
  if (m < nT) return null;
  const g = new Float64Array(nT * nT);
  const b = new Float64Array(nT);
  const t = new Float64Array(nT);
  for (let k = 0; k < m; k++) {
    polynomialTerms(degree, mx[k], my[k], t);
    for (let a = 0; a < nT; a++) {
      b[a] += t[a] * mv[k];
      for (let c = 0; c < nT; c++) g[a * nT + c] += t[a] * t[c];
    }
  }
  const coefficients = new PivotedCholesky(g, nT).solve(b);
  let before = 0;
  let after = 0;
  for (let k = 0; k < m; k++) {
    polynomialTerms(degree, mx[k], my[k], t);
    let f = 0;
    for (let a = 0; a < nT; a++) f += coefficients[a] * t[a];
    before += mv[k] * mv[k];
    after += (mv[k] - f) ** 2;
  }
  return { coefficients, meshes: m, rmsBefore: Math.sqrt(before / m), rmsAfter: Math.sqrt(after / m) };
}

/**
 * Subtracts the re-measured background (when given) from every pixel that is not NO_DATA, and
 * measures the diagnostics in the same pass.
 */
function diagnose(
  d: MaskedImage,
  sciMask: Int32Array,
  tmplMask: Int32Array,
  matching: SubtractionInput['matching'],
  cfg: SubtractionConfig,
  refit: { coefficients: Float64Array; degree: number } | null,
): SubtractionDiagnostics {
  const { width: W, height: H, image, variance, mask } = d;
  const dc = cfg.diagnostics;
  const bad = dc.badBits;
  const srcBits = dc.sourceBits;
  const clip = dc.clipSigma;
  const noData = MaskBit.NO_DATA;
  let n = 0;
  let s = 0;
  let s2 = 0;
  let out = 0;
  const step = dc.sampleStep;
  const off = step >> 1;
  const bg = new Float64Array(W);
  for (let y = 0; y < H; y++) {
    const base = y * W;
    if (refit !== null) {
      backgroundRow(refit.coefficients, refit.degree, H, y, bg);
      for (let x = 0; x < W; x++) if ((mask[base + x] & noData) === 0) image[base + x] -= bg[x];
    }
    if (y % step !== off) continue;
    for (let p = base + off, end = base + W; p < end; p += step) {
      if (mask[p] & bad || (sciMask[p] | tmplMask[p]) & srcBits) continue;
      const v = variance[p];
      if (!(v > 0)) continue;
      const z = image[p] / Math.sqrt(v);
      if (!(Math.abs(z) <= clip)) {
        out++;
        continue;
      }
      n++;
      s += z;
      s2 += z * z;
    }
  }
  const mean = n > 0 ? s / n : NaN;
  const std = n > 1 ? Math.sqrt(Math.max(0, (s2 - n * mean * mean) / (n - 1))) : NaN;
  // Star stamps.
  const h = matching.stampHalfWidthPx;
  const st = matching.stamps;
  const chi = new Float64Array(st.x.length);
  let checked = 0;
  let within = 0;
  for (let k = 0; k < st.x.length; k++) {
    if (st.status[k] !== StampStatus.USED) continue;
    const xc = st.x[k];
    const yc = st.y[k];
    if (xc - h < 0 || yc - h < 0 || xc + h >= W || yc + h >= H) continue;
    let c2 = 0;
    let ok = true;
    for (let y = yc - h; y <= yc + h && ok; y++) {
      for (let x = xc - h, p = y * W + x; x <= xc + h; x++, p++) {
        const v = variance[p];
        if (mask[p] & bad || !(v > 0)) {
          ok = false;
          break;
        }
        c2 += (image[p] * image[p]) / v;
      }
    }
    if (!ok) continue;
    const perPix = c2 / ((2 * h + 1) * (2 * h + 1));
    chi[checked++] = perPix;
    if (perPix <= dc.starMaxChi2PerPixel) within++;
  }
  const sorted = chi.subarray(0, checked).sort();
  const median = checked === 0 ? NaN : checked % 2 ? sorted[checked >> 1] : 0.5 * (sorted[checked / 2 - 1] + sorted[checked / 2]);
  return {
    normalizedMean: mean,
    normalizedStd: std,
    pixelsUsed: n,
    outlierFraction: n + out > 0 ? out / (n + out) : NaN,
    starsChecked: checked,
    starsWithinNoise: within,
    starsWithinNoiseFraction: checked > 0 ? within / checked : NaN,
    starMedianChi2PerPixel: median,
  };
}
