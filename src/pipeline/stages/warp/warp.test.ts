import { describe, expect, it } from 'vitest';
import { makeSkymap } from '../../../astro/skymap.ts';
import { makeTanWcs, pixelToSky, skyToPixel, type TanWcs } from '../../../astro/tan-wcs.ts';
import { ConfigError, InvalidInputError } from '../../../core/errors.ts';
import { MaskBit, makeMaskedImage, type MaskedImage } from '../../../core/image.ts';
import { gaussianCentroid } from '../../lib/moments.ts';
import { SeededRng } from '../../testing/rng.ts';
import { addGaussianStar } from '../../testing/synthetic.ts';
import { lanczos, makeLanczosTable } from './lanczos.ts';
import { exactSourcePixel, gridSourcePixel, makeTransformGrid, skyTransform, type SkyTransform } from './transform-grid.ts';
import { makeWarpConfig, runWarp, type WarpSource, type WarpTarget, type WarpWcs } from './warp.ts';

interface Star {
  readonly x: number;
  readonly y: number;
  readonly flux: number;
}

/** A grid of stars with irregular sub-pixel positions and fluxes, `margin` px from the edges. */
function starGrid(w: number, h: number, step: number, margin: number, flux: number): Star[] {
  const out: Star[] = [];
  let i = 0;
  for (let y = margin; y <= h - margin; y += step) {
    for (let x = margin; x <= w - margin; x += step) {
      out.push({ x: x + ((i * 0.618) % 1), y: y + ((i * 0.377) % 1), flux: flux * (1 + (i % 7)) });
      i++;
    }
  }
  return out;
}

function paint(mi: MaskedImage, stars: readonly Star[], sigma: number): void {
  for (const s of stars) addGaussianStar(mi.image, mi.width, mi.height, s.x, s.y, s.flux, sigma);
}

/** Image of `stars`, variance `v0`, mask zero. */
function starImage(w: number, h: number, stars: readonly Star[], sigma: number, v0 = 1): MaskedImage {
  const mi = makeMaskedImage(w, h);
  paint(mi, stars, sigma);
  mi.variance.fill(v0);
  return mi;
}

function noiseImage(w: number, h: number, seed: number, variance: (x: number, y: number) => number): MaskedImage {
  const rng = new SeededRng(seed);
  const mi = makeMaskedImage(w, h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = variance(x, y);
      mi.variance[y * w + x] = v;
      mi.image[y * w + x] = Math.sqrt(v) * rng.normal();
    }
  }
  return mi;
}

function target(wcs: WarpWcs, width: number, height: number): WarpTarget {
  return { wcs, width, height };
}

/** The star's target pixel position through the sky. */
function mapStar(from: TanWcs, to: TanWcs, s: Star): [number, number] {
  const sky = pixelToSky(from, s.x, s.y);
  const p = skyToPixel(to, sky[0], sky[1]);
  return [p[0], p[1]];
}

function boxSum(mi: MaskedImage, x: number, y: number, r: number): number {
  let s = 0;
  for (let j = Math.round(y) - r; j <= Math.round(y) + r; j++) for (let i = Math.round(x) - r; i <= Math.round(x) + r; i++) s += mi.image[j * mi.width + i];
  return s;
}

describe('warp config and kernel', () => {
  it('fills defaults, freezes, and refuses bad values', () => {
    const c = makeWarpConfig();
    expect(c).toMatchObject({ lanczosOrder: 3, lutSteps: 1024, gridSpacingPx: 32, conserve: 'flux', noDataValue: 'nan' });
    expect(Object.isFrozen(c)).toBe(true);
    expect(() => makeWarpConfig({ lanczosOrder: 7 })).toThrow(ConfigError);
    expect(() => makeWarpConfig({ conserve: 'photons' as 'flux' })).toThrow(/conserve/);
  });

  it('tabulates normalised Lanczos weights, a delta on the grid, mirror-symmetric', () => {
    const t = makeLanczosTable(3, 1024);
    expect(t.taps).toBe(6);
    for (const k of [0, 1, 300, 512, 1023, 1024]) {
      let s = 0;
      for (let i = 0; i < 6; i++) s += t.weights[k * 6 + i];
      expect(s).toBeCloseTo(1, 14);
      // row k (offset f) is row steps − k (offset 1 − f) reversed and moved by one tap
      for (let i = 0; i < 5; i++) expect(t.weights[k * 6 + i + 1]).toBeCloseTo(t.weights[(1024 - k) * 6 + 4 - i], 14);
    }
    expect(Array.from(t.weights.subarray(0, 6))).toEqual([0, 0, 1, 0, 0, 0]);
    expect(Array.from(t.weights.subarray(1024 * 6, 1025 * 6))).toEqual([0, 0, 0, 1, 0, 0]);
    expect(t.sumSq[0]).toBe(1);
    // Σw² per axis at a half-pixel offset: 0.786 (0.617 for the 2-D kernel)
    expect(t.sumSq[512]).toBeCloseTo(0.786, 3);
    expect(lanczos(3, 0)).toBe(1);
    expect(lanczos(3, 2)).toBe(0);
    expect(lanczos(3, 3.2)).toBe(0);
  });
});

