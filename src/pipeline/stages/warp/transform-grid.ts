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
import { pixelToSky, skyToPixel, type TanWcs } from '../../../astro/tan-wcs.ts';
import { InvalidInputError } from '../../../core/errors.ts';

/** Pixel (0-based) ↔ sky (degrees) of a WCS; each writes [a, b] into `out`. */
export interface SkyTransform {
  pixelToSky(x: number, y: number, out: Float64Array): unknown;
  skyToPixel(raDeg: number, decDeg: number, out: Float64Array): unknown;
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
  return {
    pixelToSky: (x, y, out) => pixelToSky(w, x, y, out),
    skyToPixel: (ra, dec, out) => skyToPixel(w, ra, dec, out),
  };
}

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

export function makeTransformGrid(targetWcs: WarpWcs, width: number, height: number, sourceWcs: WarpWcs, spacing: number): TransformGrid {
  const target = skyTransform(targetWcs);
  const source = skyTransform(sourceWcs);
  const nodeX = nodes(width, spacing);
  const nodeY = nodes(height, spacing);
  const nx = nodeX.length;
  const ny = nodeY.length;
  const u = new Float64Array(nx * ny);
  const v = new Float64Array(nx * ny);
  const jac = new Float64Array(nx * ny);
  const p = new Float64Array(2);
  const h = 0.5;
  for (let j = 0; j < ny; j++) {
    const y = nodeY[j];
    for (let i = 0; i < nx; i++) {
      const x = nodeX[i];
      const k = j * nx + i;
      exactSourcePixel(target, source, x, y, p);
      u[k] = p[0];
      v[k] = p[1];
      exactSourcePixel(target, source, x + h, y, p);
      const uxp = p[0];
      const vxp = p[1];
      exactSourcePixel(target, source, x - h, y, p);
      const dudx = (uxp - p[0]) / (2 * h);
      const dvdx = (vxp - p[1]) / (2 * h);
      exactSourcePixel(target, source, x, y + h, p);
      const uyp = p[0];
      const vyp = p[1];
      exactSourcePixel(target, source, x, y - h, p);
      const dudy = (uyp - p[0]) / (2 * h);
      const dvdy = (vyp - p[1]) / (2 * h);
      jac[k] = Math.abs(dudx * dvdy - dudy * dvdx);
    }
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
export function gridMidpointError(g: TransformGrid, targetWcs: WarpWcs, sourceWcs: WarpWcs, sourceWidth: number, sourceHeight: number): number {
  const target = skyTransform(targetWcs);
  const source = skyTransform(sourceWcs);
  const p = new Float64Array(2);
  const q = new Float64Array(3);
  const { nx, ny, u, v } = g;
  let worst = 0;
  for (let j = 0; j < ny - 1; j++) {
    for (let i = 0; i < nx - 1; i++) {
      const k = j * nx + i;
      // NaN propagates through min / max and fails every comparison: such cells are skipped.
      const uMin = Math.min(u[k], u[k + 1], u[k + nx], u[k + nx + 1]);
      const uMax = Math.max(u[k], u[k + 1], u[k + nx], u[k + nx + 1]);
      const vMin = Math.min(v[k], v[k + 1], v[k + nx], v[k + nx + 1]);
      const vMax = Math.max(v[k], v[k + 1], v[k + nx], v[k + nx + 1]);
      if (!(uMax >= -1 && uMin <= sourceWidth && vMax >= -1 && vMin <= sourceHeight)) continue;
      const x = 0.5 * (g.nodeX[i] + g.nodeX[i + 1]);
      const y = 0.5 * (g.nodeY[j] + g.nodeY[j + 1]);
      exactSourcePixel(target, source, x, y, p);
      gridSourcePixel(g, x, y, q);
      const e = Math.hypot(p[0] - q[0], p[1] - q[1]);
      if (e > worst) worst = e;
    }
  }
  return worst;
}
