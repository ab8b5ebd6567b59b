/**
 * Binary tables (XTENSION = 'BINTABLE'), including the heap of variable-length arrays (P and Q
 * descriptors), and ASCII tables (XTENSION = 'TABLE') for reading.
 */
import { Buffer } from 'node:buffer';
import { FitsError } from './errors.ts';
import type { FitsErrorContext } from './errors.ts';
import type { Header } from './header.ts';
import { swapInPlace } from './endian.ts';

/** Numeric column arrays. */
export type TableNumericArray =
  | Uint8Array
  | Int8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | Float32Array
  | Float64Array;

/** One row of a variable-length (P/Q) column. 'PA' rows are strings, 'PL' rows boolean arrays. */
export type VarLengthRow = TableNumericArray | boolean[] | string;

/**
 * Column values. Fixed-width columns hold nrows * repeat elements, row-major (row r element k at
 * r * repeat + k). 'A' columns hold one string per row; 'X' columns hold ceil(repeat / 8) bytes per
 * row; 'C'/'M' complex columns hold interleaved (re, im) pairs. Variable-length columns hold one
 * array per row.
 */
export type TableColumnData = TableNumericArray | boolean[] | string[] | readonly VarLengthRow[];

export interface FitsTableColumn {
  readonly name: string;
  /** TFORMn as written. */
  readonly format: string;
  readonly unit: string;
  /** Elements per row (characters for 'A', bits for 'X', 1 for variable-length). */
  readonly repeat: number;
  /** TDIMn when present (FITS order, fastest first). */
  readonly dims: readonly number[] | null;
  /** Decoded values (read on first access, then cached). */
  readonly data: TableColumnData;
}

export interface FitsTable {
  readonly nrows: number;
  readonly names: readonly string[];
  readonly columns: readonly FitsTableColumn[];
  /** Column by name (case-insensitive) or 0-based index; throws FitsError when absent. */
  column(nameOrIndex: string | number): TableColumnData;
  has(name: string): boolean;
}

/** Layout of one binary-table column. */
export interface ColumnLayout {
  /** 1-based column number. */
  readonly number: number;
  readonly name: string;
  readonly format: string;
  readonly unit: string;
  readonly repeat: number;
  /** Type letter: L X B I J K A E D C M P Q. */
  readonly code: string;
  /** For P/Q: element type letter. */
  readonly varCode: string | null;
  /** Byte offset within the row. */
  readonly offset: number;
  /** Bytes per row. */
  readonly width: number;
  readonly scale: number;
  readonly zero: number;
  readonly dims: readonly number[] | null;
}

const ELEMENT_SIZE: Readonly<Record<string, number>> = {
  L: 1,
  X: 1,
  B: 1,
  I: 2,
  J: 4,
  K: 8,
  A: 1,
  E: 4,
  D: 8,
  C: 8,
  M: 16,
  P: 8,
  Q: 16,
};

const TFORM_RE = /^\s*(\d*)\s*([LXBIJKAEDCMPQ])(.*)$/i;

/** Parse a TFORMn value. */
export function parseTform(tform: string, ctx: FitsErrorContext = {}): { repeat: number; code: string; varCode: string | null; width: number } {
  const m = TFORM_RE.exec(tform);
  if (!m) throw new FitsError(`invalid TFORM '${tform}'`, ctx);
  const repeat = m[1] === '' ? 1 : Number(m[1]);
  const code = m[2].toUpperCase();
  let varCode: string | null = null;
  if (code === 'P' || code === 'Q') {
    const vm = /^\s*([LXBIJKAEDCM])/i.exec(m[3]);
    if (!vm) throw new FitsError(`invalid variable-length TFORM '${tform}'`, ctx);
    varCode = vm[1].toUpperCase();
  }
  const width = code === 'X' ? Math.ceil(repeat / 8) : repeat * ELEMENT_SIZE[code];
  return { repeat, code, varCode, width };
}

function optNumber(header: Header, key: string, fallback: number): number {
  const v = header.get(key);
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  return fallback;
}

