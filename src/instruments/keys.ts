import { InvalidInputError } from '../core/errors.ts';
import { getInstrument, type InstrumentName } from './instruments.ts';

/**
 * Raw object keys, as the camera writer names them in the bucket:
 * `{instrument}/{detector}/{group}/{snap}/{instrument}-{group}-{snap}-{exposureId}-{filter}-{detector}.fz`
 * A group is YYYYMMDD * 100000 + n (a 13-digit string); an exposure id is
 * (group // 100000) * 100000 + (group % 100000) * snaps + snap.
 */
export interface ObjectKey {
  readonly instrument: InstrumentName;
  readonly detector: number;
  readonly group: string;
  readonly snap: number;
  readonly exposureId: number;
  readonly filter: string;
}

const GROUP_RE = /^(\d{4})(\d{2})(\d{2})(\d{5})$/;
const FILTER_RE = /^[A-Za-z0-9_~.]+$/;

/** Splits a group id into its observing day and sequence number, checking that the day is a real date. */
export function parseGroup(group: string): { dayObs: number; seq: number } {
  const m = GROUP_RE.exec(group);
  if (!m) throw new InvalidInputError(`group '${group}' is not YYYYMMDDnnnnn (13 digits)`);
  const [, y, mo, d, n] = m;
  const date = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
  if (date.getUTCFullYear() !== Number(y) || date.getUTCMonth() !== Number(mo) - 1 || date.getUTCDate() !== Number(d)) {
    throw new InvalidInputError(`group '${group}' does not start with a valid date YYYYMMDD`);
  }
  return { dayObs: Number(`${y}${mo}${d}`), seq: Number(n) };
}

/** The group id for day `dayObs` (YYYYMMDD) and sequence number `seq`. */
export function groupFor(dayObs: number, seq: number): string {
  if (!Number.isInteger(seq) || seq < 0 || seq > 99999) throw new InvalidInputError(`group sequence ${seq} is outside 0..99999`);
  const group = String(dayObs * 100000 + seq);
  parseGroup(group);
  return group;
}

export function exposureIdFor(group: string, snap: number, snaps: number): number {
  const { dayObs, seq } = parseGroup(group);
  if (!Number.isInteger(snaps) || snaps < 1) throw new InvalidInputError(`snaps ${snaps} must be a positive integer`);
  if (!Number.isInteger(snap) || snap < 0 || snap >= snaps) {
    throw new InvalidInputError(`snap ${snap} is outside 0..${snaps - 1}`);
  }
  const within = seq * snaps + snap;
  if (within > 99999) throw new InvalidInputError(`group sequence ${seq} with ${snaps} snaps overflows the exposure id`);
  return dayObs * 100000 + within;
}

export function buildObjectKey(k: Omit<ObjectKey, 'exposureId'> & { exposureId?: number }): string {
  const inst = getInstrument(k.instrument);
  inst.detector(k.detector);
  if (!FILTER_RE.test(k.filter)) throw new InvalidInputError(`filter '${k.filter}' cannot appear in an object key`);
  const exposureId = k.exposureId ?? exposureIdFor(k.group, k.snap, inst.snaps);
  const file = `${k.instrument}-${k.group}-${k.snap}-${exposureId}-${k.filter}-${k.detector}.fz`;
  return `${k.instrument}/${k.detector}/${k.group}/${k.snap}/${file}`;
}

function bad(key: string, why: string): InvalidInputError {
  return new InvalidInputError(`object key '${key}' ${why}`);
}

const INT_RE = /^(0|[1-9]\d*)$/;

/**
 * Parses and checks a raw object key. Rejects keys that could escape the bucket (absolute,
 * `..` or `.` segments, empty segments, backslashes, control characters) and keys whose
 * directory and file name disagree.
 */
export function parseObjectKey(key: string): ObjectKey {
  if (typeof key !== 'string' || key.length === 0) throw bad(String(key), 'is empty');
  if (key.length > 1024) throw bad(key.slice(0, 64) + '…', 'is longer than 1024 characters');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(key)) throw bad(key, 'contains a control character or a backslash');
  if (key.startsWith('/')) throw bad(key, 'is absolute');
  const parts = key.split('/');
  if (parts.some((p) => p === '')) throw bad(key, 'has an empty path segment');
  if (parts.some((p) => p === '.' || p === '..')) throw bad(key, "has a '.' or '..' segment");
  if (parts.length !== 5) {
    throw bad(key, `has ${parts.length} segments, expected 5: instrument/detector/group/snap/file`);
  }
  const [instrumentPart, detPart, groupPart, snapPart, file] = parts;
  const inst = getInstrument(instrumentPart);
  if (!INT_RE.test(detPart)) throw bad(key, `has detector segment '${detPart}' that is not an integer`);
  if (!INT_RE.test(snapPart)) throw bad(key, `has snap segment '${snapPart}' that is not an integer`);
  const detector = Number(detPart);
  const snap = Number(snapPart);
  inst.detector(detector);
  parseGroup(groupPart);
  if (!file.endsWith('.fz')) throw bad(key, "does not end in '.fz'");
  const fields = file.slice(0, -3).split('-');
  if (fields.length !== 6) {
    throw bad(key, 'has a file name that is not {instrument}-{group}-{snap}-{exposureId}-{filter}-{detector}.fz');
  }
  const [fInst, fGroup, fSnap, fExp, filter, fDet] = fields;
  if (fInst !== instrumentPart) throw bad(key, `names instrument '${fInst}' in the file but '${instrumentPart}' in the path`);
  if (fGroup !== groupPart) throw bad(key, `names group '${fGroup}' in the file but '${groupPart}' in the path`);
  if (fSnap !== snapPart) throw bad(key, `names snap '${fSnap}' in the file but '${snapPart}' in the path`);
  if (fDet !== detPart) throw bad(key, `names detector '${fDet}' in the file but '${detPart}' in the path`);
  if (!INT_RE.test(fExp)) throw bad(key, `has exposure id '${fExp}' that is not an integer`);
  if (!FILTER_RE.test(filter)) throw bad(key, `has filter '${filter}' with characters outside [A-Za-z0-9_~.]`);
  if (snap >= inst.snaps) throw bad(key, `has snap ${snap} but ${inst.name} takes ${inst.snaps} snap(s) per visit`);
  const exposureId = Number(fExp);
  const expected = exposureIdFor(groupPart, snap, inst.snaps);
  if (exposureId !== expected) throw bad(key, `has exposure id ${exposureId}, expected ${expected} for group ${groupPart} snap ${snap}`);
  return { instrument: inst.name, detector, group: groupPart, snap, exposureId, filter };
}
