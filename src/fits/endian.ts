/**
 * Big-endian <-> native conversion in bulk (Buffer.swap16/32/64 are native loops).
 */
import { Buffer } from 'node:buffer';
import { endianness } from 'node:os';
import { FitsError } from './errors.ts';

const LITTLE_ENDIAN = endianness() === 'LE';

/** Any numeric typed array the FITS layer reads or writes. */
export type NumericArray =
  | Uint8Array
  | Int8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

/** Raw stored array for a BITPIX value. */
export type StoredArray = Uint8Array | Int16Array | Int32Array | BigInt64Array | Float32Array | Float64Array;

export function bytesPerPixel(bitpix: number): number {
  switch (bitpix) {
    case 8:
      return 1;
    case 16:
      return 2;
    case 32:
    case -32:
      return 4;
    case 64:
    case -64:
      return 8;
    default:
      throw new FitsError(`invalid BITPIX ${bitpix}`, { keyword: 'BITPIX' });
  }
}

/** Swap the bytes of every element in place (no-op for 1-byte elements or big-endian hosts). */
export function swapInPlace(bytes: Uint8Array, elementSize: number): void {
  if (!LITTLE_ENDIAN || elementSize === 1 || bytes.length === 0) return;
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (elementSize === 2) b.swap16();
  else if (elementSize === 4) b.swap32();
  else if (elementSize === 8) b.swap64();
  else throw new Error(`bad element size ${elementSize}`);
}

/** Copy `count` big-endian values of type `bitpix` starting at `offset` into a fresh native array. */
export function readBigEndian(bytes: Uint8Array, offset: number, count: number, bitpix: number): StoredArray {
  const size = bytesPerPixel(bitpix);
  const n = count * size;
  if (offset + n > bytes.length) {
    throw new FitsError(`data runs past the end of the file (needs ${n} bytes)`, { offset });
  }
  const ab = new ArrayBuffer(n);
  const u8 = new Uint8Array(ab);
  u8.set(bytes.subarray(offset, offset + n));
  swapInPlace(u8, size);
  switch (bitpix) {
    case 8:
      return u8;
    case 16:
      return new Int16Array(ab);
    case 32:
      return new Int32Array(ab);
    case 64:
      return new BigInt64Array(ab);
    case -32:
      return new Float32Array(ab);
    default:
      return new Float64Array(ab);
  }
}

/** A big-endian copy of a typed array's bytes. */
export function toBigEndianBytes(arr: NumericArray): Uint8Array {
  const out = new Uint8Array(arr.byteLength);
  out.set(new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength));
  swapInPlace(out, arr.BYTES_PER_ELEMENT);
  return out;
}
