/**
 * A deterministic sky of stars, used both to paint the simulated raws and, later, as the
 * reference catalog for astrometry and photometry.
 *
 * The sphere is cut into fixed cells: declination bands CELL_DEG high, each band cut into
 * `round(360 cos(dec_mid) / CELL_DEG)` equal RA cells (at least one). A cell's stars come in ten
 * one-magnitude bins (r = 14..15, …, 23..24); each (cell, bin) has its own random stream forked
 * from the catalog seed, so a star's id, position and magnitudes never depend on the query that
 * found it (its shape, its size, a magnitude cut, the order of queries).
 *
 * Number counts: N(< r) = density · 10^(0.3 (r − 24)) stars per arcmin² for 14 ≤ r < 24, with
 * density (stars brighter than r = 24 per arcmin²) DEFAULT_DENSITY_PER_ARCMIN2 = 8: a
 * mid-galactic-latitude field, ~1,500 stars on an LSST CCD, ~1,300 on a DECam CCD.
 *
 * Photometric system: magnitudes are AB, in the LSST u g r i z y bands (DECam's g r i z Y are
 * treated as the same bands). An AB magnitude m is the flux 10^(−0.4 (m − AB_NJY_ZERO_POINT)) nJy,
 * i.e. AB zero point 31.4 for nanojansky (8.9 for Jy) in every band. The colours follow the
 * main-sequence stellar locus (Covey et al. 2007, approximately): a blue turn-off population
 * (g − r ≈ 0.35) and a red dwarf population (g − r ≈ 1.3) whose share grows towards faint
 * magnitudes. Proper motions and parallaxes are zero.
 *
 * Star ids are cellId · 2^20 + bin · 2^16 + k + 1: positive integers below 2^40 (int64- and
 * double-safe), unique across the sky.
 */
import type { PhysicalFilter } from '../../instruments/index.ts';
import { Rng, type RngSeed } from '../../core/rng.ts';
import { InvalidInputError } from '../../core/errors.ts';

export type Band = PhysicalFilter['band'];
export const BANDS: readonly Band[] = ['u', 'g', 'r', 'i', 'z', 'y'];

/** Height of a declination band and nominal width of a cell, degrees. */
export const CELL_DEG = 0.25;
export const MAG_BRIGHT = 14;
export const MAG_FAINT = 24;
/** log10 N(<m) slope. */
export const COUNT_SLOPE = 0.3;
export const DEFAULT_DENSITY_PER_ARCMIN2 = 8;
/** AB magnitude of a 1 nJy source. */
export const AB_NJY_ZERO_POINT = 31.4;

const N_BINS = MAG_FAINT - MAG_BRIGHT;
const N_DEC_BANDS = Math.round(180 / CELL_DEG);
const D2R = Math.PI / 180;
const R2D = 180 / Math.PI;
const MAX_PER_BIN = 65535;
/** Largest colour r − X for any band X (red dwarfs in y): how much fainter in r a star can be and still pass a cut in X. */
const MAX_RED_OFFSET = 3.5;
/** Largest X − r (blue stars in u... red stars in u are fainter; blue stars are at most ~0.2 brighter in g). */
const MAX_BLUE_OFFSET = 0.5;

/** Catalog identity: a seed, and optionally a different density. Queries with the same spec agree. */
export interface SkyCatalogSpec {
  readonly seed: RngSeed;
  /** Stars brighter than r = 24 per arcmin² (default DEFAULT_DENSITY_PER_ARCMIN2). */
  readonly densityPerArcmin2?: number;
}

export interface SkyRegion {
  readonly raMinDeg: number;
  /** When raMaxDeg < raMinDeg the region wraps through RA = 0. */
  readonly raMaxDeg: number;
  readonly decMinDeg: number;
  readonly decMaxDeg: number;
}

export interface StarQueryOptions {
  /** Keep stars brighter than this (strictly less) in `band`. */
  readonly maxMag?: number;
  /** Band of the magnitude cut (default 'r'). */
  readonly band?: Band;
}

/** Columnar star list. Rows are ordered by cell, then magnitude bin, then index within the bin. */
export interface StarCatalog {
  readonly count: number;
  readonly ids: Float64Array;
  readonly ra: Float64Array;
  readonly dec: Float64Array;
  readonly mags: Readonly<Record<Band, Float32Array>>;
}

