/**
 * The Hierarchical Triangular Mesh exactly as LSST's sphgeom (HtmPixelization) defines it, so
 * ids agree with LSST's htm7 reference-catalog shards and htm dimensions.
 *
 * The sphere is cut into 8 root triangles (trixels) with ids 8..15, named S0..S3, N0..N3, whose
 * vertices (counter-clockwise) are, with X, Y, Z the unit axes:
 *   S0 (X, −Z, Y)   S1 (Y, −Z, −X)   S2 (−X, −Z, −Y)   S3 (−Y, −Z, X)
 *   N0 (X, Z, −Y)   N1 (−Y, Z, −X)   N2 (−X, Z, Y)     N3 (Y, Z, X)
 * A trixel (v0, v1, v2) with edge midpoints m01, m12, m20 (normalised sums) has the children
 *   id·4 + 0: (v0, m01, m20)   id·4 + 1: (v1, m12, m01)   id·4 + 2: (v2, m20, m12)   id·4 + 3: (m12, m20, m01)
 * so a level-L id lies in [8·4^L, 16·4^L). A point on a shared edge belongs to the first child
 * whose orientation tests it passes (sphgeom's order), and the root of a point follows sphgeom's
 * sign rules (z < 0 south; then the signs of y and x, with y = 0 going to S0/S2/N3/N1), so
 * (ra, dec) = (0, 0) is in N3 and the poles in N3 (north) and S0 (south).
 *
 * Ids up to level 24 (sphgeom's MAX_LEVEL) are below 2^53 and exact as JavaScript numbers.
 */
import { InvalidInputError } from '../core/errors.ts';
import { convexPolygon, convexPolygonFromVectors, relatePolygonCap, relatePolygons, type ConvexPolygon, type Relation } from './spherical-polygon.ts';
import { D2R, lonLatDeg, orient, unitVector, type Vec3 } from './sphere.ts';

export const HTM_MAX_LEVEL = 24;
/** Largest number of ids a cover returns as a list (use the *Ranges variants beyond). */
export const HTM_MAX_COVER_IDS = 2_000_000;

const X: Vec3 = [1, 0, 0];
const Y: Vec3 = [0, 1, 0];
const Z: Vec3 = [0, 0, 1];
const NX: Vec3 = [-1, 0, 0];
const NY: Vec3 = [0, -1, 0];
const NZ: Vec3 = [0, 0, -1];
const ROOTS: ReadonlyArray<readonly [Vec3, Vec3, Vec3]> = [
  [X, NZ, Y],
  [Y, NZ, NX],
  [NX, NZ, NY],
  [NY, NZ, X],
  [X, Z, NY],
  [NY, Z, NX],
  [NX, Z, Y],
  [Y, Z, X],
];
export const HTM_ROOT_NAMES = ['S0', 'S1', 'S2', 'S3', 'N0', 'N1', 'N2', 'N3'] as const;

const POW4: number[] = [];
for (let l = 0, p = 1; l <= HTM_MAX_LEVEL + 1; l++, p *= 4) POW4.push(p);

function checkLevel(level: number): void {
  if (!Number.isInteger(level) || level < 0 || level > HTM_MAX_LEVEL) {
    throw new InvalidInputError(`HTM level must be an integer in 0..${HTM_MAX_LEVEL}, got ${level}`);
  }
}

/** Root triangle (0..7) of a unit vector, by sphgeom's rules. */
function rootOf(x: number, y: number, z: number): number {
  if (z < 0) {
    if (y > 0) return x > 0 ? 0 : 1;
    if (y === 0) return x >= 0 ? 0 : 2;
    return x < 0 ? 2 : 3;
  }
  if (y > 0) return x > 0 ? 7 : 6;
  if (y === 0) return x >= 0 ? 7 : 5;
  return x < 0 ? 5 : 4;
}

