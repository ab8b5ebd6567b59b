/**
 * Rows on their way in and out. In: every value is checked against its column (type, range,
 * length, NOT NULL), unknown columns are refused, a missing column is NULL, and pixelId is
 * computed from ra/dec (a pixelId given by the caller is ignored). Out: the backend's values are
 * turned back into the row conventions of types.ts.
 */
import type { Compilable } from 'kysely';
import { InvalidInputError } from '../core/errors.ts';
import type { ApdbBackend, ApdbDb } from './backend.ts';
import { PIXEL_ID, type PhysicalTable } from './physical.ts';
import { pixelIdOf } from './region.ts';
import type { ApdbColumn } from './schema/types.ts';
import type { ApdbRow, ApdbValue } from './types.ts';

const INT_RANGE = { int: [-2147483648, 2147483647], short: [-32768, 32767] } as const;
const LONG_MIN = -(2n ** 63n);
const LONG_MAX = 2n ** 63n - 1n;

type Checked = { readonly ok: true; readonly value: ApdbValue } | { readonly ok: false; readonly reason: string };

const ok = (value: ApdbValue): Checked => ({ ok: true, value });
const bad = (reason: string): Checked => ({ ok: false, reason });

/** The value normalised for its column (long and timestamp → bigint), or why it does not fit. */
function normalise(col: ApdbColumn, v: ApdbValue | undefined): Checked {
  if (v === null || v === undefined) return col.nullable ? ok(null) : bad('is NULL but the column is NOT NULL');
  switch (col.datatype) {
    case 'long':
    case 'timestamp': {
      const b = typeof v === 'bigint' ? v : typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : null;
      if (b === null) return bad(`must be a bigint (or a safe integer number), got ${describe(v)}`);
      if (b < LONG_MIN || b > LONG_MAX) return bad(`${b} is outside the 64-bit range`);
      return ok(b);
    }
    case 'int':
    case 'short': {
      const n = typeof v === 'bigint' ? Number(v) : v;
      const [lo, hi] = INT_RANGE[col.datatype];
      if (typeof n !== 'number' || !Number.isInteger(n)) return bad(`must be an integer number, got ${describe(v)}`);
      if (n < lo || n > hi) return bad(`${n} is outside the ${col.datatype} range ${lo}..${hi}`);
      return ok(n);
    }
    case 'float':
    case 'double':
      return typeof v === 'number' ? ok(v) : bad(`must be a number, got ${describe(v)}`);
    case 'boolean':
      return typeof v === 'boolean' ? ok(v) : bad(`must be a boolean, got ${describe(v)}`);
    case 'char':
    case 'string':
    case 'text':
      if (typeof v !== 'string') return bad(`must be a string, got ${describe(v)}`);
      if (col.length !== undefined && v.length > col.length) return bad(`'${v}' is longer than ${col.length} characters`);
      return ok(v);
  }
}

function describe(v: unknown): string {
  return typeof v === 'bigint' ? `${v}n (bigint)` : `${JSON.stringify(v)} (${typeof v})`;
}

/** One value checked against its column and encoded for the backend; `what` names it in errors. */
export function encodeValue(backend: ApdbBackend, col: ApdbColumn, value: ApdbValue | undefined, what: string): ApdbValue {
  const c = normalise(col, value);
  if (!c.ok) throw new InvalidInputError(`${what}: column '${col.name}' (${col.datatype}${col.length !== undefined ? `(${col.length})` : ''}${col.nullable ? '' : ', NOT NULL'}) ${c.reason}`);
  return backend.encode(col, c.value);
}

/**
 * Checks and completes rows for `table`, encoded for the backend: one record per row holding
 * every stored column. `what` names the rows in errors ("DiaSource row 3: …").
 */
export function prepareRows(backend: ApdbBackend, table: PhysicalTable, rows: readonly ApdbRow[], what = table.name): Array<Record<string, ApdbValue>> {
  if (!Array.isArray(rows)) throw new InvalidInputError(`${what} rows must be an array`);
  return rows.map((row, i) => {
    if (row === null || typeof row !== 'object') throw new InvalidInputError(`${what} row ${i} is not an object`);
    for (const k of Object.keys(row)) {
      if (!table.byName.has(k)) throw new InvalidInputError(`${what} row ${i}: ${table.name} has no column '${k}'`);
    }
    const out: Record<string, ApdbValue> = {};
    for (const col of table.columns) {
      if (col.name === PIXEL_ID) {
        const { ra, dec } = row;
        if (typeof ra !== 'number' || typeof dec !== 'number' || !Number.isFinite(ra) || !Number.isFinite(dec) || Math.abs(dec) > 90) {
          throw new InvalidInputError(`${what} row ${i}: ra/dec (${describe(ra)}, ${describe(dec)}) must be finite degrees to index the row`);
        }
        out[col.name] = backend.encode(col, BigInt(pixelIdOf(ra, dec)));
        continue;
      }
      out[col.name] = encodeValue(backend, col, row[col.name], `${what} row ${i}`);
    }
    return out;
  });
}

export type RowDecoder = (raw: Record<string, unknown>) => ApdbRow;

const decoders = new WeakMap<ApdbBackend, Map<string, RowDecoder>>();

/** The columns a read selects: every stored column, or the schema's (pixelId left out). */
export function readColumns(table: PhysicalTable, keepPixelId: boolean): string[] {
  return table.columns.filter((c) => keepPixelId || c.name !== PIXEL_ID).map((c) => c.name);
}

/**
 * Turns a row read from the backend (holding readColumns(table, keepPixelId)) into the row
 * conventions, in place: only the columns whose driver values need converting are touched.
 */
export function rowDecoder(backend: ApdbBackend, table: PhysicalTable, keepPixelId: boolean): RowDecoder {
  let perBackend = decoders.get(backend);
  if (!perBackend) {
    perBackend = new Map();
    decoders.set(backend, perBackend);
  }
  const key = `${table.name}:${keepPixelId}`;
  let decode = perBackend.get(key);
  if (!decode) {
    const fixes: Array<readonly [string, (raw: unknown) => ApdbValue]> = [];
    for (const c of table.columns) {
      const f = backend.decoder(c);
      if (f && (keepPixelId || c.name !== PIXEL_ID)) fixes.push([c.name, f]);
    }
    decode = (raw) => {
      for (const [name, f] of fixes) {
        const v = raw[name];
        if (v !== null && v !== undefined) raw[name] = f(v);
      }
      return raw as ApdbRow;
    };
    perBackend.set(key, decode);
  }
  return decode;
}

/** A SELECT of the query builder, ready to run. */
export type RowQuery = Compilable<unknown> & { execute(): Promise<Array<Record<string, unknown>>> };

/**
 * Runs a SELECT of `columns` (its select list, in order) of `table` and returns its rows in the
 * row conventions: through the backend's own reader where it has one (PostgreSQL: COPY binary),
 * else through the query builder and rowDecoder.
 */
export async function selectRows(q: ApdbDb, backend: ApdbBackend, table: PhysicalTable, columns: readonly string[], query: RowQuery): Promise<ApdbRow[]> {
  if (backend.selectRows) {
    return backend.selectRows(q, query, columns.map((c) => {
      const col = table.byName.get(c);
      if (!col) throw new Error(`${table.name} has no column '${c}'`);
      return col;
    }));
  }
  const decode = rowDecoder(backend, table, columns.includes(PIXEL_ID));
  return (await query.execute()).map(decode);
}
