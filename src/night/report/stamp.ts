/**
 * Postage stamps as pictures: FITS cutout bytes → pixels → an 8-bit asinh stretch → PNG.
 *
 * Stretch: the sky level is the median of the finite pixels and the noise 1.4826 × their median
 * absolute deviation (a zscale-like robust estimate).
 * - 'positive' (science, template): black at median − 2σ, white at the 99.5th percentile (at
 *   least median + 5σ), asinh in between so that bright cores do not burn out.
 * - 'symmetric' (difference): mid-grey at the median, black and white at ± the larger of the
 *   0.5th/99.5th percentile distances (at least 5σ), asinh on both sides: negative sources dark,
 *   positive bright.
 * NaN pixels (off the detector, masked) get one neutral slate colour, distinct from any grey.
 * FITS rows run bottom-up, PNG rows top-down: the picture is flipped so that +y is up.
 */
import { readFits } from '../../fits/index.ts';
import { pngDataUri } from './png.ts';

export type StretchMode = 'positive' | 'symmetric';

/** RGB of NaN pixels. */
export const NAN_RGB: readonly [number, number, number] = [96, 112, 136];

const SOFTENING = 20;

function quantile(sorted: Float64Array, q: number): number {
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** Robust sky level and noise of the finite pixels, and the finite pixels sorted; null when none is finite. */
export function robustStats(pixels: ArrayLike<number>): { median: number; sigma: number; sorted: Float64Array } | null {
  const finite: number[] = [];
  for (let i = 0; i < pixels.length; i++) if (Number.isFinite(pixels[i])) finite.push(pixels[i]);
  if (finite.length === 0) return null;
  const sorted = Float64Array.from(finite).sort();
  const median = quantile(sorted, 0.5);
  const dev = Float64Array.from(sorted, (v) => Math.abs(v - median)).sort();
  let sigma = 1.4826 * quantile(dev, 0.5);
  if (!(sigma > 0)) sigma = (sorted[sorted.length - 1] - sorted[0]) / 10;
  if (!(sigma > 0)) sigma = Math.abs(median) > 0 ? Math.abs(median) / 10 : 1;
  return { median, sigma, sorted };
}

/** Grey levels 0–255 for the pixels (row-major, FITS order), NaN as -1. */
export function stretch(pixels: ArrayLike<number>, mode: StretchMode): Int16Array {
  const out = new Int16Array(pixels.length).fill(-1);
  const st = robustStats(pixels);
  if (!st) return out;
  const { median, sigma, sorted } = st;
  const norm = Math.asinh(SOFTENING);
  const level = (t: number): number => Math.round(255 * Math.min(1, Math.max(0, t)));
  if (mode === 'symmetric') {
    const k = Math.max(Math.abs(quantile(sorted, 0.005) - median), Math.abs(quantile(sorted, 0.995) - median), 5 * sigma);
    for (let i = 0; i < pixels.length; i++) {
      const v = pixels[i];
      if (Number.isFinite(v)) out[i] = level(0.5 + (0.5 * Math.asinh((SOFTENING * (v - median)) / k)) / norm);
    }
  } else {
    const lo = median - 2 * sigma;
    const hi = Math.max(quantile(sorted, 0.995), median + 5 * sigma);
    const span = hi - lo;
    for (let i = 0; i < pixels.length; i++) {
      const v = pixels[i];
      if (Number.isFinite(v)) out[i] = level(Math.asinh((SOFTENING * (v - lo)) / span) / norm);
    }
  }
  return out;
}

/** RGB bytes, top row first, of a width × height image whose rows are stored bottom-up (FITS). */
export function stampRgb(pixels: ArrayLike<number>, width: number, height: number, mode: StretchMode): Uint8Array {
  if (pixels.length !== width * height) throw new RangeError(`stamp has ${pixels.length} pixels, ${width}x${height} needs ${width * height}`);
  const grey = stretch(pixels, mode);
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const src = (height - 1 - y) * width;
    for (let x = 0; x < width; x++) {
      const g = grey[src + x];
      const o = (y * width + x) * 3;
      if (g < 0) {
        rgb[o] = NAN_RGB[0];
        rgb[o + 1] = NAN_RGB[1];
        rgb[o + 2] = NAN_RGB[2];
      } else {
        rgb[o] = rgb[o + 1] = rgb[o + 2] = g;
      }
    }
  }
  return rgb;
}

export interface RenderedStamp {
  readonly width: number;
  readonly height: number;
  readonly dataUri: string;
}

/** The first image HDU of a FITS file (an alert cutout) as a PNG data: URI. */
export function fitsStampToPng(fits: Uint8Array, mode: StretchMode, name = 'cutout'): RenderedStamp {
  const file = readFits(fits, { name });
  const hdu = file.hdus.find((h) => h.isImage && h.shape.length >= 2);
  if (!hdu) throw new Error(`${name}: no image HDU`);
  const [width, height] = hdu.shape;
  const pixels = hdu.pixelsAsFloat32().subarray(0, width * height);
  return { width, height, dataUri: pngDataUri({ width, height, channels: 3, data: stampRgb(pixels, width, height, mode) }) };
}
