/**
 * Reading a region's history as dax_apdb's ApdbSql does with its DiaObjectLast table: the current
 * DiaObjects whose pixelId lies in the region's (at most 64) HTM ranges and whose position is
 * really inside the polygon, then their DiaSources and DiaForcedSources by diaObjectId inside the
 * time windows.
 *
 * Given a history read earlier (`known`), the same history is read with less: the DiaObjects are
 * read again (their current versions change), but of the DiaSources and DiaForcedSources only
 * the keys are read, then the whole rows of the keys `known` lacks. A DiaSource or
 * DiaForcedSource row never changes once written, so a row of `known` with a key that is read
 * again is the row a full read would return; the keys decide which rows the history holds.
 */
import type { ApdbBackend, ApdbDb } from './backend.ts';
import type { ApdbConfig } from './config.ts';
import { T, type PhysicalTable } from './physical.ts';
import { polygonHas, regionPolygon, regionRanges } from './region.ts';
import { readColumns, selectRows } from './rows.ts';
import type { ApdbHistory, ApdbRegion, ApdbRow, ApdbValue } from './types.ts';

/** Ids per `IN (…)` list. */
const ID_CHUNK = 1000;
/** dax_apdb's month. */
const DAYS_PER_MONTH = 30;

type Windows = Pick<ApdbConfig, 'readSourcesMonths' | 'readForcedSourcesMonths'>;

/** A table of rows attached to DiaObjects: its key, and the order the history keeps. */
interface Attached {
  readonly table: PhysicalTable;
  readonly key: readonly string[];
  /** The key of a row, as a Map key. */
  keyOf(row: ApdbRow): unknown;
  compare(a: ApdbRow, b: ApdbRow): number;
}

const SOURCES: Attached = {
  table: T.diaSource,
  key: ['diaSourceId'],
  keyOf: (r) => r.diaSourceId,
  compare: (a, b) => cmp(a.diaSourceId, b.diaSourceId),
};

const FORCED: Attached = {
  table: T.diaForcedSource,
  key: ['diaObjectId', 'visit', 'detector'],
  keyOf: (r) => `${r.diaObjectId}:${r.visit}:${r.detector}`,
  compare: (a, b) => cmp(a.diaObjectId, b.diaObjectId) || cmp(a.visit, b.visit) || (a.detector as number) - (b.detector as number),
};

export async function readHistory(q: ApdbDb, backend: ApdbBackend, windows: Windows, region: ApdbRegion, visitMjdTai: number, known?: ApdbHistory): Promise<ApdbHistory> {
  const poly = regionPolygon(region);
  const ranges = regionRanges(region);
  const objectColumns = readColumns(T.diaObject, false);
  const query = q.selectFrom(`${backend.qualify(T.diaObjectLast.name)} as l`)
    .innerJoin(`${backend.qualify(T.diaObject.name)} as o`, (j) => j.onRef('o.diaObjectId', '=', 'l.diaObjectId').onRef('o.validityStartMjdTai', '=', 'l.validityStartMjdTai'))
    .select(objectColumns.map((c) => `o.${c}`))
    .where('o.validityEndMjdTai', 'is', null)
    .where((eb) => eb.or(ranges.map(([a, b]) => eb.and([eb('l.pixelId', '>=', BigInt(a)), eb('l.pixelId', '<', BigInt(b))]))))
    .orderBy('o.diaObjectId');
  const diaObjects = (await selectRows(q, backend, T.diaObject, objectColumns, query))
    .filter((o) => polygonHas(poly, o.ra as number, o.dec as number));
  // Ids are bigint, bound as they are by both drivers.
  const ids = diaObjects.map((o) => o.diaObjectId);
  const read = async (what: Attached, months: number, before: readonly ApdbRow[] | undefined): Promise<ApdbRow[]> => {
    if (months <= 0) return [];
    const after = visitMjdTai - DAYS_PER_MONTH * months;
    return before ? sameAs(q, backend, what, ids, after, before) : byObject(q, backend, what, ids, after, readColumns(what.table, false));
  };
  const diaSources = await read(SOURCES, windows.readSourcesMonths, known?.diaSources);
  const diaForcedSources = await read(FORCED, windows.readForcedSourcesMonths, known?.diaForcedSources);
  return { diaObjects, diaSources, diaForcedSources };
}

