import { z } from 'zod';
import { InvalidInputError } from '../../../core/errors.ts';
import { MaskBit, type MaskedImage } from '../../../core/image.ts';
import { warpKernels, releaseWarpKernels } from '../../../wasm/warp.ts';
import { parseConfig } from '../../config.ts';
import { makeLanczosTable, type LanczosTable } from './lanczos.ts';
import { gridMidpointError, makeTransformGrid, skyTransform, TargetSkyCache, type TransformGrid, type WarpWcs } from './transform-grid.ts';

/**
 * Warp: resamples one or more source images (template coadd patches, each with its TAN WCS)
 * onto the pixel grid of a target (the science exposure's WCS, width, height).
 *
 * Geometry. For every target pixel (x, y) the source pixel (u, v) is target pixel → sky
 * (target WCS) → source pixel (source WCS). The exact transform is evaluated on a grid of
 * target pixels every `gridSpacingPx` and interpolated bilinearly in between (transform-grid.ts);
 * the grid is halved until its error at the cell centres, checked against the exact transform,
 * is below `gridTolerancePx` (for TAN to TAN at 0.2″ pixels the 32-pixel grid is already below
 * 1e-5 px).
 *
 * Resampling. Separable Lanczos kernel of order a (default 3: 6 × 6 taps) with normalised
 * weights taken from a table of `lutSteps` fractional offsets per pixel (lanczos.ts; the
 * offset is rounded to the nearest step, 1/1024 px by default). A target pixel is covered by a
 * source when all 2a × 2a taps lie inside it (a − 1 ≤ u < W − a, likewise v) and none of them
 * has NO_DATA; it is filled from the first source in the list that covers it (patches overlap:
 * order them by preference), and is NO_DATA when none does.
 *
 * Variance: Σ wᵢ² σᵢ² (the weights of the 2-D kernel, times the flux scale squared): the
 * standard per-pixel approximation, exact for each warped pixel on its own when the source
 * pixels are independent. Warped pixels are correlated, though (neighbours share source
 * pixels), so the variance of a sum over many warped pixels is not the sum of their variances:
 * for an aperture much larger than the kernel it is that sum times ≈ 1 / (Σw² · |det J|)
 * (`diagnostics.apertureVarianceFactor`; Σw² is 1 on the grid, 0.62 for a half-pixel shift with
 * Lanczos-3, ~0.8 averaged over random phases; measured within ~5 % for pixel-scale ratios
 * 0.85–1.5). Code that sums warped pixels (aperture photometry, PSF-matching fits, detection
 * thresholds on a convolved difference) must allow for it.
 *
 * Mask: the OR of the mask bits of the source pixels whose 2-D weight |wₓ w_y| exceeds
 * `maskWeightThreshold` (on-grid samples keep exactly their pixel's bits; a half-pixel shift
 * grows an isolated bad pixel into the 4 × 4 block minus its corners at the default 0.05).
 * NO_DATA pixels: mask NO_DATA only, image and variance NaN (`noDataValue: 'nan'`) or 0.
 *
 * Units (`conserve`). The project's templates are in nJy per pixel (templates.ts), a flux per
 * pixel: warped onto pixels of a different area, each value is multiplied by the local area
 * ratio |det J| (source pixels per target pixel), so a star's summed flux is preserved:
 * `conserve: 'flux'` (default). For images in surface-brightness units (e.g. nJy / arcsec²)
 * `conserve: 'surface-brightness'` leaves the values unscaled. Both are identical when the pixel
 * areas agree (|det J| = 1, e.g. same pixel scale and any rotation).
 *
 * Source NaNs without a NO_DATA bit propagate into the target pixels whose taps reach them.
 *
 * Computation. The per-pixel loop runs in WebAssembly (wasm/warp.ts), one source at a time: the
 * rows of the source its pixels can reach are in the module's memory (a lazy source is decoded
 * straight there, another one's rows are copied) and the target is filled band by band. Those
 * rows are worked out from the transform grid before the source's pixels are needed, leaving out
 * the grid cells whose pixels earlier sources filled: a lazy source is asked for those rows only,
 * and not loaded when it has nothing left to cover. A window whose rows would take more than
 * 16 MB there is warped in pieces (runs of grid cell rows, each loading the rows it reads). Coordinates, table rows and coverage are decided in float64 as described
 * above; the kernel sums run in float32 (SIMD), so values agree with a float64 evaluation to
 * float32 rounding.
 */