// ---------------------------------------------------------------- cell layout
const BAND_NRA = new Int32Array(N_DEC_BANDS);
const BAND_OFFSET = new Int32Array(N_DEC_BANDS + 1);
for (let j = 0; j < N_DEC_BANDS; j++) {
  const mid = -90 + (j + 0.5) * CELL_DEG;
  BAND_NRA[j] = Math.max(1, Math.round((360 * Math.cos(mid * D2R)) / CELL_DEG));
  BAND_OFFSET[j + 1] = BAND_OFFSET[j] + BAND_NRA[j];
}
/** Number of cells on the sphere. */
export const CELL_COUNT = BAND_OFFSET[N_DEC_BANDS];

export interface CellInfo {
  readonly cellId: number;
  readonly raMinDeg: number;
  readonly raMaxDeg: number;
  readonly decMinDeg: number;
  readonly decMaxDeg: number;
  /** Solid angle, arcmin². */
  readonly areaArcmin2: number;
}

export function cellInfo(cellId: number): CellInfo {
  if (!Number.isInteger(cellId) || cellId < 0 || cellId >= CELL_COUNT) throw new RangeError(`cell id ${cellId} outside 0..${CELL_COUNT - 1}`);
  // binary search for the band
  let lo = 0;
  let hi = N_DEC_BANDS - 1;
  while (lo < hi) {
    const m = (lo + hi + 1) >> 1;
    if (BAND_OFFSET[m] <= cellId) lo = m;
    else hi = m - 1;
  }
  const j = lo;
  const i = cellId - BAND_OFFSET[j];
  const w = 360 / BAND_NRA[j];
  const decMinDeg = -90 + j * CELL_DEG;
  const decMaxDeg = decMinDeg + CELL_DEG;
  const areaSr = w * D2R * (Math.sin(decMaxDeg * D2R) - Math.sin(decMinDeg * D2R));
  return { cellId, raMinDeg: i * w, raMaxDeg: (i + 1) * w, decMinDeg, decMaxDeg, areaArcmin2: areaSr * (R2D * 60) ** 2 };
}

/** Cell holding a sky position. */
export function cellOf(raDeg: number, decDeg: number): number {
  const ra = normRa(raDeg);
  const j = Math.min(N_DEC_BANDS - 1, Math.max(0, Math.floor((decDeg + 90) / CELL_DEG)));
  const n = BAND_NRA[j];
  return BAND_OFFSET[j] + Math.min(n - 1, Math.floor((ra / 360) * n));
}

function normRa(ra: number): number {
  const r = ra % 360;
  return r < 0 ? r + 360 : r;
}

// ---------------------------------------------------------------- colours
function clamp(x: number, a: number, b: number): number {
  return x < a ? a : x > b ? b : x;
}

/** Fills mags u g i z y for a star of magnitude r and colour g − r = x (approximate stellar locus). */
function locus(x: number, rng: Rng, r: number, out: Float64Array): void {
  const ug = x <= 1.0 ? 0.65 + 1.75 * x : 2.4 + 0.4 * (x - 1.0);
  const ri = x <= 1.1 ? 0.04 + 0.33 * x : 0.403 + 3.0 * (x - 1.1);
  const iz = 0.02 + 0.48 * ri;
  const zy = 0.01 + 0.3 * ri;
  const g = r + x + 0.02 * rng.normal();
  out[0] = g + ug + 0.05 * rng.normal();
  out[1] = g;
  out[2] = r;
  out[3] = r - ri - 0.02 * rng.normal();
  out[4] = out[3] - iz - 0.02 * rng.normal();
  out[5] = out[4] - zy - 0.03 * rng.normal();
}

// ---------------------------------------------------------------- generation of one (cell, bin)
interface BinStars {
  n: number;
  ids: Float64Array;
  ra: Float64Array;
  dec: Float64Array;
  mags: Float32Array; // n x 6, band-major per star
}

function specOf(spec: RngSeed | SkyCatalogSpec): { seed: RngSeed; density: number } {
  if (typeof spec === 'object') {
    const density = spec.densityPerArcmin2 ?? DEFAULT_DENSITY_PER_ARCMIN2;
    if (!(density > 0) || density > 200) throw new InvalidInputError(`star density ${density} per arcmin² is outside (0, 200]`);
    return { seed: spec.seed, density };
  }
  return { seed: spec, density: DEFAULT_DENSITY_PER_ARCMIN2 };
}

