import { describe, expect, it } from 'vitest';
import { deprojectUnit, makeTanWcs, pixelToSky, projectUnit, separationArcsec, skyToPixel, tangentFrame, tanWcsFromHeader, tanWcsCards } from './tan-wcs.ts';
import { unitVector } from './sphere.ts';

describe('TAN WCS', () => {
  const wcs = makeTanWcs({ raDeg: 150.1, decDeg: -3.2, crpix: [2036, 2000], pixelScaleArcsec: 0.2, rotationDeg: 30 });

  it('maps the reference pixel to the reference position', () => {
    const [ra, dec] = pixelToSky(wcs, 2036, 2000);
    expect(ra).toBeCloseTo(150.1, 10);
    expect(dec).toBeCloseTo(-3.2, 10);
  });

  it('round-trips pixels through the sky across the detector', () => {
    for (const [x, y] of [[0, 0], [4071, 3999], [100.25, 3000.75], [2036, 0]]) {
      const sky = pixelToSky(wcs, x, y);
      const p = skyToPixel(wcs, sky[0], sky[1]);
      expect(p[0]).toBeCloseTo(x, 6);
      expect(p[1]).toBeCloseTo(y, 6);
    }
  });

  it('keeps the pixel scale', () => {
    const a = pixelToSky(wcs, 1000, 1000);
    const b = pixelToSky(wcs, 1100, 1000);
    expect(separationArcsec(a[0], a[1], b[0], b[1])).toBeCloseTo(20, 3);
  });

  it('puts east to the left by default', () => {
    const a = pixelToSky(wcs, 0, 2000);
    const b = pixelToSky(makeTanWcs({ raDeg: 150.1, decDeg: -3.2, crpix: [2036, 2000], pixelScaleArcsec: 0.2 }), 10, 2000);
    expect(a[0]).toBeGreaterThan(150.1);
    expect(b[0]).toBeGreaterThan(150.1);
  });

  it('reads back what it writes as header cards', () => {
    const cards = new Map(tanWcsCards(wcs).map((c) => [c.key, c.value]));
    const back = tanWcsFromHeader((k) => cards.get(k));
    expect(back).not.toBeNull();
    expect(back?.crpix[0]).toBeCloseTo(2036, 12);
    expect(back?.cd[0][1]).toBeCloseTo(wcs.cd[0][1], 15);
  });

  it('handles RA wrap-around', () => {
    const w = makeTanWcs({ raDeg: 359.99, decDeg: 0, crpix: [0, 0], pixelScaleArcsec: 1 });
    const [ra] = pixelToSky(w, -100, 0);
    expect(ra).toBeGreaterThan(0);
    expect(ra).toBeLessThan(1);
  });

  it('projects and deprojects unit vectors in the tangent frame as skyToPixel and pixelToSky do (to rounding), NaN on the far side', () => {
    for (const [ra0, dec0] of [[150.1, -3.2], [0.05, 89.9], [359.95, -60]] as const) {
      const frame = tangentFrame([ra0, dec0]);
      const id = { crvalDeg: [ra0, dec0] as const, crpix: [0, 0] as const, cd: [[1, 0], [0, 1]] as const };
      for (const [xi, eta] of [[0, 0], [0.3, -0.2], [-1.5, 2.25], [10, 5]]) {
        const u = deprojectUnit(frame, xi, eta, new Float64Array(4), 1);
        expect(Math.hypot(u[1], u[2], u[3])).toBeCloseTo(1, 14);
        const sky = pixelToSky(id, xi, eta);
        const v = unitVector(sky[0], sky[1]);
        for (let k = 0; k < 3; k++) expect(Math.abs(u[k + 1] - v[k])).toBeLessThan(1e-14);
        const back = projectUnit(frame, u[1], u[2], u[3], new Float64Array(2));
        const ref = skyToPixel(id, sky[0], sky[1]);
        expect(Math.abs(back[0] - xi)).toBeLessThan(1e-12);
        expect(Math.abs(back[1] - eta)).toBeLessThan(1e-12);
        expect(Math.abs(back[0] - ref[0])).toBeLessThan(1e-12);
        expect(Math.abs(back[1] - ref[1])).toBeLessThan(1e-12);
      }
      const far = unitVector(ra0 + 180, -dec0);
      const p = projectUnit(frame, far[0], far[1], far[2], new Float64Array(2));
      expect(Number.isNaN(p[0]) && Number.isNaN(p[1])).toBe(true);
    }
  });
});
