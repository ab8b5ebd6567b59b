/**
 * Writing FITS files: primary header or image, IMAGE extensions (optionally RICE_1 tile
 * compressed) and BINTABLE extensions.
 */
import { Buffer } from 'node:buffer';
import { Card, isCommentaryKey, normalizeKey } from './card.ts';
import type { CardInput } from './card.ts';
import { FitsError } from './errors.ts';
import { BLOCK_SIZE, Header } from './header.ts';
import { copySwapped, toBigEndianBytes } from './endian.ts';
import type { ImageArray } from './pixels.ts';
import { riceEncodeImage } from './compressed.ts';
import type { RiceBytePix } from './rice.ts';
import { OnesComplementSum, addSums, checksumOf, encodeChecksum } from './checksum.ts';

/** Arrays accepted for image data (BITPIX from the type; see ImageHduInput). */
export type ImageInputArray = ImageArray | BigInt64Array | Int8Array | Uint32Array;

export interface RiceCompressionInput {
  type: 'RICE_1';
  /** Default: the image width (one row per tile, as fpack). */
  tileWidth?: number;
  /** Default: 1. */
  tileHeight?: number;
  /** Pixels per Rice block; default 32. */
  blockSize?: number;
}

export interface ImageHduInput {
  kind?: 'image';
  extname?: string;
  /** Extra cards; mandatory and structural keywords are generated (and dropped from here). */
  header?: readonly CardInput[];
  /** NAXIS1. */
  width: number;
  /** NAXIS2. */
  height: number;
  /**
   * Row-major pixels, value at (x, y) is data[y * width + x]. BITPIX from the type:
   * Uint8Array 8, Int16Array 16, Uint16Array 16 with BZERO 32768, Int32Array 32,
   * BigInt64Array 64, Float32Array -32, Float64Array -64; also Int8Array 8 with BZERO -128 and
   * Uint32Array 32 with BZERO 2147483648.
   */
  data: ImageInputArray;
  /** Explicit scaling for Uint8/Int16/Int32/BigInt64 data (data then holds stored values). */
  bscale?: number;
  bzero?: number;
  /** Tile compression (integer data only; lossless). */
  compression?: RiceCompressionInput;
}

export type TableFormat = 'L' | 'B' | 'I' | 'J' | 'K' | 'E' | 'D' | `${number}A`;

export interface TableColumnInput {
  name: string;
  format: TableFormat;
  unit?: string;
  data: boolean[] | Uint8Array | Int16Array | Int32Array | BigInt64Array | Float32Array | Float64Array | string[] | number[];
}

export interface TableHduInput {
  kind: 'table';
  extname?: string;
  header?: readonly CardInput[];
  columns: readonly TableColumnInput[];
}

export interface PrimaryHeaderInput {
  header?: readonly CardInput[];
}

export interface WriteFitsOptions {
  /** Add CHECKSUM and DATASUM cards to every HDU. Default false. */
  checksum?: boolean;
}

/** Values in native byte order, converted to big-endian only when they are written out. */
interface NativePiece {
  readonly values: Exclude<ImageLayout['stored'], Uint8Array>;
}

/** Bytes as they go in the file, or values still to be byte-swapped. */
type DataPiece = Uint8Array | NativePiece;

interface BuiltHdu {
  cards: Card[];
  /** Data pieces, concatenated in order (unpadded). */
  data: DataPiece[];
}

function pieceLength(d: DataPiece): number {
  return d instanceof Uint8Array ? d.length : d.values.byteLength;
}

function pieceBytes(d: DataPiece): Uint8Array {
  return d instanceof Uint8Array ? d : toBigEndianBytes(d.values);
}

/** Keywords the writer generates; the same keys in user headers are dropped. */
const RESERVED = new Set([
  'SIMPLE',
  'XTENSION',
  'BITPIX',
  'NAXIS',
  'EXTEND',
  'PCOUNT',
  'GCOUNT',
  'GROUPS',
  'TFIELDS',
  'THEAP',
  'END',
  'BSCALE',
  'BZERO',
  'CHECKSUM',
  'DATASUM',
  'CONTINUE',
  'ZIMAGE',
  'ZCMPTYPE',
  'ZBITPIX',
  'ZNAXIS',
  'ZSIMPLE',
  'ZTENSION',
  'ZEXTEND',
  'ZBLOCKED',
  'ZPCOUNT',
  'ZGCOUNT',
  'ZQUANTIZ',
  'ZDITHER0',
  'ZHECKSUM',
  'ZDATASUM',
  'ZMASKCMP',
]);
const RESERVED_INDEXED = /^(NAXIS|ZNAXIS|ZTILE|ZNAME|ZVAL|TTYPE|TFORM|TUNIT|TDIM|TNULL|TSCAL|TZERO|TDISP|TBCOL)\d+$/;

