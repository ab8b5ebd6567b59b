/**
 * A module instance's linear memory as a bump-allocated arena of typed views.
 *
 * Kernels work on pointers into their module's memory: callers lay out every buffer a task
 * needs in one call (`layout`), which grows the memory once if needed and returns the views
 * and their byte offsets. Growing the memory detaches every view made before it, so a new
 * layout invalidates the previous one's views: take them again after each `layout`. The memory
 * of an instance never shrinks; it is sized by the largest layout the thread has needed.
 */
export interface ArenaBuffer<T extends Float32Array | Float64Array | Int32Array | Uint8Array> {
  /** Byte offset in the module's memory (what the kernels take). */
  readonly ptr: number;
  readonly view: T;
}

type Kind = 'f32' | 'f64' | 'i32' | 'u8';
type ViewOf<K extends Kind> = K extends 'f32' ? Float32Array : K extends 'f64' ? Float64Array : K extends 'i32' ? Int32Array : Uint8Array;
export type ArenaRequest = readonly [Kind, number];
type ViewsOf<R extends readonly ArenaRequest[]> = { [I in keyof R]: R[I] extends readonly [infer K extends Kind, number] ? ArenaBuffer<ViewOf<K>> : never };

const BYTES: Record<Kind, number> = { f32: 4, f64: 8, i32: 4, u8: 1 };
const PAGE = 65536;
/** Every buffer starts 16-byte aligned and is followed by this many spare bytes (SIMD over-reads). */
const SLACK = 64;

export class WasmArena {
  readonly #memory: WebAssembly.Memory;
  readonly #base: number;

  /** `base`: the first byte the arena may use (above the module's static data). */
  constructor(memory: WebAssembly.Memory, base: number) {
    this.#memory = memory;
    this.#base = base;
  }

  /** Bytes the memory holds now. */
  get bytes(): number {
    return this.#memory.buffer.byteLength;
  }

  /**
   * Lays out buffers of the given kinds and element counts, in order, from the start of the
   * arena (overwriting the previous layout), zero-filled when `zero` is set.
   */
  layout<const R extends readonly ArenaRequest[]>(requests: R, zero = false): ViewsOf<R> {
    const ptrs: number[] = [];
    let at = this.#base;
    for (const [kind, count] of requests) {
      if (!Number.isInteger(count) || count < 0) throw new RangeError(`wasm arena: ${count} is not an element count`);
      at = (at + 15) & ~15;
      ptrs.push(at);
      at += count * BYTES[kind] + SLACK;
    }
    const have = this.#memory.buffer.byteLength;
    if (at > have) this.#memory.grow(Math.ceil((at - have) / PAGE));
    const buffer = this.#memory.buffer;
    if (zero) new Uint8Array(buffer, this.#base, at - this.#base).fill(0);
    return requests.map(([kind, count], i) => {
      const ptr = ptrs[i];
      const view =
        kind === 'f32' ? new Float32Array(buffer, ptr, count) : kind === 'f64' ? new Float64Array(buffer, ptr, count) : kind === 'i32' ? new Int32Array(buffer, ptr, count) : new Uint8Array(buffer, ptr, count);
      return { ptr, view };
    }) as unknown as ViewsOf<R>;
  }
}
