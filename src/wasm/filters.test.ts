import { describe, expect, it } from 'vitest';
import { IQR_TO_SIGMA, medianInPlace, sigmaClippedStatsInPlace } from '../pipeline/lib/stats.ts';
import { filterKernels } from './filters.ts';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

const fr = Math.fround;

/** Equal as numbers (−0 and +0 alike; the order statistics may return either zero). */
const same = (a: number, b: number): boolean => a === b || (a !== a && b !== b);

/** The symmetric fold in float32, in the kernels' order: c0·a0 + c1·(a−1 + a+1) + … */
function fold(at: (d: number) => number, taps: Float32Array): number {
  let s = fr(taps[0] * at(0));
  for (let j = 1; j < taps.length; j++) s = fr(s + fr(taps[j] * fr(at(-j) + at(j))));
  return s;
}

function randomTaps(rnd: () => number, r: number): Float32Array {
  return Float32Array.from({ length: r + 1 }, () => Math.abs(rnd()));
}

describe('SIMD symmetric filter kernels', () => {
  it('hrows equals the float32 fold to the bit, masked and NaN pixels as zero, tails included', () => {
    const { exports: k, arena } = filterKernels();
    const rnd = lcg(1);
    for (const r of [0, 1, 3, 6, 15]) {
      for (const W of [1, 3, 4, 5, 16, 17, 35]) {
        for (const withMask of [false, true]) {
          const nRows = 3;
          const [src, mask, rowBuf, taps, out] = arena.layout([
            ['f32', nRows * W],
            ['i32', nRows * W],
            ['f32', W + 2 * r],
            ['f32', r + 1],
            ['f32', nRows * W],
          ]);
          for (let i = 0; i < src.view.length; i++) {
            src.view[i] = rnd() * 1000;
            mask.view[i] = rnd() > 0.7 ? (rnd() > 0 ? 4 : 1) : 0;
          }
          src.view[Math.floor(src.view.length / 2)] = NaN;
          rowBuf.view.fill(12345); // the kernel zeroes its padding itself
          taps.view.set(randomTaps(rnd, r));
          k.hrows(src.ptr, withMask ? mask.ptr : 0, W, nRows, 4, taps.ptr, r, rowBuf.ptr, out.ptr);
          for (let y = 0; y < nRows; y++) {
            const value = (x: number): number => {
              if (x < 0 || x >= W) return 0;
              const v = src.view[y * W + x];
              return withMask && (mask.view[y * W + x] & 4 || v !== v) ? 0 : v;
            };
            for (let x = 0; x < W; x++) {
              expect(Object.is(out.view[y * W + x], fold((d) => value(x + d), taps.view))).toBe(true);
            }
          }
        }
      }
    }
  });

  it('vrows equals the float32 fold down the columns to the bit', () => {
    const { exports: k, arena } = filterKernels();
    const rnd = lcg(2);
    for (const r of [0, 2, 6, 9]) {
      for (const W of [1, 4, 7, 21]) {
        const nRows = 5;
        const [strip, taps, out] = arena.layout([
          ['f32', (nRows + 2 * r) * W],
          ['f32', r + 1],
          ['f32', nRows * W],
        ]);
        for (let i = 0; i < strip.view.length; i++) strip.view[i] = rnd() * 100;
        taps.view.set(randomTaps(rnd, r));
        k.vrows(strip.ptr + 4 * r * W, out.ptr, W, nRows, taps.ptr, r);
        for (let y = 0; y < nRows; y++) {
          for (let x = 0; x < W; x++) {
            const want = fold((d) => strip.view[(y + r + d) * W + x], taps.view);
            expect(Object.is(out.view[y * W + x], want)).toBe(true);
          }
        }
      }
    }
  });

  it('above lists the pixels beyond their threshold in order, NaN never', () => {
    const { exports: k, arena } = filterKernels();
    const rnd = lcg(3);
    for (const W of [1, 5, 16, 33, 100]) {
      const [row, thr, list] = arena.layout([
        ['f32', W],
        ['f32', W],
        ['i32', W],
      ]);
      for (let x = 0; x < W; x++) {
        row.view[x] = rnd();
        thr.view[x] = rnd() * 0.5;
      }
      row.view[W - 1] = NaN;
      if (W > 3) row.view[2] = thr.view[2]; // equal: not above
      const n = k.above(row.ptr, thr.ptr, W, 1000, list.ptr);
      const want: number[] = [];
      for (let x = 0; x < W; x++) if (row.view[x] > thr.view[x]) want.push(1000 + x);
      expect(Array.from(list.view.subarray(0, n))).toEqual(want);
    }
  });
});

