/**
 * Many rows in one INSERT … SELECT * FROM unnest($1::type[], $2::type[], …): one array parameter
 * per column instead of one parameter per value. A hundred DiaSources of 103 columns are then
 * 103 parameters, not 10 300: the statement is parsed and planned in a fraction of the time, and
 * there is no limit on the rows per statement. Each array is sent as its text literal, built
 * here directly from the encoded values.
 */
import { sql, type RawBuilder } from 'kysely';
import type { ApdbDb, OnConflict } from '../../backend.ts';
import type { PhysicalTable } from '../../physical.ts';
import type { ApdbColumn } from '../../schema/types.ts';
import type { ApdbValue } from '../../types.ts';

/** The element type of a column's array, without length: the INSERT checks the length. */
export function postgresElementType(c: ApdbColumn): string {
  switch (c.datatype) {
    case 'long': return 'bigint';
    case 'int': return 'integer';
    case 'short': return 'smallint';
    case 'float': return 'real';
    case 'double': return 'double precision';
    case 'char': return 'bpchar';
    case 'string': return 'varchar';
    case 'text': return 'text';
    case 'boolean': return 'boolean';
    case 'timestamp': return 'timestamp';
  }
}

/** The text literal of a one-dimensional array of encoded values ('{1,NaN,NULL,"a\"b"}'). */
export function arrayLiteral(values: readonly ApdbValue[]): string {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    switch (typeof v) {
      case 'number':
      case 'bigint':
        // Shortest digits that give the same double back; NaN, Infinity and -Infinity as
        // PostgreSQL spells them.
        parts[i] = String(v);
        break;
      case 'boolean':
        parts[i] = v ? 't' : 'f';
        break;
      case 'string':
        parts[i] = `"${v.replace(/[\\"]/g, '\\$&')}"`;
        break;
      default:
        if (v !== null && v !== undefined) throw new Error(`cannot put a ${typeof v} into an array literal`);
        parts[i] = 'NULL';
    }
  }
  return `{${parts.join(',')}}`;
}

/** Inserts encoded rows (every stored column of `table`) in one statement. */
export async function insertByUnnest(q: ApdbDb, target: RawBuilder<unknown>, table: PhysicalTable, rows: ReadonlyArray<Readonly<Record<string, ApdbValue>>>, onConflict: OnConflict): Promise<void> {
  if (rows.length === 0) return;
  const columns = table.columns;
  const arrays = columns.map((c) => {
    const values = rows.map((r) => r[c.name] ?? null);
    return sql`${arrayLiteral(values)}::${sql.raw(postgresElementType(c))}[]`;
  });
  const names = sql.join(columns.map((c) => sql.id(c.name)));
  const pk = table.spec.primaryKey;
  let conflict = sql``;
  if (onConflict !== 'error' && pk.length > 0) {
    const key = sql.join(pk.map((c) => sql.id(c)));
    const rest = columns.filter((c) => !pk.includes(c.name));
    conflict = onConflict === 'nothing' || rest.length === 0
      ? sql` on conflict (${key}) do nothing`
      : sql` on conflict (${key}) do update set ${sql.join(rest.map((c) => sql`${sql.id(c.name)} = excluded.${sql.id(c.name)}`))}`;
  }
  await sql`insert into ${target} (${names}) select * from unnest(${sql.join(arrays)})${conflict}`.execute(q);
}