function generateBin(root: Rng, density: number, cell: CellInfo, bin: number): BinStars {
  const rng = root.fork(`cell/${cell.cellId}/${bin}`);
  const m0 = MAG_BRIGHT + bin;
  const frac = 10 ** (COUNT_SLOPE * (m0 + 1 - MAG_FAINT)) - 10 ** (COUNT_SLOPE * (m0 - MAG_FAINT));
  const mean = density * cell.areaArcmin2 * frac;
  const n = Math.min(MAX_PER_BIN, rng.poisson(mean));
  const ids = new Float64Array(n);
  const ra = new Float64Array(n);
  const dec = new Float64Array(n);
  const mags = new Float32Array(n * 6);
  const sinLo = Math.sin(cell.decMinDeg * D2R);
  const sinHi = Math.sin(cell.decMaxDeg * D2R);
  const w = cell.raMaxDeg - cell.raMinDeg;
  const step = 10 ** COUNT_SLOPE - 1;
  const tmp = new Float64Array(6);
  const idBase = cell.cellId * 1048576 + bin * 65536 + 1;
  for (let k = 0; k < n; k++) {
    ids[k] = idBase + k;
    ra[k] = cell.raMinDeg + w * rng.uniform();
    dec[k] = Math.asin(clamp(sinLo + (sinHi - sinLo) * rng.uniform(), -1, 1)) * R2D;
    const r = m0 + Math.log10(1 + step * rng.uniform()) / COUNT_SLOPE;
    const pRed = clamp(0.25 + 0.05 * (r - MAG_BRIGHT), 0, 0.8);
    const x = rng.uniform() < pRed ? clamp(1.3 + 0.12 * rng.normal(), 0.9, 1.55) : clamp(0.35 + 0.1 * rng.normal(), -0.1, 0.9);
    locus(x, rng, r, tmp);
    for (let b = 0; b < 6; b++) mags[k * 6 + b] = tmp[b];
  }
  return { n, ids, ra, dec, mags };
}

/** Magnitude bins that can hold stars brighter than maxMag in band. */
function binLimit(opts: StarQueryOptions): number {
  if (opts.maxMag === undefined) return N_BINS;
  const band = opts.band ?? 'r';
  const rLimit = band === 'r' ? opts.maxMag : opts.maxMag + (band === 'u' || band === 'g' ? MAX_BLUE_OFFSET : MAX_RED_OFFSET);
  return clamp(Math.ceil(rLimit - MAG_BRIGHT), 0, N_BINS);
}

class CatalogBuilder {
  n = 0;
  ids = new Float64Array(1024);
  ra = new Float64Array(1024);
  dec = new Float64Array(1024);
  mags = new Float32Array(1024 * 6);

  push(src: BinStars, k: number): void {
    if (this.n === this.ids.length) {
      const cap = this.ids.length * 2;
      const grow = <T extends Float64Array | Float32Array>(a: T, size: number): T => {
        const b = new (a.constructor as new (n: number) => T)(size);
        b.set(a);
        return b;
      };
      this.ids = grow(this.ids, cap);
      this.ra = grow(this.ra, cap);
      this.dec = grow(this.dec, cap);
      this.mags = grow(this.mags, cap * 6);
    }
    const i = this.n++;
    this.ids[i] = src.ids[k];
    this.ra[i] = src.ra[k];
    this.dec[i] = src.dec[k];
    for (let b = 0; b < 6; b++) this.mags[i * 6 + b] = src.mags[k * 6 + b];
  }

  build(): StarCatalog {
    const n = this.n;
    const mags = {} as Record<Band, Float32Array>;
    BANDS.forEach((band, b) => {
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) a[i] = this.mags[i * 6 + b];
      mags[band] = a;
    });
    return { count: n, ids: this.ids.slice(0, n), ra: this.ra.slice(0, n), dec: this.dec.slice(0, n), mags };
  }
}

const BAND_INDEX: Record<Band, number> = { u: 0, g: 1, r: 2, i: 3, z: 4, y: 5 };

/** Cells whose area intersects a region (RA intervals within [0, 360)). */
export function cellsInRegion(region: SkyRegion): number[] {
  checkRegion(region);
  const out: number[] = [];
  const decMin = Math.max(-90, region.decMinDeg);
  const decMax = Math.min(90, region.decMaxDeg);
  const j0 = clamp(Math.floor((decMin + 90) / CELL_DEG), 0, N_DEC_BANDS - 1);
  const j1 = clamp(Math.floor((decMax + 90) / CELL_DEG), 0, N_DEC_BANDS - 1);
  const intervals = raIntervals(region);
  for (let j = j0; j <= j1; j++) {
    const n = BAND_NRA[j];
    const w = 360 / n;
    const seen = new Set<number>();
    for (const [a, b] of intervals) {
      const i0 = clamp(Math.floor(a / w), 0, n - 1);
      const i1 = clamp(Math.floor(b / w), 0, n - 1);
      for (let i = i0; i <= i1; i++) {
        if (!seen.has(i)) {
          seen.add(i);
          out.push(BAND_OFFSET[j] + i);
        }
      }
    }
  }
  return out;
}