export const WarpConfig = z.object({
  /** Lanczos order a (the kernel spans 2a pixels per axis). */
  lanczosOrder: z.number().int().min(2).max(5).default(3),
  /** Fractional offsets per pixel in the kernel lookup table. */
  lutSteps: z.number().int().min(16).max(65536).default(1024),
  /** Spacing (target pixels) of the grid on which the exact WCS transform is evaluated. */
  gridSpacingPx: z.number().int().min(2).max(4096).default(32),
  /** The grid is refined (spacing halved, down to 2) until its error is below this (source pixels). */
  gridTolerancePx: z.number().positive().default(0.001),
  /** 'flux': values are per pixel (nJy/pixel) and are scaled by the pixel-area ratio; 'surface-brightness': unscaled. */
  conserve: z.enum(['flux', 'surface-brightness']).default('flux'),
  /** Image and variance of NO_DATA pixels. */
  noDataValue: z.enum(['nan', 'zero']).default('nan'),
  /** A source pixel's mask bits propagate when its 2-D kernel weight |wx·wy| exceeds this. */
  maskWeightThreshold: z.number().min(0).max(1).default(0.05),
});
export type WarpConfig = z.output<typeof WarpConfig>;
export type WarpConfigInput = z.input<typeof WarpConfig>;

export function makeWarpConfig(input: WarpConfigInput = {}): WarpConfig {
  return parseConfig(WarpConfig, input, 'warp');
}

export type { SkyTransform, WarpWcs } from './transform-grid.ts';

/** The pixel grid to warp onto. */
export interface WarpTarget {
  /** A TAN WCS, or a SkyTransform (pixelToSky / skyToPixel) for a distorted one. */
  readonly wcs: WarpWcs;
  readonly width: number;
  readonly height: number;
}

/** An image to warp from (e.g. one skymap patch of a template coadd). */
export interface WarpSource {
  readonly image: MaskedImage;
  readonly wcs: WarpWcs;
}

/** Source rows y0 … y1 − 1. */
export interface WarpSourceRows {
  readonly y0: number;
  readonly y1: number;
}

/**
 * A source decoded only when its turn comes and released after it (e.g. a template patch read
 * from its file): the warp then holds one source's pixels at a time instead of all of them.
 */
export interface LazyWarpSource {
  readonly wcs: WarpWcs;
  readonly width: number;
  readonly height: number;
  /**
   * The source's planes, of its full size. `rows`: the warp reads only rows y0 … y1 − 1 of them
   * (worked out from the transform grid before the load), so only those need be decoded: the
   * other rows are unspecified (any values). Not given: every row is read. `into`: planes of the
   * source's size (in the warp kernel's memory) to decode into, so that the pixels need not be
   * copied there; planes returned elsewhere are copied. A source that can cover none of the
   * target pixels still uncovered is not loaded.
   */
  load(rows?: WarpSourceRows, into?: MaskedImage): MaskedImage;
}

export interface WarpInput {
  readonly target: WarpTarget;
  /** In order of preference: each target pixel comes from the first source covering it. */
  readonly sources: ReadonlyArray<WarpSource | LazyWarpSource>;
  readonly config?: WarpConfig;
  /**
   * Planes of the target's size to warp into (their contents are overwritten), e.g. planes the
   * caller has no more use for; new ones when not given.
   */
  readonly planes?: MaskedImage;
  /**
   * A factor on every warped value, and its square on the variance (a change of units, e.g.
   * nJy to electrons), applied with the flux scale: no pass of its own. Default 1.
   */
  readonly valueScale?: number;
}

export interface WarpSourceDiagnostics {
  /** Target pixels filled from this source. */
  readonly pixels: number;
  /** Transform grid spacing used (after refinement) and its node count. */
  readonly gridSpacingPx: number;
  readonly gridNodes: number;
  /** Largest grid interpolation error at the cell centres that reach the source (source pixels). */
  readonly gridMaxErrorPx: number;
}

export interface WarpDiagnostics {
  readonly sources: readonly WarpSourceDiagnostics[];
  readonly coveredPixels: number;
  readonly noDataPixels: number;
  /** Covered pixels with a propagated mask bit. */
  readonly maskedPixels: number;
  /** Mean over covered pixels of |det J|: source pixels per target pixel (the flux scale in 'flux' mode). NaN when none is covered. */
  readonly meanAreaRatio: number;
  /** Mean over covered pixels of Σw² of the 2-D kernel (see the correlated-noise note). NaN when none is covered. */
  readonly meanKernelSumSq: number;
  /**
   * 1 / (meanKernelSumSq · meanAreaRatio): about how much the variance of a sum over a large
   * aperture of warped pixels exceeds the sum of their variance-plane values. NaN when none is covered.
   */
  readonly apertureVarianceFactor: number;
}

