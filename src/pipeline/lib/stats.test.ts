import { describe, expect, it } from 'vitest';
import { SeededRng } from '../testing/rng.ts';
import { medianInPlace, selectInPlace, sigmaClippedStatsInPlace } from './stats.ts';

describe('stats', () => {
  it('selects every order statistic like a sort, with duplicates and sub-ranges', () => {
    const rng = new SeededRng(1);
    for (const n of [1, 2, 3, 7, 100, 1001]) {
      const base = Float32Array.from({ length: n }, () => Math.floor(rng.uniform() * 20));
      const sorted = base.slice().sort();
      for (let k = 0; k < n; k += Math.max(1, n >> 4)) expect(selectInPlace(base.slice(), 0, n, k)).toBe(sorted[k]);
    }
    const a = Float32Array.from([9, 8, 7, 3, 2, 1]);
    expect(selectInPlace(a, 3, 6, 4)).toBe(2);
    expect(Array.from(a.subarray(0, 3))).toEqual([9, 8, 7]);
  });

  it('computes medians of odd and even counts', () => {
    expect(medianInPlace(Float32Array.from([3, 1, 2]), 3)).toBe(2);
    expect(medianInPlace(Float32Array.from([4, 1, 3, 2]), 4)).toBe(2.5);
    expect(medianInPlace(Float32Array.from([5, 1, 9, 9]), 2)).toBe(3);
    expect(medianInPlace(new Float32Array(0), 0)).toBeNaN();
  });

  it('sigma-clips outliers: mean and sigma of Gaussian data with 5% wild values', () => {
    const rng = new SeededRng(2);
    const n = 20000;
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = i % 20 === 0 ? 1000 + 100 * rng.uniform() : 50 + 3 * rng.normal();
    const s = sigmaClippedStatsInPlace(a, n, 3, 3);
    expect(s.median).toBeCloseTo(50, 0);
    expect(s.mean).toBeCloseTo(50, 0);
    expect(s.sigma).toBeGreaterThan(2.7);
    expect(s.sigma).toBeLessThan(3.1);
    expect(s.n).toBeLessThan(n * 0.95 + 10);
    expect(s.n).toBeGreaterThan(n * 0.93);
  });
});
