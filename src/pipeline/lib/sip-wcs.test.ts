import { describe, expect, it } from 'vitest';
import { makeTanWcs, pixelToSky, separationArcsec, skyToPixel, tangentFrame } from '../../astro/index.ts';
import { unitVector } from '../../astro/sphere.ts';
import { projectTangent, sipDistortion, sipPixelToSky, sipPixelToUnit, sipSkyToPixel, sipTerms, SipTransform, sipUnitToPixel, sipWcsCards, sipWcsFromHeader, type SipWcs } from './sip-wcs.ts';

const tan = makeTanWcs({ raDeg: 359.9, decDeg: -45, crpix: [2035.5, 1999.5], pixelScaleArcsec: 0.2, rotationDeg: 20 });

function distorted(): SipWcs {
  const terms = sipTerms(3);
  const a = new Float64Array(terms.length);
  const b = new Float64Array(terms.length);
  // Radial distortion k r² (u, v) plus a little shear: ~3 px at the corners.
  const k = 1.5e-10;
  terms.forEach(([p, q], i) => {
    if (p === 3 && q === 0) a[i] = k;
    if (p === 1 && q === 2) a[i] = k;
    if (p === 2 && q === 1) b[i] = k;
    if (p === 0 && q === 3) b[i] = k;
    if (p === 2 && q === 0) a[i] = 2e-8;
    if (p === 1 && q === 1) b[i] = -1e-8;
  });
  return { ...tan, sip: { order: 3, a, b } };
}

