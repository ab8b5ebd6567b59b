import { describe, expect, it } from 'vitest';
import { makeTanWcs, pixelToSky } from '../../../astro/index.ts';
import { MaskBit, makeMaskedImage, type MaskedImage } from '../../../core/image.ts';
import { writeFits } from '../../../fits/index.ts';
import { metadataCards, readSourceCatalog, writeSourceCatalog, type ExposureMetadata } from '../../outputs.ts';
import { SOURCE_COLUMNS, SourceFlag } from '../../source-catalog.ts';
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
    const pp: number[] = [];
    for (let i = 0; i < stars.length; i++) {
      const k = idx[i];
      if (k < 0 || cat.flags[k] !== 0) continue;
      px.push((cat.x[k] - stars[i].x) / cat.xErr[k]);
      py.push((cat.y[k] - stars[i].y) / cat.yErr[k]);
      pf.push((cat.apFlux[k] - stars[i].flux) / cat.apFluxErr[k]);
      pp.push((cat.psfFlux[k] - stars[i].flux) / cat.psfFluxErr[k]);
    }
    expect(px.length).toBeGreaterThan(1400);
    for (const p of [px, py, pf, pp]) {
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
  it('fits PSF fluxes: unbiased, errors equal to the scatter over realisations (20%), below the aperture errors for faint stars', () => {
    // 144 realisations of a faint star (PSF S/N ~ 20, aperture S/N ~ 6), at jittered positions.
    const F = 3500;
    const { mi, stars } = field(21, 480, 480, 40, () => F);
    const det = runDetection(mi, makeDetectionConfig({ psfFwhmGuessPx: 3.8 }));
    // The PSF's sigma as adaptive moments of the pixelised star measure it: σ² + 1/12.
    const psfSigmaPx = Math.sqrt(SIGMA * SIGMA + 1 / 12);
    const meas = runMeasurement({ exposure: { ...mi, mask: det.mask }, footprints: det.footprints, psfSigmaPx, wcs: null }, makeMeasurementConfig());
    const cat = meas.catalog;
    const idx = match(cat, stars);
    const flux: number[] = [];
    const err: number[] = [];
    for (let i = 0; i < stars.length; i++) {
      const k = idx[i];
      if (k < 0) continue;
      expect(cat.flags[k] & SourceFlag.PSF_FLUX_FAILED).toBe(0);
      expect(cat.psfFluxErr[k]).toBeLessThan(0.5 * cat.apFluxErr[k]);
      flux.push(cat.psfFlux[k]);
      err.push(cat.psfFluxErr[k]);
    }
    expect(flux.length).toBeGreaterThan(130);
    const mean = flux.reduce((a, b) => a + b, 0) / flux.length;
    const meanErr = err.reduce((a, b) => a + b, 0) / err.length;
    const scatter = std(flux);
    // Each within 4 sigma, the mean within 3 sigma of the mean.
    for (let j = 0; j < flux.length; j++) expect(Math.abs(flux[j] - F)).toBeLessThan(4 * err[j]);
    expect(Math.abs(mean - F)).toBeLessThan((3 * meanErr) / Math.sqrt(flux.length));
    expect(scatter / meanErr).toBeGreaterThan(0.8);
    expect(scatter / meanErr).toBeLessThan(1.2);
    // The optimal error for a known Gaussian PSF P: (Σ P² / (sky + F·P))^-1/2.
    let info = 0;
    for (let dy = -10; dy <= 10; dy++) {
      for (let dx = -10; dx <= 10; dx++) {
        const p = Math.exp(-(dx * dx + dy * dy) / (2 * psfSigmaPx * psfSigmaPx)) / (2 * Math.PI * psfSigmaPx * psfSigmaPx);
        info += (p * p) / (SKY + F * p);
      }
    }
    expect(meanErr * Math.sqrt(info)).toBeGreaterThan(0.97);
    expect(meanErr * Math.sqrt(info)).toBeLessThan(1.03);
    expect(meas.psfFluxFailures).toBe(0);
  });

  it('fits bright stars to 1% with chi² per DOF near 1, elliptical PSFs through psfMoments', () => {
    const W = 400;
    const H = 400;
    const rng = new SeededRng(4);
    const mi = makeMaskedImage(W, H);
    const stars: TruthStar[] = [];
    const sx = 1.3;
    const sy = 2.0;
    for (let y = 40; y < H - 20; y += 50) {
      for (let x = 40; x < W - 20; x += 50) {
        const s = { x: x + rng.uniform() - 0.5, y: y + rng.uniform() - 0.5, flux: 3e5 };
        stars.push(s);
        addGaussianStar(mi.image, W, H, s.x, s.y, s.flux, sx, sy);
      }
    }
    for (let k = 0; k < mi.image.length; k++) {
      const v = SKY + mi.image[k];
      mi.variance[k] = v;
      mi.image[k] += Math.sqrt(v) * rng.normal();
    }
    const det = runDetection(mi, makeDetectionConfig({ psfFwhmGuessPx: 4 }));
    expect(det.psf.measured).toBe(true);
    const exposure = { ...mi, mask: det.mask };
    const run = (psfMoments?: { ixx: number; iyy: number; ixy: number }) =>
      runMeasurement({ exposure, footprints: det.footprints, psfSigmaPx: det.psf.sigmaPx, psfMoments, wcs: null }, makeMeasurementConfig()).catalog;
    // The PSF estimate (a PsfEstimate has the moments) gives the elliptical model.
    const ell = run(det.psf);
    const circ = run();
    const idx = match(ell, stars);
    const chiE: number[] = [];
    const chiC: number[] = [];
    for (let i = 0; i < stars.length; i++) {
      const k = idx[i];
      expect(k).toBeGreaterThanOrEqual(0);
      expect(Math.abs(ell.psfFlux[k] / stars[i].flux - 1)).toBeLessThan(0.01);
      expect(Math.abs(ell.psfFlux[k] - stars[i].flux)).toBeLessThan(5 * ell.psfFluxErr[k] + 0.005 * stars[i].flux);
      chiE.push(ell.psfChi2[k]);
      chiC.push(circ.psfChi2[k]);
    }
    const median = (v: number[]) => v.slice().sort((a, b) => a - b)[v.length >> 1];
    expect(median(chiE)).toBeGreaterThan(0.7);
    expect(median(chiE)).toBeLessThan(1.5);
    // A circular model of an elliptical PSF fits worse.
    expect(median(chiC)).toBeGreaterThan(3 * median(chiE));
  });

  it('measures the PSF flux around masked pixels in the core, and flags it when the core is gone', () => {
    const W = 200;
    const H = 100;
    const rng = new SeededRng(8);
    const mi = makeMaskedImage(W, H);
    const F = 2e4;
    addGaussianStar(mi.image, W, H, 50.2, 50.4, F, SIGMA);
    addGaussianStar(mi.image, W, H, 150.3, 49.8, F, SIGMA);
    for (let k = 0; k < mi.image.length; k++) {
      const v = SKY + mi.image[k];
      mi.variance[k] = v;
      mi.image[k] += Math.sqrt(v) * rng.normal();
    }
    const det = runDetection(mi, makeDetectionConfig({ psfFwhmGuessPx: 3.8 }));
    const psfSigmaPx = Math.sqrt(SIGMA * SIGMA + 1 / 12);
    const clean = runMeasurement({ exposure: { ...mi, mask: det.mask }, footprints: det.footprints, psfSigmaPx, wcs: null }).catalog;
    // Star 1: the peak pixel and a neighbour repaired badly (+1500 e each, ~1.2x the peak) and
    // masked CR | INTRP and BAD. Star 2: the whole core saturated and masked.
    const image = mi.image.slice();
    const mask = det.mask.slice();
    image[50 * W + 50] += 1500;
    mask[50 * W + 50] |= MaskBit.CR | MaskBit.INTRP;
    image[50 * W + 51] += 1500;
    mask[50 * W + 51] |= MaskBit.BAD;
    for (let y = 45; y <= 55; y++) {
      for (let x = 145; x <= 155; x++) {
        image[y * W + x] = 9e4;
        mask[y * W + x] |= MaskBit.SAT;
      }
    }
    const exposure = { ...mi, image, mask };
    const cat = runMeasurement({ exposure, footprints: det.footprints, psfSigmaPx, wcs: null }).catalog;
    const at = (c: typeof cat, x: number) => {
      for (let k = 0; k < c.length; k++) if (Math.abs(c.x[k] - x) < 3) return k;
      return -1;
    };
    const k1 = at(cat, 50);
    const c1 = at(clean, 50);
    expect(cat.flags[k1] & SourceFlag.PSF_FLUX_FAILED).toBe(0);
    expect(Math.abs(cat.psfFlux[k1] - F)).toBeLessThan(3 * cat.psfFluxErr[k1]);
    expect(cat.psfFluxErr[k1]).toBeGreaterThan(clean.psfFluxErr[c1]);
    expect(cat.psfChi2[k1]).toBeLessThan(2);
    // Fitting the masked pixels too would be far off.
    const all = runMeasurement({ exposure, footprints: det.footprints, psfSigmaPx, wcs: null }, makeMeasurementConfig({ psfFitBadBits: 0 })).catalog;
    expect(Math.abs(all.psfFlux[at(all, 50)] - F)).toBeGreaterThan(5 * all.psfFluxErr[at(all, 50)]);
    const k2 = at(cat, 150);
    expect(cat.flags[k2] & SourceFlag.PSF_FLUX_FAILED).toBeTruthy();
    expect(cat.flags[k2] & SourceFlag.SATURATED).toBeTruthy();
    expect(Number.isNaN(cat.psfFlux[k2])).toBe(true);
    expect(Number.isNaN(cat.psfFluxErr[k2])).toBe(true);
  });

  it('writes the PSF columns to the catalog file and reads them back; older files read them as NaN', () => {
    const { mi } = field(5, 300, 300, 60, (i) => 5e4 * (1 + i));
    const { meas } = measure(mi);
    const cat = meas.catalog;
    expect(cat.length).toBeGreaterThan(10);
    const meta: ExposureMetadata = {
      instrument: 'LATISS',
      detector: 0,
      detectorName: 'RXX_S00',
      group: 'g1',
      visit: 2025050100001,
      exposureIds: [2025050100001],
      kind: 'SCIENCE',
      filter: 'r',
      band: 'r',
      exposureTimeS: 30,
      darkTimeS: 30,
      mjdObs: null,
      dateObs: null,
      raDeg: null,
      decDeg: null,
      wcs: null,
      bunit: 'electron',
    };
    const r = readSourceCatalog(writeSourceCatalog(cat, meta));
    for (const name of ['psfFlux', 'psfFluxErr', 'psfChi2', 'flags'] as const) expect(Array.from(r.catalog[name])).toEqual(Array.from(cat[name]));
    expect(r.units.psfFlux).toBe('electron');
    expect(r.catalog.psfFlux.every((f) => f > 0)).toBe(true);
    // A catalog from before the PSF columns.
    const old = writeFits({ header: metadataCards(meta) }, [
      {
        kind: 'table',
        extname: 'SOURCES',
        header: [],
        columns: SOURCE_COLUMNS.filter((c) => !c.optional).map((c) => ({ name: c.name, format: c.format, unit: c.unit || undefined, data: cat[c.name] })),
      },
    ]);
    const o = readSourceCatalog(old);
    expect(Array.from(o.catalog.apFlux)).toEqual(Array.from(cat.apFlux));
    expect(o.catalog.psfFlux.every((f) => Number.isNaN(f))).toBe(true);
  });
});
