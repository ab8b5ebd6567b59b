/**
 * Validity times. Stored as fixed-width ISO 8601 UTC strings with microseconds,
 * `YYYY-MM-DDTHH:MM:SS.ffffffZ`, so that text order is time order in every backend; null is
 * unbounded.
 */
import { InvalidInputError } from '../core/errors.ts';
import type { Timespan } from './types.ts';

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * One instant in the stored form. Accepts ISO 8601 dates and date-times, with a `Z` or `±HH:MM`
 * offset; a time without offset is taken as UTC. Fractions beyond microseconds are truncated.
 */
export function normaliseTime(iso: string, what = 'time'): string {
  const m = typeof iso === 'string' ? ISO.exec(iso.trim()) : null;
  if (!m) throw new InvalidInputError(`${what} must be an ISO 8601 time such as 2026-11-27T03:00:00Z, got ${JSON.stringify(iso)}`);
  const [, y, mo, d, h = '00', mi = '00', s = '00', frac = '', zone = 'Z'] = m;
  const micros = Number((frac + '000000').slice(0, 6));
  let ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  const check = new Date(ms);
  if (check.getUTCFullYear() !== Number(y) || check.getUTCMonth() !== Number(mo) - 1 || check.getUTCDate() !== Number(d)
    || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) {
    throw new InvalidInputError(`${what} is not a valid date and time: ${JSON.stringify(iso)}`);
  }
  if (zone.toUpperCase() !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    ms -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4))) * 60_000;
  }
  const t = new Date(ms);
  const year = t.getUTCFullYear();
  if (year < 0 || year > 9999) throw new InvalidInputError(`${what} is out of range: ${JSON.stringify(iso)}`);
  return `${t.toISOString().slice(0, 19)}.${String(micros).padStart(6, '0')}Z`;
}

export interface StoredTimespan {
  readonly begin: string | null;
  readonly end: string | null;
}

/** Normalises both ends; an empty or reversed span is refused. */
export function normaliseTimespan(t: Timespan): StoredTimespan {
  if (t === null || typeof t !== 'object') throw new InvalidInputError('validity must be { begin, end }');
  const begin = t.begin === null || t.begin === undefined ? null : normaliseTime(t.begin, 'validity begin');
  const end = t.end === null || t.end === undefined ? null : normaliseTime(t.end, 'validity end');
  if (begin !== null && end !== null && begin >= end) {
    throw new InvalidInputError(`validity [${begin}, ${end}) is empty: begin must come before end`);
  }
  return { begin, end };
}

/** Whether two half-open spans share an instant. */
export function overlaps(a: StoredTimespan, b: StoredTimespan): boolean {
  const aBeforeBEnd = a.begin === null || b.end === null || a.begin < b.end;
  const bBeforeAEnd = b.begin === null || a.end === null || b.begin < a.end;
  return aBeforeBEnd && bBeforeAEnd;
}

export function contains(span: StoredTimespan, time: string): boolean {
  return (span.begin === null || span.begin <= time) && (span.end === null || time < span.end);
}

export function formatTimespan(t: StoredTimespan): string {
  return `[${t.begin ?? '-∞'}, ${t.end ?? '+∞'})`;
}
