import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { FitsError, planFits, readFits, writeFits } from './index.ts';
import type { Hdu, ImageArray, ImageHduInput } from './index.ts';

describe('pixels handed over or decoded into a given array', () => {
  const W = 40;
  const H = 9;
  const n = W * H;
  const ints = Int32Array.from({ length: n }, (_, i) => (i * 7919) % 100_000 - 50_000);
  ints[17] = -2147483648; // BLANK
  const floats = Float32Array.from({ length: n }, (_, i) => Math.cos(i) * 1e3);
  const file = (compress: boolean) =>
    writeFits({}, [
      {
        extname: 'INTS',
        header: [{ key: 'BLANK', value: -2147483648 }],
        width: W,
        height: H,
        data: ints,
        bscale: 0.25,
        bzero: 3,
        compression: compress ? { type: 'RICE_1' } : undefined,
      },
      { extname: 'FLOATS', width: W, height: H, data: floats },
    ]);

  for (const compress of [false, true]) {
    it(`takeFloat32 and storedPixelsInto give what float32Copy and storedPixels do (${compress ? 'tile compressed' : 'uncompressed'})`, () => {
      const bytes = file(compress);
      for (const name of ['INTS', 'FLOATS']) {
        const expected = readFits(bytes).hdu(name).float32Copy();
        const stored = Array.from(readFits(bytes).hdu(name).storedPixels());
        expect(readFits(bytes).hdu(name).takeFloat32()).toEqual(expected);
        const hdu = readFits(bytes).hdu(name);
        const target = name === 'INTS' ? new Int32Array(n) : new Float32Array(n);
        const into = hdu.storedPixelsInto(target);
        expect(into).toBe(target);
        expect(Array.from(into)).toEqual(stored);
        // A target of another type or size: the stored pixels as usual.
        expect(Array.from(hdu.storedPixelsInto(new Int16Array(n)))).toEqual(stored);
        // Taken pixels are the caller's: the HDU decodes again when asked.
        const taken = hdu.takePixels();
        taken.fill(0);
        expect(hdu.float32Copy()).toEqual(expected);
      }
      expect(Number.isNaN(readFits(bytes).hdu('INTS').takeFloat32()[17])).toBe(true);
    });
  }

  for (const compress of [false, true]) {
    it(`float32Into decodes into the target what float32Copy gives (${compress ? 'tile compressed' : 'uncompressed'})`, () => {
      const bytes = file(compress);
      for (const name of ['INTS', 'FLOATS']) {
        const expected = readFits(bytes).hdu(name).float32Copy();
        const target = new Float32Array(n).fill(-1);
        const got = readFits(bytes).hdu(name).float32Into(target);
        expect(got).toBe(target);
        expect(got).toEqual(expected);
        // A target of another size: a new array, as takeFloat32.
        const other = new Float32Array(n + 1);
        const fallback = readFits(bytes).hdu(name).float32Into(other);
        expect(fallback).not.toBe(other);
        expect(fallback).toEqual(expected);
      }
      expect(Number.isNaN(readFits(bytes).hdu('INTS').float32Into(new Float32Array(n))[17])).toBe(true);
    });
  }

  it('decodes large RICE_1 images in batches, with row and 2-D tiles, to the stored and physical values', () => {
    const w = 301;
    const h = 250;
    const big = Int32Array.from({ length: w * h }, (_, i) => ((i * 2654435761) % 4001) - 2000 + (i % w) * 3);
    big[1234] = -2147483648;
    const expected = Float32Array.from(big, (v) => (v === -2147483648 ? NaN : v * 0.5 - 7));
    for (const [tileWidth, tileHeight] of [[w, 1], [64, 16], [w, 40], [7, 250]]) {
      const bytes = writeFits({}, [
        { extname: 'BIG', header: [{ key: 'BLANK', value: -2147483648 }], width: w, height: h, data: big, bscale: 0.5, bzero: -7, compression: { type: 'RICE_1', tileWidth, tileHeight } },
      ]);
      expect(readFits(bytes).hdu('BIG').storedPixels()).toEqual(big);
      expect(readFits(bytes).hdu('BIG').takeFloat32()).toEqual(expected);
      expect(readFits(bytes).hdu('BIG').float32Into(new Float32Array(w * h))).toEqual(expected);
      expect(readFits(bytes).hdu('BIG').pixels()).toEqual(Float64Array.from(big, (v) => (v === -2147483648 ? NaN : v * 0.5 - 7)));
    }
  });

  it('writes a file over arrays laid out in its buffer, with the bytes of a copy', () => {
    const buffer = new ArrayBuffer(8 * n + 64 * 2880);
    const a = new Float32Array(buffer, 0, n);
    const b = new Float32Array(buffer, 4 * n, n);
    a.set(floats);
    b.set(floats.map((v) => -v));
    const hdus = [
      { extname: 'A', width: W, height: H, data: a },
      { extname: 'B', width: W, height: H, data: b },
    ];
    const expected = writeFits({ header: [{ key: 'OBJECT', value: 'x' }] }, hdus);
    const plan = planFits({ header: [{ key: 'OBJECT', value: 'x' }] }, hdus);
    expect(plan.canWriteOver(buffer)).toBe(true);
    expect(plan.canWriteOver(new ArrayBuffer(8 * n + 64 * 2880))).toBe(false);
    expect(planFits({}, [hdus[1], hdus[0]]).canWriteOver(buffer)).toBe(false);
    const out = plan.writeOver(buffer);
    expect(out.buffer).toBe(buffer);
    expect(out).toEqual(expected);
  });

  it('writes a file over planes larger than a swap chunk, around a compressed mask, as writeFits does', () => {
    const w = 311;
    const h = 450;
    const m = w * h;
    const buffer = new ArrayBuffer(8 * m + 4 * m + 64 * 2880);
    const image = new Float32Array(buffer, 0, m);
    const variance = new Float32Array(buffer, 4 * m, m);
    for (let i = 0; i < m; i++) {
      image[i] = Math.sin(i) * 1e4;
      variance[i] = 1 + (i % 977);
    }
    const mask = Int32Array.from({ length: m }, (_, i) => (i % 1301 < 5 ? 32 : 0));
    const hdus = [
      { extname: 'IMAGE', width: w, height: h, data: image },
      { extname: 'MASK', width: w, height: h, data: mask, compression: { type: 'RICE_1' as const } },
      { extname: 'VARIANCE', width: w, height: h, data: variance },
    ];
    const expected = writeFits({ header: [{ key: 'OBJECT', value: 'x' }] }, hdus);
    const plan = planFits({ header: [{ key: 'OBJECT', value: 'x' }] }, hdus);
    const copy = new Uint8Array(plan.byteLength);
    plan.writeTo(copy);
    expect(Buffer.from(copy).equals(expected)).toBe(true);
    expect(plan.canWriteOver(buffer)).toBe(true);
    const out = plan.writeOver(buffer);
    expect(out.buffer).toBe(buffer);
    expect(Buffer.from(out).equals(expected)).toBe(true);
    const back = readFits(out);
    expect(back.hdu('MASK').storedPixels()).toEqual(mask);
    expect(back.hdu('VARIANCE').pixels()[12345]).toBe(1 + (12345 % 977));
  });
});

