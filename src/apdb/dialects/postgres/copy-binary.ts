/**
 * Rows through COPY … (FORMAT binary): each value crosses the wire in its binary form, so no
 * field is printed to text by the server and parsed back by the client, which is where a large
 * read spends its time (a history of 10 000 DiaSources is a million fields).
 *
 * The format (PostgreSQL's "Binary Format" of COPY): an 11-byte signature, a 32-bit flags word, a
 * 32-bit header-extension length and the extension; then per tuple a 16-bit field count and per
 * field a 32-bit length (−1 for NULL) and the bytes, big-endian; then the count −1. Values:
 * int2/int4/int8 and float4/float8 as they are, bool one byte, text/varchar/bpchar UTF-8 (bpchar
 * with its padding), timestamp int8 microseconds since 2000-01-01.
 *
 * Values come out in the row conventions (types.ts): BIGINT as bigint, TIMESTAMP as microseconds
 * since 1970 (bigint), CHAR without its padding, REAL as the exact 32-bit value it holds, NaN as
 * NaN. The binary form has no type information: every field's length is checked against its
 * column's type, so a table whose column types are not the schema's is refused, not misread.
 */
import type { ClientBase } from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import type { ApdbColumn, ApdbDatatype } from '../../schema/types.ts';
import type { ApdbRow, ApdbValue } from '../../types.ts';

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const HEADER = SIGNATURE.length + 8;
/** Microseconds from 1970-01-01 to 2000-01-01, PostgreSQL's epoch. */
const PG_EPOCH_US = 946_684_800_000_000n;

const LONG = 1;
const INT = 2;
const SHORT = 3;
const FLOAT = 4;
const DOUBLE = 5;
const BOOLEAN = 6;
const CHAR = 7;
const STRING = 8;
const TIMESTAMP = 9;

const KIND: Record<ApdbDatatype, number> = {
  long: LONG, int: INT, short: SHORT, float: FLOAT, double: DOUBLE, boolean: BOOLEAN,
  char: CHAR, string: STRING, text: STRING, timestamp: TIMESTAMP,
};
/** Bytes of a non-NULL value of each kind; −1: any length. */
const SIZE = [-1, 8, 4, 2, 4, 8, 1, -1, -1, 8];

interface TupleLayout {
  readonly names: readonly string[];
  readonly kinds: Uint8Array;
  /** The row object of one tuple's values (in column order). */
  readonly build: (values: readonly ApdbValue[]) => ApdbRow;
}

const layouts = new Map<string, TupleLayout>();

function layoutOf(columns: readonly ApdbColumn[]): TupleLayout {
  const key = columns.map((c) => `${c.name}:${c.datatype}`).join(',');
  let layout = layouts.get(key);
  if (!layout) {
    for (const c of columns) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(c.name)) throw new Error(`column name ${JSON.stringify(c.name)} cannot be read through COPY`);
    }
    // One object literal per tuple: rows of a hundred columns built by assignment would each
    // fall back to a slow dictionary layout. The names are the schema's identifiers, checked above.
    const body = `return {${columns.map((c, i) => `${JSON.stringify(c.name)}: v[${i}]`).join(', ')}};`;
    layout = {
      names: columns.map((c) => c.name),
      kinds: Uint8Array.from(columns, (c) => KIND[c.datatype]),
      build: new Function('v', body) as (values: readonly ApdbValue[]) => ApdbRow,
    };
    layouts.set(key, layout);
  }
  return layout;
}

/**
 * Decodes a COPY binary stream chunk by chunk into rows of `columns` (the COPY's columns, in
 * order). Chunks may split a tuple anywhere: the unfinished tail waits for the next chunk.
 */
export class BinaryCopyDecoder {
  readonly rows: ApdbRow[] = [];
  readonly #layout: TupleLayout;
  readonly #values: ApdbValue[];
  #rest: Buffer | null = null;
  #header = false;
  #ended = false;

  constructor(columns: readonly ApdbColumn[]) {
    this.#layout = layoutOf(columns);
    this.#values = new Array<ApdbValue>(columns.length).fill(null);
  }

