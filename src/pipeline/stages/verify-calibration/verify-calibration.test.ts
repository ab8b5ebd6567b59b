import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, InvalidInputError } from '../../../core/errors.ts';
import { MaskBit, type MaskedImage } from '../../../core/image.ts';
import {
  DARK_RATE_E_PER_S,
  DARK_TIME_S,
  FLAT_LEVEL_E,
  N_COMBINED,
  READ_NOISE_E,
  SIZE,
  SYNTHETIC_AMPS,
  syntheticBias,
  syntheticDark,
  syntheticFlat,
  syntheticMasterBias,
  syntheticMasterDark,
  syntheticMasterFlat,
} from './testing.ts';
import {
  findMetric,
  makeVerifyCalibrationConfig,
  runVerifyCalibration,
  type VerifyCalibrationInput,
  type VerifyCalibrationResult,
} from './verify-calibration.ts';

const cfg = makeVerifyCalibrationConfig();

function metric(r: VerifyCalibrationResult, name: string) {
  const m = findMetric(r, name);
  if (!m) throw new Error(`no metric ${name}; have ${r.metrics.map((x) => x.name).join(', ')}`);
  return m;
}

function value(r: VerifyCalibrationResult, name: string): number {
  const v = metric(r, name).value;
  if (v === null) throw new Error(`metric ${name} has no value`);
  return v;
}

const base = { exposureTimeS: 0, darkTimeS: 0 } as const;

