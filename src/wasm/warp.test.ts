import { describe, expect, it } from 'vitest';
import { makeLanczosTable } from '../pipeline/stages/warp/lanczos.ts';
import { warpKernels } from './warp.ts';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

const NO_DATA = 1 << 8;

/** The footprint flags of a W × H mask, by definition (bit 0: any bit, bit 1: NO_DATA). */
function referenceFlags(mask: Int32Array, W: number, H: number, a: number): Uint8Array {
  const out = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let f = 0;
      for (let j = Math.max(0, y - a + 1); j <= Math.min(H - 1, y + a); j++) {
        for (let i = Math.max(0, x - a + 1); i <= Math.min(W - 1, x + a); i++) {
          const m = mask[j * W + i];
          if (m !== 0) f |= 1;
          if (m & NO_DATA) f |= 2;
        }
      }
      out[y * W + x] = f;
    }
  }
  return out;
}

describe('warp kernels: copies', () => {
  it('anyBits handles strides and tails', () => {
    const { exports: k, arena } = warpKernels();
    for (const [width, stride, rows] of [
      [1, 1, 1],
      [3, 5, 2],
      [4, 4, 3],
      [7, 9, 4],
      [33, 40, 3],
    ]) {
      const [m] = arena.layout([['i32', stride * rows]]);
      // anyBits sees a single bit anywhere in the window, and nothing outside it
      m.view.fill(0);
      expect(k.anyBits(m.ptr, stride, width, rows)).toBe(0);
      for (let i = width; i < stride; i++) m.view[i] = 1; // outside the window (row 0's padding)
      expect(k.anyBits(m.ptr, stride, width, rows)).toBe(0);
      m.view.fill(0);
      m.view[(rows - 1) * stride + width - 1] = 1 << 31;
      expect(k.anyBits(m.ptr, stride, width, rows)).toBe(1);
    }
  });

  it('footprintFlags equals the OR over each footprint, and reports an empty mask', () => {
    const { exports: k, arena } = warpKernels();
    const rnd = lcg(5);
    for (const [W, H, a, stride] of [
      [1, 1, 3, 1],
      [5, 4, 2, 5],
      [17, 13, 3, 20],
      [40, 9, 5, 40],
      [23, 31, 4, 29],
    ]) {
      const [mask, flags, ring, rowAny] = arena.layout([
        ['i32', stride * H],
        ['u8', stride * H],
        ['u8', a * W],
        ['u8', H],
      ]);
      mask.view.fill(0);
      flags.view.fill(0xee);
      expect(k.footprintFlags(mask.ptr, stride, W, H, a, NO_DATA, flags.ptr, ring.ptr, rowAny.ptr)).toBe(0);
      const m = new Int32Array(W * H);
      for (let i = 0; i < W * H; i++) {
        const r = rnd();
        m[i] = r > 0.9 ? NO_DATA : r > 0.8 ? 1 << (1 + Math.floor((r - 0.8) * 60)) : 0;
      }
      // The window's rows `stride` apart, with bits beside it that are not its own.
      for (let y = 0; y < H; y++) {
        mask.view.set(m.subarray(y * W, (y + 1) * W), y * stride);
        for (let x = W; x < stride; x++) mask.view[y * stride + x] = NO_DATA;
      }
      expect(k.footprintFlags(mask.ptr, stride, W, H, a, NO_DATA, flags.ptr, ring.ptr, rowAny.ptr)).toBe(m.some((v) => v !== 0) ? 1 : 0);
      if (!m.some((v) => v !== 0)) continue;
      const got = new Uint8Array(W * H);
      for (let y = 0; y < H; y++) got.set(flags.view.subarray(y * stride, y * stride + W), y * W);
      expect(Array.from(got)).toEqual(Array.from(referenceFlags(m, W, H, a)));
      // nothing written beside the window
      for (let y = 0; y < H; y++) for (let x = W; x < stride; x++) expect(flags.view[y * stride + x]).toBe(0xee);
    }
  });
});

