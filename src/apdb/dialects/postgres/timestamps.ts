/**
 * TIMESTAMP (without time zone, read as UTC) ↔ microseconds since 1970-01-01, the row
 * convention. PostgreSQL keeps microseconds; a JavaScript Date only milliseconds, so the text
 * form is converted here instead.
 */
import { InvalidInputError } from '../../../core/errors.ts';

const US_PER_MS = 1000n;
const TEXT = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$/;

/** `YYYY-MM-DD HH:MM:SS.ffffff` of a microsecond count (years 0001–9999). */
export function microsToTimestamp(us: bigint): string {
  let ms = us / US_PER_MS;
  let rem = us % US_PER_MS;
  if (rem < 0n) {
    ms -= 1n;
    rem += US_PER_MS;
  }
  const d = new Date(Number(ms));
  const year = d.getUTCFullYear();
  if (Number.isNaN(d.getTime()) || year < 1 || year > 9999) throw new InvalidInputError(`timestamp ${us} µs is outside the years 1–9999`);
  const iso = d.toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}${String(rem).padStart(3, '0')}`;
}

/** Microseconds of PostgreSQL's text form of a TIMESTAMP (ISO date style). */
export function timestampToMicros(text: string): bigint {
  const m = TEXT.exec(text);
  if (!m) throw new InvalidInputError(`cannot read the timestamp '${text}' (expected YYYY-MM-DD HH:MM:SS[.ffffff])`);
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  // Date.UTC maps years 0–99 to 1900–1999.
  const d = new Date(ms);
  if (Number(m[1]) < 100) d.setUTCFullYear(Number(m[1]));
  const frac = BigInt((m[7] ?? '').padEnd(6, '0'));
  return BigInt(d.getTime()) * US_PER_MS + frac;
}
