import { z } from 'zod';
import { InvalidInputError } from '../../../core/errors.ts';
import type { Plane } from '../../../core/image.ts';
import type { AmpGeometry, Box } from '../../../instruments/index.ts';
import { parseConfig } from '../../config.ts';
import { MAD_TO_SIGMA, medianInPlace } from '../../lib/stats.ts';
import type { RawPlane } from '../../types.ts';

/**
 * Overscan correction of one amplifier: the bias level of every row is measured in the serial
 * overscan columns (skipping the columns next to the data, where deferred charge trails), fitted
 * or smoothed along the rows, and subtracted from the amplifier's data region; optionally a
 * per-column level from the parallel overscan rows is subtracted too.
 */
export const OverscanConfig = z
  .object({
    /**
     * 'median-per-row': median of each row's overscan columns.
     * 'mean': sigma-clipped mean of each row's overscan columns.
     * 'poly': polynomial in the row number fitted to the per-row clipped means.
     */
    fit: z.enum(['median-per-row', 'mean', 'poly']).default('median-per-row'),
    /** Serial overscan columns next to the data that are not used (deferred-charge tails). */
    skipColumns: z.number().int().min(0).default(3),
    /** Running-mean window (rows, odd) applied to the per-row levels; 1 = no smoothing. */
    smoothRows: z.number().int().min(1).default(1),
    /** Polynomial order for fit = 'poly'. */
    polyOrder: z.number().int().min(0).max(8).default(3),
    /** Clipping threshold (sigma) for the clipped means and the poly fit's row rejection. */
    clipSigma: z.number().positive().default(3),
    /** Also subtract a per-column level measured in the parallel overscan rows. */
    doParallelOverscan: z.boolean().default(false),
    /** Parallel overscan rows next to the data that are not used. */
    skipParallelRows: z.number().int().min(0).default(3),
  })
  .superRefine((c, ctx) => {
    if (c.smoothRows % 2 === 0) ctx.addIssue({ code: 'custom', path: ['smoothRows'], message: 'must be odd' });
    if (c.fit === 'poly' && c.smoothRows !== 1) {
      ctx.addIssue({ code: 'custom', path: ['smoothRows'], message: "smoothing does not apply to fit 'poly'; leave it at 1" });
    }
  });
export type OverscanConfig = z.output<typeof OverscanConfig>;
export type OverscanConfigInput = z.input<typeof OverscanConfig>;

export function makeOverscanConfig(input: OverscanConfigInput = {}): OverscanConfig {
  return parseConfig(OverscanConfig, input, 'overscan');
}

export interface OverscanInput {
  readonly amp: AmpGeometry;
  /** The raw HDU holding the amplifier. */
  readonly raw: RawPlane;
}

/** The overscan model of one amplifier (what is subtracted), without the subtracted image. */
export interface OverscanLevels {
  /** Serial level per data row (ADU), rawData.y0 first. */
  readonly rowLevelsAdu: Float32Array;
  /** Parallel level per data column (ADU), or null when not done. */
  readonly columnLevelsAdu: Float32Array | null;
  /** Mean subtracted serial level over the data rows (ADU). */
  readonly levelMeanAdu: number;
  /** Clipped standard deviation of the used overscan pixels about the fitted level (ADU). */
  readonly residualNoiseAdu: number;
  /** Serial overscan columns used per row. */
  readonly columnsUsed: number;
  /** Rows rejected by the poly fit (0 for the other fits). */
  readonly rowsRejected: number;
}

export interface OverscanResult extends OverscanLevels {
  /** The amplifier's data region with the overscan level subtracted, in raw orientation (ADU). */
  readonly image: Plane;
}

function checkBox(b: Box, raw: RawPlane, what: string, amp: string): void {
  if (b.x0 < 0 || b.y0 < 0 || b.x1 > raw.width || b.y1 > raw.height || b.x1 < b.x0 || b.y1 < b.y0) {
    throw new InvalidInputError(
      `amp ${amp}: ${what} box [${b.x0}:${b.x1},${b.y0}:${b.y1}] does not fit the ${raw.width}x${raw.height} raw HDU`,
    );
  }
}

