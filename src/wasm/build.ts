/**
 * Compiles the AssemblyScript kernels (`npm run build:wasm`): `assembly/NAME.ts` → `build/NAME.wasm`.
 * The compiler (assemblyscript) is a development dependency: running the project needs only the
 * committed binaries.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ASC_FLAGS, binaryUrl, sourceUrl, WASM_MODULES, type WasmModuleName } from './modules.ts';

/** The binary that `assembly/NAME.ts` compiles to, with the project's flags. */
export async function compileModule(name: WasmModuleName): Promise<Uint8Array> {
  const { default: asc } = await import('assemblyscript/asc');
  let binary: Uint8Array | null = null;
  const out: string[] = [];
  const sink = { write: (chunk: string | Uint8Array): void => void out.push(String(chunk)) };
  const result = await asc.main([fileURLToPath(sourceUrl(name)), '--outFile', `${name}.wasm`, ...ASC_FLAGS], {
    stdout: sink,
    stderr: sink,
    writeFile: (file: string, contents: Uint8Array | string) => {
      if (file.endsWith('.wasm') && typeof contents !== 'string') binary = contents;
    },
  });
  if (result.error) throw new Error(`compiling ${name}.wasm failed: ${result.error.message}\n${out.join('')}`);
  if (binary === null) throw new Error(`compiling ${name}.wasm produced no binary\n${out.join('')}`);
  return binary;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  // `npm run build:wasm [-- NAME ...]`: the modules named, or all of them.
  const asked = process.argv.slice(2);
  const unknown = asked.filter((a) => !(WASM_MODULES as readonly string[]).includes(a));
  if (unknown.length) throw new Error(`unknown WebAssembly module(s) ${unknown.join(', ')}: known are ${WASM_MODULES.join(', ')}`);
  for (const name of asked.length ? (asked as WasmModuleName[]) : WASM_MODULES) {
    const bytes = await compileModule(name);
    writeFileSync(binaryUrl(name), bytes);
    console.log(`${fileURLToPath(binaryUrl(name))}: ${bytes.length} bytes`);
  }
}
