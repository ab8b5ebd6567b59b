/**
 * Dimension values: their kinds, validation, the canonical data ID key, and the keys of
 * dimension records. Pure functions shared by every backend.
 */
import { InvalidInputError } from '../core/errors.ts';
import { DIMENSIONS, type DataId, type DataIdValue, type Dimension } from './types.ts';

const NUMERIC: ReadonlySet<Dimension> = new Set<Dimension>(['detector', 'day_obs', 'exposure', 'visit', 'tract', 'patch', 'htm7']);
const DIMENSION_SET: ReadonlySet<string> = new Set<string>(DIMENSIONS);
const ORDER: ReadonlyMap<Dimension, number> = new Map(DIMENSIONS.map((d, i) => [d, i]));

/** HTM level 7 trixel ids run from 8·4⁷ to 16·4⁷ − 1. */
const HTM7_MIN = 8 * 4 ** 7;
const HTM7_MAX = 16 * 4 ** 7 - 1;

/**
 * The dimensions that identify one record of each element: a detector is known by instrument
 * and detector number, a patch by skymap, tract and patch.
 */
export const RECORD_KEYS: Readonly<Record<Dimension, readonly Dimension[]>> = {
  instrument: ['instrument'],
  detector: ['instrument', 'detector'],
  physical_filter: ['instrument', 'physical_filter'],
  band: ['band'],
  day_obs: ['instrument', 'day_obs'],
  group: ['instrument', 'group'],
  exposure: ['instrument', 'exposure'],
  visit: ['instrument', 'visit'],
  skymap: ['skymap'],
  tract: ['skymap', 'tract'],
  patch: ['skymap', 'tract', 'patch'],
  htm7: ['htm7'],
};

export function isDimension(name: string): name is Dimension {
  return DIMENSION_SET.has(name);
}

export function isNumericDimension(d: Dimension): boolean {
  return NUMERIC.has(d);
}

export function assertDimension(name: string, what = 'dimension'): Dimension {
  if (!isDimension(name)) throw new InvalidInputError(`unknown ${what} '${name}' (known: ${DIMENSIONS.join(', ')})`);
  return name;
}

/** Checks one value against its dimension's kind; returns it unchanged. */
export function checkDimensionValue(d: Dimension, v: unknown): DataIdValue {
  if (NUMERIC.has(d)) {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw new InvalidInputError(`${d} must be a non-negative integer, got ${describe(v)}`);
    }
    if (d === 'day_obs' && !isDayObs(v)) throw new InvalidInputError(`day_obs must be a date as YYYYMMDD, got ${v}`);
    if (d === 'htm7' && (v < HTM7_MIN || v > HTM7_MAX)) {
      throw new InvalidInputError(`htm7 must be a level-7 trixel id in [${HTM7_MIN}, ${HTM7_MAX}], got ${v}`);
    }
    return v;
  }
  if (typeof v !== 'string' || v === '') throw new InvalidInputError(`${d} must be a non-empty string, got ${describe(v)}`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(v)) throw new InvalidInputError(`${d} must not contain control characters, got ${JSON.stringify(v)}`);
  if (d === 'group' && !/^\d{13}$/.test(v)) throw new InvalidInputError(`group must be a 13-digit string, got ${JSON.stringify(v)}`);
  return v;
}

function isDayObs(v: number): boolean {
  const y = Math.floor(v / 10000);
  const m = Math.floor(v / 100) % 100;
  const day = v % 100;
  return y >= 1000 && y <= 9999 && m >= 1 && m <= 12 && day >= 1 && day <= 31;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === undefined) return 'nothing';
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return `${typeof v === 'number' ? 'number ' : ''}${String(v)}`;
  return typeof v;
}

/** The dimensions in canonical order, checked: known, no repeats. */
export function canonicalDimensions(dims: readonly string[], what: string): Dimension[] {
  const seen = new Set<string>();
  for (const d of dims) {
    assertDimension(d, `dimension in ${what}`);
    if (seen.has(d)) throw new InvalidInputError(`dimension '${d}' appears twice in ${what}`);
    seen.add(d);
  }
  return DIMENSIONS.filter((d) => seen.has(d));
}

