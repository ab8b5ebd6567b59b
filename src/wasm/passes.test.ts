import { describe, expect, it } from 'vitest';
import { IQR_TO_SIGMA, medianInPlace, sigmaClippedStatsInPlace } from '../pipeline/lib/stats.ts';
import { passKernels } from './passes.ts';
import { wasmInstance } from './load.ts';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

const NO_DATA = 1 << 8;
const EDGE = 1 << 4;

describe('SIMD correlation passes', () => {
  it('hpass equals a float64 loop over taps on every row, writing only the n outputs, for any count and alignment', () => {
    const { exports: k, arena } = passKernels();
    const rnd = lcg(1);
    for (const T of [1, 3, 7, 13, 21]) {
      for (const n of [1, 3, 4, 5, 15, 16, 17, 33, 127]) {
        for (const lead of [0, 1, 3]) {
          const rows = 3;
          const S = n + T + 5;
          const D = n + lead + 20;
          const [src, dst, taps] = arena.layout([['f32', rows * S], ['f32', rows * D], ['f32', T]]);
          for (let i = 0; i < src.view.length; i++) src.view[i] = rnd() * 1000;
          for (let i = 0; i < dst.view.length; i++) dst.view[i] = 7;
          for (let t = 0; t < T; t++) taps.view[t] = rnd();
          k.hpass(src.ptr, S, dst.ptr + 4 * lead, D, n, rows, taps.ptr, T);
          for (let r = 0; r < rows; r++) {
            for (let x = 0; x < D; x++) {
              const got = dst.view[r * D + x];
              if (x < lead || x >= lead + n) {
                expect(got).toBe(7);
                continue;
              }
              let s = 0;
              let scale = 0;
              for (let t = 0; t < T; t++) {
                s += taps.view[t] * src.view[r * S + x - lead + t];
                scale += Math.abs(taps.view[t] * src.view[r * S + x - lead + t]);
              }
              expect(Math.abs(got - s)).toBeLessThanOrEqual(1e-6 * scale + 1e-30);
            }
          }
        }
      }
    }
  });

  it('vpass writes or accumulates exactly the requested columns and rows, with separate strides', () => {
    const { exports: k, arena } = passKernels();
    const rnd = lcg(2);
    const W = 45;
    const SW = 52;
    for (const T of [1, 5, 13]) {
      for (const [x0, x1] of [[0, 45], [3, 10], [5, 6], [8, 8], [2, 37], [29, 45]]) {
        for (const accumulate of [false, true]) {
          const nRows = 4;
          const [src, dst, taps] = arena.layout([['f32', (nRows + T - 1) * SW], ['f32', nRows * W], ['f32', T]]);
          for (let i = 0; i < src.view.length; i++) src.view[i] = rnd() * 100;
          for (let i = 0; i < dst.view.length; i++) dst.view[i] = rnd();
          for (let t = 0; t < T; t++) taps.view[t] = rnd();
          const before = dst.view.slice();
          k.vpass(src.ptr, SW, dst.ptr, W, nRows, x0, x1, taps.ptr, T, accumulate);
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
                s += taps.view[t] * src.view[(r + t) * SW + x];
                scale += Math.abs(taps.view[t] * src.view[(r + t) * SW + x]);
              }
              expect(Math.abs(dst.view[i] - s)).toBeLessThanOrEqual(1e-6 * scale);
            }
          }
        }
      }
    }
  });

  it('maxOf finds the largest value of a block, skipping NaN', () => {
    const { exports: k, arena } = passKernels();
    const rnd = lcg(3);
    const S = 23;
    const [src] = arena.layout([['f32', 6 * S]]);
    for (const n of [1, 3, 4, 9, 20]) {
      for (let i = 0; i < src.view.length; i++) src.view[i] = rnd() * 10;
      src.view[S + 2] = NaN;
      src.view[2 * S + n - 1] = NaN;
      src.view[5 * S] = 99; // outside the block
      let want = -Infinity;
      for (let r = 1; r < 5; r++) for (let x = 0; x < n; x++) if (src.view[r * S + x] > want) want = src.view[r * S + x];
      expect(k.maxOf(src.ptr + 4 * S, S, n, 4)).toBe(want);
    }
    src.view.fill(NaN);
    expect(k.maxOf(src.ptr, S, 7, 3)).toBe(-Infinity);
    expect(k.maxOf(src.ptr, S, 0, 3)).toBe(-Infinity);
  });
});

