/**
 * One alert packet per new DiaSource of a detector-visit, from what association wrote to the
 * APDB and the history it read before (as ap_association's packageAlerts does):
 *
 * - diaSource: the new DiaSource;
 * - diaObject: the new version of its DiaObject written this visit (the current version from
 *   the history when this visit wrote none); null when the source has no DiaObject;
 * - prvDiaSources: the DiaObject's DiaSources from the history strictly earlier than this one
 *   (midpointMjdTai), oldest first: an array, possibly empty, when there is a DiaObject, null
 *   when there is none;
 * - prvDiaForcedSources: the same for its DiaForcedSources (history and this visit's; this
 *   visit's share the source's midpoint, so they never count as earlier);
 * - ssSource / mpc_orbits: the SSSource row of the DiaSource and the orbit of its designation,
 *   when given;
 * - cutouts from the caller.
 *
 * Rows become records through alertRecordFromRow (extra columns dropped, missing nullable ones
 * null), so a row that breaks the schema fails here, naming the field.
 */
import type { ApdbRow } from '../apdb/types.ts';
import { InvalidInputError } from '../core/errors.ts';
import { alertRecordFromRow, type AlertPacket, type AlertRecord } from './codec.ts';
import type { AlertRecordName } from './schema.ts';

export interface AlertCutouts {
  readonly science: Uint8Array;
  readonly template: Uint8Array;
  readonly difference: Uint8Array;
}

export interface AlertPacketsInput {
  /** This visit's new DiaSources, each with its diaObjectId (NULL or 0: no DiaObject). */
  readonly diaSources: readonly ApdbRow[];
  /** The APDB history read before this visit. */
  readonly history: {
    readonly diaObjects: readonly ApdbRow[];
    readonly diaSources: readonly ApdbRow[];
    readonly diaForcedSources: readonly ApdbRow[];
  };
  /** New versions of the DiaObjects this visit touched. */
  readonly diaObjects: readonly ApdbRow[];
  /** This visit's DiaForcedSources. */
  readonly diaForcedSources: readonly ApdbRow[];
  /** The FITS stamps of a DiaSource, or null when there are none. */
  readonly cutouts: (diaSourceId: bigint) => AlertCutouts | null;
  /** Scheduler reason and target of the visit (RTN-097), when known. */
  readonly observationReason?: string | null;
  readonly targetName?: string | null;
  /** SSSource rows of this visit's DiaSources (by diaSourceId). */
  readonly ssSources?: readonly ApdbRow[];
  /** mpc_orbits rows (by designation, matched to the SSSource's). */
  readonly mpcOrbits?: readonly ApdbRow[];
}

function idOf(row: ApdbRow, key: string, what: string): bigint {
  const v = row[key];
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  throw new InvalidInputError(`${what} has no ${key} (got ${v === undefined ? 'nothing' : String(v)})`);
}

/** The object id of a DiaSource, or null when it has none (NULL or 0). */
function objectIdOf(row: ApdbRow): bigint | null {
  const v = row.diaObjectId;
  if (v === null || v === undefined) return null;
  const id = typeof v === 'bigint' ? v : typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : null;
  if (id === null) throw new InvalidInputError(`DiaSource ${String(row.diaSourceId)} has diaObjectId ${String(v)}, not an integer`);
  return id === 0n ? null : id;
}

function mjd(row: ApdbRow, what: string): number {
  const v = row.midpointMjdTai;
  if (typeof v !== 'number' || Number.isNaN(v)) throw new InvalidInputError(`${what} has no midpointMjdTai (got ${String(v)})`);
  return v;
}

function validityStart(row: ApdbRow): number {
  const v = row.validityStartMjdTai;
  return typeof v === 'number' ? v : -Infinity;
}

interface Timed {
  readonly row: ApdbRow;
  readonly mjd: number;
  readonly id: bigint;
}

