import { beforeAll, describe, expect, it } from 'vitest';
import { AlgorithmError, ConfigError, InvalidInputError } from '../../../core/errors.ts';
import { MaskBit, makeMaskedImage, type MaskedImage } from '../../../core/image.ts';
import { Rng } from '../../../core/rng.ts';
import { simulateCosmicRays } from '../../../tester/sim/cosmic-rays.ts';
import { addGaussianStar } from '../../testing/synthetic.ts';
import { makeCosmicRayConfig, psfRatios, runCosmicRays, type CosmicRayResult } from './index.ts';

const FWHM_PER_SIGMA = 2 * Math.sqrt(2 * Math.log(2));
const SKY = 800;
const SKY_SIGMA = Math.sqrt(SKY);

interface Star {
  readonly x: number;
  readonly y: number;
  readonly flux: number;
  readonly sigma: number;
}

interface Scene {
  readonly mi: MaskedImage;
  /** Noise-free stars (background-subtracted). */
  readonly stars: Float32Array;
  /** Cosmic-ray electrons per pixel. */
  readonly cr: Float32Array;
  readonly starList: Star[];
  readonly events: number;
}

/** Adds charge along a segment, shared bilinearly between the 4 nearest pixels (like the simulator). */
function streak(cr: Float32Array, W: number, H: number, x0: number, y0: number, lengthPx: number, angle: number, ePerPx: number): void {
  const steps = Math.max(1, Math.ceil(lengthPx * 3));
  for (let s = 0; s < steps; s++) {
    const t = steps === 1 ? 0 : (s / (steps - 1)) * lengthPx;
    const x = x0 + Math.cos(angle) * t;
    const y = y0 + Math.sin(angle) * t;
    const fx = Math.floor(x);
    const fy = Math.floor(y);
    const tx = x - fx;
    const ty = y - fy;
    const e = (ePerPx * lengthPx) / steps;
    const put = (ix: number, iy: number, w: number): void => {
      if (ix >= 0 && iy >= 0 && ix < W && iy < H) cr[iy * W + ix] += e * w;
    };
    put(fx, fy, (1 - tx) * (1 - ty));
    put(fx + 1, fy, tx * (1 - ty));
    put(fx, fy + 1, (1 - tx) * ty);
    put(fx + 1, fy + 1, tx * ty);
  }
}

/**
 * A background-subtracted image: Gaussian stars of FWHM in [fwhmMin, fwhmMax] (fluxes 1e3..1e7 e,
 * log-uniform, plus a few very bright ones), and cosmic rays: the tester's simulated muons and
 * worms, plus single pixels, 2- and 3-pixel tracks and long streaks, well away from the stars.
 * The variance is that of sky + stars + cosmic rays; the image gets its Gaussian noise.
 */
