import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../core/errors.ts';
import { arcsIntersect, distanceToArc, lonLatDeg, normalize, orientation, orientationExact, unitVector } from './sphere.ts';
import { convexPolygon, polygonContains, relatePolygonCap, relatePolygons } from './spherical-polygon.ts';

describe('sphere predicates', () => {
  it('orientation is the sign of a · (b × c), exact when the floating-point value is not', () => {
    const x = unitVector(0, 0);
    const y = unitVector(90, 0);
    const z = unitVector(0, 90);
    expect(orientation([1, 0, 0], [0, 1, 0], [0, 0, 1])).toBe(1);
    expect(orientation([0, 1, 0], [1, 0, 0], [0, 0, 1])).toBe(-1);
    expect(orientation(x, x, y)).toBe(0);
    expect(orientation([1, 0, 0], [-1, 0, 0], [0, 1, 0])).toBe(0);
    // three points on the equator: exactly coplanar, the float determinant may say otherwise
    const a = normalize(1, 1e-20, 0);
    const b = normalize(1, 2e-20, 0);
    expect(orientation(a, b, [0.6, 0.8, 0])).toBe(0);
    // a point a hair above the great circle through two others: the exact path decides
    const p = normalize(1, 1, 0);
    const q = normalize(1, -1, 0);
    expect(orientation(p, q, [1, 0, 1e-300])).toBe(-1);
    expect(orientation(q, p, [1, 0, 1e-300])).toBe(1);
    expect(orientationExact([1, 0, 0], [0, 1, 0], [0, 0, 1])).toBe(1);
    expect(orientation(x, y, z)).toBe(1);
  });

  it('converts positions and measures distances to arcs', () => {
    expect(lonLatDeg(unitVector(123.4, -56.7))[0]).toBeCloseTo(123.4, 12);
    expect(lonLatDeg(unitVector(-10, 5))[0]).toBeCloseTo(350, 12);
    const a = unitVector(0, 0);
    const b = unitVector(10, 0);
    expect(distanceToArc(unitVector(5, 1), a, b) * (180 / Math.PI)).toBeCloseTo(1, 9);
    expect(distanceToArc(unitVector(12, 0), a, b) * (180 / Math.PI)).toBeCloseTo(2, 9);
    expect(arcsIntersect(unitVector(5, -1), unitVector(5, 1), a, b)).toBe(true);
    expect(arcsIntersect(unitVector(15, -1), unitVector(15, 1), a, b)).toBe(false);
    // antipodal crossing of the great circles is not an intersection of the arcs
    expect(arcsIntersect(unitVector(185, -1), unitVector(185, 1), a, b)).toBe(false);
  });
});

describe('convex polygons', () => {
  const square: Array<[number, number]> = [[10, -1], [12, -1], [12, 1], [10, 1]];

  it('accept either winding, contain their inside, and relate to other shapes conservatively', () => {
    const p = convexPolygon(square);
    const r = convexPolygon([...square].reverse());
    expect(r.vertices).toEqual(p.vertices);
    expect(polygonContains(p, unitVector(11, 0))).toBe(true);
    expect(polygonContains(p, unitVector(13, 0))).toBe(false);
    const inner = convexPolygon([[10.5, -0.5], [11.5, -0.5], [11.5, 0.5]]);
    expect(relatePolygons(inner, p)).toBe(2);
    expect(relatePolygons(p, inner)).toBe(1);
    expect(relatePolygons(convexPolygon([[12, -0.5], [14, -0.5], [14, 0.5], [12, 0.5]]), p)).toBe(1); // sharing an edge
    expect(relatePolygons(convexPolygon([[12.001, -0.5], [14, -0.5], [14, 0.5]]), p)).toBe(0);
    // crossing without a vertex inside either (a plus sign)
    expect(relatePolygons(convexPolygon([[10.8, -3], [11.2, -3], [11.2, 3], [10.8, 3]]), p)).toBe(1);
    expect(relatePolygonCap(p, { center: unitVector(11, 0), radius: 0.01 })).toBe(1);
    expect(relatePolygonCap(p, { center: unitVector(11, 0), radius: 0.1 })).toBe(2);
    expect(relatePolygonCap(p, { center: unitVector(15, 0), radius: (2.9 * Math.PI) / 180 })).toBe(0);
    expect(relatePolygonCap(p, { center: unitVector(15, 0), radius: (3.01 * Math.PI) / 180 })).toBe(1);
  });

  it('refuses non-convex, degenerate and bad input with a clear error', () => {
    expect(() => convexPolygon([[0, 0], [2, 0], [1, 0.1], [2, 1], [0, 1]])).toThrow(/not convex/);
    expect(() => convexPolygon([[0, 0], [1, 0], [2, 0]])).toThrow(/degenerate/);
    expect(() => convexPolygon([[0, 0], [1, 100], [2, 0]])).toThrow(InvalidInputError);
    expect(() => convexPolygon([[0, 0], [0, 0], [1, 1]])).toThrow(/at least 3/);
  });
});
