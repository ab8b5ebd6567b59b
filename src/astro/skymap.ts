/**
 * A skymap: the sky cut into tracts, each tract a TAN projection cut into a grid of patches, as
 * LSST's RingsSkyMap does. Everything follows from the config, so two processes that build the
 * same config agree on every tract id, patch index, WCS and bounding box.
 *
 * Tessellation. numRings = max(1, round(180 / tractSizeDeg) − 1) declination rings of height
 * ringSize = 180 / (numRings + 1) degrees sit between two polar caps of radius ringSize / 2.
 * Tract 0 is the south cap (centred on the pole), then ring 0 (southmost) to ring numRings − 1,
 * then the north cap. Ring i spans dec [−90 + ringSize (i + ½), −90 + ringSize (i + 1½)) and has
 * n_i = floor(360 cos(dec_edge) / ringSize) + 1 tracts (dec_edge: the edge nearer the equator,
 * 0 for a ring across it), tract j of the ring centred at RA j · 360 / n_i and owning
 * RA [centre − 180 / n_i, centre + 180 / n_i). That owned area is the tract's inner region.
 *
 * Pixels. A tract's pixel grid is a TAN projection about its centre, north up and east left
 * (CD1_1 < 0), `pixelScaleArcsec` per pixel. Its size is the bounding box of the inner region
 * grown by `tractOverlapDeg` (default: `overlapPx` pixels) on every side, rounded up to a whole
 * number of patches, centred on the tract centre (CRPIX at ((W − 1)/2, (H − 1)/2), 0-based).
 * Patch (cellX, cellY) has inner box x ∈ [cellX · P, (cellX + 1) · P), y likewise (P =
 * patchSizePx) and index cellY · numPatchesX + cellX; its outer box, what a template image
 * covers, is the inner box grown by `overlapPx` on every side (not clipped, so every patch image
 * has the same size P + 2 · overlapPx). A patch's WCS is the tract's with CRPIX shifted to the
 * outer box's corner: patch pixel (0, 0) is tract pixel (x0, y0) of the outer box.
 */
import { createHash } from 'node:crypto';
import { InvalidInputError } from '../core/errors.ts';
import { GEOMETRY_EPS, convexPolygon, type ConvexPolygon } from './spherical-polygon.ts';
import { angleBetween, D2R, orientation, R2D, unitVector } from './sphere.ts';
import { makeTanWcs, pixelToSky, skyToPixel, type TanWcs } from './tan-wcs.ts';

export interface SkymapConfig {
  readonly name: string;
  readonly pixelScaleArcsec: number;
  /** Nominal tract size (ring height), degrees. */
  readonly tractSizeDeg: number;
  /** Inner patch size, pixels (patches are square). */
  readonly patchSizePx: number;
  /** Border added around every patch's inner box, pixels. */
  readonly overlapPx: number;
  /** Margin added around every tract's inner region, degrees (default overlapPx pixels). */
  readonly tractOverlapDeg?: number;
}

/** The project's skymap: 0.2 arcsec pixels (LSST's), 1.5-degree tracts, 2000-pixel patches with 100-pixel borders. */
export const DEFAULT_SKYMAP_CONFIG: SkymapConfig = Object.freeze({
  name: 'prompt-rings-v1',
  pixelScaleArcsec: 0.2,
  tractSizeDeg: 1.5,
  patchSizePx: 2000,
  overlapPx: 100,
});

/** A pixel box, 0-based, half-open: x in [x0, x1), y in [y0, y1). */
export interface PixelBox {
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
}

export interface TractInfo {
  readonly skymap: string;
  readonly tract: number;
  /** −1 for the south cap, numRings for the north cap. */
  readonly ring: number;
  readonly centerDeg: readonly [number, number];
  /** The sky the tract owns: RA [raMinDeg, raMaxDeg) (raMinDeg may be negative: wraps through 0), dec [decMinDeg, decMaxDeg). */
  readonly inner: { readonly raMinDeg: number; readonly raMaxDeg: number; readonly decMinDeg: number; readonly decMaxDeg: number };
  /** The tract's pixel grid. */
  readonly wcs: TanWcs;
  readonly width: number;
  readonly height: number;
  readonly numPatchesX: number;
  readonly numPatchesY: number;
  /** Sky corners of the tract's pixel box (outer pixel edges), counter-clockwise. */
  readonly corners: ReadonlyArray<readonly [number, number]>;
}

