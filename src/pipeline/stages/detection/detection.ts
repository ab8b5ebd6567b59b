import { z } from 'zod';
import { AlgorithmError, InvalidInputError } from '../../../core/errors.ts';
import { MaskBit, type MaskedImage } from '../../../core/image.ts';
import { parseConfig } from '../../config.ts';
import { adaptiveMoments, gaussianCentroid } from '../../lib/moments.ts';
import { medianInPlace } from '../../lib/stats.ts';
import { findRoot, unionRoots } from '../../lib/union-find.ts';
import { filterKernels } from '../../../wasm/filters.ts';

/**
 * Source detection on a background-subtracted image: a matched filter (a Gaussian of the PSF
 * sigma, as two 1-D passes), thresholded in units of the filtered image's noise
 * (sigma_filtered = sqrt(Σk² · variance), the variance taken per mesh as the median of the
 * variance plane), 8-connected components (union-find labelling on an Int32Array, no
 * recursion), a minimum area, and peaks. The PSF FWHM is then measured from the adaptive second
 * moments of bright, unsaturated, isolated, single-peaked detections.
 */
export const DetectionConfig = z
  .object({
    /** Threshold in sigma of the filtered image. */
    thresholdSigma: z.number().positive().default(5),
    /** Minimum number of pixels above threshold. */
    minAreaPx: z.number().int().min(1).default(5),
    /** PSF FWHM guess (pixels) for the matched filter, when the caller gives none. */
    psfFwhmGuessPx: z.number().positive().default(4),
    /** Half-width of the filter kernel in PSF sigmas. */
    kernelHalfWidthSigmas: z.number().min(1).max(6).default(3.5),
    /** Mesh size for the noise (variance) estimate. */
    noiseMeshPx: z.number().int().min(16).default(128),
    /** Pixels with these bits are set to zero before filtering and left out of the noise estimate. */
    badBits: z.number().int().min(0).default(MaskBit.BAD | MaskBit.NO_DATA),
    /** Fail (AlgorithmError) beyond this many footprints: something is wrong with the image. */
    maxFootprints: z.number().int().min(1).default(500_000),
    psf: z
      .object({
        /** Minimum peak significance of a PSF star. */
        minSignificance: z.number().positive().default(50),
        /** No other detection peak within this distance (pixels). */
        isolationPx: z.number().positive().default(15),
        /** Use at most this many of the brightest candidates. */
        maxStars: z.number().int().min(1).default(300),
        /** Fewer usable stars than this: the guess is reported instead. */
        minStars: z.number().int().min(1).default(5),
        /** Distance from the image edge (pixels). */
        edgeMarginPx: z.number().int().min(0).default(20),
        /** Mask bits that disqualify a star (any pixel of its footprint). */
        rejectBits: z.number().int().min(0).default(MaskBit.SAT | MaskBit.BAD | MaskBit.CR | MaskBit.NO_DATA),
      })
      .default({}),
  })
  .superRefine((c, ctx) => {
    if (c.psf.minSignificance < c.thresholdSigma) {
      ctx.addIssue({ code: 'custom', path: ['psf', 'minSignificance'], message: 'must be at least thresholdSigma' });
    }
  });
export type DetectionConfig = z.output<typeof DetectionConfig>;
export type DetectionConfigInput = z.input<typeof DetectionConfig>;

export function makeDetectionConfig(input: DetectionConfigInput = {}): DetectionConfig {
  return parseConfig(DetectionConfig, input, 'detection');
}

/** Detected footprints, columnar; footprint k (0-based) has label k + 1 in `labels`. */
export interface Footprints {
  readonly count: number;
  /** Bounding boxes, half-open. */
  readonly x0: Int32Array;
  readonly y0: Int32Array;
  readonly x1: Int32Array;
  readonly y1: Int32Array;
  /** Pixels above threshold. */
  readonly area: Int32Array;
  /** Highest pixel of the filtered image. */
  readonly peakX: Int32Array;
  readonly peakY: Int32Array;
  /** Filtered value / filtered noise at the peak. */
  readonly peakSignificance: Float32Array;
  /** Local maxima (3x3) of the filtered image inside the footprint. */
  readonly nPeaks: Int32Array;
  /** Pixel indices (y·width + x) of footprint k: pixels[pixelOffsets[k] .. pixelOffsets[k+1]). */
  readonly pixelOffsets: Int32Array;
  readonly pixels: Int32Array;
}

export interface PsfEstimate {
  readonly fwhmPx: number;
  readonly sigmaPx: number;
  /** True when measured from stars, false when the guess is reported. */
  readonly measured: boolean;
  readonly nStars: number;
  /** Median adaptive moments of the stars (pixels²), NaN when not measured. */
  readonly ixx: number;
  readonly iyy: number;
  readonly ixy: number;
}

