/**
 * The pixel-to-pixel transform of a warp (target pixel → sky through the target WCS → source
 * pixel through the source WCS), evaluated exactly on a coarse grid of target pixels and
 * interpolated bilinearly in between, so the WCS is called O(W H / spacing²) times rather than
 * per pixel. Alongside the source position the grid holds |det J|, J = ∂(u, v)/∂(x, y): source
 * pixels per target pixel (the pixel-area ratio), by central differences of the exact transform.
 *
 * Grid nodes are at x = 0, s, 2s, … and at W − 1 (likewise in y), so every target pixel lies in
 * a cell and is interpolated, never extrapolated. Nodes whose sky position is on the far
 * hemisphere of the source projection hold NaN, and so do the pixels of their cells.
 *
 * A WCS is a plain TAN WCS (astro/tan-wcs.ts) or any pixel ↔ sky pair (`SkyTransform`, e.g. a
 * TAN-SIP WCS's functions): the grid makes no assumption beyond smoothness, and its refinement
 * (warp.ts) keeps the interpolation within tolerance for distorted WCSs too. A TAN WCS object
 * that carries distortion terms (a non-null `sip` field) is refused rather than silently warped
 * without them: pass its pixelToSky / skyToPixel as a SkyTransform.
 */
import { lonLatDeg, unitVector } from '../../../astro/sphere.ts';
import type { TanWcs } from '../../../astro/tan-wcs.ts';
import { SipTransform } from '../../lib/sip-wcs.ts';
import { InvalidInputError } from '../../../core/errors.ts';

/**
 * Pixel (0-based) ↔ sky (degrees) of a WCS; each writes [a, b] into `out`. The grid works on
 * unit vectors (x, y, z) of the sky positions: a transform that can go to and from them directly
 * (a TAN projection needs no trigonometry then) says so with `pixelToUnit` and `unitToPixel`,
 * which must agree with pixelToSky / skyToPixel to rounding; without them the grid converts.
 */
export interface SkyTransform {
  pixelToSky(x: number, y: number, out: Float64Array): unknown;
  skyToPixel(raDeg: number, decDeg: number, out: Float64Array): unknown;
  /** The unit vector of pixel (x, y)'s sky position into out[at … at + 2]. */
  pixelToUnit?(x: number, y: number, out: Float64Array, at: number): unknown;
  /** The pixel of the sky position with unit vector (x, y, z) into out[0], out[1]; NaN on the far hemisphere. */
  unitToPixel?(x: number, y: number, z: number, out: Float64Array): unknown;
}

export type WarpWcs = TanWcs | SkyTransform;

function isTransform(w: WarpWcs): w is SkyTransform {
  return typeof (w as Partial<SkyTransform>).pixelToSky === 'function' && typeof (w as Partial<SkyTransform>).skyToPixel === 'function';
}

/** The WCS as a SkyTransform; refuses a TAN WCS object carrying distortion terms (see the module comment). */
export function skyTransform(w: WarpWcs): SkyTransform {
  if (isTransform(w)) return w;
  const sip = (w as { sip?: unknown }).sip;
  if (sip !== undefined && sip !== null) {
    throw new InvalidInputError('warp: a WCS with SIP distortion must be given as a SkyTransform (pixelToSky / skyToPixel), not as its TAN part');
  }
  return new SipTransform({ crvalDeg: w.crvalDeg, crpix: w.crpix, cd: w.cd, sip: null });
}

/**
 * Pixel (x, y) of a transform → the unit vector of its sky position, into out[at … at + 2]: its
 * own pixelToUnit, or through pixelToSky. (Plain functions of the transform rather than closures
 * made per warp, so that the optimised code calling them outlives a warp.)
 */
function unitAt(t: SkyTransform, x: number, y: number, out: Float64Array, at: number): void {
  if (t.pixelToUnit) {
    t.pixelToUnit(x, y, out, at);
    return;
  }
  t.pixelToSky(x, y, lonLat);
  const v = unitVector(lonLat[0], lonLat[1]);
  out[at] = v[0];
  out[at + 1] = v[1];
  out[at + 2] = v[2];
}

