/**
 * The published alert schema v11.0 (lsst/alert_packet's .avsc files), read from the shared
 * reference folder next to the project when it is there; tests that compare with it skip
 * otherwise.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import { ALERT_RECORD_NAMES, type AlertRecordName } from '../schema.ts';

export const REFERENCE_SCHEMA_DIR = path.resolve(fileURLToPath(new URL('../../../', import.meta.url)), '../shared/reference/alert-schema/11.0');

export type JsonObject = { [k: string]: unknown };

export interface OfficialSchemas {
  readonly dir: string;
  /** Parsed .avsc of each named record the alert uses. */
  readonly records: Readonly<Record<AlertRecordName, JsonObject>>;
  /** Parsed lsst.v11_0.alert.avsc (references the records by name). */
  readonly alert: JsonObject;
  /** The file paths, the records first (definition order), the alert last. */
  readonly files: readonly string[];
}

export function officialSchemas(): OfficialSchemas | null {
  const dir = REFERENCE_SCHEMA_DIR;
  const file = (n: string): string => path.join(dir, `lsst.v11_0.${n}.avsc`);
  if (!existsSync(file('alert'))) return null;
  const read = (f: string): JsonObject => JSON.parse(readFileSync(f, 'utf8')) as JsonObject;
  const records = Object.fromEntries(ALERT_RECORD_NAMES.map((n) => [n, read(file(n))])) as Record<AlertRecordName, JsonObject>;
  return { dir, records, alert: read(file('alert')), files: [...ALERT_RECORD_NAMES.map(file), file('alert')] };
}

/**
 * The official alert type, as avsc parses it out of the box: the named records first, into a
 * shared registry, then the alert that references them.
 */
export function officialAlertType(o: OfficialSchemas): avro.Type {
  const registry: Record<string, avro.Type> = {};
  for (const n of ALERT_RECORD_NAMES) avro.Type.forSchema(o.records[n] as avro.Schema, { registry });
  return avro.Type.forSchema(o.alert as avro.Schema, { registry });
}

/** sample_data/alert.json with integers of 16 digits or more kept as strings (beyond 2^53). */
export function officialSampleAlert(o: OfficialSchemas): JsonObject | null {
  const f = path.join(o.dir, 'sample_data', 'alert.json');
  if (!existsSync(f)) return null;
  const text = readFileSync(f, 'utf8').replace(/([:[,]\s*)(-?\d{16,})(?=\s*[,}\]])/g, '$1"$2"');
  return JSON.parse(text) as JsonObject;
}