/** Column layouts of a BINTABLE header; checks that they add up to NAXIS1. */
export function binTableLayout(header: Header): { columns: ColumnLayout[]; rowBytes: number; nrows: number } {
  const ctx = header.context;
  const tfields = header.getInt('TFIELDS');
  const rowBytes = header.getInt('NAXIS1');
  const nrows = header.getInt('NAXIS2');
  const columns: ColumnLayout[] = [];
  let offset = 0;
  for (let n = 1; n <= tfields; n++) {
    const format = header.getString(`TFORM${n}`);
    const { repeat, code, varCode, width } = parseTform(format, { ...ctx, keyword: `TFORM${n}` });
    const ttype = header.get(`TTYPE${n}`);
    const tunit = header.get(`TUNIT${n}`);
    const tdim = header.get(`TDIM${n}`);
    let dims: number[] | null = null;
    if (typeof tdim === 'string') {
      const parts = tdim.replace(/[()\s]/g, '').split(',').filter((s) => s !== '').map(Number);
      if (parts.length > 0 && parts.every((x) => Number.isInteger(x) && x >= 0)) dims = parts;
    }
    columns.push({
      number: n,
      name: typeof ttype === 'string' ? ttype : `col${n}`,
      format,
      unit: typeof tunit === 'string' ? tunit : '',
      repeat,
      code,
      varCode,
      offset,
      width,
      scale: optNumber(header, `TSCAL${n}`, 1),
      zero: optNumber(header, `TZERO${n}`, 0),
      dims,
    });
    offset += width;
  }
  if (offset !== rowBytes) {
    throw new FitsError(`columns add up to ${offset} bytes but NAXIS1 = ${rowBytes}`, { ...ctx, keyword: 'NAXIS1' });
  }
  return { columns, rowBytes, nrows };
}

/** Gather `width` bytes of each row at `offset` into one contiguous buffer. */
function gather(table: Uint8Array, nrows: number, rowBytes: number, offset: number, width: number): Uint8Array {
  const out = new Uint8Array(nrows * width);
  if (width === rowBytes) {
    out.set(table.subarray(0, nrows * width));
    return out;
  }
  for (let r = 0, src = offset, dst = 0; r < nrows; r++, src += rowBytes, dst += width) {
    if (width <= 16) for (let k = 0; k < width; k++) out[dst + k] = table[src + k];
    else out.set(table.subarray(src, src + width), dst);
  }
  return out;
}

/** Typed array for big-endian elements of type `code` (bytes are swapped in place). */
function typedFromBigEndian(bytes: Uint8Array, code: string): TableNumericArray {
  const size = ELEMENT_SIZE[code];
  swapInPlace(bytes, code === 'C' ? 4 : code === 'M' ? 8 : size);
  const ab = bytes.buffer;
  const off = bytes.byteOffset;
  const len = bytes.byteLength;
  switch (code) {
    case 'B':
    case 'X':
      return bytes;
    case 'I':
      return new Int16Array(ab, off, len / 2);
    case 'J':
      return new Int32Array(ab, off, len / 4);
    case 'K':
      return new BigInt64Array(ab, off, len / 8);
    case 'E':
    case 'C':
      return new Float32Array(ab, off, len / 4);
    case 'D':
    case 'M':
      return new Float64Array(ab, off, len / 8);
    default:
      throw new FitsError(`cannot make a numeric array for column type ${code}`);
  }
}

const TWO_63 = 9223372036854775808n;

/** Apply TSCAL/TZERO: the unsigned conventions give unsigned arrays, other scalings Float64Array. */
function applyScaling(values: TableNumericArray, code: string, scale: number, zero: number): TableNumericArray {
  if (scale === 1 && zero === 0) return values;
  if (scale === 1) {
    if (code === 'I' && zero === 32768) {
      const src = values as Int16Array;
      const out = new Uint16Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = src[i] + 32768;
      return out;
    }
    if (code === 'J' && zero === 2147483648) {
      const src = values as Int32Array;
      const out = new Uint32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = src[i] + 2147483648;
      return out;
    }
    if (code === 'B' && zero === -128) {
      const src = values as Uint8Array;
      const out = new Int8Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = src[i] - 128;
      return out;
    }
    if (code === 'K' && zero === 9223372036854775808) {
      const src = values as BigInt64Array;
      const out = new BigUint64Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = BigInt.asUintN(64, src[i] + TWO_63);
      return out;
    }
  }
  if (code === 'L' || code === 'X' || code === 'A' || code === 'C' || code === 'M') return values;
  const out = new Float64Array(values.length);
  if (values instanceof BigInt64Array || values instanceof BigUint64Array) {
    for (let i = 0; i < values.length; i++) out[i] = Number(values[i]) * scale + zero;
  } else {
    for (let i = 0; i < values.length; i++) out[i] = values[i] * scale + zero;
  }
  return out;
}

