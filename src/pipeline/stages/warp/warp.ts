import { z } from 'zod';
import { InvalidInputError } from '../../../core/errors.ts';
import { MaskBit, type MaskedImage } from '../../../core/image.ts';
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

/**
 * A source decoded only when its turn comes and released after it (e.g. a template patch read
 * from its file): the warp then holds one source's pixels at a time instead of all of them.
 */
export interface LazyWarpSource {
  readonly wcs: WarpWcs;
  readonly width: number;
  readonly height: number;
  load(): MaskedImage;
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
 * For each pixel (x, y): the OR of the mask over the kernel footprint anchored there,
 * x − a + 1 … x + a by y − a + 1 … y + a (clipped). null when the mask is all zero. Rows
 * without any mask bit are skipped, so a sparse mask costs little more than one pass.
 */
function footprintMask(mask: Int32Array, W: number, H: number, a: number): Int32Array | null {
  const rowAny = new Uint8Array(H);
  let any = false;
  for (let y = 0; y < H; y++) {
    let m = 0;
    for (let k = y * W, end = k + W; k < end; k++) m |= mask[k];
    if (m !== 0) {
      rowAny[y] = 1;
      any = true;
    }
  }
  if (!any) return null;
  // Horizontal OR over x − a + 1 … x + a, on the rows holding bits.
  const tmp = new Int32Array(W * H);
  for (let y = 0; y < H; y++) {
    if (rowAny[y] === 0) continue;
    const base = y * W;
    for (let x = 0; x < W; x++) {
      const m = mask[base + x];
      if (m === 0) continue;
      // pixel x lies in the footprints anchored at x − a … x + a − 1
      const x0 = Math.max(0, x - a);
      const x1 = Math.min(W - 1, x + a - 1);
      for (let i = base + x0, end = base + x1; i <= end; i++) tmp[i] |= m;
    }
  }
  // Vertical: row y ORs the horizontal rows y − a + 1 … y + a that hold bits.
  const out = new Int32Array(W * H);
  for (let y = 0; y < H; y++) {
    const base = y * W;
    for (let j = Math.max(0, y - a + 1), j1 = Math.min(H - 1, y + a); j <= j1; j++) {
      if (rowAny[j] === 0) continue;
      const src = j * W;
      for (let x = 0; x < W; x++) out[base + x] |= tmp[src + x];
    }
  }
  return out;
}

/**
 * Refines the grid until its midpoint error is within tolerance (or the spacing reaches 2). The
 * target's sky positions come from `sky`, shared by all sources.
 */
function transformGrid(target: WarpTarget, src: WarpSource, cfg: WarpConfig, sky: TargetSkyCache): { grid: TransformGrid; error: number } {
  let spacing = cfg.gridSpacingPx;
  const { width: sw, height: sh } = src.image;
  while (true) {
    const grid = makeTransformGrid(target.wcs, target.width, target.height, src.wcs, spacing, { targetSky: sky, sourceWidth: sw, sourceHeight: sh });
    const error = gridMidpointError(grid, target.wcs, src.wcs, sw, sh, sky);
    if (error <= cfg.gridTolerancePx || spacing <= 2) return { grid, error };
    spacing = Math.max(2, Math.floor(spacing / 2));
  }
}

/** A source prepared for the row loop, with its running sums. */
interface Prepared {
  readonly width: number;
  readonly height: number;
  readonly image: Float32Array;
  readonly variance: Float32Array;
  readonly mask: Int32Array;
  /** OR of the mask over the kernel footprint anchored at each pixel (null: mask all zero). */
  readonly foot: Int32Array | null;
  readonly grid: TransformGrid;
  /** Per target column: its position within its grid cell, 0 … 1. */
  readonly colT: Float64Array;
  filled: number;
  sumJac: number;
  sumW2: number;
  masked: number;
}

function prepare(src: WarpSource, grid: TransformGrid, order: number, targetWidth: number): Prepared {
  const { width, height, image, variance, mask } = src.image;
  const { nx, nodeX, spacing } = grid;
  const colT = new Float64Array(targetWidth);
  for (let x = 0; x < targetWidth; x++) {
    const i = Math.min(nx - 2, Math.floor(x / spacing));
    colT[x] = (x - nodeX[i]) / (nodeX[i + 1] - nodeX[i]);
  }
  return {
    width,
    height,
    image,
    variance,
    mask,
    foot: footprintMask(mask, width, height, order),
    grid,
    colT,
    filled: 0,
    sumJac: 0,
    sumW2: 0,
    masked: 0,
  };
}

/** Target rows per band: the sources are run band by band, cell by cell, for cache locality. */
const BAND_ROWS = 32;

/**
 * Fills the pixels of target rows y0 … y1 − 1 that are still NO_DATA and that `s` covers,
 * grid cell column by column (a band-high, cell-wide tile of the target reads a small patch of
 * the source). The kernel sums are written out for a = 3 (the default) and as loops otherwise.
 */
function warpBand(s: Prepared, tab: LanczosTable, cfg: WarpConfig, y0: number, y1: number, out: MaskedImage): void {
  const { width: Wt, height: Ht, image: sImg, variance: sVar, mask: sMask, foot, colT } = s;
  const a = tab.order;
  const n = tab.taps;
  const steps = tab.steps;
  // floor(u) must lie in [lo, hiX] (floor(v) in [lo, hiY]) for all taps to be inside the source.
  const lo = a - 1;
  const hiX = Wt - 1 - a;
  const hiY = Ht - 1 - a;
  if (hiX < lo || hiY < lo) return;
  const { nx, ny, nodeY, spacing } = s.grid;
  const gu = s.grid.u;
  const gv = s.grid.v;
  const gj = s.grid.jac;
  const W = out.width;
  const flux = cfg.conserve === 'flux';
  const thr = cfg.maskWeightThreshold;
  const wts = tab.weights;
  const wSq = tab.weightsSq;
  const wAbs = tab.weightsAbs;
  const sumSq = tab.sumSq;
  const maxAbs = tab.maxAbs;
  const oImg = out.image;
  const oVar = out.variance;
  const oMask = out.mask;
  const NO_DATA = MaskBit.NO_DATA;
  const back = lo * Wt + lo;
  const three = a === 3;

  let filled = 0;
  let sumJac = 0;
  let sumW2 = 0;
  let masked = 0;
  for (let i = 0; i < nx - 1; i++) {
    const xStart = i * spacing;
    const xEnd = i === nx - 2 ? W : (i + 1) * spacing;
    for (let y = y0; y < y1; y++) {
      const j = Math.min(ny - 2, Math.floor(y / spacing));
      const ty = (y - nodeY[j]) / (nodeY[j + 1] - nodeY[j]);
      const k0 = j * nx + i;
      const k1 = k0 + nx;
      const ua = gu[k0] + (gu[k1] - gu[k0]) * ty;
      const ub = gu[k0 + 1] + (gu[k1 + 1] - gu[k0 + 1]) * ty;
      const va = gv[k0] + (gv[k1] - gv[k0]) * ty;
      const vb = gv[k0 + 1] + (gv[k1 + 1] - gv[k0 + 1]) * ty;
      // u and v are linear in x along the row within a cell: skip segments wholly off the source (and NaN).
      if (!(Math.max(ua, ub) >= lo && Math.min(ua, ub) < hiX + 1 && Math.max(va, vb) >= lo && Math.min(va, vb) < hiY + 1)) continue;
      const du = ub - ua;
      const dv = vb - va;
      const ja = gj[k0] + (gj[k1] - gj[k0]) * ty;
      const dj = gj[k0 + 1] + (gj[k1 + 1] - gj[k0 + 1]) * ty - ja;
      const rowBase = y * W;
      for (let x = xStart; x < xEnd; x++) {
        const k = rowBase + x;
        if ((oMask[k] & NO_DATA) === 0) continue; // filled by an earlier source
        const t = colT[x];
        const u = ua + du * t;
        const v = va + dv * t;
        const fu = Math.floor(u);
        const fv = Math.floor(v);
        if (!(fu >= lo && fu <= hiX && fv >= lo && fv <= hiY)) continue;
        const centre = (fv * Wt + fu) | 0;
        const fm = foot === null ? 0 : foot[centre];
        if ((fm & NO_DATA) !== 0) continue;
        const kx = ((u - fu) * steps + 0.5) | 0;
        const ky = ((v - fv) * steps + 0.5) | 0;
        const wxo = kx * n;
        const wyo = ky * n;
        let p = centre - back;
        let sI = 0;
        let sV = 0;
        if (three) {
          const w0 = wts[wxo];
          const w1 = wts[wxo + 1];
          const w2 = wts[wxo + 2];
          const w3 = wts[wxo + 3];
          const w4 = wts[wxo + 4];
          const w5 = wts[wxo + 5];
          const q0 = wSq[wxo];
          const q1 = wSq[wxo + 1];
          const q2 = wSq[wxo + 2];
          const q3 = wSq[wxo + 3];
          const q4 = wSq[wxo + 4];
          const q5 = wSq[wxo + 5];
          for (let tj = 0; tj < 6; tj++, p += Wt) {
            sI += wts[wyo + tj] * (w0 * sImg[p] + w1 * sImg[p + 1] + w2 * sImg[p + 2] + w3 * sImg[p + 3] + w4 * sImg[p + 4] + w5 * sImg[p + 5]);
            sV += wSq[wyo + tj] * (q0 * sVar[p] + q1 * sVar[p + 1] + q2 * sVar[p + 2] + q3 * sVar[p + 3] + q4 * sVar[p + 4] + q5 * sVar[p + 5]);
          }
        } else {
          for (let tj = 0; tj < n; tj++, p += Wt) {
            let rI = 0;
            let rV = 0;
            for (let ti = 0; ti < n; ti++) {
              rI += wts[wxo + ti] * sImg[p + ti];
              rV += wSq[wxo + ti] * sVar[p + ti];
            }
            sI += wts[wyo + tj] * rI;
            sV += wSq[wyo + tj] * rV;
          }
        }
        let m = 0;
        if (fm !== 0) {
          const mx = maxAbs[kx];
          let q = centre - back;
          for (let tj = 0; tj < n; tj++, q += Wt) {
            const ay = wAbs[wyo + tj];
            if (ay * mx <= thr) continue;
            for (let ti = 0; ti < n; ti++) if (ay * wAbs[wxo + ti] > thr) m |= sMask[q + ti];
          }
          if (m !== 0) masked++;
        }
        const jac = ja + dj * t;
        const sc = flux ? jac : 1;
        oImg[k] = sI * sc;
        oVar[k] = sV * sc * sc;
        oMask[k] = m;
        filled++;
        sumJac += jac;
        sumW2 += sumSq[kx] * sumSq[ky];
      }
    }
  }
  s.filled += filled;
  s.sumJac += sumJac;
  s.sumW2 += sumW2;
  s.masked += masked;
}

export function runWarp(input: WarpInput): WarpResult {
  checkInput(input);
  const cfg = input.config ?? makeWarpConfig();
  const { width: W, height: H } = input.target;
  const n = W * H;
  const tab = makeLanczosTable(cfg.lanczosOrder, cfg.lutSteps);
  const errors: number[] = [];
  const sky = new TargetSkyCache(input.target.wcs, W, H);

  // NO_DATA everywhere, then each source in turn overwrites what it covers and no earlier source
  // did; a lazy source is decoded for its turn only and dropped after it.
  const fill = cfg.noDataValue === 'nan' ? NaN : 0;
  const planes = input.planes;
  if (planes && (planes.width !== W || planes.height !== H || planes.image.length !== n || planes.variance.length !== n || planes.mask.length !== n)) {
    throw new InvalidInputError(`warp: the planes given are not ${W}x${H}`);
  }
  const image = planes ? planes.image : new Float32Array(n);
  const variance = planes ? planes.variance : new Float32Array(n);
  const mask = (planes ? planes.mask : new Int32Array(n)).fill(MaskBit.NO_DATA);
  if (fill !== 0 || planes) {
    image.fill(fill);
    variance.fill(fill);
  }
  const warped: MaskedImage = { width: W, height: H, image, mask, variance };
  const prepared: Array<Omit<Prepared, 'image' | 'variance' | 'mask' | 'foot'>> = [];
  input.sources.forEach((source, i) => {
    let img: MaskedImage | null = isLazy(source) ? source.load() : source.image;
    if (isLazy(source)) {
      checkPlanes(i, img);
      if (img.width !== source.width || img.height !== source.height) {
        throw new InvalidInputError(`warp: source ${i} loaded as ${img.width}x${img.height}, announced as ${source.width}x${source.height}`);
      }
    }
    const src: WarpSource = { image: img, wcs: source.wcs };
    const { grid, error } = transformGrid(input.target, src, cfg, sky);
    errors.push(error);
    let p: Prepared | null = prepare(src, grid, cfg.lanczosOrder, W);
    for (let y0 = 0; y0 < H; y0 += BAND_ROWS) warpBand(p, tab, cfg, y0, Math.min(H, y0 + BAND_ROWS), warped);
    const { image: _i, variance: _v, mask: _m, foot: _f, ...kept } = p;
    prepared.push(kept);
    p = null;
    img = null;
  });

  let covered = 0;
  let sumJac = 0;
  let sumW2 = 0;
  let masked = 0;
  for (const s of prepared) {
    covered += s.filled;
    sumJac += s.sumJac;
    sumW2 += s.sumW2;
    masked += s.masked;
  }
  return {
    warped,
    coveredFraction: covered / n,
    diagnostics: {
      sources: prepared.map((s, i) => ({ pixels: s.filled, gridSpacingPx: s.grid.spacing, gridNodes: s.grid.nx * s.grid.ny, gridMaxErrorPx: errors[i] })),
      coveredPixels: covered,
      noDataPixels: n - covered,
      maskedPixels: masked,
      meanAreaRatio: covered > 0 ? sumJac / covered : NaN,
      meanKernelSumSq: covered > 0 ? sumW2 / covered : NaN,
      apertureVarianceFactor: covered > 0 ? (covered * covered) / (sumW2 * sumJac) : NaN,
    },
  };
}
