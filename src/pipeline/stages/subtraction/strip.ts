import type { MaskedImage } from '../../../core/image.ts';
import type { ArenaBuffer } from '../../../wasm/arena.ts';
import { passKernels, type PassKernels } from '../../../wasm/passes.ts';
import { scaledCoordinate } from '../psf-matching/kernel.ts';

/** One separable term of a cell's kernel: correlation taps along rows and along columns. */
export interface CellTerm {
  /** Taps of the horizontal pass and the offset of taps[0] from the untrimmed tap 0. */
  readonly h: ArrayLike<number>;
  readonly hFirst: number;
  readonly v: ArrayLike<number>;
  readonly vFirst: number;
}

/** The kernel of one cell of a strip: columns [x0, x1), its terms (summed). */
export interface StripCell {
  readonly x0: number;
  readonly x1: number;
  readonly terms: readonly CellTerm[];
}

/**
 * A background polynomial along image rows: row y's coefficients of x̂^0 … x̂^degree (x̂ the
 * scaled column coordinate) into out.
 */
export type RowPolynomial = (y: number, out: Float64Array) => void;

export interface CombineParams {
  /** D = scale · (other − conv − B), Var D = scale² · (Var other + conv var). */
  readonly scale: number;
  /** The mask bits kept (after ORing the masks). */
  readonly keep: number;
  readonly noData: number;
  /** Bits of the pixels within r of the edges. */
  readonly border: number;
  /** Image and variance of noData pixels. */
  readonly fill: number;
}

export interface DiagnoseParams {
  readonly noData: number;
  /** Rows and columns off, off + step, … are sampled (off = step >> 1). */
  readonly step: number;
  /** Pixels with these bits in the difference's mask, or `srcBits` in either input's, are skipped. */
  readonly bad: number;
  readonly srcBits: number;
  readonly clip: number;
}

/** Noise statistics of D / √Var: within ± clip (count, Σ, Σ²) and beyond. */
export interface NoiseSums {
  readonly n: number;
  readonly sum: number;
  readonly sum2: number;
  readonly outliers: number;
}

/**
 * The strip buffers of the subtraction in the passes module's memory (wasm/passes.ts), laid out
 * once: a strip's rows of the convolved image and r rows either side (image and variance with r
 * zero columns either side, mask), the strip's convolutions and mask, the other image's rows,
 * the taps and the background polynomial's coefficients.
 *
 * A strip is loaded (`load`; rows beyond the image are zero), its cells' peaks and medians
 * measured (`maxOf`, `medians`: before the mask is grown, which zeroes non-finite values), its
 * mask grown (`growMask`), both planes convolved (`convolve`), combined with the other image
 * (`combine`) and stored into the difference (`store`). Once the whole difference is made,
 * `diagnose` goes over it again strip by strip.
 */
export class StripWorkspace {
  readonly #k: PassKernels;
  readonly #W: number;
  readonly #H: number;
  readonly #r: number;
  readonly #maxRows: number;
  /** Row stride of the padded image and variance: W + 2r. */
  readonly #P: number;
  /**
   * Row stride of the horizontal passes' output, one cell's columns (from column 0: the vertical
   * pass reads 16-byte aligned vectors), rounded up to 16 plus 16.
   */
  readonly #Q: number;
  readonly #img: ArenaBuffer<Float32Array>;
  readonly #vr: ArenaBuffer<Float32Array>;
  readonly #msk: ArenaBuffer<Int32Array>;
  readonly #work: ArenaBuffer<Float32Array>;
  readonly #line: ArenaBuffer<Int32Array>;
  readonly #flags: ArenaBuffer<Uint8Array>;
  readonly #cImg: ArenaBuffer<Float32Array>;
  readonly #cVar: ArenaBuffer<Float32Array>;
  readonly #mask: ArenaBuffer<Int32Array>;
  readonly #oImg: ArenaBuffer<Float32Array>;
  readonly #oVar: ArenaBuffer<Float32Array>;
  readonly #oMask: ArenaBuffer<Int32Array>;
  readonly #taps: ArenaBuffer<Float32Array>;
  readonly #bg32: ArenaBuffer<Float32Array>;
  readonly #xh32: ArenaBuffer<Float32Array>;
  readonly #stats: ArenaBuffer<Float64Array>;
  /** Float64 values laid out for the caller (e.g. the cells' kernels and their approximations). */
  readonly extra: ArenaBuffer<Float64Array>;
  /** Float32 values laid out for samples (`medians` uses them too). */
  readonly samples: ArenaBuffer<Float32Array>;
  readonly #degree: number;
  readonly #coefficients: Float64Array;
  /** Input rows [ya, yb) of the strip loaded last. */
  #ya = 0;
  #yb = 0;

