import { describe, expect, it } from 'vitest';
import { diaSourceTable } from '../apdb/schema/tables.ts';
import { tableColumns } from '../apdb/schema/types.ts';
import { InvalidInputError } from '../core/errors.ts';
import { makeDiaSourceCatalog, writeDiaSourceCatalog, type DiaSourceCatalog } from '../pipeline/stages/dia-sources/index.ts';
import { DIA_SOURCE_ROW_COLUMNS, diaSourceRowsFromCatalog } from './index.ts';

const VISIT = 2025043000017n;
const DETECTOR = 42;
const CONTEXT = { visit: VISIT, detector: DETECTOR, midpointMjdTai: 60795.25, band: 'r', timeProcessedMjdTai: 60795.2501 };

function catalog(fluxUnit: 'nJy' | 'electron' = 'nJy'): DiaSourceCatalog {
  const c = makeDiaSourceCatalog(3, fluxUnit);
  for (let i = 0; i < 3; i++) {
    c.diaSourceId[i] = 123456789012345678n + BigInt(i);
    c.visit[i] = VISIT;
    c.detector[i] = DETECTOR;
    c.x[i] = 10.5 + i;
    c.y[i] = 20.25 + i;
    c.xErr[i] = 0.1;
    c.yErr[i] = 0.2;
    c.ra[i] = 150 + i * 1e-4;
    c.dec[i] = 2.5;
    c.raErr[i] = 1e-5;
    c.decErr[i] = 2e-5;
    c.ra_dec_Cov[i] = 1e-12;
    c.psfFlux[i] = 1000 * (i + 1);
    c.psfFluxErr[i] = 50;
    c.psfNdata[i] = 49;
    c.bboxSize[i] = 7 + i;
    c.scienceFlux[i] = 5000;
    c.scienceFluxErr[i] = 80;
  }
  c.isDipole[1] = 1;
  c.pixelFlags_edge[2] = 1;
  c.psfFlux_flag[2] = 1;
  c.dipoleMeanFlux[1] = 777;
  return c;
}

describe('diaSourceRowsFromCatalog', () => {
  it('maps every DiaSource column, from the decoded catalog and from its file alike', () => {
    const cat = catalog();
    const rows = diaSourceRowsFromCatalog(cat, CONTEXT);
    const fromFile = diaSourceRowsFromCatalog(writeDiaSourceCatalog(cat, [{ key: 'VISIT', value: Number(VISIT) }]), CONTEXT);
    expect(fromFile).toEqual(rows);
    expect(rows).toHaveLength(3);
    const names = tableColumns(diaSourceTable).map((c) => c.name);
    expect(DIA_SOURCE_ROW_COLUMNS).toEqual(names);
    for (const r of rows) {
      expect(Object.keys(r)).toEqual(names);
      for (const c of tableColumns(diaSourceTable)) if (!c.nullable) expect(r[c.name], c.name).not.toBeNull();
    }
    const r = rows[1];
    expect(r.diaSourceId).toBe(123456789012345679n);
    expect(r.visit).toBe(VISIT);
    expect(r.detector).toBe(DETECTOR);
    expect(r.midpointMjdTai).toBe(60795.25);
    expect(r.band).toBe('r');
    expect(r.timeProcessedMjdTai).toBe(60795.2501);
    expect(r.exposureTime).toBeNull();
    expect(r.diaObjectId).toBeNull();
    expect(r.x).toBe(11.5);
    expect(r.psfFlux).toBe(2000);
    expect(r.psfNdata).toBe(49);
    expect(r.bboxSize).toBe(8);
    expect(r.raErr).toBeCloseTo(1e-5, 12);
    expect(r.isDipole).toBe(true);
    expect(r.dipoleFitAttempted).toBe(true);
    expect(r.dipoleMeanFlux).toBe(777);
    expect(rows[0].isDipole).toBe(false);
    expect(rows[0].dipoleFitAttempted).toBe(false);
    expect(rows[0].dipoleMeanFlux).toBeNull(); // NaN in the catalog
    expect(rows[2].pixelFlags_edge).toBe(true);
    expect(rows[2].psfFlux_flag).toBe(true);
    expect(rows[0].pixelFlags_edge).toBe(false);
    // Documented defaults for what the catalog does not measure.
    expect(r.trailNdata).toBe(0);
    expect(r.dipoleNdata).toBe(0);
    expect(r.pixelFlags).toBe(false);
    expect(r.pixelFlags_injected).toBe(false);
    expect(r.ssObjectId).toBeNull();
    expect(r.reliability).toBeNull();
    expect(r.pixelFlags_streak).toBeNull();
    // Catalog-only columns are dropped.
    expect('templateFlux_flag' in r).toBe(false);
    expect('dipolePosFlux' in r).toBe(false);
    expect(diaSourceRowsFromCatalog(cat, { ...CONTEXT, exposureTime: 30 })[0].exposureTime).toBe(30);
  });

  it('rejects what the APDB cannot store', () => {
    expect(() => diaSourceRowsFromCatalog(catalog('electron'), CONTEXT)).toThrow(InvalidInputError);
    expect(() => diaSourceRowsFromCatalog(catalog(), { ...CONTEXT, detector: 43 })).toThrow(/detector/);
    expect(() => diaSourceRowsFromCatalog(catalog(), { ...CONTEXT, band: 'q' })).toThrow(InvalidInputError);
    const noWcs = catalog();
    noWcs.ra[0] = NaN;
    expect(() => diaSourceRowsFromCatalog(noWcs, CONTEXT)).toThrow(/ra/);
    expect(diaSourceRowsFromCatalog(makeDiaSourceCatalog(0), CONTEXT)).toEqual([]);
  });
});
