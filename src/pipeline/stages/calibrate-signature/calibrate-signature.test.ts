import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../core/errors.ts';
import { MaskBit, makeMaskedImage } from '../../../core/image.ts';
import { expandMaster, makeCalibrateSignatureConfig, runCalibrateSignature, type MasterCalibration } from './calibrate-signature.ts';
import { compactMask, float32FromStored, maskToInt32, nonZeroPixels, planeToFloat32, planeValue, scaledPlane, type ScaledPlane } from './master-planes.ts';

const W = 40;
const H = 30;

const bytes = (a: ArrayBufferView): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

function plane(fill: (x: number, y: number) => number): Float32Array {
  const a = new Float32Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) a[y * W + x] = fill(x, y);
  return a;
}

describe('calibrate-signature', () => {
  it('subtracts bias and scaled dark and divides by the normalised flat, propagating variance', () => {
    const exp = makeMaskedImage(W, H);
    const sky = 1000;
    const biasE = 12;
    const darkRate = 0.5;
    const t = 30;
    const flatShape = (x: number, y: number) => 0.9 + 0.2 * ((x + y) / (W + H));
    // Raw-like electrons: sky·flat + bias + dark·t.
    exp.image.set(plane((x, y) => sky * flatShape(x, y) + biasE + darkRate * t));
    exp.variance.set(plane((x, y) => sky * flatShape(x, y) + 25));
    const bias = { width: W, height: H, image: plane(() => biasE), variance: plane(() => 4) };
    const dark = { width: W, height: H, image: plane(() => darkRate), variance: plane(() => 0.01) };
    // The flat is given at an arbitrary scale: normalised by its median.
    const flatImg = plane((x, y) => 5000 * flatShape(x, y));
    flatImg[3] = 0;
    flatImg[4] = NaN;
    const flat = { width: W, height: H, image: flatImg };
    const r = runCalibrateSignature({ exposure: exp, masters: { bias, dark, flat }, darkTimeS: t });
    expect(r.biasApplied && r.darkApplied && r.flatApplied).toBe(true);
    const norm = r.flatNormalization / 5000;
    // The median of the flat shape is ~1.0; the result is sky / norm everywhere but the bad pixels.
    for (const k of [0, 100, 777, W * H - 1]) {
      expect(r.exposure.image[k]).toBeCloseTo(sky * norm, 2);
      const fi = flatImg[k] / r.flatNormalization;
      const vin = exp.variance[k] + 4 + t * t * 0.01;
      expect(r.exposure.variance[k]).toBeCloseTo(vin / (fi * fi), 2);
    }
    expect(r.exposure.mask[3] & MaskBit.BAD).toBe(MaskBit.BAD);
    expect(r.exposure.mask[4] & MaskBit.BAD).toBe(MaskBit.BAD);
    expect(r.newBadPixels).toBe(2);
    // The input is untouched.
    expect(exp.image[0]).toBeCloseTo(sky * flatShape(0, 0) + biasE + darkRate * t, 3);
  });

  it('skips steps without a master or disabled in the config, and ORs master BAD masks', () => {
    const exp = makeMaskedImage(W, H);
    exp.image.fill(100);
    const bm = new Int32Array(W * H);
    bm[10] = MaskBit.BAD;
    const bias = { width: W, height: H, image: plane(() => 10), mask: bm };
    const r = runCalibrateSignature({ exposure: exp, masters: { bias }, darkTimeS: 0 });
    expect(r.darkApplied || r.flatApplied).toBe(false);
    expect(r.exposure.image[0]).toBe(90);
    expect(r.exposure.mask[10]).toBe(MaskBit.BAD);
    const off = runCalibrateSignature({ exposure: exp, masters: { bias }, darkTimeS: 0 }, makeCalibrateSignatureConfig({ doBias: false }));
    expect(off.biasApplied).toBe(false);
    expect(off.exposure.image[0]).toBe(100);
  });

  it('gives the same result to the bit with masters kept compactly (stored integers, a constant, sparse masks)', () => {
    const n = W * H;
    // Planes as a scaled-integer master file stores them: value = stored · bscale + bzero.
    const stored = (f: (i: number) => number): Int32Array => Int32Array.from({ length: n }, (_, i) => f(i));
    const scaled = (st: Int32Array, bscale: number, bzero: number): ScaledPlane => scaledPlane(st, bscale, bzero, null) as ScaledPlane;
    const biasImg = scaled(stored(() => 12_000), 0.001, 0); // constant
    const biasVar = scaled(stored((i) => 14_000 + (i % 977)), 0.0001, 0); // Int16
    const darkImg = scaled(stored((i) => 200 + ((i * 7919) % 60_000)), 0.00001, 0); // Uint16
    const darkVar = scaled(stored((i) => 1_000 + (i % 31)), 0.000001, 0.5);
    const flatImg = scaled(stored((i) => 9_800 + ((i * 31) % 400)), 0.0001, 0);
    const flatVar = scaled(stored((i) => 990 + (i % 20)), 2.5e-9, 0);
    expect(biasImg.stored).toBeNull();
    expect(biasVar.stored).toBeInstanceOf(Int16Array);
    expect(darkImg.stored).toBeInstanceOf(Uint16Array);
    const darkMask = new Int32Array(n);
    darkMask[5] = MaskBit.BAD;
    darkMask[77] = MaskBit.SUSPECT;
    const flatImgF32 = planeToFloat32(flatImg);
    flatImgF32[11] = 0; // a bad flat pixel, in both versions
    const compact: Record<'bias' | 'dark' | 'flat', MasterCalibration> = {
      bias: { width: W, height: H, image: biasImg, variance: biasVar },
      dark: { width: W, height: H, image: darkImg, variance: darkVar, mask: compactMask(darkMask) },
      flat: { width: W, height: H, image: flatImgF32, variance: flatVar },
    };
    expect(planeValue(darkImg, 123)).toBe(planeToFloat32(darkImg)[123]);
    const full = { bias: expandMaster(compact.bias), dark: expandMaster(compact.dark), flat: expandMaster(compact.flat) };
    expect(full.dark.mask).toEqual(darkMask);
    const exposure = () => {
      const e = makeMaskedImage(W, H);
      for (let i = 0; i < n; i++) {
        e.image[i] = 1000 + ((i * 13) % 97) + 0.25;
        e.variance[i] = 1000 + (i % 11);
      }
      e.mask[7] = MaskBit.SAT;
      return e;
    };
    const a = runCalibrateSignature({ exposure: exposure(), masters: compact, darkTimeS: 30.5 }, undefined, { inPlace: true });
    const b = runCalibrateSignature({ exposure: exposure(), masters: full, darkTimeS: 30.5 }, undefined, { inPlace: true });
    expect(a.exposure.image).toEqual(b.exposure.image);
    expect(a.exposure.variance).toEqual(b.exposure.variance);
    expect(a.exposure.mask).toEqual(b.exposure.mask);
    expect(a.newBadPixels).toBe(b.newBadPixels);
    expect(a.newBadPixels).toBe(2);
  });

  it('gives the same result to the bit with a dark kept as 16-bit integers and a few wide pixels, across chunks', () => {
    const w = 1000;
    const h = 150; // more pixels than a chunk of the ISR kernels
    const n = w * h;
    const st = Int32Array.from({ length: n }, (_, i) => (i % 997 === 5 ? 100_000 + i : 200 + ((i * 7919) % 30_000)));
    const darkImg = scaledPlane(st, 1e-5, 0, null) as ScaledPlane;
    expect(darkImg.wide?.index.length).toBe(Math.ceil((n - 5) / 997));
    const dark: MasterCalibration = { width: w, height: h, image: darkImg };
    const exposure = () => {
      const e = makeMaskedImage(w, h);
      for (let i = 0; i < n; i++) {
        e.image[i] = 1000 + ((i * 13) % 97);
        e.variance[i] = 1000;
      }
      return e;
    };
    const a = runCalibrateSignature({ exposure: exposure(), masters: { dark }, darkTimeS: 30 }, undefined, { inPlace: true });
    const b = runCalibrateSignature({ exposure: exposure(), masters: { dark: expandMaster(dark) }, darkTimeS: 30 }, undefined, { inPlace: true });
    expect(bytes(a.exposure.image).equals(bytes(b.exposure.image))).toBe(true);
    expect(bytes(a.exposure.variance).equals(bytes(b.exposure.variance))).toBe(true);
    // the wide pixels' dark is subtracted: theirs is ~1 e-/s, 30 e- over the exposure
    expect(a.exposure.image[5]).toBeLessThan(exposure().image[5] - 29);
  });

  it('normalises a flat kept as stored integers as its Float32 plane, to the bit', () => {
    const n = W * H;
    let badSeen = 0;
    for (const [bscale, bzero, offset] of [
      [1e-4, 0, 9_000],
      [1e-4, -0.5, 9_000],
      [-2e-4, 0, 2_000],
      [3e-5, 0.1, 40_000],
    ]) {
      // Stored integers spread around `offset`, some of them giving values <= 0.
      const st = Int32Array.from({ length: n }, (_, i) => offset + ((i * 7919) % 5_000) - (i % 13 === 0 ? 20_000 : 0));
      const plane = scaledPlane(st, bscale, bzero, null) as ScaledPlane;
      expect(plane.stored).not.toBeNull();
      const exp = () => {
        const e = makeMaskedImage(W, H);
        e.image.fill(1000);
        e.variance.fill(1000);
        return e;
      };
      for (const how of ['median', 'mean'] as const) {
        const cfg = makeCalibrateSignatureConfig({ flatNormalization: how });
        const a = runCalibrateSignature({ exposure: exp(), masters: { flat: { width: W, height: H, image: plane } }, darkTimeS: 0 }, cfg);
        const b = runCalibrateSignature({ exposure: exp(), masters: { flat: { width: W, height: H, image: planeToFloat32(plane) } }, darkTimeS: 0 }, cfg);
        expect(a.flatNormalization).toBe(b.flatNormalization);
        expect(a.exposure.image).toEqual(b.exposure.image);
        expect(a.exposure.variance).toEqual(b.exposure.variance);
        expect(a.newBadPixels).toBe(b.newBadPixels);
        badSeen += a.newBadPixels;
      }
    }
    expect(badSeen).toBeGreaterThan(0);
  });

  it('keeps 32-bit stored integers compactly as the plain loop does, across chunks', () => {
    const n = 150_001;
    const cases: Array<[(i: number) => number, number | null, 'i16' | 'u16' | 'const' | 'wide' | null]> = [
      [(i) => (i * 31) % 60_000 - 30_000, null, 'i16'],
      [(i) => (i * 31) % 65_000, null, 'u16'],
      [() => 100_000, null, 'const'],
      // one pixel beyond 16 bits: kept as a wide pixel (the plain loop gives up)
      [(i) => (i === n - 1 ? 70_000 : i % 100), null, 'wide'],
      // most pixels beyond int16, one below uint16: too many wide pixels
      [(i) => (i === 140_000 ? -1 : 40_000 + (i % 100)), null, null],
      [(i) => i % 100, 50, null],
      // int16 at first, uint16 from a later chunk on; constant over the first chunks.
      [(i) => (i < 100_000 ? i % 30_000 : 40_000 + (i % 100)), null, 'u16'],
      [(i) => (i < 100_000 ? 7 : i % 50), null, 'i16'],
      [(i) => (i < 100_000 ? 40_000 : i % 50), null, 'u16'],
      [(i) => i % 100, 500, 'i16'],
    ];
    for (const [f, blank, kind] of cases) {
      const st = Int32Array.from({ length: n }, (_, i) => f(i));
      const got = scaledPlane(st, 0.01, 1, blank);
      const plain = scaledPlane(Array.from(st), 0.01, 1, blank);
      if (kind === 'wide') {
        expect(plain).toBeNull();
        expect(got?.stored).toBeInstanceOf(Int16Array);
        expect(Array.from(got?.wide?.index ?? [])).toEqual([n - 1]);
        expect(Array.from(got?.wide?.stored ?? [])).toEqual([70_000]);
        const values = planeToFloat32(got as ScaledPlane);
        expect(bytes(values).equals(bytes(float32FromStored(st, 0.01, 1, null)))).toBe(true);
        expect(planeValue(got as ScaledPlane, n - 1)).toBe(values[n - 1]);
        expect(planeValue(got as ScaledPlane, n - 2)).toBe(values[n - 2]);
        continue;
      }
      expect(got && { ...got, stored: null }).toEqual(plain && { ...plain, stored: null });
      expect(got === null ? null : got.stored === null ? 'const' : got.stored instanceof Int16Array ? 'i16' : 'u16').toBe(kind);
      if (got?.stored && plain?.stored) {
        expect(got.stored.constructor).toBe(plain.stored.constructor);
        expect(bytes(got.stored).equals(bytes(plain.stored))).toBe(true);
      }
      const f32 = float32FromStored(st, 1e-5, 0.5, blank);
      expect(bytes(f32).equals(bytes(Float32Array.from(st, (v) => (v === blank ? NaN : v * 1e-5 + 0.5))))).toBe(true);
    }
  });

  it('lists the non-zero pixels of a mask below a limit, across chunks', () => {
    const n = 200_003;
    const mask = new Int32Array(n);
    for (let i = 0; i < n; i += 997) mask[i] = (i % 5) + 1;
    mask[n - 1] = -4;
    const count = mask.reduce((c, v) => c + (v !== 0 ? 1 : 0), 0);
    const want = Array.from(mask.keys()).filter((i) => mask[i] !== 0);
    const sparse = nonZeroPixels(mask, count + 1);
    expect(sparse && Array.from(sparse.index)).toEqual(want);
    expect(sparse && Array.from(sparse.value)).toEqual(want.map((i) => mask[i]));
    expect(nonZeroPixels(mask, count)).toBeNull();
    expect(nonZeroPixels(Array.from(mask), count + 1)).toEqual(sparse);
    const compact = compactMask(mask);
    expect(compact).not.toBe(mask);
    expect(bytes(maskToInt32(compact)).equals(bytes(mask))).toBe(true);
    const dense = new Int32Array(64).fill(1, 0, 8);
    expect(compactMask(dense)).toBe(dense);
    expect(compactMask(new Int32Array(64).fill(1, 0, 7))).not.toBeInstanceOf(Int32Array);
  });

  it('rejects masters of the wrong size', () => {
    const exp = makeMaskedImage(W, H);
    const bias = { width: 10, height: 10, image: new Float32Array(100) };
    expect(() => runCalibrateSignature({ exposure: exp, masters: { bias }, darkTimeS: 0 })).toThrow(InvalidInputError);
    expect(() => runCalibrateSignature({ exposure: exp, masters: { bias }, darkTimeS: 0 })).toThrow(/master bias is 10x10/);
  });
});