export interface WarpResult {
  /** The target-sized warped image. */
  readonly warped: MaskedImage;
  /** Fraction of target pixels covered by some source. */
  readonly coveredFraction: number;
  readonly diagnostics: WarpDiagnostics;
}

function checkSize(i: number, width: number, height: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new InvalidInputError(`warp: source ${i} size must be positive integers, got ${width}x${height}`);
  }
}

function checkPlanes(i: number, m: MaskedImage): void {
  checkSize(i, m.width, m.height);
  const n = m.width * m.height;
  if (m.image.length !== n || m.mask.length !== n || m.variance.length !== n) {
    throw new InvalidInputError(`warp: source ${i} planes do not match its size ${m.width}x${m.height}`);
  }
}

function isLazy(s: WarpSource | LazyWarpSource): s is LazyWarpSource {
  return typeof (s as Partial<LazyWarpSource>).load === 'function';
}

function checkInput(input: WarpInput): void {
  const { width, height } = input.target;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new InvalidInputError(`warp: target size must be positive integers, got ${width}x${height}`);
  }
  skyTransform(input.target.wcs);
  input.sources.forEach((s, i) => {
    skyTransform(s.wcs);
    if (isLazy(s)) checkSize(i, s.width, s.height);
    else checkPlanes(i, s.image);
  });
}

/**
 * Refines the grid until its midpoint error is within tolerance (or the spacing reaches 2). The
 * target's sky positions come from `sky`, shared by all sources.
 */
function transformGrid(target: WarpTarget, wcs: WarpWcs, sw: number, sh: number, cfg: WarpConfig, sky: TargetSkyCache): { grid: TransformGrid; error: number } {
  let spacing = cfg.gridSpacingPx;
  while (true) {
    const grid = makeTransformGrid(target.wcs, target.width, target.height, wcs, spacing, { targetSky: sky, sourceWidth: sw, sourceHeight: sh });
    const error = gridMidpointError(grid, target.wcs, wcs, sw, sh, sky);
    if (error <= cfg.gridTolerancePx || spacing <= 2) return { grid, error };
    spacing = Math.max(2, Math.floor(spacing / 2));
  }
}

/**
 * The kernel table as the WebAssembly kernel reads it (float32): per row, for each tap t the
 * group (w_t, w_t, w_t², w_t²) (`y`); per four taps their weights then their squares, and for
 * n = 6, 10 the last two taps' (w, w, w², w²) (`x`).
 */
interface KernelTable32 {
  readonly y: Float32Array;
  readonly x: Float32Array;
}

function kernelTable32(tab: LanczosTable): KernelTable32 {
  const n = tab.taps;
  const rows = tab.steps + 1;
  const quads = n >> 2;
  const y = new Float32Array(rows * n * 4);
  const x = new Float32Array(rows * n * 2);
  for (let k = 0; k < rows; k++) {
    const xr = k * n * 2;
    for (let t = 0; t < n; t++) {
      const w = tab.weights[k * n + t];
      const w2 = tab.weightsSq[k * n + t];
      const o = (k * n + t) * 4;
      y[o] = y[o + 1] = w;
      y[o + 2] = y[o + 3] = w2;
      // Four taps of the image, then their squares for the variance; the last two (n = 6, 10)
      // of both together.
      const q = t >> 2;
      if (q < quads) {
        x[xr + 8 * q + (t & 3)] = w;
        x[xr + 8 * q + 4 + (t & 3)] = w2;
      } else {
        x[xr + 8 * quads + (t & 1)] = w;
        x[xr + 8 * quads + 2 + (t & 1)] = w2;
      }
    }
  }
  return { y, x };
}

/** Per target column: its position within its grid cell, 0 … 1. */
function columnPositions(grid: TransformGrid, targetWidth: number): Float64Array {
  const { nx, nodeX, spacing } = grid;
  const colT = new Float64Array(targetWidth);
  for (let x = 0; x < targetWidth; x++) {
    const i = Math.min(nx - 2, Math.floor(x / spacing));
    colT[x] = (x - nodeX[i]) / (nodeX[i + 1] - nodeX[i]);
  }
  return colT;
}

