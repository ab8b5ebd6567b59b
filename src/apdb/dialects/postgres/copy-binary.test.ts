import { describe, expect, it } from 'vitest';
import type { ApdbColumn } from '../../schema/types.ts';
import { arrayLiteral } from './bulk-insert.ts';
import { BinaryCopyDecoder, inlineParameters } from './copy-binary.ts';

const COLUMNS: ApdbColumn[] = [
  { name: 'id', datatype: 'long', nullable: false },
  { name: 'n', datatype: 'int', nullable: true },
  { name: 's', datatype: 'short', nullable: true },
  { name: 'f', datatype: 'float', nullable: true },
  { name: 'd', datatype: 'double', nullable: true },
  { name: 'b', datatype: 'boolean', nullable: true },
  { name: 'c', datatype: 'char', nullable: true, length: 4 },
  { name: 'v', datatype: 'string', nullable: true, length: 8 },
  { name: 't', datatype: 'text', nullable: true },
  { name: 'ts', datatype: 'timestamp', nullable: true },
];

const field = (size: number, write: (b: Buffer) => void): Buffer => {
  const b = Buffer.alloc(size);
  write(b);
  return b;
};

/** A COPY binary stream (header with a 3-byte extension, tuples, trailer). */
function stream(tuples: ReadonlyArray<ReadonlyArray<Buffer | null>>): Buffer {
  const parts = [Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), field(8, (b) => b.writeUInt32BE(3, 4)), Buffer.from([1, 2, 3])];
  for (const t of tuples) {
    parts.push(field(2, (b) => b.writeInt16BE(t.length)));
    for (const f of t) {
      parts.push(field(4, (b) => b.writeInt32BE(f === null ? -1 : f.length)));
      if (f) parts.push(f);
    }
  }
  parts.push(field(2, (b) => b.writeInt16BE(-1)));
  return Buffer.concat(parts);
}

const FULL = [
  field(8, (b) => b.writeBigInt64BE(2n ** 60n + 5n)),
  field(4, (b) => b.writeInt32BE(-7)),
  field(2, (b) => b.writeInt16BE(300)),
  field(4, (b) => b.writeFloatBE(0.1)),
  field(8, (b) => b.writeDoubleBE(Number.NaN)),
  Buffer.from([1]),
  Buffer.from('ab  '),
  Buffer.from('é"x'),
  Buffer.from(''),
  // PostgreSQL's timestamps count from 2000-01-01.
  field(8, (b) => b.writeBigInt64BE(-1n)),
];
const EMPTY = [field(8, (b) => b.writeBigInt64BE(-1n)), null, null, null, null, null, null, null, null, null];
const ROWS = [
  { id: 2n ** 60n + 5n, n: -7, s: 300, f: Math.fround(0.1), d: Number.NaN, b: true, c: 'ab', v: 'é"x', t: '', ts: 946_684_800_000_000n - 1n },
  { id: -1n, n: null, s: null, f: null, d: null, b: null, c: null, v: null, t: null, ts: null },
];

describe('COPY binary decoding', () => {
  it('decodes every column type, NULL and NaN, however the stream is cut into chunks', () => {
    const data = stream([FULL, EMPTY]);
    for (const size of [data.length, 1, 3, 7, 64]) {
      const d = new BinaryCopyDecoder(COLUMNS);
      for (let i = 0; i < data.length; i += size) d.push(data.subarray(i, i + size));
      const rows = d.finish();
      expect(rows, `chunks of ${size} bytes`).toEqual(ROWS);
      expect(Object.keys(rows[0])).toEqual(COLUMNS.map((c) => c.name));
    }
  });

  it('refuses a value whose size is not its column type\'s, naming the column', () => {
    const d = new BinaryCopyDecoder(COLUMNS);
    const wrong = [...FULL];
    wrong[3] = field(8, (b) => b.writeDoubleBE(0.1));
    expect(() => d.push(stream([wrong]))).toThrow(/column 'f' came with 8 bytes, 4 expected/);
  });

  it('refuses a stream cut before its trailer, and tuples of another width', () => {
    const data = stream([FULL]);
    const cut = new BinaryCopyDecoder(COLUMNS);
    cut.push(data.subarray(0, data.length - 2));
    expect(() => cut.finish()).toThrow(/ended before its trailer/);
    expect(() => new BinaryCopyDecoder(COLUMNS.slice(1)).push(data)).toThrow(/tuples of 10 fields, 9 expected/);
  });
});

describe('COPY statements and array parameters', () => {
  it('writes bound values as literals, leaving quoted identifiers and strings alone', () => {
    const sql = `select "a$1" from t where x = $1 and y = '$2' and z in ($2, $3, $4, $5, $6, $7, $8)`;
    expect(inlineParameters(sql, [5n, -3, "it's", 0.1, Number.NaN, true, null, 'a\\b'])).toBe(
      `select "a$1" from t where x = '5'::int8 and y = '$2' and z in ((-3), 'it''s', '0.1'::float8, 'NaN'::float8, true, NULL,  E'a\\\\b')`,
    );
    expect(() => inlineParameters('select $2', [1])).toThrow(/placeholder \$2/);
    expect(() => inlineParameters('select $1', [{}])).toThrow(/object/);
  });

  it('writes array literals that PostgreSQL reads back as the same values', () => {
    expect(arrayLiteral([1, 0.1, Number.NaN, -Infinity, null, 2n ** 62n, true, false, 'a"b\\c', '', 'NULL'])).toBe(
      `{1,0.1,NaN,-Infinity,NULL,${2n ** 62n},t,f,"a\\"b\\\\c","","NULL"}`,
    );
  });
});
