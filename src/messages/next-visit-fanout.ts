import { InvalidInputError, NoWorkError } from '../core/errors.ts';
import { getInstrument, isInstrumentName, INSTRUMENT_NAMES, type Instrument } from '../instruments/instruments.ts';
import { parseGroup } from '../instruments/keys.ts';
import { parseNextVisit, VISIT_KINDS, type NextVisit, type VisitKind } from './next-visit.ts';

/**
 * The nextVisit as the observatory publishes it (ts_xml `ScriptQueue_logevent_nextVisit`) and as
 * the fan-out service (next_visit_fan_out) forwards it, one message per detector, with a
 * `detector` field added (FORMATS.md D). Knative delivery sends JSON values; KEDA (Redis stream)
 * sends every value as a string, with `position` as the text "[ra, dec]". Both are accepted: a
 * numeric field may be a JSON number or a string holding a decimal number, nothing else.
 *
 * Mapping to this service's nextVisit (FORMATS.md D field names on the left):
 *
 * | fan-out field      | type          | nextVisit  | rule                                                          |
 * |--------------------|---------------|------------|---------------------------------------------------------------|
 * | instrument         | string        | instrument | one of LSSTCam, LSSTComCam, LATISS, DECam; blank = not an     |
 * |                    |               |            | observation → NoWorkError (acknowledged, nothing to do)       |
 * | detector           | int           | detector   | must exist on the instrument; a ScriptQueue message without   |
 * |                    |               |            | it is visit-level and is refused (fan it out first)           |
 * | groupId            | string        | group      | must be a group raw keys here use (YYYYMMDDnnnnn)             |
 * | nimages            | int ≥ 0       | snaps      | 0 ("unknown") → the instrument's snaps per visit              |
 * | filters            | string        | filter     | one physical filter of the instrument (prompt_processing's    |
 * |                    |               |            | reading); a comma list or an empty value is refused           |
 * | coordinateSystem   | int enum      | —          | must be 2 ICRS, so that position is (ra, dec)                 |
 * | position           | double[2]     | ra, dec    | position[0] → ra, position[1] → dec, degrees                  |
 * | kind (not ts_xml)  | string        | kind       | SCIENCE, BIAS, DARK or FLAT when present, else SCIENCE        |
 *
 * Not mapped, type-checked when present and returned as `ScriptQueueVisit`: salIndex,
 * scriptSalIndex, startTime, rotationSystem (1..4), cameraAngle, dome (1..3), duration, survey,
 * totalCheckpoints, private_sndStamp. Other fields (private_efdStamp, …) are ignored.
 */

/** The fan-out fields that are not part of this service's nextVisit, for logs and checks. */
export interface ScriptQueueVisit {
  readonly groupId: string;
  readonly coordinateSystem: number;
  readonly position: readonly [number, number];
  readonly nimages: number;
  readonly filters: string;
  readonly salIndex?: number;
  readonly scriptSalIndex?: number;
  readonly startTime?: number;
  readonly rotationSystem?: number;
  readonly cameraAngle?: number;
  readonly dome?: number;
  readonly duration?: number;
  readonly survey?: string;
  readonly totalCheckpoints?: number;
  /** Publish time, TAI unix seconds. */
  readonly private_sndStamp?: number;
}

export type NextVisitShape = 'canonical' | 'fan-out';

export interface DecodedNextVisit {
  readonly visit: NextVisit;
  readonly shape: NextVisitShape;
  /** Only for the fan-out shape. */
  readonly scriptQueue?: ScriptQueueVisit;
}

/** Field names only the ScriptQueue / fan-out shape has; one of them selects that shape. */
const FAN_OUT_MARKERS = ['groupId', 'filters', 'position', 'nimages', 'coordinateSystem', 'salIndex', 'scriptSalIndex'];

export function isFanOutShape(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  return FAN_OUT_MARKERS.some((k) => Object.hasOwn(value, k));
}

const COORDINATE_SYSTEMS: Record<number, string> = { 1: 'NONE', 2: 'ICRS', 3: 'OBSERVED', 4: 'MOUNT' };
const ROTATION_SYSTEMS: Record<number, string> = { 1: 'NONE', 2: 'SKY', 3: 'HORIZON', 4: 'MOUNT' };
const DOMES: Record<number, string> = { 1: 'CLOSED', 2: 'OPEN', 3: 'EITHER' };
const ICRS = 2;

const INT_TEXT = /^-?\d+$/;
const DECIMAL_TEXT = /^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

class FieldReader {
  readonly problems: string[] = [];
  constructor(private readonly obj: Record<string, unknown>) {}

  has(name: string): boolean {
    return this.obj[name] !== undefined && this.obj[name] !== null;
  }

  missing(name: string, why = ''): undefined {
    this.problems.push(`${name} is missing${why}`);
    return undefined;
  }