/** What a source can cover: its grid cells, the target rows holding them, the source pixels they read. */
interface Reach {
  /** Per cell (row-major, nx − 1 per row): 1 when some pixel of it may be covered. */
  readonly cellOk: Uint8Array;
  /** Target rows yStart … yEnd − 1 hold all those cells. */
  readonly yStart: number;
  readonly yEnd: number;
  /** Source columns col0 … col1 − 1 of rows row0 … row1 − 1 hold every tap of every pixel those cells may cover. */
  readonly col0: number;
  readonly col1: number;
  readonly row0: number;
  readonly row1: number;
  /** floor(u) and floor(v) of the pixels covered: uMin … uMax, vMin … vMax (all taps inside the source and the window). */
  readonly uMin: number;
  readonly uMax: number;
  readonly vMin: number;
  readonly vMax: number;
}

/** Whether bits from … to − 1 of `bits` (bit k & 7 of byte k >> 3) are all set. */
function allSet(bits: Uint8Array, from: number, to: number): boolean {
  if (to <= from) return true;
  const b0 = from >>> 3;
  const b1 = (to - 1) >>> 3;
  const head = (0xff << (from & 7)) & 0xff;
  const tail = 0xff >>> (7 - ((to - 1) & 7));
  if (b0 === b1) return (bits[b0] & head & tail) === (head & tail);
  if ((bits[b0] & head) !== head || (bits[b1] & tail) !== tail) return false;
  for (let b = b0 + 1; b < b1; b++) if (bits[b] !== 0xff) return false;
  return true;
}

/** Whether every target pixel of cell (i, j) has its bit set in `cover` (W target columns). */
function cellCovered(grid: TransformGrid, i: number, j: number, cover: Uint8Array, W: number): boolean {
  const { nx, ny, spacing } = grid;
  const x0 = i * spacing;
  const x1 = i === nx - 2 ? W : (i + 1) * spacing;
  const y1 = j === ny - 2 ? grid.height : (j + 1) * spacing;
  for (let y = j * spacing; y < y1; y++) if (!allSet(cover, y * W + x0, y * W + x1)) return false;
  return true;
}

/**
 * The cells of the grid some pixel of which may be covered by a W × H source (a − 1 ≤ floor(u)
 * ≤ W − 1 − a, likewise v), null when none. A pixel's (u, v) lies within its cell's corner
 * values (bilinear interpolation) up to rounding, so a cell is kept when its corners' bounding
 * box comes within a pixel of that range; cells with a NaN corner have NaN pixels only. With
 * `cover` (the target pixels filled by earlier sources), cells whose every pixel is filled are
 * left out: the source has nothing to give them.
 */
function sourceReach(grid: TransformGrid, W: number, H: number, a: number, cover: Uint8Array | null, cellRows: { j0: number; j1: number } | null = null): Reach | null {
  const { nx, ny, u, v, spacing } = grid;
  const lo = a - 1;
  const hiX = W - 1 - a;
  const hiY = H - 1 - a;
  if (hiX < lo || hiY < lo) return null;
  const cellOk = new Uint8Array((nx - 1) * (ny - 1));
  let uLow = Infinity;
  let uHigh = -Infinity;
  let vLow = Infinity;
  let vHigh = -Infinity;
  let jMin = -1;
  let jMax = -1;
  for (let j = cellRows ? cellRows.j0 : 0; j < (cellRows ? cellRows.j1 : ny - 1); j++) {
    for (let i = 0; i < nx - 1; i++) {
      const k = j * nx + i;
      const uMin = Math.min(u[k], u[k + 1], u[k + nx], u[k + nx + 1]);
      const uMax = Math.max(u[k], u[k + 1], u[k + nx], u[k + nx + 1]);
      const vMin = Math.min(v[k], v[k + 1], v[k + nx], v[k + nx + 1]);
      const vMax = Math.max(v[k], v[k + 1], v[k + nx], v[k + nx + 1]);
      // NaN propagates through min / max and fails every comparison.
      if (!(uMax >= lo - 1 && uMin < hiX + 2 && vMax >= lo - 1 && vMin < hiY + 2)) continue;
      if (cover !== null && cellCovered(grid, i, j, cover, grid.width)) continue;
      cellOk[j * (nx - 1) + i] = 1;
      if (jMin < 0) jMin = j;
      jMax = j;
      uLow = Math.min(uLow, uMin);
      uHigh = Math.max(uHigh, uMax);
      vLow = Math.min(vLow, vMin);
      vHigh = Math.max(vHigh, vMax);
    }
  }
  if (jMin < 0) return null;
  // floor(u) of a covered pixel is within floor(uLow) − 1 … floor(uHigh) + 1; its taps reach a − 1 before, a after.
  const col0 = Math.max(0, Math.floor(uLow) - a);
  const col1 = Math.min(W, Math.floor(uHigh) + a + 2);
  const row0 = Math.max(0, Math.floor(vLow) - a);
  const row1 = Math.min(H, Math.floor(vHigh) + a + 2);
  const uMin = Math.max(a - 1, col0 + a - 1);
  const uMax = Math.min(W - 1 - a, col1 - 1 - a);
  const vMin = Math.max(a - 1, row0 + a - 1);
  const vMax = Math.min(H - 1 - a, row1 - 1 - a);
  if (uMax < uMin || vMax < vMin) return null;
  return { cellOk, yStart: jMin * spacing, yEnd: jMax === ny - 2 ? grid.height : (jMax + 1) * spacing, col0, col1, row0, row1, uMin, uMax, vMin, vMax };
}

