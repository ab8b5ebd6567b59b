/**
 * The APDB on PostgreSQL, at the scale of one detector footprint: after 100 visits of 100
 * DiaSources each (every DiaObject updated by every visit, so 10 000 DiaSources and 10 000
 * DiaObject versions), the time to read the footprint's history and to store one more
 * detector-visit (history inside its transaction, 100 DiaSources, 100 DiaObject updates) —
 * given the history preloaded before the visit (as the activator does), given a preload one
 * visit old (a visit stored in between), and with no preload (the whole history read again) —
 * each against the same work done by plain SQL without the APDB's logic, in the same run.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import pg from 'pg';
import { openApdb, parseApdbConfig, diaSourceTable, type Apdb, type ApdbHistory, type ApdbRow, type DetectorVisitKey, type DetectorVisitRows } from '../src/apdb/index.ts';
import { boxRegion, fullRow, objectRow, summaryRow } from '../src/apdb/testing/rows.ts';
import { ratio } from './lib.ts';

const HOST = '127.0.0.1';
const PORT = 5432;
const URL_ = `postgresql://postgres@${HOST}:${PORT}/test`;
/** An LSSTCam detector: 4k × 4k pixels of 0.2 arcsec, about 0.23° on a side. */
const FOOTPRINT = { ra: 53.1, dec: -27.8, half: 0.114 };
const OBJECTS = 100;
const FILL_VISITS = 100;
const REPS = 7;
const TARGET_MS = 100;