  int(name: string, required: boolean): number | undefined {
    if (!this.has(name)) return required ? this.missing(name) : undefined;
    const v = this.obj[name];
    const n = typeof v === 'number' ? v : typeof v === 'string' && INT_TEXT.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n)) {
      this.problems.push(`${name} must be an integer (a number or a string of digits), not ${show(v)}`);
      return undefined;
    }
    return n;
  }

  number(name: string, required: boolean): number | undefined {
    if (!this.has(name)) return required ? this.missing(name) : undefined;
    const n = toNumber(this.obj[name]);
    if (n === undefined) {
      this.problems.push(`${name} must be a finite number (a number or a decimal string), not ${show(this.obj[name])}`);
      return undefined;
    }
    return n;
  }

  string(name: string, required: boolean): string | undefined {
    if (!this.has(name)) return required ? this.missing(name) : undefined;
    const v = this.obj[name];
    if (typeof v !== 'string') {
      this.problems.push(`${name} must be a string, not ${show(v)}`);
      return undefined;
    }
    return v;
  }

  enumeration(name: string, names: Record<number, string>, required: boolean): number | undefined {
    const n = this.int(name, required);
    if (n === undefined) return undefined;
    if (names[n] === undefined) {
      const list = Object.entries(names).map(([k, v]) => `${k} ${v}`).join(', ');
      this.problems.push(`${name} ${n} is not one of ${list}`);
      return undefined;
    }
    return n;
  }

  /** `position`: [ra, dec] as an array of two numbers (or decimal strings), or that array as JSON text. */
  position(): [number, number] | undefined {
    if (!this.has('position')) return this.missing('position');
    let v = this.obj.position;
    if (typeof v === 'string') {
      try {
        v = JSON.parse(v);
      } catch {
        this.problems.push(`position ${show(this.obj.position)} is not a JSON array "[ra, dec]"`);
        return undefined;
      }
    }
    if (!Array.isArray(v) || v.length !== 2) {
      this.problems.push(`position must be two numbers [ra, dec], not ${show(this.obj.position)}`);
      return undefined;
    }
    const a = toNumber(v[0]);
    const b = toNumber(v[1]);
    if (a === undefined || b === undefined) {
      this.problems.push(`position must be two finite numbers [ra, dec], not ${show(this.obj.position)}`);
      return undefined;
    }
    return [a, b];
  }
}