/** Target rows per band: the kernel runs band by band, cell column by cell column, for cache locality. */
const BAND_ROWS = 32;
/** The most memory a source's rows take in the kernel's memory at a time (image, variance, mask, flags). */
const WINDOW_BYTES = 16 << 20;
const BYTES_PER_SOURCE_PIXEL = 13;

/**
 * A source's reach in pieces whose source rows fit WINDOW_BYTES: runs of the grid's cell rows,
 * each with the window its pixels read (sourceReach of those cell rows). One piece when the whole
 * window fits. Each target pixel is warped from the same source pixels either way.
 */
function windowParts(reach: Reach, grid: TransformGrid, W: number, H: number, a: number, cover: Uint8Array | null): Reach[] {
  const bytes = (reach.row1 - reach.row0) * W * BYTES_PER_SOURCE_PIXEL;
  const pieces = Math.ceil(bytes / WINDOW_BYTES);
  if (pieces <= 1) return [reach];
  const first = reach.yStart / grid.spacing;
  const last = reach.yEnd === grid.height ? grid.ny - 2 : reach.yEnd / grid.spacing - 1;
  const cells = last - first + 1;
  const parts: Reach[] = [];
  for (let p = 0; p < pieces; p++) {
    const j0 = first + Math.floor((p * cells) / pieces);
    const j1 = first + Math.floor(((p + 1) * cells) / pieces);
    if (j1 <= j0) continue;
    const part = sourceReach(grid, W, H, a, cover, { j0, j1 });
    if (part) parts.push(part);
  }
  return parts;
}

/** A source's contribution to the diagnostics. */
interface SourceSums {
  filled: number;
  sumJac: number;
  sumW2: number;
  masked: number;
}

/**
 * The warp kernel's memory laid out for one source: the tables, grid, coverage and band buffers,
 * then the rows of the source's planes the warp reads (image, variance, mask, footprint flags),
 * each plane given as a view of the source's full size whose rows row0 … row1 − 1 are those: its
 * other rows lie over neighbouring memory (and address space left unused for them before and
 * after), which nothing writes through it (the source is loaded and copied by rows), so that
 * the memory used is that of the rows read, whichever rows they are.
 */
