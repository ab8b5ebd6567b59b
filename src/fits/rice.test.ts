import { describe, expect, it } from 'vitest';
import { riceDecode, riceEncode, riceMaxEncodedSize } from './rice.ts';
import type { RiceBytePix } from './rice.ts';
import { randomTable, unquantize } from './quantize.ts';
import { FitsError } from './errors.ts';
import { makeRandom } from './oracle-helpers.ts';

function roundTrip(values: Int32Array, bytepix: RiceBytePix, blockSize = 32): { decoded: Int32Array; size: number } {
  const buf = new Uint8Array(riceMaxEncodedSize(values.length, blockSize, bytepix));
  const size = riceEncode(values, 0, values.length, blockSize, bytepix, buf, 0);
  expect(size).toBeLessThanOrEqual(buf.length);
  const decoded = new Int32Array(values.length);
  riceDecode(buf, 0, size, decoded, 0, values.length, blockSize, bytepix);
  return { decoded, size };
}

/** Expected decoded value: the input wrapped to the pixel width (signed 16, unsigned 8). */
function wrap(v: number, bytepix: RiceBytePix): number {
  if (bytepix === 4) return v | 0;
  if (bytepix === 2) return (v << 16) >> 16;
  return v & 0xff;
}

/** Straightforward bit-at-a-time RICE_1 decoder for 32-bit pixels (test reference). */
function referenceDecode(src: Uint8Array, n: number, blockSize: number): Int32Array {
  let pos = 0;
  const bit = (): number => (src[pos >> 3] >> (7 - (pos++ & 7))) & 1;
  const bits = (k: number): number => {
    let v = 0;
    for (let i = 0; i < k; i++) v = v * 2 + bit();
    return v;
  };
  const out = new Int32Array(n);
  let last = bits(32) | 0;
  for (let i = 0; i < n; ) {
    const fs = bits(5) - 1;
    const end = Math.min(n, i + blockSize);
    for (; i < end; i++) {
      let d = 0;
      if (fs === 25) d = bits(32);
      else if (fs >= 0) {
        let zeros = 0;
        while (bit() === 0) zeros++;
        d = zeros * 2 ** fs + bits(fs);
      }
      const delta = d % 2 === 1 ? -Math.floor(d / 2) - 1 : d / 2;
      last = (last + delta) | 0;
      out[i] = last;
    }
  }
  return out;
}

