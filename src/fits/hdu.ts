/**
 * Header-data units. The kind of HDU is chosen from its header: the primary, IMAGE extensions,
 * BINTABLEs with ZIMAGE = T (tile-compressed images), other BINTABLEs and ASCII TABLEs.
 * Pixel data are decoded on first access and cached.
 */
import { FitsError } from './errors.ts';
import type { FitsErrorContext } from './errors.ts';
import type { Header } from './header.ts';
import { copySwapped, readBigEndian } from './endian.ts';
import { asImageArray, physicalFloat32, physicalFloat32InPlace, physicalPixels, scalingOf } from './pixels.ts';
import type { ImageArray, RawImageArray } from './pixels.ts';
import { makeAsciiTable, makeBinTable } from './bintable.ts';
import type { FitsTable } from './bintable.ts';
import { compressedStoredType, compressionInfo, decodeCompressedFloat32, decodeCompressedImage, reconstructImageHeader } from './compressed.ts';
import type { CompressedStoredArray, CompressionInfo } from './compressed.ts';
import { binTableLayout } from './bintable.ts';

export type HduType = 'primary' | 'image' | 'compressed-image' | 'table' | 'unknown';

export interface Hdu {
  readonly index: number;
  readonly type: HduType;
  /** EXTNAME, or 'PRIMARY' for HDU 0 without EXTNAME, or ''. */
  readonly name: string;
  /** EXTVER (1 when absent). */
  readonly extver: number;
  /** For compressed images the reconstructed image header; otherwise the stored header. */
  readonly header: Header;
  /** The header as stored in the file. */
  readonly rawHeader: Header;
  /** Image BITPIX (ZBITPIX for compressed images); 8 for tables. */
  readonly bitpix: number;
  /** [NAXIS1, NAXIS2, ...]; [] when there is no data. */
  readonly shape: readonly number[];
  /** 'RICE_1', 'RICE_1 SUBTRACTIVE_DITHER_1', 'GZIP_1', ... or null. */
  readonly compression: string | null;
  /** Offset of the header in the file (after gunzip for gzip-wrapped files). */
  readonly byteOffset: number;
  /** Offset of the data area in the file. */
  readonly dataOffset: number;
  /** Bytes of data (without padding). */
  readonly dataSize: number;
  /** True for HDUs with image pixels (primary or IMAGE with NAXIS >= 1, compressed images). */
  readonly isImage: boolean;
  /**
   * Stored values without BSCALE/BZERO: Uint8Array, Int16Array, Int32Array for integer images,
   * Float32Array/Float64Array for float images (unquantized values for compressed floats).
   * BITPIX 64 gives Float64Array (use storedBigInts() for exact values). Cached: do not mutate.
   */
  storedPixels(): ImageArray;
  /** Exact stored values of a BITPIX 64 image. */
  storedBigInts(): BigInt64Array;
  /**
   * Physical values: Uint16Array for BITPIX 16 + BZERO 32768 + BSCALE 1; the stored array when
   * unscaled; Float32Array for scaled 8/16-bit and float32; Float64Array for scaled 32/64-bit and
   * float64. BLANK becomes NaN in float results. Cached: do not mutate.
   */
  pixels(): ImageArray;
  /** Physical values as Float32Array (the cached array itself when pixels() is Float32Array). */
  pixelsAsFloat32(): Float32Array;
  /** Physical values in a new Float32Array the caller may change (one pass, no cache). */
  float32Copy(): Float32Array;
  /**
   * Physical values as a Float32Array the caller owns, for a last use of the HDU's pixels: 32-bit
   * images are converted where they were decoded (no second full-size array), and the HDU's
   * decoded pixels are dropped (a later call decodes again). Otherwise as float32Copy.
   */
  takeFloat32(): Float32Array;
  /** pixels(), handed to the caller, who may change them: the HDU's decoded pixels are dropped. */
  takePixels(): ImageArray;
  /**
   * Physical values as float32 (as takeFloat32) decoded into `target`, not cached, for a caller
   * that decodes several images through one buffer: `target` when it has the image's size and the
   * image is 32-bit (integers or floats), else takeFloat32(). Its contents are overwritten.
   */
  float32Into(target: Float32Array): Float32Array;
  /**
   * The stored values (as storedPixels()) decoded into `target`, not cached, for a caller that
   * decodes several images through one buffer: `target` when it is of the type and size they
   * decode to, else storedPixels().
   */
  storedPixelsInto(target: ImageArray): ImageArray;
  /**
   * Rows y0 … y1 − 1 (0-based, along NAXIS2) of a 2-D image's physical values as float32 (the
   * values float32Copy() gives), written into the same rows of `target`, a Float32Array of the
   * whole image (row y at y · NAXIS1); its other rows are left as they are. Only what those rows
   * need is read: the tiles holding them (compressed images), those rows (uncompressed). Not
   * cached. Returns `target`. Throws FitsError when the image is not 2-D, the rows are not
   * within it, or `target` is not of its size.
   */
  float32RowsInto(target: Float32Array, y0: number, y1: number): Float32Array;
  /**
   * Rows y0 … y1 − 1 of a 2-D image's stored values (those storedPixels() gives), decoded as in
   * float32RowsInto into the same rows of `target`, an array of the whole image of the type
   * storedPixels() gives (Uint8Array, Int16Array, Int32Array, Float32Array; Float64Array for
   * BITPIX -64 and 64); its other rows are left as they are. Not cached. Returns `target`.
   * Throws FitsError as float32RowsInto, and for a target of another type.
   */
  storedPixelsRowsInto(target: ImageArray, y0: number, y1: number): ImageArray;
  /** Table contents; throws FitsError for non-table HDUs. */
  table(): FitsTable;
}

