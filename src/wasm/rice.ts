import { wasmInstance, type WasmInstance } from './load.ts';

/**
 * The FITS layer's kernels (assembly/rice.ts): RICE_1 tile decoding and encoding, integer →
 * float32 scaling and byte-order swapping. Pointers are byte offsets into the instance's memory
 * (its arena).
 *
 *   decodeTiles: the RICE_1 streams of `nTiles` tiles, in a heap of `heapLen` bytes at `heap`,
 *     decoded to i32 pixels one tile after the other from `out`. `tiles` holds three i32 per
 *     tile: the stream's byte offset in the heap, its length in bytes (at least `bytePix`) and the
 *     tile's pixel count. BYTEPIX 2 values come out sign-extended, BYTEPIX 1 values unsigned. The
 *     heap's bytes are reversed in place (the call consumes them), and the RICE_READ_SLACK bytes
 *     before `heap` must be in the memory (they are read, never written, and their values do not
 *     matter). Returns 0, or RICE_CORRUPT / RICE_ENDS_EARLY with (tile index, pixel, split level)
 *     at `info`.
 *   encodeTiles: the pixels of `nTiles` tiles (i32, one tile after the other from `pix`; they are
 *     overwritten) encoded as RICE_1 streams, written one after the other from `out`. `tiles`
 *     holds two i32 per tile: its pixel count (read) and its stream's length in bytes (written).
 *     BYTEPIX 2 and 1 take the values modulo 2^16 and 2^8. `out` needs room for the sum of the
 *     tiles' riceMaxEncodedSize (fits/rice.ts) plus RICE_WRITE_SLACK bytes. Returns the total
 *     length of the streams. The streams are those of riceEncode (fits/rice.ts), bit for bit.
 *   scaleInt32ToFloat32: i32 values at `ptr` replaced by float32 v · scale + zero (computed in
 *     float64, rounded once), NaN where v = blank when `hasBlank`.
 *   swapBytes: the bytes of each `size`-byte element (2, 4 or 8) of the `n` bytes at `ptr`
 *     reversed in place; `n` is a multiple of `size`.
 */
export interface RiceKernels {
  decodeTiles(heap: number, heapLen: number, tiles: number, nTiles: number, out: number, blockSize: number, bytePix: number, info: number): number;
  encodeTiles(pix: number, tiles: number, nTiles: number, out: number, blockSize: number, bytePix: number): number;
  scaleInt32ToFloat32(ptr: number, n: number, scale: number, zero: number, blank: number, hasBlank: boolean): void;
  swapBytes(ptr: number, n: number, size: number): void;
  unquantizeTile(ptr: number, n: number, table: number, iseed: number, dither: boolean, dither2: boolean, scale: number, zero: number, blank: number, hasBlank: boolean): void;
}

/** decodeTiles: a block's split level is out of range. */
export const RICE_CORRUPT = 1;
/** decodeTiles: a tile's stream ends before its pixels do. */
export const RICE_ENDS_EARLY = 2;
/** Bytes before the heap that decodeTiles may read (past the end of a stream, in the reversed heap). */
export const RICE_READ_SLACK = 1024;

/** Bytes past the streams that encodeTiles may write (and leave undefined). */
export const RICE_WRITE_SLACK = 4;

export function riceKernels(): WasmInstance<RiceKernels> {
  return wasmInstance<RiceKernels>('rice');
}