function toNumber(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && DECIMAL_TEXT.test(v) ? Number(v) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

function show(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/**
 * Translates a fan-out (or ScriptQueue) nextVisit, already JSON-decoded, into this service's
 * nextVisit. Throws InvalidInputError naming every bad field with FORMATS.md's names, or
 * NoWorkError when the instrument is blank (the observatory's "not an observation").
 */
export function parseFanOutNextVisit(value: unknown): DecodedNextVisit {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidInputError('nextVisit must be a JSON object');
  }
  const r = new FieldReader(value as Record<string, unknown>);
  const prefix = 'invalid nextVisit (fan-out fields)';

  const instrumentText = r.string('instrument', true);
  if (instrumentText !== undefined && instrumentText.trim() === '') {
    throw new NoWorkError('nextVisit instrument is blank: not an observation, nothing to process');
  }
  let inst: Instrument | undefined;
  if (instrumentText !== undefined) {
    if (isInstrumentName(instrumentText)) inst = getInstrument(instrumentText);
    else r.problems.push(`instrument ${show(instrumentText)} must be one of ${INSTRUMENT_NAMES.join(', ')}`);
  }

  const detector = r.int('detector', false);
  if (!r.has('detector')) {
    r.missing('detector', ': a ScriptQueue nextVisit is per visit, it must be fanned out to one message per detector');
  } else if (detector !== undefined) {
    if (detector < 0) r.problems.push(`detector must be ≥ 0, not ${detector}`);
    else if (inst) {
      try {
        inst.detector(detector);
      } catch (e) {
        r.problems.push((e as Error).message);
      }
    }
  }

  const groupId = r.string('groupId', true);
  if (groupId !== undefined) {
    try {
      parseGroup(groupId);
    } catch (e) {
      r.problems.push(`groupId ${(e as Error).message.replace(/^group /, '')}`);
    }
  }

  const nimages = r.int('nimages', true);
  let snaps: number | undefined;
  if (nimages !== undefined) {
    if (nimages < 0) r.problems.push(`nimages must be ≥ 0 (0 = unknown), not ${nimages}`);
    else if (inst) {
      if (nimages > inst.snaps) r.problems.push(`nimages ${nimages} exceeds the ${inst.snaps} snap(s) ${inst.name} takes`);
      else snaps = nimages === 0 ? inst.snaps : nimages;
    }
  }

  const filters = r.string('filters', true);
  if (filters !== undefined) {
    if (filters.trim() === '') r.problems.push('filters is empty: a physical filter is needed');
    else if (filters.includes(',')) r.problems.push(`filters ${show(filters)} lists several filters; one physical filter is needed`);
    else if (inst) {
      try {
        inst.filter(filters);
      } catch (e) {
        r.problems.push(`filters ${(e as Error).message.replace(/^filter /, '')}`);
      }
    }
  }

  const coordinateSystem = r.enumeration('coordinateSystem', COORDINATE_SYSTEMS, true);
  const position = r.position();
  let ra: number | undefined;
  let dec: number | undefined;
  if (coordinateSystem !== undefined && coordinateSystem !== ICRS) {
    r.problems.push(
      `coordinateSystem ${coordinateSystem} (${COORDINATE_SYSTEMS[coordinateSystem]}) gives no (ra, dec); only 2 (ICRS) pointings can be processed`,
    );
  } else if (position) {
    [ra, dec] = position;
    if (!(ra >= 0 && ra < 360)) r.problems.push(`position[0] (ra) must be in [0, 360), not ${ra}`);
    if (!(dec >= -90 && dec <= 90)) r.problems.push(`position[1] (dec) must be in [-90, 90], not ${dec}`);
  }

  let kind: VisitKind = 'SCIENCE';
  if (r.has('kind')) {
    const k = r.string('kind', false);
    if (k !== undefined) {
      if ((VISIT_KINDS as readonly string[]).includes(k)) kind = k as VisitKind;
      else r.problems.push(`kind ${show(k)} must be one of ${VISIT_KINDS.join(', ')}`);
    }
  }

  const salIndex = r.int('salIndex', false);
  const scriptSalIndex = r.int('scriptSalIndex', false);
  const startTime = r.number('startTime', false);
  const rotationSystem = r.enumeration('rotationSystem', ROTATION_SYSTEMS, false);
  const cameraAngle = r.number('cameraAngle', false);
  const dome = r.enumeration('dome', DOMES, false);
  const duration = r.number('duration', false);
  const survey = r.string('survey', false);
  const totalCheckpoints = r.int('totalCheckpoints', false);
  const sndStamp = r.number('private_sndStamp', false);

  if (r.problems.length) throw new InvalidInputError(`${prefix}: ${r.problems.join('; ')}`);

  // Every field was checked above; the canonical parser is the last word on the result.
  const visit = parseNextVisit({ instrument: inst!.name, detector, group: groupId, snaps, filter: filters, ra, dec, kind });
  const scriptQueue: Record<string, unknown> = {
    groupId,
    coordinateSystem,
    position: Object.freeze([...position!]),
    nimages,
    filters,
  };
  const optional = { salIndex, scriptSalIndex, startTime, rotationSystem, cameraAngle, dome, duration, survey, totalCheckpoints, private_sndStamp: sndStamp };
  for (const [k, v] of Object.entries(optional)) if (v !== undefined) scriptQueue[k] = v;
  return { visit, shape: 'fan-out', scriptQueue: Object.freeze(scriptQueue) as unknown as ScriptQueueVisit };
}

/** A decoded JSON value in either shape: the fan-out fields when any is present, else the canonical ones. */
export function parseAnyNextVisit(value: unknown): DecodedNextVisit {
  if (isFanOutShape(value)) return parseFanOutNextVisit(value);
  return { visit: parseNextVisit(value), shape: 'canonical' };
}

/**
 * Decodes nextVisit bytes (UTF-8 JSON) in either shape. A JSON string holding JSON (the fan-out's
 * Knative `data`) is parsed a second time. `from` names the bytes in errors.
 */
export function decodeAnyNextVisit(bytes: Uint8Array, from = 'nextVisit data'): DecodedNextVisit {
  if (bytes.byteLength === 0) throw new InvalidInputError(`${from} is empty: no nextVisit`);
  if (bytes[0] === 0 && bytes.byteLength >= 5) {
    const schemaId = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getInt32(1, false);
    throw new InvalidInputError(
      `${from} is Avro in Confluent framing (schema id ${schemaId}), not JSON: the nextVisit must be decoded and fanned out before it is sent here`,
    );
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new InvalidInputError(`${from} is not UTF-8 text`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new InvalidInputError(`${from} is not JSON: ${(e as Error).message}`);
  }
  return readNextVisitJson(value, from);
}

/**
 * A nextVisit from an already-decoded JSON value (a structured CloudEvent's `data`): an object,
 * or a string holding the JSON text of one.
 */
export function readNextVisitJson(value: unknown, from = 'nextVisit data'): DecodedNextVisit {
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch (e) {
      throw new InvalidInputError(`${from} is a string that is not JSON text: ${(e as Error).message}`);
    }
    if (typeof value === 'string') throw new InvalidInputError(`${from} is a JSON string holding another JSON string, not a nextVisit`);
  }
  return parseAnyNextVisit(value);
}
