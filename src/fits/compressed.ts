/**
 * Tiled image compression (FITS 4.0 section 10): an image stored as a BINTABLE with ZIMAGE = T,
 * one row per tile. Codecs are looked up by ZCMPTYPE.
 */
import { unzipSync } from 'node:zlib';
import { Card } from './card.ts';
import { FitsError } from './errors.ts';
import type { FitsErrorContext } from './errors.ts';
import { Header } from './header.ts';
import { binTableLayout, readScalarCell } from './bintable.ts';
import type { ColumnLayout } from './bintable.ts';
import { riceDecode, riceMaxEncodedSize } from './rice.ts';
import type { RiceBytePix } from './rice.ts';
import { swapInPlace } from './endian.ts';
import { N_RANDOM, randomTable, unquantize } from './quantize.ts';
import type { QuantizeMethod } from './quantize.ts';
import { physicalFloat32InPlace, scaleInt32ToFloat32At } from './pixels.ts';
import type { Scaling } from './pixels.ts';
import { RICE_CORRUPT, RICE_READ_SLACK, RICE_WRITE_SLACK, riceKernels } from '../wasm/rice.ts';

/** Decoded stored pixels of a compressed image. ZBITPIX 64 gives Float64Array. */
export type CompressedStoredArray = Uint8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** Parameters a codec needs for one tile (one object is reused for every tile of an image). */
export interface TileParams {
  readonly zbitpix: number;
  readonly blockSize: number;
  readonly bytePix: RiceBytePix;
  /** Pixels in the current tile. */
  tileLen: number;
  /** File offset of the current tile's compressed bytes (for error messages). */
  offset: number;
  /** File and HDU, for error messages. */
  readonly errorContext: FitsErrorContext;
}

/** A decoded tile: integers, or raw big-endian element bytes (GZIP, NOCOMPRESS). */
export type DecodedTile = { readonly kind: 'int'; readonly values: Int32Array } | { readonly kind: 'bytes'; readonly bytes: Uint8Array };

export interface TileCodec {
  readonly name: string;
  decode(src: Uint8Array, start: number, end: number, p: TileParams, scratch: Int32Array): DecodedTile;
}

function gunzipTile(src: Uint8Array, start: number, end: number, p: TileParams): Uint8Array {
  try {
    return new Uint8Array(unzipSync(src.subarray(start, end)));
  } catch (err) {
    throw new FitsError(`cannot gunzip tile: ${(err as Error).message}`, { ...p.errorContext, offset: p.offset }, { cause: err });
  }
}

function unshuffle(bytes: Uint8Array, elementSize: number): Uint8Array {
  if (elementSize <= 1) return bytes;
  const n = bytes.length / elementSize;
  const out = new Uint8Array(bytes.length);
  for (let k = 0; k < elementSize; k++) {
    const base = k * n;
    for (let i = 0; i < n; i++) out[i * elementSize + k] = bytes[base + i];
  }
  return out;
}

const RICE: TileCodec = {
  name: 'RICE_1',
  decode(src, start, end, p, scratch) {
    riceDecode(src, start, end, scratch, 0, p.tileLen, p.blockSize, p.bytePix, p.offset);
    return { kind: 'int', values: scratch };
  },
};

const GZIP1: TileCodec = {
  name: 'GZIP_1',
  decode(src, start, end, p) {
    return { kind: 'bytes', bytes: gunzipTile(src, start, end, p) };
  },
};

const GZIP2: TileCodec = {
  name: 'GZIP_2',
  decode(src, start, end, p) {
    const bytes = gunzipTile(src, start, end, p);
    if (bytes.length % p.tileLen !== 0) {
      throw new FitsError(`GZIP_2 tile has ${bytes.length} bytes for ${p.tileLen} pixels`, { ...p.errorContext, offset: p.offset });
    }
    return { kind: 'bytes', bytes: unshuffle(bytes, bytes.length / p.tileLen) };
  },
};

const NOCOMPRESS: TileCodec = {
  name: 'NOCOMPRESS',
  decode(src, start, end) {
    return { kind: 'bytes', bytes: new Uint8Array(src.subarray(start, end)) };
  },
};

/** Tile codecs keyed by ZCMPTYPE. */
export const TILE_CODECS: ReadonlyMap<string, TileCodec> = new Map<string, TileCodec>([
  ['RICE_1', RICE],
  ['RICE_ONE', RICE],
  ['GZIP_1', GZIP1],
  ['GZIP_2', GZIP2],
  ['NOCOMPRESS', NOCOMPRESS],
]);

/** Keywords that describe the table or the compression and never belong to the image header. */
const TABLE_KEYS = new Set(['XTENSION', 'BITPIX', 'NAXIS', 'PCOUNT', 'GCOUNT', 'TFIELDS', 'THEAP', 'ZIMAGE', 'ZCMPTYPE', 'ZQUANTIZ', 'ZDITHER0', 'ZMASKCMP', 'ZBLANK', 'CHECKSUM', 'DATASUM', 'ZSIMPLE', 'ZTENSION', 'ZBITPIX', 'ZNAXIS', 'ZEXTEND', 'ZBLOCKED', 'ZPCOUNT', 'ZGCOUNT', 'ZHECKSUM', 'ZDATASUM']);
const INDEXED_TABLE_KEY = /^(NAXIS|ZNAXIS|ZTILE|ZNAME|ZVAL|TTYPE|TFORM|TUNIT|TDIM|TNULL|TSCAL|TZERO|TDISP|TBCOL)\d+$/;

/** Everything known about a compressed image from its table header. */
export interface CompressionInfo {
  readonly zcmptype: string;
  readonly zbitpix: number;
  readonly shape: readonly number[];
  readonly tile: readonly number[];
  readonly blockSize: number;
  readonly bytePix: RiceBytePix;
  /** Null for integer images and unquantized floats. */
  readonly quantize: QuantizeMethod | null;
  readonly ditherSeed: number;
  /** 'RICE_1', 'RICE_1 SUBTRACTIVE_DITHER_1', ... (RICE_ONE is reported as RICE_1). */
  readonly description: string;
}

