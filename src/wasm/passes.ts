import { wasmInstance, type WasmInstance } from './load.ts';

/**
 * The one-dimensional correlation passes (assembly/passes.ts), four pixels per SIMD operation,
 * float32 throughout. Pointers are byte offsets into the instance's memory (its arena); taps
 * are float32 values there.
 *
 *   hpass: out[x] = Σ_t c_t · row[x + t], x ∈ [0, n): row needs n + T − 1 values (+ arena slack)
 *   vpass: dst[k·W + x] (+)= Σ_t c_t · src[(k + t)·W + x], k ∈ [0, nRows), x ∈ [x0, x1)
 */
export interface PassKernels {
  hpass(row: number, out: number, n: number, taps: number, T: number): void;
  vpass(src: number, dst: number, W: number, nRows: number, x0: number, x1: number, taps: number, T: number, accumulate: boolean): void;
}

export function passKernels(): WasmInstance<PassKernels> {
  return wasmInstance<PassKernels>('passes');
}