function answers(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: HOST, port: PORT });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** A seeded uniform generator (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rnd = random(7);
const positions = Array.from({ length: OBJECTS }, () => [
  FOOTPRINT.ra + (rnd() * 2 - 1) * FOOTPRINT.half * 0.95,
  FOOTPRINT.dec + (rnd() * 2 - 1) * FOOTPRINT.half * 0.95,
] as const);
const region = boxRegion(FOOTPRINT.ra, FOOTPRINT.dec, FOOTPRINT.half);

/** Full DiaSources (every column set) of one visit, one per object. */
function visitSources(key: DetectorVisitKey, mjd: number): ApdbRow[] {
  return positions.map(([ra, dec], i) => fullRow(diaSourceTable, i, {
    diaSourceId: key.visit * 1000n + BigInt(i), visit: key.visit, detector: key.detector, diaObjectId: BigInt(i + 1),
    midpointMjdTai: mjd, ra, dec, ssObjectId: null, parentDiaSourceId: null, timeWithdrawnMjdTai: null,
  }));
}

/** The visit's plan: every object gets its source and a new version. */
function plan(key: DetectorVisitKey, mjd: number): (h: ApdbHistory) => DetectorVisitRows {
  return (h) => {
    const known = new Map(h.diaObjects.map((o) => [o.diaObjectId as bigint, o]));
    return {
      diaSources: visitSources(key, mjd),
      diaObjects: positions.map(([ra, dec], i) => {
        const prev = known.get(BigInt(i + 1));
        const n = prev ? (prev.nDiaSources as number) + 1 : 1;
        return { ...objectRow(BigInt(i + 1), ra, dec, mjd, n), firstDiaSourceMjdTai: prev ? prev.firstDiaSourceMjdTai : mjd };
      }),
      diaForcedSources: [],
      processingSummary: summaryRow(key),
    };
  };
}

async function medianMs(reps: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  await fn(-1);
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn(i);
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  return t[Math.floor(t.length / 2)];
}

const DETECTOR = 42;
const mjdOf = (visit: number): number => 60_000 + visit * 0.25;

async function store(apdb: Apdb, visit: number, known?: ApdbHistory): Promise<void> {
  const key = { visit: BigInt(visit), detector: DETECTOR };
  const r = await apdb.storeDetectorVisit(key, region, mjdOf(visit), plan(key, mjdOf(visit)), known);
  if (!r.stored) throw new Error(`visit ${visit} was not stored: ${r.reason}`);
}

/** Median milliseconds of `fn`, each run after an untimed `prepare`, after one warm-up. */
async function medianAfterMs<T>(reps: number, prepare: () => Promise<T>, fn: (prepared: T) => Promise<unknown>): Promise<number> {
  await fn(await prepare());
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const prepared = await prepare();
    const t0 = performance.now();
    await fn(prepared);
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  return t[Math.floor(t.length / 2)];
}

/** The same 100 DiaSources as one plain multi-row INSERT, and the same history as plain SELECTs. */
async function baselines(client: pg.Client, ns: string, visit: number): Promise<{ insertMs: number; selectMs: number; selectOneMs: number }> {
  const cols = Object.keys(visitSources({ visit: 1n, detector: DETECTOR }, 1)[0]);
  await client.query(`create table "${ns}".plain_source (like "${ns}"."DiaSource" including defaults)`);
  await client.query(`alter table "${ns}".plain_source drop column "pixelId"`);
  const insertMs = await medianMs(REPS, async (i) => {
    const rows = visitSources({ visit: BigInt(1_000_000 + i + 1), detector: DETECTOR }, mjdOf(visit));
    const params: unknown[] = [];
    const tuples = rows.map((r) => `(${cols.map((c) => `$${params.push(r[c] === undefined ? null : r[c])}`).join(', ')})`);
    await client.query(`insert into "${ns}".plain_source (${cols.map((c) => `"${c}"`).join(', ')}) values ${tuples.join(', ')}`, params);
  });
  const selectMs = await medianMs(REPS, async () => {
    const objects = await client.query(`select o.* from "${ns}"."DiaObjectLast" l join "${ns}"."DiaObject" o using ("diaObjectId", "validityStartMjdTai") where o."validityEndMjdTai" is null`);
    const ids = objects.rows.map((o: { diaObjectId: string }) => o.diaObjectId);
    await client.query(`select * from "${ns}"."DiaSource" where "diaObjectId" = any($1::bigint[]) and "midpointMjdTai" > $2`, [ids, mjdOf(visit) - 360]);
  });
  const selectOneMs = await medianMs(REPS * 3, () => client.query('select 1'));
  return { insertMs, selectMs, selectOneMs };
}

export async function runApdbBench(log: (line: string) => void): Promise<Record<string, number | string>> {
  if (!(await answers())) {
    log(`apdb: skipped — no PostgreSQL server answers at ${HOST}:${PORT}`);
    return { skipped: `no PostgreSQL server at ${HOST}:${PORT}` };
  }
  const namespace = `bench_apdb_${randomBytes(4).toString('hex')}`;
  const apdb = await openApdb(parseApdbConfig([`db_url=${URL_}`, `namespace=${namespace}`]));
  const client = new pg.Client({ connectionString: URL_ });
  await client.connect();
  try {
    await apdb.create();
    const t0 = performance.now();
    for (let v = 1; v <= FILL_VISITS; v++) await store(apdb, v);
    const fillS = (performance.now() - t0) / 1000;
    await client.query(`analyze "${namespace}"."DiaObject"; analyze "${namespace}"."DiaObjectLast"; analyze "${namespace}"."DiaSource"`);

    const after = FILL_VISITS + 1;
    let sizes = { diaObjects: 0, diaSources: 0 };
    const historyMs = await medianMs(REPS, async () => {
      const h = await apdb.history(region, mjdOf(after));
      sizes = { diaObjects: h.diaObjects.length, diaSources: h.diaSources.length };
    });
    const base = await baselines(client, namespace, after);
    let next = after;
    // The history preloaded before the visit (while its snaps are exposed), not timed.
    const storeMs = await medianAfterMs(REPS, () => apdb.history(region, mjdOf(next)), (known) => store(apdb, next++, known));
    // A preload one visit old: the visit stored in between adds 100 DiaSources it lacks.
    const staleStoreMs = await medianAfterMs(REPS, async () => {
      const known = await apdb.history(region, mjdOf(next));
      await store(apdb, next++, known);
      return known;
    }, (known) => store(apdb, next++, known));
    const fullStoreMs = await medianMs(REPS, () => store(apdb, next++));
    const counts = await apdb.counts();

    log(`apdb: PostgreSQL ${URL_}, one detector footprint (${(2 * FOOTPRINT.half).toFixed(2)}° square), ${OBJECTS} DiaObjects`);
    log(`  fill: ${FILL_VISITS} visits x ${OBJECTS} DiaSources (+ ${OBJECTS} DiaObject updates each) in ${fillS.toFixed(1)} s`);
    log(`  then: ${counts.diaSources} DiaSources, ${counts.diaObjects} current DiaObjects; history returns ${sizes.diaObjects} DiaObjects, ${sizes.diaSources} DiaSources`);
    const met = (x: number): string => `target < ${TARGET_MS} ms: ${x < TARGET_MS ? 'met' : 'NOT met'}`;
    log(`  storeDetectorVisit (history + 100 DiaSources + 100 DiaObject updates), given the preloaded history: median ${storeMs.toFixed(1)} ms (${met(storeMs)})`);
    log(`    given a preload one visit old (100 DiaSources to read):                                      median ${staleStoreMs.toFixed(1)} ms`);
    log(`    with no preload (the whole history read in the transaction):                                 median ${fullStoreMs.toFixed(1)} ms`);
    log(`  history() of the footprint:                                                                    median ${historyMs.toFixed(1)} ms (${met(historyMs)})`);
    log(`  baselines: SELECT 1 ${base.selectOneMs.toFixed(2)} ms; plain INSERT of the 100 DiaSources ${base.insertMs.toFixed(1)} ms; plain SELECT of the same history ${base.selectMs.toFixed(1)} ms`);
    log(`  ratios: history / plain SELECT ${ratio(historyMs, base.selectMs)}; store given the preload / (plain history SELECT + plain INSERT) ${ratio(storeMs, base.selectMs + base.insertMs)}, / plain INSERT ${ratio(storeMs, base.insertMs)}; store with no preload / (plain history SELECT + plain INSERT) ${ratio(fullStoreMs, base.selectMs + base.insertMs)}`);
    const ms = (x: number): number => Number(x.toFixed(1));
    return {
      historyDiaSources: sizes.diaSources,
      storeMs: ms(storeMs),
      staleStoreMs: ms(staleStoreMs),
      fullStoreMs: ms(fullStoreMs),
      historyMs: ms(historyMs),
      plainHistorySelectMs: ms(base.selectMs),
      plainInsertMs: ms(base.insertMs),
      historyVsPlainSelect: Number((historyMs / base.selectMs).toFixed(2)),
      storeVsPlainSelectAndInsert: Number((storeMs / (base.selectMs + base.insertMs)).toFixed(2)),
      storeVsPlainInsert: Number((storeMs / base.insertMs).toFixed(2)),
      fullStoreVsPlainSelectAndInsert: Number((fullStoreMs / (base.selectMs + base.insertMs)).toFixed(2)),
      targetMs: TARGET_MS,
    };
  } finally {
    await client.query(`drop schema if exists "${namespace}" cascade`).catch(() => {});
    await client.end();
    await apdb.close();
  }
}