function scene(seed: number, W: number, H: number, fwhmMin: number, fwhmMax: number, nStars: number, withCr = true): Scene {
  const rng = Rng.from(seed);
  const stars = new Float32Array(W * H);
  const starList: Star[] = [];
  for (let s = 0; s < nStars; s++) {
    const sigma = (fwhmMin + (fwhmMax - fwhmMin) * rng.uniform()) / FWHM_PER_SIGMA;
    // Every fifth star is very bright: S/N > 1000 (flux ≥ 1.5e6 e).
    const flux = s % 5 === 0 ? 1.5e6 * 10 ** rng.uniform() : 10 ** (3 + 4 * rng.uniform());
    const st = { x: 12 + rng.uniform() * (W - 24), y: 12 + rng.uniform() * (H - 24), flux, sigma };
    starList.push(st);
    addGaussianStar(stars, W, H, st.x, st.y, flux, sigma);
  }
  const cr = new Float32Array(W * H);
  let events = 0;
  if (withCr) {
    const hits = simulateCosmicRays(rng.fork('cr'), { width: W, height: H, darkTimeS: 1800, ratePerCm2PerMin: 8, pixelSizeUm: 10, thicknessUm: 100 });
    for (let i = 0; i < hits.pixels.length; i++) cr[hits.pixels[i]] += hits.electrons[i];
    events = hits.events;
    // Hand-made ones, at least 15 px from every star.
    const clear = (x: number, y: number): boolean => starList.every((s) => Math.hypot(s.x - x, s.y - y) > 15);
    const r = rng.fork('shapes');
    let placed = 0;
    for (let tries = 0; placed < 120 && tries < 5000; tries++) {
      const x = 5 + Math.floor(r.uniform() * (W - 70));
      const y = 5 + Math.floor(r.uniform() * (H - 70));
      if (!clear(x, y)) continue;
      const amp = SKY_SIGMA * (10 + 60 * r.uniform());
      const kind = placed % 6;
      if (kind <= 1) {
        cr[y * W + x] += amp;
      } else if (kind === 2) {
        // 2-pixel track, horizontal, vertical or diagonal
        const d = r.int(3);
        cr[y * W + x] += amp;
        cr[(y + (d > 0 ? 1 : 0)) * W + x + (d !== 1 ? 1 : 0)] += amp * (0.6 + 0.4 * r.uniform());
      } else if (kind === 3) {
        // 3-pixel track with a kink
        cr[y * W + x] += amp;
        cr[y * W + x + 1] += amp * (0.6 + 0.4 * r.uniform());
        cr[(y + 1) * W + x + 2] += amp * (0.6 + 0.4 * r.uniform());
      } else if (kind === 4) {
        // short streak at a random angle, 3-6 px
        streak(cr, W, H, x + r.uniform(), y + r.uniform(), 3 + 3 * r.uniform(), r.uniform() * 2 * Math.PI, amp);
      } else {
        // long streak, 30-60 px, ≥ 15 σ per pixel of track; only where the whole track is clear
        const len = 30 + 30 * r.uniform();
        const a = r.uniform() * 2 * Math.PI;
        const x1 = x + 30 + Math.cos(a) * len;
        const y1 = y + 30 + Math.sin(a) * len;
        if (x1 < 2 || y1 < 2 || x1 > W - 3 || y1 > H - 3) continue;
        let ok = true;
        for (let t = 0; t <= len; t += 2) ok &&= clear(x + 30 + Math.cos(a) * t, y + 30 + Math.sin(a) * t);
        if (!ok) continue;
        streak(cr, W, H, x + 30 + r.uniform(), y + 30 + r.uniform(), len, a, Math.max(amp, 15 * SKY_SIGMA));
      }
      placed++;
    }
  }
  const mi = makeMaskedImage(W, H);
  for (let i = 0; i < W * H; i++) {
    const v = SKY + stars[i] + cr[i];
    mi.variance[i] = v;
    mi.image[i] = stars[i] + cr[i] + Math.sqrt(v) * rng.normal();
  }
  return { mi, stars, cr, starList, events };
}

/** Largest cosmic-ray deposit within `r` pixels (square) of (x, y). */
function crNear(sc: Scene, W: number, H: number, x: number, y: number, r: number): number {
  let m = 0;
  for (let yy = Math.max(0, y - r); yy <= Math.min(H - 1, y + r); yy++) {
    for (let xx = Math.max(0, x - r); xx <= Math.min(W - 1, x + r); xx++) m = Math.max(m, sc.cr[yy * W + xx]);
  }
  return m;
}