/** `columns` of the rows of the objects `ids` newer than `after`, in the history's order. */
async function byObject(q: ApdbDb, backend: ApdbBackend, what: Attached, ids: readonly ApdbValue[], after: number, columns: readonly string[]): Promise<ApdbRow[]> {
  const out: ApdbRow[] = [];
  for (let i = 0; i < ids.length; i += ID_CHUNK) {
    let query = q.selectFrom(backend.qualify(what.table.name)).select(columns)
      .where('diaObjectId', 'in', ids.slice(i, i + ID_CHUNK))
      .where('midpointMjdTai', '>', after);
    for (const c of what.key) query = query.orderBy(c);
    for (const r of await selectRows(q, backend, what.table, columns, query)) out.push(r);
  }
  if (ids.length > ID_CHUNK) out.sort(what.compare);
  return out;
}

/**
 * What byObject would return, reading only the keys and the rows `before` does not hold: a row
 * with the same key is the same row (rows of these tables are never changed).
 */
async function sameAs(q: ApdbDb, backend: ApdbBackend, what: Attached, ids: readonly ApdbValue[], after: number, before: readonly ApdbRow[]): Promise<ApdbRow[]> {
  const keys = await byObject(q, backend, what, ids, after, what.key);
  const rows = new Map<unknown, ApdbRow>();
  for (const r of before) rows.set(what.keyOf(r), r);
  const missing = keys.filter((k) => !rows.has(what.keyOf(k)));
  for (const r of await byKey(q, backend, what, missing)) rows.set(what.keyOf(r), r);
  return keys.map((k) => {
    const r = rows.get(what.keyOf(k));
    if (!r) throw new Error(`${what.table.name} ${what.key.map((c) => `${c} ${String(k[c])}`).join(', ')} disappeared while the history was read`);
    return r;
  });
}

/** The whole rows of the given keys (DiaForcedSource: perhaps more, for the caller to pick from). */
async function byKey(q: ApdbDb, backend: ApdbBackend, what: Attached, keys: readonly ApdbRow[]): Promise<ApdbRow[]> {
  if (keys.length === 0) return [];
  const columns = readColumns(what.table, false);
  const out: ApdbRow[] = [];
  if (what === SOURCES) {
    for (let i = 0; i < keys.length; i += ID_CHUNK) {
      const query = q.selectFrom(backend.qualify(what.table.name)).select(columns)
        .where('diaSourceId', 'in', keys.slice(i, i + ID_CHUNK).map((k) => k.diaSourceId));
      out.push(...await selectRows(q, backend, what.table, columns, query));
    }
    return out;
  }
  // New forced sources come from few detector-visits: by object within those visits.
  const visits = [...new Set(keys.map((k) => k.visit))];
  const objects = [...new Set(keys.map((k) => k.diaObjectId))];
  for (let v = 0; v < visits.length; v += ID_CHUNK) {
    for (let o = 0; o < objects.length; o += ID_CHUNK) {
      const query = q.selectFrom(backend.qualify(what.table.name)).select(columns)
        .where('visit', 'in', visits.slice(v, v + ID_CHUNK))
        .where('diaObjectId', 'in', objects.slice(o, o + ID_CHUNK));
      out.push(...await selectRows(q, backend, what.table, columns, query));
    }
  }
  return out;
}

function cmp(a: unknown, b: unknown): number {
  return (a as bigint) < (b as bigint) ? -1 : (a as bigint) > (b as bigint) ? 1 : 0;
}
