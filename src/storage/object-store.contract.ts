import { describe, expect, it } from 'vitest';
import { InvalidInputError, NotFoundError } from '../core/errors.ts';
import type { ObjectStore } from './object-store.ts';

/** The behaviour every ObjectStore backend must show. */
export function objectStoreContract(name: string, setup: () => Promise<{ store: ObjectStore; teardown(): Promise<void> }>): void {
  describe(`ObjectStore contract: ${name}`, () => {
    const withStore = async (fn: (s: ObjectStore) => Promise<void>): Promise<void> => {
      const { store, teardown } = await setup();
      try {
        await fn(store);
      } finally {
        await teardown();
      }
    };

    it('puts, gets and stats an object', () =>
      withStore(async (s) => {
        const bytes = new Uint8Array([1, 2, 3, 250]);
        const info = await s.put('LATISS/0/2026112700001/0/a.fz', bytes);
        expect(info.key).toBe('LATISS/0/2026112700001/0/a.fz');
        expect(info.size).toBe(4);
        expect(info.generation).toMatch(/^\d+$/);
        expect(Array.from(await s.get(info.key))).toEqual([1, 2, 3, 250]);
        const st = await s.stat(info.key);
        expect(st?.size).toBe(4);
        expect(st?.generation).toBe(info.generation);
        expect(await s.stat('LATISS/0/missing.fz')).toBeNull();
      }));

    it('lists by prefix, sorted, and only below the prefix', () =>
      withStore(async (s) => {
        for (const k of ['A/1/x', 'A/1/y', 'A/10/z', 'B/1/x', 'A/2/q']) await s.put(k, new Uint8Array([1]));
        expect((await s.list('A/1/')).map((o) => o.key)).toEqual(['A/1/x', 'A/1/y']);
        expect((await s.list('A/1')).map((o) => o.key)).toEqual(['A/1/x', 'A/1/y', 'A/10/z']);
        expect((await s.list('')).length).toBe(5);
        expect(await s.list('C/')).toEqual([]);
      }));

    it('replaces an object atomically with a new generation', () =>
      withStore(async (s) => {
        const a = await s.put('k/obj', new Uint8Array(1000).fill(1));
        await new Promise((r) => setTimeout(r, 2));
        const b = await s.put('k/obj', new Uint8Array(10).fill(2));
        expect(BigInt(b.generation)).toBeGreaterThan(BigInt(a.generation));
        expect((await s.get('k/obj')).length).toBe(10);
      }));

    it('reports a missing object as NotFoundError', () =>
      withStore(async (s) => {
        await expect(s.get('nope/none')).rejects.toBeInstanceOf(NotFoundError);
      }));

    it('rejects keys that would escape the bucket', () =>
      withStore(async (s) => {
        for (const k of ['../x', '/abs/key', 'a//b', 'a/./b', 'a/../../b', '', 'a\\b']) {
          await expect(s.put(k, new Uint8Array([1]))).rejects.toBeInstanceOf(InvalidInputError);
        }
      }));

    it('deletes, and deleting twice is fine', () =>
      withStore(async (s) => {
        await s.put('d/x', new Uint8Array([1]));
        await s.delete('d/x');
        await s.delete('d/x');
        expect(await s.stat('d/x')).toBeNull();
      }));

    it('holds a 20 MB object intact', () =>
      withStore(async (s) => {
        const big = new Uint8Array(20 * 1024 * 1024);
        for (let i = 0; i < big.length; i += 4096) big[i] = i & 255;
        await s.put('big/obj', big);
        const back = await s.get('big/obj');
        expect(back.length).toBe(big.length);
        expect(Buffer.compare(Buffer.from(back), Buffer.from(big))).toBe(0);
      }));
  });
}
