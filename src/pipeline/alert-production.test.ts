import { beforeAll, describe, expect, it } from 'vitest';
import { getInstrument } from '../instruments/index.ts';
import { masterBias, masterDark, masterFlat } from '../tester/central/masters.ts';
import type { RawPixels } from '../tester/sim/raw.ts';
import { readProcessedExposure, readSourceCatalog } from './outputs.ts';
import { readDiaCutouts, readDiaSourceCatalog } from './stages/dia-sources/index.ts';
import { processDetectorVisit, type ProcessVisitResult } from './process-visit.ts';
import { simulatedCalibrationInputs } from './testing/sim-inputs.ts';
import { rawFile, simulateVisit } from './testing/sim-raws.ts';

/**
 * A simulated LSSTComCam visit (two snaps, header WCS 10" off) through the whole SCIENCE
 * pipeline with the reference shards and template patches the activator would preload.
 */
const INSTRUMENT = 'LSSTComCam';
const DETECTOR = 4;
const GROUP = '2025050100041';
const FILTER = 'r_03';
const POINTING = { raDeg: 53.2, decDeg: -28.1 };

let t = 0;
const now = (): number => (t += 1);

describe('alert production on a simulated visit', () => {
  let raws: RawPixels[];
  let r: ProcessVisitResult;
  beforeAll(() => {
    raws = simulateVisit({ instrument: INSTRUMENT, detector: DETECTOR, group: GROUP, filter: FILTER, ...POINTING, seed: 7, pointingErrorArcsec: 10 }, 2);
    const inputs = simulatedCalibrationInputs({ instrument: INSTRUMENT, detector: DETECTOR, ...POINTING, band: 'r' });
    r = processDetectorVisit({
      raws: raws.map((x) => rawFile(x)),
      expected: { instrument: INSTRUMENT, detector: DETECTOR, group: GROUP, filter: FILTER },
      kind: 'SCIENCE',
      calibs: { bias: masterBias(INSTRUMENT, DETECTOR), dark: masterDark(INSTRUMENT, DETECTOR), flat: masterFlat(INSTRUMENT, DETECTOR, FILTER) },
      refcatShards: inputs.refcatShards,
      templates: inputs.templates,
      now,
    });
  }, 120_000);

  it('fits the WCS and the zero point against the reference catalog', () => {
    const s = r.summary;
    expect(s.diaSkipped).toBeNull();
    expect(s.astrometryMatches).toBeGreaterThan(100);
    expect(s.astrometryRmsArcsec).toBeLessThan(0.05);
    // The simulator's zero point is for 1 e-/s; the exposure adds 2.5 log10(EXPTIME).
    const expected = raws[0].truth.zeroPointMag + 2.5 * Math.log10(s.exposureTimeS);
    expect(Math.abs((s.zeroPointMag as number) - expected)).toBeLessThan(0.01);
    const cat = readSourceCatalog(r.catalog as Uint8Array);
    const w = cat.metadata.wcs as { sip: unknown };
    expect(w).not.toBeNull();
    expect(cat.metadata.diagnostics?.find((d) => d.key === 'MAGZERO')).toBeDefined();
  });

  it('subtracts the template to a difference consistent with its variance', () => {
    const s = r.summary;
    expect(s.templateCoverage).toBeGreaterThan(0.99);
    expect(s.kernelStars).toBeGreaterThanOrEqual(10);
    expect(Math.abs((s.kernelSum as number) - 1)).toBeLessThan(0.03);
    expect(s.differenceNormalizedStd).toBeGreaterThan(0.8);
    expect(s.differenceNormalizedStd).toBeLessThan(1.3);
    const d = readProcessedExposure(r.difference as Uint8Array, 'difference');
    const g = getInstrument(INSTRUMENT).detector(DETECTOR).geometry();
    expect(d.masked.width).toBe(g.width);
    expect(d.metadata.diagnostics?.find((c) => c.key === 'KERNSUM')).toBeDefined();
    for (const k of ['astrometry', 'photometricCalibration', 'templateWarp', 'psfMatching', 'subtraction']) expect(r.timings[k]).toBeGreaterThan(0);
  });

  it('finds few DiaSources on a sky with no transient, and cuts a stamp for each', () => {
    const f = readDiaSourceCatalog(r.diaSources as Uint8Array);
    expect(f.metadata?.visit).toBe(r.summary.visit);
    expect(f.catalog.fluxUnit).toBe('nJy');
    // A static sky: at most a few 5-sigma DiaSources (bright-star wings are held by the template error floor).
    expect(f.catalog.length).toBeLessThanOrEqual(5);
    expect(r.summary.diaNoiseScale).toBeGreaterThan(0.8);
    const c = readDiaCutouts(r.cutouts as Uint8Array);
    expect(c.stamps.count).toBe(f.catalog.length);
  });

  it('says why difference imaging was skipped when no template covers the detector', () => {
    const inputs = simulatedCalibrationInputs({ instrument: INSTRUMENT, detector: DETECTOR, ...POINTING, band: 'r', templates: false });
    const q = processDetectorVisit({
      raws: raws.map((x) => rawFile(x)),
      expected: { instrument: INSTRUMENT, detector: DETECTOR, group: GROUP, filter: FILTER },
      kind: 'SCIENCE',
      refcatShards: inputs.refcatShards,
      now,
    });
    expect(q.difference).toBeNull();
    expect(q.summary.diaSkipped).toMatch(/no template/);
    expect(q.summary.astrometryRmsArcsec).toBeLessThan(0.05);
  }, 60_000);
});

describe('alert production on a single-snap LATISS visit (0.1"/px, wide PSF)', () => {
  it('rejects cosmic rays by sharpness, matches the PSFs and finds at most a few DiaSources on a static sky', () => {
    const I = 'LATISS';
    const G = '2025050100041';
    const F = 'SDSSr_65mm';
    const raws = simulateVisit({ instrument: I, detector: 0, group: G, filter: F, ...POINTING, seed: 7 }, 1);
    const inputs = simulatedCalibrationInputs({ instrument: I, detector: 0, ...POINTING, band: 'r' });
    const q = processDetectorVisit({
      raws: raws.map((x) => rawFile(x)),
      expected: { instrument: I, detector: 0, group: G, filter: F },
      kind: 'SCIENCE',
      calibs: { bias: masterBias(I, 0), dark: masterDark(I, 0), flat: masterFlat(I, 0, F) },
      refcatShards: inputs.refcatShards,
      templates: inputs.templates,
      now,
    });
    const s = q.summary;
    expect(s.snaps).toBe(1);
    expect(s.crPixels).toBeGreaterThan(0);
    expect(s.diaSkipped).toBeNull();
    expect(s.kernelStars).toBeGreaterThanOrEqual(10);
    expect(Math.abs((s.kernelSum as number) - 1)).toBeLessThan(0.1);
    expect(s.diaSources).toBeLessThanOrEqual(5);
  }, 120_000);
});
