/**
 * What every APDB backend must do, as one suite: each backend's test file runs it with a factory
 * of fresh, empty APDB locations.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, InvalidInputError, NotFoundError } from '../core/errors.ts';
import { openApdb, type Apdb } from './apdb.ts';
import { parseApdbConfig } from './config.ts';
import { PIXEL_ID, PIXEL_TABLES } from './physical.ts';
import { pixelIdOf } from './region.ts';
import { APDB_TABLES, diaForcedSourceTable, diaObjectTable, diaSourceTable, mpcorbitsTable } from './schema/tables.ts';
import { tableColumns } from './schema/types.ts';
import { runStoresInProcesses, type StoreJob } from './testing/concurrent.ts';
import { BIG, associatePlan, boxRegion, forcedRow, fullRow, objectRow, sourceRow, summaryRow } from './testing/rows.ts';
import type { ApdbHistory, ApdbRow, DetectorVisitKey, DetectorVisitRows } from './types.ts';

export interface ApdbFixture {
  /** `-c` pairs of a location where no APDB exists yet. */
  readonly pairs: readonly string[];
  /** Runs one SQL statement on the APDB's database, table names unqualified. */
  exec(statement: string): Promise<void>;
  /** Whether nothing exists at the location (no file, no schema). */
  isAbsent(): Promise<boolean>;
  cleanup(): Promise<void>;
}

const MJD = 60_000;
const REGION = boxRegion(150, 2, 0.1);

const empty = (key: DetectorVisitKey): DetectorVisitRows => ({ diaSources: [], diaObjects: [], diaForcedSources: [], processingSummary: summaryRow(key) });

/** Stores one detector-visit with the given rows (the plan ignores the history). */
async function store(apdb: Apdb, key: DetectorVisitKey, mjd: number, rows: Partial<DetectorVisitRows>, region = REGION): Promise<ApdbHistory> {
  let seen: ApdbHistory | null = null;
  const r = await apdb.storeDetectorVisit(key, region, mjd, (h) => {
    seen = h;
    return { ...empty(key), ...rows };
  });
  expect(r.stored).toBe(true);
  return seen!;
}

