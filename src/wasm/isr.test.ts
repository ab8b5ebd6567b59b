import { describe, expect, it } from 'vitest';
import { calibrateDesc, CALIBRATE_DESC_BYTES, isrKernels } from './isr.ts';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** Float32Arrays equal to the bit (NaNs included). */
function sameBits(a: Float32Array, b: Float32Array): void {
  expect(a.length).toBe(b.length);
  expect(new Uint32Array(a.buffer, a.byteOffset, a.length)).toEqual(new Uint32Array(b.buffer, b.byteOffset, b.length));
}

describe('isr kernels', () => {
  it('decode16 gives fround(s · scale + zero) for int16 and uint16, tails included', () => {
    const { exports: k, arena } = isrKernels();
    const rnd = lcg(1);
    for (const signed of [true, false]) {
      for (const n of [1, 7, 8, 9, 1001]) {
        const [src, dst] = arena.layout([
          ['u8', 2 * n],
          ['f32', n],
        ]);
        const s = signed ? new Int16Array(src.view.buffer, src.ptr, n) : new Uint16Array(src.view.buffer, src.ptr, n);
        for (let i = 0; i < n; i++) s[i] = signed ? Math.floor(rnd() * 65536) - 32768 : Math.floor(rnd() * 65536);
        if (n > 2) s[1] = signed ? -32768 : 65535;
        if (n > 3) s[2] = 0;
        for (const [scale, zero] of [
          [1.2345e-4, 0],
          [1.2345e-4, 0.5],
          [-1e-3, 0],
          [2e-4, -3.25],
        ]) {
          k.decode16(src.ptr, dst.ptr, n, signed, scale, zero);
          // +0 and −0 told apart.
          sameBits(dst.view, Float32Array.from(s, (v) => v * scale + zero));
        }
      }
    }
  });

  it('calibrate applies bias, dark and flat in float32, for every subset of planes', () => {
    const { exports: k, arena } = isrKernels();
    const rnd = lcg(2);
    for (const n of [1, 3, 4, 5, 37]) {
      for (let subset = 0; subset < 64; subset += 1 + (subset % 3)) {
        const [img, vari, descBuf, bad, ...planes] = arena.layout([
          ['f32', n],
          ['f32', n],
          ['u8', CALIBRATE_DESC_BYTES],
          ['i32', n],
          ['f32', n],
          ['f32', n],
          ['f32', n],
          ['f32', n],
          ['f32', n],
          ['f32', n],
        ]);
        const x0 = Float32Array.from({ length: n }, () => 1000 + rnd() * 5000 - 200);
        const v0 = Float32Array.from({ length: n }, () => 100 + rnd() * 5000);
        const values = [
          Float32Array.from({ length: n }, () => 12 + rnd()),
          Float32Array.from({ length: n }, () => 4 + rnd()),
          Float32Array.from({ length: n }, () => rnd() * 0.1),
          Float32Array.from({ length: n }, () => rnd() * 1e-3),
          Float32Array.from({ length: n }, () => 9000 + rnd() * 2000),
          Float32Array.from({ length: n }, () => rnd() * 100),
        ];
        // Unusable flat pixels: zero, negative, NaN, infinite.
        const unusable = [0, -1, NaN, Infinity];
        for (let i = 0; i < n; i += 3) values[4][i] = unusable[(i / 3) % 4];
        const desc = calibrateDesc(descBuf.view.buffer, descBuf.ptr);
        const on = (j: number): boolean => (subset & (1 << j)) !== 0;
        for (let j = 0; j < 6; j++) {
          planes[j].view.set(values[j]);
          desc.planes[j] = on(j) ? planes[j].ptr : 0;
        }
        const t = 30.5;
        const inv = 1 / 9876.5;
        desc.params.set([t, t * t, inv]);
        img.view.set(x0);
        vari.view.set(v0);
        const nBad = k.calibrate(n, img.ptr, vari.ptr, descBuf.ptr, bad.ptr);
        // The reference: each operation rounded to float32.
        const f = Math.fround;
        const [t32, tt32, inv32] = [f(t), f(t * t), f(inv)];
        const x = x0.slice();
        const v = v0.slice();
        const badRef: number[] = [];
        for (let i = 0; i < n; i++) {
          if (on(0)) x[i] -= values[0][i];
          if (on(1)) v[i] += values[1][i];
          if (on(2)) x[i] -= f(t32 * values[2][i]);
          if (on(3)) v[i] += f(tt32 * values[3][i]);
          if (on(4)) {
            const fi = f(values[4][i] * inv32);
            if (fi > 0 && Number.isFinite(fi)) {
              const q = f(x[i] / fi);
              x[i] = q;
              const fi2 = f(fi * fi);
              v[i] = on(5) ? f(v[i] + f(f(f(f(q * q) * values[5][i]) * inv32) * inv32)) / fi2 : v[i] / fi2;
            } else {
              x[i] = 0;
              badRef.push(i);
            }
          }
        }
        sameBits(img.view, x);
        sameBits(vari.view, v);
        expect(Array.from(bad.view.subarray(0, nBad))).toEqual(badRef);
      }
    }
  });

  it('assembleRows converts, flips and counts saturation as the per-pixel loop does', () => {
    const { exports: k, arena } = isrKernels();
    const rnd = lcg(3);
    const rawW = 23;
    const x0 = 3;
    for (const w of [1, 2, 5, 20]) {
      for (const nRows of [1, 4]) {
        for (const flipX of [false, true]) {
          for (const flipY of [false, true]) {
            for (const withCols of [false, true]) {
              const stride = w + 6;
              const [raw, levels, cols, outImg, outVar] = arena.layout([
                ['i32', rawW * nRows],
                ['f32', nRows],
                ['f32', w],
                ['f32', stride * nRows],
                ['f32', stride * nRows],
              ]);
              for (let i = 0; i < raw.view.length; i++) raw.view[i] = 17000 + Math.floor(rnd() * 3000) - 1000;
              raw.view[x0] = 99999;
              for (let r = 0; r < nRows; r++) levels.view[r] = 17000 + rnd() * 10;
              for (let i = 0; i < w; i++) cols.view[i] = rnd() * 4 - 2;
              outImg.view.fill(-7);
              outVar.view.fill(-7);
              const g = 1.7685;
              const rn2 = 7.298 ** 2;
              const sat = 18500;
              const nSat = k.assembleRows(raw.ptr, rawW, x0, w, nRows, levels.ptr, withCols ? cols.ptr : 0, g, 1, rn2, sat, flipX, flipY, outImg.ptr + 8, outVar.ptr + 8, stride);
              const img = new Float32Array(stride * nRows).fill(-7);
              const vr = new Float32Array(stride * nRows).fill(-7);
              let satRef = 0;
              for (let r = 0; r < nRows; r++) {
                const row = (flipY ? nRows - 1 - r : r) * stride + 2;
                for (let i = 0; i < w; i++) {
                  const rv = raw.view[r * rawW + x0 + i];
                  const lv = levels.view[r];
                  const val = (withCols ? rv - lv - cols.view[i] : rv - lv) * g;
                  const o = row + (flipX ? w - 1 - i : i);
                  img[o] = val;
                  vr[o] = (val > 0 ? val * 1 : 0) + rn2;
                  if (rv >= sat) satRef++;
                }
              }
              sameBits(outImg.view, img);
              sameBits(outVar.view, vr);
              expect(nSat).toBe(satRef);
            }
          }
        }
      }
    }
  });

  it('combineSnaps sums the snaps and lets through every pixel whose difference may be significant, NaNs included', () => {
    const { exports: k, arena } = isrKernels();
    const rnd = lcg(4);
    for (const n of [1, 6, 257]) {
      for (const screen of [true, false]) {
        const [a, b, va, vb, ma, mb, cand, masks] = arena.layout([
          ['f32', n],
          ['f32', n],
          ['f32', n],
          ['f32', n],
          ['i32', n],
          ['i32', n],
          ['i32', n],
          ['i32', 1],
        ]);
        const k2 = 25;
        for (let i = 0; i < n; i++) {
          a.view[i] = 1000 + rnd() * 60;
          b.view[i] = 1000 + rnd() * 60;
          va.view[i] = 1000;
          vb.view[i] = 1000 * (1 + rnd());
          ma.view[i] = rnd() < 0.05 ? 1 : 0;
          mb.view[i] = n > 1 && rnd() < 0.05 ? 4 : 0;
          // Cosmic rays in either snap, NaNs, a tiny variance, and differences at the threshold.
          const u = rnd();
          if (u < 0.05) a.view[i] += 5000;
          else if (u < 0.1) b.view[i] += 5000;
          else if (u < 0.12) a.view[i] = NaN;
          else if (u < 0.13) va.view[i] = vb.view[i] = 1e-30;
          else if (u < 0.16) {
            // Beyond float32's range once squared or scaled.
            a.view[i] = (rnd() < 0.5 ? 1e20 : 3e18) * (1 + rnd());
            b.view[i] = 0;
            va.view[i] = vb.view[i] = 1e38;
          }
          else if (u < 0.33) a.view[i] = b.view[i] + Math.sqrt(k2 * (va.view[i] + vb.view[i])) * (1 + (rnd() - 0.5) * 2e-5);
        }
        const [A, B, VA, VB, MA, MB] = [a.view.slice(), b.view.slice(), va.view.slice(), vb.view.slice(), ma.view.slice(), mb.view.slice()];
        const found = k.combineSnaps(n, a.ptr, b.ptr, va.ptr, vb.ptr, ma.ptr, mb.ptr, screen, k2, cand.ptr, masks.ptr);
        const passed = Array.from(cand.view.subarray(0, found));
        expect(passed).toEqual([...passed].sort((p, q) => p - q));
        const significant: number[] = [];
        for (let i = 0; i < n; i++) {
          const d = A[i] - B[i];
          if (!(d * d <= k2 * (VA[i] + VB[i]))) significant.push(i);
        }
        if (screen) {
          // Every pixel the float64 test does not pass over is let through; others only when
          // near the threshold or with k2 · variance beyond float32's normal range.
          for (const i of significant) expect(passed).toContain(i);
          for (const i of passed) {
            const d = A[i] - B[i];
            const s = VA[i] + VB[i];
            expect(!(d * d <= k2 * s * (1 - 1e-4)) || k2 * s < 2 ** -100 || k2 * s > 3.4e38).toBe(true);
          }
          if (n > 100) expect(significant.some((i) => A[i] - B[i] > 1e19)).toBe(true);
        } else {
          expect(found).toBe(0);
        }
        expect(masks.view[0]).toBe((MB.some((m) => m !== 0) ? 1 : 0) | (MA.some((m, i) => (m | MB[i]) !== 0) ? 2 : 0));
        sameBits(a.view, Float32Array.from(A, (x, i) => x + B[i]));
        sameBits(va.view, Float32Array.from(VA, (x, i) => x + VB[i]));
        expect(ma.view).toEqual(Int32Array.from(MA, (x, i) => x | MB[i]));
      }
    }
  });

  it('minMaxI32, narrow16, scaleI32ToF32 and gatherNonZero match their plain loops', () => {
    const { exports: k, arena } = isrKernels();
    const rnd = lcg(5);
    for (const n of [1, 3, 4, 9, 16, 17, 100]) {
      const [src, out, dst16, dst32, idx, val] = arena.layout([
        ['i32', n],
        ['i32', 2],
        ['u8', 2 * n],
        ['f32', n],
        ['i32', n],
        ['i32', n],
      ]);
      for (let i = 0; i < n; i++) src.view[i] = Math.floor(rnd() * 200_000) - 100_000;
      const s = src.view.slice();
      k.minMaxI32(src.ptr, n, out.ptr);
      expect([out.view[0], out.view[1]]).toEqual([Math.min(...s), Math.max(...s)]);
      k.narrow16(src.ptr, dst16.ptr, n, true);
      expect(new Int16Array(dst16.view.buffer, dst16.ptr, n)).toEqual(Int16Array.from(s, (v) => Math.max(-32768, Math.min(32767, v))));
      k.narrow16(src.ptr, dst16.ptr, n, false);
      expect(new Uint16Array(dst16.view.buffer, dst16.ptr, n)).toEqual(Uint16Array.from(s, (v) => Math.max(0, Math.min(65535, v))));
      const blank = s[n >> 1];
      k.scaleI32ToF32(src.ptr, dst32.ptr, n, 1e-5, 0.25, true, blank);
      sameBits(dst32.view, Float32Array.from(s, (v) => (v === blank ? NaN : v * 1e-5 + 0.25)));
      // In place, no BLANK.
      k.scaleI32ToF32(src.ptr, src.ptr, n, 3e-3, -1, false, 0);
      sameBits(new Float32Array(src.view.buffer, src.ptr, n), Float32Array.from(s, (v) => v * 3e-3 - 1));
      // Sparse values.
      for (let i = 0; i < n; i++) src.view[i] = rnd() < 0.1 ? Math.floor(rnd() * 8) - 4 : 0;
      const m = src.view.slice();
      const found = k.gatherNonZero(src.ptr, n, 7, idx.ptr, val.ptr);
      const want = Array.from(m.keys()).filter((i) => m[i] !== 0);
      expect(Array.from(idx.view.subarray(0, found))).toEqual(want.map((i) => i + 7));
      expect(Array.from(val.view.subarray(0, found))).toEqual(want.map((i) => m[i]));
    }
  });
});