interface Case {
  readonly a: number;
  readonly flux: boolean;
  readonly withMask: boolean;
  readonly seed: number;
}

describe('warp kernels: warpRows', () => {
  // A source window, a smooth transform grid over a small target, coverage bits already set
  // for some pixels, and a plain float64 loop over the same definition to compare with.
  function run(c: Case): void {
    const rnd = lcg(c.seed);
    const a = c.a;
    const n = 2 * a;
    const steps = 64;
    const tab = makeLanczosTable(a, steps);
    const Ws = 47;
    const Hs = 43;
    const [col0, col1, row0, row1] = [2, 45, 1, 41];
    const Wc = col1 - col0;
    const rows = row1 - row0;
    const img = new Float32Array(Ws * Hs).map(() => 100 + 50 * rnd());
    const vari = new Float32Array(Ws * Hs).map(() => 20 + 10 * rnd());
    const mask = new Int32Array(Ws * Hs);
    img[20 * Ws + 30] = NaN;
    if (c.withMask) {
      for (let q = 0; q < 12; q++) mask[Math.floor((0.5 + 0.5 * rnd()) * Ws * Hs)] = 1 << q % 5;
      mask[15 * Ws + 12] = NO_DATA;
    }
    // target 37 × 29, grid spacing 8 (nodes 0 … 32, 36), a rotation, scale and a gentle curvature
    const W = 37;
    const H = 29;
    const spacing = 8;
    const nodes = (size: number): number[] => {
      const out: number[] = [];
      for (let p = 0; p < size - 1; p += spacing) out.push(p);
      out.push(size - 1);
      return out;
    };
    const nodeX = nodes(W);
    const nodeY = nodes(H);
    const nx = nodeX.length;
    const ny = nodeY.length;
    const gu = new Float64Array(nx * ny);
    const gv = new Float64Array(nx * ny);
    const gj = new Float64Array(nx * ny);
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++) {
        const x = nodeX[i];
        const y = nodeY[j];
        gu[j * nx + i] = 1.1 * x - 0.35 * y + 6.3 + 2e-3 * x * y;
        gv[j * nx + i] = 0.4 * x + 1.05 * y - 2.7 - 1e-3 * x * x;
        gj[j * nx + i] = 1.3 + 1e-3 * x;
      }
    }
    gu[(ny - 1) * nx + nx - 1] = NaN; // a node off the source projection: its cell is NaN
    const cellOk = new Uint8Array((nx - 1) * (ny - 1)).fill(1);
    cellOk[1] = 0;
    const colT = new Float64Array(W);
    for (let x = 0; x < W; x++) {
      const i = Math.min(nx - 2, Math.floor(x / spacing));
      colT[x] = (x - nodeX[i]) / (nodeX[i + 1] - nodeX[i]);
    }
    const cover = new Uint8Array(Math.ceil((W * H) / 8));
    for (let b = 0; b < cover.length; b++) cover[b] = rnd() > 0.7 ? Math.floor((rnd() + 1) * 128) : 0;
    const coverBefore = cover.slice();
    const uMin = Math.max(a - 1, col0 + a - 1);
    const uMax = Math.min(Ws - 1 - a, col1 - 1 - a);
    const vMin = Math.max(a - 1, row0 + a - 1);
    const vMax = Math.min(Hs - 1 - a, row1 - 1 - a);
    const thr = 0.05;

    // the reference
    type Px = { img: number; vari: number; mask: number; scale: number };
    const expected = new Map<number, Px>();
    let filled = 0;
    let sumJac = 0;
    let sumW2 = 0;
    let masked = 0;
    for (let y = 0; y < H; y++) {
      const j = Math.min(ny - 2, Math.floor(y / spacing));
      const ty = (y - nodeY[j]) / (nodeY[j + 1] - nodeY[j]);
      for (let x = 0; x < W; x++) {
        const i = Math.min(nx - 2, Math.floor(x / spacing));
        if (!cellOk[j * (nx - 1) + i]) continue;
        const kk = y * W + x;
        if ((cover[kk >> 3] >> (kk & 7)) & 1) continue;
        const k0 = j * nx + i;
        const lerp = (g: Float64Array, k: number): number => g[k] + (g[k + nx] - g[k]) * ty;
        const ua = lerp(gu, k0);
        const ub = lerp(gu, k0 + 1);
        const va = lerp(gv, k0);
        const vb = lerp(gv, k0 + 1);
        const t = colT[x];
        const u = ua + (ub - ua) * t;
        const v = va + (vb - va) * t;
        const fu = Math.floor(u);
        const fv = Math.floor(v);
        if (!(fu >= uMin && fu <= uMax && fv >= vMin && fv <= vMax)) continue;
        let foot = 0;
        for (let q = fv - a + 1; q <= fv + a; q++) for (let p = fu - a + 1; p <= fu + a; p++) foot |= mask[q * Ws + p];
        if (foot & NO_DATA) continue;
        const kx = Math.floor((u - fu) * steps + 0.5);
        const ky = Math.floor((v - fv) * steps + 0.5);
        let sI = 0;
        let sV = 0;
        let scale = 0;
        let m = 0;
        for (let tj = 0; tj < n; tj++) {
          for (let ti = 0; ti < n; ti++) {
            const p = (fv - a + 1 + tj) * Ws + fu - a + 1 + ti;
            const w = tab.weights[ky * n + tj] * tab.weights[kx * n + ti];
            sI += w * img[p];
            sV += w * w * vari[p];
            scale += Math.abs(w * img[p]);
            if (Math.abs(w) > thr) m |= mask[p];
          }
        }
        const ja = lerp(gj, k0);
        const jac = ja + (lerp(gj, k0 + 1) - ja) * t;
        const sc = c.flux ? jac : 1;
        expected.set(kk, { img: sI * sc, vari: sV * sc * sc, mask: m, scale: scale * sc });
        filled++;
        sumJac += jac;
        sumW2 += tab.sumSq[kx] * tab.sumSq[ky];
        if (m !== 0) masked++;
      }
    }
    expect(filled).toBeGreaterThan(200);

    // the kernel, in bands of 5 rows
    const P = n * 4;
    const ty32 = new Float32Array((steps + 1) * P);
    const tx32 = new Float32Array((steps + 1) * n * 2);
    const quads = n >> 2;
    for (let r = 0; r <= steps; r++) {
      const w = tab.weights.subarray(r * n, (r + 1) * n);
      const w2 = tab.weightsSq.subarray(r * n, (r + 1) * n);
      for (let t = 0; t < n; t++) ty32.set([w[t], w[t], w2[t], w2[t]], r * P + 4 * t);
      // per four taps the weights then their squares; the last two (n = 6, 10) together
      const row: number[] = [];
      for (let q = 0; q < quads; q++) row.push(...w.subarray(4 * q, 4 * q + 4), ...w2.subarray(4 * q, 4 * q + 4));
      if (n % 4 !== 0) row.push(w[n - 2], w[n - 1], w2[n - 2], w2[n - 1]);
      tx32.set(row, r * n * 2);
    }
    const B = 5;
    const { exports: k, arena } = warpKernels();
    const [tY, tX, tAbs, tMax, tSum, bU, bV, bJ, bNodeY, bColT, bCells, bCover, oImg, oVar, oMask, oRows, oStats, jobs, jobJac, sMask, flags, ring, rowAny, stI, stV] =
      arena.layout([
        ['f32', ty32.length],
        ['f32', tx32.length],
        ['f64', tab.weightsAbs.length],
        ['f64', tab.maxAbs.length],
        ['f64', tab.sumSq.length],
        ['f64', nx * ny],
        ['f64', nx * ny],
        ['f64', nx * ny],
        ['f64', ny],
        ['f64', W],
        ['u8', cellOk.length],
        ['u8', cover.length],
        ['f32', B * W],
        ['f32', B * W],
        ['i32', B * W],
        ['i32', 3 * B],
        ['f64', 4],
        ['i32', 4 * W],
        ['f64', W],
        ['i32', Ws * Hs],
        ['u8', Ws * Hs],
        ['u8', a * Wc],
        ['u8', rows],
        ['f32', Ws * Hs],
        ['f32', Ws * Hs],
      ]);
    tY.view.set(ty32);
    tX.view.set(tx32);
    tAbs.view.set(tab.weightsAbs);
    tMax.view.set(tab.maxAbs);
    tSum.view.set(tab.sumSq);
    bU.view.set(gu);
    bV.view.set(gv);
    bJ.view.set(gj);
    bNodeY.view.set(nodeY);
    bColT.view.set(colT);
    bCells.view.set(cellOk);
    bCover.view.set(cover);
    // The source's planes whole, row stride Ws: the kernel reads the window from its first pixel.
    stI.view.set(img);
    stV.view.set(vari);
    sMask.view.set(mask);
    const at = row0 * Ws + col0;
    const hasFlags = k.footprintFlags(sMask.ptr + 4 * at, Ws, Wc, rows, a, NO_DATA, flags.ptr + at, ring.ptr, rowAny.ptr) !== 0;
    expect(hasFlags).toBe(c.withMask);
    k.setTable(tY.ptr, tX.ptr, tAbs.ptr, tMax.ptr, tSum.ptr, n, steps);
    k.setSource(stI.ptr + 4 * at, stV.ptr + 4 * at, sMask.ptr + 4 * at, hasFlags ? flags.ptr + at : 0, Ws, col0, row0, uMin, uMax, vMin, vMax);
    k.setGrid(bU.ptr, bV.ptr, bJ.ptr, bNodeY.ptr, bColT.ptr, bCells.ptr, nx, ny, spacing);
    k.setTarget(W, bCover.ptr, oImg.ptr, oVar.ptr, oMask.ptr, oRows.ptr, oStats.ptr, jobs.ptr, jobJac.ptr, c.flux, thr, 1);
    const stats = [0, 0, 0, 0];
    let got = 0;
    for (let y0 = 0; y0 < H; y0 += B) {
      const y1 = Math.min(H, y0 + B);
      k.warpRows(y0, y1);
      for (let s = 0; s < 4; s++) stats[s] += oStats.view[s];
      for (let r = 0; r < y1 - y0; r++) {
        const y = y0 + r;
        let first = W;
        let last = -1;
        let count = 0;
        for (let x = 0; x < W; x++) {
          const kk = y * W + x;
          const now = (bCover.view[kk >> 3] >> (kk & 7)) & 1;
          const before = (coverBefore[kk >> 3] >> (kk & 7)) & 1;
          const e = expected.get(kk);
          expect(now, `coverage of ${x},${y}`).toBe(before || e ? 1 : 0);
          if (!e) continue;
          first = Math.min(first, x);
          last = x;
          count++;
          got++;
          const o = r * W + x;
          expect(oMask.view[o]).toBe(e.mask);
          if (Number.isNaN(e.img)) expect(oImg.view[o]).toBeNaN();
          else expect(Math.abs(oImg.view[o] - e.img)).toBeLessThanOrEqual(3e-7 * e.scale + 1e-30);
          expect(Math.abs(oVar.view[o] - e.vari) / e.vari).toBeLessThan(1e-6);
        }
        expect([oRows.view[3 * r + 2], count > 0 ? oRows.view[3 * r] : first, count > 0 ? oRows.view[3 * r + 1] : last]).toEqual([count, first, last]);
      }
    }
    expect(got).toBe(filled);
    expect(stats[0]).toBe(filled);
    expect(stats[3]).toBe(masked);
    expect(stats[1]).toBeCloseTo(sumJac, 9);
    expect(stats[2]).toBeCloseTo(sumW2, 9);
    if (c.withMask) expect(masked).toBeGreaterThan(0);
  }

  for (const a of [2, 3, 4, 5]) {
    it(`matches a float64 loop for Lanczos order ${a} (coverage, mask, values, row records, stats)`, () => {
      run({ a, flux: true, withMask: true, seed: 10 + a });
      run({ a, flux: false, withMask: false, seed: 20 + a });
    });
  }
});