describe('mask growth, combination and diagnostics of a strip', () => {
  it('growMask equals a direct box OR of the grown bits and zeroes non-finite values', () => {
    const { exports: k, arena } = passKernels();
    const rnd = lcg(4);
    const W = 37;
    const r = 2;
    const P = W + 2 * r + 3;
    const nIn = 14;
    const bits = 0b1011;
    const [msk, img, vr, out, line, hor, flags] = arena.layout([['i32', nIn * W], ['f32', nIn * P], ['f32', nIn * P], ['i32', (nIn - 2 * r) * W], ['i32', W + 2 * r], ['i32', nIn * W], ['u8', nIn]]);
    for (let i = 0; i < msk.view.length; i++) msk.view[i] = rnd() > 0.9 ? Math.floor((rnd() + 1) * 32) : 0;
    for (let i = 0; i < img.view.length; i++) img.view[i] = rnd();
    for (let i = 0; i < vr.view.length; i++) vr.view[i] = 1 + rnd();
    for (let i = 0; i < 4 * W; i++) msk.view[i] = 0; // rows without bits
    img.view[5 * P + r + 3] = NaN;
    vr.view[9 * P + r + W - 1] = Infinity;
    img.view[9 * P + r] = -Infinity;
    const mskCopy = msk.view.slice();
    const imgCopy = img.view.slice();
    const vrCopy = vr.view.slice();
    k.growMask(msk.ptr, img.ptr, vr.ptr, P, W, r, nIn, bits, NO_DATA, out.ptr, line.ptr, hor.ptr, flags.ptr);
    const m = (row: number, x: number): number => {
      if (x < 0 || x >= W) return 0;
      const a = imgCopy[row * P + r + x];
      const b = vrCopy[row * P + r + x];
      return (mskCopy[row * W + x] & bits) | (Number.isFinite(a) && Number.isFinite(b) ? 0 : NO_DATA);
    };
    for (let row = 0; row < nIn - 2 * r; row++) {
      for (let x = 0; x < W; x++) {
        let want = mskCopy[(row + r) * W + x] & ~bits;
        for (let dy = 0; dy <= 2 * r; dy++) for (let dx = -r; dx <= r; dx++) want |= m(row + dy, x + dx);
        expect(out.view[row * W + x]).toBe(want);
      }
    }
    for (let i = 0; i < img.view.length; i++) {
      expect(img.view[i]).toBe(Number.isFinite(imgCopy[i]) ? imgCopy[i] : 0);
      expect(vr.view[i]).toBe(Number.isFinite(vrCopy[i]) ? vrCopy[i] : 0);
    }
  });

  it('combine equals the plain per-pixel formulas, borders and NO_DATA fill included', () => {
    const { exports: k, arena } = passKernels();
    const rnd = lcg(5);
    const W = 23;
    const nRows = 5;
    const H = 40;
    const r = 3;
    const deg = 2;
    for (const [y0, fill, scale] of [[0, NaN, 1], [20, 0, -0.9], [36, NaN, 1.1]]) {
      const [img, vr, mask, oImg, oVar, oMask, bg, xh] = arena.layout([
        ['f32', nRows * W],
        ['f32', nRows * W],
        ['i32', nRows * W],
        ['f32', nRows * W],
        ['f32', nRows * W],
        ['i32', nRows * W],
        ['f32', nRows * (deg + 1)],
        ['f32', W],
      ]);
      for (let i = 0; i < nRows * W; i++) {
        img.view[i] = 100 * rnd();
        vr.view[i] = 10 + rnd();
        oImg.view[i] = 100 * rnd();
        oVar.view[i] = 10 + rnd();
        mask.view[i] = rnd() > 0.8 ? 1 << 5 : rnd() > 0.9 ? NO_DATA : 0;
        oMask.view[i] = rnd() > 0.8 ? 1 : 0;
      }
      oImg.view[7] = NaN;
      for (let i = 0; i < bg.view.length; i++) bg.view[i] = rnd();
      for (let x = 0; x < W; x++) xh.view[x] = (x - (W - 1) / 2) / ((W - 1) / 2);
      const before = { img: img.view.slice(), vr: vr.view.slice(), mask: mask.view.slice() };
      const keep = ~(1 << 5);
      k.combine(img.ptr, vr.ptr, mask.ptr, oImg.ptr, oVar.ptr, oMask.ptr, W, nRows, y0, H, r, bg.ptr, deg, xh.ptr, scale, scale * scale, keep, NO_DATA, NO_DATA | EDGE, fill);
      for (let row = 0; row < nRows; row++) {
        const y = y0 + row;
        for (let x = 0; x < W; x++) {
          const i = row * W + x;
          const v = oImg.view[i];
          const rowBits = y < r || y >= H - r ? NO_DATA | EDGE : 0;
          let mk = (before.mask[i] | oMask.view[i] | rowBits | (Number.isFinite(v) ? 0 : NO_DATA)) & keep;
          if (x < r || x >= W - r) mk |= NO_DATA | EDGE;
          expect(mask.view[i]).toBe(mk);
          if (mk & NO_DATA) {
            expect(img.view[i]).toBe(Math.fround(fill));
            expect(vr.view[i]).toBe(Math.fround(fill));
            continue;
          }
          const c = bg.view.subarray(row * (deg + 1), (row + 1) * (deg + 1));
          const b = (c[2] * xh.view[x] + c[1]) * xh.view[x] + c[0];
          const d = scale * (v - before.img[i] - b);
          expect(Math.abs(img.view[i] - d)).toBeLessThanOrEqual(1e-5 * (Math.abs(v) + Math.abs(before.img[i]) + 1));
          expect(vr.view[i]).toBeCloseTo(scale * scale * (oVar.view[i] + before.vr[i]), 4);
        }
      }
    }
  });

  it('diagnoseRows subtracts the background and sums the normalised residuals of the sampled pixels', () => {
    const { exports: k, arena } = passKernels();
    const rnd = lcg(6);
    const W = 21;
    const nRows = 9;
    const y0 = 4;
    const deg = 1;
    const bad = 1;
    const srcBits = 2;
    const clip = 2.5;
    for (const noData of [NO_DATA, 0]) {
      const [img, vr, mask, maskA, maskB, bg, xh, stats] = arena.layout([
        ['f32', nRows * W],
        ['f32', nRows * W],
        ['i32', nRows * W],
        ['i32', nRows * W],
        ['i32', nRows * W],
        ['f32', nRows * (deg + 1)],
        ['f32', W],
        ['f64', 4],
      ]);
      for (let i = 0; i < nRows * W; i++) {
        vr.view[i] = rnd() > 0.95 ? 0 : 1 + rnd();
        mask.view[i] = rnd() > 0.9 ? bad : rnd() > 0.9 ? NO_DATA : 0;
        img.view[i] = mask.view[i] & NO_DATA && noData === 0 ? NaN : 2 * rnd();
        maskA.view[i] = rnd() > 0.9 ? srcBits : 0;
        maskB.view[i] = rnd() > 0.95 ? srcBits : 0;
      }
      for (let i = 0; i < bg.view.length; i++) bg.view[i] = 0.3 * rnd();
      for (let x = 0; x < W; x++) xh.view[x] = (x - (W - 1) / 2) / ((W - 1) / 2);
      const before = img.view.slice();
      stats.view.set([1, 2, 3, 4]);
      k.diagnoseRows(img.ptr, vr.ptr, mask.ptr, maskA.ptr, maskB.ptr, W, nRows, y0, bg.ptr, deg, xh.ptr, noData, 2, 1, bad, srcBits, clip, stats.ptr);
      let n = 1;
      let s = 2;
      let s2 = 3;
      let out = 4;
      for (let row = 0; row < nRows; row++) {
        for (let x = 0; x < W; x++) {
          const i = row * W + x;
          const b = Math.fround(Math.fround(bg.view[row * 2 + 1] * xh.view[x]) + bg.view[row * 2]);
          const want = noData !== 0 && mask.view[i] & noData ? before[i] : Math.fround(before[i] - b);
          expect(img.view[i]).toBe(want);
          if ((y0 + row) % 2 !== 1 || x % 2 !== 1) continue;
          if (mask.view[i] & bad || (maskA.view[i] | maskB.view[i]) & srcBits || !(vr.view[i] > 0)) continue;
          const z = img.view[i] / Math.sqrt(vr.view[i]);
          if (!(Math.abs(z) <= clip)) {
            out++;
            continue;
          }
          n++;
          s += z;
          s2 += z * z;
        }
      }
      expect(Array.from(stats.view)).toEqual([n, s, s2, out]);
    }
  });
});

