import { describe, expect, it } from 'vitest';
import { MaskBit, makeMaskedImage, type MaskedImage } from '../../../core/image.ts';
import { SeededRng } from '../../testing/rng.ts';
import { addGaussianStar, randomStars } from '../../testing/synthetic.ts';
import { makeSnapCombineConfig, runSnapCombine, type SnapCombineConfig } from './snap-combine.ts';

const W = 1000;
const H = 1000;
const SKY = 1000;
const RN = 6;

function snap(stars: { x: number; y: number; flux: number }[], sigma: number, seed: number, crs: Array<[number, number, number]>): MaskedImage {
  const mi = makeMaskedImage(W, H);
  mi.image.fill(SKY);
  for (const s of stars) addGaussianStar(mi.image, W, H, s.x, s.y, s.flux, sigma);
  for (const [x, y, e] of crs) mi.image[y * W + x] += e;
  const rng = new SeededRng(seed);
  for (let i = 0; i < mi.image.length; i++) {
    const truth = mi.image[i];
    mi.variance[i] = Math.max(truth, 0) + RN * RN;
    mi.image[i] = truth + Math.sqrt(mi.variance[i]) * rng.normal();
  }
  return mi;
}

describe('snap-combine', () => {
  const rng = new SeededRng(42);
  // Bright but unsaturated stars: peaks up to ~ 1e6/(2π·1.5²) ≈ 70k electrons.
  const stars = randomStars(rng, 300, W, H, { margin: 15, minSep: 25, fluxMin: 2e3, fluxMax: 1e6 });
  // Cosmic rays: short tracks in snap A, single hits in snap B, kept away from stars.
  const crA: Array<[number, number, number]> = [];
  const crB: Array<[number, number, number]> = [];
  const far = (x: number, y: number) => stars.every((s) => (s.x - x) ** 2 + (s.y - y) ** 2 > 20 * 20);
  while (crA.length < 120) {
    const x = 5 + Math.floor(rng.uniform() * (W - 10));
    const y = 5 + Math.floor(rng.uniform() * (H - 10));
    if (!far(x, y)) continue;
    for (let k = 0; k < 3; k++) crA.push([x + k, y, 800 + rng.uniform() * 5000]);
  }
  while (crB.length < 40) {
    const x = 5 + Math.floor(rng.uniform() * (W - 10));
    const y = 5 + Math.floor(rng.uniform() * (H - 10));
    if (far(x, y)) crB.push([x, y, 800 + rng.uniform() * 5000]);
  }
  // Seeing differs by 5% between the snaps.
  const a = snap(stars, 1.5, 1, crA);
  const b = snap(stars, 1.575, 2, crB);

  it('finds the cosmic rays in either snap, replaces them with twice the clean snap, and leaves stars alone', () => {
    const r = runSnapCombine([a, b]);
    expect(r.snaps).toBe(2);
    const { image, mask, variance } = r.exposure;
    for (const [x, y] of [...crA, ...crB]) expect(mask[y * W + x] & MaskBit.CR).toBe(MaskBit.CR);
    expect(r.crCorePixelsPerSnap[0]).toBeGreaterThanOrEqual(crA.length);
    expect(r.crCorePixelsPerSnap[1]).toBeGreaterThanOrEqual(crB.length);
    // The replaced value is twice the clean snap.
    const [x0, y0] = crA[0];
    expect(image[y0 * W + x0]).toBeCloseTo(2 * b.image[y0 * W + x0], 3);
    expect(variance[y0 * W + x0]).toBeCloseTo(4 * b.variance[y0 * W + x0], 1);
    const [x1, y1] = crB[0];
    expect(image[y1 * W + x1]).toBeCloseTo(2 * a.image[y1 * W + x1], 3);
    // No CR flag near any star (seeing differences are not cosmic rays), and few anywhere else.
    let nearStars = 0;
    let stray = 0;
    const crSet = new Set([...crA, ...crB].map(([x, y]) => y * W + x));
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        if (!(mask[y * W + x] & MaskBit.CR)) continue;
        let nearCr = false;
        for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) if (crSet.has((y + dy) * W + x + dx)) nearCr = true;
        if (nearCr) continue;
        if (stars.some((s) => (s.x - x) ** 2 + (s.y - y) ** 2 < 15 * 15)) nearStars++;
        else stray++;
      }
    }
    expect(nearStars).toBe(0);
    // Pure noise beyond 5 sigma on 1e6 pixels: ~0.6 expected, each grown to 9.
    expect(stray).toBeLessThanOrEqual(27);
    // Grown: 120 track pixels in 40 tracks of 3 → 40·15 pixels; 40 single hits → 40·9.
    expect(r.crPixels).toBeGreaterThanOrEqual(40 * 15 + 40 * 9 - 50);
    expect(r.skyPerSnapE).toBeGreaterThan(SKY - 50);
    expect(r.skyPerSnapE).toBeLessThan(SKY);
  });

  it('gives the same result in place (into the first snap) as into new arrays', () => {
    const fresh = runSnapCombine([a, b]);
    const a2 = { ...a, image: a.image.slice(), mask: a.mask.slice(), variance: a.variance.slice() };
    const inPlace = runSnapCombine([a2, b], makeSnapCombineConfig(), { inPlace: true });
    expect(inPlace.exposure.image).toBe(a2.image);
    expect(inPlace.crPixels).toBe(fresh.crPixels);
    for (const [x, y] of [...crA.slice(0, 10), ...crB.slice(0, 10)]) {
      for (let dy = -1; dy <= 1; dy++) {
        const k = (y + dy) * W + x;
        expect(inPlace.exposure.image[k]).toBeCloseTo(fresh.exposure.image[k], 1);
        expect(inPlace.exposure.variance[k]).toBeCloseTo(fresh.exposure.variance[k], 1);
        expect(inPlace.exposure.mask[k]).toBe(fresh.exposure.mask[k]);
      }
    }
  });

  it('gives the sum, cores and repairs of a plain loop over the pixels, to the bit, masks and NaNs included', () => {
    const withFlags = (mi: MaskedImage, seed: number): MaskedImage => {
      const r = new SeededRng(seed);
      const out = { ...mi, image: mi.image.slice(), variance: mi.variance.slice(), mask: mi.mask.slice() };
      for (let i = 0; i < out.mask.length; i += 97) out.mask[i] = r.uniform() < 0.5 ? MaskBit.SAT : MaskBit.SUSPECT;
      for (let i = 13; i < out.image.length; i += 50_021) out.image[i] = NaN;
      return out;
    };
    for (const cfg of [makeSnapCombineConfig(), makeSnapCombineConfig({ growPx: 2, fluxFraction: 0.5 }), makeSnapCombineConfig({ doRepair: false })]) {
      for (const inPlace of [false, true]) {
        const want = combinedByLoop(withFlags(a, 1), withFlags(b, 2), cfg, inPlace);
        const got = runSnapCombine([withFlags(a, 1), withFlags(b, 2)], cfg, { inPlace });
        const bits = (x: Float32Array | Int32Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength);
        expect(bits(got.exposure.image).equals(bits(want.image))).toBe(true);
        expect(bits(got.exposure.variance).equals(bits(want.variance))).toBe(true);
        expect(bits(got.exposure.mask).equals(bits(want.mask))).toBe(true);
        expect(got.crPixels).toBe(want.crPixels);
        expect(got.crCorePixelsPerSnap).toEqual(want.cores);
        if (cfg.doRepair) expect(want.cores[0] > 100 && want.cores[1] > 30).toBe(true);
      }
    }
  });

  it('sums the snaps and propagates variance; one snap passes through', () => {
    const r = runSnapCombine([a, b], makeSnapCombineConfig({ doRepair: false }));
    expect(r.crPixels).toBe(0);
    expect(r.exposure.image[123]).toBeCloseTo(a.image[123] + b.image[123], 3);
    expect(r.exposure.variance[123]).toBeCloseTo(a.variance[123] + b.variance[123], 3);
    const one = runSnapCombine([a]);
    expect(one.exposure).toBe(a);
    expect(one.snaps).toBe(1);
    expect(() => runSnapCombine([])).toThrow(/at least one/);
    expect(() => runSnapCombine([a, makeMaskedImage(10, 10)])).toThrow(/differ in size/);
  });
});