export interface PatchInfo {
  readonly skymap: string;
  readonly tract: number;
  /** Sequential index cellY · numPatchesX + cellX. */
  readonly patch: number;
  readonly cellX: number;
  readonly cellY: number;
  /** Inner box, tract pixels. */
  readonly innerBBox: PixelBox;
  /** Outer box (inner + overlap), tract pixels: what the patch image covers. */
  readonly bbox: PixelBox;
  /** Patch-local WCS: pixel (0, 0) is tract pixel (bbox.x0, bbox.y0). */
  readonly wcs: TanWcs;
  readonly width: number;
  readonly height: number;
  /** Sky corners of the outer box (outer pixel edges), counter-clockwise. */
  readonly corners: ReadonlyArray<readonly [number, number]>;
  /** Sky corners of the inner box, counter-clockwise. */
  readonly innerCorners: ReadonlyArray<readonly [number, number]>;
}

/** A registry dimension record of the skymap. */
export interface SkymapRecord {
  readonly name: string;
  /** sha256 of the canonical config: two skymaps with the same name must have the same hash. */
  readonly hash: string;
  readonly tractMax: number;
  readonly patchNxMax: number;
  readonly patchNyMax: number;
  readonly config: SkymapConfig;
}

/** A registry dimension record of a tract; `region` is JSON {"type":"ConvexPolygon","vertices":[[ra,dec],…]} (degrees, counter-clockwise). */
export interface TractRecord {
  readonly skymap: string;
  readonly tract: number;
  readonly ra: number;
  readonly dec: number;
  readonly numPatchesX: number;
  readonly numPatchesY: number;
  readonly region: string;
}

export interface PatchRecord {
  readonly skymap: string;
  readonly tract: number;
  readonly patch: number;
  readonly cellX: number;
  readonly cellY: number;
  readonly region: string;
}

/** A sky polygon: (ra, dec) vertices in degrees, convex, either winding. */
export type SkyPolygon = ReadonlyArray<readonly [number, number]>;

/** Polygons larger than this (bounding radius) are refused: the tangent-plane tests need them small. */
const MAX_POLYGON_RADIUS_DEG = 30;

function checkConfig(c: SkymapConfig): void {
  const bad = (what: string): never => {
    throw new InvalidInputError(`skymap config: ${what}`);
  };
  if (typeof c.name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(c.name)) bad(`name must be 1-64 characters of A-Z a-z 0-9 _ . -, got ${JSON.stringify(c.name)}`);
  if (!(c.pixelScaleArcsec > 0) || c.pixelScaleArcsec > 60) bad(`pixelScaleArcsec must be in (0, 60], got ${c.pixelScaleArcsec}`);
  if (!(c.tractSizeDeg >= 0.1) || c.tractSizeDeg > 30) bad(`tractSizeDeg must be in [0.1, 30], got ${c.tractSizeDeg}`);
  if (!Number.isInteger(c.patchSizePx) || c.patchSizePx < 16 || c.patchSizePx > 100000) bad(`patchSizePx must be an integer in [16, 100000], got ${c.patchSizePx}`);
  if (!Number.isInteger(c.overlapPx) || c.overlapPx < 0 || c.overlapPx >= c.patchSizePx) bad(`overlapPx must be an integer in [0, patchSizePx), got ${c.overlapPx}`);
  if (c.tractOverlapDeg !== undefined && (!(c.tractOverlapDeg >= 0) || c.tractOverlapDeg > c.tractSizeDeg)) {
    bad(`tractOverlapDeg must be in [0, tractSizeDeg], got ${c.tractOverlapDeg}`);
  }
}

function regionJson(corners: ReadonlyArray<readonly [number, number]>): string {
  return JSON.stringify({ type: 'ConvexPolygon', vertices: corners.map(([ra, dec]) => [ra, dec]) });
}

/** Projected polygon in pixel coordinates, for the separating-axis tests. */
interface PixelPolygon {
  readonly xs: Float64Array;
  readonly ys: Float64Array;
  readonly xMin: number;
  readonly xMax: number;
  readonly yMin: number;
  readonly yMax: number;
}

