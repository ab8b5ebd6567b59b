import { beforeAll, describe, expect, it } from 'vitest';
import { AlgorithmError, InvalidInputError } from '../core/errors.ts';
import { makeMaskedImage } from '../core/image.ts';
import { getInstrument } from '../instruments/index.ts';
import { addMoffat } from '../tester/sim/psf.ts';
import { flatFieldPattern, type RawPixels } from '../tester/sim/raw.ts';
import { adaptiveMoments } from './lib/moments.ts';
import { readProcessedExposure, readSourceCatalog, writeProcessedExposure, type ExposureMetadata } from './outputs.ts';
import { makeVisitConfig, processDetectorVisit, VISIT_STAGES } from './process-visit.ts';
import { SourceFlag, type SourceCatalog } from './source-catalog.ts';
import { rawFile, simulateVisit } from './testing/sim-raws.ts';

/** End-to-end: simulated raws (the tester's simulator, RICE files as uploaded) through the whole detector-visit pipeline. */

const INSTRUMENT = 'LSSTComCam';
const DETECTOR = 4;
const GROUP = '2025050100021';
const FILTER = 'r_03';
const POINTING = { raDeg: 53.2, decDeg: -28.1 };

let clockMs = 0;
/** A deterministic clock: every reading advances 1 ms. */
const fakeNow = () => (clockMs += 1);

function calibFile(kind: ExposureMetadata['kind'], image: Float32Array, bunit = 'electron'): Uint8Array {
  const g = getInstrument(INSTRUMENT).detector(DETECTOR).geometry();
  const mi = makeMaskedImage(g.width, g.height);
  mi.image.set(image);
  const meta: ExposureMetadata = {
    instrument: INSTRUMENT,
    detector: DETECTOR,
    detectorName: 'R22_S11',
    group: '2025043000001',
    visit: 2025043000001,
    exposureIds: [2025043000001],
    kind,
    filter: FILTER,
    band: 'r',
    exposureTimeS: 1,
    darkTimeS: 1,
    mjdObs: null,
    dateObs: null,
    raDeg: null,
    decDeg: null,
    wcs: null,
    bunit,
  };
  return writeProcessedExposure(mi, meta);
}

/**
 * Truth stars of a simulated visit (every snap paints the same stars) matched to catalog
 * sources within 1 px; "bright" = expected PSF S/N > 20 (Gaussian-equivalent area, sky and
 * read noise of all snaps), away from the edges. Ratios: aperture flux / truth for unflagged
 * matches, sorted.
 */
function matchTruth(cat: SourceCatalog, raw: RawPixels, snaps: number) {
  const truth = raw.truth;
  const s = truth.sources;
  const g = getInstrument(truth.instrument).detector(truth.detector).geometry();
  const sigma = truth.psf.fwhmPx / 2.3548;
  const skyVar = snaps * (truth.skyElectronsPerPixel + 7 ** 2);
  const grid = new Map<number, number[]>();
  for (let k = 0; k < cat.length; k++) {
    const key = Math.floor(cat.y[k] / 4) * 2000 + Math.floor(cat.x[k] / 4);
    grid.set(key, [...(grid.get(key) ?? []), k]);
  }
  const nearest = (x: number, y: number): number => {
    let best = -1;
    let bd = 1;
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        for (const k of grid.get((Math.floor(y / 4) + dy) * 2000 + Math.floor(x / 4) + dx) ?? []) {
          const d = (cat.x[k] - x) ** 2 + (cat.y[k] - y) ** 2;
          if (d < bd) {
            bd = d;
            best = k;
          }
        }
      }
    }
    return best;
  };
  let bright = 0;
  let found = 0;
  const ratios: number[] = [];
  for (let i = 0; i < s.count; i++) {
    const x = s.x[i];
    const y = s.y[i];
    if (x < 15 || y < 15 || x > g.width - 15 || y > g.height - 15) continue;
    const f = snaps * s.electrons[i];
    const snr = f / Math.sqrt(f + 4 * Math.PI * sigma * sigma * skyVar);
    if (snr <= 20) continue;
    bright++;
    const k = nearest(x, y);
    if (k < 0) continue;
    found++;
    if (cat.flags[k] === 0) ratios.push(cat.apFlux[k] / f);
  }
  ratios.sort((a, b) => a - b);
  return { bright, found, ratios, nearest };
}

