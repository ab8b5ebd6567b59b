/**
 * 64-bit DiaSource ids, unique across visits and detectors, exact as BigInt:
 *
 *   diaSourceId = ((dayIndex · 100000 + seq) · 1000 + detector) · 1000000 + row
 *
 * where the visit id is YYYYMMDD · 100000 + seq (instruments/keys.ts: the exposure id of snap 0
 * of the group, seq < 100000) and dayIndex is the number of days from 2000-01-01 to YYYY-MM-DD
 * (UTC calendar). Read in decimal, an id is `<dayIndex><seq:5><detector:3><row:6>`.
 *
 * Why not visit · 10^7 + detector · 10^4 + row: a visit id has 13 digits (~2·10^13), so that
 * overflows 2^63 ≈ 9.22·10^18 by a factor of 20. Replacing the 8-digit date by a day count
 * saves three decimal digits. Limits: detector 0..999, row 0..999 999 per detector-visit, and
 * dayIndex · 100000 + seq ≤ 9 223 372 035 (so that the largest id stays below 2^63): every
 * observing day from 2000-01-01 to 2252-07-10 (dayIndex ≤ 92 232). Ids are above 2^53, so they
 * are kept as BigInt (FITS 'K' columns, BigInt64Array), never as JS numbers.
 */
import { InvalidInputError } from '../../../core/errors.ts';

const DAY_MS = 86_400_000;
const EPOCH_MS = Date.UTC(2000, 0, 1);
/** Largest day index with every seq allowed: (92232 · 100000 + 99999) · 10^9 + 999 999 999 < 2^63. */
export const MAX_DAY_INDEX = 92_232;
export const MAX_DETECTOR = 999;
/** Rows per detector-visit: 0..MAX_ROW. */
export const MAX_ROW = 999_999;

const ROW_FACTOR = 1_000_000n;
const DETECTOR_FACTOR = 1_000n;
const SEQ_FACTOR = 100_000;

/** The day index (days since 2000-01-01) and sequence number of a visit id; throws InvalidInputError. */
export function visitDayIndex(visit: number): { dayIndex: number; seq: number } {
  if (!Number.isSafeInteger(visit) || visit < 0) throw new InvalidInputError(`diaSourceId: visit ${visit} is not a non-negative integer`);
  const seq = visit % SEQ_FACTOR;
  const day = (visit - seq) / SEQ_FACTOR;
  const y = Math.floor(day / 10000);
  const m = Math.floor(day / 100) % 100;
  const d = day % 100;
  const t = Date.UTC(y, m - 1, d);
  const date = new Date(t);
  if (y < 2000 || date.getUTCFullYear() !== y || date.getUTCMonth() !== m - 1 || date.getUTCDate() !== d) {
    throw new InvalidInputError(`diaSourceId: visit ${visit} is not YYYYMMDD·100000 + seq with a valid date from 2000 on`);
  }
  const dayIndex = Math.round((t - EPOCH_MS) / DAY_MS);
  if (dayIndex > MAX_DAY_INDEX) throw new InvalidInputError(`diaSourceId: visit ${visit} is after the last day the id scheme can hold (2252-07-10)`);
  return { dayIndex, seq };
}

/** The id of row 0 of a detector-visit; row r has base + BigInt(r). */
export function diaSourceIdBase(visit: number, detector: number): bigint {
  const { dayIndex, seq } = visitDayIndex(visit);
  if (!Number.isInteger(detector) || detector < 0 || detector > MAX_DETECTOR) {
    throw new InvalidInputError(`diaSourceId: detector ${detector} is outside 0..${MAX_DETECTOR}`);
  }
  return (BigInt(dayIndex * SEQ_FACTOR + seq) * DETECTOR_FACTOR + BigInt(detector)) * ROW_FACTOR;
}

export function packDiaSourceId(visit: number, detector: number, row: number): bigint {
  if (!Number.isInteger(row) || row < 0 || row > MAX_ROW) throw new InvalidInputError(`diaSourceId: row ${row} is outside 0..${MAX_ROW}`);
  return diaSourceIdBase(visit, detector) + BigInt(row);
}

/** Inverse of packDiaSourceId. */
export function unpackDiaSourceId(id: bigint): { visit: number; detector: number; row: number } {
  if (id < 0n) throw new InvalidInputError(`diaSourceId ${id} is negative`);
  const row = Number(id % ROW_FACTOR);
  const rest = id / ROW_FACTOR;
  const detector = Number(rest % DETECTOR_FACTOR);
  const compact = Number(rest / DETECTOR_FACTOR);
  const seq = compact % SEQ_FACTOR;
  const dayIndex = (compact - seq) / SEQ_FACTOR;
  const date = new Date(EPOCH_MS + dayIndex * DAY_MS);
  const day = date.getUTCFullYear() * 10000 + (date.getUTCMonth() + 1) * 100 + date.getUTCDate();
  return { visit: day * SEQ_FACTOR + seq, detector, row };
}
