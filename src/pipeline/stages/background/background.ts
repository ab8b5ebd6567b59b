import { z } from 'zod';
import { AlgorithmError } from '../../../core/errors.ts';
import { MaskBit, type MaskedImage } from '../../../core/image.ts';
import { parseConfig } from '../../config.ts';
import { IQR_TO_SIGMA } from '../../lib/stats.ts';
import { filterKernels } from '../../../wasm/filters.ts';

/**
 * Background: the image is cut into meshes; each mesh's level is a sigma-clipped median (or mean)
 * of its unmasked pixels; the mesh grid is interpolated bilinearly between mesh centres
 * (extrapolated linearly beyond the outer centres) to full resolution and subtracted.
 *
 * The clipped statistics are lib/stats.ts's sigmaClippedStatsInPlace, computed by the `filters`
 * WebAssembly module (clippedStats: exact order statistics by radix selection) on samples
 * written straight into its memory.
 */
export const BackgroundConfig = z.object({
  /** Mesh size (pixels); the image is cut into round(size / meshSizePx) meshes per axis. */
  meshSizePx: z.number().int().min(8).default(128),
  clipSigma: z.number().positive().default(3),
  clipIterations: z.number().int().min(0).max(10).default(3),
  /** Statistic of the clipped pixels. */
  statistic: z.enum(['median', 'mean']).default('median'),
  /** Pixels with these mask bits are not used. */
  ignoreBits: z.number().int().min(0).default(MaskBit.SAT | MaskBit.BAD | MaskBit.CR | MaskBit.NO_DATA | MaskBit.DETECTED),
  /** Meshes with fewer usable pixels than this fraction are filled from their neighbours. */
  minGoodFraction: z.number().min(0).max(1).default(0.1),
  /**
   * At most about this many pixels per mesh enter the statistics, on a regular sub-grid
   * (every s-th pixel of every s-th row); 0 uses every pixel.
   */
  maxSamplesPerMesh: z.number().int().min(0).default(4096),
});
export type BackgroundConfig = z.output<typeof BackgroundConfig>;
export type BackgroundConfigInput = z.input<typeof BackgroundConfig>;

export function makeBackgroundConfig(input: BackgroundConfigInput = {}): BackgroundConfig {
  return parseConfig(BackgroundConfig, input, 'background');
}

/** Mesh grid of a background model: values at the mesh centres, row-major ny x nx. */
export interface BackgroundModel {
  readonly width: number;
  readonly height: number;
  readonly nx: number;
  readonly ny: number;
  /** Mesh centres (pixel coordinates). */
  readonly centersX: Float64Array;
  readonly centersY: Float64Array;
  readonly values: Float32Array;
}

export interface BackgroundResult {
  /** Background-subtracted image; mask and variance are the input's arrays (shared, not copied). */
  readonly exposure: MaskedImage;
  readonly model: BackgroundModel;
  /** Mean of the mesh values (electrons per pixel). */
  readonly meanLevel: number;
  /** Standard deviation of the mesh values about their mean. */
  readonly rmsLevel: number;
  /** Meshes filled from their neighbours for lack of usable pixels. */
  readonly meshesFilled: number;
}

/** Values per strip of the subtraction (in the module's memory). */
const SUBTRACT_STRIP_VALUES = 1 << 18;

function edges(size: number, n: number): Int32Array {
  const e = new Int32Array(n + 1);
  for (let i = 0; i <= n; i++) e[i] = Math.round((i * size) / n);
  return e;
}

export interface BackgroundOptions {
  /** Subtract into the input image (the caller owns it) instead of a new one. */
  readonly inPlace?: boolean;
}

