/**
 * The Alard–Lupton (1998) kernel basis and the spatially varying matching kernel built on it.
 *
 * Raw basis: B_{a,p,q}(u, v) = g_a(u) u^p · g_a(v) v^q for Gaussians g_a(t) = exp(−t²/2σ_a²) of
 * a few widths and p + q ≤ d_a, on the pixel offsets −r ≤ u, v ≤ r. Every raw basis function is
 * separable, so convolving an image with it is two 1-D passes.
 *
 * Renormalised basis (as in LSST's ip_diffim): b_0 = B_0 / ΣB_0 sums to one, and every other
 * b_i = (B_i − (ΣB_i) b_0) / N_i sums to zero (N_i makes ‖b_i‖₂ = 1, which keeps the normal
 * equations well conditioned). The kernel K = Σ a_i b_i then has sum a_0 exactly: the
 * photometric scale between the images is one coefficient, and the fit can hold it constant
 * over the image while the shape varies.
 *
 * Spatial model: a_i(x, y) = Σ_j α_ij P_j(x̂, ŷ), monomials of total degree ≤ the spatial degree
 * in coordinates scaled to [−1, 1] over the image (x̂ = (2x − (W − 1)) / (W − 1)). The
 * differential background is another such polynomial.
 *
 * Convolution convention: (K ⊗ I)(x, y) = Σ_{u,v} K(u, v) I(x − u, y − v); a kernel image holds
 * K(u, v) at [(v + r)(2r + 1) + (u + r)].
 */

export interface AlBasis {
  /** Kernel half-width r: the kernel is (2r + 1) × (2r + 1). */
  readonly halfWidthPx: number;
  /** 2r + 1. */
  readonly size: number;
  readonly sigmasPx: readonly number[];
  readonly degrees: readonly number[];
  /** Number of basis functions. */
  readonly count: number;
  /** Per basis function: its Gaussian's index and the powers of u and v. */
  readonly gauss: Int32Array;
  readonly powU: Int32Array;
  readonly powV: Int32Array;
  /** Largest degree + 1: the stride of `profiles` per Gaussian. */
  readonly maxPowers: number;
  /** 1-D factors: profiles[((a · maxPowers) + p) · size + (t + r)] = g_a(t) t^p. */
  readonly profiles: Float64Array;
  /**
   * Per 1-D factor (index a · maxPowers + p): the first and last taps (0-based, t = offset + r)
   * whose magnitude exceeds 1e-13 of the factor's largest; the others are treated as zero.
   */
  readonly tapLo: Int32Array;
  readonly tapHi: Int32Array;
  /** Σ B_i over the kernel footprint. */
  readonly rawSums: Float64Array;
  /** N_i (1 / ΣB_0 for i = 0): b_i = (B_i − rawSums[i] · b_0) / norms[i] for i > 0, b_0 = B_0 · norms[0]. */
  readonly norms: Float64Array;
  /** The renormalised basis images, count × size², row-major per image. */
  readonly images: Float64Array;
}

/**
 * The Alard–Lupton basis for Gaussians of `sigmasPx` with polynomial degrees `degrees` (one per
 * Gaussian), on a (2r + 1)² footprint. Basis 0 is the first Gaussian without polynomial.
 */
export function makeAlBasis(halfWidthPx: number, sigmasPx: readonly number[], degrees: readonly number[]): AlBasis {
  const r = halfWidthPx;
  if (!Number.isInteger(r) || r < 1) throw new RangeError(`AL basis: half-width ${r} must be a positive integer`);
  if (sigmasPx.length === 0 || sigmasPx.length !== degrees.length) throw new RangeError('AL basis: one degree per Gaussian is needed');
  const size = 2 * r + 1;
  const maxPowers = Math.max(...degrees) + 1;
  const nG = sigmasPx.length;
  const profiles = new Float64Array(nG * maxPowers * size);
  for (let a = 0; a < nG; a++) {
    const s = sigmasPx[a];
    if (!(s > 0)) throw new RangeError(`AL basis: Gaussian sigma ${s} must be positive`);
    for (let p = 0; p < maxPowers; p++) {
      for (let t = -r; t <= r; t++) profiles[(a * maxPowers + p) * size + t + r] = Math.exp((-t * t) / (2 * s * s)) * t ** p;
    }
  }
  const tapLo = new Int32Array(nG * maxPowers);
  const tapHi = new Int32Array(nG * maxPowers);
  for (let f = 0; f < nG * maxPowers; f++) {
    let mx = 0;
    for (let t = 0; t < size; t++) mx = Math.max(mx, Math.abs(profiles[f * size + t]));
    let lo = 0;
    let hi = size - 1;
    while (lo < hi && Math.abs(profiles[f * size + lo]) <= 1e-13 * mx) lo++;
    while (hi > lo && Math.abs(profiles[f * size + hi]) <= 1e-13 * mx) hi--;
    tapLo[f] = lo;
    tapHi[f] = hi;
  }
  const gauss: number[] = [];
  const powU: number[] = [];
  const powV: number[] = [];
  for (let a = 0; a < nG; a++) {
    for (let d = 0; d <= degrees[a]; d++) {
      for (let q = 0; q <= d; q++) {
        gauss.push(a);
        powU.push(d - q);
        powV.push(q);
      }
    }
  }
  const count = gauss.length;
  const n2 = size * size;
  const rawSums = new Float64Array(count);
  const norms = new Float64Array(count);
  const images = new Float64Array(count * n2);
  const raw = new Float64Array(n2);
  for (let i = 0; i < count; i++) {
    const pu = profiles.subarray((gauss[i] * maxPowers + powU[i]) * size, (gauss[i] * maxPowers + powU[i] + 1) * size);
    const pv = profiles.subarray((gauss[i] * maxPowers + powV[i]) * size, (gauss[i] * maxPowers + powV[i] + 1) * size);
    let su = 0;
    let sv = 0;
    for (let t = 0; t < size; t++) {
      su += pu[t];
      sv += pv[t];
    }
    rawSums[i] = su * sv;
    for (let v = 0; v < size; v++) for (let u = 0; u < size; u++) raw[v * size + u] = pv[v] * pu[u];
    const img = images.subarray(i * n2, (i + 1) * n2);
    if (i === 0) {
      norms[0] = 1 / rawSums[0];
      for (let k = 0; k < n2; k++) img[k] = raw[k] * norms[0];
      continue;
    }
    const b0 = images.subarray(0, n2);
    let ss = 0;
    for (let k = 0; k < n2; k++) {
      const v = raw[k] - rawSums[i] * b0[k];
      img[k] = v;
      ss += v * v;
    }
    const nrm = Math.sqrt(ss);
    if (!(nrm > 0)) throw new RangeError(`AL basis: function ${i} vanishes on the footprint (half-width ${r} too small for sigma ${sigmasPx[gauss[i]]})`);
    norms[i] = nrm;
    for (let k = 0; k < n2; k++) img[k] /= nrm;
  }
  return {
    halfWidthPx: r,
    size,
    sigmasPx: Object.freeze([...sigmasPx]),
    degrees: Object.freeze([...degrees]),
    count,
    gauss: Int32Array.from(gauss),
    powU: Int32Array.from(powU),
    powV: Int32Array.from(powV),
    maxPowers,
    profiles,
    tapLo,
    tapHi,
    rawSums,
    norms,
    images,
  };
}

