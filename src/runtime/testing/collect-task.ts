import { collectReleasedMemory } from '../../core/memory.ts';

/** A worker task that allocates and drops a large plane, then collects: whether it could. */
export default function collectTask(): { collected: boolean } {
  let plane: Float32Array | null = new Float32Array(1 << 22).fill(1);
  plane = null;
  return { collected: plane === null && collectReleasedMemory() };
}
