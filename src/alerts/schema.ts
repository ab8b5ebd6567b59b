/**
 * The LSST alert schema v11.0 (namespace `lsst.v11_0`), built from the APDB table specs
 * (src/apdb/schema/tables.ts): each record of the alert is an APDB table's columns, in table
 * order, less the columns the alert leaves out. Datatypes become Avro types by name (long,
 * float, double, boolean), except that int and short are both `int`, char, string and text are
 * all `string`, and a timestamp is a `long` tagged with logicalType timestamp-micros. A column
 * that may be NULL becomes the union `["null", T]` with default null.
 *
 * ALERT_SCHEMA is the root record `lsst.v11_0.alert` with every named type defined inline at its
 * first use (what an Avro container file embeds); ALERT_RECORD_SCHEMAS are the named records on
 * their own, as the published .avsc files hold them. ALERT_TYPE encodes and decodes it, with
 * longs as bigint.
 */
import avro from 'avsc';
import { diaForcedSourceTable, diaObjectTable, diaSourceTable, mpcorbitsTable, sSSourceTable } from '../apdb/schema/tables.ts';
import { tableColumns, type ApdbColumn, type ApdbDatatype, type ApdbTableSpec } from '../apdb/schema/types.ts';
import { bigintLongHook } from './avro-long.ts';

export const ALERT_SCHEMA_VERSION = '11.0';
/** Schema registry id: major·100 + minor; also the `confluent:version` of each record schema. */
export const ALERT_SCHEMA_ID = 1100;
export const ALERT_NAMESPACE = 'lsst.v11_0';

// --- Avro schema JSON, as far as the alert uses it ---------------------------------------------

export type AvroPrimitiveName = 'null' | 'boolean' | 'int' | 'long' | 'float' | 'double' | 'bytes' | 'string';

export interface AvroLogicalSchema {
  readonly type: 'long';
  readonly logicalType: 'timestamp-micros';
}

export interface AvroArraySchema {
  readonly type: 'array';
  readonly items: AvroSchema;
}

export interface AvroField {
  readonly name: string;
  readonly type: AvroSchema;
  readonly default?: null;
  readonly doc?: string;
}

export interface AvroRecordSchema {
  readonly type: 'record';
  readonly name: string;
  readonly namespace?: string;
  readonly doc?: string;
  readonly fields: readonly AvroField[];
  readonly 'confluent:version'?: number;
}

/** A schema: a primitive, a reference to a named type (full name), or a complex type. */
export type AvroSchema = AvroPrimitiveName | string | AvroLogicalSchema | AvroArraySchema | AvroRecordSchema | readonly AvroSchema[];

// --- The records --------------------------------------------------------------------------------

/** The named records the alert is made of. */
export type AlertRecordName = 'diaSource' | 'diaForcedSource' | 'diaObject' | 'ssSource' | 'mpc_orbits';
export const ALERT_RECORD_NAMES: readonly AlertRecordName[] = ['diaSource', 'diaForcedSource', 'diaObject', 'ssSource', 'mpc_orbits'];

/** A value for each alert record. */
export function mapAlertRecords<T>(f: (name: AlertRecordName) => T): Record<AlertRecordName, T> {
  return { diaSource: f('diaSource'), diaForcedSource: f('diaForcedSource'), diaObject: f('diaObject'), ssSource: f('ssSource'), mpc_orbits: f('mpc_orbits') };
}

/** Which APDB table each alert record comes from, and which of its columns it leaves out. */
export const ALERT_RECORD_SOURCES: Readonly<Record<AlertRecordName, { readonly table: ApdbTableSpec; readonly omit: readonly string[] }>> = {
  diaSource: { table: diaSourceTable, omit: ['ssObjectReassocTimeMjdTai', 'exposureTime', 'trailAlgorithm', 'trail_flag', 'reliabilityVersion'] },
  diaForcedSource: { table: diaForcedSourceTable, omit: [] },
  diaObject: { table: diaObjectTable, omit: ['validityEndMjdTai'] },
  ssSource: { table: sSSourceTable, omit: [] },
  mpc_orbits: { table: mpcorbitsTable, omit: [] },
};

const AVRO_OF: Readonly<Record<ApdbDatatype, AvroPrimitiveName | AvroLogicalSchema>> = {
  long: 'long',
  int: 'int',
  short: 'int',
  float: 'float',
  double: 'double',
  char: 'string',
  string: 'string',
  text: 'string',
  boolean: 'boolean',
  timestamp: { type: 'long', logicalType: 'timestamp-micros' },
};

/** The Avro type of a column's values (without the null of a nullable column). */
export function avroTypeOfColumn(datatype: ApdbDatatype): AvroPrimitiveName | AvroLogicalSchema {
  return AVRO_OF[datatype];
}

