import type { AlBasis } from './kernel.ts';

/**
 * The order in which the WebAssembly kernel `stampNormal` (wasm/matching.ts) convolves a stamp
 * with the basis: 8 int32 per operation, [src, dst0, coef0, dst1, coef1, odd, R, two].
 *
 * Every 1-D factor g_a(t) t^p (index f = a · maxPowers + p) is even or odd in t, so its
 * correlation folds about the centre into sums and differences of pixel pairs, shared by all
 * the factors of one Gaussian with the same parity; an operation applies two such factors
 * (coef0, coef1; two = 1) or one, out of R taps each side (the widest of the factors' tap
 * ranges, basis.tapLo … basis.tapHi).
 *
 *   horizontal: for each Gaussian a and power p ≤ d_a, the factor (a, p) along the cut-out's
 *     rows into row-pass slot f (src unused);
 *   vertical: for each basis function i (Gaussian a, powers p, q), the factor (a, q) along the
 *     columns of row-pass slot (a, p) into design column i; the functions sharing (a, p) and the
 *     parity of q are paired.
 */
export interface ConvolutionPlan {
  readonly horizontal: Int32Array;
  readonly vertical: Int32Array;
}

export function makeConvolutionPlan(basis: AlBasis): ConvolutionPlan {
  const { halfWidthPx: r, maxPowers, degrees, tapLo, tapHi, gauss, powU, powV, count } = basis;
  const half = (f: number): number => Math.max(0, r - tapLo[f], tapHi[f] - r);
  const horizontal: number[] = [];
  const vertical: number[] = [];
  const push = (out: number[], src: number, pairs: ReadonlyArray<readonly [number, number]>, odd: boolean): void => {
    for (let k = 0; k < pairs.length; k += 2) {
      const [d0, c0] = pairs[k];
      const [d1, c1] = k + 1 < pairs.length ? pairs[k + 1] : pairs[k];
      out.push(src, d0, c0, d1, c1, odd ? 1 : 0, Math.max(half(c0), half(c1)), k + 1 < pairs.length ? 1 : 0);
    }
  };
  for (let a = 0; a < degrees.length; a++) {
    for (const odd of [false, true]) {
      const pairs: Array<readonly [number, number]> = [];
      for (let p = odd ? 1 : 0; p <= degrees[a]; p += 2) pairs.push([a * maxPowers + p, a * maxPowers + p]);
      push(horizontal, 0, pairs, odd);
    }
    for (let p = 0; p <= degrees[a]; p++) {
      for (const odd of [false, true]) {
        const pairs: Array<readonly [number, number]> = [];
        for (let i = 0; i < count; i++) {
          if (gauss[i] === a && powU[i] === p && (powV[i] & 1) === (odd ? 1 : 0)) pairs.push([i, a * maxPowers + powV[i]]);
        }
        push(vertical, a * maxPowers + p, pairs, odd);
      }
    }
  }
  return { horizontal: Int32Array.from(horizontal), vertical: Int32Array.from(vertical) };
}
