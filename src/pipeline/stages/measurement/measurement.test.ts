import { describe, expect, it } from 'vitest';
import { makeTanWcs, pixelToSky } from '../../../astro/index.ts';
import { MaskBit, makeMaskedImage, type MaskedImage } from '../../../core/image.ts';
import { SourceFlag } from '../../source-catalog.ts';
import { SeededRng } from '../../testing/rng.ts';
import { addGaussianStar, type TruthStar } from '../../testing/synthetic.ts';
import { makeDetectionConfig, runDetection } from '../detection/detection.ts';
import { makeMeasurementConfig, runMeasurement } from './measurement.ts';

const SIGMA = 1.6;
const SKY = 800;

/** A background-subtracted image with stars on a jittered grid; variance = sky + source. */
function field(seed: number, W: number, H: number, step: number, flux: (i: number) => number): { mi: MaskedImage; stars: TruthStar[] } {
  const rng = new SeededRng(seed);
  const mi = makeMaskedImage(W, H);
  const stars: TruthStar[] = [];
  let i = 0;
  for (let y = step / 2; y < H - step / 2 + 1; y += step) {
    for (let x = step / 2; x < W - step / 2 + 1; x += step) {
      const s = { x: x + rng.uniform() - 0.5, y: y + rng.uniform() - 0.5, flux: flux(i++) };
      stars.push(s);
      addGaussianStar(mi.image, W, H, s.x, s.y, s.flux, SIGMA);
    }
  }
  for (let k = 0; k < mi.image.length; k++) {
    const v = SKY + mi.image[k];
    mi.variance[k] = v;
    mi.image[k] += Math.sqrt(v) * rng.normal();
  }
  return { mi, stars };
}

function measure(mi: MaskedImage, wcs = null as ReturnType<typeof makeTanWcs> | null) {
  const det = runDetection(mi, makeDetectionConfig({ psfFwhmGuessPx: 3.8 }));
  const exposure = { ...mi, mask: det.mask };
  return { det, meas: runMeasurement({ exposure, footprints: det.footprints, psfSigmaPx: det.psf.sigmaPx, wcs }, makeMeasurementConfig()) };
}

/** Index of the catalog source nearest each star (within 1.5 px), or -1. */
function match(cat: { x: Float64Array; y: Float64Array; length: number }, stars: TruthStar[]): number[] {
  return stars.map((s) => {
    let best = -1;
    let bd = 2.25;
    for (let k = 0; k < cat.length; k++) {
      const d = (cat.x[k] - s.x) ** 2 + (cat.y[k] - s.y) ** 2;
      if (d < bd) {
        bd = d;
        best = k;
      }
    }
    return best;
  });
}

function std(v: number[]): number {
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1));
}

describe('measurement', () => {
  it('measures bright stars: centroids within 0.05 px, aperture flux within 2%, sky positions from the WCS', () => {
    const W = 1000;
    const H = 1000;
    const { mi, stars } = field(3, W, H, 50, (i) => 2e5 * (1 + (i % 7)));
    const wcs = makeTanWcs({ raDeg: 150, decDeg: -30, crpix: [500, 500], pixelScaleArcsec: 0.2, rotationDeg: 20 });
    const { det, meas } = measure(mi, wcs);
    const cat = meas.catalog;
    expect(det.psf.measured).toBe(true);
    const idx = match(cat, stars);
    expect(idx.every((k) => k >= 0)).toBe(true);
    let maxD = 0;
    let maxRel = 0;
    for (let i = 0; i < stars.length; i++) {
      const k = idx[i];
      maxD = Math.max(maxD, Math.hypot(cat.x[k] - stars[i].x, cat.y[k] - stars[i].y));
      maxRel = Math.max(maxRel, Math.abs(cat.apFlux[k] / stars[i].flux - 1));
      expect(cat.flags[k] & (SourceFlag.CENTROID_FAILED | SourceFlag.MOMENTS_FAILED)).toBe(0);
    }
    expect(maxD).toBeLessThan(0.05);
    expect(maxRel).toBeLessThan(0.02);
    const k = idx[0];
    const sky = pixelToSky(wcs, cat.x[k], cat.y[k]);
    expect(cat.ra[k]).toBeCloseTo(sky[0], 10);
    expect(cat.dec[k]).toBeCloseTo(sky[1], 10);
    // Moments of a pixel-integrated Gaussian: σ² + 1/12.
    expect(cat.ixx[k]).toBeCloseTo(SIGMA * SIGMA + 1 / 12, 1);
    expect(Math.abs(cat.ixy[k])).toBeLessThan(0.05);
    expect(cat.snr[k]).toBeGreaterThan(100);
    expect(cat.id[k]).toBe(k + 1);
  });

  it('gives consistent error bars: pulls of centroid and flux have std ≈ 1 (within 15%)', () => {
    const W = 1600;
    const H = 1600;
    // Aperture S/N ~ 15..60 with the 12 px aperture.
    const { mi, stars } = field(9, W, H, 40, (i) => 12000 + 3000 * (i % 12));
    const { meas } = measure(mi);
    const cat = meas.catalog;
    const idx = match(cat, stars);
    const px: number[] = [];
    const py: number[] = [];
    const pf: number[] = [];
    for (let i = 0; i < stars.length; i++) {
      const k = idx[i];
      if (k < 0 || cat.flags[k] !== 0) continue;
      px.push((cat.x[k] - stars[i].x) / cat.xErr[k]);
      py.push((cat.y[k] - stars[i].y) / cat.yErr[k]);
      pf.push((cat.apFlux[k] - stars[i].flux) / cat.apFluxErr[k]);
    }
    expect(px.length).toBeGreaterThan(1400);
    for (const p of [px, py, pf]) {
      expect(std(p)).toBeGreaterThan(0.85);
      expect(std(p)).toBeLessThan(1.15);
    }
  });

  it('flags saturated, cosmic-ray, edge and blended sources', () => {
    const W = 300;
    const H = 200;
    const mi = makeMaskedImage(W, H);
    mi.variance.fill(100);
    addGaussianStar(mi.image, W, H, 50, 50, 1e5, SIGMA);
    mi.mask[50 * W + 50] |= MaskBit.SAT;
    addGaussianStar(mi.image, W, H, 150, 50, 1e5, SIGMA);
    mi.mask[53 * W + 152] |= MaskBit.CR;
    addGaussianStar(mi.image, W, H, 4, 150, 1e5, SIGMA);
    addGaussianStar(mi.image, W, H, 200, 150, 1e5, SIGMA);
    addGaussianStar(mi.image, W, H, 205, 150, 1e5, SIGMA);
    const { meas } = measure(mi);
    const cat = meas.catalog;
    const at = (x: number, y: number) => {
      for (let k = 0; k < cat.length; k++) if (Math.hypot(cat.x[k] - x, cat.y[k] - y) < 3) return cat.flags[k];
      return -1;
    };
    expect(at(50, 50) & SourceFlag.SATURATED).toBeTruthy();
    expect(at(150, 50) & SourceFlag.COSMIC_RAY).toBeTruthy();
    expect(at(150, 50) & SourceFlag.SATURATED).toBe(0);
    expect(at(4, 150) & SourceFlag.EDGE).toBeTruthy();
    const blend = Array.from(cat.flags).filter((f) => f & SourceFlag.BLENDED).length;
    expect(blend).toBe(1);
    expect(Number.isNaN(cat.ra[0])).toBe(true);
  });
});
