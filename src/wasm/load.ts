import { readFileSync } from 'node:fs';
import { WasmArena } from './arena.ts';
import { binaryUrl, type WasmModuleName } from './modules.ts';

/**
 * One instance per module per thread (a worker thread has its own), made on first use from the
 * committed binary. The arena starts above the module's static data, at the end of the memory
 * the module was compiled with (`--initialMemory 1`: one 64 KiB page).
 */
export interface WasmInstance<E> {
  readonly exports: E;
  readonly arena: WasmArena;
}

const compiled = new Map<WasmModuleName, WebAssembly.Module>();
const instances = new Map<WasmModuleName, WasmInstance<unknown>>();

function abort(): never {
  throw new Error('a WebAssembly kernel aborted');
}

/**
 * Lets this thread's instance of a module go (its memory is reclaimed with it): for a kernel run
 * once per visit with a large arena, whose memory would otherwise stay for the thread's life.
 * The next use makes a new instance from the compiled module.
 */
export function releaseWasmInstance(name: WasmModuleName): void {
  instances.delete(name);
}

export function wasmInstance<E>(name: WasmModuleName): WasmInstance<E> {
  const have = instances.get(name);
  if (have) return have as WasmInstance<E>;
  let module = compiled.get(name);
  if (!module) {
    module = new WebAssembly.Module(readFileSync(binaryUrl(name)));
    compiled.set(name, module);
  }
  const instance = new WebAssembly.Instance(module, { env: { abort } });
  const memory = instance.exports.memory;
  if (!(memory instanceof WebAssembly.Memory)) throw new Error(`${name}.wasm exports no memory`);
  const made: WasmInstance<E> = { exports: instance.exports as unknown as E, arena: new WasmArena(memory, memory.buffer.byteLength) };
  instances.set(name, made);
  return made;
}