export interface DetectionResult {
  readonly footprints: Footprints;
  /** Footprint label per pixel (0 = none), width x height. */
  readonly labels: Int32Array;
  /** The input mask with DETECTED set on footprint pixels (a copy). */
  readonly mask: Int32Array;
  /** PSF sigma (pixels) of the matched filter used. */
  readonly filterSigmaPx: number;
  /** Median over meshes of the filtered-image noise (image units). */
  readonly filteredNoise: number;
  /** Median per-pixel noise (sqrt of the median variance). */
  readonly pixelNoise: number;
  readonly psf: PsfEstimate;
  /** Pixels above threshold in footprints that passed the minimum area. */
  readonly detectedPixels: number;
}

const FWHM_PER_SIGMA = 2 * Math.sqrt(2 * Math.log(2));

/** Normalised 1-D Gaussian kernel, half-width r. */
export function gaussianKernel(sigma: number, r: number): Float32Array {
  const k = new Float32Array(2 * r + 1);
  let s = 0;
  for (let i = -r; i <= r; i++) {
    const v = Math.exp((-i * i) / (2 * sigma * sigma));
    k[i + r] = v;
    s += v;
  }
  for (let i = 0; i < k.length; i++) k[i] /= s;
  return k;
}

/** Output rows per strip of a separable convolution. */
export const CONVOLUTION_STRIP_ROWS = 32;

/**
 * Values of scratch (`tmp`) a separable convolution of a W × H image with a kernel of half-width
 * r needs: the row-filtered rows one strip of output rows passes on to the next (see
 * SeparableConvolver), not the whole image.
 */
export function convolveScratchSize(W: number, H: number, r: number): number {
  return W * Math.min(H, 2 * r);
}

/**
 * Separable convolution with a symmetric kernel, zero outside the image. Pixels with `zeroBits`
 * in `mask` count as zero. `tmp` is scratch of convolveScratchSize(W, H, r) values (a W·H plane
 * will do); `dst` may be `src`.
 */
export function convolveSeparable(
  src: Float32Array,
  W: number,
  H: number,
  kernel: Float32Array,
  tmp: Float32Array,
  dst: Float32Array,
  mask: Int32Array | null = null,
  zeroBits = 0,
): void {
  const c = new SeparableConvolver(src, W, H, kernel, tmp, mask, zeroBits);
  for (let y0 = 0; y0 < H; y0 += CONVOLUTION_STRIP_ROWS) c.rows(y0, Math.min(H, y0 + CONVOLUTION_STRIP_ROWS), dst, y0 * W);
}

/**
 * Thresholding of the rows a SeparableConvolver gives (rows()), on their way out: `above` is
 * called once per call of rows() with the indices y·W + x of the pixels whose value exceeds
 * their threshold (v > t; NaN never does), in scan order. The indices are a view of the
 * WebAssembly module's memory, valid during the call only.
 */
export interface RowThreshold {
  /** The threshold of each pixel of row y (W values); the same array for rows that share it. */
  row(y: number): Float32Array;
  above(indices: Int32Array, count: number): void;
}

/**
 * convolveSeparable a strip of output rows at a time (rows(), in order from the top), or at
 * single pixels (at()), with its arithmetic: the values are those it stores, to the bit.
 *
 * The rows are filtered horizontally, then vertically, by the SIMD kernels of the `filters`
 * WebAssembly module, in float32 (each output c_0·a_0 + c_1·(a_−1 + a_+1) + … + c_r·(a_−r +
 * a_+r), summed from the left). A strip's source rows are copied into the module's memory and
 * filtered there; the row-filtered rows the next strip also needs (2r of them) are kept in
 * `tmp` between calls; every source row is read before any output row below it is written, so
 * the output may be the source.
 *
 * at() filters whole rows horizontally as well (kept in a ring of 2r + 1 rows: pixels asked for
 * in order of rows reuse them), and sums down the column in JavaScript with the same float32
 * operations.
 */
export class SeparableConvolver {
  readonly #src: Float32Array;
  readonly #W: number;
  readonly #H: number;
  readonly #r: number;
  /** c_0 … c_r. */
  readonly #taps: Float32Array;
  readonly #mask: Int32Array | null;
  readonly #zeroBits: number;
  /** rows(): the row-filtered image rows #lo … #hi − 1, row y at (y − #lo)·W; null when only at() is used. */
  readonly #tmp: Float32Array | null;
  #lo = 0;
  #hi = 0;
  /** The next output row rows() expects. */
  #next = 0;
  /**
   * at(): row-filtered rows, row y in slot y mod (2r + 1), then a row of zeros; #ringRow[slot] is
   * the row held (−1: none).
   */
  #ring: Float32Array | null = null;
  #ringRow: Int32Array | null = null;
  /** The row whose window the ring holds (−1: none), and the window's row offsets in the ring. */
  #windowY = -1;
  #windowRows: Int32Array | null = null;

