import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../core/errors.ts';
import { writeFits, type TableColumnInput } from '../../../fits/index.ts';
import { astropyPython, makeTempDir, runPython, skipNotice } from '../../../fits/oracle-helpers.ts';
import { DIA_SOURCE_COLUMNS, makeDiaSourceCatalog, readDiaSourceCatalog, writeDiaSourceCatalog, type DiaSourceCatalog } from './dia-source-catalog.ts';
import { diaSourceIdBase, MAX_DAY_INDEX, packDiaSourceId, unpackDiaSourceId } from './dia-source-id.ts';
import { runDiaSources } from './dia-sources.ts';
import { addStar, DETECTOR, differenceOf, fluxForSnr, makeScene, PSF_SIGMA_MOMENT, sceneWcs, VISIT } from './testing/synthetic-difference.ts';

const HEADER = [
  { key: 'INSTRUME', value: 'LSSTComCam' },
  { key: 'VISIT', value: VISIT },
  { key: 'DETECTOR', value: DETECTOR },
];

/** A measured catalog: positives, negatives and a dipole, calibrated or not. */
function measuredCatalog(calib: number | null): DiaSourceCatalog {
  const scene = makeScene(192, 192, 11);
  const F = fluxForSnr(40, 12);
  addStar(scene.science, 50.2, 60.7, F);
  addStar(scene.template, 140.6, 40.1, F);
  addStar(scene.science, 100 + 2, 150.3, F);
  addStar(scene.template, 100 - 2, 150.3, F);
  addStar(scene.science, 5.3, 120.2, F); // at the edge
  const r = runDiaSources({
    difference: differenceOf(scene, 4),
    science: scene.science,
    template: scene.template,
    psfSigmaPx: PSF_SIGMA_MOMENT,
    calibNjyPerElectron: calib,
    wcs: sceneWcs(192, 192),
    visit: VISIT,
    detector: DETECTOR,
  });
  expect(r.catalog.length).toBe(4);
  expect(r.dipoles).toBe(1);
  return r.catalog;
}

function expectSameCatalog(a: DiaSourceCatalog, b: DiaSourceCatalog): void {
  expect(b.length).toBe(a.length);
  expect(b.fluxUnit).toBe(a.fluxUnit);
  for (const c of DIA_SOURCE_COLUMNS) expect(Array.from(b[c.name] as ArrayLike<number | bigint>), c.name).toEqual(Array.from(a[c.name] as ArrayLike<number | bigint>));
}

describe('diaSourceId', () => {
  it('packs visit, detector and row into an exact int64 below 2^63 and back', () => {
    const id = packDiaSourceId(VISIT, DETECTOR, 7);
    // 2025-04-30 is day 9251 from 2000-01-01: <dayIndex><seq:5><detector:3><row:6>.
    expect(id).toBe(9251_00001_042_000007n);
    expect(unpackDiaSourceId(id)).toEqual({ visit: VISIT, detector: DETECTOR, row: 7 });
    expect(diaSourceIdBase(VISIT, DETECTOR) + 7n).toBe(id);
    // The last day the scheme holds, with every field at its maximum.
    const last = 2252_07_10_99999;
    const max = packDiaSourceId(last, 999, 999_999);
    expect(max).toBeLessThan(2n ** 63n);
    expect(BigInt.asIntN(64, max)).toBe(max);
    expect(unpackDiaSourceId(max)).toEqual({ visit: last, detector: 999, row: 999_999 });
    expect(unpackDiaSourceId(max - 1n).row).toBe(999_998);
    expect(Number(max / 10n ** 9n) / 100_000).toBeLessThan(MAX_DAY_INDEX + 1);
    // Distinct across visits, detectors and rows, and ordered by (day, seq, detector, row).
    expect(packDiaSourceId(VISIT + 1, 0, 0)).toBeGreaterThan(packDiaSourceId(VISIT, 999, 999_999));
    expect(packDiaSourceId(2025050100001, 0, 0)).toBeGreaterThan(packDiaSourceId(2025043099999, 999, 999_999));
    for (const bad of [() => packDiaSourceId(2252_07_11_00000, 0, 0), () => packDiaSourceId(2025023000001, 0, 0), () => packDiaSourceId(1999123100001, 0, 0)]) {
      expect(bad).toThrow(InvalidInputError);
    }
    expect(() => packDiaSourceId(VISIT, 1000, 0)).toThrow(/detector 1000/);
    expect(() => packDiaSourceId(VISIT, 0, 1_000_000)).toThrow(/row 1000000/);
    expect(() => packDiaSourceId(42, 0, 0)).toThrow(InvalidInputError);
  });
});

