import { describe, expect, it } from 'vitest';
import { convexPolygon, polygonContains } from '../../astro/spherical-polygon.ts';
import { unitVector } from '../../astro/sphere.ts';
import { pixelToSky } from '../../astro/index.ts';
import { getInstrument, INSTRUMENT_NAMES } from '../../instruments/index.ts';
import { detectorWcs, observeDetector } from '../sim/observation.ts';
import { detectorFootprint, detectorPointingWcs } from './footprint.ts';

describe('detector footprints', () => {
  it("use exactly the simulator's detector WCS (src/astro/footprint.ts reproduces observation.ts)", () => {
    for (const name of INSTRUMENT_NAMES) {
      const inst = getInstrument(name);
      const ids = [inst.detectors[0].id, inst.detectors[inst.detectors.length - 1].id, inst.detectors[Math.floor(inst.detectors.length / 2)].id];
      for (const id of ids) {
        for (const pointing of [
          { raDeg: 53.2, decDeg: -28.1, rotationDeg: 0 },
          { raDeg: 359.95, decDeg: 12, rotationDeg: 137 },
          { raDeg: 200, decDeg: -87.5, rotationDeg: -40 },
        ]) {
          const a = detectorPointingWcs(inst, id, pointing);
          const b = detectorWcs(inst, inst.detector(id), pointing);
          expect(a.crvalDeg[0]).toBe(b.crvalDeg[0]);
          expect(a.crvalDeg[1]).toBe(b.crvalDeg[1]);
          expect(a.crpix).toEqual(b.crpix);
          expect(a.cd).toEqual(b.cd);
        }
      }
    }
  });

  it('contains every star the simulator paints on the detector; padding grows it by the pad', () => {
    const inst = getInstrument('LSSTComCam');
    const pointing = { raDeg: 150.1, decDeg: 2.2, rotationDeg: 25 };
    for (const id of [0, 4, 8]) {
      const corners = detectorFootprint(inst, id, pointing);
      const padded = detectorFootprint(inst, id, pointing, 60);
      const poly = convexPolygon(corners);
      const big = convexPolygon(padded);
      const sky = observeDetector({ instrument: inst, detector: inst.detector(id), pointing, band: 'r', exposureTimeS: 15, seeingFwhmArcsec: 0.8, catalog: 1, marginPx: 0 });
      expect(sky.sources.count).toBeGreaterThan(500);
      for (let i = 0; i < sky.sources.count; i++) {
        const v = unitVector(sky.sources.ra[i], sky.sources.dec[i]);
        expect(polygonContains(poly, v, 1e-12)).toBe(true);
      }
      // the corners are the outer pixel edges; the padded corners are 60" further out along the diagonal
      const g = inst.detector(id).geometry();
      const c0 = pixelToSky(sky.wcs, -0.5, -0.5);
      expect(corners[0][0]).toBeCloseTo(c0[0], 10);
      expect(corners[0][1]).toBeCloseTo(c0[1], 10);
      const p2 = pixelToSky(sky.wcs, g.width - 0.5 + 300, g.height - 0.5 + 300);
      expect(padded[2][0]).toBeCloseTo(p2[0], 10);
      expect(padded[2][1]).toBeCloseTo(p2[1], 10);
      for (const [ra, dec] of corners) expect(polygonContains(big, unitVector(ra, dec))).toBe(true);
    }
  });
});