/** HTM id of a unit vector at `level` (sphgeom's HtmPixelization::index). */
export function htmIdOfVector(x: number, y: number, z: number, level: number): number {
  checkLevel(level);
  const r = rootOf(x, y, z);
  const root = ROOTS[r];
  let v0x = root[0][0], v0y = root[0][1], v0z = root[0][2];
  let v1x = root[1][0], v1y = root[1][1], v1z = root[1][2];
  let v2x = root[2][0], v2y = root[2][1], v2z = root[2][2];
  let id = r + 8;
  for (let l = 0; l < level; l++) {
    // m01 = |v0 + v1|, m20 = |v2 + v0| (component-wise exactly as sphgeom)
    let ax = v0x + v1x, ay = v0y + v1y, az = v0z + v1z;
    let n = Math.sqrt(ax * ax + ay * ay + az * az);
    const m01x = ax / n, m01y = ay / n, m01z = az / n;
    ax = v2x + v0x;
    ay = v2y + v0y;
    az = v2z + v0z;
    n = Math.sqrt(ax * ax + ay * ay + az * az);
    const m20x = ax / n, m20y = ay / n, m20z = az / n;
    id *= 4;
    if (orient(x, y, z, m01x, m01y, m01z, m20x, m20y, m20z) >= 0) {
      v1x = m01x; v1y = m01y; v1z = m01z;
      v2x = m20x; v2y = m20y; v2z = m20z;
      continue;
    }
    ax = v1x + v2x;
    ay = v1y + v2y;
    az = v1z + v2z;
    n = Math.sqrt(ax * ax + ay * ay + az * az);
    const m12x = ax / n, m12y = ay / n, m12z = az / n;
    if (orient(x, y, z, m12x, m12y, m12z, m01x, m01y, m01z) >= 0) {
      v0x = v1x; v0y = v1y; v0z = v1z;
      v1x = m12x; v1y = m12y; v1z = m12z;
      v2x = m01x; v2y = m01y; v2z = m01z;
      id += 1;
    } else if (orient(x, y, z, m20x, m20y, m20z, m12x, m12y, m12z) >= 0) {
      v0x = v2x; v0y = v2y; v0z = v2z;
      v1x = m20x; v1y = m20y; v1z = m20z;
      v2x = m12x; v2y = m12y; v2z = m12z;
      id += 2;
    } else {
      v0x = m12x; v0y = m12y; v0z = m12z;
      v1x = m20x; v1y = m20y; v1z = m20z;
      v2x = m01x; v2y = m01y; v2z = m01z;
      id += 3;
    }
  }
  return id;
}

/** HTM id of a sky position (degrees) at `level`. */
export function htmId(raDeg: number, decDeg: number, level: number): number {
  if (!Number.isFinite(raDeg) || !Number.isFinite(decDeg) || Math.abs(decDeg) > 90) {
    throw new InvalidInputError(`HTM position must be a finite (ra, dec) with |dec| <= 90, got (${raDeg}, ${decDeg})`);
  }
  const lon = raDeg * D2R;
  const lat = decDeg * D2R;
  const cosLat = Math.cos(lat);
  return htmIdOfVector(Math.cos(lon) * cosLat, Math.sin(lon) * cosLat, Math.sin(lat), level);
}

/** Level of an HTM id, or −1 when the number is not a valid id (sphgeom's HtmPixelization::level). */
export function htmLevel(id: number): number {
  if (!Number.isSafeInteger(id) || id < 8) return -1;
  for (let l = 0; l <= HTM_MAX_LEVEL; l++) {
    if (id < 8 * POW4[l]) return -1;
    if (id < 16 * POW4[l]) return l;
  }
  return -1;
}

export interface Trixel {
  readonly id: number;
  readonly level: number;
  /** Counter-clockwise vertices (unit vectors). */
  readonly vertices: readonly [Vec3, Vec3, Vec3];
}

function mid(a: Vec3, b: Vec3): Vec3 {
  const x = a[0] + b[0];
  const y = a[1] + b[1];
  const z = a[2] + b[2];
  const n = Math.sqrt(x * x + y * y + z * z);
  return [x / n, y / n, z / n];
}

function children(v: readonly [Vec3, Vec3, Vec3]): Array<[Vec3, Vec3, Vec3]> {
  const m01 = mid(v[0], v[1]);
  const m12 = mid(v[1], v[2]);
  const m20 = mid(v[2], v[0]);
  return [
    [v[0], m01, m20],
    [v[1], m12, m01],
    [v[2], m20, m12],
    [m12, m20, m01],
  ];
}

/** The trixel of an id: its level and vertices (sphgeom's HtmPixelization::triangle). */
export function htmTrixel(id: number): Trixel {
  const level = htmLevel(id);
  if (level < 0) throw new InvalidInputError(`${id} is not a valid HTM id`);
  const r = Math.floor(id / POW4[level]) - 8;
  let v: [Vec3, Vec3, Vec3] = [...ROOTS[r]] as [Vec3, Vec3, Vec3];
  for (let l = level - 1; l >= 0; l--) {
    const child = Math.floor(id / POW4[l]) % 4;
    v = children(v)[child];
  }
  return { id, level, vertices: v };
}

/** Trixel vertices as (ra, dec) degrees. */
export function htmTrixelCorners(id: number): Array<[number, number]> {
  return htmTrixel(id).vertices.map((v) => lonLatDeg(v));
}

