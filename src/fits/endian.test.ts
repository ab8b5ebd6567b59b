import { describe, expect, it } from 'vitest';
import { copySwapped, readBigEndian, swapInPlace, toBigEndianBytes } from './endian.ts';

/** The bytes of `src` with every `size`-byte element reversed. */
function swapped(src: Uint8Array, size: number): Uint8Array {
  const out = src.slice();
  for (let e = 0; e < src.length; e += size) for (let j = 0; j < size; j++) out[e + j] = src[e + size - 1 - j];
  return out;
}

function randomBytes(n: number, seed: number): Uint8Array {
  let s = seed >>> 0;
  return Uint8Array.from({ length: n }, () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) >>> 24);
}

// Sizes below and above the kernel's threshold, and not whole chunks.
const LENGTHS = [0, 4, 40, 65532, 65536, 131072 + 36, 3 * 131072 + 4000];

describe('byte order', () => {
  it('swaps in place and copies swapped, for every element size', () => {
    for (const size of [2, 4, 8]) {
      for (const len of LENGTHS) {
        const n = len - (len % size);
        const src = randomBytes(n, n + size);
        const want = swapped(src, size);
        const inPlace = src.slice();
        swapInPlace(inPlace, size);
        expect(Buffer.from(inPlace).equals(want), `in place, size ${size}, ${n} bytes`).toBe(true);
        const dst = new Uint8Array(n);
        copySwapped(src, dst, size);
        expect(Buffer.from(dst).equals(want), `copy, size ${size}, ${n} bytes`).toBe(true);
        copySwapped(src, src, size);
        expect(Buffer.from(src).equals(want), `same array, size ${size}, ${n} bytes`).toBe(true);
      }
    }
  });

  it('moves within one buffer, forwards and backwards, by less and more than a chunk', () => {
    for (const len of [4000, 65536 + 400, 3 * 131072 + 4000]) {
      for (const shift of [4, 2880, 131072 + 8, 200000]) {
        for (const dir of [1, -1]) {
          const buffer = new ArrayBuffer(len + shift);
          const all = new Uint8Array(buffer);
          all.set(randomBytes(all.length, len + shift + dir));
          const from = dir > 0 ? 0 : shift;
          const to = dir > 0 ? shift : 0;
          const want = swapped(all.slice(from, from + len), 4);
          copySwapped(all.subarray(from, from + len), all.subarray(to, to + len), 4);
          expect(Buffer.from(all.subarray(to, to + len)).equals(want), `${len} bytes moved by ${dir * shift}`).toBe(true);
        }
      }
    }
  });

  it('reads and writes big-endian arrays', () => {
    const v = Float32Array.from({ length: 70000 }, (_, i) => i * 0.37 - 5000);
    const be = toBigEndianBytes(v);
    const dv = new DataView(be.buffer);
    for (const i of [0, 1, 16383, 16384, 69999]) expect(dv.getFloat32(4 * i)).toBe(v[i]);
    const back = readBigEndian(be, 0, v.length, -32) as Float32Array;
    expect(Buffer.from(back.buffer).equals(Buffer.from(v.buffer))).toBe(true);
    const i16 = Int16Array.from({ length: 40000 }, (_, i) => i - 20000);
    const back16 = readBigEndian(toBigEndianBytes(i16), 0, i16.length, 16) as Int16Array;
    expect(Buffer.from(back16.buffer).equals(Buffer.from(i16.buffer))).toBe(true);
  });
});