/** Whether a convex pixel polygon intersects the rectangle [x0, x1] × [y0, y1] (separating axes; touching counts). */
function polygonHitsRect(p: PixelPolygon, x0: number, y0: number, x1: number, y1: number): boolean {
  const tol = 1e-6;
  if (p.xMax < x0 - tol || p.xMin > x1 + tol || p.yMax < y0 - tol || p.yMin > y1 + tol) return false;
  const n = p.xs.length;
  let cx = 0;
  let cy = 0;
  for (let i = 0; i < n; i++) {
    cx += p.xs[i];
    cy += p.ys[i];
  }
  cx /= n;
  cy /= n;
  for (let i = 0; i < n; i++) {
    const ax = p.xs[i];
    const ay = p.ys[i];
    const ex = p.xs[(i + 1) % n] - ax;
    const ey = p.ys[(i + 1) % n] - ay;
    // outward normal: away from the centroid
    let nx = ey;
    let ny = -ex;
    if (nx * (cx - ax) + ny * (cy - ay) > 0) {
      nx = -nx;
      ny = -ny;
    }
    const len = Math.hypot(nx, ny);
    if (len === 0) continue;
    // the rectangle is separated when all its corners are outside this edge
    const d = (x: number, y: number): number => (nx * (x - ax) + ny * (y - ay)) / len;
    if (d(x0, y0) > tol && d(x1, y0) > tol && d(x1, y1) > tol && d(x0, y1) > tol) return false;
  }
  return true;
}

function rectInsidePolygonBox(p: PixelPolygon, x0: number, y0: number, x1: number, y1: number): boolean {
  return p.xMin >= x0 && p.xMax <= x1 && p.yMin >= y0 && p.yMax <= y1;
}

export class Skymap {
  readonly config: SkymapConfig;
  readonly name: string;
  readonly numRings: number;
  /** Ring height, degrees. */
  readonly ringSizeDeg: number;
  readonly numTracts: number;
  /** Tracts per ring, south to north. */
  readonly ringTracts: readonly number[];
  readonly #ringOffset: number[];
  readonly #tracts = new Map<number, TractInfo>();
  readonly #overlapDeg: number;

  constructor(config: SkymapConfig) {
    checkConfig(config);
    this.config = Object.freeze({ ...config });
    this.name = config.name;
    this.numRings = Math.max(1, Math.round(180 / config.tractSizeDeg) - 1);
    this.ringSizeDeg = 180 / (this.numRings + 1);
    this.#overlapDeg = config.tractOverlapDeg ?? (config.overlapPx * config.pixelScaleArcsec) / 3600;
    const counts: number[] = [];
    const offsets: number[] = [];
    let next = 1;
    for (let i = 0; i < this.numRings; i++) {
      const { decMinDeg, decMaxDeg } = this.#ringBounds(i);
      const edge = decMinDeg < 0 && decMaxDeg > 0 ? 0 : Math.min(Math.abs(decMinDeg), Math.abs(decMaxDeg));
      const n = Math.floor((360 * Math.cos(edge * D2R)) / this.ringSizeDeg) + 1;
      counts.push(n);
      offsets.push(next);
      next += n;
    }
    this.ringTracts = Object.freeze(counts);
    this.#ringOffset = offsets;
    this.numTracts = next + 1;
  }