  /**
   * `maxRows`: the most rows of a strip; `maxCols`: the most columns of a cell; `maxTaps`: the
   * most taps of a strip's cells; `degree`: of the background polynomials (−1: none); `extra`,
   * `samples`: float64 and float32 values to lay out for the caller (`samples`: at least twice
   * the samples `medians` takes from a cell).
   */
  constructor(W: number, H: number, r: number, maxRows: number, maxCols: number, maxTaps: number, degree: number, extra: number, samples: number) {
    const { exports, arena } = passKernels();
    this.#k = exports;
    this.#W = W;
    this.#H = H;
    this.#r = r;
    this.#maxRows = maxRows;
    const P = W + 2 * r;
    const Q = 16 * Math.ceil(maxCols / 16) + 16;
    this.#P = P;
    this.#Q = Q;
    const nIn = maxRows + 2 * r;
    const nc = Math.max(0, degree + 1);
    [
      this.#img,
      this.#vr,
      this.#msk,
      this.#work,
      this.#line,
      this.#flags,
      this.#cImg,
      this.#cVar,
      this.#mask,
      this.#oImg,
      this.#oVar,
      this.#oMask,
      this.#taps,
      this.#bg32,
      this.#xh32,
      this.#stats,
      this.extra,
      this.samples,
    ] = arena.layout(
      [
        ['f32', nIn * P],
        ['f32', nIn * P],
        ['i32', nIn * W],
        ['f32', nIn * Math.max(W, Q)],
        ['i32', P],
        ['u8', nIn],
        ['f32', maxRows * W],
        ['f32', maxRows * W],
        ['i32', maxRows * W],
        ['f32', maxRows * W],
        ['f32', maxRows * W],
        ['i32', maxRows * W],
        ['f32', maxTaps],
        ['f32', maxRows * nc],
        ['f32', W],
        ['f64', 4],
        ['f64', extra],
        ['f32', samples],
      ],
    );
    // The padding columns of the image and variance rows stay zero (the loads write between
    // them); everything else is written before it is read.
    this.#img.view.fill(0);
    this.#vr.view.fill(0);
    this.#degree = degree;
    this.#coefficients = new Float64Array(nc);
    for (let x = 0; x < W; x++) this.#xh32.view[x] = scaledCoordinate(x, W);
  }