function userCards(header: readonly CardInput[] | undefined, dropExtname: boolean, dropBlank: boolean): Card[] {
  if (!header) return [];
  const out: Card[] = [];
  for (const c of header) {
    if (isCommentaryKey(c.key)) {
      out.push(...Card.commentary(c.key, c.value === undefined || c.value === null ? '' : String(c.value)));
      continue;
    }
    const k = normalizeKey(c.key);
    if (RESERVED.has(k) || RESERVED_INDEXED.test(k)) continue;
    if (dropExtname && k === 'EXTNAME') continue;
    if (dropBlank && k === 'BLANK') continue;
    out.push(Card.create(c.key, c.value === undefined ? null : c.value, c.comment ?? ''));
  }
  return out;
}

interface ImageLayout {
  bitpix: number;
  bscale: number;
  bzero: number;
  /** Stored values (what goes in the file, in native byte order). */
  stored: Uint8Array | Int16Array | Int32Array | BigInt64Array | Float32Array | Float64Array;
}

function imageLayout(input: ImageHduInput, where: string): ImageLayout {
  const { width, height, data } = input;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new FitsError(`${where}: width and height must be positive integers, got ${width}x${height}`);
  }
  if (data.length !== width * height) {
    throw new FitsError(`${where}: data has ${data.length} values but width x height = ${width * height}`);
  }
  const explicit = input.bscale !== undefined || input.bzero !== undefined;
  const bscale = input.bscale ?? 1;
  const bzero = input.bzero ?? 0;
  if (!Number.isFinite(bscale) || !Number.isFinite(bzero) || bscale === 0) {
    throw new FitsError(`${where}: bscale/bzero must be finite and bscale non-zero`);
  }
  const noExplicit = (kind: string): void => {
    if (explicit) throw new FitsError(`${where}: bscale/bzero cannot be given with ${kind} data (the scaling is implied)`);
  };
  if (data instanceof Uint16Array) {
    noExplicit('Uint16Array');
    const stored = new Int16Array(data.length);
    for (let i = 0; i < data.length; i++) stored[i] = data[i] - 32768;
    return { bitpix: 16, bscale: 1, bzero: 32768, stored };
  }
  if (data instanceof Int8Array) {
    noExplicit('Int8Array');
    const stored = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i++) stored[i] = data[i] + 128;
    return { bitpix: 8, bscale: 1, bzero: -128, stored };
  }
  if (data instanceof Uint32Array) {
    noExplicit('Uint32Array');
    const stored = new Int32Array(data.length);
    for (let i = 0; i < data.length; i++) stored[i] = data[i] - 2147483648;
    return { bitpix: 32, bscale: 1, bzero: 2147483648, stored };
  }
  if (data instanceof Float32Array || data instanceof Float64Array) {
    if (explicit) throw new FitsError(`${where}: bscale/bzero are for integer data only`);
    return { bitpix: data instanceof Float32Array ? -32 : -64, bscale: 1, bzero: 0, stored: data };
  }
  if (data instanceof Uint8Array) return { bitpix: 8, bscale, bzero, stored: data };
  if (data instanceof Int16Array) return { bitpix: 16, bscale, bzero, stored: data };
  if (data instanceof Int32Array) return { bitpix: 32, bscale, bzero, stored: data };
  if (data instanceof BigInt64Array) return { bitpix: 64, bscale, bzero, stored: data };
  throw new FitsError(`${where}: unsupported data array type`);
}

function scalingCards(layout: ImageLayout): Card[] {
  if (layout.bscale === 1 && layout.bzero === 0) return [];
  return [Card.create('BSCALE', layout.bscale, 'physical = BZERO + BSCALE * stored'), Card.create('BZERO', layout.bzero, 'offset of the physical values')];
}

function extnameCards(extname: string | undefined): Card[] {
  return extname === undefined ? [] : [Card.create('EXTNAME', extname, 'extension name')];
}

function storedPiece(stored: ImageLayout['stored']): DataPiece {
  return stored instanceof Uint8Array ? stored : { values: stored };
}