describe('DiaSource catalog file', () => {
  it('round-trips every column exactly, with units and the flux unit', () => {
    for (const calib of [0.25, null]) {
      const cat = measuredCatalog(calib);
      const bytes = writeDiaSourceCatalog(cat, HEADER);
      const back = readDiaSourceCatalog(bytes);
      expectSameCatalog(cat, back.catalog);
      const unit = calib === null ? 'electron' : 'nJy';
      expect(back.units.psfFlux).toBe(unit);
      expect(back.units.dipoleMeanFlux).toBe(unit);
      expect(back.units.x).toBe('pix');
      expect(back.units.ra).toBe('deg');
      expect(back.primaryHeader.get('VISIT')).toBe(VISIT);
      // Flags really are logical columns, and the ids are exact above 2^53.
      expect(cat.diaSourceId[0]).toBeGreaterThan(2n ** 53n);
      expect(back.catalog.isDipole.reduce((a, v) => a + v, 0)).toBe(1);
      expect(back.catalog.pixelFlags_edge.reduce((a, v) => a + v, 0)).toBe(1);
    }
    const empty = readDiaSourceCatalog(writeDiaSourceCatalog(makeDiaSourceCatalog(0), HEADER)).catalog;
    expect(empty.length).toBe(0);
    expect(empty.fluxUnit).toBe('nJy');
  });

  it('uses the alert schema names and gives every column a unique name', () => {
    const names = DIA_SOURCE_COLUMNS.map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
    const cat = makeDiaSourceCatalog(3);
    expect(Object.keys(cat).sort()).toEqual(['fluxUnit', 'length', ...names].sort());
    for (const n of ['diaSourceId', 'psfFlux', 'psfFluxErr', 'apFlux', 'scienceFlux', 'templateFlux', 'isDipole', 'isNegative', 'pixelFlags_edge', 'centroid_flag', 'shape_flag']) {
      expect(names).toContain(n);
    }
    expect(Number.isNaN(cat.psfFlux[0])).toBe(true);
  });

  it('rejects files with a missing or wrongly-typed column, naming it', () => {
    const cat = measuredCatalog(1);
    const columnsWith = (f: (c: TableColumnInput) => TableColumnInput | null): Uint8Array => {
      const cols = DIA_SOURCE_COLUMNS.map((c) => f({ name: c.name, format: c.format, data: cat[c.name] })).filter((c): c is TableColumnInput => c !== null);
      return writeFits({ header: HEADER }, [{ kind: 'table', extname: 'DIASOURCES', header: [{ key: 'FLUXUNIT', value: 'nJy' }], columns: cols }]);
    };
    expect(() => readDiaSourceCatalog(columnsWith((c) => (c.name === 'psfFlux' ? null : c)))).toThrow(/column psfFlux is missing/);
    expect(() => readDiaSourceCatalog(columnsWith((c) => (c.name === 'scienceFluxErr' ? { ...c, format: 'D', data: Float64Array.from(cat.scienceFluxErr) } : c)))).toThrow(
      /column scienceFluxErr has TFORM 'D', expected 'E'/,
    );
    expect(() => readDiaSourceCatalog(columnsWith((c) => (c.name === 'diaSourceId' ? { ...c, format: 'D', data: new Float64Array(cat.length) } : c)))).toThrow(/column diaSourceId/);
    expect(() => readDiaSourceCatalog(columnsWith((c) => (c.name === 'isDipole' ? { ...c, format: 'J', data: Int32Array.from(cat.isDipole) } : c)))).toThrow(/column isDipole/);
    const noUnit = writeFits({ header: HEADER }, [
      { kind: 'table', extname: 'DIASOURCES', columns: DIA_SOURCE_COLUMNS.map((c) => ({ name: c.name, format: c.format, data: cat[c.name] })) },
    ]);
    expect(() => readDiaSourceCatalog(noUnit)).toThrow(/FLUXUNIT/);
    expect(() => readDiaSourceCatalog(writeFits({ header: HEADER }))).toThrow(/HDU DIASOURCES is missing/);
    expect(() => readDiaSourceCatalog(new Uint8Array(100))).toThrow(InvalidInputError);
  });

  it('is read by astropy with the same values [astropy]', () => {
    const py = astropyPython();
    if (!py) {
      skipNotice('astropy cross-check of the DiaSource catalog', 'no python3 with astropy');
      return;
    }
    const cat = measuredCatalog(0.5);
    const tmp = makeTempDir('dia-catalog-');
    try {
      const file = path.join(tmp.dir, 'dia.fits');
      writeFileSync(file, writeDiaSourceCatalog(cat, HEADER));
      const out = runPython(
        'import sys, json\nfrom astropy.io import fits\nt = fits.open(sys.argv[1])["DIASOURCES"].data\n' +
          'print(json.dumps({"id": [str(v) for v in t["diaSourceId"]], "psf": [float(v) for v in t["psfFlux"]], "dip": [bool(v) for v in t["isDipole"]], "unit": fits.open(sys.argv[1])["DIASOURCES"].columns["psfFlux"].unit}))',
        [file],
      );
      const got = JSON.parse(out) as { id: string[]; psf: number[]; dip: boolean[]; unit: string };
      expect(got.id).toEqual(Array.from(cat.diaSourceId, String));
      expect(got.psf).toEqual(Array.from(cat.psfFlux));
      expect(got.dip).toEqual(Array.from(cat.isDipole, (v) => v === 1));
      expect(got.unit).toBe('nJy');
    } finally {
      tmp.cleanup();
    }
  });
});
