/**
 * Explicit collection at the points where a pipeline worker has just let go of full-size planes.
 *
 * A detector-visit allocates some twenty planes of 16 M pixels; V8 reclaims the ones released
 * lazily, so without help a worker carries one visit's released planes (hundreds of MB) into the
 * next visit's peak. Where the runtime exposes `gc` (pipeline worker threads do: see
 * runtime/worker-pool.ts; `node --expose-gc` elsewhere) this runs a full collection, which
 * takes a few tens of milliseconds; elsewhere it does nothing.
 */
export function collectReleasedMemory(): boolean {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== 'function') return false;
  gc();
  return true;
}
