import { describe, expect, it } from 'vitest';
import { makeTanWcs } from '../../../astro/index.ts';
import { AlgorithmError, InvalidInputError } from '../../../core/errors.ts';
import { SourceFlag } from '../../source-catalog.ts';
import { SeededRng } from '../../testing/rng.ts';
import { astrometrySources, runAstrometry } from '../astrometry/astrometry.ts';
import { perturbWcs, syntheticField } from '../astrometry/testing/synthetic-field.ts';
import { AB_MAG_OF_1_NJY, makePhotometricCalibrationConfig, runPhotometricCalibration } from './photometric-calibration.ts';

/** n stars: reference fluxes (nJy), instrumental fluxes = ref / calib with `scatter` (relative), S/N from a sky-limited model. */
function stars(n: number, calib: number, scatter: number, seed: number) {
  const rng = new SeededRng(seed);
  const refFlux = new Float64Array(n);
  const flux = new Float32Array(n);
  const fluxErr = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const mag = 16 + 7 * rng.uniform();
    refFlux[i] = 10 ** (-0.4 * (mag - AB_MAG_OF_1_NJY));
    const e = refFlux[i] / calib;
    fluxErr[i] = Math.sqrt(e + 300000);
    flux[i] = e * (1 + scatter * rng.normal());
  }
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  return { refFlux, flux, fluxErr, flags: new Int32Array(n), pairs: { source: idx, ref: idx.slice() } };
}