function checkRegion(r: SkyRegion): void {
  for (const [k, v] of Object.entries(r)) {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new InvalidInputError(`sky region ${k} must be a finite number, got ${String(v)}`);
  }
  if (r.decMaxDeg < r.decMinDeg) throw new InvalidInputError(`sky region decMaxDeg ${r.decMaxDeg} is below decMinDeg ${r.decMinDeg}`);
}

/** The region's RA range as intervals inside [0, 360]. */
function raIntervals(r: SkyRegion): Array<[number, number]> {
  const span = r.raMaxDeg - r.raMinDeg;
  if (span >= 360 || span <= -360) return [[0, 360]];
  const a = normRa(r.raMinDeg);
  const b = normRa(r.raMaxDeg);
  if (span === 0) return [[a, a]];
  if (a <= b && span > 0) return [[a, b]];
  return [
    [a, 360],
    [0, b],
  ];
}

function inRa(ra: number, intervals: Array<[number, number]>): boolean {
  for (const [a, b] of intervals) if (ra >= a && ra <= b) return true;
  return false;
}

function collect(
  spec: RngSeed | SkyCatalogSpec,
  cells: readonly number[],
  opts: StarQueryOptions,
  keep: (ra: number, dec: number) => boolean,
): StarCatalog {
  const { seed, density } = specOf(spec);
  const root = Rng.from(seed).fork(`sky/${density}`);
  const nb = binLimit(opts);
  const bandIdx = BAND_INDEX[opts.band ?? 'r'];
  const maxMag = opts.maxMag ?? Infinity;
  const out = new CatalogBuilder();
  for (const cellId of cells) {
    const cell = cellInfo(cellId);
    for (let bin = 0; bin < nb; bin++) {
      const stars = generateBin(root, density, cell, bin);
      for (let k = 0; k < stars.n; k++) {
        if (stars.mags[k * 6 + bandIdx] >= maxMag) continue;
        if (keep(stars.ra[k], stars.dec[k])) out.push(stars, k);
      }
    }
  }
  return out.build();
}

/** Stars inside an RA/Dec box (edges included). */
export function starsInRegion(catalog: RngSeed | SkyCatalogSpec, region: SkyRegion, opts: StarQueryOptions = {}): StarCatalog {
  const cells = cellsInRegion(region);
  const intervals = raIntervals(region);
  return collect(catalog, cells, opts, (ra, dec) => dec >= region.decMinDeg && dec <= region.decMaxDeg && inRa(ra, intervals));
}

/** Stars within `radiusDeg` (great circle) of a position. */
export function starsNear(
  catalog: RngSeed | SkyCatalogSpec,
  raDeg: number,
  decDeg: number,
  radiusDeg: number,
  opts: StarQueryOptions = {},
): StarCatalog {
  if (!(radiusDeg >= 0) || radiusDeg > 90) throw new InvalidInputError(`search radius ${radiusDeg} deg is outside [0, 90]`);
  const decMin = Math.max(-90, decDeg - radiusDeg);
  const decMax = Math.min(90, decDeg + radiusDeg);
  let raHalf = 180;
  if (decMax < 90 && decMin > -90) {
    const s = Math.sin(radiusDeg * D2R) / Math.cos(decDeg * D2R);
    if (s < 1) raHalf = Math.asin(s) * R2D * 1.0000001 + 1e-9;
  }
  const region: SkyRegion = raHalf >= 180
    ? { raMinDeg: 0, raMaxDeg: 360, decMinDeg: decMin, decMaxDeg: decMax }
    : { raMinDeg: raDeg - raHalf, raMaxDeg: raDeg + raHalf, decMinDeg: decMin, decMaxDeg: decMax };
  const cells = cellsInRegion(region);
  const cosR = Math.cos(radiusDeg * D2R);
  const sd0 = Math.sin(decDeg * D2R);
  const cd0 = Math.cos(decDeg * D2R);
  return collect(catalog, cells, opts, (ra, dec) => {
    const d = dec * D2R;
    const cosSep = sd0 * Math.sin(d) + cd0 * Math.cos(d) * Math.cos((ra - raDeg) * D2R);
    return cosSep >= cosR;
  });
}

/** AB magnitude → flux in nanojansky. */
export function magToNjy(mag: number): number {
  return 10 ** (-0.4 * (mag - AB_NJY_ZERO_POINT));
}
