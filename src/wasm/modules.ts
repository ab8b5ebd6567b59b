/**
 * The WebAssembly modules: each is compiled from `assembly/NAME.ts` (AssemblyScript) to
 * `build/NAME.wasm`, which is committed, so nothing is compiled at install or run time.
 * `npm run build:wasm` recompiles them; `build.test.ts` fails when a committed binary is not
 * what its source compiles to.
 */
export const WASM_MODULES = ['passes', 'rice', 'warp', 'isr', 'filters', 'moments', 'matching'] as const;
export type WasmModuleName = (typeof WASM_MODULES)[number];

/**
 * Compiler flags, the same for every module: optimised, no garbage-collected runtime (the
 * kernels allocate nothing; buffers come from the caller's arena), no run-time assertions,
 * 128-bit SIMD (Node ≥ 16.4 has it).
 */
export const ASC_FLAGS: readonly string[] = ['-O3', '--runtime', 'stub', '--noAssert', '--enable', 'simd', '--initialMemory', '1'];

export const sourceUrl = (name: WasmModuleName): URL => new URL(`./assembly/${name}.ts`, import.meta.url);
export const binaryUrl = (name: WasmModuleName): URL => new URL(`./build/${name}.wasm`, import.meta.url);
