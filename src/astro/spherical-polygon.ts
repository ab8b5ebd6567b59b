/**
 * Convex polygons on the sphere (detector footprints, patches, trixels), with the conservative
 * predicates coverings need: a test that may say "intersects" for shapes a hair apart, never
 * "disjoint" for shapes that touch.
 *
 * Vertices are kept counter-clockwise as sphgeom's ConvexPolygon does: orientation(v[i], v[i+1],
 * v[i+2]) > 0, so a point p is inside when orientation(v[i], v[i+1], p) >= 0 for every edge.
 */
import { InvalidInputError } from '../core/errors.ts';
import { angleBetween, arcsIntersect, centroid, cross, distanceToArc, dot, lonLatDeg, orientation, unitVector, type Vec3 } from './sphere.ts';

/** Tolerance of the conservative predicates, radians (2e-7 arcsec). */
export const GEOMETRY_EPS = 1e-12;

export interface ConvexPolygon {
  /** Counter-clockwise unit vectors. */
  readonly vertices: readonly Vec3[];
  /** Unnormalised inward edge normals: edge i runs from vertex i to vertex i+1. */
  readonly normals: readonly Vec3[];
  /** Bounding circle: centre and radius (radians). */
  readonly center: Vec3;
  readonly radius: number;
}

/**
 * A convex polygon from (ra, dec) vertices in degrees, in either winding order. Throws an
 * InvalidInputError naming the problem for fewer than 3 distinct vertices, a non-convex or
 * self-intersecting outline, or one wider than a hemisphere.
 */
export function convexPolygon(verticesDeg: ReadonlyArray<readonly [number, number]>, what = 'polygon'): ConvexPolygon {
  if (!Array.isArray(verticesDeg)) throw new InvalidInputError(`${what} must be an array of [ra, dec] pairs`);
  const pts: Vec3[] = [];
  for (const [i, p] of verticesDeg.entries()) {
    if (!Array.isArray(p) || p.length < 2 || !Number.isFinite(p[0]) || !Number.isFinite(p[1]) || Math.abs(p[1]) > 90) {
      throw new InvalidInputError(`${what} vertex ${i} must be a finite [ra, dec] with |dec| <= 90, got ${JSON.stringify(p)}`);
    }
    const v = unitVector(p[0], p[1]);
    const last = pts[pts.length - 1];
    if (last && angleBetween(last, v) < GEOMETRY_EPS) continue;
    pts.push(v);
  }
  if (pts.length > 1 && angleBetween(pts[0], pts[pts.length - 1]) < GEOMETRY_EPS) pts.pop();
  return convexPolygonFromVectors(pts, what);
}

/** A convex polygon from unit vectors (either winding). */
export function convexPolygonFromVectors(input: readonly Vec3[], what = 'polygon'): ConvexPolygon {
  if (input.length < 3) throw new InvalidInputError(`${what} needs at least 3 distinct vertices, got ${input.length}`);
  const n = input.length;
  let pos = 0;
  let neg = 0;
  for (let i = 0; i < n; i++) {
    const o = orientation(input[i], input[(i + 1) % n], input[(i + 2) % n]);
    if (o > 0) pos++;
    else if (o < 0) neg++;
  }
  if (pos > 0 && neg > 0) throw new InvalidInputError(`${what} is not convex (its vertices turn both ways)`);
  if (pos === 0 && neg === 0) throw new InvalidInputError(`${what} is degenerate (all vertices on one great circle)`);
  const vertices = neg > 0 ? [...input].reverse() : [...input];
  const normals = vertices.map((v, i) => cross(v, vertices[(i + 1) % n]));
  // Every vertex must be inside every edge's hemisphere; otherwise the outline winds more than once.
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (j === i || j === (i + 1) % n) continue;
      if (dot(normals[i], vertices[j]) < -1e-15) throw new InvalidInputError(`${what} is not convex or wider than a hemisphere`);
    }
  }
  const center = centroid(vertices);
  let radius = 0;
  for (const v of vertices) radius = Math.max(radius, angleBetween(center, v));
  if (radius >= Math.PI / 2) throw new InvalidInputError(`${what} is wider than a hemisphere`);
  return { vertices, normals, center, radius: radius + GEOMETRY_EPS };
}

/** Vertices as (ra, dec) degrees, counter-clockwise. */
export function polygonLonLat(p: ConvexPolygon): Array<[number, number]> {
  return p.vertices.map((v) => lonLatDeg(v));
}

/** Whether a point is inside (or within `eps` radians outside) the polygon. */
export function polygonContains(p: ConvexPolygon, v: Vec3, eps = 0): boolean {
  const n = p.normals;
  for (let i = 0; i < n.length; i++) {
    const ni = n[i];
    const len = Math.hypot(ni[0], ni[1], ni[2]);
    if (dot(ni, v) < -eps * len) return false;
  }
  return true;
}

/** Smallest angle (radians) from a point to the polygon (0 inside). */
export function distanceToPolygon(p: ConvexPolygon, v: Vec3): number {
  if (polygonContains(p, v)) return 0;
  let d = Infinity;
  const vs = p.vertices;
  for (let i = 0; i < vs.length; i++) d = Math.min(d, distanceToArc(v, vs[i], vs[(i + 1) % vs.length]));
  return d;
}

/** 0: disjoint, 1: the polygons intersect (or may, within GEOMETRY_EPS), 2: `inner` lies inside `outer`. */
export type Relation = 0 | 1 | 2;

/** How the convex polygon `a` relates to the convex polygon `b`: 2 when `a` lies within `b`. Conservative. */
export function relatePolygons(a: ConvexPolygon, b: ConvexPolygon): Relation {
  if (angleBetween(a.center, b.center) > a.radius + b.radius + GEOMETRY_EPS) return 0;
  let allInside = true;
  for (const v of a.vertices) {
    if (!polygonContains(b, v, 0)) {
      allInside = false;
      break;
    }
  }
  if (allInside) return 2;
  for (const v of a.vertices) if (polygonContains(b, v, GEOMETRY_EPS)) return 1;
  for (const v of b.vertices) if (polygonContains(a, v, GEOMETRY_EPS)) return 1;
  const av = a.vertices;
  const bv = b.vertices;
  for (let i = 0; i < av.length; i++) {
    const a0 = av[i];
    const a1 = av[(i + 1) % av.length];
    for (let j = 0; j < bv.length; j++) {
      if (arcsIntersect(a0, a1, bv[j], bv[(j + 1) % bv.length], GEOMETRY_EPS)) return 1;
    }
  }
  return 0;
}

/** Circle (spherical cap): centre and radius in radians. */
export interface Cap {
  readonly center: Vec3;
  readonly radius: number;
}

/** How the convex polygon `a` relates to a cap: 2 when it lies within the cap. Conservative. */
export function relatePolygonCap(a: ConvexPolygon, cap: Cap): Relation {
  if (angleBetween(a.center, cap.center) > a.radius + cap.radius + GEOMETRY_EPS) return 0;
  if (cap.radius < Math.PI / 2 && a.vertices.every((v) => angleBetween(v, cap.center) <= cap.radius)) return 2;
  return distanceToPolygon(a, cap.center) <= cap.radius + GEOMETRY_EPS ? 1 : 0;
}
