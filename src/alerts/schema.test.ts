import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { diaForcedSourceTable, diaObjectTable, diaSourceTable } from '../apdb/schema/tables.ts';
import { tableColumns } from '../apdb/schema/types.ts';
import {
  ALERT_RECORD_NAMES,
  ALERT_RECORD_SCHEMAS,
  ALERT_ROOT_SCHEMA,
  ALERT_SCHEMA,
  ALERT_SCHEMA_CANONICAL,
  ALERT_SCHEMA_ID,
  ALERT_SCHEMA_JSON,
  ALERT_SCHEMA_VERSION,
  ALERT_TYPE,
  alertRecordColumns,
  avroType,
  parsingCanonicalForm,
  type AvroField,
} from './schema.ts';
import { officialAlertType, officialSchemas, type JsonObject } from './testing/reference.ts';

const official = officialSchemas();
if (!official) console.log('alert schema tests: /work/shared/reference/alert-schema/11.0 is absent, comparisons with the published schema skipped');

/** A field without its doc, keys in a fixed order. */
function comparable(f: JsonObject | AvroField): JsonObject {
  const o: JsonObject = { name: f.name, type: f.type };
  if ('default' in f) o.default = f.default;
  return o;
}

describe('alert schema v11.0 built from the APDB tables', () => {
  it('has the id and version of v11.0', () => {
    expect(ALERT_SCHEMA_ID).toBe(1100);
    expect(ALERT_SCHEMA_VERSION).toBe('11.0');
    expect(ALERT_SCHEMA.name).toBe('alert');
    expect(ALERT_SCHEMA.namespace).toBe('lsst.v11_0');
    for (const n of ALERT_RECORD_NAMES) expect(ALERT_RECORD_SCHEMAS[n]['confluent:version']).toBe(1100);
  });

  it('takes every column of the tables in order, less the ones the alert omits', () => {
    const names = (n: (typeof ALERT_RECORD_NAMES)[number]): string[] => alertRecordColumns(n).map((c) => c.name);
    const src = names('diaSource');
    for (const o of ['ssObjectReassocTimeMjdTai', 'exposureTime', 'trailAlgorithm', 'trail_flag', 'reliabilityVersion']) expect(src).not.toContain(o);
    expect(src).toEqual(tableColumns(diaSourceTable).map((c) => c.name).filter((c) => !['ssObjectReassocTimeMjdTai', 'exposureTime', 'trailAlgorithm', 'trail_flag', 'reliabilityVersion'].includes(c)));
    expect(names('diaObject')).toEqual(tableColumns(diaObjectTable).map((c) => c.name).filter((c) => c !== 'validityEndMjdTai'));
    expect(names('diaForcedSource')).toEqual(tableColumns(diaForcedSourceTable).map((c) => c.name));
    expect(src).toHaveLength(98);
  });

  it('maps datatypes and nullability as the alert does', () => {
    const field = (rec: (typeof ALERT_RECORD_NAMES)[number], name: string): AvroField | undefined => ALERT_RECORD_SCHEMAS[rec].fields.find((f) => f.name === name);
    expect(field('diaSource', 'diaSourceId')).toEqual({ name: 'diaSourceId', type: 'long' });
    expect(field('diaSource', 'detector')).toEqual({ name: 'detector', type: 'int' });
    expect(field('diaSource', 'band')).toEqual({ name: 'band', type: ['null', 'string'], default: null });
    expect(field('diaSource', 'raErr')).toEqual({ name: 'raErr', type: ['null', 'float'], default: null });
    expect(field('mpc_orbits', 'created_at')).toEqual({ name: 'created_at', type: ['null', { type: 'long', logicalType: 'timestamp-micros' }], default: null });
    expect(field('mpc_orbits', 'mpc_orb_jsonb')?.type).toEqual(['null', 'string']);
    expect(field('ssSource', 'diaDistanceRank')?.type).toEqual(['null', 'int']);
  });

  it('defines each named type once, at its first use, and parses', () => {
    expect(ALERT_SCHEMA_JSON.match(/"name":"diaSource","fields"/g)).toHaveLength(1);
    const prv = ALERT_SCHEMA.fields.find((f) => f.name === 'prvDiaSources');
    expect(prv?.type).toEqual(['null', { type: 'array', items: 'lsst.v11_0.diaSource' }]);
    expect(ALERT_TYPE.name).toBe('lsst.v11_0.alert');
    // Reparsing the JSON text gives the same type.
    expect(avroType(JSON.parse(ALERT_SCHEMA_JSON)).equals(ALERT_TYPE)).toBe(true);
    expect(parsingCanonicalForm(ALERT_TYPE)).toBe(ALERT_SCHEMA_CANONICAL);
    expect(ALERT_SCHEMA_CANONICAL).not.toMatch(/"default"|logicalType|confluent|namespace/);
  });

  it.skipIf(!official)('has the Parsing Canonical Form and fingerprint of the published lsst.v11_0.alert', () => {
    if (!official) return;
    const theirs = officialAlertType(official);
    expect(parsingCanonicalForm(theirs)).toBe(ALERT_SCHEMA_CANONICAL);
    expect(theirs.fingerprint('sha256').toString('hex')).toBe(ALERT_TYPE.fingerprint('sha256').toString('hex'));
    expect(theirs.equals(ALERT_TYPE)).toBe(true);
    // Also against a plain parse of our JSON (no bigint hook), like any Avro library would do it.
    expect(parsingCanonicalForm(avro.Type.forSchema(JSON.parse(ALERT_SCHEMA_JSON) as avro.Schema))).toBe(parsingCanonicalForm(theirs));
  });

  it.skipIf(!official)('matches every published record field by field: name, type, default', () => {
    if (!official) return;
    for (const n of ALERT_RECORD_NAMES) {
      const theirs = official.records[n];
      const ours = ALERT_RECORD_SCHEMAS[n];
      expect({ type: ours.type, name: ours.name, namespace: ours.namespace, v: ours['confluent:version'] }).toEqual({ type: theirs.type, name: theirs.name, namespace: theirs.namespace, v: theirs['confluent:version'] });
      const theirFields = theirs.fields as JsonObject[];
      expect(ours.fields.map((f) => f.name), n).toEqual(theirFields.map((f) => f.name));
      ours.fields.forEach((f, i) => expect(comparable(f), `${n}.${f.name}`).toEqual(comparable(theirFields[i])));
    }
  });

  it.skipIf(!official)('matches the published root record field by field', () => {
    if (!official) return;
    const theirs = official.alert;
    expect({ type: ALERT_ROOT_SCHEMA.type, name: ALERT_ROOT_SCHEMA.name, namespace: ALERT_ROOT_SCHEMA.namespace }).toEqual({ type: theirs.type, name: theirs.name, namespace: theirs.namespace });
    // The published root carries no confluent:version (only the named records do); neither do we.
    expect('confluent:version' in ALERT_ROOT_SCHEMA).toBe('confluent:version' in theirs);
    const theirFields = theirs.fields as JsonObject[];
    expect(ALERT_ROOT_SCHEMA.fields.map(comparable)).toEqual(theirFields.map(comparable));
  });
});