type ImageArrayType = typeof Uint8Array | typeof Int16Array | typeof Int32Array | typeof Float32Array | typeof Float64Array;

export interface HduSource {
  readonly bytes: Uint8Array;
  readonly file?: string;
}

function headerShape(header: Header): number[] {
  const naxis = header.getIntOr('NAXIS', 0);
  const shape: number[] = [];
  for (let i = 1; i <= naxis; i++) shape.push(header.getInt(`NAXIS${i}`));
  return shape;
}

/** Size in bytes of the data area described by a header (without padding). */
export function dataSizeOf(header: Header): number {
  const naxis = header.getInt('NAXIS');
  if (naxis === 0) return 0;
  const bitpix = header.getInt('BITPIX');
  const shape = headerShape(header);
  const groups = header.get('GROUPS') === true && shape[0] === 0;
  let n = 1;
  for (let i = groups ? 1 : 0; i < shape.length; i++) n *= shape[i];
  const pcount = header.getIntOr('PCOUNT', 0);
  const gcount = header.getIntOr('GCOUNT', 1);
  return (Math.abs(bitpix) / 8) * gcount * (pcount + n);
}

abstract class BaseHdu implements Hdu {
  readonly index: number;
  readonly rawHeader: Header;
  readonly byteOffset: number;
  readonly dataOffset: number;
  readonly dataSize: number;
  protected readonly source: HduSource;
  abstract readonly type: HduType;

  constructor(index: number, rawHeader: Header, source: HduSource, byteOffset: number, dataOffset: number, dataSize: number) {
    this.index = index;
    this.rawHeader = rawHeader;
    this.source = source;
    this.byteOffset = byteOffset;
    this.dataOffset = dataOffset;
    this.dataSize = dataSize;
  }

  get header(): Header {
    return this.rawHeader;
  }

  get name(): string {
    const v = this.header.get('EXTNAME') ?? this.rawHeader.get('EXTNAME');
    if (typeof v === 'string' && v.trim() !== '') return v.trim();
    return this.index === 0 ? 'PRIMARY' : '';
  }

  get extver(): number {
    const v = this.header.get('EXTVER') ?? this.rawHeader.get('EXTVER');
    return typeof v === 'number' ? v : 1;
  }

  get bitpix(): number {
    return this.rawHeader.getInt('BITPIX');
  }

  #shape: readonly number[] | null = null;