  constructor(src: Float32Array, W: number, H: number, kernel: Float32Array, tmp: Float32Array | null, mask: Int32Array | null = null, zeroBits = 0) {
    const r = (kernel.length - 1) >> 1;
    this.#src = src;
    this.#W = W;
    this.#H = H;
    this.#r = r;
    this.#taps = new Float32Array(r + 1);
    for (let j = 0; j <= r; j++) this.#taps[j] = kernel[r + j];
    this.#mask = mask !== null && zeroBits !== 0 ? mask : null;
    this.#zeroBits = zeroBits;
    if (tmp !== null && tmp.length < convolveScratchSize(W, H, r)) {
      throw new RangeError(`convolution scratch has ${tmp.length} values, ${convolveScratchSize(W, H, r)} needed`);
    }
    this.#tmp = tmp;
  }

  /**
   * Output rows y0 … y1 − 1 into `out`, row y at outOffset + (y − y0)·W: y0 is the row after the
   * last one asked for (0 at first), and y1 − y0 at most CONVOLUTION_STRIP_ROWS. With
   * `threshold`, the pixels of these rows above it are reported (after `out` is written).
   */
  rows(y0: number, y1: number, out: Float32Array, outOffset: number, threshold: RowThreshold | null = null): void {
    const W = this.#W;
    const H = this.#H;
    if (y0 !== this.#next || y1 <= y0 || y1 > H || y1 - y0 > CONVOLUTION_STRIP_ROWS) {
      throw new RangeError(`convolution rows ${y0}..${y1} out of order (next is ${this.#next}) or more than a strip`);
    }
    const tmp = this.#tmp;
    if (tmp === null) throw new RangeError('convolution rows need the strip scratch');
    this.#next = y1;
    const r = this.#r;
    const mask = this.#mask;
    const n = y1 - y0;
    // The strip: row-filtered rows y0 − r … y1 + r − 1 (zero outside the image), row y at
    // (y − s0)·W. Image rows n0 … n1 − 1 of it: those below m are kept from the last strip.
    const s0 = y0 - r;
    const n0 = Math.max(0, s0);
    const n1 = Math.min(H, y1 + r);
    const m = this.#lo <= n0 && n0 < this.#hi ? Math.min(this.#hi, n1) : n0;
    const nNew = n1 - m;
    const { exports: k, arena } = filterKernels();
    const [strip, srcRows, maskRows, rowBuf, taps, dst, thr, list] = arena.layout([
      ['f32', (n + 2 * r) * W],
      ['f32', nNew * W],
      ['i32', mask !== null ? nNew * W : 0],
      ['f32', W + 2 * r],
      ['f32', r + 1],
      ['f32', n * W],
      ['f32', threshold !== null ? W : 0],
      ['i32', threshold !== null ? n * W : 0],
    ]);
    const sv = strip.view;
    taps.view.set(this.#taps);
    if (n0 > s0) sv.fill(0, 0, (n0 - s0) * W);
    if (m > n0) sv.set(tmp.subarray((n0 - this.#lo) * W, (m - this.#lo) * W), (n0 - s0) * W);
    if (nNew > 0) {
      srcRows.view.set(this.#src.subarray(m * W, n1 * W));
      if (mask !== null) maskRows.view.set(mask.subarray(m * W, n1 * W));
      k.hrows(srcRows.ptr, mask !== null ? maskRows.ptr : 0, W, nNew, this.#zeroBits, taps.ptr, r, rowBuf.ptr, strip.ptr + 4 * (m - s0) * W);
    }
    if (y1 + r > n1) sv.fill(0, (n1 - s0) * W);
    k.vrows(strip.ptr + 4 * r * W, dst.ptr, W, n, taps.ptr, r);
    out.set(dst.view, outOffset);
    // What the next strip needs: image rows y1 − r … n1 − 1.
    const c0 = Math.max(0, y1 - r);
    tmp.set(sv.subarray((c0 - s0) * W, (n1 - s0) * W));
    this.#lo = c0;
    this.#hi = n1;
    if (threshold !== null) {
      let count = 0;
      let last: Float32Array | null = null;
      for (let y = y0; y < y1; y++) {
        const t = threshold.row(y);
        if (t !== last) {
          thr.view.set(t);
          last = t;
        }
        count += k.above(dst.ptr + 4 * (y - y0) * W, thr.ptr, W, y * W, list.ptr + 4 * count);
      }
      threshold.above(list.view, count);
    }
  }

  /**
   * The output value at (x, y), as rows() gives it: any pixel, in any order, without the strip
   * scratch (and independently of rows()); cheapest for pixels asked for row by row.
   */
  at(x: number, y: number): number {
    if (y !== this.#windowY) this.#window(y);
    const ring = this.#ring as Float32Array;
    const off = this.#windowRows as Int32Array;
    const t = this.#taps;
    const r = this.#r;
    const fr = Math.fround;
    let s = fr(t[0] * ring[off[r] + x]);
    for (let j = 1; j <= r; j++) s = fr(s + fr(t[j] * fr(ring[off[r - j] + x] + ring[off[r + j] + x])));
    return s;
  }

  /**
   * Makes the ring hold the row-filtered rows y − r … y + r, and #windowRows their offsets in it
   * (rows outside the image: the ring's zero row).
   */
  #window(y: number): void {
    const W = this.#W;
    const H = this.#H;
    const r = this.#r;
    const R = 2 * r + 1;
    const ring = this.#ring ?? (this.#ring = new Float32Array((R + 1) * W));
    const held = this.#ringRow ?? (this.#ringRow = new Int32Array(R).fill(-1));
    const off = this.#windowRows ?? (this.#windowRows = new Int32Array(R));
    const a = Math.max(0, y - r);
    const b = Math.min(H, y + r + 1);
    let first = -1;
    let last = -1;
    for (let yy = a; yy < b; yy++) {
      if (held[yy % R] !== yy) {
        if (first < 0) first = yy;
        last = yy;
      }
    }
    if (first >= 0) this.#fillRing(first, last + 1, ring, held);
    for (let j = -r; j <= r; j++) off[j + r] = y + j >= 0 && y + j < H ? ((y + j) % R) * W : R * W;
    this.#windowY = y;
  }

  /** Rows y0 … y1 − 1 (at most 2r + 1) filtered horizontally into their slots of the ring. */
  #fillRing(y0: number, y1: number, ring: Float32Array, held: Int32Array): void {
    const W = this.#W;
    const r = this.#r;
    const R = 2 * r + 1;
    const mask = this.#mask;
    const n = y1 - y0;
    const { exports: k, arena } = filterKernels();
    const [srcRows, maskRows, rowBuf, taps, out] = arena.layout([
      ['f32', n * W],
      ['i32', mask !== null ? n * W : 0],
      ['f32', W + 2 * r],
      ['f32', r + 1],
      ['f32', n * W],
    ]);
    taps.view.set(this.#taps);
    srcRows.view.set(this.#src.subarray(y0 * W, y1 * W));
    if (mask !== null) maskRows.view.set(mask.subarray(y0 * W, y1 * W));
    k.hrows(srcRows.ptr, mask !== null ? maskRows.ptr : 0, W, n, this.#zeroBits, taps.ptr, r, rowBuf.ptr, out.ptr);
    for (let y = y0; y < y1; y++) {
      const slot = y % R;
      ring.set(out.view.subarray((y - y0) * W, (y - y0 + 1) * W), slot * W);
      held[slot] = y;
    }
  }
}

export interface DetectionOptions {
  /** PSF FWHM (pixels) for the matched filter; the config guess when absent. */
  readonly psfFwhmPx?: number;
  /** Set DETECTED in the input mask (the caller owns it) instead of a copy. */
  readonly inPlace?: boolean;
  /**
   * Two planes of the image's size the caller has no more use for, to work in (their contents
   * are overwritten; the label image is one of them): new ones when not given.
   */
  readonly scratch?: readonly [Float32Array, Float32Array];
}

/** The first pixel of mesh i of n along an axis of `size` pixels (meshes of equal size, rounded). */
function meshEdge(i: number, size: number, n: number): number {
  return Math.round((i * size) / n);
}

/** The mesh (of n along an axis of `size` pixels) of pixel v of the axis. */
function meshOf(v: number, size: number, n: number): number {
  return Math.min(n - 1, Math.floor((v * n) / size));
}

/** The sampling step of a w × h mesh's noise: at most about 2048 pixels of it. */
function sampleStep(w: number, h: number): number {
  return Math.max(1, Math.ceil(Math.sqrt((w * h) / 2048)));
}

// runDetection's loops over pixels, labels and footprints, each a function of its own:
// runDetection runs once per image and stays in the interpreter, while these keep their
// optimised code from visit to visit (a once-a-visit function with hot loops was compiled again,
// on the stack, every visit).

/** The mesh column (of n across W) of each pixel column. */
function meshColumns(W: number, n: number): Int32Array {
  const xMesh = new Int32Array(W);
  for (let x = 0; x < W; x++) xMesh[x] = meshOf(x, W, n);
  return xMesh;
}

/** Per mesh row, the threshold of each pixel of a row (from its mesh's). */
function thresholdRows(meshThr: Float32Array, xMesh: Int32Array, mnx: number, mny: number): Float32Array[] {
  const W = xMesh.length;
  const rows: Float32Array[] = [];
  for (let j = 0; j < mny; j++) {
    const t = new Float32Array(W);
    for (let x = 0; x < W; x++) t[x] = meshThr[j * mnx + xMesh[x]];
    rows.push(t);
  }
  return rows;
}

/**
 * Merges the provisional labels' statistics into their roots, and numbers the roots of at least
 * minArea pixels 1 … count in label order: `finalId[l]` becomes the number of label l's root (0:
 * none). Returns count.
 */
function mergeLabels(first: ProvisionalLabels, conv: Float32Array, minArea: number, finalId: Int32Array): number {
  const { parent, area, bx0, by0, bx1, by1, peakP, count: nLabels } = first;
  for (let l = 1; l <= nLabels; l++) {
    const root = findRoot(parent, l);
    parent[l] = root;
    if (root === l) continue;
    area[root] += area[l];
    if (bx0[l] < bx0[root]) bx0[root] = bx0[l];
    if (bx1[l] > bx1[root]) bx1[root] = bx1[l];
    if (by0[l] < by0[root]) by0[root] = by0[l];
    if (by1[l] > by1[root]) by1[root] = by1[l];
    if (conv[peakP[l]] > conv[peakP[root]]) peakP[root] = peakP[l];
  }
  let count = 0;
  for (let l = 1; l <= nLabels; l++) {
    if (parent[l] === l && area[l] >= minArea) finalId[l] = ++count;
  }
  for (let l = 1; l <= nLabels; l++) finalId[l] = finalId[parent[l]];
  return count;
}

/** Footprints as typed-array columns (see Footprints). */
class FootprintTable implements Footprints {
  readonly x0: Int32Array;
  readonly y0: Int32Array;
  readonly x1: Int32Array;
  readonly y1: Int32Array;
  readonly area: Int32Array;
  readonly peakX: Int32Array;
  readonly peakY: Int32Array;
  readonly peakSignificance: Float32Array;
  readonly nPeaks: Int32Array;
  readonly pixelOffsets: Int32Array;
  readonly pixels: Int32Array;

  /** `count` footprints, all zero but for their pixel offsets, from their areas. */
  constructor(
    readonly count: number,
    area: Int32Array,
  ) {
    this.x0 = new Int32Array(count);
    this.y0 = new Int32Array(count);
    this.x1 = new Int32Array(count);
    this.y1 = new Int32Array(count);
    this.area = area;
    this.peakX = new Int32Array(count);
    this.peakY = new Int32Array(count);
    this.peakSignificance = new Float32Array(count);
    this.nPeaks = new Int32Array(count);
    this.pixelOffsets = new Int32Array(count + 1);
    for (let k = 0; k < count; k++) this.pixelOffsets[k + 1] = this.pixelOffsets[k] + area[k];
    this.pixels = new Int32Array(this.pixelOffsets[count]);
  }
}

/**
 * The footprints' boxes, areas and peaks (the highest pixel of the filtered image, and its
 * significance against its mesh's filtered noise), from the merged labels; their pixels and
 * local maxima are filled by labelPixels.
 */
function footprintTable(
  first: ProvisionalLabels,
  finalId: Int32Array,
  count: number,
  conv: Float32Array,
  W: number,
  H: number,
  meshNoise: Float32Array,
  mnx: number,
  mny: number,
  xMesh: Int32Array,
): FootprintTable {
  const { parent, area, bx0, by0, bx1, by1, peakP, count: nLabels } = first;
  const farea = new Int32Array(count);
  for (let l = 1; l <= nLabels; l++) {
    const id = finalId[l];
    if (id && parent[l] === l) farea[id - 1] = area[l];
  }
  const f = new FootprintTable(count, farea);
  for (let l = 1; l <= nLabels; l++) {
    const id = finalId[l];
    if (!id || parent[l] !== l) continue;
    const k = id - 1;
    f.x0[k] = bx0[l];
    f.y0[k] = by0[l];
    f.x1[k] = bx1[l];
    f.y1[k] = by1[l];
    const pp = peakP[l];
    const px = pp % W;
    const py = (pp - px) / W;
    f.peakX[k] = px;
    f.peakY[k] = py;
    f.peakSignificance[k] = conv[pp] / meshNoise[meshOf(py, H, mny) * mnx + xMesh[px]];
  }
  return f;
}

/**
 * Over the pixels above threshold (`above`, in scan order): the final label into `labels`, the
 * footprint's pixel list, DETECTED in `outMask`, and its count of local maxima (3x3) of the
 * filtered image. Returns the pixels in footprints.
 */
function labelPixels(above: IntList, finalId: Int32Array, f: FootprintTable, labels: Int32Array, outMask: Int32Array, conv: Float32Array, W: number, H: number): number {
  const { pixels, nPeaks } = f;
  const fill = f.pixelOffsets.slice(0, f.count);
  let detectedPixels = 0;
  const list = above.data;
  for (let q = 0; q < above.length; q++) {
    const p = list[q];
    const id = finalId[labels[p]];
    labels[p] = id;
    if (!id) continue;
    const k = id - 1;
    pixels[fill[k]++] = p;
    outMask[p] |= MaskBit.DETECTED;
    detectedPixels++;
    // Local maximum of the filtered image (ties broken towards the first pixel in scan order).
    const x = p % W;
    const y = (p - x) / W;
    const v = conv[p];
    let isPeak = true;
    for (let dy = -1; dy <= 1 && isPeak; dy++) {
      const yy = y + dy;
      if (yy < 0 || yy >= H) continue;
      for (let dx = -1; dx <= 1; dx++) {
        const xx = x + dx;
        if ((dx === 0 && dy === 0) || xx < 0 || xx >= W) continue;
        const u = conv[yy * W + xx];
        if (u > v || (u === v && (dy < 0 || (dy === 0 && dx < 0)))) {
          isPeak = false;
          break;
        }
      }
    }
    if (isPeak) nPeaks[k]++;
  }
  return detectedPixels;
}

/**
 * The first pass of the connected-component labelling, given the pixels above threshold a strip
 * at a time by SeparableConvolver.rows (this is its RowThreshold): provisional labels with
 * union-find, per-label statistics (merged into the roots afterwards), and the list of pixels
 * above threshold. Labels go into `labels`; label 0 is none.
 *
 * A class rather than closures made for each image: the engine's optimised code for its methods
 * then outlives the image (code that inlines a closure is thrown away with it, and was compiled
 * again every visit).
 */
class ProvisionalLabels implements RowThreshold {
  parent: Int32Array = new Int32Array(4096);
  area: Int32Array = new Int32Array(4096);
  bx0: Int32Array = new Int32Array(4096);
  by0: Int32Array = new Int32Array(4096);
  bx1: Int32Array = new Int32Array(4096);
  by1: Int32Array = new Int32Array(4096);
  /** The pixel of each label's highest filtered value. */
  peakP: Int32Array = new Int32Array(4096);
  /** Provisional labels made: 1 … count. */
  count = 0;
  /** The pixels above threshold, in scan order. */
  readonly pixels = new IntList(1 << 16);

  constructor(
    private readonly labels: Int32Array,
    private readonly conv: Float32Array,
    private readonly W: number,
    private readonly H: number,
    /** The threshold of each pixel of a row, per mesh row (equal-height meshes down the image). */
    private readonly thrRows: readonly Float32Array[],
  ) {}

  row(y: number): Float32Array {
    return this.thrRows[meshOf(y, this.H, this.thrRows.length)];
  }

  above(indices: Int32Array, count: number): void {
    const { labels, conv, W, pixels } = this;
    for (let q = 0; q < count; q++) {
      const p = indices[q];
      const x = p % W;
      const y = (p - x) / W;
      const v = conv[p];
      let l = 0;
      if (x > 0 && labels[p - 1]) l = labels[p - 1];
      if (y > 0) {
        const up = p - W;
        const a = x > 0 ? labels[up - 1] : 0;
        const b = labels[up];
        const c = x + 1 < W ? labels[up + 1] : 0;
        if (a) l = l ? unionRoots(this.parent, l, a) : a;
        if (b) l = l ? unionRoots(this.parent, l, b) : b;
        if (c) l = l ? unionRoots(this.parent, l, c) : c;
      }
      if (!l) {
        l = ++this.count;
        if (l >= this.parent.length) this.grow();
        this.parent[l] = l;
        this.bx0[l] = x;
        this.bx1[l] = x + 1;
        this.by0[l] = y;
        this.peakP[l] = p;
      }
      labels[p] = l;
      pixels.push(p);
      // Statistics on the provisional label (merged into roots afterwards).
      this.area[l]++;
      if (x < this.bx0[l]) this.bx0[l] = x;
      if (x >= this.bx1[l]) this.bx1[l] = x + 1;
      this.by1[l] = y + 1;
      if (v > conv[this.peakP[l]]) this.peakP[l] = p;
    }
  }

  private grow(): void {
    const cap = 2 * this.parent.length;
    this.parent = grown(this.parent, cap);
    this.area = grown(this.area, cap);
    this.bx0 = grown(this.bx0, cap);
    this.by0 = grown(this.by0, cap);
    this.bx1 = grown(this.bx1, cap);
    this.by1 = grown(this.by1, cap);
    this.peakP = grown(this.peakP, cap);
  }
}

function grown(a: Int32Array, length: number): Int32Array {
  const b = new Int32Array(length);
  b.set(a);
  return b;
}

/** Growable Int32Array. */
class IntList {
  data: Int32Array;
  length = 0;
  constructor(capacity: number) {
    this.data = new Int32Array(Math.max(16, capacity));
  }
  push(v: number): void {
    if (this.length === this.data.length) {
      const bigger = new Int32Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = v;
  }
}

export function runDetection(input: MaskedImage, cfg: DetectionConfig = makeDetectionConfig(), opts: DetectionOptions = {}): DetectionResult {
  const { width: W, height: H, image, variance, mask } = input;
  const n = W * H;
  if (image.length !== n || variance.length !== n || mask.length !== n) {
    throw new InvalidInputError(`detection: image planes do not match ${W}x${H}`);
  }
  const fwhm = opts.psfFwhmPx ?? cfg.psfFwhmGuessPx;
  if (!(fwhm > 0)) throw new InvalidInputError(`detection: PSF FWHM ${fwhm} px is not usable`);
  const sigma = fwhm / FWHM_PER_SIGMA;
  const r = Math.max(1, Math.ceil(cfg.kernelHalfWidthSigmas * sigma));
  const kernel = gaussianKernel(sigma, r);
  let sumK2 = 0;
  for (let i = 0; i < kernel.length; i++) sumK2 += kernel[i] * kernel[i];
  sumK2 *= sumK2; // separable: Σ over 2-D = (Σ over 1-D)²

  const bad = cfg.badBits;
  const scratch = opts.scratch;
  if (scratch && (scratch[0].length !== n || scratch[1].length !== n || scratch[0].buffer === scratch[1].buffer)) {
    throw new InvalidInputError(`detection: the scratch planes must be two separate ${W}x${H} planes`);
  }
  const tmp = scratch ? scratch[0] : new Float32Array(n);
  const conv = scratch ? scratch[1] : new Float32Array(n);

  // 1. Threshold per noise mesh: nSigma · sqrt(Σk² · median variance), on a sub-grid of each mesh
  // of at most about 2048 pixels (the median's relative error ~1/√2048, 2 %, of a smooth plane).
  const mnx = Math.max(1, Math.round(W / cfg.noiseMeshPx));
  const mny = Math.max(1, Math.round(H / cfg.noiseMeshPx));
  const meshThr = new Float32Array(mnx * mny);
  const meshNoise = new Float32Array(mnx * mny);
  const meshVar = new Float32Array(mnx * mny);
  const xMesh = meshColumns(W, mnx);
  {
    // Each mesh's samples are written into the `filters` module's memory, whose median kernel
    // (exact order statistics) gives medianInPlace's value.
    const noiseBits = bad | MaskBit.SAT | MaskBit.CR;
    let capacity = 1;
    for (let j = 0; j < mny; j++) {
      for (let i = 0; i < mnx; i++) {
        const w = meshEdge(i + 1, W, mnx) - meshEdge(i, W, mnx);
        const h = meshEdge(j + 1, H, mny) - meshEdge(j, H, mny);
        const step = sampleStep(w, h);
        capacity = Math.max(capacity, Math.ceil(w / step) * Math.ceil(h / step));
      }
    }
    const { exports: fk, arena } = filterKernels();
    const [samples, keys, work, hist] = arena.layout([
      ['f32', capacity],
      ['i32', capacity],
      ['i32', 4 * capacity],
      ['i32', 4096],
    ]);
    const scratch = samples.view;
    for (let j = 0; j < mny; j++) {
      const y0 = meshEdge(j, H, mny);
      const y1 = meshEdge(j + 1, H, mny);
      for (let i = 0; i < mnx; i++) {
        const x0 = meshEdge(i, W, mnx);
        const x1 = meshEdge(i + 1, W, mnx);
        const k = sampleVariance(variance, mask, noiseBits, W, x0, x1, y0, y1, sampleStep(x1 - x0, y1 - y0), scratch);
        meshVar[j * mnx + i] = k > 0 ? fk.median(samples.ptr, k, keys.ptr, work.ptr, hist.ptr) : NaN;
      }
    }
    const valid = new Float32Array(meshVar.length);
    let nValid = 0;
    for (let m = 0; m < meshVar.length; m++) if (meshVar[m] > 0) valid[nValid++] = meshVar[m];
    if (nValid === 0) throw new AlgorithmError('detection: no usable variance anywhere in the image');
    const fallback = medianInPlace(valid, nValid);
    for (let m = 0; m < meshVar.length; m++) {
      if (!(meshVar[m] > 0)) meshVar[m] = fallback;
      meshNoise[m] = Math.sqrt(sumK2 * meshVar[m]);
      meshThr[m] = cfg.thresholdSigma * meshNoise[m];
    }
  }
  // The threshold of each pixel of a row, per mesh row.
  const thrRows = thresholdRows(meshThr, xMesh, mnx, mny);

  // 2. The matched filter (bad pixels counted as zero) into conv, a strip of rows at a time, and
  // the labelling's first pass over the pixels of each strip above the threshold: provisional
  // labels with union-find, per-label statistics, and the list of pixels above threshold. The
  // label image reuses tmp's memory.
  const labels = new Int32Array(tmp.buffer, tmp.byteOffset, n);
  labels.fill(0);
  const first = new ProvisionalLabels(labels, conv, W, H, thrRows);
  const convolver = new SeparableConvolver(image, W, H, kernel, new Float32Array(convolveScratchSize(W, H, r)), mask, bad);
  for (let y0 = 0; y0 < H; y0 += CONVOLUTION_STRIP_ROWS) convolver.rows(y0, Math.min(H, y0 + CONVOLUTION_STRIP_ROWS), conv, y0 * W, first);
  // 3. The provisional labels merged into footprints of at least minAreaPx pixels, numbered 1 …
  // count in scan order of their roots; then, over the listed pixels only: the footprints' pixel
  // lists, DETECTED, the final labels and the peaks.
  const finalId = new Int32Array(first.count + 1);
  const count = mergeLabels(first, conv, cfg.minAreaPx, finalId);
  if (count > cfg.maxFootprints) {
    throw new AlgorithmError(`detection: ${count} footprints exceed the limit of ${cfg.maxFootprints}`, { footprints: count });
  }
  const outMask = opts.inPlace ? mask : mask.slice();
  const footprints = footprintTable(first, finalId, count, conv, W, H, meshNoise, mnx, mny, xMesh);
  const detectedPixels = labelPixels(first.pixels, finalId, footprints, labels, outMask, conv, W, H);

  const psf = measurePsf(input, footprints, cfg, fwhm);
  const noiseSorted = meshNoise.slice();
  const varSorted = meshVar.slice();
  return {
    footprints,
    labels,
    mask: outMask,
    filterSigmaPx: sigma,
    filteredNoise: medianInPlace(noiseSorted, noiseSorted.length),
    pixelNoise: Math.sqrt(medianInPlace(varSorted, varSorted.length)),
    psf,
    detectedPixels,
  };
}

/**
 * The usable variances (positive, finite, none of `bits` in the mask) of every step-th pixel of
 * every step-th row of the box x0 … x1 − 1 by y0 … y1 − 1, from (x0, y0) + step/2, into `out`;
 * returns how many.
 */
function sampleVariance(variance: Float32Array, mask: Int32Array, bits: number, W: number, x0: number, x1: number, y0: number, y1: number, step: number, out: Float32Array): number {
  let k = 0;
  const half = step >> 1;
  for (let y = y0 + half; y < y1; y += step) {
    for (let p = y * W + x0 + half, end = y * W + x1; p < end; p += step) {
      const v = variance[p];
      if ((mask[p] & bits) === 0 && v > 0 && v < Infinity) out[k++] = v;
    }
  }
  return k;
}

/** PSF size from bright, clean, isolated single-peak detections (median of adaptive moments). */
function measurePsf(input: MaskedImage, fp: Footprints, cfg: DetectionConfig, guessFwhm: number): PsfEstimate {
  const { width: W, height: H, image, variance, mask } = input;
  const pc = cfg.psf;
  const guess: PsfEstimate = {
    fwhmPx: guessFwhm,
    sigmaPx: guessFwhm / FWHM_PER_SIGMA,
    measured: false,
    nStars: 0,
    ixx: NaN,
    iyy: NaN,
    ixy: NaN,
  };
  // Candidates by significance, brightest first.
  const cand: number[] = [];
  for (let k = 0; k < fp.count; k++) {
    if (fp.peakSignificance[k] < pc.minSignificance || fp.nPeaks[k] !== 1) continue;
    const x = fp.peakX[k];
    const y = fp.peakY[k];
    if (x < pc.edgeMarginPx || y < pc.edgeMarginPx || x >= W - pc.edgeMarginPx || y >= H - pc.edgeMarginPx) continue;
    let clean = true;
    for (let q = fp.pixelOffsets[k]; q < fp.pixelOffsets[k + 1]; q++) {
      if (mask[fp.pixels[q]] & pc.rejectBits) {
        clean = false;
        break;
      }
    }
    if (clean) cand.push(k);
  }
  if (cand.length < pc.minStars) return guess;
  // Isolation: no other footprint's peak within isolationPx (grid hash over all peaks).
  const cell = pc.isolationPx;
  const gw = Math.ceil(W / cell) + 1;
  const grid = new Map<number, number[]>();
  for (let k = 0; k < fp.count; k++) {
    const key = Math.floor(fp.peakY[k] / cell) * gw + Math.floor(fp.peakX[k] / cell);
    const list = grid.get(key);
    if (list) list.push(k);
    else grid.set(key, [k]);
  }
  const r2 = pc.isolationPx * pc.isolationPx;
  const isolated = cand.filter((k) => {
    const cx = Math.floor(fp.peakX[k] / cell);
    const cy = Math.floor(fp.peakY[k] / cell);
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        for (const o of grid.get((cy + dy) * gw + cx + dx) ?? []) {
          if (o === k) continue;
          const ddx = fp.peakX[o] - fp.peakX[k];
          const ddy = fp.peakY[o] - fp.peakY[k];
          if (ddx * ddx + ddy * ddy < r2) return false;
        }
      }
    }
    return true;
  });
  isolated.sort((a, b) => fp.peakSignificance[b] - fp.peakSignificance[a]);
  const use = isolated.slice(0, pc.maxStars);
  const guessSigma = guessFwhm / FWHM_PER_SIGMA;
  const tr = new Float32Array(use.length);
  const xx = new Float32Array(use.length);
  const yy = new Float32Array(use.length);
  const xy = new Float32Array(use.length);
  let m = 0;
  for (const k of use) {
    const c = gaussianCentroid(image, variance, W, H, fp.peakX[k], fp.peakY[k], guessSigma);
    if (!c.ok) continue;
    const mo = adaptiveMoments(image, W, H, c.x, c.y, guessSigma);
    if (!mo.ok) continue;
    tr[m] = 0.5 * (mo.ixx + mo.iyy);
    xx[m] = mo.ixx;
    yy[m] = mo.iyy;
    xy[m] = mo.ixy;
    m++;
  }
  if (m < pc.minStars) return guess;
  const s2 = medianInPlace(tr, m);
  const s = Math.sqrt(s2);
  return {
    fwhmPx: s * FWHM_PER_SIGMA,
    sigmaPx: s,
    measured: true,
    nStars: m,
    ixx: medianInPlace(xx, m),
    iyy: medianInPlace(yy, m),
    ixy: medianInPlace(xy, m),
  };
}
