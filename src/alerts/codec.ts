/**
 * Alert packets in memory, and their two wire forms:
 * - the body: schemaless Avro binary of one `lsst.v11_0.alert` (encodeAlert / decodeAlert);
 * - the Kafka value, in Confluent's wire format: a zero magic byte, the schema id as a 4-byte
 *   big-endian signed integer (1100 for v11.0), then the body (frameAlert / unframeAlert).
 *
 * Records are APDB rows restricted to the alert's fields: `long` and timestamp fields are bigint
 * (exact beyond 2^53), `int`/`float`/`double` are numbers (NaN allowed), a nullable field is
 * null when absent.
 */
import { Buffer } from 'node:buffer';
import type avro from 'avsc';
import type { ApdbRow, ApdbValue } from '../apdb/types.ts';
import { InvalidInputError } from '../core/errors.ts';
import { isInt64 } from './avro-long.ts';
import { ALERT_RECORD_NAMES, ALERT_SCHEMA_ID, ALERT_SCHEMA_VERSION, ALERT_TYPE, alertRecordColumns, alertRecordType, mapAlertRecords, type AlertRecordName } from './schema.ts';

/** One record of an alert: field name → value, as an APDB row (bigint longs, null for NULL). */
export type AlertRecord = ApdbRow;
export type AlertValue = ApdbValue;

export interface AlertPacket {
  /** The DiaSource the alert is about (= diaSource.diaSourceId). */
  diaSourceId: bigint;
  /** Scheduler reason / target of the image (RTN-097), when known. */
  observation_reason: string | null;
  target_name: string | null;
  diaSource: AlertRecord;
  /** Earlier DiaSources of the same DiaObject; null when the source has no DiaObject. */
  prvDiaSources: AlertRecord[] | null;
  prvDiaForcedSources: AlertRecord[] | null;
  diaObject: AlertRecord | null;
  ssSource: AlertRecord | null;
  mpc_orbits: AlertRecord | null;
  /** FITS files of the stamps around the source. */
  cutoutDifference: Uint8Array | null;
  cutoutScience: Uint8Array | null;
  cutoutTemplate: Uint8Array | null;
}

/** The APDB table behind each record, accepted by alertRecordFromRow as well as the record name. */
export const ALERT_RECORD_TABLES: Readonly<Record<string, AlertRecordName>> = {
  DiaSource: 'diaSource',
  DiaForcedSource: 'diaForcedSource',
  DiaObject: 'diaObject',
  SSSource: 'ssSource',
  mpc_orbits: 'mpc_orbits',
};

type FieldKind = 'long' | 'int' | 'float' | 'double' | 'string' | 'boolean';
interface FieldPlan {
  readonly name: string;
  readonly kind: FieldKind;
  readonly nullable: boolean;
}

const KIND_OF: Readonly<Record<string, FieldKind>> = {
  long: 'long',
  timestamp: 'long',
  int: 'int',
  short: 'int',
  float: 'float',
  double: 'double',
  char: 'string',
  string: 'string',
  text: 'string',
  boolean: 'boolean',
};

const PLANS: Readonly<Record<AlertRecordName, readonly FieldPlan[]>> = mapAlertRecords((n) =>
  alertRecordColumns(n).map((c): FieldPlan => ({ name: c.name, kind: KIND_OF[c.datatype], nullable: c.nullable })),
);

type RecordConstructor = new (...values: AlertValue[]) => AlertRecord;
/**
 * avsc's constructor of each record (the one decoding uses): it sets every field in schema order
 * with named stores, so records stay in V8's fast-property mode, which the generated encoders
 * read quickly (an object filled by keyed stores turns into a slow dictionary past a few fields).
 */
const CONSTRUCTORS: Readonly<Record<AlertRecordName, RecordConstructor>> = mapAlertRecords((n) => alertRecordType(n).recordConstructor as RecordConstructor);

const KEY_OF: Readonly<Record<AlertRecordName, string>> = {
  diaSource: 'diaSourceId',
  diaForcedSource: 'diaForcedSourceId',
  diaObject: 'diaObjectId',
  ssSource: 'diaSourceId',
  mpc_orbits: 'id',
};

function show(v: unknown): string {
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (v instanceof Uint8Array) return `${v.constructor.name}(${v.length})`;
  if (typeof v === 'object' && v !== null) return Array.isArray(v) ? `array(${v.length})` : 'object';
  return String(v);
}

function convert(kind: FieldKind, v: AlertValue): AlertValue | undefined {
  switch (kind) {
    case 'long':
      if (isInt64(v)) return v;
      if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
      return undefined;
    case 'int':
      if (typeof v === 'number' && v === (v | 0)) return v;
      if (typeof v === 'bigint' && v >= -2147483648n && v <= 2147483647n) return Number(v);
      return undefined;
    case 'float':
      return typeof v === 'number' ? Math.fround(v) : undefined;
    case 'double':
      return typeof v === 'number' ? v : undefined;
    case 'string':
      return typeof v === 'string' ? v : undefined;
    case 'boolean':
      return typeof v === 'boolean' ? v : undefined;
  }
}