export function runBackground(input: MaskedImage, cfg: BackgroundConfig = makeBackgroundConfig(), opts: BackgroundOptions = {}): BackgroundResult {
  const { width: W, height: H, image, mask } = input;
  const nx = Math.max(1, Math.round(W / cfg.meshSizePx));
  const ny = Math.max(1, Math.round(H / cfg.meshSizePx));
  const ex = edges(W, nx);
  const ey = edges(H, ny);
  let maxCell = 0;
  for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) maxCell = Math.max(maxCell, (ex[i + 1] - ex[i]) * (ey[j + 1] - ey[j]));
  // Sampling step (the same for every mesh) and offset; a mesh's centre is the mean position of
  // its samples, so sampling does not shift the model.
  const step = cfg.maxSamplesPerMesh > 0 ? Math.max(1, Math.ceil(Math.sqrt(maxCell / cfg.maxSamplesPerMesh))) : 1;
  const off = step >> 1;
  const sampleCentre = (a: number, b: number): number => {
    const n = Math.max(1, Math.ceil((b - a - off) / step));
    return a + off + ((n - 1) * step) / 2;
  };
  const centersX = new Float64Array(nx);
  const centersY = new Float64Array(ny);
  for (let i = 0; i < nx; i++) centersX[i] = sampleCentre(ex[i], ex[i + 1]);
  for (let j = 0; j < ny; j++) centersY[j] = sampleCentre(ey[j], ey[j + 1]);
  const values = new Float32Array(nx * ny);
  const ignore = cfg.ignoreBits;
  const { exports: fk, arena } = filterKernels();
  // At most this many samples per mesh.
  let cap = 0;
  for (let j = 0; j < ny; j++) for (let i = 0; i < nx; i++) cap = Math.max(cap, Math.ceil((ex[i + 1] - ex[i]) / step) * Math.ceil((ey[j + 1] - ey[j]) / step));
  const [samples, keys, work, hist, stats] = arena.layout([
    ['f32', cap],
    ['i32', cap],
    ['i32', 4 * cap],
    ['i32', 8192],
    ['f64', 4],
  ]);
  const scratch = samples.view;

  for (let j = 0; j < ny; j++) {
    for (let i = 0; i < nx; i++) {
      const n = sampleMesh(image, mask, ignore, W, ex[i] + off, ex[i + 1], ey[j] + off, ey[j + 1], step, scratch);
      const tried = Math.max(0, Math.ceil((ex[i + 1] - ex[i] - off) / step)) * Math.max(0, Math.ceil((ey[j + 1] - ey[j] - off) / step));
      if (n < Math.max(3, cfg.minGoodFraction * tried)) {
        values[j * nx + i] = NaN;
        continue;
      }
      fk.clippedStats(samples.ptr, n, cfg.clipSigma, cfg.clipIterations, IQR_TO_SIGMA, keys.ptr, work.ptr, hist.ptr, stats.ptr);
      values[j * nx + i] = cfg.statistic === 'median' ? stats.view[0] : stats.view[1];
    }
  }
  const filled = fillMissing(values, nx, ny);
  const model: BackgroundModel = { width: W, height: H, nx, ny, centersX, centersY, values };

  // Subtract, evaluating the model row by row (the float32 values evaluateRow gives), in the
  // `filters` module's memory a strip of rows at a time.
  const out = opts.inPlace ? image : new Float32Array(W * H);
  const rowVals = new Float64Array(nx);
  if (nx === 1) {
    for (let y = 0; y < H; y++) {
      rowValues(model, y, rowVals);
      const b = Math.fround(rowVals[0]);
      for (let p = y * W, end = p + W; p < end; p++) out[p] = image[p] - b;
    }
  } else {
    const { idx, wa, wb } = xInterpolation(centersX, W);
    // Column segments sharing their pair of mesh values: x0, x1, left mesh.
    const segList: number[] = [];
    for (let x0 = 0; x0 < W; ) {
      let x1 = x0 + 1;
      while (x1 < W && idx[x1] === idx[x0]) x1++;
      segList.push(x0, x1, idx[x0]);
      x0 = x1;
    }
    const strip = Math.max(1, Math.min(H, Math.floor(SUBTRACT_STRIP_VALUES / W)));
    const [rows, vals, segs, wav, wbv] = arena.layout([
      ['f32', strip * W],
      ['f64', strip * nx],
      ['i32', segList.length],
      ['f64', W],
      ['f64', W],
    ]);
    segs.view.set(segList);
    wav.view.set(wa);
    wbv.view.set(wb);
    for (let y0 = 0; y0 < H; y0 += strip) {
      const y1 = Math.min(H, y0 + strip);
      const n = (y1 - y0) * W;
      rows.view.set(image.subarray(y0 * W, y1 * W));
      for (let y = y0; y < y1; y++) {
        rowValues(model, y, rowVals);
        vals.view.set(rowVals, (y - y0) * nx);
      }
      fk.subtractRows(rows.ptr, W, y1 - y0, vals.ptr, nx, segs.ptr, segList.length / 3, wav.ptr, wbv.ptr);
      out.set(n === rows.view.length ? rows.view : rows.view.subarray(0, n), y0 * W);
    }
  }

  let sum = 0;
  for (let k = 0; k < values.length; k++) sum += values[k];
  const mean = sum / values.length;
  let s2 = 0;
  for (let k = 0; k < values.length; k++) s2 += (values[k] - mean) ** 2;
  return {
    exposure: { width: W, height: H, image: out, mask: input.mask, variance: input.variance },
    model,
    meanLevel: mean,
    rmsLevel: Math.sqrt(s2 / values.length),
    meshesFilled: filled,
  };
}