describe('cell kernels', () => {
  it('weightedSum sums the images with nonzero weights, and squares', () => {
    const { exports: k, arena } = passKernels();
    const rnd = lcg(7);
    const count = 5;
    const n = 13;
    const [images, a, out, sq] = arena.layout([['f64', count * n], ['f64', count], ['f64', n], ['f64', n]]);
    for (let i = 0; i < images.view.length; i++) images.view[i] = rnd();
    a.view.set([0.5, 0, -2, 1e-3, 0]);
    k.weightedSum(images.ptr, count, n, a.ptr, out.ptr, sq.ptr);
    for (let p = 0; p < n; p++) {
      let s = 0;
      for (let j = 0; j < count; j++) if (a.view[j] !== 0) s += a.view[j] * images.view[j * n + p];
      expect(out.view[p]).toBe(s);
      expect(sq.view[p]).toBe(s * s);
    }
  });

  it('separable approximates a separable kernel at rank 1 and reports the eigenvectors', () => {
    const { exports: k, arena } = passKernels();
    const size = 9;
    const limit = 3;
    const [kern, g, vec, proj, err, scratch] = arena.layout([['f64', size * size], ['f64', 1], ['f64', limit * size], ['f64', limit * size], ['f64', 1], ['f64', k.separableScratch(size, limit, 1)]]);
    const h = Array.from({ length: size }, (_, u) => Math.exp(-((u - 4.2) ** 2) / 4));
    const v = Array.from({ length: size }, (_, w) => Math.exp(-((w - 3.9) ** 2) / 5));
    for (let w = 0; w < size; w++) for (let u = 0; u < size; u++) kern.view[w * size + u] = h[u] * v[w];
    g.view[0] = 1;
    const rank = k.separable(kern.ptr, size, g.ptr, 1, 0, limit, 1e-9, vec.ptr, proj.ptr, err.ptr, scratch.ptr);
    expect(rank).toBe(1);
    expect(err.view[0]).toBeLessThan(1e-9);
    let norm = 0;
    for (let u = 0; u < size; u++) norm += vec.view[u] ** 2;
    expect(norm).toBeCloseTo(1, 12);
    for (let w = 0; w < size; w++) for (let u = 0; u < size; u++) expect(vec.view[u] * proj.view[w]).toBeCloseTo(kern.view[w * size + u], 12);
  });
});

describe('medians', () => {
  it('median and clippedMedian equal the library estimators', () => {
    const { exports: k, arena } = passKernels();
    const rnd = lcg(8);
    const [a] = arena.layout([['f32', 3000]]);
    for (const n of [0, 1, 2, 3, 4, 5, 10, 101, 484, 1821, 2000]) {
      const v = Float32Array.from({ length: n }, () => 800 + 30 * (rnd() + rnd()) + (rnd() > 0.98 ? 5000 * rnd() : 0));
      if (n > 6) v[3] = v[5]; // ties
      a.view.set(v);
      expect(k.median(a.ptr, n)).toBe(medianInPlace(v.slice(), n));
      for (const [nSigma, iterations] of [[3, 3], [2, 5], [3, 0]]) {
        a.view.set(v);
        const want = sigmaClippedStatsInPlace(v.slice(), n, nSigma, iterations).median;
        expect(k.clippedMedian(a.ptr, n, nSigma, iterations, IQR_TO_SIGMA)).toBe(want);
      }
    }
  });
});

describe('passes instance', () => {
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
