/**
 * Reading a FITS file from bytes: HDU boundaries from the headers, data decoded lazily.
 */
import { gunzipSync } from 'node:zlib';
import { FitsError } from './errors.ts';
import { BLOCK_SIZE, Header } from './header.ts';
import { dataSizeOf, makeHdu } from './hdu.ts';
import type { Hdu, HduSource } from './hdu.ts';

export interface ReadFitsOptions {
  /** Name used in error messages (usually the file path). */
  name?: string;
}

export interface FitsFile {
  readonly name: string | undefined;
  readonly hdus: readonly Hdu[];
  /**
   * HDU by 0-based index, or by EXTNAME (case-insensitive; with `extver` when several HDUs share
   * a name). Throws FitsError listing the names present when there is no match.
   */
  hdu(extnameOrIndex: string | number, extver?: number): Hdu;
  /** True when an HDU with this index or EXTNAME exists. */
  has(extnameOrIndex: string | number): boolean;
}

class File implements FitsFile {
  readonly name: string | undefined;
  readonly hdus: readonly Hdu[];
  constructor(name: string | undefined, hdus: Hdu[]) {
    this.name = name;
    this.hdus = hdus;
  }

  #find(key: string | number, extver?: number): Hdu | undefined {
    if (typeof key === 'number') return Number.isInteger(key) ? this.hdus[key] : undefined;
    const u = key.trim().toUpperCase();
    return this.hdus.find((h) => h.name.toUpperCase() === u && (extver === undefined || h.extver === extver));
  }

  has(key: string | number): boolean {
    return this.#find(key) !== undefined;
  }

  hdu(key: string | number, extver?: number): Hdu {
    const h = this.#find(key, extver);
    if (h) return h;
    if (typeof key === 'number') {
      throw new FitsError(`no HDU ${key}; the file has ${this.hdus.length} HDUs (0-${this.hdus.length - 1})`, { file: this.name });
    }
    const names = [...new Set(this.hdus.map((x) => x.name).filter((n) => n !== ''))];
    const what = extver === undefined ? `'${key}'` : `'${key}' with EXTVER ${extver}`;
    throw new FitsError(`no HDU named ${what}; names present: ${names.length ? names.join(', ') : '(none)'}`, { file: this.name });
  }
}

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

function startsWith(bytes: Uint8Array, offset: number, text: string): boolean {
  if (offset + text.length > bytes.length) return false;
  for (let i = 0; i < text.length; i++) if (bytes[offset + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** Parse a FITS file (gzip-wrapped input is gunzipped first). Pixel data are decoded on demand. */
export function readFits(input: Uint8Array, options: ReadFitsOptions = {}): FitsFile {
  const file = options.name;
  // A plain Uint8Array view (not a Buffer subclass): Buffer's slice() does not copy, and one array
  // class keeps the decoding loops monomorphic.
  let bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  if (isGzip(bytes)) {
    try {
      const g = gunzipSync(bytes);
      bytes = new Uint8Array(g.buffer, g.byteOffset, g.byteLength);
    } catch (err) {
      throw new FitsError(`cannot gunzip: ${(err as Error).message}`, { file }, { cause: err });
    }
  }
  if (!startsWith(bytes, 0, 'SIMPLE  =')) {
    throw new FitsError('not a FITS file (does not start with SIMPLE)', { file, hdu: 0, keyword: 'SIMPLE', offset: 0 });
  }
  const source: HduSource = { bytes, file };
  const hdus: Hdu[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    if (hdus.length > 0 && !startsWith(bytes, offset, 'XTENSION')) {
      // Trailing padding or junk after the last HDU: ignored, like astropy (which warns).
      break;
    }
    const index = hdus.length;
    const { header, dataOffset } = Header.parse(bytes, offset, { file, hdu: index, offset });
    let size: number;
    try {
      size = dataSizeOf(header);
    } catch (err) {
      if (err instanceof FitsError) throw err;
      throw new FitsError(`bad data size keywords: ${(err as Error).message}`, { file, hdu: index, offset });
    }
    hdus.push(makeHdu(index, header, source, offset, dataOffset, size));
    offset = dataOffset + Math.ceil(size / BLOCK_SIZE) * BLOCK_SIZE;
  }
  return new File(file, hdus);
}