/** Overscan correction: the levels, and the trimmed amplifier with them subtracted. */
export function runOverscan(input: OverscanInput, cfg: OverscanConfig = makeOverscanConfig()): OverscanResult {
  const levels = measureOverscan(input, cfg);
  const { amp, raw } = input;
  const data = amp.rawData;
  const W = raw.width;
  const src = raw.data;
  const w = data.x1 - data.x0;
  const h = data.y1 - data.y0;
  const out = new Float32Array(w * h);
  const rowLevels = levels.rowLevelsAdu;
  const colLevel = levels.columnLevelsAdu;
  for (let j = 0; j < h; j++) {
    const lv = rowLevels[j];
    const sBase = (data.y0 + j) * W + data.x0;
    const oBase = j * w;
    if (colLevel) {
      for (let i = 0; i < w; i++) out[oBase + i] = src[sBase + i] - lv - colLevel[i];
    } else {
      for (let i = 0; i < w; i++) out[oBase + i] = src[sBase + i] - lv;
    }
  }
  return { ...levels, image: { width: w, height: h, data: out } };
}

/** Measures the overscan levels of one amplifier (no pass over the data region). */
export function measureOverscan(input: OverscanInput, cfg: OverscanConfig = makeOverscanConfig()): OverscanLevels {
  const { amp, raw } = input;
  const W = raw.width;
  const src = raw.data;
  if (src.length !== raw.width * raw.height) {
    throw new InvalidInputError(`amp ${amp.name}: raw HDU has ${src.length} pixels, expected ${raw.width}x${raw.height}`);
  }
  const data = amp.rawData;
  const serial = amp.serialOverscan;
  checkBox(data, raw, 'data', amp.name);
  checkBox(serial, raw, 'serial overscan', amp.name);

  // Serial columns used: those away from the data.
  let c0 = serial.x0;
  let c1 = serial.x1;
  if (serial.x0 >= data.x1) c0 += cfg.skipColumns;
  else if (serial.x1 <= data.x0) c1 -= cfg.skipColumns;
  else throw new InvalidInputError(`amp ${amp.name}: serial overscan overlaps the data columns`);
  const m = c1 - c0;
  if (m < 1) {
    throw new InvalidInputError(`amp ${amp.name}: skipping ${cfg.skipColumns} of ${serial.x1 - serial.x0} serial overscan columns leaves none`);
  }

  // Rows whose level is needed: the data rows, plus the parallel overscan rows when used.
  const par = amp.parallelOverscan;
  const usePar = cfg.doParallelOverscan && par.x1 > par.x0 && par.y1 > par.y0;
  if (usePar) checkBox(par, raw, 'parallel overscan', amp.name);
  const rowLo = usePar ? Math.min(data.y0, par.y0) : data.y0;
  const rowHi = usePar ? Math.max(data.y1, par.y1) : data.y1;
  const nRows = rowHi - rowLo;

  // 1. Per-row medians.
  const scratch = new Float32Array(Math.max(m, 1));
  const counts = new Int32Array(HISTOGRAM_BINS);
  const rowMed = new Float64Array(nRows);
  for (let r = 0; r < nRows; r++) rowMed[r] = rowMedian(src, (rowLo + r) * W + c0, m, scratch, counts);

  // 2. Robust pixel noise about the row medians (sets the clipping window), on up to ~16k pixels.
  const rowStep = Math.max(1, Math.floor((m * nRows) / 16384));
  const dev = new Float32Array(m * Math.ceil(nRows / rowStep));
  let nDev = 0;
  for (let r = 0; r < nRows; r += rowStep) {
    const base = (rowLo + r) * W + c0;
    const med = rowMed[r];
    for (let c = 0; c < m; c++) dev[nDev++] = Math.abs(src[base + c] - med);
  }
  const sigmaPix = MAD_TO_SIGMA * medianInPlace(dev, nDev);
  const halfWindow = Math.max(cfg.clipSigma * sigmaPix, 1);

  // 3. Row levels.
  const level = new Float64Array(nRows);
  let rowsRejected = 0;
  if (cfg.fit === 'median-per-row') {
    level.set(rowMed);
  } else {
    for (let r = 0; r < nRows; r++) {
      const base = (rowLo + r) * W + c0;
      const lo = rowMed[r] - halfWindow;
      const hi = rowMed[r] + halfWindow;
      let s = 0;
      let n = 0;
      for (let c = 0; c < m; c++) {
        const v = src[base + c];
        if (v >= lo && v <= hi) {
          s += v;
          n++;
        }
      }
      level[r] = n > 0 ? s / n : rowMed[r];
    }
    if (cfg.fit === 'poly') rowsRejected = polyFitInPlace(level, cfg.polyOrder, cfg.clipSigma);
  }
  if (cfg.fit !== 'poly' && cfg.smoothRows > 1) runningMeanInPlace(level, cfg.smoothRows);

  // 4. Parallel overscan: per-column median of (pixel - row level) in the rows away from the data.
  const w = data.x1 - data.x0;
  const h = data.y1 - data.y0;
  let colLevel: Float32Array | null = null;
  if (usePar) {
    let p0 = par.y0;
    let p1 = par.y1;
    if (par.y0 >= data.y1) p0 += cfg.skipParallelRows;
    else if (par.y1 <= data.y0) p1 -= cfg.skipParallelRows;
    const np = p1 - p0;
    if (np < 1) {
      throw new InvalidInputError(`amp ${amp.name}: skipping ${cfg.skipParallelRows} parallel overscan rows leaves none`);
    }
    if (par.x0 > data.x0 || par.x1 < data.x1) {
      throw new InvalidInputError(`amp ${amp.name}: parallel overscan does not span the data columns`);
    }
    colLevel = new Float32Array(w);
    const col = new Float32Array(np);
    for (let i = 0; i < w; i++) {
      const x = data.x0 + i;
      for (let r = 0; r < np; r++) col[r] = src[(p0 + r) * W + x] - level[p0 + r - rowLo];
      colLevel[i] = medianInPlace(col, np);
    }
  }

  const rowLevels = new Float32Array(h);
  let levelSum = 0;
  for (let j = 0; j < h; j++) {
    const lv = level[data.y0 + j - rowLo];
    rowLevels[j] = lv;
    levelSum += lv;
  }

  // 5. Residual noise of the used serial overscan about the subtracted level, over the data rows:
  // standard deviation after clipping at clipSigma of the robust pixel sigma.
  let s1 = 0;
  let s2 = 0;
  let nk = 0;
  for (let j = 0; j < h; j++) {
    const base = (data.y0 + j) * W + c0;
    const lv = level[data.y0 + j - rowLo];
    for (let c = 0; c < m; c++) {
      const d = src[base + c] - lv;
      if (d >= -halfWindow && d <= halfWindow) {
        s1 += d;
        s2 += d * d;
        nk++;
      }
    }
  }
  const mean = nk > 0 ? s1 / nk : 0;
  const residualNoiseAdu = nk > 1 ? Math.sqrt(Math.max(0, (s2 - nk * mean * mean) / (nk - 1)) / (sigmaPix > 0 ? clipVarianceFactor(halfWindow / sigmaPix) : 1)) : NaN;

  return {
    rowLevelsAdu: rowLevels,
    columnLevelsAdu: colLevel,
    levelMeanAdu: levelSum / h,
    residualNoiseAdu,
    columnsUsed: m,
    rowsRejected,
  };
}

