import { z } from 'zod';
import { InvalidInputError } from '../../../core/errors.ts';
import { MaskBit, type MaskedImage } from '../../../core/image.ts';
import { parseConfig } from '../../config.ts';
import { PivotedCholesky } from '../../lib/dense-symmetric.ts';
import { IQR_TO_SIGMA } from '../../lib/stats.ts';
import { kernelCoefficientsAt, polynomialTermCount, polynomialTerms, scaledCoordinate, type MatchingKernel } from '../psf-matching/kernel.ts';
import { StampStatus, type PsfMatchingResult } from '../psf-matching/psf-matching.ts';
import type { ArenaBuffer } from '../../../wasm/arena.ts';
import { passKernels } from '../../../wasm/passes.ts';
import { correlationTaps, preserveSums, SeparableApproximator } from './separable.ts';
import { StripWorkspace, type CellTerm, type CombineParams, type RowPolynomial, type StripCell } from './strip.ts';

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
 * and as many full-size images) and a direct 2-D convolution ((2r + 1)² taps per pixel). The
 * variance plane is convolved with K² the same way (`varianceRankTolerance`, its sum exact).
 *
 * Rows are processed in strips one cell high (strip.ts), in the memory of the passes
 * WebAssembly module (wasm/passes.ts: float32 SIMD loops), so that nothing is copied between
 * the passes and the intermediate rows stay in cache: a strip's rows (plus the kernel border)
 * are copied in, its cells' kernels realised and approximated, its mask grown, each cell's
 * terms convolved (the horizontal pass into a cell-sized buffer, then the vertical pass,
 * summed over the terms), the difference, variance and mask combined and copied out. The
 * separable approximations (float64) also run in that module.
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
   * Image and variance planes for the difference (the science's size; every pixel is written,
   * whatever they held), e.g. laid out for the output file; new ones when not given. Likewise
   * the mask, when given.
   */
  readonly planes?: { readonly image: Float32Array; readonly variance: Float32Array; readonly mask?: Int32Array };
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

  // Cells; each cell's kernel (realised at its centre) and K² are approximated separably just
  // before their strip is convolved. The error is judged on a convolved star (smoothed by the
  // convolved image's PSF).
  const nx = Math.max(1, Math.round(W / cfg.cellSizePx));
  const ny = Math.max(1, Math.round(H / cfg.cellSizePx));
  const ex = edges(W, nx);
  const ey = edges(H, ny);
  const cells = nx * ny;
  const srcSigma = convolvedIsTemplate ? matching.templatePsfSigmaPx : matching.sciencePsfSigmaPx;
  const kSmooth = srcSigma > 0 ? srcSigma : 0;
  // Noise-adaptive tolerance: each cell's brightest pixel and background (median) from the
  // convolved image, its noise from the other image's median variance (medians from a sub-grid).
  const relax = cfg.kernelResidualSigma > 0;
  let maxCell = 0;
  for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) maxCell = Math.max(maxCell, (ex[i + 1] - ex[i]) * (ey[j + 1] - ey[j]));
  const sampleStep = Math.max(1, Math.ceil(Math.sqrt(maxCell / 512)));
  let cellsRelaxed = 0;

  // Convolutions and the combination, strip by strip (one cell row at a time, in the passes
  // module's memory): D = scale · (other − conv − B), Var = scale² · (Var other + conv var);
  // masks grown and ORed.
  if (opts.planes && (opts.planes.image.length !== n || opts.planes.variance.length !== n)) {
    throw new InvalidInputError(`subtraction: the planes given for the difference are not ${W}x${H}`);
  }
  const outImage = opts.planes ? opts.planes.image : new Float32Array(n);
  const outVar = opts.planes ? opts.planes.variance : new Float32Array(n);
  if (opts.planes?.mask && opts.planes.mask.length !== n) throw new InvalidInputError(`subtraction: the mask given for the difference is not ${W}x${H}`);
  const outMask = opts.planes?.mask ?? new Int32Array(n);
  const bgDeg = kernel.backgroundDegree;
  const background: RowPolynomial | null = cfg.subtractBackground && bgDeg >= 0 ? (y, out) => backgroundCoefficients(kernel.backgroundCoefficients, bgDeg, H, y, out) : null;
  let maxRows = 0;
  for (let j = 0; j < ny; j++) maxRows = Math.max(maxRows, ey[j + 1] - ey[j]);
  let maxCols = 0;
  for (let i = 0; i < nx; i++) maxCols = Math.max(maxCols, ex[i + 1] - ex[i]);
  // The strip buffers and, in the same memory, the cells' kernels and their approximations.
  const kLength = SeparableApproximator.length(size, cfg.maxKernelRank, kSmooth);
  const vLength = SeparableApproximator.length(size, cfg.maxVarianceRank, 0);
  const refitting = cfg.backgroundRefit.enabled && bgDeg >= 0;
  const grid = refitting ? refitGrid(W, H, cfg) : null;
  const cellSamples = Math.ceil(maxCols / sampleStep) * Math.ceil(maxRows / sampleStep);
  const strips = new StripWorkspace(
    W,
    H,
    r,
    maxRows,
    maxCols,
    nx * (cfg.maxKernelRank + cfg.maxVarianceRank) * 2 * size,
    bgDeg,
    kLength + vLength + CellKernels.length(kernel),
    Math.max(relax ? 2 * cellSamples : 0, grid !== null ? grid.maxSamples : 0),
  );
  const region = (offset: number, length: number): ArenaBuffer<Float64Array> => ({ ptr: strips.extra.ptr + 8 * offset, view: strips.extra.view.subarray(offset, offset + length) });
  const kDec = new CellDecomposer(new SeparableApproximator(size, cfg.maxKernelRank, kSmooth, region(0, kLength)), 0);
  const vDec = new CellDecomposer(new SeparableApproximator(size, cfg.maxVarianceRank, 0, region(kLength, vLength)), cfg.varianceTapTrim);
  const cellKernels = new CellKernels(kernel, region(kLength + vLength, CellKernels.length(kernel)), kDec.approximator, vDec.approximator);
  const combine: CombineParams = {
    scale,
    keep: ~cfg.clearMaskBits,
    noData: MaskBit.NO_DATA,
    border: MaskBit.NO_DATA | MaskBit.EDGE,
    fill: cfg.noDataValue === 'nan' ? NaN : 0,
  };
  for (let j = 0; j < ny; j++) {
    strips.load(src, other, ey[j], ey[j + 1]);
    const kCells: StripCell[] = [];
    const vCells: StripCell[] = [];
    for (let i = 0; i < nx; i++) {
      cellKernels.realize((ex[i] + ex[i + 1] - 1) / 2, (ey[j] + ey[j + 1] - 1) / 2);
      // The brightest pixel above the background is taken over the cell and r pixels around it
      // (a source that close reaches into the cell).
      let tol = cfg.kernelRankTolerance;
      if (relax) {
        const m = strips.medians(ex[i], ex[i + 1], sampleStep);
        const noise = Math.sqrt(Math.max(0, m.otherVariance));
        const pk = m.image === m.image ? strips.maxOf(Math.max(0, ex[i] - r), Math.min(W, ex[i + 1] + r)) - m.image : NaN;
        const peak = pk > 0 ? pk : NaN;
        const t = (cfg.kernelResidualSigma * noise) / (ks * peak);
        const v = Math.min(cfg.maxKernelRankTolerance, Math.max(cfg.kernelRankTolerance, t));
        if (v === v && v > cfg.kernelRankTolerance) {
          tol = v;
          cellsRelaxed++;
        }
      }
      kCells.push({ x0: ex[i], x1: ex[i + 1], terms: kDec.decompose(tol) });
      vCells.push({ x0: ex[i], x1: ex[i + 1], terms: vDec.decompose(cfg.varianceRankTolerance) });
    }
    strips.growMask(cfg.growMaskBits, MaskBit.NO_DATA);
    strips.convolve('image', kCells);
    strips.convolve('variance', vCells);
    strips.combine(background, combine);
    strips.store(outImage, outVar, outMask);
  }
  const difference: MaskedImage = { width: W, height: H, image: outImage, mask: outMask, variance: outVar };
  const backgroundRefit = grid !== null ? refitBackground(difference, science.mask, template.mask, bgDeg, cfg, grid, strips.samples) : null;
  const refitCoefficients = backgroundRefit?.coefficients;
  const refitRow: RowPolynomial | null = refitCoefficients !== undefined ? (y, out) => backgroundCoefficients(refitCoefficients, bgDeg, H, y, out) : null;
  const diagnostics = diagnose(difference, science.mask, template.mask, matching, cfg, refitRow, strips, ey);
  return {
    difference,
    convolved: matching.convolved,
    scale,
    cellsX: nx,
    cellsY: ny,
    kernelRank: kDec.maxRank,
    kernelMeanRank: kDec.rankSum / cells,
    kernelApproximationError: kDec.maxError,
    varianceKernelRank: vDec.maxRank,
    varianceKernelApproximationError: vDec.maxError,
    cellsRelaxed,
    backgroundRefit,
    diagnostics,
  };
}