/** sphgeom's name of an id: 'N3' + base-4 digits ('S01', 'N3120', ...). */
export function htmName(id: number): string {
  const level = htmLevel(id);
  if (level < 0) throw new InvalidInputError(`${id} is not a valid HTM id`);
  let s = HTM_ROOT_NAMES[Math.floor(id / POW4[level]) - 8] as string;
  for (let l = level - 1; l >= 0; l--) s += String(Math.floor(id / POW4[l]) % 4);
  return s;
}

// ---------------------------------------------------------------- coverings
/** Half-open id range [lo, hi). */
export type HtmRange = readonly [number, number];

function cover(relate: (tri: ConvexPolygon) => Relation, level: number): HtmRange[] {
  checkLevel(level);
  const out: Array<[number, number]> = [];
  const push = (lo: number, hi: number): void => {
    const last = out[out.length - 1];
    if (last && last[1] === lo) last[1] = hi;
    else out.push([lo, hi]);
  };
  const visit = (v: readonly [Vec3, Vec3, Vec3], id: number, l: number): void => {
    const rel = relate(convexPolygonFromVectors(v, 'trixel'));
    if (rel === 0) return;
    if (rel === 2 || l === level) {
      const span = POW4[level - l];
      push(id * span, (id + 1) * span);
      return;
    }
    const ch = children(v);
    for (let c = 0; c < 4; c++) visit(ch[c], id * 4 + c, l + 1);
  };
  for (let r = 0; r < 8; r++) visit(ROOTS[r], r + 8, 0);
  return out;
}

function expand(ranges: readonly HtmRange[], what: string): number[] {
  const total = ranges.reduce((s, [a, b]) => s + (b - a), 0);
  if (total > HTM_MAX_COVER_IDS) {
    throw new InvalidInputError(`${what} covers ${total} trixels (more than ${HTM_MAX_COVER_IDS}); ask for ranges or a coarser level`);
  }
  const ids: number[] = [];
  for (const [a, b] of ranges) for (let i = a; i < b; i++) ids.push(i);
  return ids;
}

/** Sorted merged ranges of the level-`level` trixels that intersect a circle (possibly a few more, never fewer). */
export function htmCoverCircleRanges(raDeg: number, decDeg: number, radiusDeg: number, level: number): HtmRange[] {
  if (!Number.isFinite(raDeg) || !Number.isFinite(decDeg) || Math.abs(decDeg) > 90) {
    throw new InvalidInputError(`circle centre must be a finite (ra, dec) with |dec| <= 90, got (${raDeg}, ${decDeg})`);
  }
  if (!(radiusDeg >= 0) || radiusDeg > 180) throw new InvalidInputError(`circle radius must be in [0, 180] degrees, got ${radiusDeg}`);
  const cap = { center: unitVector(raDeg, decDeg), radius: radiusDeg * D2R };
  return cover((tri) => relatePolygonCap(tri, cap), level);
}

/** Level-`level` trixel ids that intersect a circle, ascending (possibly a few more, never fewer). */
export function htmCoverCircle(raDeg: number, decDeg: number, radiusDeg: number, level: number): number[] {
  return expand(htmCoverCircleRanges(raDeg, decDeg, radiusDeg, level), 'circle');
}

/** Sorted merged ranges of the level-`level` trixels that intersect a convex polygon ((ra, dec) vertices, degrees, either winding). */
export function htmCoverPolygonRanges(vertices: ReadonlyArray<readonly [number, number]>, level: number): HtmRange[] {
  const poly = convexPolygon(vertices);
  return cover((tri) => relatePolygons(tri, poly), level);
}

/** Level-`level` trixel ids that intersect a convex polygon, ascending (possibly a few more, never fewer). */
export function htmCoverPolygon(vertices: ReadonlyArray<readonly [number, number]>, level: number): number[] {
  return expand(htmCoverPolygonRanges(vertices, level), 'polygon');
}

/** Sorted, merged half-open [lo, hi) ranges of a set of ids (for `id >= lo AND id < hi` in SQL). */
export function htmRanges(ids: Iterable<number>): HtmRange[] {
  const sorted = Float64Array.from(ids).sort();
  const out: Array<[number, number]> = [];
  for (const id of sorted) {
    if (!Number.isSafeInteger(id)) throw new InvalidInputError(`HTM id ${id} is not an integer`);
    const last = out[out.length - 1];
    if (last && id < last[1]) continue;
    if (last && id === last[1]) last[1] = id + 1;
    else out.push([id, id + 1]);
  }
  return out;
}
