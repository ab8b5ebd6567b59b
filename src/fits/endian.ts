/**
 * Big-endian <-> native conversion in bulk: Buffer.swap16/32/64 (native loops), and for large
 * arrays of 4-byte elements the WebAssembly kernel, which swaps SIMD vectors a chunk at a time and
 * so also copies (or moves) the bytes in the same pass.
 */
import { Buffer } from 'node:buffer';
import { endianness } from 'node:os';
import { FitsError } from './errors.ts';
import { riceKernels } from '../wasm/rice.ts';

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
  if (elementSize === 4 && bytes.length >= KERNEL_MIN_BYTES && kernelSwap(bytes, bytes)) return;
  nativeSwap(bytes, elementSize);
}

function nativeSwap(bytes: Uint8Array, elementSize: number): void {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (elementSize === 2) b.swap16();
  else if (elementSize === 4) b.swap32();
  else if (elementSize === 8) b.swap64();
  else throw new Error(`bad element size ${elementSize}`);
}

/**
 * `src`'s bytes copied to `dst` (of the same length; the two may overlap) with the bytes of every
 * `elementSize`-byte element reversed on a little-endian host.
 */
export function copySwapped(src: Uint8Array, dst: Uint8Array, elementSize: number): void {
  if (src.length !== dst.length) throw new Error(`copySwapped: ${src.length} bytes to ${dst.length}`);
  if (src.length === 0) return;
  if (LITTLE_ENDIAN && elementSize === 4 && src.length >= KERNEL_MIN_BYTES && kernelSwap(src, dst)) return;
  if (src.buffer !== dst.buffer || src.byteOffset !== dst.byteOffset) dst.set(src);
  swapInPlace(dst, elementSize);
}

/** Arrays of fewer bytes are swapped by Buffer.swap32 (a kernel call costs more). */
const KERNEL_MIN_BYTES = 1 << 16;
/** Bytes swapped per kernel call: a chunk stays in the cache from its copy in to its copy out. */
const KERNEL_CHUNK_BYTES = 1 << 17;

/**
 * copySwapped of 4-byte elements by the WebAssembly kernel, a chunk at a time: each chunk is
 * copied into the kernel's memory, swapped there and copied to `dst`. Overlapping arrays are
 * walked so that no chunk is overwritten before it is read (from the end when `dst` lies after
 * `src`). Returns false, having done nothing, for arrays in the kernel's own memory.
 */
function kernelSwap(src: Uint8Array, dst: Uint8Array): boolean {
  const n = src.length;
  if (n % 4 !== 0) throw new Error(`bad byte count ${n} for 4-byte elements`);
  const { exports: k, arena } = riceKernels();
  const [chunk] = arena.layout([['u8', Math.min(n, KERNEL_CHUNK_BYTES)]]);
  const buf = chunk.view;
  if (src.buffer === buf.buffer || dst.buffer === buf.buffer) return false;
  const swapChunk = (start: number, end: number): void => {
    const m = end - start;
    buf.set(src.subarray(start, end));
    k.swapBytes(chunk.ptr, m, 4);
    dst.set(m === buf.length ? buf : buf.subarray(0, m), start);
  };
  if (src.buffer === dst.buffer && dst.byteOffset > src.byteOffset) {
    for (let end = n; end > 0; end -= KERNEL_CHUNK_BYTES) swapChunk(Math.max(0, end - KERNEL_CHUNK_BYTES), end);
  } else {
    for (let start = 0; start < n; start += KERNEL_CHUNK_BYTES) swapChunk(start, Math.min(n, start + KERNEL_CHUNK_BYTES));
  }
  return true;
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
  copySwapped(bytes.subarray(offset, offset + n), u8, size);
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
  copySwapped(new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength), out, arr.BYTES_PER_ELEMENT);
  return out;
}
