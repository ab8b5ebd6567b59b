/** A 2-D image plane, row-major, 0-based pixels: value at (x, y) is data[y * width + x]. */
export interface Plane {
  readonly width: number;
  readonly height: number;
  readonly data: Float32Array;
}

export function makePlane(width: number, height: number, fill = 0): Plane {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new RangeError(`plane size must be positive integers, got ${width}x${height}`);
  }
  const data = new Float32Array(width * height);
  if (fill !== 0) data.fill(fill);
  return { width, height, data };
}

/** Mask plane bits (the LSST afw convention for the first planes). */
export const MaskBit = {
  BAD: 1 << 0,
  SAT: 1 << 1,
  INTRP: 1 << 2,
  CR: 1 << 3,
  EDGE: 1 << 4,
  DETECTED: 1 << 5,
  DETECTED_NEGATIVE: 1 << 6,
  SUSPECT: 1 << 7,
  NO_DATA: 1 << 8,
} as const;
export type MaskBitName = keyof typeof MaskBit;

/** Image, mask and variance planes of one detector. */
export interface MaskedImage {
  readonly width: number;
  readonly height: number;
  readonly image: Float32Array;
  readonly mask: Int32Array;
  readonly variance: Float32Array;
}

export function makeMaskedImage(width: number, height: number): MaskedImage {
  const n = width * height;
  return { width, height, image: new Float32Array(n), mask: new Int32Array(n), variance: new Float32Array(n) };
}