  get shape(): readonly number[] {
    if (!this.#shape) this.#shape = Object.freeze(this.computeShape());
    return this.#shape;
  }

  protected computeShape(): number[] {
    const s = headerShape(this.rawHeader);
    return s.length === 0 || s.some((n) => n === 0) ? [] : s;
  }

  get compression(): string | null {
    return null;
  }

  get isImage(): boolean {
    return false;
  }

  protected context(extra: Partial<FitsErrorContext> = {}): FitsErrorContext {
    return { file: this.source.file, hdu: this.index, ...extra };
  }

  protected dataBytes(): Uint8Array {
    const end = this.dataOffset + this.dataSize;
    if (end > this.source.bytes.length) {
      throw new FitsError(
        `data area needs ${this.dataSize} bytes but the file ends ${end - this.source.bytes.length} bytes short (truncated file?)`,
        this.context({ offset: this.dataOffset }),
      );
    }
    return this.source.bytes.subarray(this.dataOffset, end);
  }

  storedPixels(): ImageArray {
    throw new FitsError(`HDU is a ${this.type}, not an image`, this.context());
  }

  storedBigInts(): BigInt64Array {
    throw new FitsError(`HDU is not a BITPIX 64 image`, this.context());
  }

  pixels(): ImageArray {
    throw new FitsError(`HDU is a ${this.type}, not an image`, this.context());
  }

  pixelsAsFloat32(): Float32Array {
    const p = this.pixels();
    return p instanceof Float32Array ? p : new Float32Array(p);
  }

  float32Copy(): Float32Array {
    const stored = this.storedPixels();
    if (this.bitpix === 64) return physicalFloat32(this.storedBigInts(), scalingOf(this.header, this.bitpix));
    return physicalFloat32(stored, scalingOf(this.header, this.bitpix));
  }

  takeFloat32(): Float32Array {
    const bitpix = this.bitpix;
    if (bitpix !== 32 && bitpix !== -32) return this.float32Copy();
    const stored = this.storedPixels();
    if (!(stored instanceof Int32Array || stored instanceof Float32Array)) return this.float32Copy();
    const scaling = scalingOf(this.header, bitpix);
    this.dropPixels();
    return physicalFloat32InPlace(stored, scaling);
  }

  takePixels(): ImageArray {
    const p = this.pixels();
    this.dropPixels();
    return p;
  }

  float32Into(target: Float32Array): Float32Array {
    const bitpix = this.bitpix;
    if (bitpix === 32 || bitpix === -32) {
      const stored = bitpix === 32 ? new Int32Array(target.buffer, target.byteOffset, target.length) : target;
      if (this.storedPixelsInto(stored) === stored) {
        physicalFloat32InPlace(stored, scalingOf(this.header, bitpix));
        return target;
      }
    }
    return this.takeFloat32();
  }

  storedPixelsInto(_target: ImageArray): ImageArray {
    return this.storedPixels();
  }

  /**
   * Checks a row range of the image and a target array for it (`type`: the array type it must
   * be); returns the image width.
   */
  protected checkRows(target: ImageArray, y0: number, y1: number, type: ImageArrayType | null): number {
    if (!this.isImage) throw new FitsError(`HDU is a ${this.type} without image pixels`, this.context());
    const shape = this.shape;
    if (shape.length !== 2) throw new FitsError(`cannot read a row range of a ${shape.length}-D image`, this.context());
    const [w, h] = shape;
    if (!(Number.isInteger(y0) && Number.isInteger(y1) && y0 >= 0 && y0 <= y1 && y1 <= h)) {
      throw new FitsError(`invalid row range ${y0} … ${y1} of an image of ${h} rows`, this.context());
    }
    if (target.length !== w * h || (type !== null && !(target instanceof type))) {
      const want = type === null ? '' : `${type.name} `;
      throw new FitsError(`cannot decode rows of a ${w}x${h} image into a ${target.constructor.name} of ${target.length} (a ${want}of ${w * h} needed)`, this.context());
    }
    return w;
  }

  /** The array type of the stored values (as storedPixels gives them), null for an invalid BITPIX. */
  protected storedType(): ImageArrayType | null {
    return compressedStoredType(this.bitpix);
  }

  storedPixelsRowsInto(target: ImageArray, y0: number, y1: number): ImageArray {
    const w = this.checkRows(target, y0, y1, this.storedType());
    target.set(this.storedPixels().subarray(y0 * w, y1 * w), y0 * w);
    return target;
  }

  float32RowsInto(target: Float32Array, y0: number, y1: number): Float32Array {
    const w = this.checkRows(target, y0, y1, Float32Array);
    target.set(physicalFloat32(this.storedPixels().subarray(y0 * w, y1 * w), scalingOf(this.header, this.bitpix)), y0 * w);
    return target;
  }

  /**
   * float32RowsInto for a 32-bit image whose stored rows `decodeRows` writes into a target's
   * memory (Int32Array or Float32Array): converted there in place. Other images: null.
   */
  protected float32RowsInPlace(target: Float32Array, y0: number, y1: number, w: number, decodeRows: (stored: Int32Array | Float32Array) => void): Float32Array | null {
    const bitpix = this.bitpix;
    if (bitpix !== 32 && bitpix !== -32) return null;
    const stored = bitpix === 32 ? new Int32Array(target.buffer, target.byteOffset, target.length) : target;
    decodeRows(stored);
    physicalFloat32InPlace(stored.subarray(y0 * w, y1 * w), scalingOf(this.header, bitpix));
    return target;
  }

  /** Forgets the decoded pixels (they are decoded again when asked for). */
  protected dropPixels(): void {}

  table(): FitsTable {
    throw new FitsError(`HDU is a ${this.type}, not a table`, this.context());
  }
}

/** Primary HDU or IMAGE extension. */
export class ImageHdu extends BaseHdu {
  readonly type: HduType;
  #raw: RawImageArray | null = null;
  #stored: ImageArray | null = null;
  #physical: ImageArray | null = null;