const EXPECTED: Readonly<Record<FieldKind, string>> = {
  long: 'a 64-bit integer (bigint)',
  int: 'a 32-bit integer',
  float: 'a number',
  double: 'a number',
  string: 'a string',
  boolean: 'a boolean',
};

/**
 * The alert record of an APDB row: the record's fields in schema order, and only those (columns
 * the alert omits and extra ones such as pixelId are dropped); an absent or undefined nullable
 * field becomes null. A safe-integer number in a long field becomes bigint, a bigint in an int
 * field a number; float fields are rounded to float32, as Avro carries them (so a record equals
 * its decoded self). Throws InvalidInputError naming the field when a non-nullable field is
 * missing or a value has the wrong type.
 */
export function alertRecordFromRow(table: AlertRecordName | keyof typeof ALERT_RECORD_TABLES, row: Readonly<ApdbRow>): AlertRecord {
  const name: AlertRecordName | undefined = (PLANS as Record<string, readonly FieldPlan[]>)[table] ? (table as AlertRecordName) : ALERT_RECORD_TABLES[table];
  if (!name) throw new InvalidInputError(`no alert record for table ${JSON.stringify(table)} (known: ${ALERT_RECORD_NAMES.join(', ')})`);
  const plan = PLANS[name];
  const values = new Array<AlertValue>(plan.length);
  for (let i = 0; i < plan.length; i++) {
    const f = plan[i];
    const v = row[f.name];
    if (v === null || v === undefined) {
      if (!f.nullable) throw new InvalidInputError(`${where(name, row)}: field ${f.name} is ${v === null ? 'null' : 'missing'} but may not be null`);
      values[i] = null;
      continue;
    }
    const c = convert(f.kind, v);
    if (c === undefined) throw new InvalidInputError(`${where(name, row)}: field ${f.name} is ${show(v)} (${typeof v}), expected ${EXPECTED[f.kind]}`);
    values[i] = c;
  }
  return new CONSTRUCTORS[name](...values);
}

function where(name: AlertRecordName, row: Readonly<ApdbRow>): string {
  const key = KEY_OF[name];
  const id = row[key];
  return id === null || id === undefined ? `alert record ${name}` : `alert record ${name} (${key} ${String(id)})`;
}

// --- Encoding -------------------------------------------------------------------------------------

/** Bytes as avsc takes them (a Buffer view); anything else as it is, for avsc to refuse. */
function asBuffer(b: Uint8Array | null | undefined): unknown {
  if (b === null || b === undefined) return null;
  if (Buffer.isBuffer(b) || !(b instanceof Uint8Array)) return b;
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** The packet as avsc takes it (bytes as Buffer). */
function avscValue(p: AlertPacket): Record<string, unknown> {
  return {
    diaSourceId: p.diaSourceId,
    observation_reason: p.observation_reason ?? null,
    target_name: p.target_name ?? null,
    diaSource: p.diaSource,
    prvDiaSources: p.prvDiaSources ?? null,
    prvDiaForcedSources: p.prvDiaForcedSources ?? null,
    diaObject: p.diaObject ?? null,
    ssSource: p.ssSource ?? null,
    mpc_orbits: p.mpc_orbits ?? null,
    cutoutDifference: asBuffer(p.cutoutDifference),
    cutoutScience: asBuffer(p.cutoutScience),
    cutoutTemplate: asBuffer(p.cutoutTemplate),
  };
}

/** Why avsc refused a value: each offending field's path, value and expected type. */
function invalidAlert(p: AlertPacket, value: unknown, type: avro.Type, cause: unknown): InvalidInputError {
  const problems: string[] = [];
  type.isValid(value, {
    errorHook: (path: string[], v: unknown, t: avro.Type) => {
      if (problems.length < 5) problems.push(`${path.join('.') || '(root)'} = ${show(v)}, expected ${describeType(t)}`);
    },
  });
  const id = typeof p?.diaSourceId === 'bigint' ? ` ${p.diaSourceId}` : '';
  const what = problems.length ? problems.join('; ') : cause instanceof Error ? cause.message : String(cause);
  return new InvalidInputError(`alert${id} does not fit schema ${ALERT_SCHEMA_VERSION}: ${what}`, { cause });
}

/** A short name of a type: its name, its kind, or its branches for a union. */
function describeType(t: avro.Type): string {
  const nameOf = (x: unknown): string => {
    if (typeof x === 'string') return x;
    const o = x as { name?: string; type?: string };
    return o.name ?? o.type ?? 'a value';
  };
  const s = t.schema() as unknown;
  return Array.isArray(s) ? JSON.stringify(s.map(nameOf)) : nameOf(s);
}

/** Grown as needed, never shrunk: encoding reuses it (one thread, synchronous). */
let scratch = Buffer.allocUnsafeSlow(128 * 1024);

/** Encodes into `scratch` from offset `start`; returns the end offset. */
function encodeToScratch(p: AlertPacket, start: number): number {
  const value = avscValue(p);
  for (;;) {
    let end: number;
    try {
      end = ALERT_TYPE.encode(value, scratch, start);
    } catch (e) {
      throw invalidAlert(p, value, ALERT_TYPE, e);
    }
    if (end >= 0) return end;
    // Negative: that many bytes were missing.
    scratch = Buffer.allocUnsafeSlow(Math.max(scratch.length * 2, scratch.length - end + 1024));
  }
}

function copyOut(start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end - start);
  scratch.copy(out, 0, start, end);
  return out;
}