describe('warp transform grid', () => {
  it('interpolates the WCS transform of a detector to < 0.001 px (32-px grid, patch a degree away, rotated, rescaled)', () => {
    const skymap = makeSkymap();
    const tract = skymap.tractInfo(skymap.tractOf(150, 2.2));
    const patch = skymap.patchAt(tract.tract, 1, 1); // near a tract corner: ~1 degree from its tangent point
    const sky = pixelToSky(patch.wcs, 1100, 1100);
    const W = 4072;
    const H = 4000;
    for (const [scale, rot] of [
      [0.2, 0],
      [0.2, 33],
      [0.263, 121],
    ]) {
      const sci = makeTanWcs({ raDeg: sky[0], decDeg: sky[1], crpix: [W / 2, H / 2], pixelScaleArcsec: scale, rotationDeg: rot });
      const g = makeTransformGrid(sci, W, H, patch.wcs, 32);
      const rng = new SeededRng(3);
      const e = new Float64Array(2);
      const q = new Float64Array(3);
      let worst = 0;
      let worstJac = 0;
      const area = (scale / 0.2) ** 2;
      for (let n = 0; n < 100_000; n++) {
        // random pixels, and every 100th a cell centre
        const x = n % 100 === 0 ? 16 + 32 * Math.floor(rng.uniform() * 126) : rng.uniform() * (W - 1);
        const y = n % 100 === 0 ? 16 + 32 * Math.floor(rng.uniform() * 124) : rng.uniform() * (H - 1);
        exactSourcePixel(skyTransform(sci), skyTransform(patch.wcs), x, y, e);
        gridSourcePixel(g, x, y, q);
        worst = Math.max(worst, Math.hypot(e[0] - q[0], e[1] - q[1]));
        worstJac = Math.max(worstJac, Math.abs(q[2] / area - 1));
      }
      expect(worst).toBeLessThan(0.001);
      // The pixel-area ratio, to the projections' scale differences a degree off-axis (~3e-4).
      expect(worstJac).toBeLessThan(1e-3);
    }
  });

  it('refines the grid until its error is within the tolerance', () => {
    const tpl = makeTanWcs({ raDeg: 0, decDeg: 60, crpix: [500, 500], pixelScaleArcsec: 20 });
    // 20″ pixels, 2° off-axis: a strongly curved transform
    const sci = makeTanWcs({ raDeg: 4, decDeg: 60, crpix: [500, 500], pixelScaleArcsec: 20, rotationDeg: 45 });
    const src: WarpSource = { image: starImage(1000, 1000, [], 1), wcs: tpl };
    const coarse = runWarp({ target: target(sci, 1000, 1000), sources: [src], config: makeWarpConfig({ gridSpacingPx: 256, gridTolerancePx: 1e3 }) });
    const fine = runWarp({ target: target(sci, 1000, 1000), sources: [src], config: makeWarpConfig({ gridSpacingPx: 256, gridTolerancePx: 1e-3 }) });
    expect(coarse.diagnostics.sources[0].gridSpacingPx).toBe(256);
    expect(coarse.diagnostics.sources[0].gridMaxErrorPx).toBeGreaterThan(1e-3);
    expect(fine.diagnostics.sources[0].gridSpacingPx).toBeLessThan(256);
    expect(fine.diagnostics.sources[0].gridMaxErrorPx).toBeLessThanOrEqual(1e-3);
  });
});