  #ringBounds(i: number): { decMinDeg: number; decMaxDeg: number } {
    const decMinDeg = -90 + this.ringSizeDeg * (i + 0.5);
    return { decMinDeg, decMaxDeg: decMinDeg + this.ringSizeDeg };
  }

  #checkTract(tract: number): void {
    if (!Number.isInteger(tract) || tract < 0 || tract >= this.numTracts) {
      throw new InvalidInputError(`tract ${tract} does not exist in skymap ${this.name} (0..${this.numTracts - 1})`);
    }
  }

  /** Ring (−1 south cap, numRings north cap) and index within the ring of a tract. */
  #ringOf(tract: number): { ring: number; j: number } {
    if (tract === 0) return { ring: -1, j: 0 };
    if (tract === this.numTracts - 1) return { ring: this.numRings, j: 0 };
    let lo = 0;
    let hi = this.numRings - 1;
    while (lo < hi) {
      const m = (lo + hi + 1) >> 1;
      if (this.#ringOffset[m] <= tract) lo = m;
      else hi = m - 1;
    }
    return { ring: lo, j: tract - this.#ringOffset[lo] };
  }

  /** The tract that owns a sky position (its inner region holds it). */
  tractOf(raDeg: number, decDeg: number): number {
    if (!Number.isFinite(raDeg) || !Number.isFinite(decDeg) || Math.abs(decDeg) > 90) {
      throw new InvalidInputError(`position must be a finite (ra, dec) with |dec| <= 90, got (${raDeg}, ${decDeg})`);
    }
    const half = this.ringSizeDeg / 2;
    if (decDeg < -90 + half) return 0;
    if (decDeg >= 90 - half) return this.numTracts - 1;
    const i = Math.min(this.numRings - 1, Math.max(0, Math.floor((decDeg + 90 - half) / this.ringSizeDeg)));
    const n = this.ringTracts[i];
    const w = 360 / n;
    let ra = raDeg % 360;
    if (ra < 0) ra += 360;
    const j = Math.floor((ra + w / 2) / w) % n;
    return this.#ringOffset[i] + j;
  }

  tractInfo(tract: number): TractInfo {
    this.#checkTract(tract);
    const hit = this.#tracts.get(tract);
    if (hit) return hit;
    const info = this.#buildTract(tract);
    this.#tracts.set(tract, info);
    return info;
  }

  #buildTract(tract: number): TractInfo {
    const { ring, j } = this.#ringOf(tract);
    const scale = this.config.pixelScaleArcsec;
    const P = this.config.patchSizePx;
    const half = this.ringSizeDeg / 2;
    let centre: [number, number];
    let inner: TractInfo['inner'];
    let hx: number;
    let hy: number;
    if (ring === -1 || ring === this.numRings) {
      const south = ring === -1;
      centre = [0, south ? -90 : 90];
      inner = south
        ? { raMinDeg: 0, raMaxDeg: 360, decMinDeg: -90, decMaxDeg: -90 + half }
        : { raMinDeg: 0, raMaxDeg: 360, decMinDeg: 90 - half, decMaxDeg: 90 };
      hx = hy = (Math.tan(half * D2R) * R2D * 3600) / scale;
    } else {
      const n = this.ringTracts[ring];
      const w = 360 / n;
      const ra = j * w;
      const { decMinDeg, decMaxDeg } = this.#ringBounds(ring);
      centre = [ra, decMinDeg + half];
      inner = { raMinDeg: ra - w / 2, raMaxDeg: ra + w / 2, decMinDeg, decMaxDeg };
      // extent of the inner region in the tangent plane, from samples of its outline
      const unit = makeTanWcs({ raDeg: centre[0], decDeg: centre[1], crpix: [0, 0], pixelScaleArcsec: scale });
      const px = new Float64Array(2);
      hx = 0;
      hy = 0;
      const S = 32;
      for (let k = 0; k <= S; k++) {
        const t = k / S;
        const pts: Array<[number, number]> = [
          [inner.raMinDeg + t * w, decMinDeg],
          [inner.raMinDeg + t * w, decMaxDeg],
          [inner.raMinDeg, decMinDeg + t * this.ringSizeDeg],
          [inner.raMaxDeg, decMinDeg + t * this.ringSizeDeg],
        ];
        for (const [r, d] of pts) {
          skyToPixel(unit, r, d, px);
          hx = Math.max(hx, Math.abs(px[0]));
          hy = Math.max(hy, Math.abs(px[1]));
        }
      }
      // samples may miss the extreme between two of them by a hair
      hx *= 1.0005;
      hy *= 1.0005;
    }
    const ovl = (this.#overlapDeg * 3600) / scale;
    const numPatchesX = Math.max(1, Math.ceil((2 * (hx + ovl)) / P));
    const numPatchesY = Math.max(1, Math.ceil((2 * (hy + ovl)) / P));
    const width = numPatchesX * P;
    const height = numPatchesY * P;
    const wcs = makeTanWcs({ raDeg: centre[0], decDeg: centre[1], crpix: [(width - 1) / 2, (height - 1) / 2], pixelScaleArcsec: scale });
    const corners = boxCorners(wcs, 0, 0, width, height);
    return Object.freeze({
      skymap: this.name,
      tract,
      ring,
      centerDeg: Object.freeze(centre) as readonly [number, number],
      inner: Object.freeze(inner),
      wcs,
      width,
      height,
      numPatchesX,
      numPatchesY,
      corners,
    });
  }

  patchInfo(tract: number, patch: number): PatchInfo {
    const t = this.tractInfo(tract);
    const nPatches = t.numPatchesX * t.numPatchesY;
    if (!Number.isInteger(patch) || patch < 0 || patch >= nPatches) {
      throw new InvalidInputError(`patch ${patch} does not exist in tract ${tract} of skymap ${this.name} (0..${nPatches - 1})`);
    }
    const cellX = patch % t.numPatchesX;
    const cellY = (patch - cellX) / t.numPatchesX;
    return this.#patch(t, cellX, cellY);
  }

  /** Patch of a tract by cell. */
  patchAt(tract: number, cellX: number, cellY: number): PatchInfo {
    const t = this.tractInfo(tract);
    if (!Number.isInteger(cellX) || !Number.isInteger(cellY) || cellX < 0 || cellY < 0 || cellX >= t.numPatchesX || cellY >= t.numPatchesY) {
      throw new InvalidInputError(`patch cell (${cellX}, ${cellY}) is outside tract ${tract} (${t.numPatchesX}x${t.numPatchesY})`);
    }
    return this.#patch(t, cellX, cellY);
  }

  #patch(t: TractInfo, cellX: number, cellY: number): PatchInfo {
    const P = this.config.patchSizePx;
    const ov = this.config.overlapPx;
    const innerBBox: PixelBox = { x0: cellX * P, y0: cellY * P, x1: (cellX + 1) * P, y1: (cellY + 1) * P };
    const bbox: PixelBox = { x0: innerBBox.x0 - ov, y0: innerBBox.y0 - ov, x1: innerBBox.x1 + ov, y1: innerBBox.y1 + ov };
    const wcs: TanWcs = { crvalDeg: t.wcs.crvalDeg, crpix: [t.wcs.crpix[0] - bbox.x0, t.wcs.crpix[1] - bbox.y0], cd: t.wcs.cd };
    return Object.freeze({
      skymap: this.name,
      tract: t.tract,
      patch: cellY * t.numPatchesX + cellX,
      cellX,
      cellY,
      innerBBox,
      bbox,
      wcs,
      width: bbox.x1 - bbox.x0,
      height: bbox.y1 - bbox.y0,
      corners: boxCorners(t.wcs, bbox.x0, bbox.y0, bbox.x1, bbox.y1),
      innerCorners: boxCorners(t.wcs, innerBBox.x0, innerBBox.y0, innerBBox.x1, innerBBox.y1),
    });
  }

  #polygon(polygon: SkyPolygon): ConvexPolygon {
    const p = convexPolygon(polygon, 'sky polygon');
    if (p.radius > MAX_POLYGON_RADIUS_DEG * D2R) {
      throw new InvalidInputError(`sky polygon is ${(p.radius * R2D).toFixed(1)} degrees in radius; at most ${MAX_POLYGON_RADIUS_DEG} is supported`);
    }
    return p;
  }

  /** The polygon in a tract's pixel coordinates, or null when it cannot touch the tract. */
  #project(t: TractInfo, poly: ConvexPolygon, lonLat: SkyPolygon): PixelPolygon | null {
    const c = unitVector(t.centerDeg[0], t.centerDeg[1]);
    if (angleBetween(c, poly.center) > this.#tractRadius(t) + poly.radius + GEOMETRY_EPS) return null;
    const n = lonLat.length;
    const xs = new Float64Array(n);
    const ys = new Float64Array(n);
    const px = new Float64Array(2);
    let xMin = Infinity;
    let xMax = -Infinity;
    let yMin = Infinity;
    let yMax = -Infinity;
    for (let i = 0; i < n; i++) {
      skyToPixel(t.wcs, lonLat[i][0], lonLat[i][1], px);
      if (!Number.isFinite(px[0]) || !Number.isFinite(px[1])) return null;
      xs[i] = px[0];
      ys[i] = px[1];
      xMin = Math.min(xMin, px[0]);
      xMax = Math.max(xMax, px[0]);
      yMin = Math.min(yMin, px[1]);
      yMax = Math.max(yMax, px[1]);
    }
    return { xs, ys, xMin, xMax, yMin, yMax };
  }

  /** Angle (radians) from a tract's centre to the farthest corner of its patches' outer boxes. */
  #tractRadius(t: TractInfo): number {
    const ov = this.config.overlapPx;
    const hx = t.width / 2 + ov + 1;
    const hy = t.height / 2 + ov + 1;
    return Math.atan((Math.hypot(hx, hy) * this.config.pixelScaleArcsec) / 3600 * D2R) * 1.0001;
  }

  /** Tract ids whose centre lies within `radius` (radians) of a point: candidates for overlap tests. */
  #candidateTracts(center: readonly [number, number], radius: number): number[] {
    const out: number[] = [];
    const c = unitVector(center[0], center[1]);
    // the largest tract radius, generously: half a ring diagonal, the overlaps, and up to a
    // patch of rounding on each side
    const tractReach = (this.ringSizeDeg * 0.75 + this.#overlapDeg + ((this.config.patchSizePx + 2 * this.config.overlapPx) * this.config.pixelScaleArcsec) / 3600) * 1.1;
    const reach = radius + tractReach * D2R;
    const decLo = center[1] - reach * R2D;
    const decHi = center[1] + reach * R2D;
    const half = this.ringSizeDeg / 2;
    if (decLo < -90 + half) out.push(0);
    for (let i = 0; i < this.numRings; i++) {
      const { decMinDeg, decMaxDeg } = this.#ringBounds(i);
      if (decMaxDeg < decLo || decMinDeg > decHi) continue;
      const n = this.ringTracts[i];
      const mid = decMinDeg + half;
      for (let j = 0; j < n; j++) {
        const v = unitVector((j * 360) / n, mid);
        if (angleBetween(v, c) <= reach) out.push(this.#ringOffset[i] + j);
      }
    }
    if (decHi >= 90 - half) out.push(this.numTracts - 1);
    return out;
  }

  #overlapping(polygon: SkyPolygon): Array<{ tract: TractInfo; projected: PixelPolygon }> {
    const poly = this.#polygon(polygon);
    const [raC, decC] = lonLatOf(poly);
    const out: Array<{ tract: TractInfo; projected: PixelPolygon; dist: number }> = [];
    for (const id of this.#candidateTracts([raC, decC], poly.radius)) {
      const t = this.tractInfo(id);
      const projected = this.#project(t, poly, polygon);
      if (!projected) continue;
      const ov = this.config.overlapPx;
      if (!polygonHitsRect(projected, -0.5 - ov, -0.5 - ov, t.width - 0.5 + ov, t.height - 0.5 + ov)) continue;
      out.push({ tract: t, projected, dist: angleBetween(unitVector(t.centerDeg[0], t.centerDeg[1]), poly.center) });
    }
    return out.sort((a, b) => a.dist - b.dist || a.tract.tract - b.tract.tract).map(({ tract, projected }) => ({ tract, projected }));
  }

  /** Tracts whose patches (outer boxes) touch a convex sky polygon, nearest centre first. */
  tractsOverlapping(polygon: SkyPolygon): TractInfo[] {
    return this.#overlapping(polygon).map((o) => o.tract);
  }

  #patchesOf(t: TractInfo, p: PixelPolygon): PatchInfo[] {
    const P = this.config.patchSizePx;
    const ov = this.config.overlapPx;
    const out: PatchInfo[] = [];
    const cx0 = Math.max(0, Math.floor((p.xMin + 0.5 - ov) / P) - 1);
    const cx1 = Math.min(t.numPatchesX - 1, Math.floor((p.xMax + 0.5 + ov) / P) + 1);
    const cy0 = Math.max(0, Math.floor((p.yMin + 0.5 - ov) / P) - 1);
    const cy1 = Math.min(t.numPatchesY - 1, Math.floor((p.yMax + 0.5 + ov) / P) + 1);
    for (let cy = cy0; cy <= cy1; cy++) {
      for (let cx = cx0; cx <= cx1; cx++) {
        const x0 = cx * P - ov - 0.5;
        const y0 = cy * P - ov - 0.5;
        if (polygonHitsRect(p, x0, y0, x0 + P + 2 * ov, y0 + P + 2 * ov)) out.push(this.#patch(t, cx, cy));
      }
    }
    return out;
  }

  /**
   * Every patch (of every tract) whose outer box touches a convex sky polygon: tracts nearest
   * first, then by patch index.
   */
  patchesOverlapping(polygon: SkyPolygon): PatchInfo[] {
    return this.#overlapping(polygon).flatMap(({ tract, projected }) => this.#patchesOf(tract, projected));
  }

  /**
   * The patches a template for the polygon is built from: those of the nearest tract whose pixel
   * box holds the whole polygon, or, when no single tract does (a polygon across a tract
   * boundary wider than the overlap), those of every overlapping tract. The rule is
   * deterministic, so the planner and the activator agree on it.
   */
  patchesCovering(polygon: SkyPolygon): PatchInfo[] {
    const all = this.#overlapping(polygon);
    for (const { tract, projected } of all) {
      if (rectInsidePolygonBox(projected, -0.5, -0.5, tract.width - 0.5, tract.height - 0.5)) return this.#patchesOf(tract, projected);
    }
    return all.flatMap(({ tract, projected }) => this.#patchesOf(tract, projected));
  }

  skymapRecord(): SkymapRecord {
    let patchNxMax = 0;
    let patchNyMax = 0;
    for (let t = 0; t < this.numTracts; t++) {
      const info = this.tractInfo(t);
      patchNxMax = Math.max(patchNxMax, info.numPatchesX);
      patchNyMax = Math.max(patchNyMax, info.numPatchesY);
    }
    return { name: this.name, hash: skymapHash(this.config), tractMax: this.numTracts, patchNxMax, patchNyMax, config: this.config };
  }

  tractRecord(tract: number): TractRecord {
    const t = this.tractInfo(tract);
    return {
      skymap: this.name,
      tract,
      ra: t.centerDeg[0],
      dec: t.centerDeg[1],
      numPatchesX: t.numPatchesX,
      numPatchesY: t.numPatchesY,
      region: regionJson(t.corners),
    };
  }

  patchRecord(tract: number, patch: number): PatchRecord {
    const p = this.patchInfo(tract, patch);
    return { skymap: this.name, tract, patch, cellX: p.cellX, cellY: p.cellY, region: regionJson(p.corners) };
  }
}

