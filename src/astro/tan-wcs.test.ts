import { describe, expect, it } from 'vitest';
import { makeTanWcs, pixelToSky, separationArcsec, skyToPixel, tanWcsFromHeader, tanWcsCards } from './tan-wcs.ts';

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
});
