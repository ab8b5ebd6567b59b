import { describe, expect, it } from 'vitest';
import { planFits, readFits, writeFits } from './index.ts';

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