/** The APDB columns an alert record carries, in order. */
export function alertRecordColumns(name: AlertRecordName): readonly ApdbColumn[] {
  const src = ALERT_RECORD_SOURCES[name];
  const omit = new Set(src.omit);
  const cols = tableColumns(src.table);
  for (const o of omit) if (!cols.some((c) => c.name === o)) throw new Error(`alert record ${name}: omitted column ${o} is not in table ${src.table.name}`);
  return cols.filter((c) => !omit.has(c.name));
}

function fieldOf(col: ApdbColumn): AvroField {
  const t = avroTypeOfColumn(col.datatype);
  return col.nullable ? { name: col.name, type: ['null', t], default: null } : { name: col.name, type: t };
}

function recordSchema(name: AlertRecordName): AvroRecordSchema {
  return {
    type: 'record',
    namespace: ALERT_NAMESPACE,
    name,
    fields: alertRecordColumns(name).map(fieldOf),
    'confluent:version': ALERT_SCHEMA_ID,
  };
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

/** Each named record of the alert on its own (as in lsst.v11_0.<name>.avsc, without docs). */
export const ALERT_RECORD_SCHEMAS: Readonly<Record<AlertRecordName, AvroRecordSchema>> = deepFreeze(mapAlertRecords(recordSchema));

const ref = (name: AlertRecordName): string => `${ALERT_NAMESPACE}.${name}`;
const nullable = (t: AvroSchema): AvroField['type'] => ['null', t];

/** The root record's fields, with named types referenced by full name (as lsst.v11_0.alert.avsc). */
function alertFields(define: (name: AlertRecordName) => AvroSchema): AvroField[] {
  // Named types must be defined before use: the first mention of each gets `define`.
  const seen = new Set<AlertRecordName>();
  const use = (name: AlertRecordName): AvroSchema => {
    if (seen.has(name)) return ref(name);
    seen.add(name);
    return define(name);
  };
  return [
    { name: 'diaSourceId', type: 'long' },
    { name: 'observation_reason', type: nullable('string'), default: null },
    { name: 'target_name', type: nullable('string'), default: null },
    { name: 'diaSource', type: use('diaSource') },
    { name: 'prvDiaSources', type: nullable({ type: 'array', items: use('diaSource') }), default: null },
    { name: 'prvDiaForcedSources', type: nullable({ type: 'array', items: use('diaForcedSource') }), default: null },
    { name: 'diaObject', type: nullable(use('diaObject')), default: null },
    { name: 'ssSource', type: nullable(use('ssSource')), default: null },
    { name: 'mpc_orbits', type: nullable(use('mpc_orbits')), default: null },
    { name: 'cutoutDifference', type: nullable('bytes'), default: null },
    { name: 'cutoutScience', type: nullable('bytes'), default: null },
    { name: 'cutoutTemplate', type: nullable('bytes'), default: null },
  ];
}

/** The root record as lsst.v11_0.alert.avsc holds it: named types referenced, not defined. */
export const ALERT_ROOT_SCHEMA: AvroRecordSchema = deepFreeze({
  type: 'record',
  namespace: ALERT_NAMESPACE,
  name: 'alert',
  fields: alertFields(ref),
});

/** The whole alert schema, self-contained: named types defined inline at their first use. */
export const ALERT_SCHEMA: AvroRecordSchema = deepFreeze({
  type: 'record',
  namespace: ALERT_NAMESPACE,
  name: 'alert',
  fields: alertFields((name) => ALERT_RECORD_SCHEMAS[name]),
});

/** ALERT_SCHEMA as JSON text (compact). */
export const ALERT_SCHEMA_JSON: string = JSON.stringify(ALERT_SCHEMA);

/** The avsc options every alert type is built with: unwrapped unions, longs as bigint. */
export const AVSC_OPTIONS = Object.freeze({ wrapUnions: 'never' as const, omitRecordMethods: true, typeHook: bigintLongHook });

/** avsc type of an Avro schema (JSON), with longs as bigint. */
export function avroType(schema: unknown, registry: Record<string, avro.Type> = {}): avro.Type {
  return avro.Type.forSchema(schema as avro.Schema, { ...AVSC_OPTIONS, registry });
}

const registry: Record<string, avro.Type> = {};
/** The avsc type of ALERT_SCHEMA. */
export const ALERT_TYPE: avro.Type = avroType(ALERT_SCHEMA, registry);

/** The avsc type of one named record of the alert (as part of ALERT_TYPE). */
export function alertRecordType(name: AlertRecordName): avro.types.RecordType {
  return registry[`${ALERT_NAMESPACE}.${name}`] as avro.types.RecordType;
}

/**
 * Parsing Canonical Form of an Avro type (spec §"Parsing Canonical Form for Schemas"): avsc's
 * schema export without attributes (no doc, default, logicalType; full names).
 */
export function parsingCanonicalForm(type: avro.Type): string {
  return JSON.stringify(type.schema({ exportAttrs: false }));
}

/** PCF of the alert schema: what a schema registry stores. */
export const ALERT_SCHEMA_CANONICAL: string = parsingCanonicalForm(ALERT_TYPE);