function zParam(header: Header, name: string): number | undefined {
  for (let i = 1; i < 100; i++) {
    const n = header.get(`ZNAME${i}`);
    if (n === undefined) break;
    if (typeof n === 'string' && n.trim().toUpperCase() === name) {
      const v = header.get(`ZVAL${i}`);
      return typeof v === 'number' ? v : undefined;
    }
  }
  return undefined;
}

export function compressionInfo(header: Header, columns: readonly ColumnLayout[]): CompressionInfo {
  const ctx = header.context;
  const zcmptype = header.getString('ZCMPTYPE').trim().toUpperCase();
  const zbitpix = header.getInt('ZBITPIX');
  const znaxis = header.getInt('ZNAXIS');
  const shape: number[] = [];
  const tile: number[] = [];
  for (let i = 1; i <= znaxis; i++) {
    shape.push(header.getInt(`ZNAXIS${i}`));
    tile.push(header.has(`ZTILE${i}`) ? header.getInt(`ZTILE${i}`) : i === 1 ? header.getInt('ZNAXIS1') : 1);
  }
  let blockSize = zParam(header, 'BLOCKSIZE');
  if (blockSize === undefined) {
    const v1 = header.get('ZVAL1');
    blockSize = !header.has('ZNAME1') && typeof v1 === 'number' ? v1 : 32;
  }
  const bp = zParam(header, 'BYTEPIX') ?? 4;
  if (bp !== 1 && bp !== 2 && bp !== 4) {
    if (zcmptype.startsWith('RICE')) throw new FitsError(`unsupported RICE_1 BYTEPIX ${bp}`, { ...ctx, keyword: 'ZVAL2' });
  }
  const bytePix = (bp === 1 || bp === 2 ? bp : 4) as RiceBytePix;
  let quantize: QuantizeMethod | null = null;
  if (zbitpix < 0) {
    const hasScaleCols = columns.some((c) => c.name.toUpperCase() === 'ZSCALE' || c.name.toUpperCase() === 'ZZERO');
    if (hasScaleCols) {
      const zq = header.get('ZQUANTIZ');
      const q = typeof zq === 'string' ? zq.trim().toUpperCase() : '';
      if (q === 'NONE') quantize = null;
      else if (q === 'SUBTRACTIVE_DITHER_1' || q === 'SUBTRACTIVE_DITHER_2') quantize = q;
      else quantize = 'NO_DITHER';
    }
  }
  const zd = header.get('ZDITHER0');
  const ditherSeed = typeof zd === 'number' ? zd : 1;
  const zq = header.get('ZQUANTIZ');
  const qText = zbitpix < 0 && typeof zq === 'string' && zq.trim() !== '' ? ` ${zq.trim().toUpperCase()}` : '';
  const canonical = TILE_CODECS.get(zcmptype)?.name ?? zcmptype;
  return { zcmptype, zbitpix, shape, tile, blockSize, bytePix, quantize, ditherSeed, description: canonical + qText };
}

/**
 * The image header a decompressor would write: Z keywords mapped back (ZSIMPLE -> SIMPLE,
 * ZTENSION -> XTENSION, ZBITPIX -> BITPIX, ZNAXISn -> NAXISn, ZPCOUNT/ZGCOUNT, ZEXTEND,
 * ZHECKSUM/ZDATASUM -> CHECKSUM/DATASUM), table and compression keywords dropped, EXTNAME
 * 'COMPRESSED_IMAGE' dropped and a duplicated EXTNAME kept once. Other cards keep their bytes.
 */
export function reconstructImageHeader(raw: Header): Header {
  const get = (k: string): Card | undefined => raw.card(k);
  const cards: Card[] = [];
  const comment = (k: string, fallback: string): string => get(k)?.comment || fallback;
  const isPrimary = raw.has('ZSIMPLE');
  if (isPrimary) {
    cards.push(Card.create('SIMPLE', true, comment('ZSIMPLE', 'file does conform to FITS standard')));
  } else {
    const zt = raw.get('ZTENSION');
    cards.push(Card.create('XTENSION', typeof zt === 'string' ? zt : 'IMAGE', comment('ZTENSION', 'Image extension')));
  }
  const zbitpix = raw.getInt('ZBITPIX');
  cards.push(Card.create('BITPIX', zbitpix, comment('ZBITPIX', 'data type of original image')));
  const znaxis = raw.getInt('ZNAXIS');
  cards.push(Card.create('NAXIS', znaxis, comment('ZNAXIS', 'dimension of original image')));
  for (let i = 1; i <= znaxis; i++) {
    cards.push(Card.create(`NAXIS${i}`, raw.getInt(`ZNAXIS${i}`), comment(`ZNAXIS${i}`, 'length of original image axis')));
  }
  if (isPrimary) {
    const ze = raw.get('ZEXTEND');
    if (typeof ze === 'boolean') cards.push(Card.create('EXTEND', ze, comment('ZEXTEND', 'FITS dataset may contain extensions')));
  } else {
    cards.push(Card.create('PCOUNT', raw.has('ZPCOUNT') ? raw.getInt('ZPCOUNT') : 0, comment('ZPCOUNT', 'number of parameters')));
    cards.push(Card.create('GCOUNT', raw.has('ZGCOUNT') ? raw.getInt('ZGCOUNT') : 1, comment('ZGCOUNT', 'number of groups')));
  }
  let extnameSeen = false;
  for (const card of raw.cards()) {
    const k = card.normalizedKey;
    if (card.isCommentary) {
      cards.push(card);
      continue;
    }
    if (k === 'ZHECKSUM' || k === 'ZDATASUM') {
      const v = card.value;
      cards.push(Card.create(k === 'ZHECKSUM' ? 'CHECKSUM' : 'DATASUM', v, card.comment));
      continue;
    }
    if (TABLE_KEYS.has(k) || INDEXED_TABLE_KEY.test(k)) continue;
    if (k === 'EXTNAME') {
      const v = card.value;
      if (extnameSeen || (typeof v === 'string' && v.trim() === 'COMPRESSED_IMAGE')) continue;
      extnameSeen = true;
    }
    cards.push(card);
  }
  if (zbitpix > 0 && !raw.has('BLANK') && raw.has('ZBLANK') && typeof raw.get('ZBLANK') === 'number') {
    cards.push(Card.create('BLANK', raw.get('ZBLANK') as number, 'value used for undefined pixels'));
  }
  return new Header(cards, raw.context);
}

