import { describe, expect, it } from 'vitest';
import { N_RANDOM, randomTable, unquantize, ZERO_VALUE, type QuantizeMethod } from '../fits/quantize.ts';
import { riceDecode, riceEncode, riceMaxEncodedSize, type RiceBytePix } from '../fits/rice.ts';
import { RICE_CORRUPT, RICE_ENDS_EARLY, RICE_READ_SLACK, RICE_WRITE_SLACK, riceKernels } from './rice.ts';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

interface Stream {
  readonly bytes: Uint8Array;
  readonly n: number;
}

function encode(values: Int32Array, blockSize: number, bytePix: RiceBytePix): Stream {
  const buf = new Uint8Array(riceMaxEncodedSize(values.length, blockSize, bytePix));
  const size = riceEncode(values, 0, values.length, blockSize, bytePix, buf, 0);
  return { bytes: buf.slice(0, size), n: values.length };
}

/** The JavaScript decoder's pixels, or its error. */
function jsDecode(s: Stream, blockSize: number, bytePix: RiceBytePix): Int32Array | Error {
  const out = new Int32Array(s.n);
  try {
    riceDecode(s.bytes, 0, s.bytes.length, out, 0, s.n, blockSize, bytePix);
    return out;
  } catch (err) {
    return err as Error;
  }
}

/** All streams through one decodeTiles call: the pixels of each, or the error code and its info. */
function wasmDecode(streams: readonly Stream[], blockSize: number, bytePix: RiceBytePix): { pixels: Int32Array[] } | { code: number; info: number[] } {
  const { exports: k, arena } = riceKernels();
  const heapLen = streams.reduce((a, s) => a + s.bytes.length, 0);
  const total = streams.reduce((a, s) => a + s.n, 0);
  const [heap, tiles, out, info] = arena.layout([
    ['u8', RICE_READ_SLACK + heapLen],
    ['i32', 3 * streams.length],
    ['i32', total],
    ['i32', 3],
  ]);
  // Garbage past the streams and in the output: neither may show in the result.
  heap.view.fill(0xa5);
  out.view.fill(-7);
  let at = 0;
  streams.forEach((s, t) => {
    heap.view.set(s.bytes, RICE_READ_SLACK + at);
    tiles.view.set([at, s.bytes.length, s.n], 3 * t);
    at += s.bytes.length;
  });
  const code = k.decodeTiles(heap.ptr + RICE_READ_SLACK, heapLen, tiles.ptr, streams.length, out.ptr, blockSize, bytePix, info.ptr);
  if (code !== 0) return { code, info: Array.from(info.view) };
  const pixels: Int32Array[] = [];
  let o = 0;
  for (const s of streams) {
    pixels.push(out.view.slice(o, o + s.n));
    o += s.n;
  }
  return { pixels };
}

/** Pixel values of a few kinds: flat, gaussian-like noise of the given width, spikes, wide noise. */
function values(n: number, kind: 'flat' | 'noise' | 'spiky' | 'wide' | 'mixed', width: number, rnd: () => number, bytePix: RiceBytePix): Int32Array {
  const v = new Int32Array(n);
  const base = bytePix === 1 ? 100 : bytePix === 2 ? -3000 : 17000;
  for (let i = 0; i < n; i++) {
    const g = (rnd() + rnd() + rnd() - 1.5) * 2 * width;
    switch (kind) {
      case 'flat':
        v[i] = base;
        break;
      case 'noise':
        v[i] = Math.round(base + g);
        break;
      case 'spiky':
        // Mostly quiet, with rare huge jumps: long zero runs in low split-level blocks.
        v[i] = Math.round(base + g) + (rnd() < 0.01 ? Math.round(rnd() * 2 ** 30) : 0);
        break;
      case 'wide':
        v[i] = Math.floor(rnd() * 2 ** 32) | 0;
        break;
      case 'mixed': {
        const region = Math.floor(i / 50) % 4;
        v[i] = region === 0 ? base : region === 1 ? Math.round(base + g) : region === 2 ? Math.floor(rnd() * 2 ** 32) | 0 : Math.round(base + g * 1000);
        break;
      }
    }
  }
  return v;
}

