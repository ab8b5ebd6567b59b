import { describe, expect, it } from 'vitest';
import { getInstrument } from '../../instruments/index.ts';
import { pixelToSky, separationArcsec, skyToPixel } from '../../astro/index.ts';
import { detectorToFocalPlane, detectorWcs, observeDetector, offsetWcs } from './observation.ts';

describe('detector WCS', () => {
  const latiss = getInstrument('LATISS');
  const det = latiss.detector(0);

  it('puts +x east and +y north at ROTPA 0, and turns +y to the east at ROTPA 90', () => {
    const w0 = detectorWcs(latiss, det, { raDeg: 10, decDeg: 0, rotationDeg: 0 });
    const s = latiss.pixelScaleArcsec / 3600;
    expect(w0.crvalDeg[0]).toBeCloseTo(10, 9);
    expect(w0.crvalDeg[1]).toBeCloseTo(0, 9);
    expect(w0.cd[0][0]).toBeCloseTo(s, 12);
    expect(w0.cd[1][1]).toBeCloseTo(s, 12);
    expect(Math.abs(w0.cd[0][1])).toBeLessThan(1e-12);
    const w90 = detectorWcs(latiss, det, { raDeg: 10, decDeg: 0, rotationDeg: 90 });
    expect(w90.cd[0][1]).toBeCloseTo(s, 12); // +y → RA increases (east)
    expect(w90.cd[1][0]).toBeCloseTo(-s, 12); // +x → south
  });

  it('places off-axis detectors at their focal-plane distance from the boresight', () => {
    const cam = getInstrument('LSSTCam');
    for (const id of [0, 94, 188, 190]) {
      const d = cam.detector(id);
      for (const rot of [0, 37, 200]) {
        const pointing = { raDeg: 150, decDeg: -45, rotationDeg: rot };
        const wcs = detectorWcs(cam, d, pointing);
        const r = Math.hypot(d.centerArcsec.x, d.centerArcsec.y);
        // gnomonic: angular distance = atan(r)
        const expected = (Math.atan(r / 3600 / (180 / Math.PI)) * 180) / Math.PI * 3600;
        expect(Math.abs(separationArcsec(150, -45, wcs.crvalDeg[0], wcs.crvalDeg[1]) - expected)).toBeLessThan(0.01);
        // a corner of the detector: the WCS and the focal-plane mapping agree (pixel-level)
        const g = d.geometry();
        const [fx, fy] = detectorToFocalPlane(d, cam.pixelScaleArcsec, g.width - 1, 0);
        const rc = Math.hypot(fx, fy);
        const sky = pixelToSky(wcs, g.width - 1, 0);
        const expectedCorner = (Math.atan(rc / 3600 / (180 / Math.PI)) * 180) / Math.PI * 3600;
        expect(Math.abs(separationArcsec(150, -45, sky[0], sky[1]) - expectedCorner)).toBeLessThan(0.05);
      }
    }
  });

  it('offsets a WCS on the sky', () => {
    const w = detectorWcs(latiss, det, { raDeg: 10, decDeg: 20, rotationDeg: 0 });
    const o = offsetWcs(w, 3, 4);
    expect(separationArcsec(w.crvalDeg[0], w.crvalDeg[1], o.crvalDeg[0], o.crvalDeg[1])).toBeCloseTo(5, 3);
  });
});

describe('observeDetector', () => {
  it('gives a realistic sky and star list for an LSSTCam r snap', () => {
    const cam = getInstrument('LSSTCam');
    const det = cam.detector(94);
    const sky = observeDetector({
      instrument: cam,
      detector: det,
      pointing: { raDeg: 53.1, decDeg: -28.1, rotationDeg: 10 },
      band: 'r',
      exposureTimeS: 15,
      seeingFwhmArcsec: 0.8,
      catalog: 1,
      transients: [{ raDeg: 0, decDeg: 0, mag: 20, id: 5 }],
    });
    expect(sky.skyElectronsPerPixel).toBeGreaterThan(380);
    expect(sky.skyElectronsPerPixel).toBeLessThan(500);
    expect(sky.psf.fwhmPx).toBeCloseTo(4, 6);
    const s = sky.sources;
    // ~8 stars/arcmin² on 13.6' x 13.3' (+ margin)
    expect(s.count).toBeGreaterThan(1100);
    expect(s.count).toBeLessThan(2000);
    expect(s.transient.every((t) => t === 0)).toBe(true); // the transient is far away
    const p = new Float64Array(2);
    for (let i = 0; i < s.count; i += 50) {
      skyToPixel(sky.wcs, s.ra[i], s.dec[i], p);
      expect(Math.abs(p[0] - s.x[i])).toBeLessThan(1e-6);
      expect(Math.abs(p[1] - s.y[i])).toBeLessThan(1e-6);
    }
    // r = 24 gives ~830 e- in 15 s
    const i24 = s.mag.findIndex((m) => m > 23.9);
    expect(s.electrons[i24]).toBeGreaterThan(700);
    expect(s.electrons[i24]).toBeLessThan(1000);
  });

  it('rejects bad exposure parameters', () => {
    const cam = getInstrument('LATISS');
    const base = { instrument: cam, detector: cam.detector(0), pointing: { raDeg: 0, decDeg: 0, rotationDeg: 0 }, band: 'r' as const, catalog: 1 };
    expect(() => observeDetector({ ...base, exposureTimeS: -1, seeingFwhmArcsec: 1 })).toThrow(/exposure time/);
    expect(() => observeDetector({ ...base, exposureTimeS: 1, seeingFwhmArcsec: 0 })).toThrow(/seeing/);
  });
});