function buildPrimaryHeaderOnly(input: PrimaryHeaderInput): BuiltHdu {
  const cards = [
    Card.create('SIMPLE', true, 'conforms to FITS standard'),
    Card.create('BITPIX', 8, 'array data type'),
    Card.create('NAXIS', 0, 'number of array dimensions'),
    Card.create('EXTEND', true),
    ...userCards(input.header, false, true),
  ];
  return { cards, data: [] };
}

function buildImage(input: ImageHduInput, primary: boolean, where: string): BuiltHdu {
  const layout = imageLayout(input, where);
  const cards = primary
    ? [Card.create('SIMPLE', true, 'conforms to FITS standard')]
    : [Card.create('XTENSION', 'IMAGE', 'Image extension')];
  cards.push(
    Card.create('BITPIX', layout.bitpix, 'array data type'),
    Card.create('NAXIS', 2, 'number of array dimensions'),
    Card.create('NAXIS1', input.width),
    Card.create('NAXIS2', input.height),
  );
  if (primary) cards.push(Card.create('EXTEND', true));
  else cards.push(Card.create('PCOUNT', 0, 'number of parameters'), Card.create('GCOUNT', 1, 'number of groups'));
  cards.push(...scalingCards(layout), ...extnameCards(input.extname));
  cards.push(...userCards(input.header, input.extname !== undefined, layout.bitpix < 0));
  return { cards, data: [storedPiece(layout.stored)] };
}

function buildCompressedImage(input: ImageHduInput, fromPrimary: boolean, where: string): BuiltHdu {
  const layout = imageLayout(input, where);
  const comp = input.compression as RiceCompressionInput;
  if (comp.type !== 'RICE_1') throw new FitsError(`${where}: unsupported compression '${String(comp.type)}' (only RICE_1)`);
  if (layout.bitpix < 0 || layout.bitpix === 64) {
    throw new FitsError(`${where}: RICE_1 compression needs 8, 16 or 32-bit integer data (BITPIX ${layout.bitpix})`);
  }
  const tileWidth = comp.tileWidth ?? input.width;
  const tileHeight = comp.tileHeight ?? 1;
  const blockSize = comp.blockSize ?? 32;
  for (const [name, v] of [
    ['tileWidth', tileWidth],
    ['tileHeight', tileHeight],
    ['blockSize', blockSize],
  ] as const) {
    if (!Number.isInteger(v) || v <= 0) throw new FitsError(`${where}: ${name} must be a positive integer, got ${v}`);
  }
  const bytePix = (layout.bitpix / 8) as RiceBytePix;
  const enc = riceEncodeImage(
    layout.stored as Uint8Array | Int16Array | Int32Array,
    input.width,
    input.height,
    tileWidth,
    tileHeight,
    bytePix,
    blockSize,
  );
  const cards: Card[] = [
    Card.create('XTENSION', 'BINTABLE', 'binary table extension'),
    Card.create('BITPIX', 8, '8-bit bytes'),
    Card.create('NAXIS', 2, '2-dimensional binary table'),
    Card.create('NAXIS1', 8, 'width of table in bytes'),
    Card.create('NAXIS2', enc.ntiles, 'number of rows in table'),
    Card.create('PCOUNT', enc.heap.length, 'size of special data area'),
    Card.create('GCOUNT', 1, 'one data group (required keyword)'),
    Card.create('TFIELDS', 1, 'number of fields in each row'),
    Card.create('TTYPE1', 'COMPRESSED_DATA', 'label for field   1'),
    Card.create('TFORM1', `1PB(${enc.maxLength})`, 'data format of field: variable length array'),
    Card.create('ZIMAGE', true, 'extension contains compressed image'),
    Card.create('ZTILE1', tileWidth, 'size of tiles to be compressed'),
    Card.create('ZTILE2', tileHeight, 'size of tiles to be compressed'),
    Card.create('ZCMPTYPE', 'RICE_1', 'compression algorithm'),
    Card.create('ZNAME1', 'BLOCKSIZE', 'compression block size'),
    Card.create('ZVAL1', blockSize, 'pixels per block'),
    Card.create('ZNAME2', 'BYTEPIX', 'bytes per pixel (1, 2, 4, or 8)'),
    Card.create('ZVAL2', bytePix, 'bytes per pixel (1, 2, 4, or 8)'),
  ];
  if (fromPrimary) {
    cards.push(
      Card.create('EXTNAME', input.extname ?? 'COMPRESSED_IMAGE', 'name of this binary table extension'),
      Card.create('ZSIMPLE', true, 'file does conform to FITS standard'),
    );
  } else {
    cards.push(Card.create('ZTENSION', 'IMAGE', 'Image extension'));
  }
  cards.push(
    Card.create('ZBITPIX', layout.bitpix, 'data type of original image'),
    Card.create('ZNAXIS', 2, 'dimension of original image'),
    Card.create('ZNAXIS1', input.width, 'length of original image axis'),
    Card.create('ZNAXIS2', input.height, 'length of original image axis'),
  );
  // Same order as the uncompressed writer (scaling, then EXTNAME), so funpack gives the same header.
  if (fromPrimary) cards.push(Card.create('ZEXTEND', true, 'FITS dataset may contain extensions'), ...scalingCards(layout));
  else {
    cards.push(Card.create('ZPCOUNT', 0, 'number of parameters'), Card.create('ZGCOUNT', 1, 'number of groups'));
    cards.push(...scalingCards(layout), ...extnameCards(input.extname));
  }
  cards.push(...userCards(input.header, input.extname !== undefined || fromPrimary, false));
  return { cards, data: [enc.table, enc.heap] };
}

