import { describe, expect, it } from 'vitest';
import { separationArcsec } from '../astro/index.ts';
import { diaForcedSourceTable, diaObjectTable } from '../apdb/schema/tables.ts';
import { tableColumns } from '../apdb/schema/types.ts';
import type { ApdbHistory, ApdbRow, DetectorVisitRows } from '../apdb/types.ts';
import { InvalidInputError } from '../core/errors.ts';
import { diaSourceIdBase } from '../pipeline/stages/dia-sources/index.ts';
import { SeededRng } from '../pipeline/testing/rng.ts';
import { associate, makeAssociationConfig, matchPositions, type AssociationInput, type ForcedMeasurement } from './index.ts';

const VISIT = 2025050100042n;
const DETECTOR = 7;
const T = 60796.1;
const EMPTY: ApdbHistory = { diaObjects: [], diaSources: [], diaForcedSources: [] };

/** (ra, dec) moved by east/north offsets in arcseconds (small-offset approximation). */
function offset(ra: number, dec: number, eastArcsec: number, northArcsec: number): [number, number] {
  const d = dec + northArcsec / 3600;
  let r = ra + eastArcsec / 3600 / Math.cos((dec * Math.PI) / 180);
  r = ((r % 360) + 360) % 360;
  return [r, d];
}

let nextSourceId = 9_000_000_000_000n;
function source(ra: number, dec: number, extra: ApdbRow = {}): ApdbRow {
  return {
    diaSourceId: nextSourceId++,
    diaObjectId: null,
    visit: VISIT,
    detector: DETECTOR,
    ra,
    dec,
    raErr: 2e-5,
    decErr: 2e-5,
    ra_dec_Cov: null,
    psfFlux: 1000,
    psfFluxErr: 50,
    scienceFlux: 3000,
    scienceFluxErr: 60,
    midpointMjdTai: T,
    band: 'r',
    ...extra,
  };
}

function object(id: bigint, ra: number, dec: number, extra: ApdbRow = {}): ApdbRow {
  return { diaObjectId: id, validityStartMjdTai: T - 10, validityEndMjdTai: null, ra, dec, nDiaSources: 1, firstDiaSourceMjdTai: T - 10, ...extra };
}

function input(diaSources: ApdbRow[], history: ApdbHistory = EMPTY, forced: ForcedMeasurement[] = [], detector = DETECTOR): AssociationInput {
  return { diaSources, history, visit: VISIT, detector, visitMjdTai: T, band: 'r', timeProcessedMjdTai: T + 0.001, forced };
}

function forcedAt(id: bigint, ra: number, dec: number, psfFlux: number, psfFluxErr: number): ForcedMeasurement {
  const no = false;
  return {
    id,
    ra,
    dec,
    x: 0,
    y: 0,
    psfFlux,
    psfFluxErr,
    psfChi2: 1,
    psfNdata: 49,
    scienceFlux: 2 * psfFlux,
    scienceFluxErr: psfFluxErr,
    flags: { psfFlux: no, psfFluxEdge: no, psfFluxNoGoodPixels: no, scienceFlux: no, scienceFluxEdge: no, scienceFluxNoGoodPixels: no },
  };
}

