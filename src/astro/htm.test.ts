import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../core/errors.ts';
import {
  htmCoverCircle,
  htmCoverCircleRanges,
  htmCoverPolygon,
  htmId,
  htmIdOfVector,
  htmLevel,
  htmName,
  htmRanges,
  htmTrixel,
  htmTrixelCorners,
} from './htm.ts';
import { angleBetween, normalize, orientation, unitVector, type Vec3 } from './sphere.ts';

const inTrixel = (id: number, v: Vec3): boolean => {
  const [a, b, c] = htmTrixel(id).vertices;
  return orientation(a, b, v) >= 0 && orientation(b, c, v) >= 0 && orientation(c, a, v) >= 0;
};

/** A deterministic sequence in [0, 1). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

describe('HTM ids (sphgeom conventions)', () => {
  it('puts the axes and poles in the root triangles sphgeom does', () => {
    // Derived from sphgeom's root rule: z < 0 south; y = 0 sends x >= 0 to S0 / N3.
    expect(htmName(htmId(0, 0, 0))).toBe('N3');
    expect(htmId(0, 0, 0)).toBe(15);
    expect(htmName(htmId(0, 90, 0))).toBe('N3');
    expect(htmName(htmId(0, -90, 0))).toBe('S0');
    expect(htmName(htmId(45, 30, 0))).toBe('N3');
    expect(htmName(htmId(135, 30, 0))).toBe('N2');
    expect(htmName(htmId(225, 30, 0))).toBe('N1');
    expect(htmName(htmId(315, 30, 0))).toBe('N0');
    expect(htmName(htmId(45, -30, 0))).toBe('S0');
    expect(htmName(htmId(135, -30, 0))).toBe('S1');
    expect(htmName(htmId(225, -30, 0))).toBe('S2');
    expect(htmName(htmId(315, -30, 0))).toBe('S3');
  });

  it("matches sphgeom's own test vectors (HtmPixelizationTest.cc), edges and vertices included", () => {
    const c = 0.2928932188134525; // 1/(2 + √2)
    const cases: Array<[number, number, number, string]> = [
      [1, 0, 0, 'N32'], [0, 1, 0, 'N22'], [0, 0, 1, 'N31'], [-1, 0, 0, 'N12'], [0, -1, 0, 'N02'], [0, 0, -1, 'S01'],
      [1, 1, 0, 'N30'], [-1, 1, 0, 'N20'], [-1, -1, 0, 'N10'], [1, -1, 0, 'N00'],
      [1, 0, 1, 'N31'], [0, 1, 1, 'N21'], [-1, 0, 1, 'N11'], [0, -1, 1, 'N01'],
      [1, 0, -1, 'S00'], [0, 1, -1, 'S10'], [-1, 0, -1, 'S20'], [0, -1, -1, 'S30'],
      [1, 1, 1, 'N33'], [-1, 1, 1, 'N23'], [-1, -1, 1, 'N13'], [1, -1, 1, 'N03'],
      [1, 1, -1, 'S03'], [-1, 1, -1, 'S13'], [-1, -1, -1, 'S23'], [1, -1, -1, 'S33'],
      [c, c, 1, 'N31'], [1, c, c, 'N32'], [c, 1, c, 'N30'], [-c, c, 1, 'N21'], [-c, 1, c, 'N22'], [-1, c, c, 'N20'],
      [-c, -c, 1, 'N11'], [-1, -c, c, 'N12'], [-c, -1, c, 'N10'], [c, -c, 1, 'N01'], [c, -1, c, 'N02'], [1, -c, c, 'N00'],
      [c, c, -1, 'S01'], [1, c, -c, 'S00'], [c, 1, -c, 'S02'], [-c, c, -1, 'S11'], [-c, 1, -c, 'S10'], [-1, c, -c, 'S12'],
      [-c, -c, -1, 'S21'], [-1, -c, -c, 'S20'], [-c, -1, -c, 'S22'], [c, -c, -1, 'S31'], [c, -1, -c, 'S30'], [1, -c, -c, 'S32'],
    ];
    cases.forEach(([x, y, z, name], i) => {
      const v = normalize(x, y, z);
      const id1 = htmIdOfVector(v[0], v[1], v[2], 1);
      expect(htmName(id1), `point ${i}`).toBe(name);
      expect(htmIdOfVector(v[0], v[1], v[2], 0)).toBe(Math.floor(id1 / 4));
      expect(inTrixel(id1, v)).toBe(true);
      if (i >= 26) expect(htmIdOfVector(v[0], v[1], v[2], 2)).toBe(id1 * 4 + 3);
    });
    // "Consistency with values obtained from other libraries" in sphgeom's test.
    expect(htmId(1, 1, 20)).toBe(17043491373057);
  });

  it('ids at level L lie in [8·4^L, 16·4^L), names and levels round-trip', () => {
    const rnd = lcg(7);
    for (const level of [0, 1, 5, 7, 13, 20, 24]) {
      for (let k = 0; k < 50; k++) {
        const id = htmId(rnd() * 360, Math.asin(2 * rnd() - 1) * (180 / Math.PI), level);
        expect(id).toBeGreaterThanOrEqual(8 * 4 ** level);
        expect(id).toBeLessThan(16 * 4 ** level);
        expect(htmLevel(id)).toBe(level);
        expect(htmName(id)).toHaveLength(level + 2);
      }
    }
    expect(htmLevel(7)).toBe(-1);
    expect(htmLevel(16)).toBe(-1);
    expect(htmLevel(31)).toBe(-1);
    expect(htmLevel(32)).toBe(1);
    expect(() => htmTrixel(20)).toThrow(InvalidInputError);
    expect(() => htmId(0, 91, 7)).toThrow(InvalidInputError);
    expect(() => htmId(0, 0, 25)).toThrow(InvalidInputError);
  });

  it('every point lies in its trixel, and the trixel of a parent id contains it too', () => {
    const rnd = lcg(11);
    for (let k = 0; k < 400; k++) {
      const ra = rnd() * 360;
      const dec = Math.asin(2 * rnd() - 1) * (180 / Math.PI);
      const v = unitVector(ra, dec);
      const id20 = htmId(ra, dec, 20);
      expect(inTrixel(id20, v)).toBe(true);
      const id7 = htmId(ra, dec, 7);
      expect(Math.floor(id20 / 4 ** 13)).toBe(id7);
      expect(inTrixel(id7, v)).toBe(true);
    }
  });

  it('children partition the parent: their vertices are the parent vertices and edge midpoints, areas add up', () => {
    const sphericalArea = (v: readonly Vec3[]): number => {
      // L'Huilier via the Van Oosterom–Strackee formula
      const [a, b, c] = v;
      const num = a[0] * (b[1] * c[2] - b[2] * c[1]) + a[1] * (b[2] * c[0] - b[0] * c[2]) + a[2] * (b[0] * c[1] - b[1] * c[0]);
      const den = 1 + (a[0] * b[0] + a[1] * b[1] + a[2] * b[2]) + (b[0] * c[0] + b[1] * c[1] + b[2] * c[2]) + (c[0] * a[0] + c[1] * a[1] + c[2] * a[2]);
      return 2 * Math.atan2(num, den);
    };
    let total = 0;
    for (let r = 8; r < 16; r++) total += sphericalArea(htmTrixel(r).vertices);
    expect(total).toBeCloseTo(4 * Math.PI, 12);
    const rnd = lcg(3);
    for (let k = 0; k < 30; k++) {
      const parent = htmId(rnd() * 360, rnd() * 180 - 90, 6);
      const p = htmTrixel(parent);
      const kids = [0, 1, 2, 3].map((c) => htmTrixel(parent * 4 + c));
      const sum = kids.reduce((s, t) => s + sphericalArea(t.vertices), 0);
      expect(sum / sphericalArea(p.vertices)).toBeCloseTo(1, 12);
      // points sampled in the parent land in exactly one child, the one htmId names
      for (let j = 0; j < 20; j++) {
        const w = [rnd(), rnd(), rnd()];
        const s = w[0] + w[1] + w[2];
        const v = normalize(
          (w[0] * p.vertices[0][0] + w[1] * p.vertices[1][0] + w[2] * p.vertices[2][0]) / s,
          (w[0] * p.vertices[0][1] + w[1] * p.vertices[1][1] + w[2] * p.vertices[2][1]) / s,
          (w[0] * p.vertices[0][2] + w[1] * p.vertices[1][2] + w[2] * p.vertices[2][2]) / s,
        );
        const id = htmIdOfVector(v[0], v[1], v[2], 7);
        expect(Math.floor(id / 4)).toBe(parent);
        expect(kids.filter((t) => inTrixel(t.id, v) && !onEdge(t.id, v)).length).toBeLessThanOrEqual(1);
        expect(inTrixel(id, v)).toBe(true);
      }
    }
  });

  it('level-7 trixels are ~0.6 degrees across (the htm7 refcat shards): sqrt(area) ~0.56 deg, sides 0.5-1.1 deg', () => {
    const rnd = lcg(5);
    let area = 0;
    let maxSide = 0;
    let minSide = Infinity;
    for (let k = 0; k < 200; k++) {
      const t = htmTrixel(htmId(rnd() * 360, Math.asin(2 * rnd() - 1) * (180 / Math.PI), 7));
      const [a, b, c] = t.vertices;
      const sides = [angleBetween(a, b), angleBetween(b, c), angleBetween(c, a)].map((x) => x * (180 / Math.PI));
      maxSide = Math.max(maxSide, ...sides);
      minSide = Math.min(minSide, ...sides);
      const det = a[0] * (b[1] * c[2] - b[2] * c[1]) + a[1] * (b[2] * c[0] - b[0] * c[2]) + a[2] * (b[0] * c[1] - b[1] * c[0]);
      const den = 1 + (a[0] * b[0] + a[1] * b[1] + a[2] * b[2]) + (b[0] * c[0] + b[1] * c[1] + b[2] * c[2]) + (c[0] * a[0] + c[1] * a[1] + c[2] * a[2]);
      area += 2 * Math.atan2(det, den) * (180 / Math.PI) ** 2;
    }
    const size = Math.sqrt(area / 200);
    expect(size).toBeGreaterThan(0.5);
    expect(size).toBeLessThan(0.65);
    expect(minSide).toBeGreaterThan(0.45);
    expect(maxSide).toBeLessThan(1.1);
    expect(htmTrixelCorners(htmId(10, 10, 7))).toHaveLength(3);
  });

  it('reports the speed of htmId at level 20', () => {
    const n = 200_000;
    const ra = new Float64Array(n);
    const dec = new Float64Array(n);
    const rnd = lcg(9);
    for (let i = 0; i < n; i++) {
      ra[i] = rnd() * 360;
      dec[i] = Math.asin(2 * rnd() - 1) * (180 / Math.PI);
    }
    let acc = 0;
    for (let i = 0; i < n; i++) acc += htmId(ra[i], dec[i], 20) % 7;
    expect(acc).toBeGreaterThan(0);
  });
});

function onEdge(id: number, v: Vec3): boolean {
  const [a, b, c] = htmTrixel(id).vertices;
  return orientation(a, b, v) === 0 || orientation(b, c, v) === 0 || orientation(c, a, v) === 0;
}

describe('HTM coverings', () => {
  /** Every trixel holding one of many points sampled inside the region is in the cover. */
  function checkCovers(cover: number[], level: number, sample: () => [number, number] | null, n: number): void {
    const set = new Set(cover);
    for (let i = 0; i < n; i++) {
      const p = sample();
      if (!p) continue;
      const id = htmId(p[0], p[1], level);
      if (!set.has(id)) throw new Error(`point (${p[0]}, ${p[1]}) in trixel ${id} missing from the cover`);
    }
  }

  it('a circle: contains every trixel of points inside it, few extra', () => {
    const rnd = lcg(21);
    for (const [ra, dec, r] of [
      [53.2, -28.1, 0.4],
      [359.9, 0.1, 0.3],
      [120, 89.8, 0.5],
      [10, -89.95, 0.2],
      [200, 45, 2],
    ]) {
      const cover = htmCoverCircle(ra, dec, r, 7);
      expect(cover).toEqual([...cover].sort((a, b) => a - b));
      const c = unitVector(ra, dec);
      checkCovers(
        cover,
        7,
        () => {
          // uniform in the cap
          const u = rnd();
          const rho = Math.acos(1 - u * (1 - Math.cos((r * Math.PI) / 180)));
          const phi = rnd() * 2 * Math.PI;
          const v = offsetVector(c, rho, phi);
          return [(Math.atan2(v[1], v[0]) * 180) / Math.PI, (Math.asin(v[2]) * 180) / Math.PI];
        },
        20000,
      );
      // Not wildly over-inclusive: area of the cover below area of a circle 1 trixel larger.
      const areaCap = 2 * Math.PI * (1 - Math.cos(((r + 0.8) * Math.PI) / 180));
      expect(cover.length * ((4 * Math.PI) / (8 * 4 ** 7))).toBeLessThan(areaCap * 1.5);
    }
  });

  it("a tiny circle at a pole or an axis gives the 4 trixels meeting there (sphgeom's level-13 values)", () => {
    const ids = (ra: number, dec: number) => htmCoverCircle(ra, dec, 1e-14, 13);
    expect(ids(0, -90)).toEqual([553648128, 620756992, 687865856, 754974720]);
    expect(ids(0, 90)).toEqual([822083584, 889192448, 956301312, 1023410176]);
    expect(ids(0, 0)).toEqual([536870912, 771751936, 805306368, 1040187392]);
    expect(ids(90, 0)).toEqual([570425344, 603979776, 973078528, 1006632960]);
    expect(ids(180, 0)).toEqual([637534208, 671088640, 905969664, 939524096]);
    expect(ids(270, 0)).toEqual([704643072, 738197504, 838860800, 872415232]);
  });

  it('a polygon (a rotated detector-sized quadrilateral, one across RA 0, one at the pole): complete', () => {
    const rnd = lcg(33);
    const quads: Array<Array<[number, number]>> = [
      [[53.0, -28.3], [53.25, -28.25], [53.3, -28.0], [53.05, -28.05]],
      [[359.8, -0.2], [0.2, -0.2], [0.2, 0.2], [359.8, 0.2]],
      [[0, 89.7], [90, 89.7], [180, 89.7], [270, 89.7]],
    ];
    for (const q of quads) {
      for (const level of [5, 7, 9]) {
        const cover = htmCoverPolygon(q, level);
        const reversed = htmCoverPolygon([...q].reverse(), level);
        expect(reversed).toEqual(cover);
        // sample points as random convex combinations of the corners
        const vs = q.map(([ra, dec]) => unitVector(ra, dec));
        checkCovers(
          cover,
          level,
          () => {
            const w = vs.map(() => rnd() ** 3);
            const s = w.reduce((a, b) => a + b, 0);
            const v = normalize(...([0, 1, 2].map((k) => vs.reduce((acc, p, i) => acc + (w[i] * p[k]) / s, 0)) as [number, number, number]));
            return [(Math.atan2(v[1], v[0]) * 180) / Math.PI, (Math.asin(v[2]) * 180) / Math.PI];
          },
          5000,
        );
        // edges and corners too
        for (let i = 0; i < vs.length; i++) {
          for (let t = 0; t <= 1; t += 0.01) {
            const a = vs[i];
            const b = vs[(i + 1) % vs.length];
            const v = normalize(a[0] * (1 - t) + b[0] * t, a[1] * (1 - t) + b[1] * t, a[2] * (1 - t) + b[2] * t);
            expect(cover).toContain(htmIdOfVector(v[0], v[1], v[2], level));
          }
        }
      }
    }
    expect(() => htmCoverPolygon([[0, 0], [1, 0]], 7)).toThrow(InvalidInputError);
    expect(() => htmCoverPolygon([[0, 0], [1, 0], [0, 1], [1, 1]], 7)).toThrow(/not convex/);
  });

  it('htmRanges merges sorted ids into half-open ranges; the range cover agrees with the id cover', () => {
    expect(htmRanges([5, 3, 4, 9, 10, 4, 20])).toEqual([[3, 6], [9, 11], [20, 21]]);
    expect(htmRanges([])).toEqual([]);
    const ids = htmCoverCircle(30, 30, 1, 8);
    expect(htmRanges(ids)).toEqual(htmCoverCircleRanges(30, 30, 1, 8));
    // A big circle at a fine level comes back as a few ranges, not millions of ids.
    const r = htmCoverCircleRanges(0, 0, 10, 14);
    expect(r.length).toBeLessThan(20000);
    expect(() => htmCoverCircle(0, 0, 60, 11)).toThrow(/ranges/);
  });
});

/** The point at angle rho from c in direction phi. */
function offsetVector(c: Vec3, rho: number, phi: number): Vec3 {
  // an orthonormal basis around c
  const ref: Vec3 = Math.abs(c[2]) < 0.9 ? [0, 0, 1] : [1, 0, 0];
  const e1 = normalize(ref[1] * c[2] - ref[2] * c[1], ref[2] * c[0] - ref[0] * c[2], ref[0] * c[1] - ref[1] * c[0]);
  const e2: Vec3 = [c[1] * e1[2] - c[2] * e1[1], c[2] * e1[0] - c[0] * e1[2], c[0] * e1[1] - c[1] * e1[0]];
  const s = Math.sin(rho);
  const k = Math.cos(rho);
  return normalize(
    k * c[0] + s * (Math.cos(phi) * e1[0] + Math.sin(phi) * e2[0]),
    k * c[1] + s * (Math.cos(phi) * e1[1] + Math.sin(phi) * e2[1]),
    k * c[2] + s * (Math.cos(phi) * e1[2] + Math.sin(phi) * e2[2]),
  );
}
