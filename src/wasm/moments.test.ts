import { describe, expect, it } from 'vitest';
import { momentKernels } from './moments.ts';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** W x H: an elliptical Gaussian of the given covariance at (cx, cy) on uniform noise; variance alongside. */
function image(W: number, H: number, seed: number, cx: number, cy: number, flux: number, ixx: number, iyy: number, ixy: number, noise: number) {
  const rnd = lcg(seed);
  const img = new Float32Array(W * H);
  const vr = new Float32Array(W * H);
  const det = ixx * iyy - ixy * ixy;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const dx = x - cx;
      const dy = y - cy;
      const v = (flux / (2 * Math.PI * Math.sqrt(det))) * Math.exp((-0.5 * (iyy * dx * dx - 2 * ixy * dx * dy + ixx * dy * dy)) / det);
      img[y * W + x] = v + noise * (rnd() - 0.5);
      vr[y * W + x] = 1 + Math.abs(v) + rnd();
    }
  }
  return { img, vr };
}

// Plain references: a two-dimensional exponential per pixel of the whole image.

function refCentroid(img: Float32Array, W: number, H: number, x0: number, y0: number, sigma: number, maxIter: number): { ok: boolean; x: number; y: number } {
  const R = Math.ceil(4 * sigma);
  let xc = x0;
  let yc = y0;
  const maxShift = Math.max(2, 1.5 * sigma);
  for (let it = 0; it < maxIter; it++) {
    let s0 = 0;
    let sx = 0;
    let sy = 0;
    for (let y = Math.max(0, Math.floor(yc) - R); y <= Math.min(H - 1, Math.floor(yc) + R + 1); y++) {
      for (let x = Math.max(0, Math.floor(xc) - R); x <= Math.min(W - 1, Math.floor(xc) + R + 1); x++) {
        const w = Math.exp(-((x - xc) ** 2 + (y - yc) ** 2) / (2 * sigma * sigma)) * img[y * W + x];
        s0 += w;
        sx += w * (x - xc);
        sy += w * (y - yc);
      }
    }
    if (!(s0 > 0)) break;
    let dx = sx / s0;
    let dy = sy / s0;
    const step = Math.hypot(dx, dy);
    if (step > 1) {
      dx /= step;
      dy /= step;
    }
    xc += dx;
    yc += dy;
    if (Math.hypot(xc - x0, yc - y0) > maxShift) break;
    if (step < 1e-5) return { ok: true, x: xc, y: yc };
  }
  return { ok: false, x: xc, y: yc };
}

function refErrors(img: Float32Array, vr: Float32Array, W: number, H: number, xc: number, yc: number, sigma: number): number[] {
  const R = Math.ceil(4 * sigma);
  let s0 = 0;
  let sxx = 0;
  let syy = 0;
  let vx = 0;
  let vy = 0;
  for (let y = Math.max(0, Math.floor(yc) - R); y <= Math.min(H - 1, Math.floor(yc) + R + 1); y++) {
    for (let x = Math.max(0, Math.floor(xc) - R); x <= Math.min(W - 1, Math.floor(xc) + R + 1); x++) {
      const dx = x - xc;
      const dy = y - yc;
      const w = Math.exp(-(dx * dx + dy * dy) / (2 * sigma * sigma));
      s0 += w * img[y * W + x];
      sxx += w * img[y * W + x] * dx * dx;
      syy += w * img[y * W + x] * dy * dy;
      vx += w * w * vr[y * W + x] * dx * dx;
      vy += w * w * vr[y * W + x] * dy * dy;
    }
  }
  const dX = s0 - sxx / (sigma * sigma);
  const dY = s0 - syy / (sigma * sigma);
  return dX > 0 && dY > 0 ? [s0, Math.sqrt(vx) / dX, Math.sqrt(vy) / dY] : [s0, NaN, NaN];
}

