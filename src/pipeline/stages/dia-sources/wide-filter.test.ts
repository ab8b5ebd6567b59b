import { describe, expect, it } from 'vitest';
import { SeededRng } from '../../testing/rng.ts';
import { convolveSeparable, gaussianKernel } from '../detection/detection.ts';
import { convolveSymmetric, LazySymmetricFilter } from './wide-filter.ts';

describe('convolveSymmetric', () => {
  it('equals convolveSeparable to the bit, masked and non-finite pixels included', () => {
    const rng = new SeededRng(5);
    const W = 157;
    const H = 71;
    const src = Float32Array.from({ length: W * H }, () => 100 * rng.normal());
    const mask = new Int32Array(W * H);
    for (let i = 0; i < 60; i++) mask[Math.floor(rng.uniform() * W * H)] = 1 << Math.floor(rng.uniform() * 3);
    src[123] = NaN;
    src[4000] = Infinity;
    const tmp = new Float32Array(W * H);
    for (const [sigma, r] of [[1.5, 4], [2, 7], [3, 9], [5.7, 15], [4, 13]]) {
      const k = gaussianKernel(sigma, r);
      const a = new Float32Array(W * H);
      const b = new Float32Array(W * H);
      convolveSeparable(src, W, H, k, tmp, a, mask, 3);
      convolveSymmetric(src, W, H, k, tmp, b, mask, 3);
      expect(b).toEqual(a);
      if (r > 6) {
        // Pixel by pixel (borders included).
        const lazy = new LazySymmetricFilter(src, W, H, k, mask, 3);
        for (let p = 0; p < W * H; p += 7) expect(Object.is(lazy.at(p), a[p])).toBe(true);
      }
      const finite = src.map((v) => (Number.isFinite(v) ? v : 0));
      convolveSeparable(finite, W, H, k, tmp, a);
      convolveSymmetric(finite, W, H, k, tmp, b);
      expect(b).toEqual(a);
      if (r > 6) {
        const lazy = new LazySymmetricFilter(finite, W, H, k);
        for (let p = 3; p < W * H; p += 5) expect(Object.is(lazy.at(p), a[p])).toBe(true);
      }
    }
  });
});
