import { describe, expect, it } from 'vitest';
import {
  BANDS,
  CELL_COUNT,
  cellInfo,
  cellOf,
  cellsInRegion,
  DEFAULT_DENSITY_PER_ARCMIN2,
  magToNjy,
  starsInRegion,
  starsNear,
  type StarCatalog,
} from './sky-catalog.ts';

function byId(c: StarCatalog): Map<number, number> {
  const m = new Map<number, number>();
  for (let i = 0; i < c.count; i++) m.set(c.ids[i], i);
  return m;
}

describe('sky catalog', () => {
  it('has a consistent cell layout', () => {
    expect(CELL_COUNT).toBeGreaterThan(600_000);
    expect(CELL_COUNT).toBeLessThan(2 ** 20);
    let area = 0;
    for (let id = 0; id < CELL_COUNT; id += 997) area += cellInfo(id).areaArcmin2;
    // mean cell area ~ (0.25 deg)^2 = 225 arcmin^2
    const mean = area / Math.ceil(CELL_COUNT / 997);
    expect(mean).toBeGreaterThan(200);
    expect(mean).toBeLessThan(250);
    for (const [ra, dec] of [[0, 0], [359.999, -89.99], [123.4, 56.7], [200, 89.99]]) {
      const c = cellInfo(cellOf(ra, dec));
      expect(dec).toBeGreaterThanOrEqual(c.decMinDeg);
      expect(dec).toBeLessThanOrEqual(c.decMaxDeg);
      expect(ra).toBeGreaterThanOrEqual(c.raMinDeg);
      expect(ra).toBeLessThanOrEqual(c.raMaxDeg);
    }
  });

  it('returns the same stars with the same ids from overlapping queries of different shapes', () => {
    const seed = 12345;
    const a = starsInRegion(seed, { raMinDeg: 150.0, raMaxDeg: 150.4, decMinDeg: 2.0, decMaxDeg: 2.3 });
    const b = starsInRegion(seed, { raMinDeg: 150.2, raMaxDeg: 150.7, decMinDeg: 1.9, decMaxDeg: 2.2 });
    const c = starsNear(seed, 150.3, 2.1, 0.08);
    const ia = byId(a);
    const ib = byId(b);
    let common = 0;
    for (const [id, i] of ia) {
      const j = ib.get(id);
      const inB = a.ra[i] >= 150.2 && a.ra[i] <= 150.7 && a.dec[i] >= 1.9 && a.dec[i] <= 2.2;
      expect(j !== undefined).toBe(inB);
      if (j === undefined) continue;
      common++;
      expect(b.ra[j]).toBe(a.ra[i]);
      expect(b.dec[j]).toBe(a.dec[i]);
      for (const band of BANDS) expect(b.mags[band][j]).toBe(a.mags[band][i]);
    }
    expect(common).toBeGreaterThan(500);
    for (let k = 0; k < c.count; k++) {
      const i = ia.get(c.ids[k]);
      expect(i).toBeDefined();
      expect(a.ra[i as number]).toBe(c.ra[k]);
    }
    // a different seed is a different sky
    const d = starsInRegion(54321, { raMinDeg: 150.0, raMaxDeg: 150.4, decMinDeg: 2.0, decMaxDeg: 2.3 });
    expect(d.ra[0]).not.toBe(a.ra[0]);
  });

  it('is the same with a magnitude cut, and wraps through RA 0', () => {
    const seed = 'night-1';
    const all = starsInRegion(seed, { raMinDeg: 359.8, raMaxDeg: 0.2, decMinDeg: -30.1, decMaxDeg: -29.9 });
    const bright = starsInRegion(seed, { raMinDeg: -0.2, raMaxDeg: 0.2, decMinDeg: -30.1, decMaxDeg: -29.9 }, { maxMag: 20 });
    const ia = byId(all);
    let expected = 0;
    for (let i = 0; i < all.count; i++) if (all.mags.r[i] < 20) expected++;
    expect(bright.count).toBe(expected);
    for (let k = 0; k < bright.count; k++) {
      const i = ia.get(bright.ids[k]) as number;
      expect(all.ra[i]).toBe(bright.ra[k]);
      expect(bright.mags.r[k]).toBeLessThan(20);
    }
    let wrapped = 0;
    for (let i = 0; i < all.count; i++) if (all.ra[i] > 359) wrapped++;
    expect(wrapped).toBeGreaterThan(0);
    expect(wrapped).toBeLessThan(all.count);
    // a cut in another band
    const iCut = starsInRegion(seed, { raMinDeg: -0.2, raMaxDeg: 0.2, decMinDeg: -30.1, decMaxDeg: -29.9 }, { maxMag: 19, band: 'i' });
    let expI = 0;
    for (let i = 0; i < all.count; i++) if (all.mags.i[i] < 19) expI++;
    expect(iCut.count).toBe(expI);
  });

  it('has realistic density, number counts and colours', () => {
    // one square degree at dec -20
    const cat = starsInRegion(7, { raMinDeg: 30, raMaxDeg: 30 + 1 / Math.cos((20 * Math.PI) / 180), decMinDeg: -20.5, decMaxDeg: -19.5 });
    const density = cat.count / 3600;
    expect(density).toBeGreaterThan(0.9 * DEFAULT_DENSITY_PER_ARCMIN2);
    expect(density).toBeLessThan(1.1 * DEFAULT_DENSITY_PER_ARCMIN2);
    const hist = new Float64Array(10);
    for (let i = 0; i < cat.count; i++) hist[Math.floor(cat.mags.r[i] - 14)]++;
    // log N grows by ~0.3 per magnitude
    const slope = (Math.log10(hist[9]) - Math.log10(hist[5])) / 4;
    expect(slope).toBeGreaterThan(0.25);
    expect(slope).toBeLessThan(0.35);
    let gr = 0;
    let ri = 0;
    let redder = 0;
    for (let i = 0; i < cat.count; i++) {
      gr += cat.mags.g[i] - cat.mags.r[i];
      ri += cat.mags.r[i] - cat.mags.i[i];
      if (cat.mags.u[i] > cat.mags.g[i] && cat.mags.i[i] >= cat.mags.z[i] - 0.1) redder++;
      expect(cat.mags.r[i]).toBeGreaterThanOrEqual(14);
      expect(cat.mags.r[i]).toBeLessThan(24);
    }
    expect(gr / cat.count).toBeGreaterThan(0.5);
    expect(gr / cat.count).toBeLessThan(1.2);
    expect(ri / cat.count).toBeGreaterThan(0.1);
    expect(ri / cat.count).toBeLessThan(1.0);
    expect(redder / cat.count).toBeGreaterThan(0.95);
    expect(Number.isSafeInteger(cat.ids[cat.count - 1])).toBe(true);
    expect(new Set(cat.ids).size).toBe(cat.count);
  });

  it('starsNear keeps exactly the stars within the radius, also at the pole', () => {
    const c = starsNear(3, 10, 89.95, 0.1, { maxMag: 22 });
    expect(c.count).toBeGreaterThan(10);
    const box = starsInRegion(3, { raMinDeg: 0, raMaxDeg: 360, decMinDeg: 89.85, decMaxDeg: 90 }, { maxMag: 22 });
    const ids = byId(c);
    for (let i = 0; i < box.count; i++) {
      const d1 = (box.dec[i] * Math.PI) / 180;
      const d0 = (89.95 * Math.PI) / 180;
      const cosSep = Math.sin(d0) * Math.sin(d1) + Math.cos(d0) * Math.cos(d1) * Math.cos(((box.ra[i] - 10) * Math.PI) / 180);
      expect(ids.has(box.ids[i])).toBe(cosSep >= Math.cos((0.1 * Math.PI) / 180));
    }
  });

  it('rejects bad regions and lists cells', () => {
    expect(() => starsInRegion(1, { raMinDeg: 0, raMaxDeg: 1, decMinDeg: 2, decMaxDeg: 1 })).toThrow(/decMaxDeg/);
    expect(() => starsInRegion(1, { raMinDeg: NaN, raMaxDeg: 1, decMinDeg: 0, decMaxDeg: 1 })).toThrow(/raMinDeg/);
    expect(() => starsNear(1, 0, 0, -1)).toThrow(/radius/);
    expect(cellsInRegion({ raMinDeg: 10, raMaxDeg: 10.1, decMinDeg: 0.01, decMaxDeg: 0.02 })).toHaveLength(1);
    expect(magToNjy(31.4)).toBeCloseTo(1, 12);
  });
});
