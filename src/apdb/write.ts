/**
 * Writing one detector-visit's rows inside its transaction, and inserts of many rows: the
 * backend's bulkInsert where it has one (PostgreSQL: one array per column), else chunked
 * multi-row inserts (a statement carries at most the backend's bind-parameter limit).
 */
import { sql } from 'kysely';
import { InvalidInputError } from '../core/errors.ts';
import type { ApdbBackend, ApdbDb, OnConflict } from './backend.ts';
import { T, type PhysicalTable } from './physical.ts';
import { prepareRows } from './rows.ts';
import type { ApdbRow, ApdbValue, DetectorVisitKey, DetectorVisitRows } from './types.ts';

type Encoded = Record<string, ApdbValue>;
export type { OnConflict } from './backend.ts';

/** Inserts encoded rows: bulkInsert, or statements of at most maxParameters parameters. */
export async function insertChunked(q: ApdbDb, backend: ApdbBackend, table: PhysicalTable, rows: readonly Encoded[], onConflict: OnConflict): Promise<void> {
  if (backend.bulkInsert) return backend.bulkInsert(q, table, rows, onConflict);
  const per = Math.max(1, Math.floor(backend.maxParameters / table.columns.length));
  const pk = table.spec.primaryKey;
  const rest = table.columns.map((c) => c.name).filter((c) => !pk.includes(c));
  for (let i = 0; i < rows.length; i += per) {
    const insert = q.insertInto(backend.qualify(table.name)).values(rows.slice(i, i + per));
    if (onConflict === 'error' || pk.length === 0) {
      await insert.execute();
    } else if (onConflict === 'nothing') {
      await insert.onConflict((oc) => oc.columns(pk).doNothing()).execute();
    } else {
      await insert.onConflict((oc) => oc.columns(pk).doUpdateSet(
        Object.fromEntries(rest.map((c) => [c, sql<ApdbValue>`excluded.${sql.id(c)}`])),
      )).execute();
    }
  }
}

/** Fills visit/detector from the key where absent; refuses rows of another detector-visit. */
function ofKey(rows: readonly ApdbRow[], key: DetectorVisitKey, what: string): ApdbRow[] {
  return rows.map((r, i) => {
    if (r === null || typeof r !== 'object') throw new InvalidInputError(`${what} row ${i} is not an object`);
    const visit = r.visit ?? key.visit;
    const detector = r.detector ?? key.detector;
    const sameVisit = typeof visit === 'bigint' ? visit === key.visit : typeof visit === 'number' && Number.isSafeInteger(visit) && BigInt(visit) === key.visit;
    const sameDetector = typeof detector === 'bigint' ? detector === BigInt(key.detector) : detector === key.detector;
    if (!sameVisit || !sameDetector) {
      throw new InvalidInputError(`${what} row ${i} is of visit ${String(visit)}, detector ${String(detector)}, not of the detector-visit being stored (visit ${key.visit}, detector ${key.detector})`);
    }
    return { ...r, visit, detector };
  });
}

function checkShape(rows: DetectorVisitRows): void {
  if (rows === null || typeof rows !== 'object' || typeof (rows as unknown as { then?: unknown }).then === 'function') {
    throw new InvalidInputError('the plan must return the detector-visit\'s rows (synchronously): { diaSources, diaObjects, diaForcedSources, processingSummary }');
  }
  for (const k of ['diaSources', 'diaObjects', 'diaForcedSources'] as const) {
    if (!Array.isArray(rows[k])) throw new InvalidInputError(`the plan's ${k} must be an array`);
  }
  if (rows.processingSummary === null || typeof rows.processingSummary !== 'object') {
    throw new InvalidInputError('the plan\'s processingSummary must be a DetectorVisitProcessingSummary row');
  }
}

/**
 * Writes what the plan returned: DiaSources; for each DiaObject, closes its current version,
 * inserts the new one and replaces its DiaObjectLast row; DiaForcedSources; the summary row.
 */
export async function writeDetectorVisit(q: ApdbDb, backend: ApdbBackend, key: DetectorVisitKey, rows: DetectorVisitRows): Promise<void> {
  checkShape(rows);
  // Every row is checked before anything is written.
  const sources = prepareRows(backend, T.diaSource, ofKey(rows.diaSources, key, 'DiaSource'), 'DiaSource');
  const forced = prepareRows(backend, T.diaForcedSource, ofKey(rows.diaForcedSources, key, 'DiaForcedSource'), 'DiaForcedSource');
  const summary = prepareRows(backend, T.summary, ofKey([rows.processingSummary], key, 'DetectorVisitProcessingSummary'), 'DetectorVisitProcessingSummary');
  rows.diaObjects.forEach((o, i) => {
    if (o?.validityEndMjdTai !== null && o?.validityEndMjdTai !== undefined) {
      throw new InvalidInputError(`DiaObject row ${i}: a new version must have no validityEndMjdTai (the APDB closes the previous version)`);
    }
  });
  const objects = prepareRows(backend, T.diaObject, rows.diaObjects, 'DiaObject');
  const seen = new Set<string>();
  for (const o of objects) {
    const id = String(o.diaObjectId);
    if (seen.has(id)) throw new InvalidInputError(`DiaObject ${id} appears twice among the new versions of one detector-visit`);
    seen.add(id);
  }

  await insertChunked(q, backend, T.diaSource, sources, 'nothing');
  await writeDiaObjects(q, backend, objects);
  await insertChunked(q, backend, T.diaForcedSource, forced, 'nothing');
  await insertChunked(q, backend, T.summary, summary, 'error');
}

/** Ids per UPDATE … WHERE diaObjectId IN (…). */
const ID_CHUNK = 1000;

async function writeDiaObjects(q: ApdbDb, backend: ApdbBackend, objects: readonly Encoded[]): Promise<void> {
  if (objects.length === 0) return;
  // Close the current versions, grouped by the new versions' start. As in dax_apdb the last
  // write wins: even a current version that starts later (a visit stored late) is closed.
  const byStart = new Map<ApdbValue, ApdbValue[]>();
  for (const o of objects) {
    const list = byStart.get(o.validityStartMjdTai) ?? [];
    list.push(o.diaObjectId);
    byStart.set(o.validityStartMjdTai, list);
  }
  for (const [start, ids] of byStart) {
    for (let i = 0; i < ids.length; i += ID_CHUNK) {
      await q.updateTable(backend.qualify(T.diaObject.name))
        .set({ validityEndMjdTai: start })
        .where('diaObjectId', 'in', ids.slice(i, i + ID_CHUNK))
        .where('validityEndMjdTai', 'is', null)
        .where('validityStartMjdTai', '<>', start)
        .execute();
    }
  }
  // A version with the same start (another detector of the same visit) is replaced.
  await insertChunked(q, backend, T.diaObject, objects, 'update');
  const last = objects.map((o) => Object.fromEntries(T.diaObjectLast.columns.map((c) => [c.name, o[c.name]])));
  await insertChunked(q, backend, T.diaObjectLast, last, 'update');
}
