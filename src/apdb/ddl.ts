/** CREATE statements for every APDB table in a backend's SQL types. */
import { sql, type RawBuilder } from 'kysely';
import type { ApdbBackend } from './backend.ts';
import type { PhysicalTable } from './physical.ts';

const ids = (names: readonly string[]): RawBuilder<unknown> => sql.join(names.map((n) => sql.id(n)));

export function createTableStatements(backend: ApdbBackend, table: PhysicalTable): Array<RawBuilder<unknown>> {
  const parts: Array<RawBuilder<unknown>> = table.columns.map(
    (c) => sql`${sql.id(c.name)} ${sql.raw(backend.sqlType(c))}${sql.raw(c.nullable ? '' : ' NOT NULL')}`,
  );
  if (table.spec.primaryKey.length > 0) parts.push(sql`PRIMARY KEY (${ids(table.spec.primaryKey)})`);
  for (const u of table.spec.unique) parts.push(sql`CONSTRAINT ${sql.id(u.name)} UNIQUE (${ids(u.columns)})`);
  const out = [sql`CREATE TABLE ${backend.table(table.name)} (${sql.join(parts)})`];
  for (const ix of table.indexes) {
    out.push(sql`CREATE INDEX ${sql.id(ix.name)} ON ${backend.table(table.name)} (${ids(ix.columns)})`);
  }
  return out;
}