/** sha256 (hex) of the canonical config. */
export function skymapHash(config: SkymapConfig): string {
  const canonical = JSON.stringify({
    name: config.name,
    pixelScaleArcsec: config.pixelScaleArcsec,
    tractSizeDeg: config.tractSizeDeg,
    patchSizePx: config.patchSizePx,
    overlapPx: config.overlapPx,
    tractOverlapDeg: config.tractOverlapDeg ?? null,
    layout: 'rings-v1',
  });
  return createHash('sha256').update(canonical).digest('hex');
}

function lonLatOf(p: ConvexPolygon): [number, number] {
  const [x, y, z] = p.center;
  let ra = Math.atan2(y, x) * R2D;
  if (ra < 0) ra += 360;
  return [ra, Math.asin(Math.max(-1, Math.min(1, z))) * R2D];
}

/** Sky corners of the pixel box [x0, x1) × [y0, y1) (outer pixel edges), counter-clockwise on the sky. */
function boxCorners(wcs: TanWcs, x0: number, y0: number, x1: number, y1: number): ReadonlyArray<readonly [number, number]> {
  const pts: Array<[number, number]> = [
    [x0 - 0.5, y0 - 0.5],
    [x1 - 0.5, y0 - 0.5],
    [x1 - 0.5, y1 - 0.5],
    [x0 - 0.5, y1 - 0.5],
  ];
  const sky = pts.map(([x, y]) => {
    const s = pixelToSky(wcs, x, y);
    return [s[0], s[1]] as [number, number];
  });
  // Counter-clockwise in sphgeom's sense; a parity-flipped (east-left) WCS gives the reverse.
  const [a, b, c] = sky.map(([ra, dec]) => unitVector(ra, dec));
  const ordered = orientation(a, b, c) < 0 ? [sky[0], sky[3], sky[2], sky[1]] : sky;
  return Object.freeze(ordered.map((c) => Object.freeze(c) as readonly [number, number]));
}

const skymaps = new Map<string, Skymap>();

/** The skymap of a config (cached: tract geometry is computed once per process). */
export function makeSkymap(config: SkymapConfig = DEFAULT_SKYMAP_CONFIG): Skymap {
  const key = skymapHash(config);
  let s = skymaps.get(key);
  if (!s) {
    s = new Skymap(config);
    skymaps.set(key, s);
  }
  return s;
}