describe('processDetectorVisit', () => {
  let science: RawPixels[];
  let files: Uint8Array[];
  let flat: Uint8Array;
  beforeAll(() => {
    science = simulateVisit({ instrument: INSTRUMENT, detector: DETECTOR, group: GROUP, filter: FILTER, ...POINTING, seed: 21 }, 2);
    files = science.map((r) => rawFile(r));
    flat = calibFile('FLAT', flatFieldPattern(INSTRUMENT, DETECTOR));
  });

  it('SCIENCE: finds ≥ 95% of the simulated stars with S/N > 20 within 1 px, fluxes within 3%', () => {
    const config = makeVisitConfig({ isr: { calibrate: { flatNormalization: 'none' } } });
    const r = processDetectorVisit({
      raws: [files[1], files[0]],
      expected: { instrument: INSTRUMENT, detector: DETECTOR, group: GROUP, filter: FILTER },
      kind: 'SCIENCE',
      calibs: { flat },
      config,
      now: fakeNow,
    });
    // Without reference shards and templates the calibration and difference-imaging stages do not run.
    const ran = ['rawInput', 'calibInput', 'overscan', 'assembly', 'calibrateSignature', 'snapCombine', 'background', 'detection', 'measurement', 'outputs'];
    expect(VISIT_STAGES).toEqual(expect.arrayContaining(ran));
    expect(Object.keys(r.timings)).toEqual(expect.arrayContaining([...ran, 'total']));
    expect(r.summary.diaSkipped).toMatch(/no reference-catalog shard/);
    expect(r.summary.snaps).toBe(2);
    expect(r.summary.flatApplied).toBe(true);
    expect(r.summary.biasApplied).toBe(false);
    expect(r.summary.crPixels).toBeGreaterThan(0);
    const truth = science[0].truth;
    // PSF: the FWHM reported is 2.3548·sqrt of the adaptive second moments (the Gaussian-equivalent
    // width), so compare with that of the simulator's own Moffat, pixel-integrated.
    expect(r.summary.psfMeasured).toBe(true);
    const stamp = new Float32Array(61 * 61);
    addMoffat(stamp, 61, 61, 30.3, 29.8, 1e6, truth.psf.alphaPx);
    const mo = adaptiveMoments(stamp, 61, 61, 30.3, 29.8, 2);
    const expectedFwhm = 2.3548 * Math.sqrt((mo.ixx + mo.iyy) / 2);
    expect(Math.abs(r.summary.psfFwhmPx! / expectedFwhm - 1)).toBeLessThan(0.03);
    expect(r.summary.psfFwhmPx! / truth.psf.fwhmPx).toBeGreaterThan(1);
    // Background: the sky of two snaps (flat-fielded, so the pattern is gone).
    expect(Math.abs(r.summary.backgroundE! / (2 * truth.skyElectronsPerPixel) - 1)).toBeLessThan(0.02);

    const { catalog: cat, metadata, units } = readSourceCatalog(r.catalog!);
    expect(cat.length).toBe(r.summary.sources);
    expect(metadata.visit).toBe(truth.exposureId);
    expect(units.apFlux).toBe('electron');
    const exp = readProcessedExposure(r.exposure);
    expect(exp.masked.width).toBe(4072);
    expect(exp.metadata.exposureIds).toEqual(science.map((s) => s.truth.exposureId));
    expect(exp.metadata.diagnostics?.find((d) => d.key === 'NSOURCE')?.value).toBe(cat.length);

    const { bright, found, ratios, nearest } = matchTruth(cat, science[0], 2);
    const s = truth.sources;
    expect(bright).toBeGreaterThan(100);
    expect(found / bright).toBeGreaterThanOrEqual(0.95);
    const median = ratios[ratios.length >> 1];
    expect(ratios.length).toBeGreaterThan(50);
    expect(Math.abs(median - 1)).toBeLessThan(0.03);
    // Some sources are flagged (saturated stars, cosmic rays under apertures, edges), not all.
    const flagged = Array.from(cat.flags).filter((f) => f & (SourceFlag.SATURATED | SourceFlag.EDGE)).length;
    expect(flagged).toBeLessThan(cat.length / 2);
    // Sky positions come from the header WCS.
    const k0 = nearest(s.x[0], s.y[0]);
    if (k0 >= 0) {
      expect(Math.abs(cat.ra[k0] - s.ra[0]) * 3600 * Math.cos((s.dec[0] * Math.PI) / 180)).toBeLessThan(0.3);
      expect(Math.abs(cat.dec[k0] - s.dec[0]) * 3600).toBeLessThan(0.3);
    }
  });

  it('SCIENCE on DECam (one snap, two amps in one HDU): ≥ 95% of S/N > 20 stars, fluxes within 3%', () => {
    const group = '2025050100031';
    const [raw] = simulateVisit({ instrument: 'DECam', detector: 28, group, filter: 'r', ...POINTING, seed: 8, exposureTimeS: 30 }, 1);
    const decamFlat = writeProcessedExposure(
      { width: 2048, height: 4096, image: flatFieldPattern('DECam', 28), mask: new Int32Array(2048 * 4096), variance: new Float32Array(2048 * 4096) },
      {
        instrument: 'DECam', detector: 28, detectorName: 'S4', group: '2025043000001', visit: 2025043000001, exposureIds: [2025043000001],
        kind: 'FLAT', filter: 'r', band: 'r', exposureTimeS: 1, darkTimeS: 1, mjdObs: null, dateObs: null, raDeg: null, decDeg: null, wcs: null, bunit: 'electron',
      },
    );
    const r = processDetectorVisit({
      raws: [rawFile(raw)],
      expected: { instrument: 'DECam', detector: 28, group, filter: 'r' },
      kind: 'SCIENCE',
      calibs: { flat: decamFlat },
      config: makeVisitConfig({ isr: { calibrate: { flatNormalization: 'none' } } }),
      now: fakeNow,
    });
    const { catalog } = readSourceCatalog(r.catalog!);
    const m = matchTruth(catalog, raw, 1);
    expect(m.bright).toBeGreaterThan(50);
    expect(m.found / m.bright).toBeGreaterThanOrEqual(0.95);
    expect(Math.abs(m.ratios[m.ratios.length >> 1] - 1)).toBeLessThan(0.03);
    expect(r.summary.psfMeasured).toBe(true);
  });

  it('BIAS: ISR and combine only, with image statistics in the summary', () => {
    const bias = simulateVisit({ instrument: INSTRUMENT, detector: DETECTOR, group: '2025050100022', filter: FILTER, ...POINTING, seed: 5, kind: 'BIAS' }, 2);
    const r = processDetectorVisit({
      raws: bias.map((b) => rawFile(b)),
      expected: { instrument: INSTRUMENT, detector: DETECTOR, group: '2025050100022', filter: FILTER },
      kind: 'BIAS',
      calibs: { flat },
      now: fakeNow,
    });
    expect(r.catalog).toBeNull();
    expect(r.summary.sources).toBeNull();
    expect(r.summary.flatApplied).toBe(false);
    // Overscan-corrected bias: ~0 electrons; noise of two snaps' read noise (5.5..7.5 e each).
    expect(Math.abs(r.summary.imageStats.mean)).toBeLessThan(0.5);
    expect(r.summary.imageStats.stdev).toBeGreaterThan(5.5 * Math.SQRT2 * 0.95);
    expect(r.summary.imageStats.stdev).toBeLessThan(7.5 * Math.SQRT2 * 1.05);
    expect(r.summary.overscanNoiseAdu).toBeGreaterThan(2);
    expect(r.timings.detection).toBeUndefined();
    const exp = readProcessedExposure(r.exposure);
    expect(exp.metadata.kind).toBe('BIAS');
    expect(exp.metadata.diagnostics?.find((d) => d.key === 'STATSTD')).toBeDefined();
  });

  it('classifies failures: bad raws and calibrations are InvalidInputError, algorithm failures AlgorithmError', () => {
    const expected = { instrument: INSTRUMENT, detector: DETECTOR, group: GROUP, filter: FILTER } as const;
    const run = (over: Partial<Parameters<typeof processDetectorVisit>[0]>) =>
      processDetectorVisit({ raws: files, expected, kind: 'SCIENCE', now: fakeNow, ...over });
    const fails = (over: Partial<Parameters<typeof processDetectorVisit>[0]>, cls: typeof InvalidInputError | typeof AlgorithmError, re: RegExp) => {
      let err: unknown;
      try {
        run(over);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(cls);
      expect((err as Error).message).toMatch(re);
      return err;
    };
    fails({ expected: { ...expected, detector: 5 } }, InvalidInputError, /keyword DETECTOR is 4, but the object key says detector 5/);
    fails({ raws: [files[0], files[0]] }, InvalidInputError, /two raws are snap 0/);
    fails({ kind: 'FLAT' }, InvalidInputError, /OBSTYPE SCIENCE, but the visit is FLAT/);
    fails({ raws: [files[0], files[1], files[0]] }, InvalidInputError, /takes 2 snap\(s\) per visit, got 3/);
    fails({ raws: [files[0].subarray(0, 5000)] }, InvalidInputError, /not a readable FITS file|raw snap file 0/);
    fails({ calibs: { flat: calibFile('FLAT', new Float32Array(4072 * 4000)).subarray(0, 100) } }, InvalidInputError, /master flat/);
    fails({ calibs: { flat: calibFile('FLAT', new Float32Array(4072 * 4000)) } }, InvalidInputError, /master flat has no positive finite pixels/);
    const err = fails({ config: makeVisitConfig({ detection: { maxFootprints: 10 } }) }, AlgorithmError, /footprints exceed the limit of 10/);
    expect((err as AlgorithmError).metadata.footprints).toBeGreaterThan(10);
  });

  it('processes a single snap (the other did not arrive) and a DARK with a master bias', () => {
    const r = processDetectorVisit({
      raws: [files[1]],
      expected: { instrument: INSTRUMENT, detector: DETECTOR, group: GROUP, filter: FILTER },
      kind: 'SCIENCE',
      now: fakeNow,
    });
    expect(r.summary.snaps).toBe(1);
    // One snap: cosmic rays are found by their sharpness instead of by comparing snaps.
    expect(r.summary.crPixels).toBeGreaterThan(0);
    expect(r.timings.cosmicRays).toBeGreaterThan(0);
    expect(r.summary.visit).toBe(science[0].truth.exposureId);
    expect(r.summary.sources).toBeGreaterThan(100);
    const dark = simulateVisit({ instrument: INSTRUMENT, detector: DETECTOR, group: '2025050100023', filter: FILTER, ...POINTING, seed: 6, kind: 'DARK' }, 2);
    const biasLevel = new Float32Array(4072 * 4000).fill(3);
    const d = processDetectorVisit({
      raws: dark.map((x) => rawFile(x)),
      expected: { instrument: INSTRUMENT, detector: DETECTOR, group: '2025050100023', filter: FILTER },
      kind: 'DARK',
      calibs: { bias: calibFile('BIAS', biasLevel), flat },
      now: fakeNow,
    });
    expect(d.summary.biasApplied).toBe(true);
    expect(d.summary.flatApplied).toBe(false);
    // Two snaps, each minus 3 e of "bias".
    expect(d.summary.imageStats.median).toBeLessThan(-4);
  });
});