function decodeString(bytes: Uint8Array, start: number, end: number): string {
  let stop = start;
  while (stop < end && bytes[stop] !== 0) stop++;
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, stop - start).toString('latin1').trimEnd();
}

function decodeLogicals(bytes: Uint8Array, start: number, count: number): boolean[] {
  const out = new Array<boolean>(count);
  for (let i = 0; i < count; i++) out[i] = bytes[start + i] === 84; // 'T'
  return out;
}

/** Read one column of a binary table. `table` is the main table, `heap` the heap area. */
export function readBinColumn(
  col: ColumnLayout,
  table: Uint8Array,
  nrows: number,
  rowBytes: number,
  heap: Uint8Array,
  ctx: FitsErrorContext = {},
): TableColumnData {
  const { code, repeat, offset, width } = col;
  if (code === 'A') {
    const out = new Array<string>(nrows);
    for (let r = 0; r < nrows; r++) out[r] = decodeString(table, r * rowBytes + offset, r * rowBytes + offset + width);
    return out;
  }
  if (code === 'L') {
    const out = new Array<boolean>(nrows * repeat);
    for (let r = 0; r < nrows; r++) {
      const base = r * rowBytes + offset;
      for (let k = 0; k < repeat; k++) out[r * repeat + k] = table[base + k] === 84;
    }
    return out;
  }
  if (code === 'P' || code === 'Q') {
    const vc = col.varCode ?? 'B';
    const dv = new DataView(table.buffer, table.byteOffset, table.byteLength);
    const rows = new Array<VarLengthRow>(nrows);
    const esize = ELEMENT_SIZE[vc];
    for (let r = 0; r < nrows; r++) {
      const base = r * rowBytes + offset;
      let count: number;
      let off: number;
      if (code === 'P') {
        count = dv.getUint32(base);
        off = dv.getUint32(base + 4);
      } else {
        count = Number(dv.getBigUint64(base));
        off = Number(dv.getBigUint64(base + 8));
      }
      const nbytes = vc === 'X' ? Math.ceil(count / 8) : count * esize;
      if (off + nbytes > heap.length) {
        throw new FitsError(`variable-length array of column ${col.name} row ${r + 1} runs past the heap`, ctx);
      }
      if (vc === 'A') rows[r] = decodeString(heap, off, off + nbytes);
      else if (vc === 'L') rows[r] = decodeLogicals(heap, off, count);
      else rows[r] = applyScaling(typedFromBigEndian(new Uint8Array(heap.subarray(off, off + nbytes)), vc), vc, col.scale, col.zero);
    }
    return rows;
  }
  const bytes = gather(table, nrows, rowBytes, offset, width);
  return applyScaling(typedFromBigEndian(bytes, code), code, col.scale, col.zero);
}

/** Read a scalar numeric cell (first element) of a fixed-width column as a number. */
export function readScalarCell(col: ColumnLayout, table: Uint8Array, row: number, rowBytes: number): number {
  const base = table.byteOffset + row * rowBytes + col.offset;
  const dv = new DataView(table.buffer, base, ELEMENT_SIZE[col.code]);
  let v: number;
  switch (col.code) {
    case 'B':
      v = dv.getUint8(0);
      break;
    case 'I':
      v = dv.getInt16(0);
      break;
    case 'J':
      v = dv.getInt32(0);
      break;
    case 'K':
      v = Number(dv.getBigInt64(0));
      break;
    case 'E':
      v = dv.getFloat32(0);
      break;
    case 'D':
      v = dv.getFloat64(0);
      break;
    default:
      throw new FitsError(`column ${col.name} (${col.format}) is not a numeric scalar`);
  }
  return v * col.scale + col.zero;
}