/**
 * runSnapCombine of two snaps as a plain loop over the pixels; `inPlace`: a pixel of the first
 * snap is recovered from the sum, as when the sum is written over it.
 */
function combinedByLoop(A: MaskedImage, B: MaskedImage, cfg: SnapCombineConfig, inPlace: boolean) {
  const n = A.image.length;
  const [a, b, va, vb, ma, mb] = [A.image, B.image, A.variance, B.variance, A.mask, B.mask];
  const image = new Float32Array(n);
  const variance = new Float32Array(n);
  const mask = new Int32Array(n);
  // The sky: median of the lower snap on a regular subsample.
  const stride = Math.max(1, Math.floor(n / 100_000)) | 1;
  const lower: number[] = [];
  for (let i = 0; i < n; i += stride) {
    const v = Math.fround(a[i] < b[i] ? a[i] : b[i]);
    if (v === v) lower.push(v);
  }
  lower.sort((p, q) => p - q);
  const half = lower.length >> 1;
  const sky = !cfg.doRepair ? NaN : lower.length % 2 ? lower[half] : 0.5 * (lower[half] + lower[half - 1]);
  const k2 = cfg.nSigma * cfg.nSigma;
  const cores: number[] = [];
  const count = [0, 0];
  for (let i = 0; i < n; i++) {
    const m = ma[i] | mb[i];
    image[i] = a[i] + b[i];
    variance[i] = va[i] + vb[i];
    mask[i] = m;
    if (!cfg.doRepair) continue;
    const d = a[i] - b[i];
    const vs = va[i] + vb[i];
    if (d * d <= k2 * vs || m & cfg.ignoreBits) continue;
    const src = (d > 0 ? b[i] : a[i]) - sky;
    const excess = (d > 0 ? d : -d) - (src > 0 ? cfg.fluxFraction * src : 0);
    if (excess <= 0 || excess * excess <= k2 * vs) continue;
    cores.push(d > 0 ? i + 1 : -(i + 1));
    count[d > 0 ? 0 : 1]++;
  }
  let crPixels = 0;
  const replace = (j: number, hitA: boolean): void => {
    if (mask[j] & MaskBit.CR) return;
    image[j] = 2 * (hitA ? b[j] : inPlace ? image[j] - b[j] : a[j]);
    variance[j] = 4 * (hitA ? vb[j] : inPlace ? variance[j] - vb[j] : va[j]);
    mask[j] |= MaskBit.CR;
    crPixels++;
  };
  for (const c of cores) replace(Math.abs(c) - 1, c > 0);
  const r = cfg.growPx;
  for (const c of r > 0 ? cores : []) {
    const i = Math.abs(c) - 1;
    const x = i % A.width;
    const y = (i - x) / A.width;
    for (let yy = Math.max(0, y - r); yy <= Math.min(A.height - 1, y + r); yy++) {
      for (let xx = Math.max(0, x - r); xx <= Math.min(A.width - 1, x + r); xx++) replace(yy * A.width + xx, c > 0);
    }
  }
  return { image, variance, mask, crPixels, cores: count };
}
