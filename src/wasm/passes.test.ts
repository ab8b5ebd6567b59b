import { describe, expect, it } from 'vitest';
import { passKernels } from './passes.ts';
import { wasmInstance } from './load.ts';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

describe('SIMD correlation passes', () => {
  it('hpass equals a float64 loop over taps, tails included, for every tap count', () => {
    const { exports: k, arena } = passKernels();
    const rnd = lcg(1);
    for (const T of [1, 3, 7, 13, 21]) {
      for (const n of [1, 3, 4, 5, 17, 1001]) {
        const [row, out, taps] = arena.layout([['f32', n + T - 1], ['f32', n], ['f32', T]]);
        for (let i = 0; i < row.view.length; i++) row.view[i] = rnd() * 1000;
        for (let t = 0; t < T; t++) taps.view[t] = rnd();
        k.hpass(row.ptr, out.ptr, n, taps.ptr, T);
        for (let x = 0; x < n; x++) {
          let s = 0;
          let scale = 0;
          for (let t = 0; t < T; t++) {
            s += taps.view[t] * row.view[x + t];
            scale += Math.abs(taps.view[t] * row.view[x + t]);
          }
          expect(Math.abs(out.view[x] - s)).toBeLessThanOrEqual(1e-6 * scale + 1e-30);
        }
      }
    }
  });

  it('vpass writes or accumulates exactly the requested columns and rows', () => {
    const { exports: k, arena } = passKernels();
    const rnd = lcg(2);
    const W = 37;
    for (const T of [1, 5, 13]) {
      for (const [x0, x1] of [[0, 37], [3, 10], [5, 6], [8, 8]]) {
        for (const accumulate of [false, true]) {
          const nRows = 4;
          const [src, dst, taps] = arena.layout([['f32', (nRows + T - 1) * W], ['f32', nRows * W], ['f32', T]]);
          for (let i = 0; i < src.view.length; i++) src.view[i] = rnd() * 100;
          for (let i = 0; i < dst.view.length; i++) dst.view[i] = rnd();
          for (let t = 0; t < T; t++) taps.view[t] = rnd();
          const before = dst.view.slice();
          k.vpass(src.ptr, dst.ptr, W, nRows, x0, x1, taps.ptr, T, accumulate);
          for (let r = 0; r < nRows; r++) {
            for (let x = 0; x < W; x++) {
              const i = r * W + x;
              if (x < x0 || x >= x1) {
                expect(dst.view[i]).toBe(before[i]);
                continue;
              }
              let s = accumulate ? before[i] : 0;
              let scale = Math.abs(s);
              for (let t = 0; t < T; t++) {
                s += taps.view[t] * src.view[(r + t) * W + x];
                scale += Math.abs(taps.view[t] * src.view[(r + t) * W + x]);
              }
              expect(Math.abs(dst.view[i] - s)).toBeLessThanOrEqual(1e-6 * scale);
            }
          }
        }
      }
    }
  });

  it('one instance per thread, whose arena grows for a larger layout and keeps its base', () => {
    const a = wasmInstance('passes');
    expect(passKernels()).toBe(a);
    const [small] = a.arena.layout([['f32', 16]]);
    const [big] = a.arena.layout([['f32', 5_000_000]], true);
    expect(big.ptr).toBe(small.ptr);
    expect(a.arena.bytes).toBeGreaterThanOrEqual(big.ptr + 20_000_000);
    expect(big.view[4_999_999]).toBe(0);
    expect(() => a.arena.layout([['f32', -1]])).toThrow(/element count/);
  });
});