describe('cosmic rays (single snap, by sharpness)', () => {
  const W = 640;
  const H = 640;
  let sc: Scene;
  let input: MaskedImage;
  let r: CosmicRayResult;
  beforeAll(() => {
    sc = scene(11, W, H, 2.5, 4, 80);
    input = { ...sc.mi, image: sc.mi.image.slice(), mask: sc.mi.mask.slice(), variance: sc.mi.variance.slice() };
    // The PSF sigma of the sharpest stars (FWHM 2.5 px).
    r = runCosmicRays(sc.mi, { psfSigmaPx: 2.5 / FWHM_PER_SIGMA }, makeCosmicRayConfig());
  });
  const flagged = (i: number): boolean => (r.mask[i] & MaskBit.CR) !== 0;

  it('flags at least 95% of the cosmic-ray pixels more than 10 sigma above the local noise', () => {
    let n = 0;
    let hit = 0;
    for (let i = 0; i < W * H; i++) {
      if (sc.cr[i] > 10 * Math.sqrt(SKY + sc.stars[i])) {
        n++;
        if (flagged(i)) hit++;
      }
    }
    expect(n).toBeGreaterThan(1000);
    expect(hit / n).toBeGreaterThanOrEqual(0.95);
    expect(r.crCount).toBeGreaterThan(sc.events + 100);
    let masked = 0;
    for (let i = 0; i < W * H; i++) if (flagged(i)) masked++;
    expect(masked).toBe(r.crPixels);
    for (let i = 0; i < W * H; i++) if (flagged(i)) expect(r.mask[i] & MaskBit.INTRP).toBe(MaskBit.INTRP);
  });

  it('keeps every star peak, bright ones included, and flags no pixel without cosmic-ray charge nearby', () => {
    let checked = 0;
    let bright = 0;
    for (const s of sc.starList) {
      const px = Math.round(s.x);
      const py = Math.round(s.y);
      // A cosmic ray right on a star's core is beyond repair either way: not checked.
      if (crNear(sc, W, H, px, py, 2) > 0) continue;
      checked++;
      if (s.flux > 1e6) bright++;
      for (let yy = py - 1; yy <= py + 1; yy++) {
        for (let xx = px - 1; xx <= px + 1; xx++) {
          expect(flagged(yy * W + xx)).toBe(false);
          expect(r.exposure.image[yy * W + xx]).toBe(input.image[yy * W + xx]);
        }
      }
    }
    expect(checked).toBeGreaterThan(70);
    expect(bright).toBeGreaterThan(12);
    // Flagged pixels away from any cosmic-ray charge: at most a few noise spikes.
    let stray = 0;
    for (let i = 0; i < W * H; i++) {
      if (!flagged(i)) continue;
      const x = i % W;
      if (crNear(sc, W, H, x, (i - x) / W, 1) === 0) stray++;
    }
    expect(stray).toBeLessThanOrEqual(3);
  });

  it('replaces flagged pixels by interpolation: no 5-sigma residual left away from stars, finite variance', () => {
    let badVariance = 0;
    for (let i = 0; i < W * H; i++) {
      const v = r.exposure.variance[i];
      if (!(Number.isFinite(v) && v > 0)) badVariance++;
    }
    expect(badVariance).toBe(0);
    expect(r.uninterpolatedPixels).toBe(0);
    // Flagged pixels away from star light (interpolating over a star's wing leaves the wing's
    // curvature) and from cosmic-ray charge left unflagged (growth stops where a remnant is as
    // smooth as the PSF; it then feeds the interpolation).
    let checked = 0;
    let over5 = 0;
    let varianceOff = 0;
    for (let i = 0; i < W * H; i++) {
      if (!flagged(i)) continue;
      const x = i % W;
      const y = (i - x) / W;
      let star = 0;
      let remnant = 0;
      for (let yy = Math.max(0, y - 4); yy <= Math.min(H - 1, y + 4); yy++) {
        for (let xx = Math.max(0, x - 4); xx <= Math.min(W - 1, x + 4); xx++) {
          const j = yy * W + xx;
          star = Math.max(star, sc.stars[j]);
          if (!flagged(j)) remnant = Math.max(remnant, sc.cr[j]);
        }
      }
      if (star > SKY_SIGMA || remnant > 3 * SKY_SIGMA) continue;
      checked++;
      if (Math.abs(r.exposure.image[i] - sc.stars[i]) > 5 * SKY_SIGMA) over5++;
      // The variance is the neighbourhood's, not the cosmic ray's.
      const v = r.exposure.variance[i];
      if (!(v > 0.5 * SKY && v < 2 * SKY)) varianceOff++;
    }
    expect(checked).toBeGreaterThan(1000);
    expect(over5).toBe(0);
    expect(varianceOff).toBe(0);
    // Cosmic-ray pixels more than 10 sigma away from stars, flagged or not, still above 5 sigma.
    let n = 0;
    let left = 0;
    for (let i = 0; i < W * H; i++) {
      if (sc.cr[i] > 10 * SKY_SIGMA && sc.stars[i] < 0.1 * SKY_SIGMA) {
        n++;
        if (r.exposure.image[i] > 5 * SKY_SIGMA) left++;
      }
    }
    expect(left / n).toBeLessThan(0.02);
  });

  it('leaves the input untouched unless inPlace', () => {
    const differ = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
      let d = 0;
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) d++;
      return d;
    };
    expect(differ(sc.mi.image, input.image) + differ(sc.mi.mask, input.mask) + differ(sc.mi.variance, input.variance)).toBe(0);
    const copy = { ...input, image: input.image.slice(), mask: input.mask.slice(), variance: input.variance.slice() };
    const again = runCosmicRays(copy, { psfSigmaPx: 2.5 / FWHM_PER_SIGMA }, makeCosmicRayConfig(), { inPlace: true });
    expect(again.exposure.image).toBe(copy.image);
    expect(again.mask).toBe(copy.mask);
    expect(again.crPixels).toBe(r.crPixels);
    expect(differ(copy.image, r.exposure.image) + differ(copy.mask, r.mask) + differ(copy.variance, r.exposure.variance)).toBe(0);
  });
});

