import { releaseWasmInstance, wasmInstance, type WasmInstance } from './load.ts';

/**
 * The numeric loops of PSF matching (assembly/matching.ts; pipeline/stages/psf-matching), in
 * float64. Pointers are byte offsets into the instance's memory (its arena).
 *
 * Stamps: sw × sw pixels with a row stride swp = sw rounded up to even (npixp = sw · swp values);
 * the cut-out of the convolved image has ext = sw + 2r rows of stride cs = swp + 2r, its columns
 * from ext on zero. The stamp's extra column holds finite values; its weights must be zero.
 *
 *   stampNormal: the convolutions of the cut-out `cut` with the Alard–Lupton basis (kernel.ts:
 *     the 1-D factors `prof`, size = 2r + 1 taps each, renormalised with rawSums and norms) as
 *     the columns of `design` ((count + 1) · npixp, the last column 1), then M = Dᵀ W D (m,
 *     nc × nc, nc = count + 1, both triangles) and b = Dᵀ W y (b, nc) from the per-pixel
 *     `weight` w and `target` w·y. The convolutions follow two plans (`hplan`, nh operations;
 *     `vplan`, nv; 8 int32 each: [src, dst0, coef0, dst1, coef1, odd, R, two]): each applies
 *     the factor coef0 (and coef1 when two ≠ 0, of the same parity) folded about the centre,
 *       out(x) = c_0 · s(x) (even factors only) + Σ_{u=1..R} c_u · (s(x − u) ± s(x + u)),
 *       c_u = prof[coef · size + r + u], − for odd factors,
 *     horizontal operations along the cut-out's rows into the row passes (slot dst at
 *     hbuf + dst · ext · swp values), vertical ones along the columns of the row pass at slot
 *     src into the design's column dst. `wcol`: 2 · npixp scratch.
 *   spatialNormal: the spatial fit's normal equations G (nU × nU, both triangles) and g (nU)
 *     over the stamps s with active[s] ≠ 0 (bytes), whose normal equations are at
 *     mats + s · nc² and rhs + s · nc. Stamp s's terms are terms[s · nTT …] (nTT = nT + nBg):
 *     its local column c < nb = nc − 1 stands for the unknowns unknownOf[c · nT + j] (int32;
 *     −1: none) with the weights t_j, the background column nb for bg0 + m with the weights
 *     t_{nT + m}:
 *       G[u(c1, j), u(c2, l)] = Σ_s t_j t_l M_s[c1, c2],  g[u(c, j)] = Σ_s t_j b_s[c]
 *     (summed per pair of terms over the stamps first, in `acc`: spatialScratch(nc, nT, nBg)
 *     values).
 *   spatialChi2: for every stamp, its local coefficients a (nc, scratch) from the solution `sol`
 *     through the same expansion (a_c = Σ_j t_j sol[u(c, j)]), and χ² = yᵀWy − 2 aᵀb + aᵀMa (at
 *     least 0, yᵀWy = yWy[s]) into chi2[s].
 *   localFits: each stamp's own fit of its normal equations (mats, rhs, yWy as above) by
 *     pipeline/lib/dense-symmetric.ts's PivotedCholesky (the same operations, so the same
 *     values; pivot threshold rcond): the solution a, χ² as above and dof = max(1, npix − rank);
 *     out[3s], out[3s + 1], out[3s + 2]: a_0, its error √((A⁻¹)_00 · max(1, χ²/dof)) (NaN when
 *     unknown 0 is dropped), 1 when unknown 0 is dropped (else 0). scratch: nc² + 6 · nc values.
 *   spatialSolve: G (n × n) factorised the same way and sol = G⁻¹ g (the basic solution:
 *     dropped unknowns zero); out[0]: 1 when unknown k0 is dropped (else 0), out[1]: (G⁻¹)_{k0 k0}
 *     (NaN when dropped). Returns the rank. scratch: n² + 5 · n values.
 */
export interface MatchingKernels {
  stampNormal(
    cut: number,
    cs: number,
    sw: number,
    swp: number,
    r: number,
    prof: number,
    size: number,
    hplan: number,
    nh: number,
    vplan: number,
    nv: number,
    hbuf: number,
    count: number,
    rawSums: number,
    norms: number,
    weight: number,
    target: number,
    design: number,
    wcol: number,
    m: number,
    b: number,
  ): void;
  spatialNormal(
    mats: number,
    rhs: number,
    nStamps: number,
    active: number,
    nc: number,
    terms: number,
    nT: number,
    nBg: number,
    unknownOf: number,
    bg0: number,
    acc: number,
    G: number,
    g: number,
    nU: number,
  ): void;
  spatialScratch(nc: number, nT: number, nBg: number): number;
  spatialChi2(mats: number, rhs: number, yWy: number, nStamps: number, nc: number, terms: number, nT: number, nBg: number, unknownOf: number, bg0: number, sol: number, a: number, chi2: number): void;
  localFits(mats: number, rhs: number, yWy: number, nStamps: number, nc: number, npix: number, rcond: number, scratch: number, out: number): void;
  spatialSolve(G: number, n: number, rcond: number, g: number, k0: number, scratch: number, sol: number, out: number): number;
}

export function matchingKernels(): WasmInstance<MatchingKernels> {
  return wasmInstance<MatchingKernels>('matching');
}

/** Lets this thread's instance go (with its memory), e.g. after a fit that needed a large arena. */
export function releaseMatchingKernels(): void {
  releaseWasmInstance('matching');
}