/** Returns [ixx, iyy, ixy] and 1 when converged, 0 when not, from state (wxx, wyy, wxy, it). */
function refMoments(img: Float32Array, W: number, H: number, xc: number, yc: number, state: number[], maxIter: number, maxRadius: number): number {
  let [wxx, wyy, wxy] = state;
  for (let it = state[3]; it < maxIter; it++) {
    const det = wxx * wyy - wxy * wxy;
    if (!(det > 0)) break;
    const a = wyy / det / 2;
    const b = -wxy / det / 2;
    const c = wxx / det / 2;
    const R = Math.min(maxRadius, Math.ceil(4 * Math.sqrt(Math.max(wxx, wyy))));
    let s0 = 0;
    let sxx = 0;
    let syy = 0;
    let sxy = 0;
    for (let y = Math.max(0, Math.floor(yc) - R); y <= Math.min(H - 1, Math.floor(yc) + R + 1); y++) {
      const dy = y - yc;
      for (let x = Math.max(0, Math.floor(xc) - R); x <= Math.min(W - 1, Math.floor(xc) + R + 1); x++) {
        const dx = x - xc;
        const e = a * dx * dx + 2 * b * dy * dx + c * dy * dy;
        if (e > 9) continue;
        const w = Math.exp(-e) * img[y * W + x];
        s0 += w;
        sxx += w * dx * dx;
        syy += w * dy * dy;
        sxy += w * dx * dy;
      }
    }
    if (!(s0 > 0)) break;
    const nxx = (2 * sxx) / s0;
    const nyy = (2 * syy) / s0;
    const nxy = (2 * sxy) / s0;
    if (!(nxx > 0) || !(nyy > 0) || nxx * nyy - nxy * nxy <= 0) break;
    const change = Math.abs(nxx - wxx) + Math.abs(nyy - wyy) + Math.abs(nxy - wxy);
    wxx = nxx;
    wyy = nyy;
    wxy = nxy;
    if (change < 1e-5 * (wxx + wyy)) {
      state[0] = wxx;
      state[1] = wyy;
      state[2] = wxy;
      return 1;
    }
    if (wxx > maxRadius * maxRadius || wyy > maxRadius * maxRadius) break;
  }
  return 0;
}

const close = (a: number, b: number): boolean => (Number.isNaN(b) ? Number.isNaN(a) : Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)));