/**
 * The separable approximations of a sequence of cells' kernels (separable.ts), as correlation
 * taps; each cell's eigen-decomposition starts from the previous cell's (similar kernels), and
 * the approximation keeps each kernel's sum.
 */
class CellDecomposer {
  maxRank = 0;
  rankSum = 0;
  maxError = 0;
  #start: Float64Array | null = null;
  constructor(
    readonly approximator: SeparableApproximator,
    readonly trim: number,
  ) {}

  /** The approximator's kernel, within `tolerance`. */
  decompose(tolerance: number): CellTerm[] {
    const { approximator, trim } = this;
    const size = approximator.size;
    const set = approximator.approximate(tolerance, this.#start);
    this.#start = set.eigenvectors;
    preserveSums(set, approximator.kernel.view);
    this.maxRank = Math.max(this.maxRank, set.rank);
    this.rankSum += set.rank;
    this.maxError = Math.max(this.maxError, set.maxRelativeError);
    const terms: CellTerm[] = [];
    for (let p = 0; p < set.rank; p++) {
      const h = correlationTaps(set.horizontal.subarray(p * size, (p + 1) * size), trim);
      const v = correlationTaps(set.vertical.subarray(p * size, (p + 1) * size), trim);
      terms.push({ h: h.taps, hFirst: h.first, v: v.taps, vFirst: v.first });
    }
    return terms;
  }
}

/**
 * The kernel K realised at a point (as psf-matching's realizeKernel: Σ_i a_i(x, y) B_i over
 * the basis images) into the kernel buffer of one approximator and K² into another's, in the
 * passes module (the basis images copied there once).
 */
class CellKernels {
  readonly #kernel: MatchingKernel;
  readonly #images: ArenaBuffer<Float64Array>;
  readonly #coefficients: ArenaBuffer<Float64Array>;

