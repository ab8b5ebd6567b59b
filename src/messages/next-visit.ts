import { z } from 'zod';
import { InvalidInputError } from '../core/errors.ts';
import { getInstrument, INSTRUMENT_NAMES, type InstrumentName } from '../instruments/index.ts';
import { parseGroup } from '../instruments/keys.ts';

/**
 * The nextVisit message, one per detector, with the prototype's fields. On the wire it is a JSON
 * object (UTF-8) in the data of a message on the `nextVisit` topic, published with an
 * `instrument` attribute so that subscriptions can filter by instrument.
 */
export const VISIT_KINDS = ['SCIENCE', 'BIAS', 'DARK', 'FLAT'] as const;
export type VisitKind = (typeof VISIT_KINDS)[number];

export interface NextVisit {
  readonly instrument: InstrumentName;
  readonly detector: number;
  readonly group: string;
  readonly snaps: number;
  readonly filter: string;
  readonly ra: number;
  readonly dec: number;
  readonly kind: VisitKind;
}

const schema = z
  .object({
    instrument: z.enum(INSTRUMENT_NAMES, {
      errorMap: () => ({ message: `must be one of ${INSTRUMENT_NAMES.join(', ')}` }),
    }),
    detector: z.number({ invalid_type_error: 'must be an integer' }).int('must be an integer').nonnegative('must be ≥ 0'),
    group: z.union([z.string(), z.number().int().nonnegative()]).transform((g) => String(g)),
    snaps: z.number({ invalid_type_error: 'must be an integer' }).int('must be an integer').min(1, 'must be ≥ 1'),
    filter: z.string().min(1, 'must not be empty'),
    ra: z.number({ invalid_type_error: 'must be a number of degrees' }).min(0, 'must be in [0, 360)').lt(360, 'must be in [0, 360)'),
    dec: z.number({ invalid_type_error: 'must be a number of degrees' }).min(-90, 'must be in [-90, 90]').max(90, 'must be in [-90, 90]'),
    kind: z.enum(VISIT_KINDS, { errorMap: () => ({ message: `must be one of ${VISIT_KINDS.join(', ')}` }) }),
  })
  .strip();

function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => {
      const field = i.path.join('.') || '(message)';
      const msg = i.code === 'invalid_type' && i.received === 'undefined' ? 'is missing' : i.message;
      return `${field} ${msg}`;
    })
    .join('; ');
}

/** Validates a decoded JSON value as a nextVisit; errors name every bad field. */
export function parseNextVisit(value: unknown): NextVisit {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidInputError('nextVisit must be a JSON object');
  }
  const r = schema.safeParse(value);
  if (!r.success) throw new InvalidInputError(`invalid nextVisit: ${describeIssues(r.error)}`);
  const v = r.data;
  try {
    parseGroup(v.group);
  } catch (e) {
    throw new InvalidInputError(`invalid nextVisit: group ${(e as Error).message}`);
  }
  const inst = getInstrument(v.instrument);
  const problems: string[] = [];
  try {
    inst.detector(v.detector);
  } catch (e) {
    problems.push(`detector ${(e as Error).message}`);
  }
  try {
    inst.filter(v.filter);
  } catch (e) {
    problems.push(`filter ${(e as Error).message}`);
  }
  if (v.snaps > inst.snaps) problems.push(`snaps ${v.snaps} exceeds the ${inst.snaps} snap(s) ${inst.name} takes`);
  if (problems.length) throw new InvalidInputError(`invalid nextVisit: ${problems.join('; ')}`);
  return Object.freeze({ ...v, instrument: inst.name });
}

/** Decodes message bytes (UTF-8 JSON) into a nextVisit. */
export function decodeNextVisit(data: Uint8Array): NextVisit {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(data);
  } catch {
    throw new InvalidInputError('nextVisit data is not UTF-8 text');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new InvalidInputError(`nextVisit data is not JSON: ${(e as Error).message}`);
  }
  return parseNextVisit(value);
}

export function encodeNextVisit(v: NextVisit): Uint8Array {
  const { instrument, detector, group, snaps, filter, ra, dec, kind } = v;
  return new TextEncoder().encode(JSON.stringify({ instrument, detector, group, snaps, filter, ra, dec, kind }));
}

/** Attributes published with a nextVisit, for subscription filters. */
export function nextVisitAttributes(v: NextVisit): Record<string, string> {
  return { instrument: v.instrument, group: v.group, detector: String(v.detector) };
}
