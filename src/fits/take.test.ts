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
});
