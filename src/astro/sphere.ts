/**
 * Unit vectors on the celestial sphere and the predicates the sky geometry is built on.
 *
 * Conventions follow LSST's sphgeom: a sky position (ra, dec) is the unit vector
 * (cos dec cos ra, cos dec sin ra, sin dec); a vector is normalised by dividing each component by
 * the square root of the sum of squares (the same floating-point operations as sphgeom's
 * Vector3d::normalize, so midpoints of trixel edges agree bit for bit); `orientation(a, b, c)` is
 * the sign of the determinant a · (b × c), exact for every input (a floating-point filter with
 * sphgeom's error bounds, then exact integer arithmetic for the few ambiguous cases).
 */

/** A unit vector (x, y, z). */
export type Vec3 = readonly [number, number, number];

export const D2R = Math.PI / 180;
export const R2D = 180 / Math.PI;

/** The unit vector of a sky position (degrees). */
export function unitVector(raDeg: number, decDeg: number): Vec3 {
  const lon = raDeg * D2R;
  const lat = decDeg * D2R;
  const cosLat = Math.cos(lat);
  return [Math.cos(lon) * cosLat, Math.sin(lon) * cosLat, Math.sin(lat)];
}

/** (ra, dec) in degrees of a vector (need not be normalised); ra in [0, 360). */
export function lonLatDeg(v: Vec3): [number, number] {
  const [x, y, z] = v;
  let ra = Math.atan2(y, x) * R2D;
  if (ra < 0) ra += 360;
  if (ra >= 360) ra -= 360;
  if (x === 0 && y === 0) ra = 0;
  return [ra, Math.atan2(z, Math.hypot(x, y)) * R2D];
}

/** The vector divided by its norm (sphgeom's Vector3d::normalize for ordinary magnitudes). */
export function normalize(x: number, y: number, z: number): Vec3 {
  const n = Math.sqrt(x * x + y * y + z * z);
  if (!(n > 0) || !Number.isFinite(n)) throw new RangeError(`cannot normalise the vector (${x}, ${y}, ${z})`);
  return [x / n, y / n, z / n];
}

export function dot(a: Vec3, b: Vec3): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

export function cross(a: Vec3, b: Vec3): Vec3 {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

/** Angle between two vectors, radians (accurate at all separations). */
export function angleBetween(a: Vec3, b: Vec3): number {
  const c = cross(a, b);
  return Math.atan2(Math.hypot(c[0], c[1], c[2]), dot(a, b));
}

/** Normalised sum of vectors (the "centre" of a small set of points). */
export function centroid(points: readonly Vec3[]): Vec3 {
  let x = 0;
  let y = 0;
  let z = 0;
  for (const p of points) {
    x += p[0];
    y += p[1];
    z += p[2];
  }
  return normalize(x, y, z);
}

// ---------------------------------------------------------------- orientation
const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer);
const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** d = m · 2^e with m an integer (BigInt). */
function decompose(d: number): { m: bigint; e: number } {
  if (d === 0) return { m: 0n, e: 0 };
  F64[0] = d;
  const hi = LITTLE ? U32[1] : U32[0];
  const lo = LITTLE ? U32[0] : U32[1];
  const neg = hi >>> 31 === 1;
  const expBits = (hi >>> 20) & 0x7ff;
  const fracHi = hi & 0xfffff;
  let m = (BigInt(fracHi) << 32n) | BigInt(lo);
  let e: number;
  if (expBits === 0) {
    e = -1074;
  } else {
    m |= 1n << 52n;
    e = expBits - 1075;
  }
  return { m: neg ? -m : m, e };
}

/** Exact sign of a · (b × c) by integer arithmetic (the slow path of `orientation`). */
export function orientationExact(a: Vec3, b: Vec3, c: Vec3): -1 | 0 | 1 {
  const terms: Array<[number, number, number, 1 | -1]> = [
    [a[0], b[1], c[2], 1],
    [a[0], b[2], c[1], -1],
    [a[1], b[2], c[0], 1],
    [a[1], b[0], c[2], -1],
    [a[2], b[0], c[1], 1],
    [a[2], b[1], c[0], -1],
  ];
  const products: Array<{ m: bigint; e: number }> = [];
  for (const [p, q, r, s] of terms) {
    const dp = decompose(p);
    const dq = decompose(q);
    const dr = decompose(r);
    const m = dp.m * dq.m * dr.m;
    if (m === 0n) continue;
    products.push({ m: s < 0 ? -m : m, e: dp.e + dq.e + dr.e });
  }
  if (products.length === 0) return 0;
  const minE = Math.min(...products.map((p) => p.e));
  let sum = 0n;
  for (const p of products) sum += p.m << BigInt(p.e - minE);
  return sum > 0n ? 1 : sum < 0n ? -1 : 0;
}