class LazyColumn implements FitsTableColumn {
  readonly name: string;
  readonly format: string;
  readonly unit: string;
  readonly repeat: number;
  readonly dims: readonly number[] | null;
  #load: () => TableColumnData;
  #data: TableColumnData | null = null;
  constructor(name: string, format: string, unit: string, repeat: number, dims: readonly number[] | null, load: () => TableColumnData) {
    this.name = name;
    this.format = format;
    this.unit = unit;
    this.repeat = repeat;
    this.dims = dims;
    this.#load = load;
  }
  get data(): TableColumnData {
    if (this.#data === null) this.#data = this.#load();
    return this.#data;
  }
}

class Table implements FitsTable {
  readonly nrows: number;
  readonly columns: readonly FitsTableColumn[];
  readonly names: readonly string[];
  #ctx: FitsErrorContext;
  constructor(nrows: number, columns: FitsTableColumn[], ctx: FitsErrorContext) {
    this.nrows = nrows;
    this.columns = columns;
    this.names = columns.map((c) => c.name);
    this.#ctx = ctx;
  }
  has(name: string): boolean {
    const u = name.toUpperCase();
    return this.columns.some((c) => c.name.toUpperCase() === u);
  }
  column(nameOrIndex: string | number): TableColumnData {
    if (typeof nameOrIndex === 'number') {
      const c = this.columns[nameOrIndex];
      if (!c) throw new FitsError(`no column ${nameOrIndex} (table has ${this.columns.length})`, this.#ctx);
      return c.data;
    }
    const u = nameOrIndex.toUpperCase();
    const c = this.columns.find((col) => col.name.toUpperCase() === u);
    if (!c) throw new FitsError(`no column '${nameOrIndex}'; columns are: ${this.names.join(', ')}`, this.#ctx);
    return c.data;
  }
}

/** A lazily decoded binary table. `data` is the HDU's data area (table then heap). */
export function makeBinTable(header: Header, data: Uint8Array): FitsTable {
  const ctx = header.context;
  const { columns, rowBytes, nrows } = binTableLayout(header);
  const tableLen = rowBytes * nrows;
  const theap = header.has('THEAP') ? header.getInt('THEAP') : tableLen;
  const pcount = header.has('PCOUNT') ? header.getInt('PCOUNT') : 0;
  if (data.length < tableLen) throw new FitsError(`table data truncated (${data.length} of ${tableLen} bytes)`, ctx);
  const table = data.subarray(0, tableLen);
  const heap = data.subarray(Math.min(theap, data.length), Math.min(tableLen + pcount, data.length));
  const cols = columns.map(
    (col) =>
      new LazyColumn(col.name, col.format, col.unit, col.code === 'P' || col.code === 'Q' ? 1 : col.repeat, col.dims, () =>
        readBinColumn(col, table, nrows, rowBytes, heap, { ...ctx, keyword: `TFORM${col.number}` }),
      ),
  );
  return new Table(nrows, cols, ctx);
}

/** A lazily decoded ASCII table (XTENSION = 'TABLE'). */
export function makeAsciiTable(header: Header, data: Uint8Array): FitsTable {
  const ctx = header.context;
  const tfields = header.getInt('TFIELDS');
  const rowBytes = header.getInt('NAXIS1');
  const nrows = header.getInt('NAXIS2');
  if (data.length < rowBytes * nrows) throw new FitsError('table data truncated', ctx);
  const cols: FitsTableColumn[] = [];
  for (let n = 1; n <= tfields; n++) {
    const format = header.getString(`TFORM${n}`);
    const start = header.getInt(`TBCOL${n}`) - 1;
    const m = /^\s*([AIFED])(\d+)(?:\.(\d+))?\s*$/i.exec(format);
    if (!m) throw new FitsError(`invalid ASCII table TFORM '${format}'`, { ...ctx, keyword: `TFORM${n}` });
    const kind = m[1].toUpperCase();
    const w = Number(m[2]);
    const ttype = header.get(`TTYPE${n}`);
    const tunit = header.get(`TUNIT${n}`);
    const scale = optNumber(header, `TSCAL${n}`, 1);
    const zero = optNumber(header, `TZERO${n}`, 0);
    const name = typeof ttype === 'string' ? ttype : `col${n}`;
    cols.push(
      new LazyColumn(name, format, typeof tunit === 'string' ? tunit : '', kind === 'A' ? w : 1, null, () => {
        const texts = new Array<string>(nrows);
        for (let r = 0; r < nrows; r++) {
          const s = r * rowBytes + start;
          texts[r] = Buffer.from(data.buffer, data.byteOffset + s, w).toString('latin1');
        }
        if (kind === 'A') return texts.map((t) => t.trimEnd());
        const out = new Float64Array(nrows);
        for (let r = 0; r < nrows; r++) {
          const t = texts[r].trim().replace(/[dD]/, 'E');
          out[r] = t === '' ? NaN : Number(t) * scale + zero;
        }
        if (kind === 'I' && scale === 1 && zero === 0 && out.every((v) => Number.isInteger(v) && Math.abs(v) < 2 ** 31)) {
          return Int32Array.from(out);
        }
        return out;
      }),
    );
  }
  return new Table(nrows, cols, ctx);
}