function byTimeThenId(a: Timed, b: Timed): number {
  return a.mjd - b.mjd || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** Rows grouped by diaObjectId, each group sorted oldest first, duplicates (same key) dropped. */
function groupByObject(rows: Iterable<ApdbRow>, idKey: (row: ApdbRow) => string, what: string): Map<bigint, Timed[]> {
  const out = new Map<bigint, Timed[]>();
  const seen = new Set<string>();
  for (const row of rows) {
    const obj = objectIdOf(row);
    if (obj === null) continue;
    const key = idKey(row);
    if (seen.has(key)) continue;
    seen.add(key);
    const t: Timed = { row, mjd: mjd(row, `${what} ${key}`), id: idOf(row, what === 'DiaSource' ? 'diaSourceId' : 'diaForcedSourceId', `${what} ${key}`) };
    const list = out.get(obj);
    if (list) list.push(t);
    else out.set(obj, [t]);
  }
  for (const list of out.values()) list.sort(byTimeThenId);
  return out;
}

/** Index of the first entry at or after `t` (entries sorted by mjd). */
function firstNotBefore(list: readonly Timed[], t: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid].mjd < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The packets of a detector-visit, one per new DiaSource, in the order of `diaSources`. */
export function buildAlertPackets(input: AlertPacketsInput): AlertPacket[] {
  // Records are shared between packets: a history row is converted once.
  const cache = new Map<ApdbRow, AlertRecord>();
  const record = (name: AlertRecordName, row: ApdbRow): AlertRecord => {
    let r = cache.get(row);
    if (!r) {
      r = alertRecordFromRow(name, row);
      cache.set(row, r);
    }
    return r;
  };

  const newObjects = new Map<bigint, ApdbRow>();
  for (const o of input.diaObjects) {
    const id = idOf(o, 'diaObjectId', 'DiaObject');
    const prev = newObjects.get(id);
    if (!prev || validityStart(o) >= validityStart(prev)) newObjects.set(id, o);
  }
  const oldObjects = new Map<bigint, ApdbRow>();
  for (const o of input.history.diaObjects) {
    const id = idOf(o, 'diaObjectId', 'DiaObject');
    const prev = oldObjects.get(id);
    const current = (r: ApdbRow): boolean => r.validityEndMjdTai === null || r.validityEndMjdTai === undefined;
    if (!prev || (current(o) && !current(prev)) || (current(o) === current(prev) && validityStart(o) >= validityStart(prev))) oldObjects.set(id, o);
  }

  const sourceKey = (r: ApdbRow): string => String(r.diaSourceId);
  const forcedKey = (r: ApdbRow): string => `${String(r.diaObjectId)}/${String(r.visit)}/${String(r.detector)}`;
  const prvSources = groupByObject(input.history.diaSources, sourceKey, 'DiaSource');
  const prvForced = groupByObject([...input.history.diaForcedSources, ...input.diaForcedSources], forcedKey, 'DiaForcedSource');

  const ssByDiaSource = new Map<bigint, ApdbRow>();
  for (const s of input.ssSources ?? []) ssByDiaSource.set(idOf(s, 'diaSourceId', 'SSSource'), s);
  const orbitByDesignation = new Map<string, ApdbRow>();
  for (const o of input.mpcOrbits ?? []) if (typeof o.designation === 'string') orbitByDesignation.set(o.designation, o);

  const reason = input.observationReason ?? null;
  const target = input.targetName ?? null;
  const packets: AlertPacket[] = [];
  for (const src of input.diaSources) {
    const id = idOf(src, 'diaSourceId', 'DiaSource');
    const diaSource = record('diaSource', src);
    const objectId = objectIdOf(src);
    let diaObject: AlertRecord | null = null;
    let prvDiaSources: AlertRecord[] | null = null;
    let prvDiaForcedSources: AlertRecord[] | null = null;
    if (objectId !== null) {
      const obj = newObjects.get(objectId) ?? oldObjects.get(objectId);
      if (!obj) throw new InvalidInputError(`DiaSource ${id} belongs to DiaObject ${objectId}, which is neither among this visit's DiaObjects nor in the history`);
      diaObject = record('diaObject', obj);
      const t = mjd(src, `DiaSource ${id}`);
      const earlier = (list: readonly Timed[] | undefined): Timed[] => (list ? list.slice(0, firstNotBefore(list, t)) : []);
      prvDiaSources = earlier(prvSources.get(objectId))
        .filter((s) => s.id !== id)
        .map((s) => record('diaSource', s.row));
      prvDiaForcedSources = earlier(prvForced.get(objectId)).map((s) => record('diaForcedSource', s.row));
    }
    const ss = ssByDiaSource.get(id);
    const ssSource = ss ? record('ssSource', ss) : null;
    const orbit = ss && typeof ss.designation === 'string' ? orbitByDesignation.get(ss.designation) : undefined;
    const cut = input.cutouts(id);
    packets.push({
      diaSourceId: id,
      observation_reason: reason,
      target_name: target,
      diaSource,
      prvDiaSources,
      prvDiaForcedSources,
      diaObject,
      ssSource,
      mpc_orbits: orbit ? record('mpc_orbits', orbit) : null,
      cutoutDifference: cut?.difference ?? null,
      cutoutScience: cut?.science ?? null,
      cutoutTemplate: cut?.template ?? null,
    });
  }
  return packets;
}