const TABLE_TYPES: Readonly<Record<string, { size: number }>> = {
  L: { size: 1 },
  B: { size: 1 },
  I: { size: 2 },
  J: { size: 4 },
  K: { size: 8 },
  E: { size: 4 },
  D: { size: 8 },
};

function buildTable(input: TableHduInput, where: string): BuiltHdu {
  const cols = input.columns;
  if (cols.length === 0) throw new FitsError(`${where}: a table needs at least one column`);
  const nrows = cols[0].data.length;
  const layouts: { code: string; width: number; offset: number }[] = [];
  let rowBytes = 0;
  for (const c of cols) {
    if (c.data.length !== nrows) {
      throw new FitsError(`${where}: column ${c.name} has ${c.data.length} rows, column ${cols[0].name} has ${nrows}`);
    }
    const m = /^(\d+)A$/.exec(c.format);
    let code: string;
    let width: number;
    if (m) {
      code = 'A';
      width = Number(m[1]);
      if (width <= 0) throw new FitsError(`${where}: column ${c.name}: string width must be positive`);
    } else if (TABLE_TYPES[c.format]) {
      code = c.format;
      width = TABLE_TYPES[c.format].size;
    } else {
      throw new FitsError(`${where}: column ${c.name}: unsupported format '${c.format}'`);
    }
    layouts.push({ code, width, offset: rowBytes });
    rowBytes += width;
  }
  const table = new Uint8Array(rowBytes * nrows);
  const dv = new DataView(table.buffer);
  cols.forEach((c, ci) => {
    const { code, width, offset } = layouts[ci];
    const data = c.data;
    const bad = (r: number, why: string): never => {
      throw new FitsError(`${where}: column ${c.name} row ${r}: ${why}`);
    };
    for (let r = 0; r < nrows; r++) {
      const pos = r * rowBytes + offset;
      const v = data[r];
      switch (code) {
        case 'A': {
          if (typeof v !== 'string') bad(r, 'expected a string');
          const s = v as string;
          if (s.length > width) bad(r, `string longer than ${width} characters`);
          if (!/^[\x20-\x7e]*$/.test(s)) bad(r, 'string must be printable ASCII');
          table.set(Buffer.from(s.padEnd(width), 'latin1'), pos);
          break;
        }
        case 'L':
          table[pos] = v ? 84 : 70;
          break;
        case 'B':
        case 'I':
        case 'J': {
          const n = Number(v);
          const [lo, hi] = code === 'B' ? [0, 255] : code === 'I' ? [-32768, 32767] : [-2147483648, 2147483647];
          if (!Number.isInteger(n) || n < lo || n > hi) bad(r, `${String(v)} does not fit format ${code}`);
          if (code === 'B') dv.setUint8(pos, n);
          else if (code === 'I') dv.setInt16(pos, n);
          else dv.setInt32(pos, n);
          break;
        }
        case 'K': {
          const b = typeof v === 'bigint' ? v : Number.isInteger(v) ? BigInt(v as number) : bad(r, `${String(v)} is not an integer`);
          dv.setBigInt64(pos, b);
          break;
        }
        case 'E':
          dv.setFloat32(pos, Number(v));
          break;
        case 'D':
          dv.setFloat64(pos, Number(v));
          break;
      }
    }
  });
  const cards: Card[] = [
    Card.create('XTENSION', 'BINTABLE', 'binary table extension'),
    Card.create('BITPIX', 8, 'array data type'),
    Card.create('NAXIS', 2, 'number of array dimensions'),
    Card.create('NAXIS1', rowBytes, 'length of dimension 1'),
    Card.create('NAXIS2', nrows, 'length of dimension 2'),
    Card.create('PCOUNT', 0, 'number of group parameters'),
    Card.create('GCOUNT', 1, 'number of groups'),
    Card.create('TFIELDS', cols.length, 'number of table fields'),
  ];
  cols.forEach((c, i) => {
    cards.push(Card.create(`TTYPE${i + 1}`, c.name), Card.create(`TFORM${i + 1}`, c.format));
    if (c.unit) cards.push(Card.create(`TUNIT${i + 1}`, c.unit));
  });
  cards.push(...extnameCards(input.extname), ...userCards(input.header, input.extname !== undefined, true));
  return { cards, data: [table] };
}

