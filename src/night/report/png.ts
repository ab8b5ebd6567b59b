/**
 * A minimal PNG encoder (ISO/IEC 15948): 8-bit samples, grayscale, grayscale + alpha, RGB or
 * RGBA, no interlace, filter type 0 (None) on every scanline, one IDAT chunk compressed with
 * zlib (node:zlib deflate). Enough for postage stamps embedded as data: URIs.
 *
 *   signature | IHDR | IDAT | IEND, each chunk: length (u32 BE), type, data, CRC-32 of type+data
 */
import { Buffer } from 'node:buffer';
import { deflateSync } from 'node:zlib';

export const PNG_SIGNATURE: Uint8Array = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

/** Samples per pixel → PNG colour type. */
const COLOUR_TYPE: Readonly<Record<number, number>> = { 1: 0, 2: 4, 3: 2, 4: 6 };

export interface PngImage {
  readonly width: number;
  readonly height: number;
  /** 1 grayscale, 2 grayscale + alpha, 3 RGB, 4 RGBA. */
  readonly channels: 1 | 2 | 3 | 4;
  /** Row-major, top row first, `channels` bytes per pixel. */
  readonly data: Uint8Array;
}

let crcTable: Uint32Array | null = null;

function table(): Uint32Array {
  if (crcTable) return crcTable;
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  crcTable = t;
  return t;
}

/** CRC-32 (ISO 3309, as PNG and zlib use it) of the bytes, continuing from `crc` when given. */
export function crc32(bytes: Uint8Array, crc = 0): number {
  const t = table();
  let c = (crc ^ 0xffffffff) >>> 0;
  for (let i = 0; i < bytes.length; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** The PNG file of an image. */
export function encodePng(image: PngImage, opts: { level?: number } = {}): Uint8Array {
  const { width, height, channels, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width > 0x7fffffff || height > 0x7fffffff) {
    throw new RangeError(`PNG size ${width}x${height} must be positive integers`);
  }
  const colourType = COLOUR_TYPE[channels];
  if (colourType === undefined) throw new RangeError(`PNG channels ${channels} must be 1, 2, 3 or 4`);
  const stride = width * channels;
  if (data.length !== stride * height) throw new RangeError(`PNG data has ${data.length} bytes, ${width}x${height}x${channels} needs ${stride * height}`);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = colourType;
  ihdr[10] = 0; // compression: deflate
  ihdr[11] = 0; // filter method 0
  ihdr[12] = 0; // no interlace
  const raw = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (stride + 1)] = 0; // filter type None
    raw.set(data.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  }
  const idat = deflateSync(raw, { level: opts.level ?? 9 });
  const out = Buffer.concat([Buffer.from(PNG_SIGNATURE), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', new Uint8Array(0))]);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** `data:image/png;base64,…` of an image. */
export function pngDataUri(image: PngImage): string {
  const png = encodePng(image);
  return `data:image/png;base64,${Buffer.from(png.buffer, png.byteOffset, png.byteLength).toString('base64')}`;
}
