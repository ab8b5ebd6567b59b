import { describe, expect, it } from 'vitest';
import { pixelToSky } from '../../../astro/index.ts';
import { ConfigError, InvalidInputError } from '../../../core/errors.ts';
import { MaskBit } from '../../../core/image.ts';
import { randomStars } from '../../testing/synthetic.ts';
import { unpackDiaSourceId } from './dia-source-id.ts';
import { makeDiaSourcesConfig, runDiaSources, type DiaSourcesInput } from './dia-sources.ts';
import {
  addStar,
  correlatedNoiseDifference,
  DETECTOR,
  differenceOf,
  fluxForSnr,
  FWHM_PX,
  makeScene,
  PSF_SIGMA_MOMENT,
  sceneWcs,
  VISIT,
  type Scene,
} from './testing/synthetic-difference.ts';

function inputOf(scene: Scene, borderPx = 0, calib: number | null = null): DiaSourcesInput {
  return {
    difference: differenceOf(scene, borderPx),
    science: scene.science,
    template: scene.template,
    psfSigmaPx: PSF_SIGMA_MOMENT,
    calibNjyPerElectron: calib,
    wcs: sceneWcs(scene.width, scene.height),
    visit: VISIT,
    detector: DETECTOR,
  };
}

/** The catalog row whose centroid is nearest (x, y), within maxPx; −1 when none. */
function rowNear(cat: { length: number; x: Float64Array; y: Float64Array }, x: number, y: number, maxPx = 2): number {
  let best = -1;
  let bestD = maxPx;
  for (let r = 0; r < cat.length; r++) {
    const d = Math.hypot(cat.x[r] - x, cat.y[r] - y);
    if (d < bestD) {
      bestD = d;
      best = r;
    }
  }
  return best;
}