describe('order statistics kernels', () => {
  const sets = (): Float32Array[] => {
    const rnd = lcg(4);
    const out: Float32Array[] = [];
    for (const n of [1, 2, 3, 4, 5, 8, 33, 1000, 4097]) {
      out.push(Float32Array.from({ length: n }, () => 800 + 30 * rnd()));
      // Outliers, negatives, duplicates, signed zeros.
      out.push(Float32Array.from({ length: n }, (_, i) => (i % 17 === 0 ? 1e5 * rnd() : i % 5 === 0 ? 0 : i % 7 === 0 ? -0 : Math.round(10 * rnd()))));
      out.push(new Float32Array(n).fill(3.5));
    }
    const wide = lcg(9);
    out.push(Float32Array.from({ length: 3000 }, () => Math.exp(20 * wide())));
    out.push(Float32Array.from({ length: 50 }, (_, i) => (i % 9 === 0 ? Infinity : i % 11 === 0 ? -Infinity : wide())));
    out.push(Float32Array.from({ length: 2000 }, (_, i) => (i < 1500 ? 1e-40 * i : -1e30)));
    return out;
  };

  it('median equals medianInPlace', () => {
    const { exports: k, arena } = filterKernels();
    for (const s of sets()) {
      const n = s.length;
      const [values, keys, work, hist] = arena.layout([
        ['f32', n],
        ['i32', n],
        ['i32', 4 * n],
        ['i32', 4096],
      ]);
      values.view.set(s);
      const got = k.median(values.ptr, n, keys.ptr, work.ptr, hist.ptr);
      expect(same(got, medianInPlace(s.slice(), n))).toBe(true);
      expect(values.view).toEqual(s);
    }
    const [values, keys, work, hist] = arena.layout([
      ['f32', 1],
      ['i32', 1],
      ['i32', 4],
      ['i32', 4096],
    ]);
    expect(k.median(values.ptr, 0, keys.ptr, work.ptr, hist.ptr)).toBeNaN();
  });

  it('clippedStats equals sigmaClippedStatsInPlace (the mean within rounding)', () => {
    const { exports: k, arena } = filterKernels();
    for (const s of sets()) {
      const n = s.length;
      for (const [nSigma, iterations] of [
        [3, 3],
        [2, 5],
        [1, 0],
      ]) {
        const [values, keys, work, hist, out] = arena.layout([
          ['f32', n],
          ['i32', n],
          ['i32', 4 * n],
          ['i32', 8192],
          ['f64', 4],
        ]);
        values.view.set(s);
        k.clippedStats(values.ptr, n, nSigma, iterations, IQR_TO_SIGMA, keys.ptr, work.ptr, hist.ptr, out.ptr);
        const js = s.slice();
        const want = sigmaClippedStatsInPlace(js, n, nSigma, iterations);
        const [median, mean, sigma, kept] = out.view;
        expect(same(median, want.median)).toBe(true);
        expect(same(sigma, want.sigma)).toBe(true);
        expect(kept).toBe(want.n);
        if (Number.isFinite(want.mean)) expect(Math.abs(mean - want.mean)).toBeLessThanOrEqual(1e-12 * Math.abs(want.mean));
        else expect(same(mean, want.mean)).toBe(true);
        expect(values.view).toEqual(s);
      }
    }
  });
});

describe('model subtraction kernel', () => {
  it('subtractRows equals the float64 interpolation rounded to float32, subtracted', () => {
    const { exports: k, arena } = filterKernels();
    const rnd = lcg(5);
    const W = 37;
    const nRows = 3;
    const nx = 4;
    const segList = [0, 5, 0, 5, 18, 1, 18, 19, 1, 19, 37, 2];
    const [img, vals, segs, wa, wb] = arena.layout([
      ['f32', nRows * W],
      ['f64', nRows * nx],
      ['i32', segList.length],
      ['f64', W],
      ['f64', W],
    ]);
    for (let i = 0; i < img.view.length; i++) img.view[i] = 1000 * rnd();
    for (let i = 0; i < vals.view.length; i++) vals.view[i] = 800 + 10 * rnd();
    for (let x = 0; x < W; x++) {
      const t = fr(rnd() * 1.5);
      wa.view[x] = 1 - t;
      wb.view[x] = t;
    }
    segs.view.set(segList);
    const before = img.view.slice();
    k.subtractRows(img.ptr, W, nRows, vals.ptr, nx, segs.ptr, segList.length / 3, wa.ptr, wb.ptr);
    for (let y = 0; y < nRows; y++) {
      for (let s = 0; s < segList.length; s += 3) {
        const m = segList[s + 2];
        for (let x = segList[s]; x < segList[s + 1]; x++) {
          const bg = fr(vals.view[y * nx + m] * wa.view[x] + vals.view[y * nx + m + 1] * wb.view[x]);
          expect(img.view[y * W + x]).toBe(fr(before[y * W + x] - bg));
        }
      }
    }
  });
});