/** The bytes of rows y0 … y1 − 1 of an image array of width w. */
function rowBytes(a: ImageArray, w: number, y0: number, y1: number): Buffer {
  const size = a.BYTES_PER_ELEMENT;
  return Buffer.from(a.buffer, a.byteOffset + y0 * w * size, (y1 - y0) * w * size);
}

/** Whether rows y0 … y1 − 1 of two image arrays of width w hold the same bytes. */
function sameRows(a: ImageArray, b: ImageArray, w: number, y0: number, y1: number): boolean {
  return rowBytes(a, w, y0, y1).equals(rowBytes(b, w, y0, y1));
}

/**
 * float32RowsInto and storedPixelsRowsInto of an HDU give, for each row range, the bytes of the
 * full decode in those rows and leave the other rows of the target as they were; as well on an
 * HDU whose pixels are decoded already.
 */
function expectRowsAsFullDecode(bytes: Uint8Array, name: string, ranges: ReadonlyArray<readonly [number, number]>): void {
  const full = readFits(bytes).hdu(name);
  const [w, h] = full.shape;
  const n = w * h;
  const physical = full.float32Copy();
  const stored = full.storedPixels();
  const StoredType = stored.constructor as new (n: number) => ImageArray;
  const cached = readFits(bytes).hdu(name);
  cached.storedPixels();
  for (const hdu of [readFits(bytes).hdu(name), cached]) {
    for (const [y0, y1] of ranges) {
      const target = new Float32Array(n).fill(-12345.5);
      expect(hdu.float32RowsInto(target, y0, y1)).toBe(target);
      const untouched = new Float32Array(n).fill(-12345.5);
      expect([sameRows(target, physical, w, y0, y1), sameRows(target, untouched, w, 0, y0), sameRows(target, untouched, w, y1, h)]).toEqual([true, true, true]);

      const storedTarget = new StoredType(n).fill(77);
      expect(hdu.storedPixelsRowsInto(storedTarget, y0, y1)).toBe(storedTarget);
      const storedUntouched = new StoredType(n).fill(77);
      expect([sameRows(storedTarget, stored, w, y0, y1), sameRows(storedTarget, storedUntouched, w, 0, y0), sameRows(storedTarget, storedUntouched, w, y1, h)]).toEqual([true, true, true]);
    }
  }
}

function rangesOf(h: number): Array<[number, number]> {
  return [
    [0, h],
    [0, 1],
    [h - 1, h],
    [3, 3],
    [2, 9],
    [5, 6],
    [4, h - 3],
    [Math.floor(h / 2), h],
  ];
}

