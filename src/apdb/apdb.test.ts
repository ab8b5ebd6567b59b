/** The table specs of schema/tables.ts against the Felis schema they come from (when it is at hand). */
import { existsSync, readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { APDB_SCHEMA_NAME, APDB_SCHEMA_VERSION, APDB_TABLES } from './schema/tables.ts';
import { tableColumns } from './schema/types.ts';

const REFERENCE = '/work/shared/reference/apdb/apdb.yaml';
const present = existsSync(REFERENCE);
if (!present) console.warn(`APDB schema check skipped: ${REFERENCE} is not here`);

interface FelisColumn { name: string; datatype: string; nullable?: boolean; length?: number }
interface FelisIndex { name: string; columns: string[]; '@type'?: string }
interface FelisTable { name: string; columns: FelisColumn[]; primaryKey?: string | string[]; indexes?: FelisIndex[]; constraints?: FelisIndex[] }

const bare = (ref: string): string => ref.replace(/^#[^.]+\./, '');

describe.skipIf(!present)('APDB schema', () => {
  it('matches the Felis schema ApdbSchema 10.0.0 table by table, column by column', () => {
    const felis = parse(readFileSync(REFERENCE, 'utf8')) as { name: string; version: string; tables: FelisTable[] };
    expect([felis.name, String(felis.version)]).toEqual([APDB_SCHEMA_NAME, APDB_SCHEMA_VERSION]);
    expect(APDB_TABLES.map((t) => t.name)).toEqual(felis.tables.map((t) => t.name));
    for (const [i, ft] of felis.tables.entries()) {
      const spec = APDB_TABLES[i];
      const want = ft.columns.map((c) => ({
        name: c.name, datatype: c.datatype, nullable: c.nullable ?? true,
        ...(c.length !== undefined && (c.datatype === 'char' || c.datatype === 'string') ? { length: c.length } : {}),
      }));
      expect(tableColumns(spec), ft.name).toEqual(want);
      const pk = ft.primaryKey === undefined ? [] : (Array.isArray(ft.primaryKey) ? ft.primaryKey : [ft.primaryKey]).map(bare);
      expect(spec.primaryKey, ft.name).toEqual(pk);
      expect(spec.indexes, ft.name).toEqual((ft.indexes ?? []).map((ix) => ({ name: ix.name, columns: ix.columns.map(bare) })));
      const unique = (ft.constraints ?? []).filter((c) => c['@type'] === 'Unique');
      expect(spec.unique, ft.name).toEqual(unique.map((u) => ({ name: u.name, columns: u.columns.map(bare) })));
    }
  });
});