describe('runDiaSources', () => {
  it('finds positive and negative point sources and measures them within their errors', () => {
    const W = 512;
    const H = 512;
    const scene = makeScene(W, H, 7);
    const dNoise = Math.hypot(scene.scienceNoise, scene.templateNoise);
    const truth: Array<{ x: number; y: number; flux: number; sign: number }> = [];
    for (let j = 0; j < 6; j++) {
      for (let i = 0; i < 6; i++) {
        const x = 56 + 80 * i + scene.rng.uniform() - 0.5;
        const y = 56 + 80 * j + scene.rng.uniform() - 0.5;
        const flux = fluxForSnr(25 + 25 * scene.rng.uniform(), dNoise);
        const sign = (i + j) % 2 === 0 ? 1 : -1;
        // A brightening is a star in the science image only, a fading one in the template only.
        addStar(sign > 0 ? scene.science : scene.template, x, y, flux);
        truth.push({ x, y, flux, sign });
      }
    }
    const calib = 0.5;
    const input = inputOf(scene, 0, calib);
    const r = runDiaSources(input);
    const cat = r.catalog;
    expect(cat.fluxUnit).toBe('nJy');
    expect(r.noiseScale).toBeGreaterThan(0.93);
    expect(r.noiseScale).toBeLessThan(1.07);
    expect(r.dipoles).toBe(0);
    expect(cat.length).toBe(truth.length); // every source, nothing else
    expect(r.positive.count).toBe(18);
    expect(r.negative.count).toBe(18);

    const pulls: number[] = [];
    const sky = new Float64Array(2);
    for (const s of truth) {
      const row = rowNear(cat, s.x, s.y);
      expect(row).toBeGreaterThanOrEqual(0);
      expect(cat.isNegative[row]).toBe(s.sign < 0 ? 1 : 0);
      expect(cat.isDipole[row]).toBe(0);
      expect(Math.sign(cat.psfFlux[row])).toBe(s.sign);
      expect(Math.sign(cat.snr[row])).toBe(s.sign);
      const fluxPull = (cat.psfFlux[row] - s.sign * s.flux * calib) / cat.psfFluxErr[row];
      const xPull = (cat.x[row] - s.x) / cat.xErr[row];
      const yPull = (cat.y[row] - s.y) / cat.yErr[row];
      pulls.push(fluxPull, xPull, yPull);
      expect(Math.abs(fluxPull)).toBeLessThan(3);
      expect(Math.abs(xPull)).toBeLessThan(3);
      expect(Math.abs(yPull)).toBeLessThan(3);
      // Forced photometry: the star is in one image only.
      const inSci = s.sign > 0;
      expect(Math.abs(cat.scienceFlux[row] - (inSci ? s.flux * calib : 0)) / cat.scienceFluxErr[row]).toBeLessThan(3.5);
      expect(Math.abs(cat.templateFlux[row] - (inSci ? 0 : s.flux * calib)) / cat.templateFluxErr[row]).toBeLessThan(3.5);
      // Aperture flux agrees with the PSF flux (the aperture error is much larger).
      expect(Math.abs(cat.apFlux[row] - cat.psfFlux[row])).toBeLessThan(4 * cat.apFluxErr[row]);
      // Moments of a point source: ≈ the PSF's second moments.
      expect(cat.shape_flag[row]).toBe(0);
      expect(Math.sqrt(0.5 * (cat.ixx[row] + cat.iyy[row]))).toBeGreaterThan(0.8 * PSF_SIGMA_MOMENT);
      expect(Math.sqrt(0.5 * (cat.ixx[row] + cat.iyy[row]))).toBeLessThan(1.25 * PSF_SIGMA_MOMENT);
      for (const flag of [cat.centroid_flag, cat.psfFlux_flag, cat.pixelFlags_edge, cat.pixelFlags_saturated, cat.apFlux_flag_apertureTruncated]) {
        expect(flag[row]).toBe(0);
      }
      // Sky position through the WCS.
      pixelToSky(input.wcs!, cat.x[row], cat.y[row], sky);
      expect(cat.ra[row]).toBeCloseTo(sky[0], 10);
      expect(cat.dec[row]).toBeCloseTo(sky[1], 10);
      const posErrArcsec = Math.hypot(cat.raErr[row] * Math.cos((cat.dec[row] * Math.PI) / 180), cat.decErr[row]) * 3600;
      expect(posErrArcsec).toBeCloseTo(0.2 * Math.hypot(cat.xErr[row], cat.yErr[row]), 3);
      // Detection mask bits.
      const p = Math.round(s.y) * W + Math.round(s.x);
      expect(r.mask[p] & (s.sign > 0 ? MaskBit.DETECTED : MaskBit.DETECTED_NEGATIVE)).not.toBe(0);
    }
    // The errors are right on average, not only generous.
    const rms = Math.sqrt(pulls.reduce((a, v) => a + v * v, 0) / pulls.length);
    expect(rms).toBeGreaterThan(0.7);
    expect(rms).toBeLessThan(1.3);
    // Ids: unique, consecutive, decode to the visit and detector; the input mask is untouched.
    for (let row = 0; row < cat.length; row++) {
      expect(cat.diaSourceId[row] - cat.diaSourceId[0]).toBe(BigInt(row));
      expect(unpackDiaSourceId(cat.diaSourceId[row])).toEqual({ visit: VISIT, detector: DETECTOR, row });
      expect(cat.visit[row]).toBe(BigInt(VISIT));
      expect(cat.detector[row]).toBe(DETECTOR);
    }
    expect(input.difference.mask.some((v) => v !== 0)).toBe(false);
  });

  it('merges opposite lobes one FWHM apart into one dipole', () => {
    const W = 256;
    const H = 256;
    const scene = makeScene(W, H, 3);
    const dNoise = Math.hypot(scene.scienceNoise, scene.templateNoise);
    const F = fluxForSnr(60, dNoise);
    const x0 = 128.3;
    const y0 = 120.6;
    const d = FWHM_PX;
    // A star that moved by one FWHM along +x between template and science.
    addStar(scene.science, x0 + d / 2, y0, F);
    addStar(scene.template, x0 - d / 2, y0, F);
    // Far away: opposite lobes of very different fluxes are not a dipole.
    addStar(scene.science, 60 + d / 2, 60, F);
    addStar(scene.template, 60 - d / 2, 60, 0.1 * F);
    const input = inputOf(scene);
    const r = runDiaSources(input);
    const cat = r.catalog;
    expect(cat.fluxUnit).toBe('electron');
    expect(r.dipoles).toBe(1);
    const row = rowNear(cat, x0, y0, 1);
    expect(row).toBeGreaterThanOrEqual(0);
    expect(cat.isDipole[row]).toBe(1);
    expect(cat.isNegative[row]).toBe(0);
    expect(r.rowPositive[row]).toBeGreaterThanOrEqual(0);
    expect(r.rowNegative[row]).toBeGreaterThanOrEqual(0);
    expect(Math.abs(cat.y[row] - y0)).toBeLessThan(0.3);
    expect(cat.dipolePosFlux[row] / F).toBeGreaterThan(0.85);
    expect(cat.dipolePosFlux[row] / F).toBeLessThan(1.15);
    expect(cat.dipoleNegFlux[row] / -F).toBeGreaterThan(0.85);
    expect(cat.dipoleNegFlux[row] / -F).toBeLessThan(1.15);
    expect(cat.dipoleMeanFlux[row]).toBeCloseTo(0.5 * (cat.dipolePosFlux[row] - cat.dipoleNegFlux[row]), 1);
    expect(Math.abs(cat.dipoleFluxDiff[row])).toBeLessThan(4 * cat.dipoleFluxDiffErr[row]);
    expect(cat.dipoleSeparation[row] / d).toBeGreaterThan(0.8);
    expect(cat.dipoleSeparation[row] / d).toBeLessThan(1.4);
    expect(Math.abs(cat.dipoleOrientation[row])).toBeLessThan(5);
    expect(cat.dipoleLength[row]).toBeCloseTo(0.2 * cat.dipoleSeparation[row], 3);
    // Bearing from the negative to the positive lobe, from the WCS: +x is 30° rotated from east.
    const a = pixelToSky(input.wcs!, x0 - d / 2, y0);
    const b = pixelToSky(input.wcs!, x0 + d / 2, y0);
    const dra = (b[0] - a[0]) * Math.cos((a[1] * Math.PI) / 180);
    const bearing = ((Math.atan2(dra, b[1] - a[1]) * 180) / Math.PI + 360) % 360;
    expect(Math.abs(cat.dipoleAngle[row] - bearing)).toBeLessThan(5);
    // The unequal pair stays two sources, one of each sign.
    const p = rowNear(cat, 60 + d / 2, 60);
    const n = rowNear(cat, 60 - d / 2, 60, 3);
    expect(p).toBeGreaterThanOrEqual(0);
    expect(cat.isDipole[p]).toBe(0);
    if (n >= 0) {
      expect(n).not.toBe(p);
      expect(cat.isNegative[n]).toBe(1);
    }
  });

  it('drops a star saturated in the science image but keeps a new source that saturates', () => {
    const W = 256;
    const H = 256;
    const scene = makeScene(W, H, 6);
    const dNoise = Math.hypot(scene.scienceNoise, scene.templateNoise);
    const F = fluxForSnr(200, dNoise);
    // A star in both images whose science core is clipped at saturation: a residual in the difference.
    addStar(scene.template, 80.3, 80.6, 40 * F);
    addStar(scene.science, 80.3, 80.6, 40 * F);
    const sat = 0.5 * scene.science.image[80 * W + 80];
    for (let y = 78; y <= 83; y++) {
      for (let x = 78; x <= 83; x++) {
        const p = y * W + x;
        if (scene.science.image[p] > sat) {
          scene.science.image[p] = sat;
          scene.science.mask[p] |= MaskBit.SAT;
        }
      }
    }
    // A new source saturated at its core: nothing in the template.
    addStar(scene.science, 180.4, 170.2, F);
    const input = inputOf(scene);
    input.difference.mask[170 * W + 180] |= MaskBit.SAT;
    const r = runDiaSources(input);
    expect(r.diagnostics.droppedSaturatedStars).toBeGreaterThanOrEqual(1);
    expect(rowNear(r.catalog, 80.3, 80.6)).toBe(-1);
    const k = rowNear(r.catalog, 180.4, 170.2);
    expect(k).toBeGreaterThanOrEqual(0);
    expect(r.catalog.pixelFlags_saturatedCenter[k]).toBe(1);
    // With the rule off the saturated star's residual is a DiaSource.
    const off = runDiaSources(inputOf(scene), makeDiaSourcesConfig({ saturatedStarTemplateFraction: 0 }));
    expect(rowNear(off.catalog, 80.3, 80.6)).toBeGreaterThanOrEqual(0);
  });

  it('flags sources at the edge and on masked pixels, and drops peaks on NO_DATA', () => {
    const W = 256;
    const H = 256;
    const scene = makeScene(W, H, 5);
    const dNoise = Math.hypot(scene.scienceNoise, scene.templateNoise);
    const F = fluxForSnr(50, dNoise);
    addStar(scene.science, 10.2, 100.4, F); // 2 px inside the 8 px NO_DATA border
    addStar(scene.science, 100.3, 3.1, F); // inside the border: no data at all
    addStar(scene.science, 150.2, 150.7, F); // interior, saturated core
    addStar(scene.science, 200.6, 60.2, F); // interior, clean
    const input = inputOf(scene, 8);
    for (let y = 150; y <= 151; y++) for (let x = 150; x <= 151; x++) input.difference.mask[y * W + x] |= MaskBit.SAT;
    const r = runDiaSources(input);
    const cat = r.catalog;
    expect(cat.length).toBe(3);
    const e = rowNear(cat, 10.2, 100.4);
    expect(e).toBeGreaterThanOrEqual(0);
    expect(cat.pixelFlags_edge[e]).toBe(1);
    expect(cat.psfFlux_flag_edge[e]).toBe(1);
    expect(cat.pixelFlags_nodata[e]).toBe(1);
    expect(cat.apFlux_flag_apertureTruncated[e]).toBe(1);
    expect(r.diagnostics.edgeSources).toBe(1);
    const s = rowNear(cat, 150.2, 150.7);
    expect(cat.pixelFlags_saturated[s]).toBe(1);
    expect(cat.pixelFlags_saturatedCenter[s]).toBe(1);
    expect(cat.pixelFlags_edge[s]).toBe(0);
    const c = rowNear(cat, 200.6, 60.2);
    for (const flag of [cat.pixelFlags_edge, cat.pixelFlags_saturated, cat.pixelFlags_nodata, cat.psfFlux_flag]) expect(flag[c]).toBe(0);
  });

  it('keeps false detections on correlated noise down through noiseScale', () => {
    const W = 256;
    const H = 256;
    const D = correlatedNoiseDifference(W, H, 17, 1.0);
    const flat = { ...D, image: new Float32Array(W * H) };
    const input: DiaSourcesInput = {
      difference: D,
      science: flat,
      template: flat,
      psfSigmaPx: PSF_SIGMA_MOMENT,
      calibNjyPerElectron: null,
      wcs: null,
      visit: VISIT,
      detector: DETECTOR,
    };
    const r = runDiaSources(input);
    // The variance plane predicts the filtered noise 3x too low for this smoothing (σ = 1 px).
    expect(r.noiseScale).toBeGreaterThan(2.5);
    expect(r.noiseScale).toBeLessThan(3.5);
    expect(r.diagnostics.noiseScaleUsed).toBe(r.noiseScale);
    expect(r.catalog.length).toBeLessThanOrEqual(2);
    expect(r.diagnostics.filteredNoiseEmpirical / r.diagnostics.filteredNoisePredicted).toBeCloseTo(r.noiseScale, 5);
    const naive = runDiaSources(input, makeDiaSourcesConfig({ useEmpiricalNoise: false }));
    expect(naive.noiseScale).toBe(r.noiseScale);
    expect(naive.diagnostics.noiseScaleUsed).toBe(1);
    expect(naive.catalog.length).toBeGreaterThan(50);
    expect(Number.isNaN(naive.catalog.ra[0])).toBe(true); // no WCS
  });

  it('recovers at least 48 of 50 sources at S/N 10-20', () => {
    const W = 512;
    const H = 512;
    const scene = makeScene(W, H, 29);
    const dNoise = Math.hypot(scene.scienceNoise, scene.templateNoise);
    const stars = randomStars(scene.rng, 50, W, H, { margin: 16, minSep: 24, fluxMin: fluxForSnr(10, dNoise), fluxMax: fluxForSnr(20, dNoise) });
    expect(stars).toHaveLength(50);
    for (const s of stars) addStar(scene.science, s.x, s.y, s.flux);
    const r = runDiaSources(inputOf(scene));
    const found = stars.filter((s) => rowNear(r.catalog, s.x, s.y) >= 0).length;
    expect(found).toBeGreaterThanOrEqual(48);
    expect(r.catalog.length - found).toBeLessThanOrEqual(2);
  });

  it('marks the mask in place on request, and rejects bad inputs and configs', () => {
    const scene = makeScene(128, 128, 2);
    addStar(scene.science, 64.2, 64.7, fluxForSnr(40, 12));
    const input = inputOf(scene);
    const r = runDiaSources(input, makeDiaSourcesConfig(), { inPlace: true });
    expect(r.mask).toBe(input.difference.mask);
    expect(r.catalog.length).toBe(1);
    expect(input.difference.mask[64 * 128 + 64] & MaskBit.DETECTED).toBe(MaskBit.DETECTED);
    expect(() => runDiaSources({ ...input, visit: 12345 })).toThrow(InvalidInputError);
    expect(() => runDiaSources({ ...input, psfSigmaPx: 0 })).toThrow(InvalidInputError);
    expect(() => runDiaSources({ ...input, calibNjyPerElectron: -1 })).toThrow(InvalidInputError);
    expect(() => runDiaSources({ ...input, science: makeScene(64, 64, 1).science })).toThrow(/science is 64x64/);
    expect(() => makeDiaSourcesConfig({ noise: { minSamples: 5000, maxSamples: 1000 } })).toThrow(ConfigError);
    expect(Object.isFrozen(makeDiaSourcesConfig().dipole)).toBe(true);
  });
});
