import { convolveSeparable, SeparableConvolver } from '../detection/detection.ts';

/**
 * Separable convolution with a symmetric kernel, zero outside the image and on masked or
 * non-finite pixels: detection's convolveSeparable (SIMD kernels, any half-width), for wide
 * kernels such as the template error floor's Gaussian of 3 PSF sigmas (half-width 15 for a
 * 1.9-pixel PSF).
 */
export function convolveSymmetric(
  src: Float32Array,
  W: number,
  H: number,
  kernel: Float32Array,
  tmp: Float32Array,
  dst: Float32Array,
  mask: Int32Array | null = null,
  zeroBits = 0,
): void {
  convolveSeparable(src, W, H, kernel, tmp, dst, mask, zeroBits);
}

/**
 * convolveSymmetric evaluated lazily, pixel by pixel, for callers that need the filtered image at
 * a small part of the pixels (a sub-grid, the pixels near detections): `at(p)` is the value
 * convolveSymmetric stores at p, to the bit. Whole rows are filtered horizontally when a pixel
 * needs them and kept while the pixels asked for are within the kernel's reach (2r + 1 rows):
 * asked for in order of rows, every row is filtered once; the vertical sum is taken at the
 * pixel only.
 */
export class LazySymmetricFilter {
  readonly #W: number;
  readonly #filter: SeparableConvolver;

  constructor(src: Float32Array, W: number, H: number, kernel: Float32Array, mask: Int32Array | null = null, zeroBits = 0) {
    this.#W = W;
    this.#filter = new SeparableConvolver(src, W, H, kernel, null, mask, zeroBits);
  }

  /** The filtered value at pixel p. */
  at(p: number): number {
    const x = p % this.#W;
    return this.#filter.at(x, (p - x) / this.#W);
  }
}