describe('verify-calibration: BIAS', () => {
  const master = syntheticMasterBias();

  it('a bias equal to the master passes: residual ≈ 0, noise ≈ expected', () => {
    const r = runVerifyCalibration({ ...base, kind: 'BIAS', exposure: syntheticBias({ seed: 1 }), master }, cfg);
    expect(r.status).toBe('pass');
    expect(r.failed).toEqual([]);
    expect(Math.abs(value(r, 'residualMean'))).toBeLessThan(0.1);
    expect(Math.abs(value(r, 'residualMedian'))).toBeLessThan(0.15);
    // The residual's expected noise includes the master's (N_COMBINED frames).
    const expected = READ_NOISE_E * Math.sqrt(1 + 1 / N_COMBINED);
    expect(value(r, 'expectedResidualNoise')).toBeCloseTo(expected, 1);
    expect(value(r, 'residualNoise') / expected).toBeGreaterThan(0.97);
    expect(value(r, 'residualNoise') / expected).toBeLessThan(1.03);
    expect(value(r, 'noiseRatio')).toBeGreaterThan(0.97);
    expect(value(r, 'noiseRatio')).toBeLessThan(1.03);
    expect(value(r, 'outlierFraction')).toBeLessThan(1e-4);
    expect(value(r, 'residualStructure')).toBeLessThan(0.3);
    expect(metric(r, 'residualMean')).toMatchObject({ unit: 'electron', threshold: 1, pass: true });
    // The exposure's own statistics are there too; its variance plane gives the expected noise.
    expect(value(r, 'exposureNoise')).toBeCloseTo(READ_NOISE_E, 0);
    expect(value(r, 'expectedNoise')).toBeCloseTo(READ_NOISE_E, 0);
    expect(metric(r, 'exposureNoise').pass).toBeNull();
    // No amplifiers given: the 8 x 8 region grid stands in.
    expect(r.segmentSource).toBe('region');
    expect(r.segments).toHaveLength(64);
    expect(r.segments[9].name).toBe('region-1-1');
    expect(r.masterScale).toBe(1);
    expect(r.expectedNoiseSource).toBe('variance-plane');
    // The outlier counts look at every 4th row.
    expect(r.pixelsChecked).toBe((SIZE * SIZE) / 4);
  });

  it('a bias 5 e- above the master fails the residual level, not the noise or the structure', () => {
    const r = runVerifyCalibration({ ...base, kind: 'BIAS', exposure: syntheticBias({ seed: 2, offsetE: 5 }), master }, cfg);
    expect(r.status).toBe('fail');
    expect(value(r, 'residualMean')).toBeCloseTo(5, 0);
    expect(r.failed).toEqual(['residualMean', 'segmentResidualMaxAbs']);
    expect(metric(r, 'noiseRatio').pass).toBe(true);
    expect(metric(r, 'residualStructure').pass).toBe(true);
  });

  it('a bias with a gradient (−2..+2 e- across) fails the structure metric, not the mean level', () => {
    const exposure = syntheticBias({ seed: 3, pattern: (x) => -2 + (4 * x) / SIZE });
    const r = runVerifyCalibration({ ...base, kind: 'BIAS', exposure, master }, cfg);
    expect(r.status).toBe('fail');
    expect(r.failed).toContain('residualStructure');
    expect(value(r, 'residualStructure')).toBeGreaterThan(1);
    expect(metric(r, 'residualMean').pass).toBe(true);
  });

  it('per amplifier: an amp 3 e- off fails the segment metric while the detector mean (0.75 e-) passes', () => {
    const exposure = syntheticBias({ seed: 4, perAmpReadNoise: true, pattern: (x, y) => (x >= SIZE / 2 && y >= SIZE / 2 ? 3 : 0) });
    const r = runVerifyCalibration({ ...base, kind: 'BIAS', exposure, master, amps: SYNTHETIC_AMPS }, cfg);
    expect(r.segmentSource).toBe('amp');
    expect(r.segments.map((s) => s.name)).toEqual(['C00', 'C01', 'C10', 'C11']);
    expect(r.failed).toContain('segmentResidualMaxAbs');
    expect(metric(r, 'residualMean').pass).toBe(true);
    expect(value(r, 'segmentResidualMaxAbs')).toBeCloseTo(3, 0);
    // Each amplifier's noise against its own read noise (plus the master's variance).
    r.segments.forEach((s, a) => {
      const rn = SYNTHETIC_AMPS[a].readNoiseE as number;
      expect(s.expectedNoise).toBeCloseTo(Math.sqrt(rn * rn + (READ_NOISE_E * READ_NOISE_E) / N_COMBINED), 5);
      expect((s.noise as number) / rn).toBeGreaterThan(0.95);
      expect((s.noise as number) / rn).toBeLessThan(1.05);
    });
  });

  it('masked pixels are left out; a summed pair of snaps is compared with twice the master', () => {
    const exposure = syntheticBias({ seed: 5 });
    for (let y = 100; y < 140; y++) {
      for (let x = 200; x < 260; x++) {
        exposure.image[y * SIZE + x] = 1e6;
        exposure.mask[y * SIZE + x] = MaskBit.SAT;
      }
    }
    const offsetMaster = syntheticMasterBias();
    for (let i = 0; i < offsetMaster.image.length; i++) offsetMaster.image[i] += 1.5;
    for (let i = 0; i < exposure.image.length; i++) exposure.image[i] += 3;
    const r = runVerifyCalibration({ ...base, kind: 'BIAS', exposure, master: offsetMaster, snaps: 2, readNoiseE: READ_NOISE_E / Math.SQRT2 }, cfg);
    expect(r.status).toBe('pass');
    // every 4th row from row 2: 10 of the 40 masked rows
    expect(r.pixelsChecked).toBe((SIZE * SIZE) / 4 - 10 * 60);
    expect(r.masterScale).toBe(2);
    expect(Math.abs(value(r, 'residualMean'))).toBeLessThan(0.1);
    expect(value(r, 'noiseRatio')).toBeGreaterThan(0.97);
    expect(value(r, 'noiseRatio')).toBeLessThan(1.03);
    expect(r.expectedNoiseSource).toBe('read-noise');
    expect(value(r, 'expectedNoise')).toBeCloseTo(READ_NOISE_E, 5);
  });
});