/**
 * The usable values (not NaN, none of `bits` in the mask) of every step-th pixel of every
 * step-th row from (xs, ys), below x1 and y1, into `out`; returns how many.
 */
function sampleMesh(image: Float32Array, mask: Int32Array, bits: number, W: number, xs: number, x1: number, ys: number, y1: number, step: number, out: Float32Array): number {
  let n = 0;
  for (let y = ys; y < y1; y += step) {
    for (let p = y * W + xs, end = y * W + x1; p < end; p += step) {
      const v = image[p];
      if ((mask[p] & bits) === 0 && v === v) out[n++] = v;
    }
  }
  return n;
}

/** Fills NaN meshes with the mean of their valid 8-neighbours, repeatedly. Returns how many were filled. */
function fillMissing(v: Float32Array, nx: number, ny: number): number {
  let missing = 0;
  for (let k = 0; k < v.length; k++) if (Number.isNaN(v[k])) missing++;
  if (missing === 0) return 0;
  if (missing === v.length) {
    throw new AlgorithmError('background: no mesh has enough unmasked pixels', { meshes: v.length });
  }
  const total = missing;
  const next = new Float32Array(v.length);
  while (missing > 0) {
    next.set(v);
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++) {
        if (!Number.isNaN(v[j * nx + i])) continue;
        let s = 0;
        let c = 0;
        for (let dj = -1; dj <= 1; dj++) {
          for (let di = -1; di <= 1; di++) {
            const jj = j + dj;
            const ii = i + di;
            if (jj < 0 || jj >= ny || ii < 0 || ii >= nx) continue;
            const u = v[jj * nx + ii];
            if (!Number.isNaN(u)) {
              s += u;
              c++;
            }
          }
        }
        if (c > 0) {
          next[j * nx + i] = s / c;
          missing--;
        }
      }
    }
    v.set(next);
  }
  return total;
}

interface XInterp {
  readonly idx: Int32Array;
  readonly t: Float32Array;
  /** 1 − t and t (float64). */
  readonly wa: Float64Array;
  readonly wb: Float64Array;
}

/** For each column: the left mesh index (clamped to [0, nx-2]) and the linear weight (may be < 0 or > 1). */
function xInterpolation(centers: Float64Array, W: number): XInterp {
  const n = centers.length;
  const idx = new Int32Array(W);
  const t = new Float32Array(W);
  const wa = new Float64Array(W);
  const wb = new Float64Array(W);
  let i = 0;
  for (let x = 0; x < W; x++) {
    if (n === 1) {
      idx[x] = 0;
      t[x] = 0;
    } else {
      while (i < n - 2 && x > centers[i + 1]) i++;
      idx[x] = i;
      t[x] = (x - centers[i]) / (centers[i + 1] - centers[i]);
    }
    wa[x] = 1 - t[x];
    wb[x] = t[x];
  }
  return { idx, t, wa, wb };
}

/** The model interpolated (bilinearly: here along y) at row y, one value per mesh column. */
function rowValues(m: BackgroundModel, y: number, rowVals: Float64Array): void {
  const { nx, ny, centersY, values } = m;
  if (ny === 1) {
    for (let i = 0; i < nx; i++) rowVals[i] = values[i];
  } else {
    let j = 0;
    while (j < ny - 2 && y > centersY[j + 1]) j++;
    const t = (y - centersY[j]) / (centersY[j + 1] - centersY[j]);
    const r0 = j * nx;
    const r1 = r0 + nx;
    for (let i = 0; i < nx; i++) rowVals[i] = values[r0 + i] * (1 - t) + values[r1 + i] * t;
  }
}

function evaluateRow(m: BackgroundModel, y: number, xi: XInterp, rowVals: Float64Array, out: Float32Array): void {
  rowValues(m, y, rowVals);
  const W = out.length;
  if (m.nx === 1) {
    out.fill(rowVals[0]);
    return;
  }
  const { idx, wa, wb } = xi;
  for (let x = 0; x < W; x++) {
    const i = idx[x];
    out[x] = rowVals[i] * wa[x] + rowVals[i + 1] * wb[x];
  }
}

/** The full-resolution background of a model (for outputs and tests). */
export function evaluateBackground(model: BackgroundModel): Float32Array {
  const { width: W, height: H } = model;
  const out = new Float32Array(W * H);
  const row = new Float32Array(W);
  const rowVals = new Float64Array(model.nx);
  const interp = xInterpolation(model.centersX, W);
  for (let y = 0; y < H; y++) {
    evaluateRow(model, y, interp, rowVals, row);
    out.set(row, y * W);
  }
  return out;
}
