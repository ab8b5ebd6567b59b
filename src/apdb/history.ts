/**
 * Reading a region's history as dax_apdb's ApdbSql does with its DiaObjectLast table: the current
 * DiaObjects whose pixelId lies in the region's (at most 64) HTM ranges and whose position is
 * really inside the polygon, then their DiaSources and DiaForcedSources by diaObjectId inside the
 * time windows.
 */
import type { ApdbBackend, ApdbDb } from './backend.ts';
import type { ApdbConfig } from './config.ts';
import { T } from './physical.ts';
import { polygonHas, regionPolygon, regionRanges } from './region.ts';
import { readColumns, rowDecoder } from './rows.ts';
import type { ApdbHistory, ApdbRegion, ApdbRow, ApdbValue } from './types.ts';

/** Ids per `IN (…)` list. */
const ID_CHUNK = 1000;
/** dax_apdb's month. */
const DAYS_PER_MONTH = 30;

type Windows = Pick<ApdbConfig, 'readSourcesMonths' | 'readForcedSourcesMonths'>;

export async function readHistory(q: ApdbDb, backend: ApdbBackend, windows: Windows, region: ApdbRegion, visitMjdTai: number): Promise<ApdbHistory> {
  const poly = regionPolygon(region);
  const ranges = regionRanges(region);
  const raw = await q.selectFrom(`${backend.qualify(T.diaObjectLast.name)} as l`)
    .innerJoin(`${backend.qualify(T.diaObject.name)} as o`, (j) => j.onRef('o.diaObjectId', '=', 'l.diaObjectId').onRef('o.validityStartMjdTai', '=', 'l.validityStartMjdTai'))
    .select(readColumns(T.diaObject, false).map((c) => `o.${c}`))
    .where('o.validityEndMjdTai', 'is', null)
    .where((eb) => eb.or(ranges.map(([a, b]) => eb.and([eb('l.pixelId', '>=', BigInt(a)), eb('l.pixelId', '<', BigInt(b))]))))
    .orderBy('o.diaObjectId')
    .execute();
  const decode = rowDecoder(backend, T.diaObject, false);
  const diaObjects = raw
    .map(decode)
    .filter((o) => polygonHas(poly, o.ra as number, o.dec as number));
  // Ids are bigint, bound as they are by both drivers.
  const ids = diaObjects.map((o) => o.diaObjectId);
  const diaSources = windows.readSourcesMonths > 0
    ? await byObject(q, backend, 'diaSource', ids, visitMjdTai - DAYS_PER_MONTH * windows.readSourcesMonths)
    : [];
  const diaForcedSources = windows.readForcedSourcesMonths > 0
    ? await byObject(q, backend, 'diaForcedSource', ids, visitMjdTai - DAYS_PER_MONTH * windows.readForcedSourcesMonths)
    : [];
  return { diaObjects, diaSources, diaForcedSources };
}

async function byObject(q: ApdbDb, backend: ApdbBackend, which: 'diaSource' | 'diaForcedSource', ids: readonly ApdbValue[], after: number): Promise<ApdbRow[]> {
  const table = T[which];
  const order = which === 'diaSource' ? ['diaSourceId'] : ['diaObjectId', 'visit', 'detector'];
  const decode = rowDecoder(backend, table, false);
  const out: ApdbRow[] = [];
  for (let i = 0; i < ids.length; i += ID_CHUNK) {
    const chunk = ids.slice(i, i + ID_CHUNK);
    let query = q.selectFrom(backend.qualify(table.name)).select(readColumns(table, false))
      .where('diaObjectId', 'in', chunk)
      .where('midpointMjdTai', '>', after);
    for (const c of order) query = query.orderBy(c);
    for (const r of await query.execute()) out.push(decode(r));
  }
  if (ids.length > ID_CHUNK) out.sort(which === 'diaSource' ? bySourceId : byForcedKey);
  return out;
}

function cmp(a: unknown, b: unknown): number {
  return (a as bigint) < (b as bigint) ? -1 : (a as bigint) > (b as bigint) ? 1 : 0;
}

function bySourceId(a: ApdbRow, b: ApdbRow): number {
  return cmp(a.diaSourceId, b.diaSourceId);
}

function byForcedKey(a: ApdbRow, b: ApdbRow): number {
  return cmp(a.diaObjectId, b.diaObjectId) || cmp(a.visit, b.visit) || (a.detector as number) - (b.detector as number);
}