describe('RICE_1 decoding kernel', () => {
  it('decodes what the encoder wrote, as the JavaScript decoder does, for every BYTEPIX, block size and tile length', () => {
    const rnd = lcg(11);
    for (const bytePix of [1, 2, 4] as const) {
      for (const blockSize of [32, 16, 1, 7, 100, 300]) {
        const streams: Stream[] = [];
        const expected: Int32Array[] = [];
        for (const kind of ['flat', 'noise', 'spiky', 'wide', 'mixed'] as const) {
          for (const width of [0.3, 3, 40, 5000]) {
            for (const n of [1, 2, 3, 5, 31, 32, 33, 575, 1001]) {
              const s = encode(values(n, kind, width, rnd, bytePix), blockSize, bytePix);
              const js = jsDecode(s, blockSize, bytePix);
              if (js instanceof Error) throw js;
              streams.push(s);
              expected.push(js);
            }
          }
        }
        const got = wasmDecode(streams, blockSize, bytePix);
        if (!('pixels' in got)) throw new Error(`decodeTiles failed: ${JSON.stringify(got)}`);
        for (let t = 0; t < streams.length; t++) expect(got.pixels[t], `BYTEPIX ${bytePix}, BLOCKSIZE ${blockSize}, tile ${t}`).toEqual(expected[t]);
      }
    }
  });

  it('decodes zero runs far longer than its bit buffer, and values at the extremes', () => {
    const rnd = lcg(12);
    for (const bytePix of [2, 4] as const) {
      const v = new Int32Array(4096);
      for (let i = 0; i < v.length; i++) v[i] = i % 97 === 0 ? (rnd() < 0.5 ? -(2 ** 31) : 2 ** 31 - 1) : i % 5;
      if (bytePix === 2) for (let i = 0; i < v.length; i++) v[i] = (v[i] << 16) >> 16;
      const s = encode(v, 32, bytePix);
      const got = wasmDecode([s], 32, bytePix);
      if (!('pixels' in got)) throw new Error(`decodeTiles failed: ${JSON.stringify(got)}`);
      expect(got.pixels[0]).toEqual(v);
    }
  });

  it('reports a stream that ends early, with its tile, and a split level out of range', () => {
    const rnd = lcg(13);
    const good = encode(values(1000, 'noise', 40, rnd, 4), 32, 4);
    const cut: Stream = { bytes: good.bytes.slice(0, good.bytes.length >> 1), n: good.n };
    const got = wasmDecode([good, good, cut, good], 32, 4);
    expect(got).toMatchObject({ code: RICE_ENDS_EARLY });
    if ('info' in got) {
      expect(got.info[0]).toBe(2);
      expect(got.info[1]).toBeGreaterThan(0);
      expect(got.info[1]).toBeLessThanOrEqual(1000);
    }
    // First pixel, then a block code of 31 (split level 30 > 25).
    const corrupt: Stream = { bytes: new Uint8Array([0, 0, 0, 1, 0xf8, 0, 0, 0]), n: 10 };
    const bad = wasmDecode([good, corrupt], 32, 4);
    expect(bad).toEqual({ code: RICE_CORRUPT, info: [1, 0, 30] });
    expect(jsDecode(corrupt, 32, 4)).toBeInstanceOf(Error);
  });

  it('fails exactly where the JavaScript decoder fails on random bytes, and agrees elsewhere', () => {
    const rnd = lcg(14);
    let failures = 0;
    for (let trial = 0; trial < 300; trial++) {
      const bytePix = ([1, 2, 4] as const)[trial % 3];
      const blockSize = [32, 16, 200][trial % 3 === 0 ? 0 : (trial >> 2) % 3];
      const len = bytePix + Math.floor(rnd() * 200);
      const bytes = new Uint8Array(len);
      // Sparse bits make long zero runs; dense bits make short codes.
      const density = [0.5, 0.05, 0.002][trial % 3];
      for (let i = 0; i < len; i++) for (let b = 0; b < 8; b++) if (rnd() < density) bytes[i] |= 1 << b;
      const s: Stream = { bytes, n: 1 + Math.floor(rnd() * 400) };
      const js = jsDecode(s, blockSize, bytePix);
      const got = wasmDecode([s], blockSize, bytePix);
      if (js instanceof Error) {
        failures++;
        expect('code' in got, `trial ${trial}`).toBe(true);
        expect(js.message).toMatch(/ends early|corrupt/);
        if ('code' in got) expect(got.code).toBe(/corrupt/.test(js.message) ? RICE_CORRUPT : RICE_ENDS_EARLY);
      } else {
        expect(got, `trial ${trial}`).toEqual({ pixels: [js] });
      }
    }
    expect(failures).toBeGreaterThan(10);
  });
});