/** Bins of the histogram rowMedian counts a row's values in (centred on its first value). */
const HISTOGRAM_BINS = 1024;
/** Integers up to this magnitude are exact in float32. */
const F32_EXACT = 1 << 24;

/**
 * The median of src[start … start + m) as medianInPlace gives it for the values as float32 (the
 * middle value, or the mean of the two middle values). The raw values are integers spread over a
 * few ADU: counted in a histogram (all zero, and left so) when they all fall within its bins
 * around the first value, the order statistics are found without sorting; otherwise (or beyond
 * float32's exact integers) they are selected in `scratch`.
 */
function rowMedian(src: Int32Array, start: number, m: number, scratch: Float32Array, counts: Int32Array): number {
  const size = counts.length;
  const half = size >> 1;
  // Value v is counted in bin v + base.
  const base = half - src[start];
  let lo = size;
  let hi = -1;
  let c = 0;
  for (; c < m; c++) {
    const q = src[start + c] + base;
    if (q < 0 || q >= size) break;
    counts[q]++;
    if (q < lo) lo = q;
    if (q > hi) hi = q;
  }
  if (c < m || Math.abs(src[start]) > F32_EXACT - half) {
    for (let q = lo; q <= hi; q++) counts[q] = 0;
    for (let j = 0; j < m; j++) scratch[j] = src[start + j];
    return medianInPlace(scratch, m);
  }
  // The bin of the k-th smallest value (0-based), and for even m that of the (k − 1)-th.
  const k = m >>> 1;
  let below = 0;
  let upper = lo;
  while (below + counts[upper] <= k) below += counts[upper++];
  let lower = upper;
  if ((m & 1) === 0 && below === k) {
    lower = upper - 1;
    while (counts[lower] === 0) lower--;
  }
  for (let q = lo; q <= hi; q++) counts[q] = 0;
  return m & 1 ? upper - base : 0.5 * (upper - base + (lower - base));
}

/**
 * Variance of a unit Gaussian truncated at ±k: 1 − 2k·φ(k)/(2Φ(k) − 1). Dividing a clipped
 * variance by it gives back the Gaussian variance.
 */
function clipVarianceFactor(k: number): number {
  const phi = Math.exp(-0.5 * k * k) / Math.sqrt(2 * Math.PI);
  const inside = erfApprox(k / Math.SQRT2);
  return 1 - (2 * k * phi) / inside;
}

