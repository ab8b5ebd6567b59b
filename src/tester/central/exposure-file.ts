/**
 * The processed-exposure file format of src/pipeline/outputs.ts (a data-less primary HDU with the
 * metadata cards, then IMAGE, MASK and VARIANCE) written with RICE_1 tile compression: IMAGE and
 * VARIANCE quantised to int32 with BSCALE/BZERO, MASK lossless. readProcessedExposure reads these
 * files unchanged (compressed HDUs decode to the same physical values), and so does any FITS
 * reader that understands tile compression (astropy, funpack).
 *
 * Why: a master calibration or a template of a 4k × 4k detector is 200 MB as float32 planes, but
 * a few MB compressed. The quantisation step is chosen per product, far below its noise.
 *
 * The primary cards are those of outputs.ts' metadataCards, in the same order (that function is
 * private to the pipeline; keep the two in step, or give writeProcessedExposure a compression
 * option and call it from here).
 */
import { tanWcsCards } from '../../astro/index.ts';
import { InvalidInputError } from '../../core/errors.ts';
import type { MaskedImage } from '../../core/image.ts';
import { writeFits, type CardInput, type ImageHduInput } from '../../fits/index.ts';
import { maskPlaneCards, metadataCards, type ExposureMetadata } from '../../pipeline/outputs.ts';

/** Quantisation of a float plane: stored int32 = round((value − bzero) / bscale). */
export interface Quantization {
  readonly bscale: number;
  readonly bzero?: number;
}

export interface CompressedExposureOptions {
  /** IMAGE quantisation; null writes float32 uncompressed. */
  readonly image: Quantization | null;
  /** VARIANCE quantisation; null writes float32 uncompressed. */
  readonly variance: Quantization | null;
  /** Cards added to the IMAGE header (after BUNIT and the WCS). */
  readonly imageCards?: readonly CardInput[];
}

/** The primary header of a processed exposure. */
export const exposureMetadataCards = metadataCards;

/** Quantises a float plane to int32 (no allocation per pixel); throws when a value does not fit. */
export function quantize(plane: Float32Array, q: Quantization, what: string): Int32Array {
  const inv = 1 / q.bscale;
  const z = q.bzero ?? 0;
  const out = new Int32Array(plane.length);
  let bad = 0;
  for (let i = 0; i < plane.length; i++) {
    const s = Math.round((plane[i] - z) * inv);
    if (s >= -2147483647 && s <= 2147483647) out[i] = s;
    else bad++;
  }
  if (bad > 0) throw new InvalidInputError(`${what}: ${bad} values do not fit int32 with BSCALE ${q.bscale} (or are NaN)`);
  return out;
}

const RICE = { type: 'RICE_1' as const };

/** A processed-exposure file with RICE-compressed planes (see the module comment). */
export function writeCompressedExposure(masked: MaskedImage, metadata: ExposureMetadata, opts: CompressedExposureOptions): Uint8Array {
  const { width, height } = masked;
  const n = width * height;
  if (masked.image.length !== n || masked.mask.length !== n || masked.variance.length !== n) {
    throw new InvalidInputError(`exposure planes do not match ${width}x${height}`);
  }
  const wcs = metadata.wcs ? tanWcsCards(metadata.wcs) : [];
  const maskCards = maskPlaneCards();
  const plane = (extname: string, header: CardInput[], data: Float32Array, q: Quantization | null): ImageHduInput =>
    q === null
      ? { extname, header, width, height, data }
      : {
          extname,
          header: [...header, { key: 'QSTEP', value: q.bscale, comment: 'quantisation step of the stored values' }],
          width,
          height,
          data: quantize(data, q, `${extname} plane`),
          bscale: q.bscale,
          bzero: q.bzero ?? 0,
          compression: { ...RICE, tileWidth: width, tileHeight: 1 },
        };
  return writeFits({ header: exposureMetadataCards(metadata) }, [
    plane('IMAGE', [{ key: 'BUNIT', value: metadata.bunit }, ...wcs, ...(opts.imageCards ?? [])], masked.image, opts.image),
    { extname: 'MASK', header: [...maskCards, ...wcs], width, height, data: masked.mask, compression: { ...RICE, tileWidth: width, tileHeight: 1 } },
    plane('VARIANCE', [{ key: 'BUNIT', value: metadata.bunit ? `${metadata.bunit}2` : '' }, ...wcs], masked.variance, opts.variance),
  ]);
}