function layoutSource(Ws: number, Hs: number, reach: Reach, grid: TransformGrid, tab: LanczosTable, t32: KernelTable32, W: number, coverBytes: number) {
  const { arena } = warpKernels();
  const n = tab.taps;
  const tableRows = tab.steps + 1;
  const { nx, ny } = grid;
  const Wc = reach.col1 - reach.col0;
  const rows = reach.row1 - reach.row0;
  const R = rows * Ws;
  const gap = 4 * Ws * Hs;
  const slots = arena.layout([
    ['f32', t32.y.length],
    ['f32', t32.x.length],
    ['f64', tableRows * n],
    ['f64', tableRows],
    ['f64', tableRows],
    ['f64', nx * ny],
    ['f64', nx * ny],
    ['f64', nx * ny],
    ['f64', ny],
    ['f64', W],
    ['u8', reach.cellOk.length],
    ['u8', coverBytes],
    ['f32', BAND_ROWS * W],
    ['f32', BAND_ROWS * W],
    ['i32', BAND_ROWS * W],
    ['i32', BAND_ROWS * 3],
    ['f64', 4],
    ['i32', 4 * W],
    ['f64', W],
    ['u8', tab.order * Wc],
    ['u8', rows],
    ['u8', gap],
    ['f32', R],
    ['f32', R],
    ['i32', R],
    ['u8', R],
    ['u8', gap],
  ]);
  const [ty, tx, wAbs, maxAbs, sumSq, gu, gv, gj, nodeY, cT, cells, cov, bImg, bVar, bMask, bRows, stats, jobs, jobJac, ring, rowAny, , img, vari, msk, flg] = slots;
  const buffer = img.view.buffer;
  // Where the planes' pixel (0, 0) would lie: row row0 is the first of the rows laid out.
  const full = (ptr: number, bytes: number): number => ptr - bytes * reach.row0 * Ws;
  const image = full(img.ptr, 4);
  const variance = full(vari.ptr, 4);
  const mask = full(msk.ptr, 4);
  const flags = full(flg.ptr, 1);
  const planes: MaskedImage = {
    width: Ws,
    height: Hs,
    image: new Float32Array(buffer, image, Ws * Hs),
    variance: new Float32Array(buffer, variance, Ws * Hs),
    mask: new Int32Array(buffer, mask, Ws * Hs),
  };
  return { ty, tx, wAbs, maxAbs, sumSq, gu, gv, gj, nodeY, cT, cells, cov, bImg, bVar, bMask, bRows, stats, jobs, jobJac, ring, rowAny, image, variance, mask, flags, planes };
}
type SourceLayout = ReturnType<typeof layoutSource>;
/** Whether two arrays are the same memory. */
function samePlane(a: ArrayLike<number> & { buffer: ArrayBufferLike; byteOffset: number }, b: { buffer: ArrayBufferLike; byteOffset: number; length: number }): boolean {
  return a.buffer === b.buffer && a.byteOffset === b.byteOffset && a.length === b.length;
}

/**
 * Fills the pixels of `out` that no earlier source filled (their bit in `cover` is clear) and
 * that the source covers, and sets their bits; `reach`: what the source can cover
 * (sourceReach), it is read in its window only, from its planes in the module's memory (`ws`,
 * rows reach.row0 … row1 − 1 written). The per-pixel loop runs in WebAssembly (wasm/warp.ts):
 * the grid, the kernel table and the coverage bits are copied into the module's memory (and the
 * footprint flags made of the mask when the window has mask bits), the target is warped band by
 * band into band buffers there, and each band row's newly covered pixels are copied out.
 */