/** The unit vector at sky[o … o + 2] → pixel of a transform, into out[0], out[1]: its own unitToPixel, or through skyToPixel. */
function pixelAt(t: SkyTransform, sky: Float64Array, o: number, out: Float64Array): void {
  const x = sky[o];
  const y = sky[o + 1];
  const z = sky[o + 2];
  if (t.unitToPixel) {
    t.unitToPixel(x, y, z, out);
    return;
  }
  const [ra, dec] = lonLatDeg([x, y, z]);
  t.skyToPixel(ra, dec, out);
}

const lonLat = new Float64Array(2);

export interface TransformGrid {
  /** Target image size. */
  readonly width: number;
  readonly height: number;
  /** Requested node spacing (pixels); the last interval of each axis may be shorter. */
  readonly spacing: number;
  readonly nx: number;
  readonly ny: number;
  /** Node pixel coordinates (target). */
  readonly nodeX: Float64Array;
  readonly nodeY: Float64Array;
  /** Source pixel position at each node, row-major ny × nx. */
  readonly u: Float64Array;
  readonly v: Float64Array;
  /** |det ∂(u, v)/∂(x, y)| at each node. */
  readonly jac: Float64Array;
}

/** Exact source pixel of target pixel (x, y). `out` receives [u, v]; NaN on the far hemisphere. */
export function exactSourcePixel(target: SkyTransform, source: SkyTransform, x: number, y: number, out: Float64Array): Float64Array {
  target.pixelToSky(x, y, out);
  source.skyToPixel(out[0], out[1], out);
  return out;
}

function nodes(size: number, spacing: number): Float64Array {
  const last = Math.max(size - 1, 1);
  const n = Math.ceil(last / spacing) + 1;
  const out = new Float64Array(n);
  for (let i = 0; i < n - 1; i++) out[i] = i * spacing;
  out[n - 1] = last;
  return out;
}

/**
 * The target's pixel → sky (unit vectors) at the grid nodes (and the ±0.5-pixel stencil of the
 * Jacobian around each) and at the cell centres, per grid spacing: the same for every source of
 * a warp, so it is computed once and shared (the target WCS, often TAN-SIP, is the costlier
 * direction). A grid made with the cache equals one made without it. A cache belongs to one
 * target WCS and size: makeTransformGrid checks the size only.
 */
export class TargetSkyCache {
  readonly #target: SkyTransform;
  readonly width: number;
  readonly height: number;
  readonly #nodes = new Map<number, Float64Array>();
  readonly #centres = new Map<number, Float64Array>();

  constructor(targetWcs: WarpWcs, width: number, height: number) {
    this.#target = skyTransform(targetWcs);
    this.width = width;
    this.height = height;
  }

  /** Per node k (row-major): unit vectors of (x, y), (x + h, y), (x − h, y), (x, y + h), (x, y − h) at [15k …]. */
  nodeSky(spacing: number): Float64Array {
    let sky = this.#nodes.get(spacing);
    if (sky) return sky;
    const nodeX = nodes(this.width, spacing);
    const nodeY = nodes(this.height, spacing);
    const nx = nodeX.length;
    sky = new Float64Array(15 * nx * nodeY.length);
    const target = this.#target;
    for (let j = 0; j < nodeY.length; j++) {
      const y = nodeY[j];
      for (let i = 0; i < nx; i++) {
        const x = nodeX[i];
        const o = 15 * (j * nx + i);
        unitAt(target, x, y, sky, o);
        unitAt(target, x + JAC_STEP, y, sky, o + 3);
        unitAt(target, x - JAC_STEP, y, sky, o + 6);
        unitAt(target, x, y + JAC_STEP, sky, o + 9);
        unitAt(target, x, y - JAC_STEP, sky, o + 12);
      }
    }
    this.#nodes.set(spacing, sky);
    return sky;
  }