  push(chunk: Buffer): void {
    const buf = this.#rest ? Buffer.concat([this.#rest, chunk]) : chunk;
    const end = buf.length;
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    let p = 0;
    if (!this.#header) {
      if (end < HEADER) {
        this.#rest = buf;
        return;
      }
      if (!buf.subarray(0, SIGNATURE.length).equals(SIGNATURE)) throw new Error('COPY did not send the binary format\'s signature');
      const extension = dv.getUint32(HEADER - 4);
      if (end < HEADER + extension) {
        this.#rest = buf;
        return;
      }
      p = HEADER + extension;
      this.#header = true;
    }
    const { kinds, names, build } = this.#layout;
    const n = kinds.length;
    const values = this.#values;
    while (!this.#ended && p + 2 <= end) {
      const count = dv.getInt16(p);
      if (count === -1) {
        this.#ended = true;
        p += 2;
        break;
      }
      if (count !== n) throw new Error(`COPY sent tuples of ${count} fields, ${n} expected`);
      // Only a whole tuple is decoded.
      let q = p + 2;
      for (let i = 0; i < n && q <= end; i++) {
        if (q + 4 > end) {
          q = end + 1;
          break;
        }
        const len = dv.getInt32(q);
        q += 4 + (len > 0 ? len : 0);
      }
      if (q > end) break;
      p += 2;
      for (let i = 0; i < n; i++) {
        const len = dv.getInt32(p);
        p += 4;
        if (len < 0) {
          values[i] = null;
          continue;
        }
        const kind = kinds[i];
        if (SIZE[kind] >= 0 && len !== SIZE[kind]) {
          throw new Error(`column '${names[i]}' came with ${len} bytes, ${SIZE[kind]} expected: its type in the database is not the schema's`);
        }
        switch (kind) {
          case LONG: values[i] = dv.getBigInt64(p); break;
          case INT: values[i] = dv.getInt32(p); break;
          case SHORT: values[i] = dv.getInt16(p); break;
          case FLOAT: values[i] = dv.getFloat32(p); break;
          case DOUBLE: values[i] = dv.getFloat64(p); break;
          case BOOLEAN: values[i] = buf[p] !== 0; break;
          case CHAR: {
            let e = p + len;
            while (e > p && buf[e - 1] === 0x20) e--;
            values[i] = buf.toString('utf8', p, e);
            break;
          }
          case STRING: values[i] = buf.toString('utf8', p, p + len); break;
          case TIMESTAMP: values[i] = dv.getBigInt64(p) + PG_EPOCH_US; break;
        }
        p += len;
      }
      this.rows.push(build(values));
    }
    this.#rest = p < end ? buf.subarray(p) : null;
    if (this.#ended && this.#rest) throw new Error('COPY sent data after its end');
  }

  /** The rows, once the whole stream was pushed. */
  finish(): ApdbRow[] {
    if (!this.#ended) throw new Error('the COPY stream ended before its trailer');
    return this.rows;
  }
}

/**
 * Runs `COPY (select) TO STDOUT (FORMAT binary)` on the client and decodes the rows as they
 * arrive, while the server is still sending (`columns`: the select's, in order). A decoding
 * error is thrown only once the stream has ended, so the connection is left usable.
 */
export async function copyRowsOut(client: ClientBase, select: string, columns: readonly ApdbColumn[]): Promise<ApdbRow[]> {
  const decoder = new BinaryCopyDecoder(columns);
  let failure: unknown = null;
  const stream = client.query(copyTo(`copy (${select}) to stdout with (format binary)`));
  for await (const chunk of stream) {
    if (failure !== null) continue;
    try {
      decoder.push(chunk as Buffer);
    } catch (e) {
      failure = e;
    }
  }
  if (failure !== null) throw failure;
  return decoder.finish();
}

const PLACEHOLDERS = /"(?:[^"]|"")*"|'(?:[^']|'')*'|\$(\d+)/g;

/** A bound value as an SQL literal of the same value. */
export function sqlLiteral(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  switch (typeof v) {
    case 'bigint':
      return `'${v}'::int8`;
    case 'number':
      if (Number.isNaN(v)) return `'NaN'::float8`;
      if (!Number.isFinite(v)) return v > 0 ? `'Infinity'::float8` : `'-Infinity'::float8`;
      // An integer stays an integer literal, whatever integer column it meets; a fraction is
      // written with every digit JavaScript needs to give the same double back.
      if (Number.isSafeInteger(v)) return v < 0 ? `(${v})` : String(v);
      return `'${v}'::float8`;
    case 'boolean':
      return v ? 'true' : 'false';
    case 'string':
      return v.includes('\\') ? ` E'${v.replace(/\\/g, '\\\\').replace(/'/g, "''")}'` : `'${v.replace(/'/g, "''")}'`;
    default:
      throw new Error(`cannot write a ${typeof v} value into a COPY statement`);
  }
}

/**
 * A compiled statement with its $n placeholders replaced by the bound values as literals (COPY
 * takes no parameters). Quoted identifiers and string literals are left as they are.
 */
export function inlineParameters(sqlText: string, parameters: readonly unknown[]): string {
  return sqlText.replace(PLACEHOLDERS, (match: string, n: string | undefined) => {
    if (n === undefined) return match;
    const i = Number(n) - 1;
    if (i < 0 || i >= parameters.length) throw new Error(`statement has placeholder $${n} but ${parameters.length} parameters`);
    return sqlLiteral(parameters[i]);
  });
}