  /** Float64 values of the region `region` given to the constructor must hold. */
  static length(kernel: MatchingKernel): number {
    return kernel.basis.count * (kernel.basis.size ** 2 + 1);
  }

  constructor(
    kernel: MatchingKernel,
    region: ArenaBuffer<Float64Array>,
    readonly k: SeparableApproximator,
    readonly k2: SeparableApproximator,
  ) {
    const { count, images } = kernel.basis;
    this.#kernel = kernel;
    this.#images = { ptr: region.ptr, view: region.view.subarray(0, images.length) };
    this.#images.view.set(images);
    this.#coefficients = { ptr: region.ptr + 8 * images.length, view: region.view.subarray(images.length, images.length + count) };
  }

  realize(x: number, y: number): void {
    const { count, size } = this.#kernel.basis;
    kernelCoefficientsAt(this.#kernel, x, y, this.#coefficients.view);
    passKernels().exports.weightedSum(this.#images.ptr, count, size * size, this.#coefficients.ptr, this.k.kernel.ptr, this.k2.kernel.ptr);
  }
}

/** A background polynomial (degree d, scaled coordinates over height) along row y: the coefficients of x̂^0 … x̂^d, into out. */
function backgroundCoefficients(coefficients: Float64Array, d: number, height: number, y: number, out: Float64Array): void {
  const yh = scaledCoordinate(y, height);
  // Coefficient of x̂^e: Σ_j c(n = e + j, j) ŷ^j, terms ordered x^(n−j) y^j.
  out.fill(0, 0, d + 1);
  let t = 0;
  for (let nn = 0; nn <= d; nn++) {
    for (let j = 0; j <= nn; j++, t++) out[nn - j] += coefficients[t] * yh ** j;
  }
  if (t !== polynomialTermCount(d)) throw new RangeError('background polynomial: term count mismatch');
}

/**
 * Fits a polynomial of `degree` (scaled coordinates) to sigma-clipped mesh medians of the
 * difference over source-free, unmasked pixels (subtracted by `diagnose`, in the same pass as
 * the statistics).
 */
/** The meshes of the background refit and their sampling step. */
interface RefitGrid {
  readonly ex: Int32Array;
  readonly ey: Int32Array;
  readonly step: number;
  /** The most samples a mesh can give. */
  readonly maxSamples: number;
}

function refitGrid(W: number, H: number, cfg: SubtractionConfig): RefitGrid {
  const rc = cfg.backgroundRefit;
  const nx = Math.max(1, Math.round(W / rc.meshPx));
  const ny = Math.max(1, Math.round(H / rc.meshPx));
  const ex = edges(W, nx);
  const ey = edges(H, ny);
  let maxMesh = 0;
  for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) maxMesh = Math.max(maxMesh, (ex[i + 1] - ex[i]) * (ey[j + 1] - ey[j]));
  const step = Math.max(rc.sampleStep, Math.ceil(Math.sqrt(maxMesh / rc.maxSamplesPerMesh)));
  let maxSamples = 0;
  for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) maxSamples = Math.max(maxSamples, Math.ceil((ex[i + 1] - ex[i]) / step) * Math.ceil((ey[j + 1] - ey[j]) / step));
  return { ex, ey, step, maxSamples };
}

function refitBackground(
  d: MaskedImage,
  sciMask: Int32Array,
  tmplMask: Int32Array,
  degree: number,
  cfg: SubtractionConfig,
  grid: RefitGrid,
  samples: ArenaBuffer<Float32Array>,
): { coefficients: Float64Array; meshes: number; rmsBefore: number; rmsAfter: number } | null {
  const { width: W, height: H, image, mask } = d;
  const rc = cfg.backgroundRefit;
  const bad = cfg.diagnostics.badBits;
  const srcBits = cfg.diagnostics.sourceBits;
  const { ex, ey, step } = grid;
  const nx = ex.length - 1;
  const ny = ey.length - 1;
  const scratch = samples.view;
  if (scratch.length < grid.maxSamples) throw new RangeError('subtraction: background refit samples do not fit');
  const kernels = passKernels().exports;
  const mx: number[] = [];
  const my: number[] = [];
  const mv: number[] = [];
  for (let j = 0; j < ny; j++) {
    for (let i = 0; i < nx; i++) {
      const n = meshSamples(image, mask, sciMask, tmplMask, bad, srcBits, W, ex[i], ex[i + 1], ey[j], ey[j + 1], step, scratch);
      const tried = sampleCount(ex[i], ex[i + 1], step) * sampleCount(ey[j], ey[j + 1], step);
      if (n < Math.max(10, rc.minGoodFraction * tried)) continue;
      const median = kernels.clippedMedian(samples.ptr, n, 3, 3, IQR_TO_SIGMA);
      mx.push(scaledCoordinate((ex[i] + ex[i + 1] - 1) / 2, W));
      my.push(scaledCoordinate((ey[j] + ey[j + 1] - 1) / 2, H));
      mv.push(median);
    }
  }
  const nT = polynomialTermCount(degree);
  const m = mv.length;
  if (m < nT) return null;
  const g = new Float64Array(nT * nT);
  const b = new Float64Array(nT);
  normalEquations(degree, mx, my, mv, g, b);
  const coefficients = new PivotedCholesky(g, nT).solve(b);
  const [before, after] = sumsOfSquares(degree, mx, my, mv, coefficients);
  return { coefficients, meshes: m, rmsBefore: Math.sqrt(before / m), rmsAfter: Math.sqrt(after / m) };
}

// refitBackground's loops, in functions of their own: it runs once per visit and stays in the
// interpreter, while these keep their optimised code from visit to visit.

/**
 * The usable values (none of `bad` in the difference's mask, none of `srcBits` in the science's
 * or template's, not NaN) of every step-th pixel of every step-th row of the mesh x0 … x1 − 1 by
 * y0 … y1 − 1, from (x0, y0) + step/2, into `out`; returns how many.
 */
function meshSamples(
  image: Float32Array,
  mask: Int32Array,
  sciMask: Int32Array,
  tmplMask: Int32Array,
  bad: number,
  srcBits: number,
  W: number,
  x0: number,
  x1: number,
  y0: number,
  y1: number,
  step: number,
  out: Float32Array,
): number {
  let n = 0;
  const half = step >> 1;
  for (let y = y0 + half; y < y1; y += step) {
    for (let p = y * W + x0 + half, end = y * W + x1; p < end; p += step) {
      const v = image[p];
      if (mask[p] & bad || (sciMask[p] | tmplMask[p]) & srcBits || v !== v) continue;
      out[n++] = v;
    }
  }
  return n;
}

/** How many of lo + step/2, lo + step/2 + step, … are below hi (meshSamples' positions on an axis). */
function sampleCount(lo: number, hi: number, step: number): number {
  return Math.max(0, Math.ceil((hi - lo - (step >> 1)) / step));
}

/** Adds the normal equations (g = Σ t tᵀ, b = Σ t v) of a polynomial of `degree` in (x, y) fitted to the values v. */
function normalEquations(degree: number, xs: readonly number[], ys: readonly number[], vs: readonly number[], g: Float64Array, b: Float64Array): void {
  const nT = b.length;
  const t = new Float64Array(nT);
  for (let k = 0; k < vs.length; k++) {
    polynomialTerms(degree, xs[k], ys[k], t);
    for (let a = 0; a < nT; a++) {
      b[a] += t[a] * vs[k];
      for (let c = 0; c < nT; c++) g[a * nT + c] += t[a] * t[c];
    }
  }
}

/** [Σ v², Σ (v − fit)²] of the values and the polynomial of `degree` with these coefficients. */
function sumsOfSquares(degree: number, xs: readonly number[], ys: readonly number[], vs: readonly number[], coefficients: Float64Array): [number, number] {
  const nT = coefficients.length;
  const t = new Float64Array(nT);
  let before = 0;
  let after = 0;
  for (let k = 0; k < vs.length; k++) {
    polynomialTerms(degree, xs[k], ys[k], t);
    let f = 0;
    for (let a = 0; a < nT; a++) f += coefficients[a] * t[a];
    before += vs[k] * vs[k];
    after += (vs[k] - f) ** 2;
  }
  return [before, after];
}

/**
 * χ² per pixel of the difference over the stamps of the stars the kernel was fitted on (USED),
 * those wholly on the image with no `bad` pixel and a positive variance throughout, into `chi`;
 * returns how many. A function of its own: diagnose then stays in the interpreter, and this loop
 * keeps its optimised code from visit to visit.
 */
function stampChi2(d: MaskedImage, bad: number, st: SubtractionInput['matching']['stamps'], h: number, chi: Float64Array): number {
  const { width: W, height: H, image, variance, mask } = d;
  let checked = 0;
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
    chi[checked++] = c2 / ((2 * h + 1) * (2 * h + 1));
  }
  return checked;
}