function findColumn(columns: readonly ColumnLayout[], name: string): ColumnLayout | undefined {
  return columns.find((c) => c.name.trim().toUpperCase() === name);
}

/** The array type a compressed image of this ZBITPIX decodes to, or null for an invalid one. */
export function compressedStoredType(
  zbitpix: number,
): typeof Uint8Array | typeof Int16Array | typeof Int32Array | typeof Float32Array | typeof Float64Array | null {
  switch (zbitpix) {
    case 8:
      return Uint8Array;
    case 16:
      return Int16Array;
    case 32:
      return Int32Array;
    case 64:
    case -64:
      return Float64Array;
    case -32:
      return Float32Array;
    default:
      return null;
  }
}

/**
 * Memory for `bytes` bytes that is not zero-filled first: for an image whose every pixel the
 * decoder writes (every tile is decoded whole into it, or decoding fails and it is dropped).
 */
function unfilled(bytes: number): ArrayBuffer {
  return Buffer.allocUnsafeSlow(bytes).buffer as ArrayBuffer;
}

function allocOutput(zbitpix: number, n: number, ctx: FitsErrorContext): CompressedStoredArray {
  switch (zbitpix) {
    case 8:
      return new Uint8Array(unfilled(n));
    case 16:
      return new Int16Array(unfilled(2 * n));
    case 32:
      return new Int32Array(unfilled(4 * n));
    case 64:
    case -64:
      return new Float64Array(unfilled(8 * n));
    case -32:
      return new Float32Array(unfilled(4 * n));
    default:
      throw new FitsError(`invalid ZBITPIX ${zbitpix}`, { ...ctx, keyword: 'ZBITPIX' });
  }
}

/** Big-endian element bytes of a tile as numbers. */
function bytesToValues(bytes: Uint8Array, elementSize: number, asFloat: boolean, ctx: FitsErrorContext): Int32Array | Float32Array | Float64Array {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  swapInPlace(copy, elementSize);
  const ab = copy.buffer;
  if (asFloat) {
    if (elementSize === 4) return new Float32Array(ab);
    if (elementSize === 8) return new Float64Array(ab);
  } else {
    if (elementSize === 1) return Int32Array.from(copy);
    if (elementSize === 2) return Int32Array.from(new Int16Array(ab));
    if (elementSize === 4) return new Int32Array(ab);
    if (elementSize === 8) {
      const big = new BigInt64Array(ab);
      const out = new Float64Array(big.length);
      for (let i = 0; i < big.length; i++) out[i] = Number(big[i]);
      return out;
    }
  }
  throw new FitsError(`uncompressed tile has an unexpected size (${elementSize} bytes per pixel)`, ctx);
}

/** Iterates tiles in storage order: axis 1 fastest. */
class TileGrid {
  readonly shape: readonly number[];
  readonly tile: readonly number[];
  readonly counts: number[];
  readonly total: number;
  readonly strides: number[];
  readonly origin: number[];
  readonly extent: number[];
  constructor(shape: readonly number[], tile: readonly number[]) {
    this.shape = shape;
    this.tile = tile;
    this.counts = shape.map((n, i) => Math.ceil(n / Math.max(1, tile[i])));
    this.total = this.counts.reduce((a, b) => a * b, 1);
    this.strides = [];
    let s = 1;
    for (const n of shape) {
      this.strides.push(s);
      s *= n;
    }
    this.origin = shape.map(() => 0);
    this.extent = shape.map(() => 0);
  }
  /** Set origin/extent for tile t (0-based); returns the number of pixels in the tile. */
  select(t: number): number {
    let rest = t;
    let len = 1;
    for (let i = 0; i < this.shape.length; i++) {
      const c = rest % this.counts[i];
      rest = Math.floor(rest / this.counts[i]);
      this.origin[i] = c * this.tile[i];
      this.extent[i] = Math.min(this.tile[i], this.shape[i] - this.origin[i]);
      len *= this.extent[i];
    }
    return len;
  }
  /** Rows (axis 2) the copies into the image are limited to: rowLo … rowHi − 1 (see clipRows). */
  #rowLo = 0;
  #rowHi = Infinity;

  /**
   * Limits copyToImage to rows y0 … y1 − 1 of a 2-D image: the rest of a tile is not copied, and
   * contiguousOffset() is -1 for a tile that is not wholly inside.
   */
  clipRows(y0: number, y1: number): void {
    this.#rowLo = y0;
    this.#rowHi = y1;
  }

