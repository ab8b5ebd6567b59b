import { wasmInstance, type WasmInstance } from './load.ts';

/**
 * RICE_1 tile decoding and integer → float32 scaling (assembly/rice.ts). Pointers are byte
 * offsets into the instance's memory (its arena).
 *
 *   decodeTiles: the RICE_1 streams of `nTiles` tiles, in a heap of `heapLen` bytes at `heap`,
 *     decoded to i32 pixels one tile after the other from `out`. `tiles` holds three i32 per
 *     tile: the stream's byte offset in the heap, its length in bytes (at least `bytePix`) and the
 *     tile's pixel count. BYTEPIX 2 values come out sign-extended, BYTEPIX 1 values unsigned. The
 *     heap's bytes are reversed in place (the call consumes them), and the RICE_READ_SLACK bytes
 *     before `heap` must be in the memory (they are read, never written, and their values do not
 *     matter). Returns 0, or RICE_CORRUPT / RICE_ENDS_EARLY with (tile index, pixel, split level)
 *     at `info`.
 *   scaleInt32ToFloat32: i32 values at `ptr` replaced by float32 v · scale + zero (computed in
 *     float64, rounded once), NaN where v = blank when `hasBlank`.
 */
export interface RiceKernels {
  decodeTiles(heap: number, heapLen: number, tiles: number, nTiles: number, out: number, blockSize: number, bytePix: number, info: number): number;
  scaleInt32ToFloat32(ptr: number, n: number, scale: number, zero: number, blank: number, hasBlank: boolean): void;
}

/** decodeTiles: a block's split level is out of range. */
export const RICE_CORRUPT = 1;
/** decodeTiles: a tile's stream ends before its pixels do. */
export const RICE_ENDS_EARLY = 2;
/** Bytes before the heap that decodeTiles may read (past the end of a stream, in the reversed heap). */
export const RICE_READ_SLACK = 1024;

export function riceKernels(): WasmInstance<RiceKernels> {
  return wasmInstance<RiceKernels>('rice');
}