function warpSource(
  ws: SourceLayout,
  Ws: number,
  reach: Reach,
  grid: TransformGrid,
  tab: LanczosTable,
  t32: KernelTable32,
  cfg: WarpConfig,
  out: MaskedImage,
  cover: Uint8Array,
  valueScale: number,
): SourceSums {
  const sums: SourceSums = { filled: 0, sumJac: 0, sumW2: 0, masked: 0 };
  const a = tab.order;
  const n = tab.taps;
  const { cellOk, col0, col1, row0, row1, yStart, yEnd, uMin, uMax, vMin, vMax } = reach;
  const W = out.width;
  const Wc = col1 - col0;
  const rows = row1 - row0;
  const { exports: k } = warpKernels();
  const { ty, tx, wAbs, maxAbs, sumSq, gu, gv, gj, nodeY, cT, cells, cov, bImg, bVar, bMask, bRows, stats, jobs, jobJac, ring, rowAny, image, variance, mask, flags } = ws;
  // The window's first pixel in each plane.
  const at = row0 * Ws + col0;
  const hasFlags = k.footprintFlags(mask + 4 * at, Ws, Wc, rows, a, MaskBit.NO_DATA, flags + at, ring.ptr, rowAny.ptr) !== 0;
  ty.view.set(t32.y);
  tx.view.set(t32.x);
  wAbs.view.set(tab.weightsAbs);
  maxAbs.view.set(tab.maxAbs);
  sumSq.view.set(tab.sumSq);
  gu.view.set(grid.u);
  gv.view.set(grid.v);
  gj.view.set(grid.jac);
  nodeY.view.set(grid.nodeY);
  cT.view.set(columnPositions(grid, W));
  cells.view.set(cellOk);
  // The coverage bits of the target rows warped (the kernel reads and sets no others).
  const c0 = Math.floor((yStart * W) / 8);
  const c1 = Math.min(cover.length, Math.ceil((yEnd * W) / 8));
  cov.view.set(cover.subarray(c0, c1), c0);
  k.setTable(ty.ptr, tx.ptr, wAbs.ptr, maxAbs.ptr, sumSq.ptr, n, tab.steps);
  k.setSource(image + 4 * at, variance + 4 * at, mask + 4 * at, hasFlags ? flags + at : 0, Ws, col0, row0, uMin, uMax, vMin, vMax);
  k.setGrid(gu.ptr, gv.ptr, gj.ptr, nodeY.ptr, cT.ptr, cells.ptr, grid.nx, grid.ny, grid.spacing);
  k.setTarget(W, cov.ptr, bImg.ptr, bVar.ptr, bMask.ptr, bRows.ptr, stats.ptr, jobs.ptr, jobJac.ptr, cfg.conserve === 'flux', cfg.maskWeightThreshold, valueScale);

  const { image: oImg, variance: oVar, mask: oMask } = out;
  const bi = bImg.view;
  const bv = bVar.view;
  const bm = bMask.view;
  const info = bRows.view;
  const bits = cov.view;
  for (let y0 = yStart; y0 < yEnd; y0 += BAND_ROWS) {
    const y1 = Math.min(yEnd, y0 + BAND_ROWS);
    k.warpRows(y0, y1);
    sums.filled += stats.view[0];
    sums.sumJac += stats.view[1];
    sums.sumW2 += stats.view[2];
    sums.masked += stats.view[3];
    for (let r = 0; r < y1 - y0; r++) {
      const count = info[3 * r + 2];
      if (count === 0) continue;
      const x0 = info[3 * r];
      const x1 = info[3 * r + 1] + 1;
      const from = r * W;
      const to = (y0 + r) * W;
      if (count === x1 - x0) {
        oImg.set(bi.subarray(from + x0, from + x1), to + x0);
        oVar.set(bv.subarray(from + x0, from + x1), to + x0);
        oMask.set(bm.subarray(from + x0, from + x1), to + x0);
        continue;
      }
      // Pixels filled by an earlier source, or not covered, lie in between: copy those whose
      // coverage bit this source set.
      for (let x = x0; x < x1; x++) {
        const t = to + x;
        if ((((bits[t >>> 3] & ~cover[t >>> 3]) >>> (t & 7)) & 1) === 0) continue;
        oImg[t] = bi[from + x];
        oVar[t] = bv[from + x];
        oMask[t] = bm[from + x];
      }
    }
  }
  cover.set(bits.subarray(c0, c1), c0);
  return sums;
}

/** Marks the pixels whose coverage bit is clear NO_DATA: mask NO_DATA, image and variance `fill`. */
function fillUncovered(out: MaskedImage, cover: Uint8Array, fill: number): void {
  const n = out.width * out.height;
  const { image, variance, mask } = out;
  const run = (s: number, e: number): void => {
    image.fill(fill, s, e);
    variance.fill(fill, s, e);
    mask.fill(MaskBit.NO_DATA, s, e);
  };
  let start = -1; // first pixel of the current run of uncovered ones
  for (let b = 0; b < cover.length; b++) {
    const byte = cover[b];
    if (byte === 0xff) {
      if (start >= 0) run(start, 8 * b);
      start = -1;
      continue;
    }
    if (byte === 0) {
      if (start < 0) start = 8 * b;
      continue;
    }
    for (let i = 0; i < 8; i++) {
      const p = 8 * b + i;
      if ((byte >>> i) & 1) {
        if (start >= 0) run(start, p);
        start = -1;
      } else if (start < 0) start = p;
    }
  }
  if (start >= 0 && start < n) run(start, n);
}

