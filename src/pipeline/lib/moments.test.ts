import { describe, expect, it } from 'vitest';
import { adaptiveMoments, adaptiveMomentsDirect, gaussianCentroid, gaussianCentroidDirect, type CentroidResult, type MomentsResult } from './moments.ts';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** An image of W x H with elliptical Gaussian sources (covariance ixx, iyy, ixy) on white noise. */
function scene(W: number, H: number, seed: number, sources: ReadonlyArray<{ x: number; y: number; flux: number; ixx: number; iyy: number; ixy: number }>, noise: number) {
  const rnd = lcg(seed);
  const image = new Float32Array(W * H);
  const variance = new Float32Array(W * H);
  for (let i = 0; i < W * H; i++) {
    // Sum of uniforms: roughly normal, unit variance.
    let g = -6;
    for (let k = 0; k < 12; k++) g += rnd();
    image[i] = noise * g;
    variance[i] = noise * noise + 1;
  }
  for (const s of sources) {
    const det = s.ixx * s.iyy - s.ixy * s.ixy;
    const norm = s.flux / (2 * Math.PI * Math.sqrt(det));
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const dx = x - s.x;
        const dy = y - s.y;
        const q = (s.iyy * dx * dx - 2 * s.ixy * dx * dy + s.ixx * dy * dy) / det;
        const v = norm * Math.exp(-0.5 * q);
        image[y * W + x] += v;
        variance[y * W + x] += Math.max(0, v);
      }
    }
  }
  return { image, variance };
}

function expectSameCentroid(got: CentroidResult, want: CentroidResult): void {
  expect(got.ok).toBe(want.ok);
  for (const k of ['x', 'y', 'xErr', 'yErr', 'weightedFlux'] as const) {
    const a = got[k];
    const b = want[k];
    if (Number.isNaN(b)) expect(a).toBeNaN();
    else if (!Number.isFinite(b)) expect(a).toBe(b);
    else expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(b)));
  }
}

function expectSameMoments(got: MomentsResult, want: MomentsResult): void {
  expect(got.ok).toBe(want.ok);
  for (const k of ['ixx', 'iyy', 'ixy'] as const) {
    const a = got[k];
    const b = want[k];
    if (Number.isNaN(b)) expect(a).toBeNaN();
    else expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(b)));
  }
}

describe('gaussianCentroid', () => {
  it('equals the direct evaluation (a 2-D exponential per pixel) for stars anywhere, near edges, faint and failing', () => {
    const W = 61;
    const H = 47;
    const rnd = lcg(11);
    const stars = [
      { x: 20.3, y: 15.8, flux: 4000, ixx: 3.2, iyy: 3.0, ixy: 0.2 },
      { x: 1.2, y: 30.6, flux: 3000, ixx: 2.5, iyy: 2.5, ixy: 0 },
      { x: 45.7, y: 0.4, flux: 3000, ixx: 4, iyy: 2, ixy: -0.5 },
      { x: 59.6, y: 45.9, flux: 2000, ixx: 2, iyy: 2, ixy: 0 },
      { x: 40.1, y: 30.2, flux: 60, ixx: 3, iyy: 3, ixy: 0 },
    ];
    const { image, variance } = scene(W, H, 5, stars, 3);
    let converged = 0;
    let failed = 0;
    for (const s of stars) {
      for (const sigma of [0.05, 0.4, 1.2, 1.8, 3.5]) {
        for (let k = 0; k < 4; k++) {
          const x0 = Math.round(s.x + 3 * (rnd() - 0.5));
          const y0 = Math.round(s.y + 3 * (rnd() - 0.5));
          const want = gaussianCentroidDirect(image, variance, W, H, x0, y0, sigma);
          expectSameCentroid(gaussianCentroid(image, variance, W, H, x0, y0, sigma), want);
          if (want.ok) converged++;
          else failed++;
        }
      }
    }
    expect(converged).toBeGreaterThan(30);
    expect(failed).toBeGreaterThan(0);
    // Starts off the image, not finite, or with few iterations.
    for (const [x0, y0] of [
      [-30, 10],
      [10, 200],
      [NaN, 3],
      [Infinity, 3],
    ]) {
      expectSameCentroid(gaussianCentroid(image, variance, W, H, x0, y0, 1.5), gaussianCentroidDirect(image, variance, W, H, x0, y0, 1.5));
    }
    for (const maxIter of [0, 1, 3]) {
      expectSameCentroid(gaussianCentroid(image, variance, W, H, 20, 16, 1.5, maxIter), gaussianCentroidDirect(image, variance, W, H, 20, 16, 1.5, maxIter));
    }
  });
});

