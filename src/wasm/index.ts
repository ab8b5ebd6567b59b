/**
 * WebAssembly kernels: image loops compiled from AssemblyScript with 128-bit SIMD, one instance
 * per module per thread, buffers in the instance's memory laid out by its arena.
 */
export { WasmArena, type ArenaBuffer, type ArenaRequest } from './arena.ts';
export { releaseWasmInstance, wasmInstance, type WasmInstance } from './load.ts';
export { WASM_MODULES, type WasmModuleName } from './modules.ts';
export { passKernels, type PassKernels } from './passes.ts';
export { riceKernels, RICE_CORRUPT, RICE_ENDS_EARLY, RICE_READ_SLACK, type RiceKernels } from './rice.ts';
export { releaseWarpKernels, warpKernels, type WarpKernels } from './warp.ts';
export { isrKernels, calibrateDesc, CALIBRATE_DESC_BYTES, type IsrKernels } from './isr.ts';
export { filterKernels, type FilterKernels } from './filters.ts';
export { momentKernels, type MomentKernels } from './moments.ts';
export { matchingKernels, releaseMatchingKernels, type MatchingKernels } from './matching.ts';