/** All tiles through one encodeTiles call: the stream of each. */
function wasmEncode(tiles: readonly Int32Array[], blockSize: number, bytePix: RiceBytePix): Uint8Array[] {
  const { exports: k, arena } = riceKernels();
  const total = tiles.reduce((a, v) => a + v.length, 0);
  const room = tiles.reduce((a, v) => a + riceMaxEncodedSize(v.length, blockSize, bytePix), 0);
  const [pix, table, out] = arena.layout([
    ['i32', total],
    ['i32', 2 * tiles.length],
    ['u8', room + RICE_WRITE_SLACK],
  ]);
  out.view.fill(0x5a);
  let at = 0;
  tiles.forEach((v, t) => {
    pix.view.set(v, at);
    table.view[2 * t] = v.length;
    table.view[2 * t + 1] = -1;
    at += v.length;
  });
  const size = k.encodeTiles(pix.ptr, table.ptr, tiles.length, out.ptr, blockSize, bytePix);
  const streams: Uint8Array[] = [];
  let o = 0;
  for (let t = 0; t < tiles.length; t++) {
    const len = table.view[2 * t + 1];
    streams.push(out.view.slice(o, o + len));
    o += len;
  }
  expect(o).toBe(size);
  expect(size).toBeLessThanOrEqual(room);
  return streams;
}

describe('RICE_1 encoding kernel', () => {
  it('writes the JavaScript encoder\'s bytes for every BYTEPIX, block size and tile length', () => {
    const rnd = lcg(21);
    for (const bytePix of [1, 2, 4] as const) {
      for (const blockSize of [32, 16, 1, 7, 100, 300]) {
        const tiles: Int32Array[] = [];
        for (const kind of ['flat', 'noise', 'spiky', 'wide', 'mixed'] as const) {
          for (const width of [0.3, 3, 40, 5000]) {
            for (const n of [1, 2, 3, 4, 5, 31, 32, 33, 575, 1001]) tiles.push(values(n, kind, width, rnd, bytePix));
          }
        }
        const got = wasmEncode(tiles, blockSize, bytePix);
        for (let t = 0; t < tiles.length; t++) {
          expect(got[t], `BYTEPIX ${bytePix}, BLOCKSIZE ${blockSize}, tile ${t}`).toEqual(encode(tiles[t], blockSize, bytePix).bytes);
        }
      }
    }
  });

  it('takes values modulo the pixel width, and writes zero runs far longer than 32 bits', () => {
    const rnd = lcg(22);
    const tiles: Int32Array[] = [];
    // Values outside the BYTEPIX range, and extremes.
    for (let k = 0; k < 20; k++) tiles.push(Int32Array.from({ length: 37 + k }, () => Math.floor(rnd() * 2 ** 32) | 0));
    tiles.push(Int32Array.from([-(2 ** 31), 2 ** 31 - 1, 0, -1, 2 ** 31 - 1, -(2 ** 31), 65535, -65536, 255, 256]));
    for (const bytePix of [1, 2, 4] as const) {
      const got = wasmEncode(tiles, 32, bytePix);
      tiles.forEach((v, t) => expect(got[t], `BYTEPIX ${bytePix}, tile ${t}`).toEqual(encode(v, 32, bytePix).bytes));
    }
    // Large blocks of tiny differences with rare huge ones: split level 0 or 1 and codes of
    // thousands of bits.
    for (const bytePix of [2, 4] as const) {
      const long: Int32Array[] = [];
      for (let k = 0; k < 8; k++) {
        const v = new Int32Array(3000 + k);
        for (let i = 0; i < v.length; i++) v[i] = (i % 2) + (i % 1013 === 500 + k ? 20000 + 977 * k : 0);
        long.push(v);
      }
      const got = wasmEncode(long, 3000, bytePix);
      long.forEach((v, t) => expect(got[t], `BYTEPIX ${bytePix}, tile ${t}`).toEqual(encode(v, 3000, bytePix).bytes));
    }
  });

  it('writes the JavaScript encoder\'s bytes at every split level, with outliers', () => {
    const rnd = lcg(25);
    for (const bytePix of [1, 2, 4] as const) {
      const tiles: Int32Array[] = [];
      for (let k = 0; k < 8 * bytePix; k++) {
        const width = 2 ** k * 0.7;
        tiles.push(Int32Array.from({ length: 200 + k }, () => Math.round((rnd() - 0.5) * width) + (rnd() < 0.03 ? Math.round(rnd() * 64 * width) : 0)));
      }
      const got = wasmEncode(tiles, 32, bytePix);
      tiles.forEach((v, t) => expect(got[t], `BYTEPIX ${bytePix}, tile ${t}`).toEqual(encode(v, 32, bytePix).bytes));
    }
  });

  it('writes the streams of empty tiles as nothing, and what decodeTiles decodes back', () => {
    const rnd = lcg(23);
    const tiles = [values(100, 'noise', 40, rnd, 4), new Int32Array(0), values(33, 'spiky', 3, rnd, 4)];
    const copies = tiles.map((v) => v.slice());
    const got = wasmEncode(tiles, 32, 4);
    expect(got[1].length).toBe(0);
    const back = wasmDecode(
      got.map((bytes, t) => ({ bytes, n: copies[t].length })).filter((s) => s.n > 0),
      32,
      4,
    );
    expect(back).toEqual({ pixels: [copies[0], copies[2]] });
  });
});