describe('adaptiveMoments', () => {
  it('equals the direct evaluation for round, elongated and large sources, near edges, with any radius limit', () => {
    const W = 120;
    const H = 90;
    const sources = [
      { x: 30.2, y: 25.7, flux: 1e5, ixx: 3.6, iyy: 3.5, ixy: 0.1 },
      { x: 80.6, y: 20.1, flux: 1e5, ixx: 9, iyy: 2, ixy: 3.5 },
      { x: 2.3, y: 60.5, flux: 5e4, ixx: 4, iyy: 4, ixy: -1 },
      // Larger than the first stamp: the stamp grows.
      { x: 60.4, y: 60.8, flux: 5e5, ixx: 60, iyy: 40, ixy: -20 },
      // Nearly degenerate: the separable factors leave the recurrences' range.
      { x: 100.5, y: 70.5, flux: 1e5, ixx: 6, iyy: 6, ixy: 5.99 },
      { x: 100.5, y: 30.5, flux: 200, ixx: 3, iyy: 3, ixy: 0 },
    ];
    const { image } = scene(W, H, 9, sources, 2);
    let ok = 0;
    for (const s of sources) {
      for (const [initSigma, maxIter, maxRadius] of [
        [1.9, 40, 40],
        [1, 40, 12],
        [3, 5, 40],
        [0.5, 40, 6],
      ]) {
        const want = adaptiveMomentsDirect(image, W, H, s.x, s.y, initSigma, maxIter, maxRadius);
        expectSameMoments(adaptiveMoments(image, W, H, s.x, s.y, initSigma, maxIter, maxRadius), want);
        if (want.ok) ok++;
      }
    }
    expect(ok).toBeGreaterThan(8);
    // The moments of a bright Gaussian are its covariance.
    const m = adaptiveMoments(image, W, H, 80.6, 20.1, 1.9);
    expect(m.ok).toBe(true);
    expect(m.ixx).toBeCloseTo(9, 1);
    expect(m.iyy).toBeCloseTo(2, 1);
    expect(m.ixy).toBeCloseTo(3.5, 1);
    // Inputs the kernels do not take: the direct evaluation.
    for (const [x, y, initSigma, maxRadius] of [
      [NaN, 10, 2, 40],
      [30.2, 25.7, 0, 40],
      [30.2, 25.7, 2, 7.5],
      [30.2, 25.7, 2, 2000],
      [-500, 10, 2, 40],
    ]) {
      expectSameMoments(adaptiveMoments(image, W, H, x, y, initSigma, 40, maxRadius), adaptiveMomentsDirect(image, W, H, x, y, initSigma, 40, maxRadius));
    }
  });

  it('gives the same results whichever call came before (the kernels keep no state between calls)', () => {
    const W = 50;
    const H = 50;
    const { image, variance } = scene(W, H, 3, [{ x: 25.3, y: 24.6, flux: 2e4, ixx: 4, iyy: 3, ixy: 0.5 }], 1);
    const a = adaptiveMoments(image, W, H, 25.3, 24.6, 2);
    gaussianCentroid(image, variance, W, H, 10, 10, 4);
    adaptiveMoments(image, W, H, 5, 45, 3, 40, 20);
    expect(adaptiveMoments(image, W, H, 25.3, 24.6, 2)).toEqual(a);
  });
});
