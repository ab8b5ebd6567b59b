/**
 * The part of the WebAssembly JavaScript API the loader uses (Node has it as a global; the
 * project's type libraries do not declare it without the DOM).
 */
declare namespace WebAssembly {
  type ImportValue = ((...args: never[]) => unknown) | Memory | number;
  type Imports = Record<string, Record<string, ImportValue>>;
  type Exports = Record<string, ((...args: never[]) => unknown) | Memory | Global>;

  class Module {
    constructor(bytes: ArrayBufferView | ArrayBuffer);
  }
  class Instance {
    constructor(module: Module, imports?: Imports);
    readonly exports: Exports;
  }
  class Memory {
    constructor(descriptor: { initial: number; maximum?: number; shared?: boolean });
    readonly buffer: ArrayBuffer;
    grow(pages: number): number;
  }
  class Global {
    value: number;
  }
}
