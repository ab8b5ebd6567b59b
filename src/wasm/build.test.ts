import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileModule } from './build.ts';
import { binaryUrl, WASM_MODULES } from './modules.ts';

describe('committed WebAssembly binaries', () => {
  for (const name of WASM_MODULES) {
    it(`build/${name}.wasm is what assembly/${name}.ts compiles to (else run npm run build:wasm)`, async () => {
      const fresh = await compileModule(name);
      const committed = new Uint8Array(readFileSync(binaryUrl(name)));
      expect(Buffer.from(committed).equals(Buffer.from(fresh))).toBe(true);
    });
  }
});
