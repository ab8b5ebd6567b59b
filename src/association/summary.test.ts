import { describe, expect, it } from 'vitest';
import type { ApdbRow } from '../apdb/types.ts';
import { meanPosition, psfFluxStats, summarizeDiaObject, weightedMean } from './index.ts';

describe('meanPosition', () => {
  it('weights by inverse variance, RA errors as coordinate errors at any dec', () => {
    const dec = 60;
    const rows: ApdbRow[] = [
      { ra: 10, dec, raErr: 1e-5, decErr: 1e-5 },
      { ra: 10 + 2e-4, dec: dec + 1e-4, raErr: 2e-5, decErr: 3e-5 },
    ];
    const m = meanPosition(rows, 10, dec);
    // Small offsets: the weighted means of the coordinates.
    expect(m.ra).toBeCloseTo(10 + (2e-4 * (1 / 4e-10)) / (1 / 1e-10 + 1 / 4e-10), 9);
    expect(m.dec).toBeCloseTo(dec + (1e-4 * (1 / 9e-10)) / (1 / 1e-10 + 1 / 9e-10), 9);
    expect(m.raErr as number).toBeCloseTo(Math.sqrt(1 / (1 / 1e-10 + 1 / 4e-10)), 10);
    expect(m.decErr as number).toBeCloseTo(Math.sqrt(1 / (1 / 1e-10 + 1 / 9e-10)), 10);
    expect(m.raDecCov).toBeNull();
  });

  it('propagates the covariance and falls back to a plain mean without errors', () => {
    const c = 3e-11;
    const two: ApdbRow[] = [
      { ra: 359.9999, dec: -5, raErr: 1e-5, decErr: 1e-5, ra_dec_Cov: c },
      { ra: 0.0001, dec: -5, raErr: 1e-5, decErr: 1e-5, ra_dec_Cov: c },
    ];
    const m = meanPosition(two, 359.9999, -5);
    expect(m.raDecCov as number).toBeCloseTo(c / 2, 16);
    expect(Math.min(m.ra, 360 - m.ra)).toBeLessThan(1e-9);
    const plain = meanPosition(
      [
        { ra: 20, dec: 1, raErr: null, decErr: null },
        { ra: 20.0002, dec: 1.0004, raErr: NaN, decErr: 1e-5 },
      ],
      20,
      1,
    );
    expect(plain.ra).toBeCloseTo(20.0001, 9);
    expect(plain.dec).toBeCloseTo(1.0002, 9);
    expect(plain.raErr).toBeNull();
    expect(plain.decErr).toBeNull();
  });
});

describe('flux statistics', () => {
  it('ignore unusable measurements', () => {
    const rows: ApdbRow[] = [
      { psfFlux: 10, psfFluxErr: 1, midpointMjdTai: 1 },
      { psfFlux: NaN, psfFluxErr: 1, midpointMjdTai: 2 },
      { psfFlux: 20, psfFluxErr: 0, midpointMjdTai: 3 },
      { psfFlux: null, psfFluxErr: null, midpointMjdTai: 4 },
      { psfFlux: 14, psfFluxErr: 1, midpointMjdTai: 5 },
    ];
    const s = psfFluxStats(rows);
    expect(s.n).toBe(2);
    expect(s.mean).toBe(12);
    expect(s.meanErr).toBeCloseTo(Math.SQRT1_2, 12);
    expect(s.sigma).toBeCloseTo(Math.SQRT2 * 2, 12);
    expect(s.maxSlope).toBeCloseTo(1, 12);
    expect(weightedMean([], 'psfFlux', 'psfFluxErr')).toEqual({ mean: null, meanErr: null, n: 0 });
  });

  it('keep the earliest first detection of the previous version', () => {
    const o = summarizeDiaObject({
      diaObjectId: 3n,
      validityStartMjdTai: 100,
      diaSources: [{ ra: 1, dec: 2, band: 'z', midpointMjdTai: 99, psfFlux: 5, psfFluxErr: 1 }],
      diaForcedSources: [],
      previous: { diaObjectId: 3n, ra: 1, dec: 2, firstDiaSourceMjdTai: 50 },
    });
    expect(o.firstDiaSourceMjdTai).toBe(50);
    expect(o.lastDiaSourceMjdTai).toBe(99);
    expect(o.z_psfFluxNdata).toBe(1);
    expect(o.validityStartMjdTai).toBe(100);
  });
});
