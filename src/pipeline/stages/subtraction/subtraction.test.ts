import { beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../core/errors.ts';
import { MaskBit, type MaskedImage } from '../../../core/image.ts';
import { SeededRng } from '../../testing/rng.ts';
import { backgroundAt, realizeKernel } from '../psf-matching/kernel.ts';
import { runPsfMatching, type PsfMatchingResult } from '../psf-matching/psf-matching.ts';
import { makeImagePair, type ExtraSource, type ImagePair, type ImagePairOptions } from '../psf-matching/testing/image-pair.ts';
import { passKernels } from '../../../wasm/passes.ts';
import { correlationTaps, preserveSums, SeparableApproximator, type SeparableKernel } from './separable.ts';
import { makeSubtractionConfig, runSubtraction, type SubtractionResult } from './subtraction.ts';

/** New sources (science only) and one that vanished (template only), fluxes in science electrons. */
const NEW: ExtraSource[] = [
  { x: 300.3, y: 700.6, flux: 3000 },
  { x: 800.5, y: 200.2, flux: 8000 },
  { x: 150.7, y: 420.1, flux: 25000 },
];
const GONE: ExtraSource = { x: 500.4, y: 505.5, flux: 10000 };

/** 0.7″ template and 1.0″ science seeing at 0.2″/px, Moffat β = 4.765, scale 1.05. */
const FIELD: ImagePairOptions = {
  width: 1024,
  height: 1024,
  seed: 3,
  nStars: 400,
  fluxMin: 2e4,
  fluxMax: 1e6,
  minSepPx: 25,
  marginPx: 20,
  psf: 'moffat',
  scienceFwhmPx: 5,
  templateFwhmPx: 3.5,
  scienceFwhmGradientX: 0.03,
  scienceFwhmGradientY: 0.02,
  photometricScale: 1.05,
  scienceSky: 1000,
  scienceSkyGradientX: 30,
  templateBackground: 20,
  templateSkyVariance: 250,
  templateShiftXPx: 0.03,
  newSources: NEW,
  vanishedSources: [GONE],
};

function candidatesOf(pair: ImagePair): { x: number[]; y: number[] } {
  return { x: pair.stars.map((t) => t.x), y: pair.stars.map((t) => t.y) };
}

/** Mean and std of D / √Var over the (2h + 1)² boxes around the given positions. */
function normalisedOver(d: MaskedImage, pts: readonly { x: number; y: number }[], h: number): { mean: number; std: number; n: number } {
  let n = 0;
  let s = 0;
  let s2 = 0;
  for (const p of pts) {
    const xc = Math.round(p.x);
    const yc = Math.round(p.y);
    for (let y = yc - h; y <= yc + h; y++) {
      for (let x = xc - h; x <= xc + h; x++) {
        if (x < 0 || y < 0 || x >= d.width || y >= d.height) continue;
        const q = y * d.width + x;
        if (d.mask[q] & MaskBit.NO_DATA) continue;
        const z = d.image[q] / Math.sqrt(d.variance[q]);
        n++;
        s += z;
        s2 += z * z;
      }
    }
  }
  const mean = s / n;
  return { mean, std: Math.sqrt(s2 / n - mean * mean), n };
}

/** PSF-fit flux of a point source in the difference (known PSF, variance weights) and its error. */
function psfFlux(d: MaskedImage, pair: ImagePair, x: number, y: number): { flux: number; err: number } {
  const R = 10;
  const P = pair.sciencePsfStamp(x, y, R);
  const xc = Math.round(x);
  const yc = Math.round(y);
  let num = 0;
  let den = 0;
  for (let j = 0; j <= 2 * R; j++) {
    for (let i = 0; i <= 2 * R; i++) {
      const q = (yc - R + j) * d.width + xc - R + i;
      const p = P[j * (2 * R + 1) + i];
      num += (p * d.image[q]) / d.variance[q];
      den += (p * p) / d.variance[q];
    }
  }
  return { flux: num / den, err: 1 / Math.sqrt(den) };
}

describe('subtraction: separable approximation', () => {
  const size = 15;
  const c = 7;
  const gauss = (s: number, dx = 0, dy = 0) => {
    const k = new Float64Array(size * size);
    for (let v = -c; v <= c; v++) for (let u = -c; u <= c; u++) k[(v + c) * size + u + c] = Math.exp(-((u - dx) ** 2 + (v - dy) ** 2) / (2 * s * s));
    return k;
  };
  const approximate = (k: Float64Array, tolerance: number, maxRank: number, sigma = 0, start: Float64Array | null = null): SeparableKernel => {
    const [region] = passKernels().arena.layout([['f64', SeparableApproximator.length(size, maxRank, sigma)]]);
    const a = new SeparableApproximator(size, maxRank, sigma, region);
    a.kernel.view.set(k);
    return a.approximate(tolerance, start);
  };
  const rebuild = (set: SeparableKernel) => {
    const out = new Float64Array(size * size);
    for (let p = 0; p < set.rank; p++) {
      for (let v = 0; v < size; v++) {
        for (let u = 0; u < size; u++) out[v * size + u] += set.horizontal[p * size + u] * set.vertical[p * size + v];
      }
    }
    return out;
  };
  const relativeError = (a: Float64Array, b: Float64Array) => {
    let e = 0;
    let n = 0;
    for (let i = 0; i < a.length; i++) {
      e += (a[i] - b[i]) ** 2;
      n += b[i] ** 2;
    }
    return Math.sqrt(e / n);
  };

  it('is exact at rank 1 for a (shifted) Gaussian and at rank 2 for a sum of two', () => {
    const g = gauss(1.7, 0.3, -0.2);
    const one = approximate(g, 1e-9, 5);
    expect(one.rank).toBe(1);
    const r1 = rebuild(one);
    for (let i = 0; i < g.length; i++) expect(r1[i]).toBeCloseTo(g[i], 10);
    const g2 = gauss(1.2);
    const g3 = gauss(3);
    const sum = g2.map((v, i) => v - 0.3 * g3[i]);
    const two = approximate(sum, 1e-9, 5);
    expect(two.rank).toBe(2);
    const r2 = rebuild(two);
    for (let i = 0; i < sum.length; i++) expect(r2[i]).toBeCloseTo(sum[i], 9);
  });

  it('reports its error, starts from given vectors, and keeps sums when asked', () => {
    // Without smoothing the error is the plain relative Frobenius error.
    const ring = gauss(2).map((v, i) => v - 0.8 * gauss(1.2)[i]);
    for (const rank of [1, 2, 3]) {
      const set = approximate(ring, 0, rank);
      expect(set.rank).toBe(rank);
      expect(set.maxRelativeError).toBeCloseTo(relativeError(rebuild(set), ring), 12);
    }
    const cold = approximate(gauss(1.5), 1e-6, 3);
    expect(cold.eigenvectors.length).toBe(3 * size);
    const warm = approximate(gauss(1.55), 1e-6, 3, 0, cold.eigenvectors);
    expect(warm.rank).toBe(1);
    expect(warm.maxRelativeError).toBeLessThan(1e-6);
    expect(relativeError(rebuild(warm), gauss(1.55))).toBeLessThan(1e-6);
    // A crude rank-1 approximation of a non-separable kernel, its sum restored.
    const crude = approximate(ring, 0.5, 1);
    preserveSums(crude, ring);
    const total = rebuild(crude).reduce((a, v) => a + v, 0);
    expect(total).toBeCloseTo(
      ring.reduce((a, v) => a + v, 0),
      9,
    );
  });

  it('judges the error after smoothing: high-frequency noise does not cost rank', () => {
    const rng = new SeededRng(3);
    const g = gauss(1.5).map((v) => v + 0.001 * rng.normal());
    const plain = approximate(g, 3e-3, 10, 0);
    const smoothed = approximate(g, 3e-3, 10, 1.5);
    expect(plain.rank).toBeGreaterThan(1);
    expect(smoothed.rank).toBe(1);
  });

  it('gives reversed, trimmed correlation taps', () => {
    const t = correlationTaps([0, 0.001, 1, 2, 3, 0], 0.01);
    // Reversed: [0, 3, 2, 1, 0.001, 0]; trimmed of values ≤ 0.03.
    expect(Array.from(t.taps)).toEqual([3, 2, 1]);
    expect(t.first).toBe(1);
  });
});

describe('subtraction: convolution with the spatially varying kernel', () => {
  it('equals a direct 2-D convolution with the kernel realised at each cell centre', () => {
    const pair = makeImagePair({ ...FIELD, width: 256, height: 192, nStars: 60, newSources: [], vanishedSources: [], scienceFwhmGradientX: 0.1 });
    const m = runPsfMatching({ science: pair.science, template: pair.template, candidates: candidatesOf(pair) }, undefined);
    const cfg = makeSubtractionConfig({ cellSizePx: 32, kernelRankTolerance: 1e-7, kernelResidualSigma: 0, maxKernelRank: 41, backgroundRefit: { enabled: false } });
    const d = runSubtraction({ science: pair.science, template: pair.template, matching: m }, cfg);
    const W = 256;
    const r = m.kernel.basis.halfWidthPx;
    const size = m.kernel.basis.size;
    // Cell centres of an 8 x 6 grid of 32-pixel cells: (16k + 15.5); check the pixels next to them.
    let maxErr = 0;
    let checked = 0;
    for (let j = 1; j < 5; j++) {
      for (let i = 1; i < 7; i++) {
        const xc = 32 * i + 15.5;
        const yc = 32 * j + 15.5;
        const K = realizeKernel(m.kernel, xc, yc);
        for (const [x, y] of [
          [Math.floor(xc), Math.floor(yc)],
          [Math.ceil(xc), Math.ceil(yc)],
        ]) {
          let conv = 0;
          for (let v = -r; v <= r; v++) for (let u = -r; u <= r; u++) conv += K[(v + r) * size + u + r] * pair.template.image[(y - v) * W + x - u];
          const want = pair.science.image[y * W + x] - conv - backgroundAt(m.kernel, x, y);
          maxErr = Math.max(maxErr, Math.abs(d.difference.image[y * W + x] - want));
          checked++;
        }
      }
    }
    expect(checked).toBe(48);
    expect(maxErr).toBeLessThan(0.02);
    expect(d.cellsX).toBe(8);
    expect(d.cellsY).toBe(6);
  });

  it('does so for cells of uneven sizes, at the cells’ edges too', () => {
    const W = 250;
    const H = 181;
    const pair = makeImagePair({ ...FIELD, width: W, height: H, nStars: 50, newSources: [], vanishedSources: [], scienceFwhmGradientX: 0.1 });
    const m = runPsfMatching({ science: pair.science, template: pair.template, candidates: candidatesOf(pair) }, undefined);
    const cfg = makeSubtractionConfig({ cellSizePx: 27, kernelRankTolerance: 1e-7, kernelResidualSigma: 0, maxKernelRank: 41, backgroundRefit: { enabled: false } });
    const d = runSubtraction({ science: pair.science, template: pair.template, matching: m }, cfg);
    const r = m.kernel.basis.halfWidthPx;
    const size = m.kernel.basis.size;
    const edges = (n: number, cells: number) => Array.from({ length: cells + 1 }, (_, i) => Math.round((i * n) / cells));
    const ex = edges(W, d.cellsX);
    const ey = edges(H, d.cellsY);
    expect(new Set(ex.slice(1).map((e, i) => e - ex[i])).size).toBeGreaterThan(1);
    let maxErr = 0;
    let checked = 0;
    for (let j = 1; j + 1 < d.cellsY; j++) {
      for (let i = 1; i + 1 < d.cellsX; i++) {
        const K = realizeKernel(m.kernel, (ex[i] + ex[i + 1] - 1) / 2, (ey[j] + ey[j + 1] - 1) / 2);
        // The cell's first and last columns and rows.
        for (const [x, y] of [
          [ex[i], ey[j]],
          [ex[i + 1] - 1, ey[j + 1] - 1],
          [ex[i + 1] - 1, ey[j]],
        ]) {
          let conv = 0;
          for (let v = -r; v <= r; v++) for (let u = -r; u <= r; u++) conv += K[(v + r) * size + u + r] * pair.template.image[(y - v) * W + x - u];
          const want = pair.science.image[y * W + x] - conv - backgroundAt(m.kernel, x, y);
          maxErr = Math.max(maxErr, Math.abs(d.difference.image[y * W + x] - want));
          checked++;
        }
      }
    }
    expect(checked).toBe(3 * (d.cellsX - 2) * (d.cellsY - 2));
    expect(maxErr).toBeLessThan(0.02);
  });
});

describe('subtraction: synthetic star field with transients (template convolved)', () => {
  let pair: ImagePair;
  let m: PsfMatchingResult;
  let d: SubtractionResult;
  beforeAll(() => {
    pair = makeImagePair(FIELD);
    m = runPsfMatching({ science: pair.science, template: pair.template, candidates: candidatesOf(pair) });
    d = runSubtraction({ science: pair.science, template: pair.template, matching: m });
  });

  it('leaves noise over the stars: normalised residual std within 1 ± 0.1, mean within 0.05', () => {
    expect(d.convolved).toBe('template');
    expect(d.scale).toBe(1);
    const over = normalisedOver(d.difference, pair.stars, m.stampHalfWidthPx);
    expect(over.n).toBeGreaterThan(150_000);
    expect(Math.abs(over.mean)).toBeLessThan(0.05);
    expect(Math.abs(over.std - 1)).toBeLessThan(0.1);
    // The 40 brightest stars alone (up to 1e6 electrons, peak S/N ≈ 180).
    const bright = normalisedOver(d.difference, pair.stars.slice(0, 40), 6);
    expect(Math.abs(bright.mean)).toBeLessThan(0.15);
    expect(Math.abs(bright.std - 1)).toBeLessThan(0.15);
  });

  it('reports diagnostics ≈ 0 and ≈ 1 and the stars within the noise', () => {
    const g = d.diagnostics;
    expect(Math.abs(g.normalizedMean)).toBeLessThan(0.05);
    expect(Math.abs(g.normalizedStd - 1)).toBeLessThan(0.05);
    expect(g.pixelsUsed).toBeGreaterThan(200_000);
    expect(g.outlierFraction).toBeLessThan(1e-3);
    expect(g.starsChecked).toBe(m.nStampsUsed);
    expect(g.starsWithinNoiseFraction).toBeGreaterThan(0.95);
    expect(g.starMedianChi2PerPixel).toBeLessThan(1.1);
    expect(d.kernelApproximationError).toBeLessThanOrEqual(makeSubtractionConfig().maxKernelRankTolerance);
  });

  it('has a variance plane consistent with the measured noise (within 10%)', () => {
    // Source-free boxes on a grid, away from every star and transient.
    const all = [...pair.stars, ...NEW, GONE];
    const W = 1024;
    let n = 0;
    let s = 0;
    let s2 = 0;
    let v = 0;
    for (let y = 20; y < 1004; y += 3) {
      for (let x = 20; x < 1004; x += 3) {
        if (all.some((t) => Math.abs(t.x - x) < 15 && Math.abs(t.y - y) < 15)) continue;
        const q = y * W + x;
        n++;
        s += d.difference.image[q];
        s2 += d.difference.image[q] ** 2;
        v += d.difference.variance[q];
      }
    }
    const mean = s / n;
    const measured = Math.sqrt(s2 / n - mean * mean);
    const predicted = Math.sqrt(v / n);
    expect(n).toBeGreaterThan(20_000);
    expect(Math.abs(measured / predicted - 1)).toBeLessThan(0.1);
    expect(Math.abs(mean) / measured).toBeLessThan(0.05);
  });

  it('shows the new sources at the S/N of their flux and the vanished one negative', () => {
    for (const t of NEW) {
      const f = psfFlux(d.difference, pair, t.x, t.y);
      expect(Math.abs(f.flux - t.flux)).toBeLessThan(3 * f.err);
      // Expected S/N: flux over the PSF-fit error.
      expect(f.flux / f.err).toBeGreaterThan(t.flux / f.err - 3);
      expect(f.flux / f.err).toBeGreaterThan(5);
    }
    const g = psfFlux(d.difference, pair, GONE.x, GONE.y);
    expect(g.flux).toBeLessThan(-5 * g.err);
    expect(Math.abs(g.flux + GONE.flux)).toBeLessThan(3 * g.err);
  });

  it('grows masks by the kernel footprint, keeps NO_DATA as NaN, flags the border and drops the inputs’ detections', () => {
    const W = 1024;
    const tmpl = { ...pair.template, image: pair.template.image.slice(), mask: pair.template.mask.slice(), variance: pair.template.variance.slice() };
    const sci = { ...pair.science, mask: pair.science.mask.slice() };
    for (let y = 100; y < 300; y++) tmpl.mask[y * W + 200] |= MaskBit.BAD;
    for (let y = 0; y < 1024; y++) {
      for (let x = 960; x < 1024; x++) {
        tmpl.mask[y * W + x] = MaskBit.NO_DATA;
        tmpl.image[y * W + x] = NaN;
        tmpl.variance[y * W + x] = NaN;
      }
    }
    sci.mask[600 * W + 600] |= MaskBit.DETECTED | MaskBit.SAT;
    const out = runSubtraction({ science: sci, template: tmpl, matching: m }).difference;
    const r = m.kernel.basis.halfWidthPx;
    expect(out.mask[(100 - r) * W + 200 - r] & MaskBit.BAD).toBe(MaskBit.BAD);
    expect(out.mask[(299 + r) * W + 200 + r] & MaskBit.BAD).toBe(MaskBit.BAD);
    expect(out.mask[(100 - r - 1) * W + 200] & MaskBit.BAD).toBe(0);
    expect(out.mask[200 * W + 200 + r + 1] & MaskBit.BAD).toBe(0);
    expect(out.mask[600 * W + 600]).toBe(MaskBit.SAT);
    let nan = 0;
    let noData = 0;
    for (let q = 0; q < W * W; q++) {
      const isNaN = Number.isNaN(out.image[q]);
      const nd = (out.mask[q] & MaskBit.NO_DATA) !== 0;
      if (isNaN) nan++;
      if (nd) noData++;
      if (isNaN !== nd) throw new Error(`pixel ${q}: NaN ${isNaN} but NO_DATA ${nd}`);
      if (!nd && !Number.isFinite(out.variance[q])) throw new Error(`pixel ${q}: variance ${out.variance[q]}`);
    }
    expect(noData).toBe(W * W - (W - 2 * r) * (960 - r - r));
    expect(nan).toBe(noData);
    expect(out.mask[5 * W + 500] & (MaskBit.EDGE | MaskBit.NO_DATA)).toBe(MaskBit.EDGE | MaskBit.NO_DATA);
    expect(out.mask[500 * W + 960 - r] & MaskBit.NO_DATA).toBe(MaskBit.NO_DATA);
    expect(out.mask[500 * W + 959 - r] & MaskBit.NO_DATA).toBe(0);
  });
});

describe('subtraction: noise-adaptive kernel approximation', () => {
  it('uses rank 1 where only faint sources are, keeps the residuals at the noise, and matches the uniform tolerance', () => {
    // A sparse field: 150 faint stars and 5 bright ones.
    const faint = makeImagePair({ ...FIELD, seed: 21, nStars: 150, fluxMin: 4e3, fluxMax: 2e4, newSources: [], vanishedSources: [] });
    const bright = makeImagePair({ ...FIELD, seed: 22, nStars: 5, fluxMin: 3e5, fluxMax: 1e6, scienceSky: 0, templateBackground: 0, templateSkyVariance: 1e-6, readNoise: 0, newSources: [], vanishedSources: [] });
    const sum = (a: MaskedImage, b: MaskedImage): MaskedImage => ({
      ...a,
      image: a.image.map((v, i) => v + b.image[i]),
      variance: a.variance.map((v, i) => v + b.variance[i]),
    });
    const sci = sum(faint.science, bright.science);
    const tmpl = sum(faint.template, bright.template);
    const stars = [...bright.stars, ...faint.stars];
    const m = runPsfMatching({ science: sci, template: tmpl, candidates: { x: stars.map((t) => t.x), y: stars.map((t) => t.y) } });
    const adaptive = runSubtraction({ science: sci, template: tmpl, matching: m });
    const uniform = runSubtraction({ science: sci, template: tmpl, matching: m }, makeSubtractionConfig({ kernelResidualSigma: 0 }));
    expect(adaptive.cellsRelaxed).toBeGreaterThan(0.5 * adaptive.cellsX * adaptive.cellsY);
    expect(uniform.cellsRelaxed).toBe(0);
    expect(adaptive.kernelMeanRank).toBeLessThan(uniform.kernelMeanRank);
    // The two differences agree to a small fraction of the noise.
    let worst = 0;
    for (let q = 0; q < adaptive.difference.image.length; q++) {
      const v = adaptive.difference.variance[q];
      if (!(v > 0)) continue;
      worst = Math.max(worst, Math.abs(adaptive.difference.image[q] - uniform.difference.image[q]) / Math.sqrt(v));
    }
    expect(worst).toBeLessThan(0.3);
    const over = normalisedOver(adaptive.difference, stars, m.stampHalfWidthPx);
    expect(Math.abs(over.mean)).toBeLessThan(0.05);
    expect(Math.abs(over.std - 1)).toBeLessThan(0.1);
  });
});

describe('subtraction: science sharper (science convolved)', () => {
  it('puts the difference in science units with the sign science − template', () => {
    const opts: ImagePairOptions = { ...FIELD, seed: 12, nStars: 250, scienceFwhmPx: 3.5, templateFwhmPx: 5, scienceFwhmGradientX: 0, scienceFwhmGradientY: 0 };
    const pair = makeImagePair(opts);
    const m = runPsfMatching({ science: pair.science, template: pair.template, candidates: candidatesOf(pair) });
    expect(m.convolved).toBe('science');
    const d = runSubtraction({ science: pair.science, template: pair.template, matching: m });
    expect(d.scale).toBeCloseTo(-1 / m.kernelSum, 12);
    expect(Math.abs(d.diagnostics.normalizedStd - 1)).toBeLessThan(0.05);
    expect(Math.abs(d.diagnostics.normalizedMean)).toBeLessThan(0.05);
    const over = normalisedOver(d.difference, pair.stars, m.stampHalfWidthPx);
    expect(Math.abs(over.mean)).toBeLessThan(0.05);
    expect(Math.abs(over.std - 1)).toBeLessThan(0.1);
    // The difference has the template's (broader) PSF: fit with a 5-pixel Moffat, in science units.
    const broad = makeImagePair({ ...opts, nStars: 0, scienceFwhmPx: 5, newSources: [], vanishedSources: [] });
    const fit = (x: number, y: number) => psfFlux(d.difference, broad, x, y);
    for (const t of NEW) {
      const f = fit(t.x, t.y);
      expect(Math.abs(f.flux - t.flux)).toBeLessThan(3 * f.err + 0.02 * t.flux);
    }
    const g = fit(GONE.x, GONE.y);
    expect(g.flux).toBeLessThan(-5 * g.err);
    expect(Math.abs(g.flux + GONE.flux)).toBeLessThan(3 * g.err + 0.02 * GONE.flux);
  });
});

describe('subtraction: bad input', () => {
  it('raises InvalidInputError for mismatched sizes or an unusable kernel sum', () => {
    const pair = makeImagePair({ ...FIELD, width: 200, height: 200, nStars: 40, newSources: [], vanishedSources: [] });
    const m = runPsfMatching({ science: pair.science, template: pair.template, candidates: candidatesOf(pair) });
    const small = { ...pair.template, width: 100 };
    expect(() => runSubtraction({ science: pair.science, template: small, matching: m })).toThrow(InvalidInputError);
    expect(() => runSubtraction({ science: pair.science, template: pair.template, matching: { ...m, kernelSum: 0 } })).toThrow(/kernel sum 0/);
  });
});