describe('rows of an image decoded into a given array', () => {
  const W = 61;
  const H = 50;
  const n = W * H;
  const ints = Int32Array.from({ length: n }, (_, i) => ((i * 2654435761) % 200_003) - 100_000 + (i % W) * 5);
  ints[W * 7 + 3] = -2147483648; // BLANK
  const shorts = Int16Array.from(ints, (v) => v % 30_000);
  shorts[W * 20 + 9] = -32768; // BLANK
  const bytesU8 = Uint8Array.from(ints, (v) => v & 0xff);
  const floats = Float32Array.from({ length: n }, (_, i) => Math.cos(i) * 1e3);
  floats[W * 11 + 1] = NaN;
  const doubles = Float64Array.from({ length: n }, (_, i) => Math.sin(i) * 1e5);
  const bigs = BigInt64Array.from({ length: n }, (_, i) => BigInt(ints[i]) * 1_000_003n);
  const images = (compression?: ImageHduInput['compression']): ImageHduInput[] => [
    { extname: 'I32', header: [{ key: 'BLANK', value: -2147483648 }], width: W, height: H, data: ints, bscale: 0.25, bzero: 3, compression },
    { extname: 'I32RAW', width: W, height: H, data: ints, compression },
    { extname: 'I16', header: [{ key: 'BLANK', value: -32768 }], width: W, height: H, data: shorts, bscale: 1.5, bzero: -2, compression },
    { extname: 'U16', width: W, height: H, data: Uint16Array.from(shorts, (v) => v + 32768), compression },
    { extname: 'U8', width: W, height: H, data: bytesU8, bscale: 2, bzero: 1, compression },
  ];

  it('uncompressed images of every BITPIX: the rows read are those of the full decode', () => {
    const bytes = writeFits({}, [
      ...images(),
      { extname: 'F32', width: W, height: H, data: floats },
      { extname: 'F64', width: W, height: H, data: doubles },
      { extname: 'I64', width: W, height: H, data: bigs },
    ]);
    for (const name of ['I32', 'I32RAW', 'I16', 'U16', 'U8', 'F32', 'F64', 'I64']) expectRowsAsFullDecode(bytes, name, rangesOf(H));
  });

  for (const [tileWidth, tileHeight] of [
    [W, 1],
    [W, 4],
    [16, 7],
    [5, 3],
    [7, H],
    [W, H],
  ]) {
    it(`RICE_1 images with ${tileWidth}x${tileHeight} tiles: only the rows asked for are written, with the full decode's values`, () => {
      const bytes = writeFits({}, images({ type: 'RICE_1', tileWidth, tileHeight }));
      for (const name of ['I32', 'I32RAW', 'I16', 'U16', 'U8']) expectRowsAsFullDecode(bytes, name, rangesOf(H));
    });
  }

  it('large RICE_1 images decoded in several kernel batches', () => {
    const w = 301;
    const h = 250;
    const big = Int32Array.from({ length: w * h }, (_, i) => ((i * 2654435761) % 4001) - 2000 + (i % w) * 3);
    big[1234] = -2147483648;
    for (const [tileWidth, tileHeight] of [[w, 1], [64, 16], [w, 40]]) {
      const bytes = writeFits({}, [
        { extname: 'BIG', header: [{ key: 'BLANK', value: -2147483648 }], width: w, height: h, data: big, bscale: 0.5, bzero: -7, compression: { type: 'RICE_1', tileWidth, tileHeight } },
      ]);
      expectRowsAsFullDecode(bytes, 'BIG', [[0, h], [1, 2], [17, 240], [100, 250], [0, 3], [31, 97]]);
    }
  });

  it('rejects images that are not 2-D, rows out of range and targets of another size or type', () => {
    const bytes = writeFits({}, [
      { extname: 'I32', width: W, height: H, data: ints, compression: { type: 'RICE_1' } },
      { extname: 'F32', width: W, height: H, data: floats },
      { kind: 'table', extname: 'T', columns: [{ name: 'A', format: 'J', data: [1, 2] }] },
    ]);
    const file = readFits(bytes);
    const check = (hdu: Hdu): void => {
      expect(() => hdu.float32RowsInto(new Float32Array(n), -1, 3)).toThrow(FitsError);
      expect(() => hdu.float32RowsInto(new Float32Array(n), 4, 3)).toThrow(FitsError);
      expect(() => hdu.float32RowsInto(new Float32Array(n), 0, H + 1)).toThrow(FitsError);
      expect(() => hdu.float32RowsInto(new Float32Array(n), 0.5, 3)).toThrow(FitsError);
      expect(() => hdu.float32RowsInto(new Float32Array(n - 1), 0, 3)).toThrow(FitsError);
      expect(() => hdu.storedPixelsRowsInto(new Float64Array(n), 0, 3)).toThrow(/Float64Array of/);
    };
    check(file.hdu('I32'));
    check(file.hdu('F32'));
    expect(() => file.hdu('T').float32RowsInto(new Float32Array(n), 0, 1)).toThrow(FitsError);
  });
});