describe('cosmic rays: stars are not cosmic rays', () => {
  it('flags nothing on a field of FWHM 2 px stars up to S/N ~3000 with the PSF of FWHM 2 px, nor on broader stars', () => {
    for (const [fwhm, seed] of [
      [2, 1],
      [2, 2],
      [3, 3],
      [4, 4],
    ] as const) {
      const W = 480;
      const H = 480;
      const rng = Rng.from(seed);
      const stars = new Float32Array(W * H);
      for (let y = 12; y < H - 12; y += 24) {
        for (let x = 12; x < W - 12; x += 24) addGaussianStar(stars, W, H, x + rng.uniform() - 0.5, y + rng.uniform() - 0.5, 10 ** (3 + 4 * rng.uniform()), fwhm / FWHM_PER_SIGMA);
      }
      const mi = makeMaskedImage(W, H);
      for (let i = 0; i < W * H; i++) {
        const v = SKY + stars[i];
        mi.variance[i] = v;
        mi.image[i] = stars[i] + Math.sqrt(v) * rng.normal();
      }
      const r = runCosmicRays(mi, { psfSigmaPx: 2 / FWHM_PER_SIGMA });
      expect(r.crPixels, `FWHM ${fwhm}, seed ${seed}`).toBe(0);
    }
  });

  it('never flags masked (saturated, bad) pixels nor the edges of a saturated star and its bleed trail', () => {
    const W = 200;
    const H = 200;
    const rng = Rng.from(5);
    const mi = makeMaskedImage(W, H);
    addGaussianStar(mi.image, W, H, 100.3, 100.6, 2e7, 1.2);
    const full = 1.5e5;
    for (let i = 0; i < W * H; i++) {
      const v = SKY + Math.min(mi.image[i], full);
      mi.variance[i] = v;
      if (mi.image[i] > full) {
        mi.mask[i] |= MaskBit.SAT;
        mi.image[i] = full;
      }
      mi.image[i] += Math.sqrt(v) * rng.normal();
    }
    // A bleed trail up and down column 100.
    for (let y = 80; y < 120; y++) {
      mi.image[y * W + 100] = full;
      mi.mask[y * W + 100] |= MaskBit.SAT;
    }
    // A cosmic ray on a BAD pixel: left alone.
    mi.image[30 * W + 30] = 5000;
    mi.mask[30 * W + 30] |= MaskBit.BAD;
    const r = runCosmicRays(mi, { psfSigmaPx: 2 / FWHM_PER_SIGMA });
    expect(r.crPixels).toBe(0);
    expect(r.exposure.image[30 * W + 30]).toBe(5000);
  });
});

describe('cosmic rays: PSF ratios, configuration and inputs', () => {
  it('computes the PSF neighbour ratios: rising with the PSF width, single ≤ pair', () => {
    const a = psfRatios(2 / FWHM_PER_SIGMA);
    // Pixel-integrated Gaussian of FWHM 2 px, centred: (left + right) / 2 / centre.
    expect(a.axisPair).toBeCloseTo(0.539, 2);
    expect(a.diagonalPair).toBeCloseTo(0.29, 2);
    const b = psfRatios(4 / FWHM_PER_SIGMA);
    expect(b.axisPair).toBeGreaterThan(a.axisPair);
    expect(b.diagonalPair).toBeGreaterThan(a.diagonalPair);
    for (const p of [a, b]) {
      expect(p.axisSingle).toBeLessThanOrEqual(p.axisPair);
      expect(p.diagonalSingle).toBeLessThanOrEqual(p.diagonalPair);
      expect(p.diagonalPair).toBeLessThan(p.axisPair);
    }
  });

  it('validates its config and inputs', () => {
    expect(() => makeCosmicRayConfig({ growSharpnessFactor: 2, sharpnessFactor: 1.5 })).toThrow(ConfigError);
    expect(() => makeCosmicRayConfig({ sharpnessFactor: 0.5 })).toThrow(ConfigError);
    const mi = makeMaskedImage(20, 20);
    expect(() => runCosmicRays(mi, { psfSigmaPx: 0 })).toThrow(InvalidInputError);
    expect(() => runCosmicRays({ ...mi, mask: new Int32Array(3) }, { psfSigmaPx: 1 })).toThrow(InvalidInputError);
  });

  it('gives up (AlgorithmError) when more than maxCrPixelFraction of the image is flagged', () => {
    const mi = makeMaskedImage(200, 200);
    mi.variance.fill(SKY);
    for (let y = 4; y < 196; y += 8) for (let x = 4; x < 196; x += 8) mi.image[y * 200 + x] = 50 * SKY_SIGMA;
    expect(runCosmicRays(mi, { psfSigmaPx: 1 }).crPixels).toBe(576);
    expect(() => runCosmicRays(mi, { psfSigmaPx: 1 }, makeCosmicRayConfig({ maxCrPixelFraction: 0.01 }))).toThrow(AlgorithmError);
  });
});