describe('moment kernels', () => {
  it('centroid and centroidErrors equal the per-pixel evaluation, on stamps cut anywhere (edges, odd widths)', () => {
    const { exports: k, arena } = momentKernels();
    const W = 45;
    const H = 38;
    let converged = 0;
    for (const [cx, cy, sigma, seed] of [
      [20.3, 17.6, 1.7, 1],
      [1.4, 2.2, 1.2, 2],
      [43.6, 36.9, 2.5, 3],
      [22.2, 0.3, 0.5, 4],
      [12.5, 20.5, 0.05, 5],
      [30.1, 25.2, 4, 6],
    ]) {
      const { img, vr } = image(W, H, seed, cx, cy, 5000, 3, 2.5, 0.4, 2);
      for (const [ox, oy] of [
        [0, 0],
        [1, -1],
        [-2, 1],
      ]) {
        const x0 = Math.min(W - 1, Math.max(0, Math.round(cx) + ox));
        const y0 = Math.min(H - 1, Math.max(0, Math.round(cy) + oy));
        const R = Math.ceil(4 * sigma);
        const shift = Math.max(2, 1.5 * sigma);
        const sx0 = Math.max(0, Math.floor(x0 - shift) - R - 1);
        const sy0 = Math.max(0, Math.floor(y0 - shift) - R - 1);
        const sw = Math.min(W - 1, Math.floor(x0 + shift) + R + 2) - sx0 + 1;
        const sh = Math.min(H - 1, Math.floor(y0 + shift) + R + 2) - sy0 + 1;
        const [si, sv, scratch, out] = arena.layout([
          ['f32', sw * sh],
          ['f32', sw * sh],
          ['f64', 5 * (2 * R + 4)],
          ['f64', 4],
        ]);
        for (let j = 0; j < sh; j++) {
          si.view.set(img.subarray((sy0 + j) * W + sx0, (sy0 + j) * W + sx0 + sw), j * sw);
          sv.view.set(vr.subarray((sy0 + j) * W + sx0, (sy0 + j) * W + sx0 + sw), j * sw);
        }
        const want = refCentroid(img, W, H, x0, y0, sigma, 30);
        const status = k.centroid(si.ptr, sx0, sy0, sw, sh, W, H, x0, y0, sigma, 30, scratch.ptr, out.ptr);
        expect(status).toBe(want.ok ? 1 : 0);
        if (!want.ok) continue;
        converged++;
        expect(close(out.view[0], want.x) && close(out.view[1], want.y)).toBe(true);
        const errs = refErrors(img, vr, W, H, want.x, want.y, sigma);
        const good = k.centroidErrors(si.ptr, sv.ptr, sx0, sy0, sw, W, H, out.view[0], out.view[1], sigma, scratch.ptr, out.ptr);
        expect(good).toBe(Number.isNaN(errs[1]) ? 0 : 1);
        for (let i = 0; i < 3; i++) expect(close(out.view[i], errs[i])).toBe(true);
      }
    }
    expect(converged).toBeGreaterThan(10);
  });

  it('centroid reports a box outside the stamp', () => {
    const { exports: k, arena } = momentKernels();
    const W = 40;
    const { img } = image(W, W, 7, 20, 20, 5000, 3, 3, 0, 1);
    const [si, scratch, out] = arena.layout([
      ['f32', 10 * 10],
      ['f32', 40],
      ['f64', 4],
    ]);
    for (let j = 0; j < 10; j++) si.view.set(img.subarray((15 + j) * W + 15, (15 + j) * W + 25), j * 10);
    expect(k.centroid(si.ptr, 15, 15, 10, 10, W, W, 20, 20, 1.5, 30, scratch.ptr, out.ptr)).toBe(2);
  });

  it('moments equals the per-pixel evaluation, resuming on a larger stamp when a box leaves it', () => {
    const { exports: k, arena } = momentKernels();
    const W = 71;
    const H = 64;
    let converged = 0;
    let resumed = 0;
    for (const [cx, cy, ixx, iyy, ixy, seed] of [
      [35.3, 30.6, 3.6, 3.4, 0.1, 1],
      [10.2, 50.1, 8, 2, 3, 2],
      [1.1, 1.8, 4, 4, -1, 3],
      [35.5, 32.5, 40, 25, -10, 4],
      [40.5, 30.5, 6, 6, 5.995, 5],
      [30.5, 30.5, 1e-3, 4, 0, 6],
    ]) {
      const { img } = image(W, H, seed, cx, cy, 2e5, ixx, iyy, ixy, 1);
      for (const [maxIter, maxRadius, init] of [
        [40, 40, 1.9],
        [40, 9, 1.2],
        [6, 40, 2.5],
      ]) {
        const want = [init * init, init * init, 0, 0];
        const wantStatus = refMoments(img, W, H, cx, cy, want, maxIter, maxRadius);
        // Start on a small stamp, grow it when asked.
        let Rs = 3;
        const [, , state] = arena.layout([
          ['f32', 0],
          ['f64', 5 * (2 * maxRadius + 4)],
          ['f64', 5],
        ]);
        state.view.set([init * init, init * init, 0, 0, 0]);
        let st = [...state.view];
        let status: number;
        for (;;) {
          const fx = Math.floor(cx);
          const fy = Math.floor(cy);
          const sx0 = Math.max(0, fx - Rs);
          const sy0 = Math.max(0, fy - Rs);
          const sw = Math.min(W - 1, fx + Rs + 1) - sx0 + 1;
          const sh = Math.min(H - 1, fy + Rs + 1) - sy0 + 1;
          const [si, scratch, stateB] = arena.layout([
            ['f32', sw * sh],
            ['f64', 5 * (2 * maxRadius + 4)],
            ['f64', 5],
          ]);
          stateB.view.set(st);
          for (let j = 0; j < sh; j++) si.view.set(img.subarray((sy0 + j) * W + sx0, (sy0 + j) * W + sx0 + sw), j * sw);
          status = k.moments(si.ptr, sx0, sy0, sw, sh, W, H, cx, cy, maxIter, maxRadius, scratch.ptr, stateB.ptr);
          st = [...stateB.view];
          if (status !== 2) break;
          resumed++;
          expect(st[4]).toBeGreaterThan(Rs);
          Rs = st[4];
        }
        expect(status).toBe(wantStatus);
        if (status === 1) {
          converged++;
          for (let i = 0; i < 3; i++) expect(close(st[i], want[i])).toBe(true);
        }
      }
    }
    expect(converged).toBeGreaterThan(6);
    expect(resumed).toBeGreaterThan(3);
  });

  it('candidates lists the pixels where d²/v may exceed the threshold, in order, for any tail', () => {
    const { exports: k, arena } = momentKernels();
    const rnd = lcg(8);
    const special = [0, -0, NaN, Infinity, -Infinity, 1e-30, 1e30, -5];
    for (const n of [0, 1, 3, 4, 5, 8, 13, 64, 101]) {
      const [d, v, list] = arena.layout([
        ['f32', n],
        ['f32', n],
        ['i32', n],
      ]);
      for (let i = 0; i < n; i++) {
        d.view[i] = rnd() < 0.15 ? special[Math.floor(rnd() * special.length)] : 12 * (rnd() - 0.5);
        v.view[i] = rnd() < 0.15 ? special[Math.floor(rnd() * special.length)] : 2 * rnd();
      }
      const tl2 = 9;
      const count = k.candidates(d.ptr, v.ptr, n, tl2, list.ptr);
      const want: number[] = [];
      for (let i = 0; i < n; i++) {
        const dd = d.view[i];
        const vv = v.view[i];
        if (dd === 0 || (vv > 0 && vv < Infinity && dd * dd <= tl2 * vv)) continue;
        want.push(i);
      }
      expect(Array.from(list.view.subarray(0, count))).toEqual(want);
    }
  });
});