describe('Rice coding', () => {
  const rnd = makeRandom(42);

  it('round-trips noise-like int32 data and compresses it', () => {
    const v = new Int32Array(576 * 64);
    for (let i = 0; i < v.length; i++) v[i] = Math.round(rnd.gauss(20000, 7));
    const { decoded, size } = roundTrip(v, 4);
    expect(decoded).toEqual(v);
    expect(size).toBeLessThan(v.length * 4 * 0.3);
  });

  it('handles every block kind: zero blocks, raw (high-entropy) blocks, long codes, short last block', () => {
    for (const bytepix of [1, 2, 4] as const) {
      for (const blockSize of [16, 32]) {
        const n = 32 * 7 + 5;
        const v = new Int32Array(n);
        for (let i = 0; i < n; i++) {
          const block = Math.floor(i / blockSize);
          if (block === 0) v[i] = 7; // constant: all-zero differences
          else if (block === 1) v[i] = Math.floor(rnd.uniform() * 2 ** (8 * bytepix)) - 2 ** (8 * bytepix - 1); // raw block
          else if (block === 2) v[i] = i % blockSize === 5 ? 10000 : 3; // long Rice codes (slow path)
          else v[i] = Math.round(rnd.gauss(100, 3));
        }
        const expected = v.map((x) => wrap(x, bytepix));
        const { decoded } = roundTrip(expected, bytepix, blockSize);
        expect(decoded, `bytepix ${bytepix} block ${blockSize}`).toEqual(expected);
      }
    }
  });

  it('wraps differences at the pixel width (extremes of int16, uint8 and int32)', () => {
    const i16 = Int32Array.from([-32768, 32767, -32768, 0, 32767, -1, 1, -32768]);
    expect(roundTrip(i16, 2).decoded).toEqual(i16);
    const u8 = Int32Array.from([0, 255, 0, 128, 127, 255, 1, 0]);
    expect(roundTrip(u8, 1).decoded).toEqual(u8);
    const i32 = Int32Array.from([-2147483648, 2147483647, 0, -1, 2147483647, -2147483648]);
    expect(roundTrip(i32, 4).decoded).toEqual(i32);
  });

  it('matches a bit-by-bit reference decoder on streams with long zero runs at every bit alignment', () => {
    // Outliers inside quiet blocks give Rice codes with long unary prefixes; a varying number of
    // leading pixels shifts where those prefixes start and end relative to byte boundaries.
    for (let trial = 0; trial < 400; trial++) {
      const n = 64 + Math.floor(rnd.uniform() * 200);
      const v = new Int32Array(n);
      let x = Math.floor(rnd.uniform() * 1000) - 2147483000;
      for (let i = 0; i < n; i++) {
        const r = rnd.uniform();
        x += r < 0.05 ? Math.floor(rnd.uniform() * 2000) - 1000 : r < 0.5 ? 0 : Math.floor(rnd.uniform() * 9) - 4;
        v[i] = x;
      }
      const buf = new Uint8Array(riceMaxEncodedSize(n, 32, 4));
      const size = riceEncode(v, 0, n, 32, 4, buf, 0);
      const ref = referenceDecode(buf.subarray(0, size), n, 32);
      expect(ref).toEqual(v);
      const out = new Int32Array(n);
      riceDecode(buf, 0, size, out, 0, n, 32, 4);
      expect(out, `trial ${trial}`).toEqual(v);
    }
  });

  it('round-trips single pixels and random lengths', () => {
    expect(roundTrip(Int32Array.from([123456]), 4).decoded).toEqual(Int32Array.from([123456]));
    for (let k = 0; k < 50; k++) {
      const n = 1 + Math.floor(rnd.uniform() * 300);
      const sigma = 2 ** Math.floor(rnd.uniform() * 20);
      const v = new Int32Array(n);
      for (let i = 0; i < n; i++) v[i] = Math.round(rnd.gauss(0, sigma));
      expect(roundTrip(v, 4).decoded).toEqual(v);
    }
  });

  it('decodes into an offset and leaves neighbours alone', () => {
    const v = Int32Array.from({ length: 100 }, (_, i) => i * i);
    const buf = new Uint8Array(riceMaxEncodedSize(100, 32, 4));
    const n = riceEncode(v, 0, 100, 32, 4, buf, 0);
    const out = new Int32Array(120).fill(-5);
    riceDecode(buf, 0, n, out, 10, 100, 32, 4);
    expect(out.subarray(10, 110)).toEqual(v);
    expect(out[9]).toBe(-5);
    expect(out[110]).toBe(-5);
  });

  it('throws FitsError on a truncated stream', () => {
    const v = new Int32Array(1000);
    for (let i = 0; i < v.length; i++) v[i] = Math.round(rnd.gauss(0, 1000));
    const buf = new Uint8Array(riceMaxEncodedSize(v.length, 32, 4));
    const n = riceEncode(v, 0, v.length, 32, 4, buf, 0);
    const out = new Int32Array(v.length);
    expect(() => riceDecode(buf.slice(0, n >> 1), 0, n >> 1, out, 0, v.length, 32, 4)).toThrow(FitsError);
    expect(() => riceDecode(buf, 0, 2, out, 0, v.length, 32, 4)).toThrow(FitsError);
  });
});

describe('quantization', () => {
  it('builds the standard random table (Park-Miller, 10000 entries)', () => {
    const t = randomTable();
    expect(t.length).toBe(10000);
    expect(t[0]).toBeCloseTo(16807 / 2147483647, 12);
    for (const x of t) expect(x > 0 && x < 1).toBe(true);
  });

  it('unquantizes with subtractive dither, blanks and exact zeros', () => {
    const input = Int32Array.from([0, 10, -2147483647, -2147483646, 5]);
    const out = new Float32Array(5);
    unquantize(input, 5, out, 0, { method: 'SUBTRACTIVE_DITHER_2', scale: 0.5, zero: 100, blank: -2147483647, ditherRow: 1 });
    const t = randomTable();
    let next = Math.trunc(t[0] * 500);
    expect(out[0]).toBe(Math.fround((0 - t[next] + 0.5) * 0.5 + 100));
    next++;
    expect(out[1]).toBe(Math.fround((10 - t[next] + 0.5) * 0.5 + 100));
    expect(out[2]).toBeNaN();
    expect(out[3]).toBe(0);
    const plain = new Float64Array(2);
    unquantize(Int32Array.from([3, -4]), 2, plain, 0, { method: 'NO_DITHER', scale: 2, zero: 1, blank: null, ditherRow: 1 });
    expect([...plain]).toEqual([7, -7]);
  });
});
