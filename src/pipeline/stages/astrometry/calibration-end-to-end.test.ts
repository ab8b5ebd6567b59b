import { beforeAll, describe, expect, it } from 'vitest';
import { htmCoverPolygon, separationArcsec, wcsFootprint } from '../../../astro/index.ts';
import { makeMaskedImage } from '../../../core/image.ts';
import { getInstrument } from '../../../instruments/index.ts';
import { readRefcatShard, refcatShard } from '../../../tester/central/refcat.ts';
import { DEFAULT_CATALOG_SEED, flatFieldPattern, type RawPixels } from '../../../tester/sim/raw.ts';
import { sipPixelToSky } from '../../lib/sip-wcs.ts';
import { readSourceCatalog, writeProcessedExposure, type SourceCatalogFile } from '../../outputs.ts';
import { makeVisitConfig, processDetectorVisit } from '../../process-visit.ts';
import { rawFile, simulateVisit } from '../../testing/sim-raws.ts';
import { runPhotometricCalibration } from '../photometric-calibration/photometric-calibration.ts';
import { astrometrySources, runAstrometry } from './astrometry.ts';
import { mergeReferenceShards, type ReferenceCatalog } from './reference-catalog.ts';

/**
 * End to end: a simulated LSSTComCam visit (two snaps) whose header WCS is 15" off, through the
 * detector-visit pipeline; its source catalog is calibrated against the simulator's reference
 * catalog shards (htm7 trixels covering the footprint).
 */
const INSTRUMENT = 'LSSTComCam';
const DETECTOR = 4;
const GROUP = '2025050100041';
const FILTER = 'r_03';

function flatFile(): Uint8Array {
  const g = getInstrument(INSTRUMENT).detector(DETECTOR).geometry();
  const mi = makeMaskedImage(g.width, g.height);
  mi.image.set(flatFieldPattern(INSTRUMENT, DETECTOR));
  return writeProcessedExposure(mi, {
    instrument: INSTRUMENT,
    detector: DETECTOR,
    detectorName: 'R22_S11',
    group: '2025043000001',
    visit: 2025043000001,
    exposureIds: [2025043000001],
    kind: 'FLAT',
    filter: FILTER,
    band: 'r',
    exposureTimeS: 1,
    darkTimeS: 1,
    mjdObs: null,
    dateObs: null,
    raDeg: null,
    decDeg: null,
    wcs: null,
    bunit: 'electron',
  });
}

describe('astrometric and photometric calibration of a simulated visit', () => {
  let raws: RawPixels[];
  let file: SourceCatalogFile;
  let refcat: ReferenceCatalog;
  let width: number;
  let height: number;
  beforeAll(() => {
    raws = simulateVisit({ instrument: INSTRUMENT, detector: DETECTOR, group: GROUP, filter: FILTER, raDeg: 53.2, decDeg: -28.1, seed: 41, pointingErrorArcsec: 15 }, 2);
    const r = processDetectorVisit({
      raws: raws.map((x) => rawFile(x)),
      expected: { instrument: INSTRUMENT, detector: DETECTOR, group: GROUP, filter: FILTER },
      kind: 'SCIENCE',
      calibs: { flat: flatFile() },
      config: makeVisitConfig({ isr: { calibrate: { flatNormalization: 'none' } } }),
      now: (() => {
        let t = 0;
        return () => (t += 1);
      })(),
    });
    file = readSourceCatalog(r.catalog!);
    const g = getInstrument(INSTRUMENT).detector(DETECTOR).geometry();
    width = g.width;
    height = g.height;
    // Shards over the header footprint grown by 60" (the pointing error is 15").
    const corners = wcsFootprint(file.metadata.wcs!, width, height, 60 / 0.2);
    const ids = htmCoverPolygon(corners, 7);
    refcat = mergeReferenceShards(
      ids.map((id) => readRefcatShard(refcatShard(id, { catalogSeed: DEFAULT_CATALOG_SEED }))),
      file.metadata.band,
    );
  });

  it('fits the WCS to < 0.05" rms and the zero point to 0.02 mag of the simulator', () => {
    const truth = raws[0].truth;
    const header = file.metadata.wcs!;
    expect(separationArcsec(header.crvalDeg[0], header.crvalDeg[1], truth.wcs.crvalDeg[0], truth.wcs.crvalDeg[1])).toBeCloseTo(15, 3);
    expect(file.catalog.length).toBeGreaterThan(500);
    expect(refcat.count).toBeGreaterThan(5000);

    const a = runAstrometry({ sources: astrometrySources(file.catalog), refcat, initialWcs: header, width, height, band: file.metadata.band });
    expect(a.quality).toBe('good');
    expect(a.matches).toBeGreaterThan(300);
    expect(a.rmsArcsec).toBeLessThan(0.05);
    expect(Math.abs(a.shiftArcsec - 15)).toBeLessThan(0.05);
    // Against the WCS the stars were painted with, over the detector.
    let worst = 0;
    const p = new Float64Array(2);
    const q = new Float64Array(2);
    for (let x = 0; x <= width; x += width / 8) {
      for (let y = 0; y <= height; y += height / 8) {
        sipPixelToSky(a.wcs, x, y, p);
        sipPixelToSky({ ...truth.wcs, sip: null }, x, y, q);
        worst = Math.max(worst, separationArcsec(p[0], p[1], q[0], q[1]));
      }
    }
    expect(worst).toBeLessThan(0.02);

    const pc = runPhotometricCalibration({
      pairs: a.pairs,
      sourceFlux: file.catalog.apFlux,
      sourceFluxErr: file.catalog.apFluxErr,
      sourceFlags: file.catalog.flags,
      refFlux: refcat.flux,
      exposureTimeS: file.metadata.exposureTimeS,
    });
    // The simulator's zero point is the magnitude for 1 e-/s: 30 s of exposure.
    expect(file.metadata.exposureTimeS).toBe(30);
    expect(pc.nUsed).toBeGreaterThan(50);
    expect(Math.abs(pc.zeroPointPerSecondMag! - truth.zeroPointMag)).toBeLessThan(0.02);
    expect(Math.abs(pc.zeroPointMag - (truth.zeroPointMag + 2.5 * Math.log10(30)))).toBeLessThan(0.02);
    expect(pc.zeroPointErrMag).toBeLessThan(0.005);
    expect(pc.scatterMag).toBeLessThan(0.03);
  });
});