  /** Per cell (row-major, (nx − 1) per row): the unit vector of its centre at [3c …]. */
  centreSky(spacing: number): Float64Array {
    let sky = this.#centres.get(spacing);
    if (sky) return sky;
    const nodeX = nodes(this.width, spacing);
    const nodeY = nodes(this.height, spacing);
    const cx = nodeX.length - 1;
    sky = new Float64Array(3 * cx * (nodeY.length - 1));
    for (let j = 0; j < nodeY.length - 1; j++) {
      for (let i = 0; i < cx; i++) {
        unitAt(this.#target, 0.5 * (nodeX[i] + nodeX[i + 1]), 0.5 * (nodeY[j] + nodeY[j + 1]), sky, 3 * (j * cx + i));
      }
    }
    this.#centres.set(spacing, sky);
    return sky;
  }
}

/** Half-step (target pixels) of the central differences of the Jacobian. */
const JAC_STEP = 0.5;

export interface TransformGridOptions {
  /** The target's sky positions, shared between the sources of a warp (same target and size). */
  readonly targetSky?: TargetSkyCache;
  /**
   * The source image size: |det J| is then computed only at the nodes of cells that can reach the
   * source (corner bounding box meeting −1 … size, as gridMidpointError), NaN elsewhere; no
   * pixel interpolated from such a cell can fall on the source.
   */
  readonly sourceWidth?: number;
  readonly sourceHeight?: number;
}

/** Whether the cell at node k (nx nodes per row) has a corner bounding box meeting −1 … sw, −1 … sh (false with NaN corners). */
function cellReaches(u: Float64Array, v: Float64Array, k: number, nx: number, sw: number, sh: number): boolean {
  const uMin = Math.min(u[k], u[k + 1], u[k + nx], u[k + nx + 1]);
  const uMax = Math.max(u[k], u[k + 1], u[k + nx], u[k + nx + 1]);
  const vMin = Math.min(v[k], v[k + 1], v[k + nx], v[k + nx + 1]);
  const vMax = Math.max(v[k], v[k + 1], v[k + nx], v[k + nx + 1]);
  // NaN propagates through min / max and fails every comparison.
  return uMax >= -1 && uMin <= sw && vMax >= -1 && vMin <= sh;
}

export function makeTransformGrid(
  targetWcs: WarpWcs,
  width: number,
  height: number,
  sourceWcs: WarpWcs,
  spacing: number,
  opts: TransformGridOptions = {},
): TransformGrid {
  const cache = opts.targetSky && opts.targetSky.width === width && opts.targetSky.height === height ? opts.targetSky : new TargetSkyCache(targetWcs, width, height);
  const source = skyTransform(sourceWcs);
  const nodeX = nodes(width, spacing);
  const nodeY = nodes(height, spacing);
  const nx = nodeX.length;
  const ny = nodeY.length;
  const sky = cache.nodeSky(spacing);
  const u = new Float64Array(nx * ny);
  const v = new Float64Array(nx * ny);
  const jac = new Float64Array(nx * ny);
  const p = new Float64Array(2);
  for (let k = 0; k < nx * ny; k++) {
    pixelAt(source, sky, 15 * k, p);
    u[k] = p[0];
    v[k] = p[1];
  }
  // Nodes whose |det J| can be used: all, or those of the cells that reach the source.
  let need: Uint8Array | null = null;
  const sw = opts.sourceWidth;
  const sh = opts.sourceHeight;
  if (sw !== undefined && sh !== undefined) {
    need = new Uint8Array(nx * ny);
    for (let j = 0; j < ny - 1; j++) {
      for (let i = 0; i < nx - 1; i++) {
        const k = j * nx + i;
        if (!cellReaches(u, v, k, nx, sw, sh)) continue;
        need[k] = need[k + 1] = need[k + nx] = need[k + nx + 1] = 1;
      }
    }
  }
  const h = JAC_STEP;
  for (let k = 0; k < nx * ny; k++) {
    if (need !== null && need[k] === 0) {
      jac[k] = NaN;
      continue;
    }
    const o = 15 * k;
    pixelAt(source, sky, o + 3, p);
    const uxp = p[0];
    const vxp = p[1];
    pixelAt(source, sky, o + 6, p);
    const dudx = (uxp - p[0]) / (2 * h);
    const dvdx = (vxp - p[1]) / (2 * h);
    pixelAt(source, sky, o + 9, p);
    const uyp = p[0];
    const vyp = p[1];
    pixelAt(source, sky, o + 12, p);
    const dudy = (uyp - p[0]) / (2 * h);
    const dvdy = (vyp - p[1]) / (2 * h);
    jac[k] = Math.abs(dudx * dvdy - dudy * dvdx);
  }
  return { width, height, spacing, nx, ny, nodeX, nodeY, u, v, jac };
}

/** Index of the cell holding coordinate c (clamped to the first / last cell). */
function cellOf(nodes: Float64Array, spacing: number, c: number): number {
  return Math.min(nodes.length - 2, Math.max(0, Math.floor(c / spacing)));
}

/** Bilinear interpolation of the grid at target (x, y): out = [u, v, |det J|]. */
export function gridSourcePixel(g: TransformGrid, x: number, y: number, out: Float64Array): Float64Array {
  const i = cellOf(g.nodeX, g.spacing, x);
  const j = cellOf(g.nodeY, g.spacing, y);
  const tx = (x - g.nodeX[i]) / (g.nodeX[i + 1] - g.nodeX[i]);
  const ty = (y - g.nodeY[j]) / (g.nodeY[j + 1] - g.nodeY[j]);
  const k = j * g.nx + i;
  const n = g.nx;
  const w00 = (1 - tx) * (1 - ty);
  const w10 = tx * (1 - ty);
  const w01 = (1 - tx) * ty;
  const w11 = tx * ty;
  out[0] = w00 * g.u[k] + w10 * g.u[k + 1] + w01 * g.u[k + n] + w11 * g.u[k + n + 1];
  out[1] = w00 * g.v[k] + w10 * g.v[k + 1] + w01 * g.v[k + n] + w11 * g.v[k + n + 1];
  out[2] = w00 * g.jac[k] + w10 * g.jac[k + 1] + w01 * g.jac[k + n] + w11 * g.jac[k + n + 1];
  return out;
}

/**
 * Largest interpolation error (source pixels) at the cell centres — where the bilinear error of
 * a smooth transform peaks — over the cells that can reach the source image
 * (`sourceWidth` × `sourceHeight`): those whose corner nodes' bounding box meets it. NaN cells
 * are skipped. 0 when no cell reaches the source.
 */
export function gridMidpointError(
  g: TransformGrid,
  targetWcs: WarpWcs,
  sourceWcs: WarpWcs,
  sourceWidth: number,
  sourceHeight: number,
  targetSky?: TargetSkyCache,
): number {
  const source = skyTransform(sourceWcs);
  const cache = targetSky && targetSky.width === g.width && targetSky.height === g.height ? targetSky : new TargetSkyCache(targetWcs, g.width, g.height);
  const centres = cache.centreSky(g.spacing);
  const p = new Float64Array(2);
  const q = new Float64Array(3);
  const { nx, ny, u, v } = g;
  let worst = 0;
  for (let j = 0; j < ny - 1; j++) {
    for (let i = 0; i < nx - 1; i++) {
      const k = j * nx + i;
      // NaN propagates through min / max and fails every comparison: such cells are skipped.
      if (!cellReaches(u, v, k, nx, sourceWidth, sourceHeight)) continue;
      const x = 0.5 * (g.nodeX[i] + g.nodeX[i + 1]);
      const y = 0.5 * (g.nodeY[j] + g.nodeY[j + 1]);
      pixelAt(source, centres, 3 * (j * (nx - 1) + i), p);
      gridSourcePixel(g, x, y, q);
      const e = Math.hypot(p[0] - q[0], p[1] - q[1]);
      if (e > worst) worst = e;
    }
  }
  return worst;
}
