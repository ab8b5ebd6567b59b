import { describe, expect, it } from 'vitest';
import { AlgorithmError } from '../../../core/errors.ts';
import { MaskBit, makeMaskedImage } from '../../../core/image.ts';
import { sigmaClippedStatsInPlace } from '../../lib/stats.ts';
import { SeededRng } from '../../testing/rng.ts';
import { addGaussianStar, randomStars } from '../../testing/synthetic.ts';
import { evaluateBackground, makeBackgroundConfig, runBackground } from './background.ts';

describe('background', () => {
  const W = 2000;
  const H = 1500;
  const truth = (x: number, y: number) => 1000 + 0.08 * x - 0.05 * y + 2e-5 * (x - 1000) ** 2;

  it('recovers a smooth gradient under stars and noise to < 1% away from the stars', () => {
    const rng = new SeededRng(7);
    const mi = makeMaskedImage(W, H);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) mi.image[y * W + x] = truth(x, y);
    const stars = randomStars(rng, 1500, W, H, { margin: 5, fluxMin: 1e3, fluxMax: 3e6 });
    for (const s of stars) addGaussianStar(mi.image, W, H, s.x, s.y, s.flux, 1.7);
    for (let i = 0; i < mi.image.length; i++) {
      mi.variance[i] = mi.image[i] + 36;
      mi.image[i] += Math.sqrt(mi.variance[i]) * rng.normal();
    }
    // Saturated cores are masked and must not bias the meshes.
    for (let i = 0; i < mi.image.length; i++) if (mi.image[i] > 60000) mi.mask[i] |= MaskBit.SAT;
    const r = runBackground(mi);
    expect(r.model.nx).toBe(16);
    expect(r.model.ny).toBe(12);
    const bg = evaluateBackground(r.model);
    // Away from stars (> 12 px from any, brighter ones further).
    const near = new Uint8Array(W * H);
    for (const s of stars) {
      const rad = s.flux > 3e5 ? 25 : 12;
      for (let y = Math.max(0, Math.floor(s.y - rad)); y < Math.min(H, s.y + rad); y++) {
        for (let x = Math.max(0, Math.floor(s.x - rad)); x < Math.min(W, s.x + rad); x++) near[y * W + x] = 1;
      }
    }
    let maxRel = 0;
    let checked = 0;
    for (let y = 0; y < H; y += 3) {
      for (let x = 0; x < W; x += 3) {
        if (near[y * W + x]) continue;
        const t = truth(x, y);
        maxRel = Math.max(maxRel, Math.abs(bg[y * W + x] - t) / t);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(100000);
    expect(maxRel).toBeLessThan(0.01);
    // The subtracted image is background-free there, and mask/variance are shared.
    expect(r.exposure.variance).toBe(mi.variance);
    const k = 700 * W + 1300;
    expect(r.exposure.image[k]).toBeCloseTo(mi.image[k] - bg[k], 3);
    expect(r.meanLevel).toBeGreaterThan(1000);
    expect(r.rmsLevel).toBeGreaterThan(10);
  });

  it('fills meshes without usable pixels from their neighbours and fails when none is usable', () => {
    const mi = makeMaskedImage(512, 512);
    mi.image.fill(50);
    for (let y = 0; y < 128; y++) for (let x = 0; x < 128; x++) mi.mask[y * 512 + x] = MaskBit.BAD;
    const r = runBackground(mi, makeBackgroundConfig({ meshSizePx: 128 }));
    expect(r.meshesFilled).toBe(1);
    expect(r.model.values[0]).toBe(50);
    mi.mask.fill(MaskBit.BAD);
    expect(() => runBackground(mi)).toThrow(AlgorithmError);
  });

  it('subtracts in place when asked, and can use every pixel of each mesh', () => {
    const mi = makeMaskedImage(300, 200);
    for (let y = 0; y < 200; y++) for (let x = 0; x < 300; x++) mi.image[y * 300 + x] = 100 + x;
    const copy = runBackground(mi, makeBackgroundConfig({ meshSizePx: 50, maxSamplesPerMesh: 0 }));
    const r = runBackground(mi, makeBackgroundConfig({ meshSizePx: 50, maxSamplesPerMesh: 300 }), { inPlace: true });
    expect(r.exposure.image).toBe(mi.image);
    // A linear ramp is recovered exactly by the bilinear interpolation, with or without sampling.
    for (const k of [0, 299, 150 * 300 + 77, 59999]) {
      expect(Math.abs(copy.exposure.image[k])).toBeLessThan(1e-3);
      expect(Math.abs(r.exposure.image[k])).toBeLessThan(1e-3);
    }
  });

  it('gives each mesh the clipped statistic of its sampled pixels and subtracts the evaluated model to the bit', () => {
    const w = 437;
    const h = 301;
    const rng = new SeededRng(11);
    const mi = makeMaskedImage(w, h);
    for (let i = 0; i < w * h; i++) {
      mi.image[i] = 500 + 0.1 * (i % w) + 20 * rng.normal() + (rng.uniform() < 0.01 ? 5000 * rng.uniform() : 0);
      if (rng.uniform() < 0.02) mi.mask[i] = MaskBit.CR;
    }
    mi.image[1234] = NaN;
    for (const statistic of ['median', 'mean'] as const) {
      const cfg = makeBackgroundConfig({ meshSizePx: 64, maxSamplesPerMesh: 500, statistic });
      const r = runBackground(mi, cfg);
      const { nx, ny } = r.model;
      const edge = (size: number, n: number, i: number) => Math.round((i * size) / n);
      let maxCell = 0;
      for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) maxCell = Math.max(maxCell, (edge(w, nx, i + 1) - edge(w, nx, i)) * (edge(h, ny, j + 1) - edge(h, ny, j)));
      const step = Math.ceil(Math.sqrt(maxCell / 500));
      const off = step >> 1;
      for (let j = 0; j < ny; j++) {
        for (let i = 0; i < nx; i++) {
          const a: number[] = [];
          for (let y = edge(h, ny, j) + off; y < edge(h, ny, j + 1); y += step) {
            for (let x = edge(w, nx, i) + off; x < edge(w, nx, i + 1); x += step) {
              const v = mi.image[y * w + x];
              if ((mi.mask[y * w + x] & cfg.ignoreBits) === 0 && v === v) a.push(v);
            }
          }
          const st = sigmaClippedStatsInPlace(Float32Array.from(a), a.length, cfg.clipSigma, cfg.clipIterations);
          const want = Math.fround(statistic === 'median' ? st.median : st.mean);
          const got = r.model.values[j * nx + i];
          if (statistic === 'median') expect(got).toBe(want);
          else expect(Math.abs(got - want)).toBeLessThanOrEqual(1e-6 * Math.abs(want));
        }
      }
      const bg = evaluateBackground(r.model);
      let differ = 0;
      for (let p = 0; p < w * h; p++) if (!Object.is(r.exposure.image[p], Math.fround(mi.image[p] - bg[p]))) differ++;
      expect(differ).toBe(0);
    }
  });

  it('handles an image smaller than one mesh (constant background)', () => {
    const mi = makeMaskedImage(50, 40);
    mi.image.fill(7);
    const r = runBackground(mi);
    expect(r.model.nx).toBe(1);
    expect(r.exposure.image[1999]).toBe(0);
  });
});
