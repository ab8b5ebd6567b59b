import { afterEach, describe, expect, it } from 'vitest';
import { collectReleasedMemory } from './memory.ts';

describe('collectReleasedMemory', () => {
  const holder = globalThis as { gc?: unknown };
  const original = holder.gc;
  afterEach(() => {
    holder.gc = original;
  });

  it('runs an ordinary synchronous major collection where gc is exposed, not a forced one', () => {
    const calls: unknown[][] = [];
    holder.gc = (...args: unknown[]) => {
      calls.push(args);
    };
    expect(collectReleasedMemory()).toBe(true);
    expect(calls).toEqual([[{ type: 'major', execution: 'sync' }]]);
  });

  it('does nothing where gc is not exposed', () => {
    holder.gc = undefined;
    expect(collectReleasedMemory()).toBe(false);
  });
});
