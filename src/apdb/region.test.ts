import { describe, expect, it } from 'vitest';
import { htmCoverPolygonRanges, htmId } from '../astro/htm.ts';
import { InvalidInputError } from '../core/errors.ts';
import { APDB_HTM_LEVEL, lockTrixels, mergeRanges, pixelIdOf, regionRanges } from './region.ts';
import { boxRegion } from './testing/rows.ts';

const inside = (ranges: ReadonlyArray<readonly [number, number]>, id: number): boolean => ranges.some(([a, b]) => id >= a && id < b);

describe('APDB region ranges', () => {
  it('covers a region with at most 64 level-20 ranges that contain every level-20 trixel it touches', () => {
    for (const [ra, dec, half] of [[150, 2, 0.1], [0.05, -89.9, 0.05], [359.95, 45, 0.2], [10, 0, 1.5], [200, 60, 0.001]] as const) {
      const region = boxRegion(ra, dec, half);
      const ranges = regionRanges(region);
      expect(ranges.length).toBeGreaterThan(0);
      expect(ranges.length).toBeLessThanOrEqual(64);
      for (let i = 1; i < ranges.length; i++) expect(ranges[i][0]).toBeGreaterThan(ranges[i - 1][1]);
      // Sample points inside the region (corners pulled in a hair, and the middle).
      for (const [fx, fy] of [[0, 0], [-0.999, -0.999], [0.999, 0.999], [-0.999, 0.999], [0.5, -0.3]]) {
        expect(inside(ranges, pixelIdOf(ra + fx * half, dec + fy * half)), `${ra},${dec} point ${fx},${fy}`).toBe(true);
      }
      for (const [a, b] of ranges) {
        expect(a).toBeGreaterThanOrEqual(8 * 4 ** APDB_HTM_LEVEL);
        expect(b).toBeLessThanOrEqual(16 * 4 ** APDB_HTM_LEVEL);
      }
    }
  });

  it('is far tighter than the whole sky and no coarser than needed', () => {
    const region = boxRegion(150, 2, 0.1);
    const total = regionRanges(region).reduce((n, [a, b]) => n + (b - a), 0);
    // A 0.2° square is ~1e-6 of the sky; its cover stays within a few times its area.
    expect(total / (8 * 4 ** APDB_HTM_LEVEL)).toBeLessThan(2e-5);
    // A tiny region has a cover at full level-20 resolution.
    const tiny = boxRegion(200, 60, 1e-5);
    expect(regionRanges(tiny)).toEqual(htmCoverPolygonRanges(tiny.vertices, APDB_HTM_LEVEL));
  });

  it('merges the closest ranges first', () => {
    expect(mergeRanges([[0, 1], [2, 3], [10, 11], [30, 31]], 2)).toEqual([[0, 11], [30, 31]]);
    expect(mergeRanges([[0, 1], [5, 6]], 4)).toEqual([[0, 1], [5, 6]]);
    expect(mergeRanges([[0, 1], [5, 6], [7, 8]], 1)).toEqual([[0, 8]]);
  });

  it('locks level-8 trixels ascending, shared by overlapping regions', () => {
    const a = lockTrixels(boxRegion(150 - 0.05, 2, 0.06));
    const b = lockTrixels(boxRegion(150 + 0.05, 2, 0.06));
    expect(a).toEqual([...a].sort((x, y) => x - y));
    expect(a).toContain(htmId(150, 2, 8));
    expect(b).toContain(htmId(150, 2, 8));
  });

  it('refuses a region that is not a convex polygon', () => {
    expect(() => regionRanges({ vertices: [[0, 0], [1, 1]] })).toThrow(InvalidInputError);
    expect(() => regionRanges({ vertices: [[0, 0], [1, 0], [0.5, 0.1], [1, 1], [0, 1]] })).toThrow(/not convex/);
  });
});