function isImageInput(x: PrimaryHeaderInput | ImageHduInput): x is ImageHduInput {
  return (x as ImageHduInput).data !== undefined;
}

const ZERO_BLOCK = new Uint8Array(BLOCK_SIZE);

/**
 * The pieces of one HDU in file order: header bytes, data pieces, padding. Values in native
 * order are passed on unconverted (the caller swaps them where they land), except with a
 * checksum, which needs the file's bytes.
 */
function* emit(built: BuiltHdu, checksum: boolean): Generator<DataPiece> {
  const dataLength = built.data.reduce((a, d) => a + pieceLength(d), 0);
  const cards = [...built.cards];
  const firstLong = cards.findIndex((c) => c.recordCount > 1);
  if (firstLong >= 0 && !cards.some((c) => c.normalizedKey === 'LONGSTRN')) {
    // Declare the long-string (CONTINUE) convention, as fitsverify recommends.
    cards.splice(firstLong, 0, Card.create('LONGSTRN', 'OGIP 1.0', 'The OGIP Long String Convention may be used.'));
  }
  const header = new Header(cards);
  const data = checksum ? built.data.map(pieceBytes) : built.data;
  if (checksum) {
    const sum = new OnesComplementSum();
    for (const d of data as Uint8Array[]) sum.update(d);
    const datasum = sum.value;
    header.set('CHECKSUM', '0000000000000000', 'HDU checksum');
    header.set('DATASUM', String(datasum), 'data unit checksum');
    const hsum = checksumOf(header.toBytes());
    header.set('CHECKSUM', encodeChecksum(addSums(hsum, datasum)), 'HDU checksum');
  }
  yield header.toBytes();
  for (const d of data) if (pieceLength(d) > 0) yield d;
  const pad = (BLOCK_SIZE - (dataLength % BLOCK_SIZE)) % BLOCK_SIZE;
  if (pad > 0) yield ZERO_BLOCK.subarray(0, pad);
}

/**
 * Write a FITS file as a sequence of byte chunks (header blocks, data, padding per HDU), without
 * building one large buffer. A compressed primary image is written as an empty primary followed by
 * the compressed image (ZSIMPLE = T), as fpack does. Chunks may share memory with the input (a
 * Uint8Array image is yielded as is): consume each chunk before changing the input arrays.
 */
export function* writeFitsChunks(
  primary: PrimaryHeaderInput | ImageHduInput,
  extensions: readonly (ImageHduInput | TableHduInput)[] = [],
  options: WriteFitsOptions = {},
): Generator<Uint8Array> {
  // One big-endian copy at a time, each released once the consumer moves on.
  for (const piece of filePieces(primary, extensions, options)) yield pieceBytes(piece);
}

function* filePieces(
  primary: PrimaryHeaderInput | ImageHduInput,
  extensions: readonly (ImageHduInput | TableHduInput)[],
  options: WriteFitsOptions,
): Generator<DataPiece> {
  const checksum = options.checksum ?? false;
  if (isImageInput(primary)) {
    if (primary.compression) {
      yield* emit(buildPrimaryHeaderOnly({}), checksum);
      yield* emit(buildCompressedImage(primary, true, 'primary image'), checksum);
    } else {
      yield* emit(buildImage(primary, true, 'primary image'), checksum);
    }
  } else {
    yield* emit(buildPrimaryHeaderOnly(primary), checksum);
  }
  let i = 1;
  for (const ext of extensions) {
    const where = `extension ${i}${ext.extname ? ` (${ext.extname})` : ''}`;
    if (ext.kind === 'table') yield* emit(buildTable(ext, where), checksum);
    else if (ext.compression) yield* emit(buildCompressedImage(ext, false, where), checksum);
    else yield* emit(buildImage(ext, false, where), checksum);
    i++;
  }
}