/** Schemaless Avro binary of one alert (no container header, no Kafka framing). */
export function encodeAlert(packet: AlertPacket): Buffer {
  return copyOut(0, encodeToScratch(packet, 0));
}

/** The Kafka value of one alert in one pass: framing header, then the body. */
export function encodeFramedAlert(packet: AlertPacket, schemaId: number = ALERT_SCHEMA_ID): Buffer {
  const end = encodeToScratch(packet, FRAME_HEADER_BYTES);
  scratch[0] = MAGIC_BYTE;
  scratch.writeInt32BE(schemaId, 1);
  return copyOut(0, end);
}

function bufferView(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

const plain = (b: Uint8Array | null): Uint8Array | null => (b === null ? null : new Uint8Array(b.buffer, b.byteOffset, b.byteLength));

/** A decoded packet with its cutouts as plain Uint8Array views (avsc gives Buffers), in place. */
export function withPlainCutouts(p: AlertPacket): AlertPacket {
  p.cutoutDifference = plain(p.cutoutDifference);
  p.cutoutScience = plain(p.cutoutScience);
  p.cutoutTemplate = plain(p.cutoutTemplate);
  return p;
}

/** The packet of a schemaless Avro body written with the v11.0 schema. */
export function decodeAlert(body: Uint8Array): AlertPacket {
  if (body.length === 0) throw new InvalidInputError('cannot decode alert: empty body');
  try {
    return withPlainCutouts(ALERT_TYPE.fromBuffer(bufferView(body)) as AlertPacket);
  } catch (e) {
    const m = e instanceof Error ? e.message : String(e);
    throw new InvalidInputError(`cannot decode alert (schema ${ALERT_SCHEMA_VERSION}, ${body.length} bytes): ${m === 'truncated buffer' ? 'truncated' : m}`, { cause: e });
  }
}

// --- Kafka framing ----------------------------------------------------------------------------------

export const MAGIC_BYTE = 0x00;
export const FRAME_HEADER_BYTES = 5;

/** The Kafka value of a body: 0x00, schema id (big-endian int32), body. */
export function frameAlert(body: Uint8Array, schemaId: number = ALERT_SCHEMA_ID): Buffer {
  if (!Number.isInteger(schemaId) || schemaId < -2147483648 || schemaId > 2147483647) throw new RangeError(`schema id ${schemaId} is not a signed 32-bit integer`);
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length);
  out[0] = MAGIC_BYTE;
  out.writeInt32BE(schemaId, 1);
  out.set(body, FRAME_HEADER_BYTES);
  return out;
}

/** The header of a Kafka value and a view of its body; checks the magic byte and the length only. */
export function parseAlertFrame(value: Uint8Array): { schemaId: number; body: Buffer } {
  const v = bufferView(value);
  if (v.length < FRAME_HEADER_BYTES) {
    throw new InvalidInputError(`framed alert truncated: ${v.length} byte(s), the header alone is ${FRAME_HEADER_BYTES} (0x00 magic, 4-byte schema id)`);
  }
  if (v[0] !== MAGIC_BYTE) {
    const hint = v[0] === 0x4f && v[1] === 0x62 && v[2] === 0x6a ? ' (this looks like an Avro container file, "Obj\\x01")' : '';
    throw new InvalidInputError(`framed alert has wrong magic byte 0x${v[0].toString(16).padStart(2, '0')}, expected 0x00${hint}`);
  }
  const schemaId = v.readInt32BE(1);
  if (v.length === FRAME_HEADER_BYTES) throw new InvalidInputError(`framed alert truncated: header (schema id ${schemaId}) but no body`);
  return { schemaId, body: v.subarray(FRAME_HEADER_BYTES) };
}

/**
 * The Avro body of a Kafka value (a view, not a copy), after checking the magic byte and that
 * the schema id is one this code reads (default: 1100 only).
 */
export function unframeAlert(value: Uint8Array, opts: { readonly schemaIds?: readonly number[] } = {}): Buffer {
  const { schemaId, body } = parseAlertFrame(value);
  const known = opts.schemaIds ?? [ALERT_SCHEMA_ID];
  if (!known.includes(schemaId)) {
    // Rubin's ids are major·100 + minor.
    const guess = schemaId > 0 ? ` (schema ${Math.floor(schemaId / 100)}.${schemaId % 100}?)` : '';
    throw new InvalidInputError(`framed alert has unknown schema id ${schemaId}${guess}; this reader knows ${known.join(', ')} (alert schema ${ALERT_SCHEMA_VERSION} is ${ALERT_SCHEMA_ID})`);
  }
  return body;
}

/** decodeAlert(unframeAlert(value)). */
export function decodeFramedAlert(value: Uint8Array): AlertPacket {
  return decodeAlert(unframeAlert(value));
}