describe('runWarp', () => {
  const wcsA = makeTanWcs({ raDeg: 150.2, decDeg: 2.1, crpix: [250, 200], pixelScaleArcsec: 0.2, rotationDeg: 5 });

  it('reproduces an image warped onto its own WCS (interior to 1e-5 relative), with its mask and variance', () => {
    const W = 500;
    const H = 400;
    const rng = new SeededRng(11);
    const mi = makeMaskedImage(W, H);
    for (let i = 0; i < W * H; i++) {
      mi.image[i] = 1000 + 30 * rng.normal();
      mi.variance[i] = 900 + (i % 17);
    }
    paint(mi, starGrid(W, H, 40, 20, 1e5), 1.6);
    mi.mask[123 * W + 77] = MaskBit.BAD;
    mi.mask[300 * W + 400] = MaskBit.SAT | MaskBit.DETECTED;
    const r = runWarp({ target: target(wcsA, W, H), sources: [{ image: mi, wcs: wcsA }] });
    let worst = 0;
    let maskDiff = 0;
    for (let y = 3; y < H - 3; y++) {
      for (let x = 3; x < W - 3; x++) {
        const k = y * W + x;
        worst = Math.max(worst, Math.abs(r.warped.image[k] / mi.image[k] - 1), Math.abs(r.warped.variance[k] / mi.variance[k] - 1));
        if (r.warped.mask[k] !== mi.mask[k]) maskDiff++;
      }
    }
    expect(worst).toBeLessThan(1e-5);
    expect(maskDiff).toBe(0);
    expect(r.diagnostics.maskedPixels).toBe(2);
    expect(r.diagnostics.meanAreaRatio).toBeCloseTo(1, 9);
    expect(r.diagnostics.meanKernelSumSq).toBeCloseTo(1, 6);
    // The kernel cannot reach the outer pixels: NO_DATA, NaN.
    for (const k of [0, 1, W - 1, W - 2, (H - 1) * W + 100, 200 * W]) {
      expect(r.warped.mask[k]).toBe(MaskBit.NO_DATA);
      expect(r.warped.image[k]).toBeNaN();
      expect(r.warped.variance[k]).toBeNaN();
    }
    expect(r.coveredFraction).toBeGreaterThan(((W - 6) * (H - 6)) / (W * H) - 1e-9);
    expect(r.coveredFraction).toBeLessThan(((W - 4) * (H - 4)) / (W * H) + 1e-9);
  });

  it('reproduces a sub-pixel shift of a smooth field to < 0.5% of the peak and conserves its flux to < 0.1%', () => {
    const N = 400;
    const dx = 0.37;
    const dy = -0.61;
    const stars = starGrid(N, N, 50, 40, 2e4);
    const shifted = stars.map((s) => ({ ...s, x: s.x + dx, y: s.y + dy }));
    const sigma = 2;
    const tpl = starImage(N, N, stars, sigma);
    const truth = starImage(N, N, shifted, sigma);
    // science pixel x sees template pixel x − dx
    const sci: TanWcs = { ...wcsA, crpix: [wcsA.crpix[0] + dx, wcsA.crpix[1] + dy] };
    const peakErr: number[] = [];
    for (const [conserve, lanczosOrder] of [
      ['flux', 3],
      ['surface-brightness', 3],
      ['flux', 2],
      ['flux', 5],
    ] as const) {
      const r = runWarp({ target: target(sci, N, N), sources: [{ image: tpl, wcs: wcsA }], config: makeWarpConfig({ conserve, lanczosOrder }) });
      let peak = 0;
      let err = 0;
      let sumW = 0;
      let sumT = 0;
      for (let y = 10; y < N - 10; y++) {
        for (let x = 10; x < N - 10; x++) {
          const k = y * N + x;
          peak = Math.max(peak, truth.image[k]);
          err = Math.max(err, Math.abs(r.warped.image[k] - truth.image[k]));
          sumW += r.warped.image[k];
          sumT += truth.image[k];
        }
      }
      peakErr.push(err / peak);
      if (lanczosOrder === 2) continue; // Lanczos-2: ~1% here
      expect(err / peak).toBeLessThan(0.005);
      expect(Math.abs(sumW / sumT - 1)).toBeLessThan(0.001);
      // per star, in 8-sigma boxes
      for (const s of shifted) {
        expect(Math.abs(boxSum(r.warped, s.x, s.y, 16) / s.flux - 1)).toBeLessThan(0.001);
      }
    }
    // Longer kernels interpolate better.
    expect(peakErr[2]).toBeGreaterThan(peakErr[0]);
    expect(peakErr[3]).toBeLessThan(peakErr[0]);
  });

  it('keeps stars at their sky positions (< 0.02 px) and fluxes (< 0.5%) through a rotation and scale change', () => {
    const T = 700;
    const tpl = makeTanWcs({ raDeg: 35.3, decDeg: -41.7, crpix: [350, 350], pixelScaleArcsec: 0.2, rotationDeg: 0 });
    const stars = starGrid(T, T, 45, 60, 3e4);
    const sigma = 2; // 0.4″
    const img = starImage(T, T, stars, sigma, 4);
    const sky = pixelToSky(tpl, 360, 340);
    const S = 480;
    const scale = 0.27;
    const sci = makeTanWcs({ raDeg: sky[0], decDeg: sky[1], crpix: [S / 2 - 3.3, S / 2 + 1.7], pixelScaleArcsec: scale, rotationDeg: 57 });
    const area = (scale / 0.2) ** 2;
    const byMode = new Map<string, MaskedImage>();
    for (const conserve of ['flux', 'surface-brightness'] as const) {
      const r = runWarp({ target: target(sci, S, S), sources: [{ image: img, wcs: tpl }], config: makeWarpConfig({ conserve }) });
      expect(r.diagnostics.meanAreaRatio).toBeCloseTo(area, 3);
      byMode.set(conserve, r.warped);
    }
    const warped = byMode.get('flux') as MaskedImage;
    const sb = byMode.get('surface-brightness') as MaskedImage;
    const sigmaS = (sigma * 0.2) / scale;
    let checked = 0;
    let worstPos = 0;
    let worstFlux = 0;
    for (const s of stars) {
      const [x, y] = mapStar(tpl, sci, s);
      if (x < 20 || y < 20 || x > S - 21 || y > S - 21) continue;
      const c = gaussianCentroid(warped.image, warped.variance, S, S, Math.round(x), Math.round(y), sigmaS);
      expect(c.ok).toBe(true);
      worstPos = Math.max(worstPos, Math.hypot(c.x - x, c.y - y));
      const f = boxSum(warped, x, y, 12);
      worstFlux = Math.max(worstFlux, Math.abs(f / s.flux - 1));
      // Surface-brightness mode keeps the values: the summed flux shrinks by the area ratio.
      expect(Math.abs((boxSum(sb, x, y, 12) * area) / f - 1)).toBeLessThan(1e-4);
      checked++;
    }
    expect(checked).toBeGreaterThan(40);
    expect(worstPos).toBeLessThan(0.02);
    expect(worstFlux).toBeLessThan(0.005);
  });

  it('propagates the variance: the plane matches the measured per-pixel variance of warped noise, and sums follow the documented correlation', () => {
    const N = 1200;
    const varFn = (x: number, y: number): number => 50 + (100 * x) / N + (30 * y) / N;
    const noise = noiseImage(N, N, 5, varFn);
    const wcsN = makeTanWcs({ raDeg: 200, decDeg: -10, crpix: [600, 600], pixelScaleArcsec: 0.2 });
    // (a) a half-pixel shift, the case of the smallest Σw²; (b) rotation + rescaling (flux mode scales the variance by the area ratio²)
    const cases: Array<{ name: string; wcs: TanWcs; size: number }> = [
      { name: 'shift', wcs: { ...wcsN, crpix: [600.5, 600.5] }, size: 1180 },
      { name: 'rotate', wcs: makeTanWcs({ raDeg: 200, decDeg: -10, crpix: [400, 400], pixelScaleArcsec: 0.23, rotationDeg: 31 }), size: 800 },
    ];
    for (const c of cases) {
      const r = runWarp({ target: target(c.wcs, c.size, c.size), sources: [{ image: noise, wcs: wcsN }] });
      const B = 100;
      let blocks = 0;
      for (let by = 0; by + B <= c.size; by += B) {
        for (let bx = 0; bx + B <= c.size; bx += B) {
          let n = 0;
          let s1 = 0;
          let s2 = 0;
          let vp = 0;
          for (let y = by; y < by + B; y++) {
            for (let x = bx; x < bx + B; x++) {
              const k = y * c.size + x;
              if (r.warped.mask[k] !== 0) continue;
              n++;
              s1 += r.warped.image[k];
              s2 += r.warped.image[k] ** 2;
              vp += r.warped.variance[k];
            }
          }
          if (n < B * B) continue;
          const measured = s2 / n - (s1 / n) ** 2;
          expect(Math.abs(measured / (vp / n) - 1), `${c.name} block ${bx},${by}`).toBeLessThan(0.1);
          blocks++;
        }
      }
      expect(blocks).toBeGreaterThanOrEqual(49);
    }

    // Correlated noise, shift case: the variance of a sum over a block is Σ cᵢ² σᵢ², cᵢ the total
    // weight each source pixel gets in the block — about N / Σw² times the plane's mean, not N.
    const shift = runWarp({ target: target(cases[0].wcs, 1180, 1180), sources: [{ image: noise, wcs: wcsN }] });
    const tab = makeLanczosTable(3, 1024);
    const B = 20;
    // u = x − 0.5 for every pixel: one kernel row; the 1-D block coefficients c(i), squared, summed
    const row = tab.weights.subarray(512 * 6, 513 * 6);
    const c1 = new Float64Array(B + 6);
    for (let x = 0; x < B; x++) for (let t = 0; t < 6; t++) c1[x + t] += row[t];
    let sc2 = 0;
    for (const v of c1) sc2 += v * v;
    const expectedRatio = (sc2 * sc2) / (B * B * tab.sumSq[512] ** 2);
    let zs = 0;
    let nb = 0;
    for (let by = 10; by + B <= 1170; by += B) {
      for (let bx = 10; bx + B <= 1170; bx += B) {
        let sum = 0;
        let plane = 0;
        for (let y = by; y < by + B; y++) {
          for (let x = bx; x < bx + B; x++) {
            sum += shift.warped.image[y * 1180 + x];
            plane += shift.warped.variance[y * 1180 + x];
          }
        }
        zs += (sum * sum) / plane;
        nb++;
      }
    }
    expect(expectedRatio).toBeGreaterThan(1.4);
    expect(Math.abs(zs / nb / expectedRatio - 1)).toBeLessThan(0.1);
    // ... which the diagnostics give for large apertures (1 / Σw² = 1.62 here).
    expect(shift.diagnostics.meanKernelSumSq).toBeCloseTo(tab.sumSq[512] ** 2, 6);
    expect(shift.diagnostics.apertureVarianceFactor).toBeCloseTo(1 / tab.sumSq[512] ** 2, 6);
  });

  it('marks NO_DATA exactly where the kernel does not fit inside the template, NaN or zero', () => {
    const TW = 200;
    const TH = 150;
    const tpl = makeTanWcs({ raDeg: 80, decDeg: 20, crpix: [100, 75], pixelScaleArcsec: 0.2 });
    const img = starImage(TW, TH, starGrid(TW, TH, 30, 15, 1e4), 1.5, 2);
    img.image.forEach((_, i) => (img.image[i] += 10));
    const S = 300;
    const sci = makeTanWcs({ raDeg: 80.001, decDeg: 20.002, crpix: [150, 150], pixelScaleArcsec: 0.17, rotationDeg: 20 });
    for (const noDataValue of ['nan', 'zero'] as const) {
      const r = runWarp({ target: target(sci, S, S), sources: [{ image: img, wcs: tpl }], config: makeWarpConfig({ noDataValue }) });
      const p = new Float64Array(2);
      let covered = 0;
      let ambiguous = 0;
      let wrong = 0;
      for (let y = 0; y < S; y++) {
        for (let x = 0; x < S; x++) {
          exactSourcePixel(skyTransform(sci), skyTransform(tpl), x, y, p);
          const near = (c: number): boolean => Math.abs(c - Math.round(c)) < 1e-6;
          if (near(p[0]) || near(p[1])) {
            ambiguous++;
            continue;
          }
          const inside = Math.floor(p[0]) >= 2 && Math.floor(p[0]) <= TW - 4 && Math.floor(p[1]) >= 2 && Math.floor(p[1]) <= TH - 4;
          const k = y * S + x;
          const img = r.warped.image[k];
          const v = r.warped.variance[k];
          if (inside) {
            covered++;
            if (r.warped.mask[k] !== 0 || !(img > 5)) wrong++;
          } else {
            const fillOk = noDataValue === 'nan' ? Number.isNaN(img) && Number.isNaN(v) : img === 0 && v === 0;
            if (r.warped.mask[k] !== MaskBit.NO_DATA || !fillOk) wrong++;
          }
        }
      }
      expect(wrong).toBe(0);
      expect(ambiguous).toBeLessThan(10);
      expect(covered).toBeGreaterThan(10000);
      expect(Math.abs(r.coveredFraction * S * S - covered)).toBeLessThanOrEqual(ambiguous);
      expect(r.diagnostics.noDataPixels + r.diagnostics.coveredPixels).toBe(S * S);
    }
  });

  it('gives the same result with sources decoded lazily, one at a time, as with all of them at hand', () => {
    const N = 120;
    const sci = makeTanWcs({ raDeg: 10, decDeg: 10, crpix: [60, 60], pixelScaleArcsec: 0.2 });
    // Two overlapping sources offset by 40 and 45 pixels: the first covers what both cover.
    const a = makeTanWcs({ raDeg: 10, decDeg: 10, crpix: [100, 60], pixelScaleArcsec: 0.2 });
    const b = makeTanWcs({ raDeg: 10, decDeg: 10, crpix: [15, 62], pixelScaleArcsec: 0.2 });
    const ia = starImage(N, N, [], 1, 1);
    ia.image.fill(3);
    ia.mask[50 * N + 50] = MaskBit.BAD;
    const ib = starImage(N, N, [], 1, 1);
    ib.image.fill(7);
    const eager = runWarp({ target: target(sci, N, N), sources: [{ image: ia, wcs: a }, { image: ib, wcs: b }] });
    let loads = 0;
    const lazy = runWarp({
      target: target(sci, N, N),
      sources: [
        { wcs: a, width: N, height: N, load: () => (loads++, ia) },
        { wcs: b, width: N, height: N, load: () => (loads++, ib) },
      ],
    });
    expect(loads).toBe(2);
    expect(lazy.warped.image).toEqual(eager.warped.image);
    expect(lazy.warped.variance).toEqual(eager.warped.variance);
    expect(lazy.warped.mask).toEqual(eager.warped.mask);
    expect(lazy.diagnostics).toEqual(eager.diagnostics);
    // Both sources contribute, and the first wins where they overlap.
    expect(eager.diagnostics.sources[0].pixels).toBeGreaterThan(0);
    expect(eager.diagnostics.sources[1].pixels).toBeGreaterThan(0);
    expect(eager.warped.image[60 * N + 60]).toBeCloseTo(3, 4);
    expect(() =>
      runWarp({ target: target(sci, N, N), sources: [{ wcs: a, width: N + 1, height: N, load: () => ia }] }),
    ).toThrow(/announced as 121x120/);
  });

  it('loads of a lazy source only the rows it reads (the others may hold anything), and no source that has nothing left to cover', () => {
    const N = 120;
    const sci = makeTanWcs({ raDeg: 10, decDeg: 10, crpix: [60, 60], pixelScaleArcsec: 0.2 });
    // A: 100 x 300, the target's left part falls on its rows ~140 … 260; B: 200 x 200, covering
    // the right part; C: A again (all it could cover is covered by then); D: far away.
    const wa = makeTanWcs({ raDeg: 10, decDeg: 10, crpix: [80, 200], pixelScaleArcsec: 0.2 });
    const wb = makeTanWcs({ raDeg: 10, decDeg: 10, crpix: [15, 100], pixelScaleArcsec: 0.21 });
    const wd = makeTanWcs({ raDeg: 20, decDeg: 10, crpix: [60, 60], pixelScaleArcsec: 0.2 });
    const rng = new SeededRng(5);
    const noisy = (w: number, h: number): MaskedImage => {
      const mi = makeMaskedImage(w, h);
      for (let i = 0; i < w * h; i++) {
        mi.image[i] = 100 + 10 * rng.normal();
        mi.variance[i] = 90 + rng.uniform();
        mi.mask[i] = rng.uniform() < 0.01 ? MaskBit.BAD : 0;
      }
      return mi;
    };
    const ia = noisy(100, 300);
    const ib = noisy(200, 200);
    const eager = runWarp({ target: target(sci, N, N), sources: [{ image: ia, wcs: wa }, { image: ib, wcs: wb }] });
    const asked: Array<{ source: string; y0: number; y1: number }> = [];
    // The planes as loaded: the rows asked for, anything elsewhere (NaN, NO_DATA).
    const rowsOnly = (source: string, full: MaskedImage) => (rows?: { y0: number; y1: number }): MaskedImage => {
      expect(rows).toBeDefined();
      const { y0, y1 } = rows!;
      asked.push({ source, y0, y1 });
      const mi = makeMaskedImage(full.width, full.height);
      mi.image.fill(NaN);
      mi.variance.fill(-1);
      mi.mask.fill(MaskBit.NO_DATA | MaskBit.SAT);
      const w = full.width;
      for (const p of ['image', 'variance', 'mask'] as const) mi[p].set(full[p].subarray(y0 * w, y1 * w), y0 * w);
      return mi;
    };
    const lazy = runWarp({
      target: target(sci, N, N),
      sources: [
        { wcs: wa, width: 100, height: 300, load: rowsOnly('A', ia) },
        { wcs: wb, width: 200, height: 200, load: rowsOnly('B', ib) },
        { wcs: wa, width: 100, height: 300, load: rowsOnly('C', ia) },
        { wcs: wd, width: 200, height: 200, load: rowsOnly('D', ib) },
      ],
    });
    expect(asked.map((a) => a.source)).toEqual(['A', 'B']);
    expect(asked[0].y0).toBeGreaterThan(130);
    expect(asked[0].y1).toBeLessThan(270);
    expect(lazy.warped.image).toEqual(eager.warped.image);
    expect(lazy.warped.variance).toEqual(eager.warped.variance);
    expect(lazy.warped.mask).toEqual(eager.warped.mask);
    expect(lazy.diagnostics.sources.slice(0, 2)).toEqual(eager.diagnostics.sources);
    expect(lazy.diagnostics.sources[2].pixels).toBe(0);
    expect(lazy.diagnostics.sources[3].pixels).toBe(0);
    const { sources: _s, ...lazyTotals } = lazy.diagnostics;
    const { sources: _e, ...eagerTotals } = eager.diagnostics;
    expect(lazyTotals).toEqual(eagerTotals);
    expect(eager.diagnostics.sources[1].pixels).toBeGreaterThan(0);
    expect(eager.coveredFraction).toBe(1);
    // B, which reads only where A left pixels to fill, gives them what it gives warped on its own.
    const alone = [runWarp({ target: target(sci, N, N), sources: [{ image: ia, wcs: wa }] }), runWarp({ target: target(sci, N, N), sources: [{ image: ib, wcs: wb }] })];
    const reference = makeMaskedImage(N, N);
    for (let k = 0; k < N * N; k++) {
      const from = alone[0].warped.mask[k] & MaskBit.NO_DATA ? alone[1].warped : alone[0].warped;
      reference.image[k] = from.image[k];
      reference.variance[k] = from.variance[k];
      reference.mask[k] = from.mask[k];
    }
    expect(lazy.warped.image).toEqual(reference.image);
    expect(lazy.warped.variance).toEqual(reference.variance);
    expect(lazy.warped.mask).toEqual(reference.mask);
    expect(eager.diagnostics.maskedPixels).toBeGreaterThan(0);
  });

  it('ORs the mask bits of the taps with non-negligible weight, and treats template NO_DATA as no coverage', () => {
    const N = 100;
    const tpl = makeTanWcs({ raDeg: 10, decDeg: 10, crpix: [50, 50], pixelScaleArcsec: 0.2 });
    const img = starImage(N, N, [], 1, 1);
    img.image.fill(5);
    img.mask[40 * N + 30] = MaskBit.BAD;
    for (let y = 70; y < 80; y++) for (let x = 60; x < 70; x++) img.mask[y * N + x] = MaskBit.NO_DATA;
    const half: TanWcs = { ...tpl, crpix: [50.5, 50.5] };
    const r = runWarp({ target: target(half, N, N), sources: [{ image: img, wcs: tpl }] });
    // Target pixel (x, y) samples template (x − 0.5, y − 0.5): the BAD pixel (30, 40) sits between
    // targets 30 and 31 (and 40, 41), and its side lobes reach one further (|w| ≈ 0.61 · 0.13 > 0.05).
    const bad: Array<[number, number]> = [];
    for (let y = 0; y < N; y++) for (let x = 0; x < N; x++) if (r.warped.mask[y * N + x] & MaskBit.BAD) bad.push([x, y]);
    expect(bad).toContainEqual([30, 40]);
    expect(bad).toContainEqual([31, 41]);
    expect(bad.length).toBe(12); // 4 × 4 minus the corners (0.13² < 0.05)
    for (const [x, y] of bad) {
      expect(Math.abs(x - 30.5)).toBeLessThan(2);
      expect(Math.abs(y - 40.5)).toBeLessThan(2);
    }
    // NO_DATA where a tap (template x − 3 … x + 2) falls off the image or on the template's
    // NO_DATA block (x 60…69, y 70…79): the block grows to x 58…72, y 68…82.
    let wrong = 0;
    for (let y = 0; y < N; y++) {
      for (let x = 0; x < N; x++) {
        const edge = x < 3 || x > N - 3 || y < 3 || y > N - 3;
        const block = x >= 58 && x <= 72 && y >= 68 && y <= 82;
        if ((r.warped.mask[y * N + x] === MaskBit.NO_DATA) !== (edge || block)) wrong++;
      }
    }
    expect(wrong).toBe(0);
    // A higher threshold keeps only the main lobes.
    const strict = runWarp({ target: target(half, N, N), sources: [{ image: img, wcs: tpl }], config: makeWarpConfig({ maskWeightThreshold: 0.2 }) });
    let n = 0;
    for (let k = 0; k < N * N; k++) if (strict.warped.mask[k] & MaskBit.BAD) n++;
    expect(n).toBe(4);
  });

  it('warps two overlapping skymap patches seamlessly, like one image holding both', () => {
    const skymap = makeSkymap({ name: 'warp-test', pixelScaleArcsec: 0.2, tractSizeDeg: 1.5, patchSizePx: 300, overlapPx: 40 });
    const tract = skymap.tractInfo(skymap.tractOf(150, 2.2));
    const cx = Math.floor(tract.numPatchesX / 2);
    const cy = Math.floor(tract.numPatchesY / 2);
    const pa = skymap.patchAt(tract.tract, cx, cy);
    const pb = skymap.patchAt(tract.tract, cx + 1, cy);
    // One image over both outer boxes, painted in tract pixels; the patches are cut from it.
    const x0 = pa.bbox.x0;
    const y0 = pa.bbox.y0;
    const UW = pb.bbox.x1 - x0;
    const UH = pa.bbox.y1 - y0;
    const union = noiseImage(UW, UH, 21, () => 25);
    union.image.forEach((_, i) => (union.image[i] += 100));
    paint(union, starGrid(UW, UH, 23, 5, 5e3), 1.5);
    union.mask[150 * UW + 330] = MaskBit.SAT;
    const unionWcs: TanWcs = { ...tract.wcs, crpix: [tract.wcs.crpix[0] - x0, tract.wcs.crpix[1] - y0] };
    const cut = (p: typeof pa): WarpSource => {
      const mi = makeMaskedImage(p.width, p.height);
      for (let y = 0; y < p.height; y++) {
        const from = (p.bbox.y0 - y0 + y) * UW + (p.bbox.x0 - x0);
        mi.image.set(union.image.subarray(from, from + p.width), y * p.width);
        mi.variance.set(union.variance.subarray(from, from + p.width), y * p.width);
        mi.mask.set(union.mask.subarray(from, from + p.width), y * p.width);
      }
      return { image: mi, wcs: p.wcs };
    };
    const a = cut(pa);
    const b = cut(pb);
    // A science image across the patch boundary, rotated and at another scale.
    const mid = pixelToSky(tract.wcs, pa.innerBBox.x1, (pa.innerBBox.y0 + pa.innerBBox.y1) / 2);
    const S = 320;
    const sci = makeTanWcs({ raDeg: mid[0], decDeg: mid[1], crpix: [S / 2, S / 2], pixelScaleArcsec: 0.22, rotationDeg: 23 });
    const t = target(sci, S, S);
    const ref = runWarp({ target: t, sources: [{ image: union, wcs: unionWcs }] });
    for (const sources of [
      [a, b],
      [b, a],
    ]) {
      const r = runWarp({ target: t, sources });
      expect(r.diagnostics.sources[0].pixels).toBeGreaterThan(10000);
      expect(r.diagnostics.sources[1].pixels).toBeGreaterThan(10000);
      expect(r.coveredFraction).toBe(ref.coveredFraction);
      let worst = 0;
      let maskDiff = 0;
      for (let k = 0; k < S * S; k++) {
        if (r.warped.mask[k] !== ref.warped.mask[k]) maskDiff++;
        if (ref.warped.mask[k] & MaskBit.NO_DATA) continue;
        worst = Math.max(worst, Math.abs(r.warped.image[k] - ref.warped.image[k]), Math.abs(r.warped.variance[k] - ref.warped.variance[k]));
      }
      // the same pixels through offset WCSs: equal to float32 rounding (values ~100–1000)
      expect(maskDiff).toBe(0);
      expect(worst).toBeLessThan(1e-3);
      expect(ref.warped.mask.some((m) => m === MaskBit.SAT)).toBe(true);
    }
  });

  it('warps onto a distorted WCS given as a SkyTransform, and refuses a TAN WCS carrying SIP terms', () => {
    const T = 700;
    const tpl = makeTanWcs({ raDeg: 35.3, decDeg: -41.7, crpix: [350, 350], pixelScaleArcsec: 0.2 });
    const stars = starGrid(T, T, 45, 60, 3e4);
    const img = starImage(T, T, stars, 2, 4);
    const S = 600;
    const sky = pixelToSky(tpl, 350, 350);
    const tan = makeTanWcs({ raDeg: sky[0], decDeg: sky[1], crpix: [S / 2, S / 2], pixelScaleArcsec: 0.21, rotationDeg: 12 });
    // Radial distortion: TAN pixel = c + d (1 + k |d|²), d = pixel − c; 1.7 px at the corners.
    const k = 2e-8;
    const c = S / 2;
    const distorted: SkyTransform = {
      pixelToSky: (x, y, out) => {
        const f = 1 + k * ((x - c) ** 2 + (y - c) ** 2);
        return pixelToSky(tan, c + (x - c) * f, c + (y - c) * f, out);
      },
      skyToPixel: (ra, dec, out) => {
        skyToPixel(tan, ra, dec, out);
        const ux = out[0] - c;
        const uy = out[1] - c;
        let dx = ux;
        let dy = uy;
        for (let it = 0; it < 50; it++) {
          const f = 1 + k * (dx * dx + dy * dy);
          dx = ux / f;
          dy = uy / f;
        }
        out[0] = c + dx;
        out[1] = c + dy;
        return out;
      },
    };
    const r = runWarp({ target: target(distorted, S, S), sources: [{ image: img, wcs: tpl }] });
    expect(r.diagnostics.sources[0].gridMaxErrorPx).toBeLessThan(0.001);
    const p = new Float64Array(2);
    let checked = 0;
    let worst = 0;
    for (const s of stars) {
      const sk = pixelToSky(tpl, s.x, s.y);
      distorted.skyToPixel(sk[0], sk[1], p);
      if (p[0] < 20 || p[1] < 20 || p[0] > S - 21 || p[1] > S - 21) continue;
      const cen = gaussianCentroid(r.warped.image, r.warped.variance, S, S, Math.round(p[0]), Math.round(p[1]), 2);
      worst = Math.max(worst, Math.hypot(cen.x - p[0], cen.y - p[1]));
      checked++;
    }
    expect(checked).toBeGreaterThan(80);
    expect(worst).toBeLessThan(0.02);
    const sipWcs = { ...tan, sip: { order: 2, a: new Float64Array(3), b: new Float64Array(3) } };
    expect(() => runWarp({ target: target(sipWcs, S, S), sources: [{ image: img, wcs: tpl }] })).toThrow(/SIP/);
  });

  it('applies a value scale to the image and its square to the variance, as a separate pass would', () => {
    const W = 120;
    const H = 90;
    const rng = new SeededRng(5);
    const mi = makeMaskedImage(W, H);
    for (let i = 0; i < W * H; i++) {
      mi.image[i] = 500 + 20 * rng.normal();
      mi.variance[i] = 400 + (i % 13);
    }
    const onto = makeTanWcs({ raDeg: 150.2, decDeg: 2.1, crpix: [60, 45], pixelScaleArcsec: 0.2, rotationDeg: 5 });
    const shifted = makeTanWcs({ raDeg: 150.2, decDeg: 2.1, crpix: [60.37, 45.81], pixelScaleArcsec: 0.21, rotationDeg: 17 });
    const plain = runWarp({ target: target(onto, W, H), sources: [{ image: mi, wcs: shifted }] });
    const s = 1 / 57.5;
    const scaled = runWarp({ target: target(onto, W, H), sources: [{ image: mi, wcs: shifted }], valueScale: s });
    let covered = 0;
    for (let k = 0; k < W * H; k++) {
      expect(scaled.warped.mask[k]).toBe(plain.warped.mask[k]);
      if (plain.warped.mask[k] & MaskBit.NO_DATA) {
        expect(scaled.warped.image[k]).toBeNaN();
        continue;
      }
      covered++;
      expect(Math.abs(scaled.warped.image[k] / (plain.warped.image[k] * s) - 1)).toBeLessThan(2e-7);
      expect(Math.abs(scaled.warped.variance[k] / (plain.warped.variance[k] * s * s) - 1)).toBeLessThan(2e-7);
    }
    expect(covered).toBeGreaterThan(1000);
    expect(scaled.diagnostics).toEqual(plain.diagnostics);
    expect(() => runWarp({ target: target(onto, W, H), sources: [], valueScale: 0 })).toThrow(/valueScale/);
  });

  it('validates its input and returns an all-NO_DATA image without sources', () => {
    const bad = makeMaskedImage(10, 10);
    expect(() => runWarp({ target: target(wcsA, 10, 10), sources: [{ image: { ...bad, variance: new Float32Array(5) }, wcs: wcsA }] })).toThrow(InvalidInputError);
    expect(() => runWarp({ target: target(wcsA, 0, 10), sources: [] })).toThrow(InvalidInputError);
    const r = runWarp({ target: target(wcsA, 10, 10), sources: [] });
    expect(r.coveredFraction).toBe(0);
    expect(r.warped.mask.every((m) => m === MaskBit.NO_DATA)).toBe(true);
    expect(r.diagnostics.meanAreaRatio).toBeNaN();
    // A source far away on the sky (its far hemisphere) covers nothing.
    const far = makeTanWcs({ raDeg: 330.2, decDeg: -2.1, crpix: [5, 5], pixelScaleArcsec: 0.2 });
    expect(runWarp({ target: target(wcsA, 10, 10), sources: [{ image: bad, wcs: far }] }).coveredFraction).toBe(0);
  });

  it('warps a 2200 × 2200 patch onto a 4072 × 4000 ITL detector at a different position angle', () => {
    const T = 2200;
    const rng = new SeededRng(1);
    const patch = makeMaskedImage(T, T);
    for (let i = 0; i < T * T; i++) {
      patch.image[i] = 10 * rng.normal();
      patch.variance[i] = 100;
    }
    paint(patch, starGrid(T, T, 60, 10, 1e4), 1.5);
    for (let k = 0; k < 50; k++) patch.mask[Math.floor(rng.uniform() * T * T)] = MaskBit.SAT;
    const pw = makeTanWcs({ raDeg: 150, decDeg: 2, crpix: [1099.5, 1099.5], pixelScaleArcsec: 0.2 });
    const W = 4072;
    const H = 4000;
    const sci = makeTanWcs({ raDeg: 150.02, decDeg: 2.03, crpix: [W / 2, H / 2], pixelScaleArcsec: 0.2, rotationDeg: 33 });
    const r = runWarp({ target: target(sci, W, H), sources: [{ image: patch, wcs: pw }] });
    // Speed is measured by the benchmarks, not here.
    expect(r.coveredFraction).toBeGreaterThan(0.25);
    expect(r.warped.width).toBe(W);
    expect(r.diagnostics.maskedPixels).toBeGreaterThan(0);
  });
});