  /** Offset in the image of the selected tile when it is one contiguous run (inside the rows it is clipped to), else -1. */
  contiguousOffset(): number {
    const nd = this.shape.length;
    if (nd === 1) return this.origin[0];
    if (this.origin[1] < this.#rowLo || this.origin[1] + this.extent[1] > this.#rowHi) return -1;
    for (let i = 0; i < nd - 1; i++) {
      if (this.extent[i] !== this.shape[i]) {
        // Later axes must then be 1 for the tile to be contiguous.
        for (let j = i + 1; j < nd; j++) if (this.extent[j] !== 1) return -1;
        break;
      }
    }
    let off = 0;
    for (let i = 0; i < nd; i++) off += this.origin[i] * this.strides[i];
    return off;
  }

  /** Copy the selected tile's values (axis 1 fastest) into the image. */
  copyToImage(src: Int32Array | Float32Array | Float64Array, out: CompressedStoredArray): void {
    const start = this.contiguousOffset();
    const len = this.extent.reduce((a, b) => a * b, 1);
    if (start >= 0) {
      out.set(src.subarray(0, len), start);
      return;
    }
    if (this.#rowHi !== Infinity || this.#rowLo !== 0) {
      // A tile of a 2-D image straddling the rows it is clipped to: its rows inside them.
      const w = this.extent[0];
      const lo = Math.max(this.#rowLo, this.origin[1]);
      const hi = Math.min(this.#rowHi, this.origin[1] + this.extent[1]);
      for (let y = lo; y < hi; y++) {
        const tileOff = (y - this.origin[1]) * w;
        out.set(src.subarray(tileOff, tileOff + w), y * this.strides[1] + this.origin[0]);
      }
      return;
    }
    this.forEachRun((tileOff, imageOff, run) => out.set(src.subarray(tileOff, tileOff + run), imageOff));
  }

  /** Call fn(tileOffset, imageOffset, length) for each run along axis 1 of the selected tile. */
  forEachRun(fn: (tileOff: number, imageOff: number, len: number) => void): void {
    const nd = this.shape.length;
    const run = this.extent[0];
    if (nd === 1) {
      fn(0, this.origin[0], run);
      return;
    }
    // Contiguous fast path: the tile spans whole rows of a 2-D image.
    if (nd === 2 && run === this.shape[0]) {
      fn(0, this.origin[1] * this.strides[1], run * this.extent[1]);
      return;
    }
    const idx = new Array<number>(nd).fill(0);
    let tileOff = 0;
    for (;;) {
      let imageOff = this.origin[0];
      for (let i = 1; i < nd; i++) imageOff += (this.origin[i] + idx[i]) * this.strides[i];
      fn(tileOff, imageOff, run);
      tileOff += run;
      let i = 1;
      for (; i < nd; i++) {
        if (++idx[i] < this.extent[i]) break;
        idx[i] = 0;
      }
      if (i === nd) return;
    }
  }
}

/** Reads (count, offset) heap descriptors of a P or Q column. */
class DescriptorReader {
  count = 0;
  offset = 0;
  readonly #dv: DataView;
  readonly #rowBytes: number;
  constructor(table: Uint8Array, rowBytes: number) {
    this.#dv = new DataView(table.buffer, table.byteOffset, table.byteLength);
    this.#rowBytes = rowBytes;
  }
  /** Read the descriptor of `col` in row `row` (0-based); returns the element count. */
  read(col: ColumnLayout, row: number): number {
    const base = row * this.#rowBytes + col.offset;
    if (col.code === 'P') {
      this.count = this.#dv.getUint32(base);
      this.offset = this.#dv.getUint32(base + 4);
    } else {
      this.count = Number(this.#dv.getBigUint64(base));
      this.offset = Number(this.#dv.getBigUint64(base + 8));
    }
    return this.count;
  }
}

/**
 * Rows y0 … y1 − 1 (0-based, along axis 2) of a 2-D image. A decode limited to them decodes only
 * the tiles that hold some of those rows and writes only those rows of the (full-size) result.
 */
export interface RowRange {
  readonly y0: number;
  readonly y1: number;
}

/**
 * Decode every tile of a compressed image. `data` is the BINTABLE's data area (table then heap),
 * `dataOffset` its offset in the file (for error messages). `into`: the array to decode into (of
 * the type and size the image decodes to, see compressedStoredType); a new one when not given.
 * `rows`: only those rows of a 2-D image are decoded, into the same rows of `into` (required
 * then); its other rows are left as they are.
 */
export function decodeCompressedImage(raw: Header, data: Uint8Array, dataOffset: number, into?: CompressedStoredArray, rows?: RowRange): CompressedStoredArray {
  return decodeImage(raw, data, dataOffset, into ?? null, null, rows ?? null);
}

/**
 * The physical values of a ZBITPIX 32 compressed image (stored values · BSCALE + BZERO, BLANK as
 * NaN, per `scaling`) as float32, decoded into `target` (of the image's size) or a new array. The
 * RICE_1 tiles are decoded and scaled by the WebAssembly kernels a batch at a time, without a
 * full-size integer pass in between. `rows`: as decodeCompressedImage (`target` required then).
 */
export function decodeCompressedFloat32(raw: Header, data: Uint8Array, dataOffset: number, target: Float32Array | null, scaling: Scaling, rows?: RowRange): Float32Array {
  return decodeImage(raw, data, dataOffset, target, scaling, rows ?? null) as Float32Array;
}

function decodeImage(
  raw: Header,
  data: Uint8Array,
  dataOffset: number,
  into: CompressedStoredArray | null,
  physical: Scaling | null,
  rows: RowRange | null,
): CompressedStoredArray {
  const ctx = raw.context;
  const { columns, rowBytes, nrows } = binTableLayout(raw);
  const info = compressionInfo(raw, columns);
  const codec = TILE_CODECS.get(info.zcmptype);
  if (!codec) {
    const known = [...TILE_CODECS.keys()].join(', ');
    throw new FitsError(`unsupported compression '${info.zcmptype}' (supported: ${known})`, { ...ctx, keyword: 'ZCMPTYPE' });
  }
  const tileCodec: TileCodec = codec;
  const grid = new TileGrid(info.shape, info.tile);
  if (grid.total !== nrows) {
    throw new FitsError(`table has ${nrows} rows but the image has ${grid.total} tiles`, { ...ctx, keyword: 'NAXIS2' });
  }
  const tableLen = rowBytes * nrows;
  if (data.length < tableLen) throw new FitsError('compressed table truncated', { ...ctx, offset: dataOffset });
  const table = data.subarray(0, tableLen);
  const theap = raw.has('THEAP') ? raw.getInt('THEAP') : tableLen;
  const heap = data.subarray(Math.min(theap, data.length));
  const heapFileOffset = dataOffset + theap;

  const cData = findColumn(columns, 'COMPRESSED_DATA');
  const gzData = findColumn(columns, 'GZIP_COMPRESSED_DATA');
  const rawData = findColumn(columns, 'UNCOMPRESSED_DATA');
  if (!cData && !gzData && !rawData) throw new FitsError('compressed image has no COMPRESSED_DATA column', ctx);
  for (const c of [cData, gzData, rawData]) {
    if (c && c.code !== 'P' && c.code !== 'Q') {
      throw new FitsError(`column ${c.name} must be variable-length (P or Q), found ${c.format}`, { ...ctx, keyword: `TFORM${c.number}` });
    }
  }
  const zscaleCol = findColumn(columns, 'ZSCALE');
  const zzeroCol = findColumn(columns, 'ZZERO');
  const zblankCol = findColumn(columns, 'ZBLANK');
  const kw = (k: string): number | null => {
    const v = raw.get(k);
    return typeof v === 'number' ? v : null;
  };
  const zscaleKw = kw('ZSCALE') ?? 1;
  const zzeroKw = kw('ZZERO') ?? 0;
  const blankKw = kw('ZBLANK') ?? kw('BLANK');

  const npix = info.shape.reduce((a, b) => a * b, 1);
  // With `physical`, the image's stored integers are decoded into the memory of the float32 result
  // (unless the tiles are decoded and scaled together) and scaled there.
  const intoType = physical ? Float32Array : compressedStoredType(info.zbitpix);
  if (physical && info.zbitpix !== 32) throw new FitsError(`cannot scale a ZBITPIX ${info.zbitpix} image as 32-bit integers`, ctx);
  if (into && (into.length !== npix || into.constructor !== intoType)) {
    throw new FitsError(`cannot decode a ZBITPIX ${info.zbitpix} image of ${npix} pixels into a ${into.constructor.name} of ${into.length}`, ctx);
  }
  // The tiles decoded: tFirst … tEnd − 1 (those of the rows asked for: a run of whole tile rows).
  let tFirst = 0;
  let tEnd = nrows;
  if (rows) {
    const { y0, y1 } = rows;
    if (info.shape.length !== 2) throw new FitsError(`cannot decode a row range of a ${info.shape.length}-D image`, ctx);
    const h = info.shape[1];
    if (!(Number.isInteger(y0) && Number.isInteger(y1) && y0 >= 0 && y0 <= y1 && y1 <= h)) throw new FitsError(`invalid row range ${y0} … ${y1} of an image of ${h} rows`, ctx);
    if (!into) throw new FitsError('a row range is decoded into a given array only', ctx);
    const th = Math.max(1, info.tile[1]);
    tFirst = y0 === y1 ? 0 : Math.floor(y0 / th) * grid.counts[0];
    tEnd = y0 === y1 ? 0 : Math.min(nrows, (Math.floor((y1 - 1) / th) + 1) * grid.counts[0]);
    grid.clipRows(y0, y1);
  }
  const result = into ?? allocOutput(physical ? -32 : info.zbitpix, npix, ctx);
  const out = physical ? new Int32Array(result.buffer, result.byteOffset, npix) : result;
  const maxTile = info.tile.reduce((a, b, i) => a * Math.min(b, info.shape[i]), 1);
  const st: TileDecode = {
    info,
    tileCodec,
    grid,
    table,
    rowBytes,
    heap,
    heapFileOffset,
    cData,
    gzData,
    rawData,
    zscaleCol,
    zzeroCol,
    zblankCol,
    zscaleKw,
    zzeroKw,
    blankKw,
    tFirst,
    tEnd,
    physical,
    result,
    maxTile,
    desc: new DescriptorReader(table, rowBytes),
    p: { zbitpix: info.zbitpix, blockSize: info.blockSize, bytePix: info.bytePix, tileLen: 0, offset: 0, errorContext: ctx },
    errorContext: ctx,
    scratch: null,
    floatScratch: null,
  };
  let scaled = false;
  try {
    scaled = decodeTiles(st, out);
  } catch (err) {
    // Codec errors know only a byte offset: add the file and HDU.
    if (err instanceof FitsError) throw err.withContext({ ...ctx, offset: st.p.offset });
    throw err;
  }
  if (physical && !scaled) {
    const w = info.shape[0];
    physicalFloat32InPlace(rows ? (out as Int32Array).subarray(rows.y0 * w, rows.y1 * w) : (out as Int32Array), physical);
  }
  return result;
}

/**
 * What the tile decoding of one image works on (decodeImage sets it up). The decoding is done by
 * module functions of it rather than closures made per image: their optimised code then outlives
 * the image (a worker decodes tens of images per visit, and compiled these again every visit).
 */
interface TileDecode {
  readonly info: CompressionInfo;
  readonly tileCodec: TileCodec;
  readonly grid: TileGrid;
  readonly table: Uint8Array;
  readonly rowBytes: number;
  readonly heap: Uint8Array;
  readonly heapFileOffset: number;
  readonly cData: ColumnLayout | undefined;
  readonly gzData: ColumnLayout | undefined;
  readonly rawData: ColumnLayout | undefined;
  readonly zscaleCol: ColumnLayout | undefined;
  readonly zzeroCol: ColumnLayout | undefined;
  readonly zblankCol: ColumnLayout | undefined;
  readonly zscaleKw: number;
  readonly zzeroKw: number;
  readonly blankKw: number | null;
  /** The tiles decoded: tFirst … tEnd − 1. */
  readonly tFirst: number;
  readonly tEnd: number;
  /** Scaling to float32 physical values, or null. */
  readonly physical: Scaling | null;
  /** The array returned (float32 with `physical`, whose memory the stored integers are decoded into). */
  readonly result: CompressedStoredArray;
  /** Pixels in the largest tile. */
  readonly maxTile: number;
  readonly desc: DescriptorReader;
  /** The current tile, for the codecs and error messages. */
  readonly p: TileParams;
  readonly errorContext: FitsErrorContext;
  scratch: Int32Array | null;
  floatScratch: Float32Array | Float64Array | null;
}

function tileError(st: TileDecode, t: number, what: string): FitsError {
  return new FitsError(`tile ${t + 1}: ${what}`, { ...st.errorContext, offset: st.p.offset });
}

function floatScratch(st: TileDecode): Float32Array | Float64Array {
  return (st.floatScratch ??= st.info.zbitpix === -32 ? new Float32Array(st.maxTile) : new Float64Array(st.maxTile));
}

/** Decodes tiles tFirst … tEnd − 1 into `out`. Returns whether the pixels were also scaled (see decodeRiceTiles). */
function decodeTiles(st: TileDecode, out: CompressedStoredArray): boolean {
  const { info, grid, desc, p, cData, gzData, rawData, heap, heapFileOffset, table, rowBytes, errorContext: ctx } = st;
  const isFloat = info.zbitpix < 0;
  const rice = st.tileCodec === RICE && cData ? decodeRiceTiles(st, out, cData) : RICE_NONE;
  for (let t = st.tFirst; t < st.tEnd; t++) {
    const tileLen = grid.select(t);
    p.tileLen = tileLen;
    let tile: Int32Array | Float32Array | Float64Array;
    let quantized = false;
    if (cData && desc.read(cData, t) > 0) {
      if (rice !== RICE_NONE) continue;
      const start = desc.offset;
      const end = start + desc.count;
      p.offset = heapFileOffset + start;
      if (end > heap.length) throw tileError(st, t, 'compressed bytes run past the heap');
      const dec = st.tileCodec.decode(heap, start, end, p, (st.scratch ??= new Int32Array(st.maxTile)));
      if (dec.kind === 'int') {
        tile = dec.values;
      } else {
        const es = dec.bytes.length / tileLen;
        tile = bytesToValues(dec.bytes, es, isFloat && info.quantize === null, { ...ctx, offset: p.offset });
      }
      quantized = isFloat && info.quantize !== null && !(tile instanceof Float32Array || tile instanceof Float64Array);
    } else if (gzData && desc.read(gzData, t) > 0) {
      // A float tile that could not be quantized, stored losslessly with gzip.
      p.offset = heapFileOffset + desc.offset;
      if (desc.offset + desc.count > heap.length) throw tileError(st, t, 'gzip bytes run past the heap');
      const bytes = gunzipTile(heap, desc.offset, desc.offset + desc.count, p);
      tile = bytesToValues(bytes, bytes.length / tileLen, isFloat, { ...ctx, offset: p.offset });
    } else if (rawData && desc.read(rawData, t) > 0) {
      const vc = rawData.varCode;
      const es = vc === 'D' || vc === 'K' ? 8 : vc === 'I' ? 2 : vc === 'B' ? 1 : 4;
      p.offset = heapFileOffset + desc.offset;
      if (desc.offset + desc.count * es > heap.length) throw tileError(st, t, 'uncompressed values run past the heap');
      const bytes = heap.subarray(desc.offset, desc.offset + desc.count * es);
      tile = bytesToValues(bytes, es, vc === 'E' || vc === 'D', { ...ctx, offset: p.offset });
    } else {
      throw tileError(st, t, 'no data in any of the compressed data columns');
    }
    if (tile.length < tileLen) throw tileError(st, t, `decoded to ${tile.length} of ${tileLen} pixels`);

    let src: Int32Array | Float32Array | Float64Array = tile;
    if (quantized) {
      const scale = st.zscaleCol ? readScalarCell(st.zscaleCol, table, t, rowBytes) : st.zscaleKw;
      const zero = st.zzeroCol ? readScalarCell(st.zzeroCol, table, t, rowBytes) : st.zzeroKw;
      const blank = st.zblankCol ? readScalarCell(st.zblankCol, table, t, rowBytes) : st.blankKw;
      src = floatScratch(st);
      unquantize(tile as Int32Array, tileLen, src, 0, {
        method: info.quantize ?? 'NO_DITHER',
        scale,
        zero,
        blank,
        ditherRow: t + 1 + info.ditherSeed - 1,
      });
    }
    grid.copyToImage(src, out);
  }
  return rice === RICE_SCALED;
}

/** decodeRiceTiles: no tile decoded; tiles decoded; tiles decoded and scaled to the float32 result. */
const RICE_NONE = 0;
const RICE_DECODED = 1;
const RICE_SCALED = 2;

/**
 * Every tile (of tFirst … tEnd − 1) with COMPRESSED_DATA bytes, decoded by the WebAssembly
 * kernel many tiles per call: the tiles' compressed bytes are copied into the kernel's memory,
 * decoded there, and the pixels copied (or restored from quantized values) into the image. With
 * `physical` and every tile here, the pixels are scaled in the kernel's memory and copied into
 * the float32 result.
 * Returns RICE_NONE when no tile was decoded, RICE_SCALED when they were scaled too, else RICE_DECODED.
 */
function decodeRiceTiles(st: TileDecode, out: CompressedStoredArray, col: ColumnLayout): number {
  const { info, grid, desc, p, heap, heapFileOffset, table, rowBytes, tFirst, tEnd, physical } = st;
  const isFloat = info.zbitpix < 0;
  const tiles: number[] = [];
  const starts: number[] = [];
  const lens: number[] = [];
  const lengths: number[] = [];
  for (let t = tFirst; t < tEnd; t++) {
    if (desc.read(col, t) === 0) continue;
    const n = grid.select(t);
    const start = desc.offset;
    const len = desc.count;
    p.offset = heapFileOffset + start;
    if (start + len > heap.length) throw tileError(st, t, 'compressed bytes run past the heap');
    if (len < info.bytePix) throw new FitsError(`RICE_1 tile too short (${len} bytes for ${n} pixels)`, { offset: p.offset });
    tiles.push(t);
    starts.push(start);
    lens.push(len);
    lengths.push(n);
  }
  if (tiles.length === 0) return RICE_NONE;
  if (!(info.blockSize > 0)) throw new FitsError(`RICE_1 BLOCKSIZE must be positive, got ${info.blockSize}`, { keyword: 'ZVAL1' });
  const { exports: k, arena } = riceKernels();
  const quantized = isFloat && info.quantize !== null;
  const scaling = physical !== null && tiles.length === tEnd - tFirst ? physical : null;
  const image = scaling ? (st.result as Float32Array) : out;
  const restoreInKernel = quantized && out instanceof Float32Array;
  for (let b = 0; b < tiles.length; ) {
    // A batch: consecutive tiles up to RICE_BATCH_PIXELS pixels and RICE_BATCH_BYTES heap bytes (at least one tile).
    let lo = starts[b];
    let hi = starts[b] + lens[b];
    let pixels = lengths[b];
    let e = b + 1;
    for (; e < tiles.length; e++) {
      const l = Math.min(lo, starts[e]);
      const h = Math.max(hi, starts[e] + lens[e]);
      if (pixels + lengths[e] > RICE_BATCH_PIXELS || h - l > RICE_BATCH_BYTES) break;
      lo = l;
      hi = h;
      pixels += lengths[e];
    }
    const [src, tileTable, dst, errInfo, ditherTable] = arena.layout([
      ['u8', RICE_READ_SLACK + hi - lo],
      ['i32', 3 * (e - b)],
      ['i32', pixels],
      ['i32', 3],
      ['f32', restoreInKernel ? N_RANDOM : 0],
    ]);
    if (restoreInKernel) ditherTable.view.set(randomTable());
    src.view.fill(0, 0, RICE_READ_SLACK);
    src.view.set(heap.subarray(lo, hi), RICE_READ_SLACK);
    const tv = tileTable.view;
    for (let j = b; j < e; j++) {
      const r = 3 * (j - b);
      tv[r] = starts[j] - lo;
      tv[r + 1] = lens[j];
      tv[r + 2] = lengths[j];
    }
    const code = k.decodeTiles(src.ptr + RICE_READ_SLACK, hi - lo, tileTable.ptr, e - b, dst.ptr, info.blockSize, info.bytePix, errInfo.ptr);
    if (code !== 0) {
      const [which, pixel, fs] = errInfo.view;
      const j = b + which;
      p.offset = heapFileOffset + starts[j];
      const what = code === RICE_CORRUPT ? `is corrupt (split level ${fs} at pixel ${pixel})` : `ends early (decoded ${pixel} of ${lengths[j]} pixels)`;
      throw new FitsError(`RICE_1 stream ${what}`, { offset: p.offset });
    }
    if (scaling) scaleInt32ToFloat32At(dst.ptr, pixels, scaling);
    const values = scaling ? new Float32Array(dst.view.buffer, dst.ptr, pixels) : dst.view;
    // Quantized floats of a batch of consecutive runs of a float32 image: restored in the kernel,
    // in place, then copied out at once.
    const runStart = quantized && restoreInKernel ? contiguousStart(grid, tiles, lengths, b, e) : -1;
    if (runStart >= 0) {
      let o = 0;
      for (let j = b; j < e; j++) {
        const t = tiles[j];
        const n = lengths[j];
        const method = info.quantize ?? 'NO_DITHER';
        const dither = method === 'SUBTRACTIVE_DITHER_1' || method === 'SUBTRACTIVE_DITHER_2';
        const ditherRow = t + 1 + info.ditherSeed - 1;
        const blank = st.zblankCol ? readScalarCell(st.zblankCol, table, t, rowBytes) : st.blankKw;
        const hasBlank = blank !== null && Number.isInteger(blank) && blank >= -2147483648 && blank <= 2147483647;
        k.unquantizeTile(
          dst.ptr + 4 * o,
          n,
          ditherTable.ptr,
          (((ditherRow - 1) % N_RANDOM) + N_RANDOM) % N_RANDOM,
          dither,
          method === 'SUBTRACTIVE_DITHER_2',
          st.zscaleCol ? readScalarCell(st.zscaleCol, table, t, rowBytes) : st.zscaleKw,
          st.zzeroCol ? readScalarCell(st.zzeroCol, table, t, rowBytes) : st.zzeroKw,
          hasBlank ? (blank as number) : 0,
          hasBlank,
        );
        o += n;
      }
      (out as Float32Array).set(new Float32Array(dst.view.buffer, dst.ptr, pixels), runStart);
    } else if (quantized) {
      let o = 0;
      for (let j = b; j < e; j++) {
        const t = tiles[j];
        const n = lengths[j];
        grid.select(t);
        const opts = {
          method: info.quantize ?? 'NO_DITHER',
          scale: st.zscaleCol ? readScalarCell(st.zscaleCol, table, t, rowBytes) : st.zscaleKw,
          zero: st.zzeroCol ? readScalarCell(st.zzeroCol, table, t, rowBytes) : st.zzeroKw,
          blank: st.zblankCol ? readScalarCell(st.zblankCol, table, t, rowBytes) : st.blankKw,
          ditherRow: t + 1 + info.ditherSeed - 1,
        };
        const at = grid.contiguousOffset();
        const tileValues = dst.view.subarray(o, o + n);
        if (at >= 0) {
          unquantize(tileValues, n, out as Float32Array | Float64Array, at, opts);
        } else {
          const restored = floatScratch(st);
          unquantize(tileValues, n, restored, 0, opts);
          grid.copyToImage(restored, out);
        }
        o += n;
      }
    } else {
      // One copy when the batch's tiles are consecutive runs of the image (tiles of whole rows).
      const first = contiguousStart(grid, tiles, lengths, b, e);
      if (first >= 0) {
        image.set(values, first);
      } else {
        let o = 0;
        for (let j = b; j < e; j++) {
          grid.select(tiles[j]);
          grid.copyToImage(values.subarray(o, o + lengths[j]), image);
          o += lengths[j];
        }
      }
    }
    b = e;
  }
  return scaling !== null ? RICE_SCALED : RICE_DECODED;
}

/** Where tiles[b] … tiles[e − 1] lie in the image when they are consecutive runs of it, else −1. */
function contiguousStart(grid: TileGrid, tiles: readonly number[], lengths: readonly number[], b: number, e: number): number {
  let first = -1;
  let next = -1;
  for (let j = b; j < e; j++) {
    grid.select(tiles[j]);
    const at = grid.contiguousOffset();
    if (j === b) first = next = at;
    if (at < 0 || at !== next) return -1;
    next += lengths[j];
  }
  return first;
}

/**
 * Pixels decoded per call of the RICE_1 kernel (unless one tile has more): few enough that the
 * decoded batch is still in the cache when it is copied into the image.
 */
const RICE_BATCH_PIXELS = 1 << 16;
/** Compressed bytes copied per call of the RICE_1 kernel (unless one tile has more). */
const RICE_BATCH_BYTES = 1 << 20;

/** Result of compressing an integer image with RICE_1. */
export interface RiceEncoded {
  /** The table: one 8-byte 1PB descriptor (count, offset) per tile, big-endian. */
  readonly table: Uint8Array;
  readonly heap: Uint8Array;
  readonly ntiles: number;
  /** Largest compressed tile, for TFORM1 = '1PB(maxlen)'. */
  readonly maxLength: number;
}

/**
 * Compress a 2-D integer image (stored values) into RICE_1 tiles, tiles in row-major order. The
 * tiles are encoded by the WebAssembly kernel many at a time: a batch's pixels are copied into the
 * kernel's memory (one copy when the tiles are whole rows), encoded there, and the streams copied
 * into the heap. The bytes are those of riceEncode (rice.ts), tile by tile.
 */
export function riceEncodeImage(
  data: Uint8Array | Int16Array | Int32Array,
  width: number,
  height: number,
  tileWidth: number,
  tileHeight: number,
  bytePix: RiceBytePix,
  blockSize = 32,
): RiceEncoded {
  if (bytePix !== 1 && bytePix !== 2 && bytePix !== 4) throw new FitsError(`RICE_1 BYTEPIX must be 1, 2 or 4, got ${String(bytePix)}`);
  if (!Number.isInteger(blockSize) || blockSize <= 0 || blockSize > RICE_MAX_BLOCK_SIZE) throw new FitsError(`RICE_1 BLOCKSIZE must be an integer in [1, ${RICE_MAX_BLOCK_SIZE}], got ${blockSize}`);
  const grid = new TileGrid([width, height], [tileWidth, tileHeight]);
  if (data.length < width * height) throw new FitsError(`RICE_1: ${data.length} pixels for a ${width}x${height} image`);
  const ntiles = grid.total;
  const table = new Uint8Array(8 * ntiles);
  const dv = new DataView(table.buffer);
  const lengths = new Int32Array(ntiles);
  for (let t = 0; t < ntiles; t++) lengths[t] = grid.select(t);
  // Tiles of whole rows are consecutive runs of the image, in tile order.
  const rows = Math.min(tileWidth, width) === width;
  const { exports: k, arena } = riceKernels();
  let heap = new Uint8Array(0);
  let pos = 0;
  let maxLength = 0;
  for (let b = 0; b < ntiles; ) {
    let pixels = lengths[b];
    let room = riceMaxEncodedSize(lengths[b], blockSize, bytePix);
    let e = b + 1;
    for (; e < ntiles && pixels + lengths[e] <= RICE_BATCH_PIXELS; e++) {
      pixels += lengths[e];
      room += riceMaxEncodedSize(lengths[e], blockSize, bytePix);
    }
    const [pix, tileTable, out] = arena.layout([
      ['i32', pixels],
      ['i32', 2 * (e - b)],
      ['u8', room + RICE_WRITE_SLACK],
    ]);
    const tv = tileTable.view;
    if (rows) {
      grid.select(b);
      const start = grid.origin[1] * width;
      pix.view.set(data.subarray(start, start + pixels));
      for (let j = b; j < e; j++) tv[2 * (j - b)] = lengths[j];
    } else {
      let at = 0;
      for (let j = b; j < e; j++) {
        grid.select(j);
        const base = at;
        grid.forEachRun((tileOff, imageOff, len) => pix.view.set(data.subarray(imageOff, imageOff + len), base + tileOff));
        tv[2 * (j - b)] = lengths[j];
        at += lengths[j];
      }
    }
    const size = k.encodeTiles(pix.ptr, tileTable.ptr, e - b, out.ptr, blockSize, bytePix);
    if (size > room) throw new FitsError(`RICE_1: ${size} encoded bytes exceed the ${room} bytes allowed for ${pixels} pixels`);
    if (pos + size > heap.length) {
      // Grown as the batches come (a worst-case heap up front would be as large as the image).
      const bigger = new Uint8Array(Math.max(2 * heap.length, pos + size, 1 << 16));
      bigger.set(heap.subarray(0, pos));
      heap = bigger;
    }
    heap.set(out.view.subarray(0, size), pos);
    for (let j = b; j < e; j++) {
      const n = tv[2 * (j - b) + 1];
      dv.setUint32(8 * j, n);
      dv.setUint32(8 * j + 4, pos);
      pos += n;
      if (n > maxLength) maxLength = n;
    }
    b = e;
  }
  return { table, heap: heap.subarray(0, pos), ntiles, maxLength };
}

/**
 * Largest BLOCKSIZE the encoder takes: a block's sum of differences then stays below 2^53, so that
 * the kernel's integer sum is the float64 sum of cfitsio and riceEncode.
 */
const RICE_MAX_BLOCK_SIZE = 1 << 20;