export function apdbContract(name: string, fresh: () => Promise<ApdbFixture>): void {
  describe(`APDB contract: ${name}`, () => {
    const open: Apdb[] = [];
    const fixtures: ApdbFixture[] = [];
    afterEach(async () => {
      await Promise.all(open.splice(0).map((a) => a.close()));
      await Promise.all(fixtures.splice(0).map((f) => f.cleanup()));
    });

    async function handle(f: ApdbFixture): Promise<Apdb> {
      const a = await openApdb(parseApdbConfig(f.pairs));
      open.push(a);
      return a;
    }

    async function created(): Promise<{ f: ApdbFixture; apdb: Apdb }> {
      const f = await fresh();
      fixtures.push(f);
      const apdb = await handle(f);
      expect((await apdb.create()).created).toBe(true);
      return { f, apdb };
    }

    it('creates once; a second create says so, names the place and the version, and changes nothing', async () => {
      const f = await fresh();
      fixtures.push(f);
      const apdb = await handle(f);
      await expect(apdb.counts()).rejects.toBeInstanceOf(NotFoundError);
      expect(await f.isAbsent()).toBe(true);
      const first = await apdb.create();
      expect(first.created).toBe(true);
      expect(first.message).toContain(apdb.describe());
      const meta = await apdb.readTable('metadata');
      const byName = Object.fromEntries(meta.map((r) => [r.name, r.value]));
      expect(byName['version:schema']).toBe('10.0.0');
      expect(byName['version:ApdbSql']).toMatch(/^\d+\.\d+\.\d+$/);
      const cfg = JSON.parse(byName['config:apdb-sql.json'] as string) as Record<string, unknown>;
      expect(cfg).toMatchObject({ isolation_level: 'READ_COMMITTED', read_sources_months: 12, read_forced_sources_months: 12 });
      expect(String(cfg.db_url)).not.toMatch(/:[^:@/]+@/);
      const tables = await Promise.all(APDB_TABLES.map((t) => apdb.describeTable(t.name)));

      const again = await handle(f);
      const second = await again.create();
      expect(second.created).toBe(false);
      expect(second.message).toContain(apdb.describe());
      expect(second.message).toContain('10.0.0');
      expect(second.message).toMatch(/already exists/);
      expect(await again.readTable('metadata')).toEqual(meta);
      expect(await Promise.all(APDB_TABLES.map((t) => again.describeTable(t.name)))).toEqual(tables);
      expect(await again.counts()).toEqual({ diaObjects: 0, diaSources: 0, diaForcedSources: 0, detectorVisits: 0 });
    });

    it('refuses to create over, or to use, an APDB of another schema version', async () => {
      const { f, apdb } = await created();
      await f.exec(`UPDATE metadata SET value = '9.0.0' WHERE name = 'version:schema'`);
      const other = await handle(f);
      await expect(other.create()).rejects.toThrow(/schema version 9\.0\.0.*10\.0\.0/);
      await expect(other.counts()).rejects.toBeInstanceOf(ConfigError);
      expect(apdb.describe()).toBe(other.describe());
    });

    it('has every column of every table, its keys and indexes, and pixelId where dax_apdb puts it', async () => {
      const { apdb } = await created();
      for (const spec of APDB_TABLES) {
        const info = await apdb.describeTable(spec.name);
        expect(info, spec.name).not.toBeNull();
        const expected = tableColumns(spec).map((c) => ({ name: c.name, nullable: c.nullable }));
        if (PIXEL_TABLES.has(spec.name)) expected.push({ name: PIXEL_ID, nullable: false });
        expect(info!.columns.map((c) => ({ name: c.name, nullable: c.nullable })), spec.name).toEqual(expected);
        expect(info!.primaryKey, spec.name).toEqual(spec.primaryKey);
        for (const ix of spec.indexes) {
          expect(info!.indexes.find((i) => i.name === ix.name)?.columns, `${spec.name}.${ix.name}`).toEqual(ix.columns);
        }
        for (const u of spec.unique) {
          expect(info!.indexes.some((i) => i.unique && i.columns.join() === u.columns.join()), `${spec.name}.${u.name}`).toBe(true);
        }
        const pix = info!.indexes.find((i) => i.columns.length === 1 && i.columns[0] === PIXEL_ID);
        expect(Boolean(pix), `${spec.name} pixelId index`).toBe(PIXEL_TABLES.has(spec.name));
      }
      const src = (await apdb.describeTable('DiaSource'))!.columns;
      const type = (n: string): string => src.find((c) => c.name === n)!.type;
      expect(type('diaSourceId')).toBe('BIGINT');
      expect(type('detector')).toBe('SMALLINT');
      expect(type('psfFlux')).toBe('REAL');
      expect(type('band')).toMatch(/^(CHAR|CHARACTER)\(1\)$/);
      expect(type('reliabilityVersion')).toMatch(/^(VARCHAR|CHARACTER VARYING)\(7\)$/);
      expect(await apdb.describeTable('NoSuchTable')).toBeNull();
    });

    it('round-trips full DiaSource, DiaObject and DiaForcedSource rows: 64-bit ids, NaN, NULL, booleans', async () => {
      const { apdb } = await created();
      const key = { visit: BIG + 5n, detector: 7 };
      const objectId = BIG + 123_456_789n;
      const object = fullRow(diaObjectTable, 1, {
        diaObjectId: objectId, validityStartMjdTai: MJD, validityEndMjdTai: null, ra: 150.01, dec: 2.02,
        raErr: Number.NaN, decErr: null, g_psfFluxMean: Number.NaN, firstDiaSourceMjdTai: Number.NaN,
      });
      const source = fullRow(diaSourceTable, 2, {
        diaSourceId: BIG + 987_654_321n, visit: key.visit, detector: key.detector, diaObjectId: objectId,
        midpointMjdTai: MJD, ra: 150.01, dec: 2.02, psfFlux: Number.NaN, apFlux: null, x: Number.NaN,
        isNegative: true, isDipole: false, pixelFlags_bad: null, ssObjectId: null, band: 'g',
      });
      const forced = fullRow(diaForcedSourceTable, 3, {
        diaObjectId: objectId, visit: key.visit, detector: key.detector, midpointMjdTai: MJD, ra: 150.01, dec: 2.02,
        psfFlux: Number.NaN, scienceFlux: null, band: 'i',
      });
      await store(apdb, key, MJD, { diaSources: [source], diaObjects: [object], diaForcedSources: [forced] });

      const h = await apdb.history(REGION, MJD + 1);
      expect(h.diaObjects).toEqual([object]);
      expect(h.diaSources).toEqual([source]);
      expect(h.diaForcedSources).toEqual([forced]);
      expect(Number.isNaN(h.diaSources[0].psfFlux)).toBe(true);
      expect(h.diaSources[0].apFlux).toBeNull();
      expect(typeof h.diaObjects[0].diaObjectId).toBe('bigint');
      expect(Object.keys(h.diaSources[0])).not.toContain(PIXEL_ID);

      const stored = await apdb.readTable('DiaSource', { diaSourceId: source.diaSourceId });
      expect(stored).toHaveLength(1);
      expect(stored[0][PIXEL_ID]).toBe(BigInt(pixelIdOf(150.01, 2.02)));
      expect((await apdb.readTable('DiaObjectLast'))[0]).toMatchObject({ diaObjectId: objectId, nDiaSources: object.nDiaSources, [PIXEL_ID]: BigInt(pixelIdOf(150.01, 2.02)) });
      expect(await apdb.readTable('DetectorVisitProcessingSummary')).toEqual([expect.objectContaining(summaryRow(key))]);
    });

    it('round-trips timestamps (microseconds) and CHAR strings through the other tables', async () => {
      const { apdb } = await created();
      const rows = [1, 2].map((i) => fullRow(mpcorbitsTable, i, { id: i, designation: `2024 AB${i}`, created_at: 1_700_000_000_123_456n + BigInt(i), updated_at: null }));
      expect(await apdb.insertRows('mpc_orbits', rows)).toBe(2);
      expect(await apdb.readTable('mpc_orbits')).toEqual(rows);
      expect(await apdb.readTable('mpc_orbits', { updated_at: null, id: 2 })).toEqual([rows[1]]);
      await expect(apdb.insertRows('DiaSource', [])).rejects.toBeInstanceOf(InvalidInputError);
    });

    it('stores a detector-visit once: a second store of the same key writes nothing and does not call the plan', async () => {
      const { apdb } = await created();
      const key = { visit: 1001n, detector: 4 };
      const objects = [0, 1, 2].map((i) => objectRow(BIG + BigInt(i), 150 + i * 0.01, 2, MJD, 1));
      const sources = objects.map((o, i) => sourceRow({ diaSourceId: BIG + 100n + BigInt(i), diaObjectId: o.diaObjectId as bigint, ra: o.ra as number, dec: 2, mjd: MJD, key }));
      const forced = objects.map((o, i) => forcedRow(o.diaObjectId as bigint, BIG + 200n + BigInt(i), o.ra as number, 2, MJD, key));
      await store(apdb, key, MJD, { diaSources: sources, diaObjects: objects, diaForcedSources: forced });
      expect(await apdb.counts()).toEqual({ diaObjects: 3, diaSources: 3, diaForcedSources: 3, detectorVisits: 1 });
      let called = false;
      const again = await apdb.storeDetectorVisit(key, REGION, MJD, () => {
        called = true;
        return { ...empty(key), diaSources: sources };
      });
      expect(again.stored).toBe(false);
      expect(again.stored ? '' : again.reason).toMatch(/visit 1001, detector 4 is already/);
      expect(called).toBe(false);
      expect(await apdb.counts()).toEqual({ diaObjects: 3, diaSources: 3, diaForcedSources: 3, detectorVisits: 1 });
    });

    it('history: only current objects inside the region, sources inside the windows', async () => {
      const { apdb } = await created();
      const inside = objectRow(1n, 150.05, 2.05, 59_500, 1);
      // Inside the HTM cover of the region but outside its polygon.
      const justOutside = objectRow(2n, 150.1003, 2.0, 59_500, 1);
      const far = objectRow(3n, 10, -40, 59_500, 1);
      const old = { visit: 1n, detector: 1 };
      await store(apdb, old, 59_500, {
        diaObjects: [inside, justOutside],
        diaSources: [sourceRow({ diaSourceId: 10n, diaObjectId: 1n, ra: 150.05, dec: 2.05, mjd: 59_500, key: old })],
        diaForcedSources: [forcedRow(1n, 20n, 150.05, 2.05, 59_500, old)],
      });
      const farKey = { visit: 1n, detector: 2 };
      await store(apdb, farKey, 59_500, { diaObjects: [far] }, boxRegion(10, -40, 0.1));
      const recent = { visit: 2n, detector: 1 };
      await store(apdb, recent, 59_800, {
        diaObjects: [{ ...inside, validityStartMjdTai: 59_800, nDiaSources: 2 }],
        diaSources: [sourceRow({ diaSourceId: 11n, diaObjectId: 1n, ra: 150.05, dec: 2.05, mjd: 59_800, key: recent })],
        diaForcedSources: [forcedRow(1n, 21n, 150.05, 2.05, 59_800, recent)],
      });
      // 60000 − 30·12 = 59640: the source of 59500 is too old, that of 59800 is not.
      const h = await apdb.history(REGION, MJD);
      expect(h.diaObjects.map((o) => [o.diaObjectId, o.validityStartMjdTai, o.nDiaSources])).toEqual([[1n, 59_800, 2]]);
      expect(h.diaSources.map((s) => s.diaSourceId)).toEqual([11n]);
      expect(h.diaForcedSources.map((s) => s.diaForcedSourceId)).toEqual([21n]);
      const longAgo = await apdb.history(REGION, 59_700);
      expect(longAgo.diaSources.map((s) => s.diaSourceId)).toEqual([10n, 11n]);
      expect((await apdb.history(boxRegion(10, -40, 0.01), MJD)).diaObjects.map((o) => o.diaObjectId)).toEqual([3n]);
      expect((await apdb.history(boxRegion(200, 30, 0.1), MJD)).diaObjects).toEqual([]);
    });

    it('keeps every version of a DiaObject updated twice: one current, one DiaObjectLast row', async () => {
      const { apdb } = await created();
      const id = BIG + 77n;
      for (const [i, mjd] of [59_990, 59_995, MJD].entries()) {
        const key = { visit: BigInt(10 + i), detector: 0 };
        const h = await store(apdb, key, mjd, {
          diaObjects: [objectRow(id, 150.02 + i * 1e-5, 2.01, mjd, i + 1)],
          diaSources: [sourceRow({ diaSourceId: BIG + BigInt(i), diaObjectId: id, ra: 150.02, dec: 2.01, mjd, key })],
        });
        expect(h.diaObjects.map((o) => o.nDiaSources)).toEqual(i === 0 ? [] : [i]);
      }
      const versions = await apdb.readTable('DiaObject', { diaObjectId: id });
      expect(versions.map((v) => [v.validityStartMjdTai, v.validityEndMjdTai, v.nDiaSources])).toEqual([
        [59_990, 59_995, 1], [59_995, MJD, 2], [MJD, null, 3],
      ]);
      const last = await apdb.readTable('DiaObjectLast');
      expect(last).toHaveLength(1);
      expect(last[0]).toMatchObject({ diaObjectId: id, validityStartMjdTai: MJD, nDiaSources: 3, ra: 150.02 + 2e-5 });
      expect(await apdb.counts()).toMatchObject({ diaObjects: 1, diaSources: 3, detectorVisits: 3 });
    });

    it('keeps one current version when a visit is stored late (the last write wins, as in dax_apdb)', async () => {
      const { apdb } = await created();
      await store(apdb, { visit: 2n, detector: 0 }, MJD, { diaObjects: [objectRow(9n, 150, 2, MJD, 2)] });
      await store(apdb, { visit: 1n, detector: 0 }, MJD - 1, { diaObjects: [objectRow(9n, 150, 2, MJD - 1, 1)] });
      const current = await apdb.readTable('DiaObject', { validityEndMjdTai: null });
      expect(current.map((o) => [o.diaObjectId, o.validityStartMjdTai])).toEqual([[9n, MJD - 1]]);
      expect((await apdb.readTable('DiaObjectLast')).map((o) => o.validityStartMjdTai)).toEqual([MJD - 1]);
      expect(await apdb.counts()).toMatchObject({ diaObjects: 1 });
    });

    it('given an earlier history, the plan sees exactly what a full read gives, also with rows written since by another writer', async () => {
      const { f, apdb } = await created();
      const other = await handle(f);
      // A, B, C inside REGION and the preload's region; D inside REGION only; E inside the
      // preload's region only; F new, made by the other writer after the preload.
      const at: Record<string, readonly [number, number]> = { A: [150.01, 2.01], B: [150.03, 1.97], C: [150.06, 2.05], D: [149.92, 2.0], E: [150.12, 2.0], F: [150.0, 2.0] };
      const id = (o: string): bigint => BigInt(' ABCDEF'.indexOf(o));
      const preloadRegion = boxRegion(150.05, 2, 0.1);
      const visitRows = (visit: bigint, mjd: number, objects: string, sources: string, forced: string): Partial<DetectorVisitRows> => {
        const key = { visit, detector: 0 };
        return {
          diaObjects: [...objects].map((o) => objectRow(id(o), at[o][0], at[o][1], mjd, Number(visit))),
          diaSources: [...sources].map((o, i) => fullRow(diaSourceTable, i, {
            diaSourceId: visit * 100n + id(o), visit, detector: 0, diaObjectId: id(o), midpointMjdTai: mjd, ra: at[o][0], dec: at[o][1],
            ssObjectId: null, psfFlux: i === 0 ? Number.NaN : 5.5, apFlux: null,
          })),
          diaForcedSources: [...forced].map((o) => forcedRow(id(o), visit * 100n + 50n + id(o), at[o][0], at[o][1], mjd, key)),
        };
      };
      // The store's window starts at 60300 − 360 = 59940, the preload's at 60250 − 360 = 59890.
      await store(apdb, { visit: 1n, detector: 0 }, 59_900, visitRows(1n, 59_900, 'ABCDE', 'ABDE', 'AC'), boxRegion(150, 2, 0.3));
      await store(apdb, { visit: 2n, detector: 0 }, 59_950, visitRows(2n, 59_950, 'AC', 'ACDE', 'ABD'), boxRegion(150, 2, 0.3));
      const known = await apdb.history(preloadRegion, 60_250);
      expect(known.diaObjects.map((o) => o.diaObjectId)).toEqual([1n, 2n, 3n, 5n]);
      expect(known.diaSources.map((s) => s.diaSourceId)).toEqual([101n, 102n, 105n, 201n, 203n, 205n]);
      await store(other, { visit: 3n, detector: 0 }, 60_000, visitRows(3n, 60_000, 'AF', 'ABF', 'ACF'));

      const key = { visit: 4n, detector: 0 };
      const look = new Error('only looking');
      const seenBy = async (given?: ApdbHistory): Promise<ApdbHistory> => {
        let seen: ApdbHistory | null = null;
        await expect(apdb.storeDetectorVisit(key, REGION, 60_300, (h) => {
          seen = h;
          throw look;
        }, given)).rejects.toBe(look);
        return seen!;
      };
      const full = await seenBy();
      expect(full.diaObjects.map((o) => [o.diaObjectId, o.validityStartMjdTai])).toEqual([[1n, 60_000], [2n, 59_900], [3n, 59_950], [4n, 59_900], [6n, 60_000]]);
      expect(full.diaSources.map((s) => s.diaSourceId)).toEqual([201n, 203n, 204n, 301n, 302n, 306n]);
      expect(full.diaForcedSources.map((s) => [s.diaObjectId, s.visit])).toEqual([[1n, 2n], [1n, 3n], [2n, 2n], [3n, 3n], [4n, 2n], [6n, 3n]]);
      expect(await apdb.history(REGION, 60_300)).toEqual(full);

      const withKnown = await seenBy(known);
      expect(withKnown).toEqual(full);
      // The rows it already had are passed on, not read again.
      expect(withKnown.diaSources[0]).toBe(known.diaSources.find((s) => s.diaSourceId === 201n));
      expect(await seenBy({ diaObjects: [], diaSources: [], diaForcedSources: [] })).toEqual(full);

      const r = await apdb.storeDetectorVisit(key, REGION, 60_300, () => ({ ...empty(key), diaObjects: [objectRow(2n, ...at.B, 60_300, 4)] }), known);
      expect(r.stored && r.history).toEqual(full);
      expect((await apdb.history(REGION, 60_300)).diaObjects.find((o) => o.diaObjectId === 2n)?.nDiaSources).toBe(4);
      await expect(apdb.storeDetectorVisit({ visit: 5n, detector: 0 }, REGION, 60_300, () => empty({ visit: 5n, detector: 0 }), { diaObjects: [] } as unknown as ApdbHistory))
        .rejects.toBeInstanceOf(InvalidInputError);
    });

    it('round-trips awkward strings, and finds rows by them', async () => {
      const { apdb } = await created();
      const awkward = ['quote \' and "double"', 'back\\slash \\\\ two', '{braces},commas', 'NULL', '', 'ünïcödé ✓ 星', '$1 and $2', 'tab\tnew\nline'];
      const rows = awkward.map((text, i) => fullRow(mpcorbitsTable, i, { id: i, designation: `d${i}`, packed_primary_provisional_designation: `p${i}`, unpacked_primary_provisional_designation: `u${i}`, mpc_orb_jsonb: text, created_at: null, updated_at: null }));
      await apdb.insertRows('mpc_orbits', rows);
      expect((await apdb.readTable('mpc_orbits')).map((r) => r.mpc_orb_jsonb)).toEqual(awkward);
      for (const [i, text] of awkward.entries()) expect((await apdb.readTable('mpc_orbits', { mpc_orb_jsonb: text })).map((r) => r.id), text).toEqual([i]);
    });

    it('writes nothing when the plan throws or returns bad rows, and rethrows', async () => {
      const { apdb } = await created();
      const key = { visit: 5n, detector: 5 };
      const boom = new Error('plan failed');
      await expect(apdb.storeDetectorVisit(key, REGION, MJD, () => { throw boom; })).rejects.toBe(boom);
      const bad = await apdb.storeDetectorVisit(key, REGION, MJD, () => ({
        ...empty(key),
        diaObjects: [objectRow(1n, 150, 2, MJD, 1)],
        diaSources: [{ ...sourceRow({ diaSourceId: 1n, diaObjectId: 1n, ra: 150, dec: 2, mjd: MJD, key }), x: null }],
      })).catch((e: unknown) => e);
      expect(bad).toBeInstanceOf(InvalidInputError);
      expect((bad as Error).message).toMatch(/DiaSource row 0: column 'x'.*NOT NULL/);
      await expect(apdb.storeDetectorVisit(key, REGION, MJD, () => ({
        ...empty(key), diaSources: [sourceRow({ diaSourceId: 1n, diaObjectId: 1n, ra: 150, dec: 2, mjd: MJD, key: { visit: 6n, detector: 5 } })],
      }))).rejects.toThrow(/not of the detector-visit being stored/);
      expect(await apdb.counts()).toEqual({ diaObjects: 0, diaSources: 0, diaForcedSources: 0, detectorVisits: 0 });
      // The key is still free.
      await store(apdb, key, MJD, {});
      expect(await apdb.counts()).toMatchObject({ detectorVisits: 1 });
    });

    it('two neighbouring detectors seeing one new object at once make ONE DiaObject (two handles)', async () => {
      const { f } = await created();
      const a = await handle(f);
      const b = await handle(f);
      for (let round = 0; round < 6; round++) {
        const ra = 150 + round * 0.5;
        const visit = BigInt(100 + round);
        const results = await Promise.all([a, b].map((apdb, i) => {
          const key = { visit, detector: i };
          const region = boxRegion(ra + (i === 0 ? -0.05 : 0.05), 2, 0.06);
          return apdb.storeDetectorVisit(key, region, MJD, associatePlan({
            key, ra, dec: 2, mjd: MJD, diaSourceId: BigInt(round * 10 + i), newObjectId: BigInt(1000 + round * 10 + i),
          }));
        }));
        const ids = results.map((r) => (r.stored ? r.rows.diaObjects[0].diaObjectId : null));
        expect(ids[0]).toBe(ids[1]);
        const objects = (await a.history(boxRegion(ra, 2, 0.01), MJD)).diaObjects;
        expect(objects).toHaveLength(1);
        expect(objects[0].nDiaSources).toBe(2);
      }
      expect(await a.counts()).toEqual({ diaObjects: 6, diaSources: 12, diaForcedSources: 0, detectorVisits: 12 });
    });

    it('two processes storing overlapping detector-visits at once make ONE DiaObject each time', async () => {
      const { f, apdb } = await created();
      const rounds = 15;
      const jobs: StoreJob[] = [0, 1].map((i) => ({
        pairs: f.pairs, visit: '500', detector: i, regionRa: 150 + (i === 0 ? -0.05 : 0.05), regionDec: 2, regionHalf: 0.06,
        ra: 150, dec: 2, mjd: MJD, diaSourceId: String(BIG + BigInt(i * 1000)), newObjectId: String(BIG + 10_000n + BigInt(i * 1000)),
        rounds, roundStepDeg: 0.5,
      }));
      const [a, b] = await runStoresInProcesses(jobs);
      expect(a.objectIds).toHaveLength(rounds);
      expect(a.objectIds.every((id) => id !== null)).toBe(true);
      expect(b.objectIds).toEqual(a.objectIds);
      expect(await apdb.counts()).toEqual({ diaObjects: rounds, diaSources: 2 * rounds, diaForcedSources: 0, detectorVisits: 2 * rounds });
      const sources = await apdb.readTable('DiaSource');
      expect(new Set(sources.map((s: ApdbRow) => String(s.diaObjectId)))).toEqual(new Set(a.objectIds));
    });
  });
}