  /**
   * A strip: rows [y0 − r, y1 + r) of the convolved image `src` (image, variance, mask) and rows
   * [y0, y1) of the other image.
   */
  load(src: MaskedImage, other: MaskedImage, y0: number, y1: number): void {
    const W = this.#W;
    const P = this.#P;
    const r = this.#r;
    const ya = y0 - r;
    const yb = y1 + r;
    if (y1 - y0 > this.#maxRows || y0 < 0 || y1 > this.#H) throw new RangeError(`subtraction strips: rows [${y0}, ${y1}) do not fit`);
    this.#ya = ya;
    this.#yb = yb;
    const img = this.#img.view;
    const vr = this.#vr.view;
    const lo = Math.max(0, ya);
    const hi = Math.min(this.#H, yb);
    for (let y = ya; y < yb; y++) {
      const k = y - ya;
      if (y < lo || y >= hi) {
        img.fill(0, k * P, (k + 1) * P);
        vr.fill(0, k * P, (k + 1) * P);
        continue;
      }
      img.set(src.image.subarray(y * W, (y + 1) * W), k * P + r);
      vr.set(src.variance.subarray(y * W, (y + 1) * W), k * P + r);
    }
    const msk = this.#msk.view;
    msk.fill(0, 0, (lo - ya) * W);
    msk.set(src.mask.subarray(lo * W, hi * W), (lo - ya) * W);
    msk.fill(0, (hi - ya) * W, (yb - ya) * W);
    this.#oImg.view.set(other.image.subarray(y0 * W, y1 * W));
    this.#oVar.view.set(other.variance.subarray(y0 * W, y1 * W));
    this.#oMask.view.set(other.mask.subarray(y0 * W, y1 * W));
  }

  /**
   * Medians over a sub-grid of the loaded strip's columns [x0, x1) and rows (from step >> 1,
   * every step-th) of the pixels where neither is NaN: of the convolved image's values and of
   * the other image's variances (NaN without such pixels).
   */
  medians(x0: number, x1: number, step: number): { image: number; otherVariance: number } {
    const W = this.#W;
    const P = this.#P;
    const r = this.#r;
    const img = this.#img.view;
    const oVar = this.#oVar.view;
    const rows = this.#yb - this.#ya - 2 * r;
    const half = this.samples.view.length >> 1;
    const a = this.samples.view;
    const b = this.samples.view.subarray(half);
    let n = 0;
    for (let k = step >> 1; k < rows; k += step) {
      const pi = (k + r) * P + r;
      const pv = k * W;
      for (let x = x0 + (step >> 1); x < x1; x += step) {
        const v = img[pi + x];
        const vv = oVar[pv + x];
        if (v === v && vv === vv) {
          if (n >= half) throw new RangeError('subtraction strips: more samples than laid out');
          a[n] = v;
          b[n] = vv;
          n++;
        }
      }
    }
    return { image: this.#k.median(this.samples.ptr, n), otherVariance: this.#k.median(this.samples.ptr + 4 * half, n) };
  }

  /** The largest loaded image value (NaN skipped, −∞ if none) over the rows within the image and columns [x0, x1). */
  maxOf(x0: number, x1: number): number {
    const lo = Math.max(0, this.#ya);
    const hi = Math.min(this.#H, this.#yb);
    return this.#k.maxOf(this.#img.ptr + ((lo - this.#ya) * this.#P + this.#r + x0) * 4, this.#P, x1 - x0, hi - lo);
  }

  /**
   * The strip's mask: the loaded mask's `bits` (and noData where the image or variance is not
   * finite) grown by the kernel footprint, with its other bits; non-finite loaded values become
   * zero.
   */
  growMask(bits: number, noData: number): void {
    this.#k.growMask(this.#msk.ptr, this.#img.ptr, this.#vr.ptr, this.#P, this.#W, this.#r, this.#yb - this.#ya, bits, noData, this.#mask.ptr, this.#line.ptr, this.#work.ptr, this.#flags.ptr);
  }

  /**
   * The loaded image (`plane` 'image') or variance convolved with each cell's kernel (zero
   * beyond the image), into the strip's convolution of that plane: per cell and term, the
   * horizontal pass over the rows the vertical pass needs, then the vertical pass (terms
   * summed).
   */
  convolve(plane: 'image' | 'variance', cells: readonly StripCell[]): void {
    const k = this.#k;
    const W = this.#W;
    const P = this.#P;
    const Q = this.#Q;
    const rows = this.#yb - this.#ya - 2 * this.#r;
    const src = plane === 'image' ? this.#img.ptr : this.#vr.ptr;
    const out = plane === 'image' ? this.#cImg.ptr : this.#cVar.ptr;
    const work = this.#work.ptr;
    // The taps, each term's horizontal then vertical ones.
    const taps = this.#taps.view;
    const ptrs: number[] = [];
    let at = 0;
    for (const c of cells) {
      for (const t of c.terms) {
        for (const a of [t.h, t.v]) {
          if (at + a.length > taps.length) throw new RangeError('subtraction strips: more taps than laid out');
          taps.set(a, at);
          ptrs.push(this.#taps.ptr + at * 4);
          at += a.length;
        }
      }
    }
    let q = 0;
    for (const c of cells) {
      if (c.x1 - c.x0 > Q - 16) throw new RangeError('subtraction strips: a cell wider than laid out');
      for (let p = 0; p < c.terms.length; p++) {
        const t = c.terms[p];
        const vT = t.v.length;
        // Row k of the horizontal pass at work + k·Q, column x at x − x0.
        const tmp = work + t.vFirst * Q * 4;
        k.hpass(src + (t.vFirst * P + c.x0 + t.hFirst) * 4, P, tmp, Q, c.x1 - c.x0, rows + vT - 1, ptrs[q++], t.h.length);
        k.vpass(tmp - c.x0 * 4, Q, out, W, rows, c.x0, c.x1, ptrs[q++], vT, p > 0);
      }
    }
  }

  /** Each row's background coefficients (`bg`: none when null) into `to` (degree + 1 per row); the degree passed to the kernels. */
  #rowCoefficients(bg: RowPolynomial | null, y0: number, y1: number, to: Float32Array): number {
    if (bg === null) return -1;
    const nc = this.#degree + 1;
    if (nc <= 0) throw new RangeError('subtraction strips: a background polynomial but no degree laid out');
    const cx = this.#coefficients;
    for (let y = y0; y < y1; y++) {
      bg(y, cx);
      to.set(cx, (y - y0) * nc);
    }
    return this.#degree;
  }

  /**
   * The loaded strip's rows of the difference, from the strip's convolutions and mask and the
   * other image's rows, with the background `bg` subtracted (none when null), float32.
   */
  combine(bg: RowPolynomial | null, p: CombineParams): void {
    const W = this.#W;
    const r = this.#r;
    const y0 = this.#ya + r;
    const y1 = this.#yb - r;
    const deg = this.#rowCoefficients(bg, y0, y1, this.#bg32.view);
    this.#k.combine(
      this.#cImg.ptr,
      this.#cVar.ptr,
      this.#mask.ptr,
      this.#oImg.ptr,
      this.#oVar.ptr,
      this.#oMask.ptr,
      W,
      y1 - y0,
      y0,
      this.#H,
      r,
      this.#bg32.ptr,
      deg,
      this.#xh32.ptr,
      p.scale,
      p.scale * p.scale,
      p.keep,
      p.noData,
      p.border,
      p.fill,
    );
  }

  /** The combined rows into the difference planes. */
  store(image: Float32Array, variance: Float32Array, mask: Int32Array): void {
    const W = this.#W;
    const y0 = this.#ya + this.#r;
    const n = (this.#yb - this.#r - y0) * W;
    image.set(this.#cImg.view.subarray(0, n), y0 * W);
    variance.set(this.#cVar.view.subarray(0, n), y0 * W);
    mask.set(this.#mask.view.subarray(0, n), y0 * W);
  }

  /**
   * Rows [y0, y1) of the difference d: the background `bg` subtracted (float32; none when null)
   * from the pixels without the noData bit — from all of them when noData pixels hold NaN
   * (`noDataIsNaN`: subtracting leaves them NaN) — and the noise statistics of D / √Var added to
   * the sums (`resetSums`, `sums`) over the sampled pixels (maskA, maskB: the inputs' masks).
   */
  diagnose(d: MaskedImage, maskA: Int32Array, maskB: Int32Array, y0: number, y1: number, bg: RowPolynomial | null, noDataIsNaN: boolean, p: DiagnoseParams): void {
    const W = this.#W;
    if (y1 - y0 > this.#maxRows) throw new RangeError(`subtraction strips: rows [${y0}, ${y1}) do not fit`);
    const a = y0 * W;
    const b = y1 * W;
    const img = this.#cImg.view;
    const mask = this.#mask.view;
    const deg = this.#rowCoefficients(bg, y0, y1, this.#bg32.view);
    const maskEverywhere = deg >= 0 && !noDataIsNaN;
    if (deg >= 0) img.set(d.image.subarray(a, b));
    if (maskEverywhere) mask.set(d.mask.subarray(a, b));
    // The sampled rows.
    const off = p.step >> 1;
    for (let y = y0 + ((off - (y0 % p.step) + p.step) % p.step); y < y1; y += p.step) {
      const from = y * W;
      const to = (y - y0) * W;
      if (deg < 0) img.set(d.image.subarray(from, from + W), to);
      if (!maskEverywhere) mask.set(d.mask.subarray(from, from + W), to);
      this.#cVar.view.set(d.variance.subarray(from, from + W), to);
      this.#oMask.view.set(maskA.subarray(from, from + W), to);
      this.#msk.view.set(maskB.subarray(from, from + W), to);
    }
    this.#k.diagnoseRows(
      this.#cImg.ptr,
      this.#cVar.ptr,
      this.#mask.ptr,
      this.#oMask.ptr,
      this.#msk.ptr,
      W,
      y1 - y0,
      y0,
      this.#bg32.ptr,
      deg,
      this.#xh32.ptr,
      maskEverywhere ? p.noData : 0,
      p.step,
      off,
      p.bad,
      p.srcBits,
      p.clip,
      this.#stats.ptr,
    );
    if (deg >= 0) d.image.set(img.subarray(0, b - a), a);
  }

  resetSums(): void {
    this.#stats.view.fill(0);
  }

  sums(): NoiseSums {
    const s = this.#stats.view;
    return { n: s[0], sum: s[1], sum2: s[2], outliers: s[3] };
  }
}
