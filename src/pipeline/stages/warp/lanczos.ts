/**
 * Lanczos resampling kernel and its lookup table.
 *
 * L_a(d) = sinc(d) sinc(d / a) for |d| < a, 0 beyond (sinc(d) = sin(πd) / (πd)).
 *
 * Convention (one axis): a sample at position u (pixel centres at integers) with
 * i0 = floor(u) and f = u − i0 ∈ [0, 1) uses the 2a taps i0 − a + 1 … i0 + a; tap t (0-based)
 * is pixel i0 − a + 1 + t at distance d = t − a + 1 − f from u. The table holds the weights
 * of every tap for f = k / steps, k = 0 … steps (the last row, f = 1, lets callers round f to
 * the nearest step without moving i0), each row normalised to sum 1, so a constant image stays
 * exactly constant. At k = 0 (and k = steps) the row is exactly a delta: on-grid samples copy
 * the pixel.
 */
export interface LanczosTable {
  /** a: the kernel reaches a pixels on either side. */
  readonly order: number;
  /** Fractional offsets per pixel: row k is f = k / steps. */
  readonly steps: number;
  /** 2a. */
  readonly taps: number;
  /** (steps + 1) × taps normalised weights, row-major. */
  readonly weights: Float64Array;
  /** The squares of `weights` (variance propagation). */
  readonly weightsSq: Float64Array;
  /** |weights|. */
  readonly weightsAbs: Float64Array;
  /** Per row: Σ w² and max |w|. */
  readonly sumSq: Float64Array;
  readonly maxAbs: Float64Array;
}

/** The (unnormalised) Lanczos kernel of order a at distance d. */
export function lanczos(a: number, d: number): number {
  const ad = Math.abs(d);
  if (ad >= a) return 0;
  if (ad < 1e-12) return 1;
  const r = Math.round(ad);
  // sin(πn) is not exactly 0 in floating point: integer distances are zeros of the kernel.
  if (Math.abs(ad - r) < 1e-12) return 0;
  const px = Math.PI * ad;
  return (a * Math.sin(px) * Math.sin(px / a)) / (px * px);
}

export function makeLanczosTable(order: number, steps: number): LanczosTable {
  if (!Number.isInteger(order) || order < 1) throw new RangeError(`lanczos order must be a positive integer, got ${order}`);
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`lanczos table steps must be a positive integer, got ${steps}`);
  const n = 2 * order;
  const rows = steps + 1;
  const weights = new Float64Array(rows * n);
  const weightsSq = new Float64Array(rows * n);
  const weightsAbs = new Float64Array(rows * n);
  const sumSq = new Float64Array(rows);
  const maxAbs = new Float64Array(rows);
  for (let k = 0; k < rows; k++) {
    const f = k / steps;
    let sum = 0;
    for (let t = 0; t < n; t++) {
      const w = lanczos(order, t - order + 1 - f);
      weights[k * n + t] = w;
      sum += w;
    }
    let s2 = 0;
    let m = 0;
    for (let t = 0; t < n; t++) {
      const w = weights[k * n + t] / sum;
      weights[k * n + t] = w;
      weightsSq[k * n + t] = w * w;
      weightsAbs[k * n + t] = Math.abs(w);
      s2 += w * w;
      m = Math.max(m, Math.abs(w));
    }
    sumSq[k] = s2;
    maxAbs[k] = m;
  }
  return { order, steps, taps: n, weights, weightsSq, weightsAbs, sumSq, maxAbs };
}