/**
 * Sign of the determinant a · (b × c) of three unit vectors: +1 when c lies to the left of the
 * great circle from a to b (counter-clockwise seen from outside the sphere), 0 when coplanar.
 * Exact, with sphgeom's floating-point filter.
 */
export function orientation(a: Vec3, b: Vec3, c: Vec3): -1 | 0 | 1 {
  return orient(a[0], a[1], a[2], b[0], b[1], b[2], c[0], c[1], c[2]);
}

/** `orientation` on scalar components (no allocation in the common case). */
export function orient(ax: number, ay: number, az: number, bx: number, by: number, bz: number, cx: number, cy: number, cz: number): -1 | 0 | 1 {
  const bycz = by * cz;
  const bzcy = bz * cy;
  const bzcx = bz * cx;
  const bxcz = bx * cz;
  const bxcy = bx * cy;
  const bycx = by * cx;
  const det = ax * (bycz - bzcy) + ay * (bzcx - bxcz) + az * (bxcy - bycx);
  if (det > 1.7e-15) return 1;
  if (det < -1.7e-15) return -1;
  const perm =
    Math.abs(ax) * (Math.abs(bycz) + Math.abs(bzcy)) + Math.abs(ay) * (Math.abs(bzcx) + Math.abs(bxcz)) + Math.abs(az) * (Math.abs(bxcy) + Math.abs(bycx));
  const maxError = 5.6e-16 * perm + 4.0e-307;
  if (det > maxError) return 1;
  if (det < -maxError) return -1;
  const same = (px: number, py: number, pz: number, qx: number, qy: number, qz: number): boolean =>
    (px === qx && py === qy && pz === qz) || (px === -qx && py === -qy && pz === -qz);
  if (same(ax, ay, az, bx, by, bz) || same(bx, by, bz, cx, cy, cz) || same(ax, ay, az, cx, cy, cz)) return 0;
  return orientationExact([ax, ay, az], [bx, by, bz], [cx, cy, cz]);
}

// ---------------------------------------------------------------- arcs
/**
 * Smallest angle (radians) from point p to the minor great-circle arc from a to b.
 * Degenerate arcs (a = b) give the distance to a.
 */
export function distanceToArc(p: Vec3, a: Vec3, b: Vec3): number {
  const n = cross(a, b);
  const nn = Math.hypot(n[0], n[1], n[2]);
  if (nn < 1e-300) return angleBetween(p, a);
  const nx = n[0] / nn;
  const ny = n[1] / nn;
  const nz = n[2] / nn;
  const s = p[0] * nx + p[1] * ny + p[2] * nz;
  // projection of p on the great circle
  const q: Vec3 = [p[0] - s * nx, p[1] - s * ny, p[2] - s * nz];
  const qn = Math.hypot(q[0], q[1], q[2]);
  if (qn > 1e-300) {
    const unit: Vec3 = [nx, ny, nz];
    if (dot(cross(a, q), unit) >= 0 && dot(cross(q, b), unit) >= 0) return Math.atan2(Math.abs(s), qn);
  }
  return Math.min(angleBetween(p, a), angleBetween(p, b));
}

/**
 * Whether the minor arcs a→b and c→d cross or touch, with a tolerance `eps` (radians-ish) that
 * errs towards "they do": a conservative test for coverings.
 */
export function arcsIntersect(a: Vec3, b: Vec3, c: Vec3, d: Vec3, eps = 1e-12): boolean {
  const n1 = cross(a, b);
  const n2 = cross(c, d);
  const l1 = Math.hypot(n1[0], n1[1], n1[2]);
  const l2 = Math.hypot(n2[0], n2[1], n2[2]);
  if (l1 < 1e-300 || l2 < 1e-300) return false;
  const sc = dot(n1, c) / l1;
  const sd = dot(n1, d) / l1;
  if ((sc > eps && sd > eps) || (sc < -eps && sd < -eps)) return false;
  const sa = dot(n2, a) / l2;
  const sb = dot(n2, b) / l2;
  if ((sa > eps && sb > eps) || (sa < -eps && sb < -eps)) return false;
  const p = cross(n1, n2);
  const pl = Math.hypot(p[0], p[1], p[2]);
  // Same great circle (or nearly): call it an intersection (conservative).
  if (pl < 1e-9 * l1 * l2) return true;
  const ab: Vec3 = [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
  const cd: Vec3 = [c[0] + d[0], c[1] + d[1], c[2] + d[2]];
  const sign = dot(p, ab) >= 0 ? 1 : -1;
  return (sign * dot(p, cd)) / pl > -eps * (1 + Math.hypot(cd[0], cd[1], cd[2]));
}