/** A FITS file laid out (headers built, compressed data encoded), to be written into a buffer. */
export interface PlannedFits {
  /** Size of the file in bytes. */
  readonly byteLength: number;
  /** Writes the file into `out` from `offset` (byteLength bytes). */
  writeTo(out: Uint8Array, offset?: number): void;
  /**
   * Whether writeOver can write the file into `buffer` from its start: every uncompressed image
   * array lies in `buffer`, in file order, at or before its place in the file, which fits.
   */
  canWriteOver(buffer: ArrayBufferLike): boolean;
  /**
   * Writes the file over the start of `buffer` (see canWriteOver), its image arrays moved to their
   * places, byte-swapped as they move, rather than copied: they are unusable afterwards. Returns the
   * file, a view of the first byteLength bytes of `buffer`.
   */
  writeOver(buffer: ArrayBufferLike): Uint8Array;
}

/**
 * Lays a FITS file out without writing it: its size is known before its buffer is allocated, and
 * the image values are copied straight into that buffer, byte-swapped on the way, so the file is
 * the only full-size allocation. The input arrays must not change before writeTo.
 */
export function planFits(
  primary: PrimaryHeaderInput | ImageHduInput,
  extensions: readonly (ImageHduInput | TableHduInput)[] = [],
  options: WriteFitsOptions = {},
): PlannedFits {
  const pieces = [...filePieces(primary, extensions, options)];
  const byteLength = pieces.reduce((a, c) => a + pieceLength(c), 0);
  /** Offset of each piece in the file. */
  const offsets: number[] = [];
  for (let i = 0, pos = 0; i < pieces.length; pos += pieceLength(pieces[i]), i++) offsets.push(pos);
  const canWriteOver = (buffer: ArrayBufferLike): boolean => {
    if (buffer.byteLength < byteLength) return false;
    let end = 0;
    for (let i = 0; i < pieces.length; i++) {
      const c = pieces[i];
      if (c instanceof Uint8Array) continue;
      // In file order, not overlapping each other, each moving towards the end (or staying):
      // moved last to first, none overwrites another still to be moved.
      if (c.values.buffer !== buffer || c.values.byteOffset < end || c.values.byteOffset > offsets[i]) return false;
      end = c.values.byteOffset + c.values.byteLength;
    }
    return true;
  };
  return {
    byteLength,
    canWriteOver,
    writeOver(buffer: ArrayBufferLike): Uint8Array {
      if (!canWriteOver(buffer)) throw new FitsError('the file cannot be written over this buffer');
      const out = new Uint8Array(buffer, 0, byteLength);
      for (let i = pieces.length - 1; i >= 0; i--) {
        const c = pieces[i];
        if (c instanceof Uint8Array) continue;
        const v = c.values;
        copySwapped(out.subarray(v.byteOffset, v.byteOffset + v.byteLength), out.subarray(offsets[i], offsets[i] + v.byteLength), v.BYTES_PER_ELEMENT);
      }
      // Then the headers, compressed data and padding, in the gaps.
      for (let i = 0; i < pieces.length; i++) {
        const c = pieces[i];
        if (c instanceof Uint8Array) out.set(c, offsets[i]);
      }
      return out;
    },
    writeTo(out: Uint8Array, offset = 0): void {
      if (offset < 0 || offset + byteLength > out.length) throw new FitsError(`a ${byteLength}-byte file does not fit at offset ${offset} of ${out.length} bytes`);
      let pos = offset;
      for (const c of pieces) {
        if (c instanceof Uint8Array) {
          out.set(c, pos);
          pos += c.length;
        } else {
          const v = c.values;
          copySwapped(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), out.subarray(pos, pos + v.byteLength), v.BYTES_PER_ELEMENT);
          pos += v.byteLength;
        }
      }
    },
  };
}

/** Write a whole FITS file into one buffer (see planFits). */
export function writeFits(
  primary: PrimaryHeaderInput | ImageHduInput,
  extensions: readonly (ImageHduInput | TableHduInput)[] = [],
  options: WriteFitsOptions = {},
): Uint8Array {
  const plan = planFits(primary, extensions, options);
  const out = new Uint8Array(plan.byteLength);
  plan.writeTo(out);
  return out;
}