/** Number of monomials of total degree ≤ d in two variables. */
export function polynomialTermCount(degree: number): number {
  return degree < 0 ? 0 : ((degree + 1) * (degree + 2)) / 2;
}

/** The monomials x^(n−j) y^j for n = 0..degree, j = 0..n, in that order, into out. */
export function polynomialTerms(degree: number, x: number, y: number, out: Float64Array): Float64Array {
  let k = 0;
  for (let n = 0; n <= degree; n++) {
    for (let j = 0; j <= n; j++) out[k++] = x ** (n - j) * y ** j;
  }
  return out;
}

/** A fitted, spatially varying matching kernel (plain data). */
export interface MatchingKernel {
  readonly basis: AlBasis;
  /** Image size the spatial coordinates are scaled over. */
  readonly width: number;
  readonly height: number;
  readonly spatialDegree: number;
  /**
   * Spatial coefficients α, basis.count × polynomialTermCount(spatialDegree), row-major: a_i(x, y)
   * = Σ_j coefficients[i · nTerms + j] P_j(x̂, ŷ). With a constant kernel sum only j = 0 is used
   * for basis 0.
   */
  readonly coefficients: Float64Array;
  /** Degree of the differential-background polynomial (−1: none). */
  readonly backgroundDegree: number;
  /** Its coefficients, over the same scaled coordinates. */
  readonly backgroundCoefficients: Float64Array;
}

/** Scaled coordinate x̂ ∈ [−1, 1] of pixel coordinate x over an axis of `size` pixels. */
export function scaledCoordinate(x: number, size: number): number {
  const half = Math.max(1, (size - 1) / 2);
  return (x - (size - 1) / 2) / half;
}

/** The basis coefficients a_i at pixel (x, y), into out (length basis.count). */
export function kernelCoefficientsAt(k: MatchingKernel, x: number, y: number, out: Float64Array = new Float64Array(k.basis.count)): Float64Array {
  const nT = polynomialTermCount(k.spatialDegree);
  const terms = polynomialTerms(k.spatialDegree, scaledCoordinate(x, k.width), scaledCoordinate(y, k.height), new Float64Array(nT));
  for (let i = 0; i < k.basis.count; i++) {
    let s = 0;
    for (let j = 0; j < nT; j++) s += k.coefficients[i * nT + j] * terms[j];
    out[i] = s;
  }
  return out;
}

/** The kernel image at pixel (x, y): size² values, K(u, v) at [(v + r) · size + (u + r)]. */
export function realizeKernel(k: MatchingKernel, x: number, y: number, out: Float64Array = new Float64Array(k.basis.size ** 2)): Float64Array {
  const { count, images, size } = k.basis;
  const n2 = size * size;
  const a = kernelCoefficientsAt(k, x, y);
  out.fill(0);
  for (let i = 0; i < count; i++) {
    const ai = a[i];
    if (ai === 0) continue;
    const off = i * n2;
    for (let p = 0; p < n2; p++) out[p] += ai * images[off + p];
  }
  return out;
}

/** The kernel sum (photometric scale, convolved image → the other) at pixel (x, y). */
export function kernelSumAt(k: MatchingKernel, x: number, y: number): number {
  const nT = polynomialTermCount(k.spatialDegree);
  const terms = polynomialTerms(k.spatialDegree, scaledCoordinate(x, k.width), scaledCoordinate(y, k.height), new Float64Array(nT));
  let s = 0;
  for (let j = 0; j < nT; j++) s += k.coefficients[j] * terms[j];
  return s;
}

/** The differential background at pixel (x, y) (0 without a background term). */
export function backgroundAt(k: MatchingKernel, x: number, y: number): number {
  if (k.backgroundDegree < 0) return 0;
  const nT = polynomialTermCount(k.backgroundDegree);
  const terms = polynomialTerms(k.backgroundDegree, scaledCoordinate(x, k.width), scaledCoordinate(y, k.height), new Float64Array(nT));
  let s = 0;
  for (let j = 0; j < nT; j++) s += k.backgroundCoefficients[j] * terms[j];
  return s;
}