describe('verify-calibration: DARK', () => {
  const master = syntheticMasterDark();
  const dark = (exposure: MaskedImage): VerifyCalibrationInput => ({ kind: 'DARK', exposure, master, exposureTimeS: DARK_TIME_S, darkTimeS: DARK_TIME_S });

  it('a dark like the master passes: residual dark current ≈ 0, no new hot pixels', () => {
    // Every row: exact hot-pixel counts.
    const r = runVerifyCalibration(dark(syntheticDark({ seed: 11 })), makeVerifyCalibrationConfig({ outlierRowStride: 1 }));
    expect(r.status).toBe('pass');
    expect(value(r, 'darkCurrent')).toBeCloseTo(DARK_RATE_E_PER_S, 2);
    expect(value(r, 'masterDarkCurrent')).toBeCloseTo(DARK_RATE_E_PER_S, 3);
    expect(Math.abs(value(r, 'residualDarkCurrent'))).toBeLessThan(0.005);
    expect(value(r, 'newHotPixels')).toBe(0);
    // The exposure's own hot pixels (every 997th) are found.
    expect(value(r, 'hotPixels')).toBe(Math.floor((SIZE * SIZE - 14) / 997) + 1);
    expect(r.pixelsChecked).toBe(SIZE * SIZE);
    // Every 4th row (the default): an estimate.
    const quarter = runVerifyCalibration(dark(syntheticDark({ seed: 11 })), cfg);
    expect(value(quarter, 'hotPixels') / value(r, 'hotPixels')).toBeGreaterThan(0.7);
    expect(value(quarter, 'hotPixels') / value(r, 'hotPixels')).toBeLessThan(1.3);
    expect(value(r, 'noiseRatio')).toBeGreaterThan(0.95);
    expect(value(r, 'noiseRatio')).toBeLessThan(1.05);
    expect(r.segmentUnit).toBe('electron/s');
    expect(r.masterScale).toBe(DARK_TIME_S);
  });

  it('a dark with doubled dark current fails the residual dark current (and shows its hot pixels as new)', () => {
    const r = runVerifyCalibration(dark(syntheticDark({ seed: 12, factor: 2 })), cfg);
    expect(r.status).toBe('fail');
    expect(value(r, 'residualDarkCurrent')).toBeCloseTo(DARK_RATE_E_PER_S, 2);
    // 0.25 of the master's 0.5 e-/s is the threshold.
    expect(metric(r, 'residualDarkCurrent')).toMatchObject({ pass: false, unit: 'electron/s' });
    expect(metric(r, 'residualDarkCurrent').threshold).toBeCloseTo(0.125, 3);
    expect(r.failed).toContain('residualDarkCurrent');
    expect(value(r, 'newHotPixels')).toBeGreaterThan(200);
    expect(r.failed).toContain('newHotPixelFraction');
    expect(metric(r, 'residualStructure').pass).toBe(true);
  });
});

describe('verify-calibration: FLAT', () => {
  let master: MaskedImage;
  beforeAll(() => {
    master = syntheticMasterFlat();
  });
  const flat = (exposure: MaskedImage, m: MaskedImage | null = master): VerifyCalibrationInput => ({ kind: 'FLAT', exposure, master: m, exposureTimeS: 5, darkTimeS: 5.4 });

  it('a flat through the master response passes: uniform ratio, photon-limited noise', () => {
    const r = runVerifyCalibration(flat(syntheticFlat({ seed: 21 })), cfg);
    expect(r.status).toBe('pass');
    expect(value(r, 'uniformity')).toBeLessThan(0.001);
    expect(value(r, 'ratioNormalization')).toBeCloseTo(FLAT_LEVEL_E, -2);
    // photon + read noise of the flat, and the master's noise
    const expected = Math.sqrt((FLAT_LEVEL_E + READ_NOISE_E ** 2) / FLAT_LEVEL_E ** 2 + 1 / (N_COMBINED * FLAT_LEVEL_E));
    expect(value(r, 'expectedRatioNoise') / expected).toBeCloseTo(1, 1);
    expect(value(r, 'ratioNoise') / expected).toBeGreaterThan(0.97);
    expect(value(r, 'ratioNoise') / expected).toBeLessThan(1.05);
    expect(value(r, 'noiseRatio')).toBeGreaterThan(0.97);
    expect(value(r, 'noiseRatio')).toBeLessThan(1.03);
    expect(value(r, 'segmentRatioMaxDeviation')).toBeLessThan(0.002);
    expect(value(r, 'flatFlux')).toBeCloseTo(value(r, 'exposureMedian') / 5, 6);
    // Its own structure (vignetting, amplifier steps) is a percent or so.
    expect(value(r, 'exposureStructure')).toBeGreaterThan(0.004);
  });

  it('a flat with a 3% gradient fails uniformity', () => {
    const exposure = syntheticFlat({ seed: 22, pattern: (x) => 0.985 + (0.03 * x) / SIZE });
    const r = runVerifyCalibration(flat(exposure), cfg);
    expect(r.status).toBe('fail');
    expect(r.failed).toContain('uniformity');
    expect(value(r, 'uniformity')).toBeGreaterThan(0.007);
    expect(value(r, 'uniformityPeakToPeak')).toBeGreaterThan(0.02);
    expect(metric(r, 'noiseRatio').pass).toBe(true);
  });
});

