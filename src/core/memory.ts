/**
 * Explicit collection at the points where a pipeline worker has just let go of full-size planes.
 *
 * A detector-visit allocates some twenty planes of 16 M pixels; V8 reclaims the ones released
 * lazily, so without help a worker carries one visit's released planes (hundreds of MB) into the
 * next visit's peak. Where the runtime exposes `gc` (pipeline worker threads do: see
 * runtime/worker-pool.ts; `node --expose-gc` elsewhere) this runs a full collection, which
 * takes a few tens of milliseconds; elsewhere it does nothing.
 *
 * It asks for an ordinary major collection (`{ type: 'major', execution: 'sync' }`), not the
 * forced one a bare `gc()` runs. A forced collection also throws away what V8 keeps for code that
 * runs again: the hidden classes of objects that are momentarily dead (a visit's are, between
 * visits) and the bytecode it would otherwise age. Optimised code built on them is then
 * deoptimised, and a worker recompiled some hundred functions every visit (about a fifth of a
 * visit's CPU, on the compiler's threads).
 */
export function collectReleasedMemory(): boolean {
  const gc = (globalThis as { gc?: (options?: { type: 'major'; execution: 'sync' }) => void }).gc;
  if (typeof gc !== 'function') return false;
  gc({ type: 'major', execution: 'sync' });
  return true;
}