  constructor(index: number, rawHeader: Header, source: HduSource, byteOffset: number, dataOffset: number, dataSize: number) {
    super(index, rawHeader, source, byteOffset, dataOffset, dataSize);
    this.type = index === 0 ? 'primary' : 'image';
  }

  override get isImage(): boolean {
    return this.shape.length > 0;
  }

  #rawData(): RawImageArray {
    if (this.#raw) return this.#raw;
    if (!this.isImage) throw new FitsError('HDU has no image data', this.context());
    const n = this.shape.reduce((a, b) => a * b, 1);
    this.dataBytes();
    this.#raw = readBigEndian(this.source.bytes, this.dataOffset, n, this.bitpix);
    return this.#raw;
  }

  override storedPixels(): ImageArray {
    if (!this.#stored) this.#stored = asImageArray(this.#rawData());
    return this.#stored;
  }

  override storedBigInts(): BigInt64Array {
    const raw = this.#rawData();
    if (!(raw instanceof BigInt64Array)) return super.storedBigInts();
    return raw;
  }

  override pixels(): ImageArray {
    if (!this.#physical) {
      this.#physical = physicalPixels(this.#rawData(), this.bitpix, scalingOf(this.header, this.bitpix));
    }
    return this.#physical;
  }

  override storedPixelsInto(target: ImageArray): ImageArray {
    const bitpix = this.bitpix;
    const n = this.shape.reduce((a, b) => a * b, 1);
    const type = bitpix === 8 ? Uint8Array : bitpix === 16 ? Int16Array : bitpix === 32 ? Int32Array : bitpix === -32 ? Float32Array : bitpix === -64 ? Float64Array : null;
    if (this.#raw || !this.isImage || type === null || !(target instanceof type) || target.length !== n) return this.storedPixels();
    const bytes = new Uint8Array(target.buffer, target.byteOffset, target.byteLength);
    const data = this.dataBytes();
    copySwapped(data.subarray(0, bytes.length), bytes, target.BYTES_PER_ELEMENT);
    return target;
  }

  override storedPixelsRowsInto(target: ImageArray, y0: number, y1: number): ImageArray {
    // Read from the file whether or not the whole image is decoded already: a copy either way.
    const w = this.checkRows(target, y0, y1, this.storedType());
    const from = y0 * w;
    const count = (y1 - y0) * w;
    if (this.bitpix === 64) {
      const big = this.#rawRows(from, count) as BigInt64Array;
      const out = target as Float64Array;
      for (let i = 0; i < count; i++) out[from + i] = Number(big[i]);
      return target;
    }
    const size = target.BYTES_PER_ELEMENT;
    const data = this.dataBytes();
    const bytes = new Uint8Array(target.buffer, target.byteOffset + from * size, count * size);
    copySwapped(data.subarray(from * size, (from + count) * size), bytes, size);
    return target;
  }

  override float32RowsInto(target: Float32Array, y0: number, y1: number): Float32Array {
    const w = this.checkRows(target, y0, y1, Float32Array);
    const inPlace = this.float32RowsInPlace(target, y0, y1, w, (stored) => this.storedPixelsRowsInto(stored, y0, y1));
    if (inPlace) return inPlace;
    // 8-, 16- and 64-bit integers and float64: the rows' stored values converted.
    const from = y0 * w;
    target.set(physicalFloat32(this.#rawRows(from, (y1 - y0) * w), scalingOf(this.header, this.bitpix)), from);
    return target;
  }

  /** Stored values of pixels from … from + count − 1, read from the file (not cached). */
  #rawRows(from: number, count: number): RawImageArray {
    this.dataBytes();
    return readBigEndian(this.source.bytes, this.dataOffset + from * (Math.abs(this.bitpix) / 8), count, this.bitpix);
  }

  protected override dropPixels(): void {
    this.#raw = null;
    this.#stored = null;
    this.#physical = null;
  }
}

/** BINTABLE with ZIMAGE = T. */
export class CompressedImageHdu extends BaseHdu {
  readonly type: HduType = 'compressed-image';
  #header: Header | null = null;
  #info: CompressionInfo | null = null;
  #stored: CompressedStoredArray | null = null;
  #physical: ImageArray | null = null;

  override get header(): Header {
    if (!this.#header) this.#header = reconstructImageHeader(this.rawHeader);
    return this.#header;
  }

  get info(): CompressionInfo {
    if (!this.#info) this.#info = compressionInfo(this.rawHeader, binTableLayout(this.rawHeader).columns);
    return this.#info;
  }

  override get bitpix(): number {
    return this.rawHeader.getInt('ZBITPIX');
  }

  protected override computeShape(): number[] {
    const n = this.rawHeader.getIntOr('ZNAXIS', 0);
    const s: number[] = [];
    for (let i = 1; i <= n; i++) s.push(this.rawHeader.getInt(`ZNAXIS${i}`));
    return s.length === 0 || s.some((x) => x === 0) ? [] : s;
  }

  override get compression(): string {
    return this.info.description;
  }

  override get isImage(): boolean {
    return this.shape.length > 0;
  }

  #decoded(): CompressedStoredArray {
    if (!this.#stored) this.#stored = decodeCompressedImage(this.rawHeader, this.dataBytes(), this.dataOffset);
    return this.#stored;
  }

  override storedPixels(): ImageArray {
    return this.#decoded();
  }

  override pixels(): ImageArray {
    if (!this.#physical) {
      this.#physical = physicalPixels(this.#decoded(), this.bitpix, scalingOf(this.header, this.bitpix));
    }
    return this.#physical;
  }

  override storedPixelsInto(target: ImageArray): ImageArray {
    if (this.#stored || !this.isImage) return this.storedPixels();
    const n = this.shape.reduce((a, b) => a * b, 1);
    const type = compressedStoredType(this.bitpix);
    if (type === null || !(target instanceof type) || target.length !== n) return this.storedPixels();
    return decodeCompressedImage(this.rawHeader, this.dataBytes(), this.dataOffset, target as CompressedStoredArray);
  }

  override takeFloat32(): Float32Array {
    // Not decoded yet: the integers are decoded and scaled straight into the result.
    if (this.#stored || !this.isImage || this.bitpix !== 32) return super.takeFloat32();
    return decodeCompressedFloat32(this.rawHeader, this.dataBytes(), this.dataOffset, null, scalingOf(this.header, 32));
  }

  override float32Into(target: Float32Array): Float32Array {
    const n = this.shape.reduce((a, b) => a * b, 1);
    if (this.#stored || !this.isImage || this.bitpix !== 32 || target.length !== n) return super.float32Into(target);
    return decodeCompressedFloat32(this.rawHeader, this.dataBytes(), this.dataOffset, target, scalingOf(this.header, 32));
  }

  override storedPixelsRowsInto(target: ImageArray, y0: number, y1: number): ImageArray {
    this.checkRows(target, y0, y1, this.storedType());
    if (this.#stored) return super.storedPixelsRowsInto(target, y0, y1);
    return decodeCompressedImage(this.rawHeader, this.dataBytes(), this.dataOffset, target as CompressedStoredArray, { y0, y1 });
  }

  override float32RowsInto(target: Float32Array, y0: number, y1: number): Float32Array {
    const w = this.checkRows(target, y0, y1, Float32Array);
    if (this.#stored) return super.float32RowsInto(target, y0, y1);
    const scaling = scalingOf(this.header, this.bitpix);
    // 32-bit integers: decoded and scaled together, as float32Into.
    if (this.bitpix === 32) return decodeCompressedFloat32(this.rawHeader, this.dataBytes(), this.dataOffset, target, scaling, { y0, y1 });
    const inPlace = this.float32RowsInPlace(target, y0, y1, w, (stored) => this.storedPixelsRowsInto(stored, y0, y1));
    if (inPlace) return inPlace;
    // 8- and 16-bit integers and float64: the rows decoded into an array of the image's size, then converted.
    const type = this.storedType();
    if (type === null) throw new FitsError(`invalid ZBITPIX ${this.bitpix}`, this.context({ keyword: 'ZBITPIX' }));
    const stored = this.storedPixelsRowsInto(new type(target.length), y0, y1);
    target.set(physicalFloat32(stored.subarray(y0 * w, y1 * w), scaling), y0 * w);
    return target;
  }

  protected override dropPixels(): void {
    this.#stored = null;
    this.#physical = null;
  }
}

/** BINTABLE or ASCII TABLE. */
export class TableHdu extends BaseHdu {
  readonly type: HduType = 'table';
  #table: FitsTable | null = null;

  override get bitpix(): number {
    return 8;
  }

  override table(): FitsTable {
    if (!this.#table) {
      const xt = this.rawHeader.get('XTENSION');
      const ascii = typeof xt === 'string' && xt.trim().toUpperCase() === 'TABLE';
      this.#table = ascii ? makeAsciiTable(this.rawHeader, this.dataBytes()) : makeBinTable(this.rawHeader, this.dataBytes());
    }
    return this.#table;
  }
}

/** Any other extension (random groups, foreign XTENSION types). */
export class UnknownHdu extends BaseHdu {
  readonly type: HduType = 'unknown';
}

/** Choose the HDU class from the header. */
export function makeHdu(index: number, header: Header, source: HduSource, byteOffset: number, dataOffset: number, dataSize: number): Hdu {
  if (index === 0) {
    if (header.get('GROUPS') === true && header.get('NAXIS1') === 0) {
      return new UnknownHdu(index, header, source, byteOffset, dataOffset, dataSize);
    }
    return new ImageHdu(index, header, source, byteOffset, dataOffset, dataSize);
  }
  const xt = header.get('XTENSION');
  const xtension = typeof xt === 'string' ? xt.trim().toUpperCase() : '';
  if (xtension === 'IMAGE' || xtension === 'IUEIMAGE') return new ImageHdu(index, header, source, byteOffset, dataOffset, dataSize);
  if (xtension === 'BINTABLE' || xtension === 'A3DTABLE') {
    if (header.get('ZIMAGE') === true) return new CompressedImageHdu(index, header, source, byteOffset, dataOffset, dataSize);
    return new TableHdu(index, header, source, byteOffset, dataOffset, dataSize);
  }
  if (xtension === 'TABLE') return new TableHdu(index, header, source, byteOffset, dataOffset, dataSize);
  return new UnknownHdu(index, header, source, byteOffset, dataOffset, dataSize);
}