describe('photometric calibration', () => {
  it('recovers nJy per electron and the zero point with 10% outliers, clipped', () => {
    const calib = 0.575;
    const s = stars(400, calib, 0.01, 1);
    // Blends and variables: 10% of the stars 30–80% too bright.
    for (let i = 0; i < 400; i += 10) s.flux[i] *= 1.3 + 0.5 * (i / 400);
    const r = runPhotometricCalibration({ pairs: s.pairs, sourceFlux: s.flux, sourceFluxErr: s.fluxErr, refFlux: s.refFlux, exposureTimeS: 30 });
    expect(Math.abs(2.5 * Math.log10(r.calibNjyPerElectron / calib))).toBeLessThan(0.003);
    expect(r.zeroPointMag).toBeCloseTo(AB_MAG_OF_1_NJY - 2.5 * Math.log10(r.calibNjyPerElectron), 12);
    expect(r.zeroPointPerSecondMag).toBeCloseTo(r.zeroPointMag - 2.5 * Math.log10(30), 12);
    expect(r.scatterMag).toBeGreaterThan(0.007);
    expect(r.scatterMag).toBeLessThan(0.015);
    expect(r.zeroPointErrMag).toBeCloseTo((1.2533 * r.scatterMag) / Math.sqrt(r.nUsed), 12);
    expect(r.calibErrNjyPerElectron).toBeCloseTo(r.calibNjyPerElectron * 0.4 * Math.LN10 * r.zeroPointErrMag, 12);
    // Every outlier clipped; the S/N cut leaves out the faintest.
    for (let i = 0; i < 400; i += 10) if (r.starZeroPointMag[i] === r.starZeroPointMag[i]) expect(r.used[i]).toBe(0);
    expect(r.nUsed).toBeLessThan(r.nCandidates);
    expect(r.nCandidates).toBeLessThan(400);
    for (let i = 0; i < 400; i++) if (r.used[i]) expect(s.flux[i] / s.fluxErr[i]).toBeGreaterThanOrEqual(20);
    expect(r.nPairs).toBe(400);
  });

  it('skips flagged sources and non-positive fluxes; can keep only the astrometric fit pairs', () => {
    const s = stars(200, 2, 0.005, 2);
    for (let i = 0; i < 200; i += 3) {
      s.flags[i] = SourceFlag.SATURATED;
      s.flux[i] *= 0.4;
    }
    s.flux[1] = -5;
    s.refFlux[2] = NaN;
    const input = { pairs: s.pairs, sourceFlux: s.flux, sourceFluxErr: s.fluxErr, sourceFlags: s.flags, refFlux: s.refFlux };
    const r = runPhotometricCalibration(input, makePhotometricCalibrationConfig({ clipIterations: 0 }));
    expect(Math.abs(2.5 * Math.log10(r.calibNjyPerElectron / 2))).toBeLessThan(0.002);
    expect(r.used[0]).toBe(0);
    expect(r.used[1]).toBe(0);
    expect(r.used[2]).toBe(0);
    expect(Number.isNaN(r.starZeroPointMag[1])).toBe(true);
    const usedInFit = new Uint8Array(200);
    usedInFit.fill(1, 100);
    const half = runPhotometricCalibration({ ...input, pairs: { ...s.pairs, usedInFit } }, makePhotometricCalibrationConfig({ onlyAstrometricFit: true }));
    for (let i = 0; i < 100; i++) expect(half.used[i]).toBe(0);
    expect(half.nCandidates).toBeLessThan(r.nCandidates);
    expect(half.zeroPointPerSecondMag).toBeNull();
  });

  it('applies a colour term when configured', () => {
    const s = stars(100, 1, 0.002, 3);
    const color = Float64Array.from({ length: 100 }, (_, i) => 0.2 + (i % 10) * 0.1);
    // Instrumental fluxes that follow reference mag + 0.1 × colour.
    for (let i = 0; i < 100; i++) s.flux[i] *= 10 ** (-0.4 * 0.1 * color[i]);
    const base = { pairs: s.pairs, sourceFlux: s.flux, sourceFluxErr: s.fluxErr, refFlux: s.refFlux, refColorMag: color };
    const off = runPhotometricCalibration(base);
    const on = runPhotometricCalibration(base, makePhotometricCalibrationConfig({ colorTerm: 0.1 }));
    expect(on.scatterMag).toBeLessThan(0.5 * off.scatterMag);
    expect(Math.abs(2.5 * Math.log10(on.calibNjyPerElectron))).toBeLessThan(0.002);
    expect(() => runPhotometricCalibration({ ...base, refColorMag: undefined }, makePhotometricCalibrationConfig({ colorTerm: 0.1 }))).toThrow(InvalidInputError);
  });

  it('fails with AlgorithmError when too few stars are usable, and rejects bad pairs', () => {
    const s = stars(20, 1, 0.01, 4);
    const flags = new Int32Array(20).fill(SourceFlag.EDGE);
    flags.fill(0, 0, 3);
    let err: unknown;
    try {
      runPhotometricCalibration({ pairs: s.pairs, sourceFlux: s.flux, sourceFlags: flags, refFlux: s.refFlux });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AlgorithmError);
    expect((err as Error).message).toMatch(/only 3 usable matched stars \(need 5\)/);
    expect(() => runPhotometricCalibration({ pairs: { source: Int32Array.of(0, 50), ref: Int32Array.of(0, 1) }, sourceFlux: s.flux, refFlux: s.refFlux })).toThrow(
      /pair 1 \(50, 1\) is outside/,
    );
    expect(() => runPhotometricCalibration({ pairs: { source: Int32Array.of(0), ref: Int32Array.of() }, sourceFlux: s.flux, refFlux: s.refFlux })).toThrow(InvalidInputError);
  });

  it('calibrates from astrometric matches with spurious detections', () => {
    const W = 4072;
    const H = 4000;
    const truth = { ...makeTanWcs({ raDeg: 20, decDeg: 5, crpix: [(W - 1) / 2, (H - 1) / 2], pixelScaleArcsec: 0.2 }), sip: null };
    const f = syntheticField({ seed: 5, truth, width: W, height: H, refStars: 2000, detectedFraction: 0.8, spuriousFraction: 0.3, calibNjyPerElectron: 0.8, fluxScatter: 0.01 });
    const a = runAstrometry({ sources: astrometrySources(f.sources), refcat: f.refcat, initialWcs: perturbWcs(truth, -20, 5, 0.2, 1.002), width: W, height: H });
    const r = runPhotometricCalibration({ pairs: a.pairs, sourceFlux: f.sources.apFlux, sourceFluxErr: f.sources.apFluxErr, sourceFlags: f.sources.flags, refFlux: f.refcat.flux });
    expect(Math.abs(2.5 * Math.log10(r.calibNjyPerElectron / 0.8))).toBeLessThan(0.003);
    expect(r.nUsed).toBeGreaterThan(100);
  });
});