export function runWarp(input: WarpInput): WarpResult {
  checkInput(input);
  const cfg = input.config ?? makeWarpConfig();
  const valueScale = input.valueScale ?? 1;
  if (!(Number.isFinite(valueScale) && valueScale > 0)) throw new InvalidInputError(`warp: valueScale must be a positive number, got ${input.valueScale}`);
  const { width: W, height: H } = input.target;
  const n = W * H;
  const tab = makeLanczosTable(cfg.lanczosOrder, cfg.lutSteps);
  const t32 = kernelTable32(tab);
  const sky = new TargetSkyCache(input.target.wcs, W, H);

  // Each source in turn fills the pixels it covers and no earlier source did; a lazy source is
  // decoded for its turn only and dropped after it. The pixels left are NO_DATA.
  const planes = input.planes;
  if (planes && (planes.width !== W || planes.height !== H || planes.image.length !== n || planes.variance.length !== n || planes.mask.length !== n)) {
    throw new InvalidInputError(`warp: the planes given are not ${W}x${H}`);
  }
  const image = planes ? planes.image : new Float32Array(n);
  const variance = planes ? planes.variance : new Float32Array(n);
  const mask = planes ? planes.mask : new Int32Array(n);
  const warped: MaskedImage = { width: W, height: H, image, mask, variance };
  // Bit k & 7 of byte k >> 3: target pixel k is filled.
  const cover = new Uint8Array(Math.ceil(n / 8));
  const done: Array<{ grid: TransformGrid; error: number; sums: SourceSums }> = [];
  input.sources.forEach((source, i) => {
    const lazy = isLazy(source);
    const sw = lazy ? source.width : source.image.width;
    const sh = lazy ? source.height : source.image.height;
    const { grid, error } = transformGrid(input.target, source.wcs, sw, sh, cfg, sky);
    // What the source can give to pixels no earlier source filled: nothing (it is not loaded), or
    // the pixels of a window, whose rows alone a lazy source decodes.
    const reach = sourceReach(grid, sw, sh, tab.order, i > 0 ? cover : null);
    const sums: SourceSums = { filled: 0, sumJac: 0, sumW2: 0, masked: 0 };
    // The window's rows are warped in as many pieces (runs of grid cell rows, each with the source
    // rows it reads) as keep them within WINDOW_BYTES of the kernel's memory.
    for (const part of reach ? windowParts(reach, grid, sw, sh, tab.order, i > 0 ? cover : null) : []) {
      // The source's planes in the kernel's memory: a lazy source is decoded there, the rows the
      // warp reads of any other are copied there.
      const ws = layoutSource(sw, sh, part, grid, tab, t32, W, cover.length);
      const into = ws.planes;
      let img: MaskedImage | null = lazy ? source.load({ y0: part.row0, y1: part.row1 }, into) : source.image;
      if (lazy) {
        checkPlanes(i, img);
        if (img.width !== source.width || img.height !== source.height) {
          throw new InvalidInputError(`warp: source ${i} loaded as ${img.width}x${img.height}, announced as ${source.width}x${source.height}`);
        }
      }
      const a0 = part.row0 * sw;
      const a1 = part.row1 * sw;
      if (!samePlane(img.image, into.image)) into.image.set(img.image.subarray(a0, a1), a0);
      if (!samePlane(img.variance, into.variance)) into.variance.set(img.variance.subarray(a0, a1), a0);
      if (!samePlane(img.mask, into.mask)) into.mask.set(img.mask.subarray(a0, a1), a0);
      img = null;
      const got = warpSource(ws, sw, part, grid, tab, t32, cfg, warped, cover, valueScale);
      sums.filled += got.filled;
      sums.sumJac += got.sumJac;
      sums.sumW2 += got.sumW2;
      sums.masked += got.masked;
    }
    done.push({ grid, error, sums });
  });
  // The kernel's memory holds the largest patch window of this warp (up to WINDOW_BYTES and the
  // target's band buffers): it is let go rather than kept through the stages that follow, which
  // need the memory more. An ordinary collection does not always reclaim it at once (a forced one
  // would, at the cost of the optimised code: core/memory.ts), so windows are kept small.
  releaseWarpKernels();
  fillUncovered(warped, cover, cfg.noDataValue === 'nan' ? NaN : 0);

  let covered = 0;
  let sumJac = 0;
  let sumW2 = 0;
  let masked = 0;
  for (const { sums } of done) {
    covered += sums.filled;
    sumJac += sums.sumJac;
    sumW2 += sums.sumW2;
    masked += sums.masked;
  }
  return {
    warped,
    coveredFraction: covered / n,
    diagnostics: {
      sources: done.map(({ grid, error, sums }) => ({ pixels: sums.filled, gridSpacingPx: grid.spacing, gridNodes: grid.nx * grid.ny, gridMaxErrorPx: error })),
      coveredPixels: covered,
      noDataPixels: n - covered,
      maskedPixels: masked,
      meanAreaRatio: covered > 0 ? sumJac / covered : NaN,
      meanKernelSumSq: covered > 0 ? sumW2 / covered : NaN,
      apertureVarianceFactor: covered > 0 ? (covered * covered) / (sumW2 * sumJac) : NaN,
    },
  };
}