describe('int32 to float32 scaling kernel', () => {
  it('equals v * scale + zero in float64 rounded to float32, BLANK to NaN, tails included', () => {
    const { exports: k, arena } = riceKernels();
    const rnd = lcg(15);
    for (const n of [0, 1, 3, 4, 5, 17, 1000]) {
      for (const [scale, zero, blank] of [
        [1, 0, null],
        [0.9503011309838086, 0, null],
        [0.014449155832785695, 12.5, -2147483647],
        [-3.25, 1e9, 0],
      ] as const) {
        const [buf] = arena.layout([['i32', n]]);
        const src = new Int32Array(n);
        for (let i = 0; i < n; i++) src[i] = i % 7 === 3 && blank !== null ? blank : Math.floor((rnd() - 0.5) * 2 ** 32) >> Math.floor(rnd() * 31);
        buf.view.set(src);
        k.scaleInt32ToFloat32(buf.ptr, n, scale, zero, blank ?? 0, blank !== null);
        const got = new Float32Array(buf.view.buffer, buf.ptr, n);
        const want = new Float32Array(n);
        for (let i = 0; i < n; i++) want[i] = blank !== null && src[i] === blank ? NaN : src[i] * scale + zero;
        expect(got).toEqual(want);
      }
    }
  });
});

describe('byte swapping kernel', () => {
  it('reverses the bytes of every 2, 4 and 8-byte element, tails included', () => {
    const { exports: k, arena } = riceKernels();
    const rnd = lcg(24);
    for (const size of [2, 4, 8]) {
      for (const count of [0, 1, 3, 4, 5, 17, 1000]) {
        const n = size * count;
        const [buf] = arena.layout([['u8', n + 16]]);
        const src = Uint8Array.from({ length: n + 16 }, () => Math.floor(rnd() * 256));
        buf.view.set(src);
        k.swapBytes(buf.ptr, n, size);
        const want = src.slice();
        for (let e = 0; e < n; e += size) for (let j = 0; j < size; j++) want[e + j] = src[e + size - 1 - j];
        expect(buf.view, `size ${size}, ${count} elements`).toEqual(want);
      }
    }
  });

  it('restores quantized floats in place exactly as the JavaScript unquantize stores them in float32', () => {
    const { exports: k, arena } = riceKernels();
    const rnd = lcg(41);
    const methods: QuantizeMethod[] = ['NO_DITHER', 'SUBTRACTIVE_DITHER_1', 'SUBTRACTIVE_DITHER_2'];
    for (const method of methods) {
      for (const [n, ditherRow, blank] of [
        [1, 1, null],
        [37, 5, -2147483647],
        [2200, 9999, -2147483647],
        [12_345, 10_000 + 17, null],
      ] as Array<[number, number, number | null]>) {
        const input = new Int32Array(n);
        for (let i = 0; i < n; i++) input[i] = Math.round(rnd() * 50_000);
        input[0] = ZERO_VALUE;
        if (n > 3) input[3] = -2147483647;
        const scale = 0.0123 + rnd() * 1e-3;
        const zero = 1234.5 + rnd();
        const want = new Float32Array(n);
        unquantize(input, n, want, 0, { method, scale, zero, blank, ditherRow });
        const [pix, table] = arena.layout([
          ['i32', n],
          ['f32', N_RANDOM],
        ]);
        pix.view.set(input);
        table.view.set(randomTable());
        const dither = method !== 'NO_DITHER';
        k.unquantizeTile(pix.ptr, n, table.ptr, (((ditherRow - 1) % N_RANDOM) + N_RANDOM) % N_RANDOM, dither, method === 'SUBTRACTIVE_DITHER_2', scale, zero, blank ?? 0, blank !== null);
        const got = new Float32Array(pix.view.buffer, pix.ptr, n);
        expect(Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(Buffer.from(want.buffer)), `${method}, ${n} pixels from row ${ditherRow}`).toBe(true);
      }
    }
  });
});