describe('SIP WCS', () => {
  it('lists the terms 2 ≤ p+q ≤ order', () => {
    expect(sipTerms(0)).toEqual([]);
    expect(sipTerms(2)).toEqual([[2, 0], [1, 1], [0, 2]]);
    expect(sipTerms(3).length).toBe(7);
  });

  it('without distortion equals the TAN WCS both ways, across RA = 0', () => {
    const w: SipWcs = { ...tan, sip: null };
    for (const [x, y] of [[0, 0], [4071, 3999], [100, 3000], [2035.5, 1999.5]]) {
      const s1 = sipPixelToSky(w, x, y);
      const s2 = pixelToSky(tan, x, y);
      expect(separationArcsec(s1[0], s1[1], s2[0], s2[1])).toBeLessThan(1e-9);
      const p = sipSkyToPixel(w, s1[0], s1[1]);
      expect(Math.hypot(p[0] - x, p[1] - y)).toBeLessThan(1e-8);
    }
  });

  it('inverts the distortion by Newton iterations to 1e-8 px', () => {
    const w = distorted();
    const f = sipDistortion(w.sip!, 2000, 2000, new Float64Array(2));
    expect(Math.hypot(f[0], f[1])).toBeGreaterThan(2);
    let worst = 0;
    for (let x = -100; x <= 4200; x += 430) {
      for (let y = -100; y <= 4100; y += 420) {
        const s = sipPixelToSky(w, x, y);
        const p = sipSkyToPixel(w, s[0], s[1]);
        worst = Math.max(worst, Math.hypot(p[0] - x, p[1] - y));
      }
    }
    expect(worst).toBeLessThan(1e-8);
    // The distortion moves positions: differs from the plain TAN away from CRPIX.
    const s = sipPixelToSky(w, 4000, 3900);
    const t = pixelToSky(tan, 4000, 3900);
    expect(separationArcsec(s[0], s[1], t[0], t[1])).toBeGreaterThan(0.2);
  });

  it('writes and reads the SIP cards (A_ORDER, A_p_q, B_p_q; 1-based CRPIX)', () => {
    const w = distorted();
    const cards = sipWcsCards(w);
    const map = new Map(cards.map((c) => [c.key, c.value]));
    expect(map.get('CTYPE1')).toBe('RA---TAN-SIP');
    expect(map.get('A_ORDER')).toBe(3);
    expect(map.get('A_3_0')).toBe(1.5e-10);
    expect(map.get('B_1_1')).toBe(-1e-8);
    expect(map.get('CRPIX1')).toBe(2036.5);
    const back = sipWcsFromHeader((k) => map.get(k));
    expect(back).not.toBeNull();
    expect(back!.crpix).toEqual(w.crpix);
    expect(Array.from(back!.sip!.a)).toEqual(Array.from(w.sip!.a));
    expect(Array.from(back!.sip!.b)).toEqual(Array.from(w.sip!.b));
    const plain = new Map(sipWcsCards({ ...tan, sip: null }).map((c) => [c.key, c.value]));
    expect(plain.get('CTYPE2')).toBe('DEC--TAN');
    expect(plain.has('A_ORDER')).toBe(false);
    expect(sipWcsFromHeader((k) => plain.get(k))!.sip).toBeNull();
    expect(sipWcsFromHeader(() => undefined)).toBeNull();
  });

  it('projects many positions on the tangent plane like skyToPixel with a unit CD', () => {
    const ra = Float64Array.from([359.95, 0.05, 359.9, 180]);
    const dec = Float64Array.from([-45.01, -44.98, -45, 45]);
    const xi = new Float64Array(4);
    const eta = new Float64Array(4);
    projectTangent(ra, dec, 359.9, -45, xi, eta);
    for (let i = 0; i < 3; i++) {
      const p = skyToPixel({ crvalDeg: [359.9, -45], crpix: [0, 0], cd: [[1, 0], [0, 1]] }, ra[i], dec[i]);
      expect(xi[i]).toBeCloseTo(p[0] * 3600, 8);
      expect(eta[i]).toBeCloseTo(p[1] * 3600, 8);
    }
    expect(Number.isNaN(xi[3])).toBe(true);
    const sub = new Float64Array(1);
    projectTangent(ra, dec, 359.9, -45, sub, new Float64Array(1), 3600 * 180 / Math.PI, [1]);
    expect(sub[0]).toBeCloseTo(xi[1], 9);
  });

  it('goes between pixels and unit vectors as sipPixelToSky and sipSkyToPixel do (to rounding), with and without distortion', () => {
    for (const wcs of [distorted(), { ...tan, sip: null }]) {
      const frame = tangentFrame(wcs.crvalDeg);
      for (const [x, y] of [[0, 0], [4071, 3999], [100.25, 3000.75], [2035.5, 1999.5]]) {
        const u = sipPixelToUnit(wcs, frame, x, y, new Float64Array(3));
        const sky = sipPixelToSky(wcs, x, y);
        const v = unitVector(sky[0], sky[1]);
        for (let k = 0; k < 3; k++) expect(Math.abs(u[k] - v[k])).toBeLessThan(1e-14);
        const p = sipUnitToPixel(wcs, frame, u[0], u[1], u[2], new Float64Array(2));
        const q = sipSkyToPixel(wcs, sky[0], sky[1]);
        expect(Math.abs(p[0] - q[0])).toBeLessThan(1e-8);
        expect(Math.abs(p[1] - q[1])).toBeLessThan(1e-8);
        expect(Math.abs(p[0] - x)).toBeLessThan(1e-8);
        expect(Math.abs(p[1] - y)).toBeLessThan(1e-8);
      }
    }
  });

  it('SipTransform gives exactly the values of the functions, for a TAN-SIP and a plain TAN WCS', () => {
    for (const wcs of [distorted(), tan]) {
      const t = new SipTransform(wcs);
      const full: SipWcs = { ...wcs, sip: 'sip' in wcs ? (wcs as SipWcs).sip : null };
      const frame = tangentFrame(wcs.crvalDeg);
      const a = new Float64Array(3);
      const b = new Float64Array(3);
      expect(t.pixelToSky(123.5, 456.25, a.subarray(0, 2))).toEqual(sipPixelToSky(full, 123.5, 456.25, b.subarray(0, 2)));
      expect(t.skyToPixel(359.95, -45.01, a.subarray(0, 2))).toEqual(sipSkyToPixel(full, 359.95, -45.01, b.subarray(0, 2)));
      expect(t.pixelToUnit(123.5, 456.25, a, 0)).toEqual(sipPixelToUnit(full, frame, 123.5, 456.25, b, 0));
      expect(t.unitToPixel(a[0], a[1], a[2], new Float64Array(2))).toEqual(sipUnitToPixel(full, frame, a[0], a[1], a[2], new Float64Array(2)));
    }
  });
});