/**
 * Subtracts the re-measured background (when given) from every pixel that is not NO_DATA, and
 * measures the diagnostics in the same pass (strip by strip, rows [ey[j], ey[j + 1])).
 */
function diagnose(
  d: MaskedImage,
  sciMask: Int32Array,
  tmplMask: Int32Array,
  matching: SubtractionInput['matching'],
  cfg: SubtractionConfig,
  refit: RowPolynomial | null,
  strips: StripWorkspace,
  ey: Int32Array,
): SubtractionDiagnostics {
  const dc = cfg.diagnostics;
  const bad = dc.badBits;
  const params = { noData: MaskBit.NO_DATA, step: dc.sampleStep, bad, srcBits: dc.sourceBits, clip: dc.clipSigma };
  strips.resetSums();
  const noDataIsNaN = cfg.noDataValue === 'nan';
  for (let j = 0; j + 1 < ey.length; j++) strips.diagnose(d, sciMask, tmplMask, ey[j], ey[j + 1], refit, noDataIsNaN, params);
  const { n, sum: s, sum2: s2, outliers: out } = strips.sums();
  const mean = n > 0 ? s / n : NaN;
  const std = n > 1 ? Math.sqrt(Math.max(0, (s2 - n * mean * mean) / (n - 1))) : NaN;
  // Star stamps.
  const chi = new Float64Array(matching.stamps.x.length);
  const checked = stampChi2(d, bad, matching.stamps, matching.stampHalfWidthPx, chi);
  let within = 0;
  for (let k = 0; k < checked; k++) if (chi[k] <= dc.starMaxChi2PerPixel) within++;
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