describe('verify-calibration: without a master', () => {
  it('reports the exposure’s own level, noise and structure with status no-master', () => {
    const b = runVerifyCalibration({ ...base, kind: 'BIAS', exposure: syntheticBias({ seed: 31, offsetE: 2 }), master: null }, cfg);
    expect(b.status).toBe('no-master');
    expect(b.failed).toEqual([]);
    expect(b.masterScale).toBeNull();
    expect(b.metrics.every((m) => m.pass === null && m.threshold === null)).toBe(true);
    expect(b.metrics.map((m) => m.name)).toEqual([
      'exposureMedian',
      'exposureMean',
      'exposureStdev',
      'exposureNoise',
      'expectedNoise',
      'exposureStructure',
      'exposureOutlierFraction',
    ]);
    expect(value(b, 'exposureMean')).toBeCloseTo(2, 0);
    expect(value(b, 'exposureNoise')).toBeCloseTo(READ_NOISE_E, 0);
    expect(value(b, 'exposureStructure')).toBeLessThan(0.3);
    expect(b.segments[0].mean).toBeCloseTo(2, 0);

    const d = runVerifyCalibration({ kind: 'DARK', exposure: syntheticDark({ seed: 32 }), master: null, exposureTimeS: DARK_TIME_S, darkTimeS: DARK_TIME_S }, cfg);
    expect(d.status).toBe('no-master');
    expect(value(d, 'darkCurrent')).toBeCloseTo(DARK_RATE_E_PER_S, 2);
    expect(value(d, 'hotPixels')).toBeGreaterThan(200);

    const f = runVerifyCalibration({ kind: 'FLAT', exposure: syntheticFlat({ seed: 33 }), master: null, exposureTimeS: 5, darkTimeS: 5 }, cfg);
    expect(f.status).toBe('no-master');
    expect(value(f, 'exposureMedian')).toBeGreaterThan(0.97 * FLAT_LEVEL_E);
    expect(value(f, 'exposureStructure')).toBeGreaterThan(0.004);
    expect(f.segmentUnit).toBe('ratio');
  });
});

describe('verify-calibration: configuration and input checks', () => {
  it('a bad config is a ConfigError naming the field', () => {
    expect(() => makeVerifyCalibrationConfig({ regionsX: 1, regionsY: 2 })).toThrow(ConfigError);
    expect(() => makeVerifyCalibrationConfig({ regionsX: 1, regionsY: 2 })).toThrow(/regionsX/);
    expect(() => makeVerifyCalibrationConfig({ bias: { residualMaxE: -1 } })).toThrow(/bias\.residualMaxE/);
    expect(() => makeVerifyCalibrationConfig({ noiseRatioMax: 0.9 })).toThrow(/noiseRatioMax/);
    const c = makeVerifyCalibrationConfig({ flat: { uniformityMax: 0.01 } });
    expect(c.flat.uniformityMax).toBe(0.01);
    expect(c.dark.residualMaxFraction).toBe(0.25);
    expect(Object.isFrozen(c.flat)).toBe(true);
  });

  it('thresholds come from the config', () => {
    const exposure = syntheticBias({ seed: 41, offsetE: 5 });
    const r = runVerifyCalibration({ ...base, kind: 'BIAS', exposure, master: syntheticMasterBias() }, makeVerifyCalibrationConfig({ bias: { residualMaxE: 10 } }));
    expect(r.status).toBe('pass');
    expect(metric(r, 'residualMean').threshold).toBe(10);
  });

  it('inputs that cannot be verified are InvalidInputErrors', () => {
    const exposure = syntheticBias({ seed: 42 });
    const small = { width: 10, height: 10, image: new Float32Array(100) };
    expect(() => runVerifyCalibration({ ...base, kind: 'BIAS', exposure, master: small }, cfg)).toThrow(InvalidInputError);
    expect(() => runVerifyCalibration({ ...base, kind: 'BIAS', exposure, master: small }, cfg)).toThrow(/master bias is 10x10/);
    expect(() => runVerifyCalibration({ ...base, kind: 'DARK', exposure, master: null }, cfg)).toThrow(/darkTimeS > 0/);
    expect(() =>
      runVerifyCalibration({ ...base, kind: 'BIAS', exposure, master: null, amps: [{ name: 'X', detector: { x0: 0, y0: 0, x1: SIZE + 1, y1: 4 } }] }, cfg),
    ).toThrow(/amp X box/);
    expect(() => runVerifyCalibration({ ...base, kind: 'BIAS', exposure, master: null, snaps: 0 }, cfg)).toThrow(/snaps/);
  });

  it('leaves its inputs untouched', () => {
    const exposure = syntheticBias({ seed: 43 });
    const master = syntheticMasterBias();
    const copies = [exposure.image, exposure.variance, exposure.mask, master.image, master.variance].map((a) => Buffer.from(a.slice().buffer));
    runVerifyCalibration({ ...base, kind: 'BIAS', exposure, master }, cfg);
    const after = [exposure.image, exposure.variance, exposure.mask, master.image, master.variance].map((a) => Buffer.from(a.buffer));
    after.forEach((b, i) => expect(b.equals(copies[i])).toBe(true));
  });
});
