import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../../core/errors.ts';
import { MaskBit, makeMaskedImage } from '../../../core/image.ts';
import { makeCalibrateSignatureConfig, runCalibrateSignature } from './calibrate-signature.ts';

const W = 40;
const H = 30;

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

  it('rejects masters of the wrong size', () => {
    const exp = makeMaskedImage(W, H);
    const bias = { width: 10, height: 10, image: new Float32Array(100) };
    expect(() => runCalibrateSignature({ exposure: exp, masters: { bias }, darkTimeS: 0 })).toThrow(InvalidInputError);
    expect(() => runCalibrateSignature({ exposure: exp, masters: { bias }, darkTimeS: 0 })).toThrow(/master bias is 10x10/);
  });
});