/**
 * Checks that a data ID holds exactly `dims` (or at least `dims` when `allowExtra`), with values
 * of the right kinds. The message names the missing and the extra keys.
 */
export function checkDataId(dims: readonly Dimension[], dataId: DataId, what: string, allowExtra = false): void {
  if (dataId === null || typeof dataId !== 'object' || Array.isArray(dataId)) {
    throw new InvalidInputError(`data ID of ${what} must be an object`);
  }
  const keys = Object.keys(dataId).filter((k) => (dataId as Record<string, unknown>)[k] !== undefined);
  const missing = dims.filter((d) => !keys.includes(d));
  const extra = allowExtra ? [] : keys.filter((k) => !dims.includes(k as Dimension));
  if (missing.length > 0 || extra.length > 0) {
    const parts: string[] = [];
    if (missing.length > 0) parts.push(`missing ${missing.join(', ')}`);
    if (extra.length > 0) parts.push(`extra ${extra.join(', ')}`);
    throw new InvalidInputError(`data ID ${JSON.stringify(dataId)} of ${what} does not match its dimensions [${dims.join(', ')}]: ${parts.join('; ')}`);
  }
  for (const k of keys) {
    if (!isDimension(k)) {
      if (allowExtra) continue;
      throw new InvalidInputError(`unknown dimension '${k}' in the data ID of ${what}`);
    }
    try {
      checkDimensionValue(k, dataId[k]);
    } catch (e) {
      if (!dims.includes(k) && allowExtra) continue;
      throw new InvalidInputError(`data ID of ${what}: ${(e as Error).message}`);
    }
  }
}

/**
 * The canonical string of a data ID over a dataset type's dimensions: `dim=value` pairs in
 * DIMENSIONS order whatever the order given, values JSON-encoded (strings quoted), joined by
 * commas. Keys of the data ID outside `datasetTypeDims` are ignored; a missing one is an error.
 */
export function dataIdKey(datasetTypeDims: readonly Dimension[], dataId: DataId): string {
  const dims = [...datasetTypeDims].sort((a, b) => (ORDER.get(a) ?? 0) - (ORDER.get(b) ?? 0));
  const parts: string[] = [];
  for (const d of dims) {
    if (!ORDER.has(d)) throw new InvalidInputError(`unknown dimension '${String(d)}'`);
    const v = dataId[d];
    if (v === undefined) throw new InvalidInputError(`data ID ${JSON.stringify(dataId)} lacks ${d}`);
    parts.push(`${d}=${JSON.stringify(checkDimensionValue(d, v))}`);
  }
  return parts.join(',');
}

/** The data ID restricted to `dims`, keys in canonical order. */
export function projectDataId(dims: readonly Dimension[], dataId: DataId): DataId {
  const out: Partial<Record<Dimension, DataIdValue>> = {};
  for (const d of DIMENSIONS) {
    if (dims.includes(d) && dataId[d] !== undefined) out[d] = dataId[d];
  }
  return out;
}

/** Orders data IDs dimension by dimension (numbers numerically), absent values first. */
export function compareDataIds(a: DataId, b: DataId): number {
  for (const d of DIMENSIONS) {
    const x = a[d];
    const y = b[d];
    if (x === y) continue;
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    return String(x) < String(y) ? -1 : 1;
  }
  return 0;
}

/** Checks a `where` value (one value or a list) against its dimension's kind. */
export function checkWhereValue(d: Dimension, v: DataIdValue | readonly DataIdValue[]): DataIdValue[] {
  const list = Array.isArray(v) ? (v as readonly DataIdValue[]) : [v as DataIdValue];
  return list.map((x) => {
    try {
      return checkDimensionValue(d, x);
    } catch (e) {
      throw new InvalidInputError(`where ${d}: ${(e as Error).message}`);
    }
  });
}