describe('associate', () => {
  it('matches within the radius and creates objects outside it, with object ids = source ids', () => {
    const [ra0, dec0] = [150.2, -20.1];
    const near = source(...offset(ra0, dec0, 0.6, 0.6)); // 0.85"
    const far = source(...offset(ra0, dec0, -0.8, 0.8)); // 1.13"
    const history: ApdbHistory = { diaObjects: [object(5n, ra0, dec0)], diaSources: [], diaForcedSources: [] };
    const r = associate(input([near, far], history));
    expect(r.stats).toEqual({ matched: 1, created: 1, updated: 1, forced: 1 });
    expect(r.diaSources[0].diaObjectId).toBe(5n);
    expect(r.diaSources[1].diaObjectId).toBe(far.diaSourceId);
    expect(r.diaObjects.map((o) => o.diaObjectId)).toEqual([5n, far.diaSourceId]);
    // The input rows are not modified.
    expect(near.diaObjectId).toBeNull();
    // A larger radius takes both: the object goes to the nearer one, the other creates its own.
    const wide = associate(input([near, far], history), makeAssociationConfig({ radiusArcsec: 2 }));
    expect(wide.diaSources.map((s) => s.diaObjectId)).toEqual([5n, far.diaSourceId]);
  });

  it('matches across RA 0/360 and averages positions there', () => {
    const obj = object(11n, 359.99998, 0.5);
    const s = source(0.00001, 0.5); // 0.108" east of the object across RA 0
    const history: ApdbHistory = { diaObjects: [obj], diaSources: [source(359.99998, 0.5, { diaObjectId: 11n, midpointMjdTai: T - 10 })], diaForcedSources: [] };
    const r = associate(input([s], history));
    expect(r.stats.matched).toBe(1);
    expect(r.diaSources[0].diaObjectId).toBe(11n);
    const o = r.diaObjects[0];
    // Equal weights: the midpoint, at RA 359.999995, not near 180.
    expect(o.ra as number).toBeCloseTo(359.999995, 9);
    expect(o.dec as number).toBeCloseTo(0.5, 12);
    // And near the pole, where RA means little.
    const polar = object(12n, 10, 89.99995);
    const sp = source(190, 89.99995); // across the pole: 0.36"
    const rp = associate(input([sp], { diaObjects: [polar], diaSources: [], diaForcedSources: [] }));
    expect(rp.diaSources[0].diaObjectId).toBe(12n);
  });

  it('resolves two sources competing for one object: the nearer wins, the other takes its next candidate or a new object', () => {
    const [ra0, dec0] = [80, 30];
    const a = source(...offset(ra0, dec0, 0.3, 0)); // 0.3" from O1
    const b = source(...offset(ra0, dec0, -0.5, 0)); // 0.5" from O1
    const o1 = object(100n, ra0, dec0);
    const o2 = object(200n, ...offset(ra0, dec0, -1.2, 0)); // 0.7" from b, 1.5" from a
    // b first in the input: order does not decide, distance does.
    const r = associate(input([b, a], { diaObjects: [o2, o1], diaSources: [], diaForcedSources: [] }));
    expect(r.diaSources.map((s) => s.diaObjectId)).toEqual([200n, 100n]);
    // Without O2, b creates a new object.
    const r2 = associate(input([b, a], { diaObjects: [o1], diaSources: [], diaForcedSources: [] }));
    expect(r2.diaSources.map((s) => s.diaObjectId)).toEqual([b.diaSourceId, 100n]);
    expect(r2.stats).toMatchObject({ matched: 1, created: 1, updated: 1 });
    // One source between two objects goes to the nearer one.
    const c = source(...offset(ra0, dec0, -0.7, 0)); // 0.7" from O1, 0.5" from O2
    expect(associate(input([c], { diaObjects: [o1, o2], diaSources: [], diaForcedSources: [] })).diaSources[0].diaObjectId).toBe(200n);
  });

  it('writes complete DiaObject versions that carry the visit time', () => {
    const s = source(10, 10);
    const r = associate(input([s]));
    const cols = tableColumns(diaObjectTable);
    const o = r.diaObjects[0];
    expect(Object.keys(o)).toEqual(cols.map((c) => c.name));
    for (const c of cols) if (!c.nullable) expect(o[c.name], c.name).not.toBeNull();
    expect(o.diaObjectId).toBe(s.diaSourceId);
    expect(o.validityStartMjdTai).toBe(T);
    expect(o.validityEndMjdTai).toBeNull();
    expect(o.nDiaSources).toBe(1);
    expect(o.firstDiaSourceMjdTai).toBe(T);
    expect(o.lastDiaSourceMjdTai).toBe(T);
    expect(o.ra).toBe(10);
    expect(o.dec).toBe(10);
    expect(o.r_psfFluxNdata).toBe(1);
    expect(o.r_psfFluxMean).toBe(1000);
    expect(o.r_psfFluxMeanErr).toBe(50);
    expect(o.r_psfFluxSigma).toBeNull();
    expect(o.r_psfFluxMaxSlope).toBeNull();
    expect(o.g_psfFluxNdata).toBe(0);
    expect(o.g_psfFluxMean).toBeNull();
    // Without a forced measurement, the new object's forced source is its DiaSource's own.
    expect(o.r_fpFluxMean).toBe(1000);
    expect(o.r_scienceFluxMean).toBe(3000);
    const rows: Omit<DetectorVisitRows, 'processingSummary'> = r;
    expect(rows.diaForcedSources).toHaveLength(1);
  });

  it('summarises a three-visit light curve as computed by hand', () => {
    const id = 77n;
    const [ra0, dec0] = [200, -45];
    const h1 = source(ra0, dec0, { diaObjectId: id, psfFlux: 100, psfFluxErr: 10, scienceFlux: 500, scienceFluxErr: 20, midpointMjdTai: T - 5, decErr: 0.1 / 3600 });
    const h2 = source(ra0, dec0 + 0.2 / 3600, { diaObjectId: id, psfFlux: 130, psfFluxErr: 20, scienceFlux: 540, scienceFluxErr: 40, midpointMjdTai: T - 3, decErr: 0.2 / 3600 });
    const hg = source(ra0, dec0, { diaObjectId: id, band: 'g', psfFlux: 40, psfFluxErr: 5, midpointMjdTai: T - 4, decErr: 0.1 / 3600 });
    const fh = { diaForcedSourceId: 1n, diaObjectId: id, ra: ra0, dec: dec0, visit: 1n, detector: DETECTOR, psfFlux: 80, psfFluxErr: 10, midpointMjdTai: T - 1, band: 'r', timeProcessedMjdTai: T - 1 };
    const obj = object(id, ra0, dec0, { firstDiaSourceMjdTai: T - 30, nDiaSources: 3 });
    const history: ApdbHistory = { diaObjects: [obj], diaSources: [h1, h2, hg], diaForcedSources: [fh] };
    const now = source(ra0, dec0 - 0.1 / 3600, { psfFlux: 90, psfFluxErr: 10, scienceFlux: 520, scienceFluxErr: 20, decErr: 0.1 / 3600 });
    const r = associate(input([now], history, [forcedAt(id, ra0, dec0, 120, 20)]));
    expect(r.stats).toEqual({ matched: 1, created: 0, updated: 1, forced: 1 });
    const o = r.diaObjects[0];
    expect(o.diaObjectId).toBe(id);
    expect(o.validityStartMjdTai).toBe(T);
    // psfFlux 100±10, 130±20, 90±10: weights 0.01, 0.0025, 0.01.
    expect(o.r_psfFluxNdata).toBe(3);
    expect(o.r_psfFluxMean as number).toBeCloseTo(2.225 / 0.0225, 9);
    expect(o.r_psfFluxMeanErr as number).toBeCloseTo(Math.sqrt(1 / 0.0225), 9);
    expect(o.r_psfFluxSigma as number).toBeCloseTo(Math.sqrt(((-20 / 3) ** 2 + (70 / 3) ** 2 + (-50 / 3) ** 2) / 2), 9);
    expect(o.r_psfFluxMin).toBe(90);
    expect(o.r_psfFluxMax).toBe(130);
    expect(o.r_psfFluxErrMean as number).toBeCloseTo(40 / 3, 12);
    // Slopes (130 − 100)/2 = 15 and (90 − 130)/3 per day.
    expect(o.r_psfFluxMaxSlope as number).toBeCloseTo(15, 9);
    // scienceFlux 500±20, 540±40, 520±20: weights 4:1:4.
    expect(o.r_scienceFluxMean as number).toBeCloseTo((4 * 500 + 540 + 4 * 520) / 9, 9);
    expect(o.r_scienceFluxMeanErr as number).toBeCloseTo(Math.sqrt(1 / (1 / 400 + 1 / 1600 + 1 / 400)), 9);
    // Forced: 80±10 from the history and 120±20 from this visit.
    expect(o.r_fpFluxMean as number).toBeCloseTo((80 / 100 + 120 / 400) / (1 / 100 + 1 / 400), 9);
    expect(o.r_fpFluxMeanErr as number).toBeCloseTo(Math.sqrt(1 / (1 / 100 + 1 / 400)), 9);
    // The g band is separate.
    expect(o.g_psfFluxNdata).toBe(1);
    expect(o.g_psfFluxMean).toBe(40);
    expect(o.g_fpFluxMean).toBeNull();
    expect(o.i_psfFluxNdata).toBe(0);
    expect(o.nDiaSources).toBe(4);
    expect(o.firstDiaSourceMjdTai).toBe(T - 30); // kept from the previous version
    expect(o.lastDiaSourceMjdTai).toBe(T);
    // Dec: offsets 0, +0.2", 0 (g), −0.1" with decErr 0.1", 0.2", 0.1", 0.1": weights 4:1:4:4.
    const meanNorth = (4 * 0 + 1 * 0.2 + 4 * 0 + 4 * -0.1) / 13;
    expect(((o.dec as number) - dec0) * 3600).toBeCloseTo(meanNorth, 6);
    expect((o.decErr as number) * 3600).toBeCloseTo(Math.sqrt(1 / (100 + 25 + 100 + 100)), 9);
    // RA errors all 2e-5 deg: raErr = 2e-5 / √4.
    expect(o.raErr as number).toBeCloseTo(1e-5, 9);
    expect(o.ra as number).toBeCloseTo(ra0, 9);
    expect(o.ra_dec_Cov).toBeNull();
  });

  it('writes one forced source per measured history object and per new object, with unique ids', () => {
    const objs = [object(1n, 30, 5), object(2n, 30.01, 5), object(3n, 30.02, 5)];
    const s1 = source(30.01, 5); // matches object 2
    const s2 = source(30.05, 5); // new
    const s3 = source(30.06, 5); // new, not in the forced list
    const forced = [
      forcedAt(1n, 30, 5, 10, 5),
      forcedAt(2n, 30.01, 5, 900, 50),
      forcedAt(s1.diaSourceId as bigint, 30.01, 5, 950, 50), // at a matched source: not a row
      forcedAt(s2.diaSourceId as bigint, 30.05, 5, 400, 40),
      forcedAt(999n, 1, 1, 0, 1), // an unknown id
    ];
    const history: ApdbHistory = { diaObjects: objs, diaSources: [], diaForcedSources: [] };
    const r = associate(input([s1, s2, s3], history, forced));
    const f = r.diaForcedSources;
    expect(f.map((x) => x.diaObjectId)).toEqual([1n, 2n, s2.diaSourceId, s3.diaSourceId]);
    const base = diaSourceIdBase(Number(VISIT), DETECTOR);
    expect(f.map((x) => x.diaForcedSourceId)).toEqual([base, base + 1n, base + 2n, base + 3n]);
    const cols = tableColumns(diaForcedSourceTable);
    for (const row of f) {
      expect(Object.keys(row)).toEqual(cols.map((c) => c.name));
      expect(row.visit).toBe(VISIT);
      expect(row.detector).toBe(DETECTOR);
      expect(row.midpointMjdTai).toBe(T);
      expect(row.band).toBe('r');
      expect(row.timeProcessedMjdTai).toBe(T + 0.001);
      expect(row.timeWithdrawnMjdTai).toBeNull();
    }
    expect(f[0].psfFlux).toBe(10);
    expect(f[0].scienceFlux).toBe(20);
    expect(f[2].psfFlux).toBe(400);
    expect(f[3].psfFlux).toBe(1000); // the DiaSource's own
    expect(f[3].scienceFlux).toBe(3000);
    expect(r.stats).toEqual({ matched: 1, created: 2, updated: 1, forced: 4 });
    // Object 2's new version includes this visit's forced flux.
    expect(r.diaObjects[0].diaObjectId).toBe(2n);
    expect(r.diaObjects[0].r_fpFluxMean as number).toBeCloseTo(900, 9);
    // Another detector of the same visit: other ids.
    const other = associate(input([], history, forced, DETECTOR + 1));
    expect(other.diaForcedSources.map((x) => x.diaObjectId)).toEqual([1n, 2n]);
    const ids = new Set([...f, ...other.diaForcedSources].map((x) => x.diaForcedSourceId));
    expect(ids.size).toBe(6);
    // NaN fluxes become NULL.
    const nan = associate(input([], history, [forcedAt(3n, 30.02, 5, NaN, NaN)]));
    expect(nan.diaForcedSources[0].psfFlux).toBeNull();
    expect(nan.diaObjects).toEqual([]);
  });

  it('does not count rows of the same detector-visit in the history twice', () => {
    const s = source(40, 40, { psfFlux: 500, psfFluxErr: 10 });
    const old = source(40, 40, { diaObjectId: 8n, psfFlux: 100, psfFluxErr: 10, midpointMjdTai: T - 2 });
    const rerun = { ...s, diaObjectId: 8n };
    const forcedOld = { diaForcedSourceId: 1n, diaObjectId: 8n, ra: 40, dec: 40, visit: VISIT, detector: DETECTOR, psfFlux: 7, psfFluxErr: 1, midpointMjdTai: T, band: 'r', timeProcessedMjdTai: T };
    const history: ApdbHistory = { diaObjects: [object(8n, 40, 40)], diaSources: [old, rerun], diaForcedSources: [forcedOld] };
    const r = associate(input([s], history, [forcedAt(8n, 40, 40, 300, 10)]));
    const o = r.diaObjects[0];
    expect(o.nDiaSources).toBe(2);
    expect(o.r_psfFluxMean).toBe(300);
    expect(o.r_fpFluxMean).toBe(300);
  });

  it('rejects unusable input', () => {
    expect(() => associate({ ...input([source(1, 1)]), band: 'x' })).toThrow(InvalidInputError);
    expect(() => associate(input([source(NaN, 1)]))).toThrow(InvalidInputError);
    const s = source(1, 1);
    expect(() => associate(input([s, { ...s }]))).toThrow(/twice/);
    expect(() => associate({ ...input([]), visit: 123n })).toThrow(InvalidInputError);
  });

  it('matches a large random field like a brute-force reference', () => {
    const rng = new SeededRng(2024);
    const nObj = 5000;
    const nSrc = 2000;
    // A 0.25° field across RA 0 (wrap-around) at dec −30, one object per ~45 arcsec² on average.
    const dec0 = -30;
    const half = 0.125;
    const objects: ApdbRow[] = [];
    const ora = new Float64Array(nObj);
    const odec = new Float64Array(nObj);
    for (let j = 0; j < nObj; j++) {
      const [ra, dec] = offset(0, dec0, (rng.uniform() * 2 - 1) * half * 3600, (rng.uniform() * 2 - 1) * half * 3600);
      ora[j] = ra;
      odec[j] = dec;
      objects.push(object(10_000n + BigInt(j), ra, dec));
    }
    const sources: ApdbRow[] = [];
    const sra = new Float64Array(nSrc);
    const sdec = new Float64Array(nSrc);
    for (let i = 0; i < nSrc; i++) {
      let ra: number;
      let dec: number;
      if (i % 2 === 0) {
        // Near an object (some of them competing for it), up to 1.4" away.
        const j = Math.floor(rng.uniform() * nObj * 0.3);
        [ra, dec] = offset(ora[j], odec[j], (rng.uniform() * 2 - 1) * 1.4, (rng.uniform() * 2 - 1) * 1.4);
      } else {
        [ra, dec] = offset(0, dec0, (rng.uniform() * 2 - 1) * half * 3600, (rng.uniform() * 2 - 1) * half * 3600);
      }
      sra[i] = ra;
      sdec[i] = dec;
      sources.push(source(ra, dec));
    }
    const radius = 1;
    // Brute force: every pair, closest first, one to one.
    const pairs: Array<{ i: number; j: number; d: number }> = [];
    for (let i = 0; i < nSrc; i++) {
      for (let j = 0; j < nObj; j++) {
        if (Math.abs(sdec[i] - odec[j]) > 2 / 3600) continue;
        const d = separationArcsec(sra[i], sdec[i], ora[j], odec[j]);
        if (d <= radius) pairs.push({ i, j, d });
      }
    }
    pairs.sort((a, b) => a.d - b.d || a.i - b.i || a.j - b.j);
    const expected = new Int32Array(nSrc).fill(-1);
    const taken = new Uint8Array(nObj);
    for (const p of pairs) {
      if (expected[p.i] >= 0 || taken[p.j]) continue;
      expected[p.i] = p.j;
      taken[p.j] = 1;
    }
    const nMatched = expected.reduce((n, j) => n + (j >= 0 ? 1 : 0), 0);
    expect(nMatched).toBeGreaterThan(300);
    expect(pairs.length).toBeGreaterThan(nMatched); // there was competition

    const m = matchPositions({ ra: sra, dec: sdec }, { ra: ora, dec: odec }, radius);
    expect(Array.from(m.objectOf)).toEqual(Array.from(expected));

    const r = associate(input(sources, { diaObjects: objects, diaSources: [], diaForcedSources: [] }));
    const want = sources.map((s, i) => (expected[i] >= 0 ? 10_000n + BigInt(expected[i]) : (s.diaSourceId as bigint)));
    expect(r.diaSources.map((s) => s.diaObjectId)).toEqual(want);
    expect(r.stats.matched).toBe(nMatched);
    expect(r.stats.created).toBe(nSrc - nMatched);
    expect(new Set(r.diaObjects.map((o) => o.diaObjectId)).size).toBe(nSrc);
    for (let i = 0; i < nSrc; i++) if (m.objectOf[i] >= 0) expect(m.distanceArcsec[i]).toBeLessThanOrEqual(radius);
  });
});