function erfApprox(x: number): number {
  // Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), x >= 0.
  const t = 1 / (1 + 0.3275911 * x);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return y;
}

/** Centred running mean with window `win` (odd); the window shrinks at the ends. */
function runningMeanInPlace(v: Float64Array, win: number): void {
  const n = v.length;
  const half = win >> 1;
  const prefix = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) prefix[i + 1] = prefix[i] + v[i];
  for (let i = 0; i < n; i++) {
    const a = Math.max(0, i - half);
    const b = Math.min(n, i + half + 1);
    v[i] = (prefix[b] - prefix[a]) / (b - a);
  }
}

/**
 * Replaces v by a least-squares polynomial in the index (scaled to [-1, 1]) of the given order,
 * rejecting points more than clip sigma from the fit for up to 3 iterations. Returns the number
 * of points rejected in the final fit.
 */
export function polyFitInPlace(v: Float64Array, order: number, clip: number): number {
  const n = v.length;
  const nc = Math.min(order + 1, n);
  const use = new Uint8Array(n).fill(1);
  const coef = new Float64Array(nc);
  const scale = n > 1 ? 2 / (n - 1) : 0;
  const basis = new Float64Array(nc);
  let rejected = 0;
  for (let it = 0; it < 4; it++) {
    const ata = new Float64Array(nc * nc);
    const atb = new Float64Array(nc);
    for (let i = 0; i < n; i++) {
      if (!use[i]) continue;
      legendre(i * scale - 1, basis);
      for (let a = 0; a < nc; a++) {
        atb[a] += basis[a] * v[i];
        for (let b = 0; b < nc; b++) ata[a * nc + b] += basis[a] * basis[b];
      }
    }
    solveInPlace(ata, atb, nc, coef);
    // Residual scatter of the used points, then reject.
    let s2 = 0;
    let nu = 0;
    for (let i = 0; i < n; i++) {
      if (!use[i]) continue;
      const d = v[i] - evalLegendre(coef, i * scale - 1, basis);
      s2 += d * d;
      nu++;
    }
    const sd = nu > nc ? Math.sqrt(s2 / (nu - nc)) : 0;
    if (it === 3 || !(sd > 0)) break;
    let changed = 0;
    rejected = 0;
    for (let i = 0; i < n; i++) {
      const d = Math.abs(v[i] - evalLegendre(coef, i * scale - 1, basis));
      const keep = d <= clip * sd ? 1 : 0;
      if (keep !== use[i]) changed++;
      use[i] = keep;
      if (!keep) rejected++;
    }
    if (changed === 0) break;
  }
  for (let i = 0; i < n; i++) v[i] = evalLegendre(coef, i * scale - 1, basis);
  return rejected;
}

function legendre(t: number, out: Float64Array): void {
  const nc = out.length;
  if (nc > 0) out[0] = 1;
  if (nc > 1) out[1] = t;
  for (let k = 2; k < nc; k++) out[k] = ((2 * k - 1) * t * out[k - 1] - (k - 1) * out[k - 2]) / k;
}

function evalLegendre(coef: Float64Array, t: number, scratch: Float64Array): number {
  legendre(t, scratch);
  let s = 0;
  for (let k = 0; k < coef.length; k++) s += coef[k] * scratch[k];
  return s;
}

/** Solves the nc x nc system a x = b by Gaussian elimination with partial pivoting. */
function solveInPlace(a: Float64Array, b: Float64Array, nc: number, x: Float64Array): void {
  for (let col = 0; col < nc; col++) {
    let piv = col;
    for (let r = col + 1; r < nc; r++) if (Math.abs(a[r * nc + col]) > Math.abs(a[piv * nc + col])) piv = r;
    if (piv !== col) {
      for (let c = 0; c < nc; c++) {
        const t = a[col * nc + c];
        a[col * nc + c] = a[piv * nc + c];
        a[piv * nc + c] = t;
      }
      const t = b[col];
      b[col] = b[piv];
      b[piv] = t;
    }
    const d = a[col * nc + col];
    if (d === 0) continue;
    for (let r = col + 1; r < nc; r++) {
      const f = a[r * nc + col] / d;
      if (f === 0) continue;
      for (let c = col; c < nc; c++) a[r * nc + c] -= f * a[col * nc + c];
      b[r] -= f * b[col];
    }
  }
  for (let r = nc - 1; r >= 0; r--) {
    let s = b[r];
    for (let c = r + 1; c < nc; c++) s -= a[r * nc + c] * x[c];
    const d = a[r * nc + r];
    x[r] = d !== 0 ? s / d : 0;
  }
}
