/**
 * Synthetic data for the pipeline's tests and benchmarks: pixel-integrated Gaussian stars,
 * noise, and raw amplifier HDUs built from a CCD geometry (the inverse of overscan + assembly).
 * Deterministic for a given seed. Not used by the pipeline itself.
 */
import type { AmpGeometry, CcdGeometry } from '../../instruments/index.ts';
import type { RawPlane } from '../types.ts';
import type { SeededRng } from './rng.ts';

/** erf with |error| < 1.2e-7 (Numerical Recipes erfc Chebyshev fit). */
export function erf(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? 1 - r : r - 1;
}

/**
 * Adds a circular Gaussian star of total `flux`, integrated over each pixel, centred at (x, y)
 * (0-based, pixel centres at integers), to `img` (width w). Optional different sigmas in x and y.
 */
export function addGaussianStar(img: Float32Array, w: number, h: number, x: number, y: number, flux: number, sigma: number, sigmaY = sigma): void {
  const rx = Math.ceil(6 * sigma) + 1;
  const ry = Math.ceil(6 * sigmaY) + 1;
  const ix0 = Math.max(0, Math.floor(x) - rx);
  const ix1 = Math.min(w, Math.floor(x) + rx + 1);
  const iy0 = Math.max(0, Math.floor(y) - ry);
  const iy1 = Math.min(h, Math.floor(y) + ry + 1);
  if (ix0 >= ix1 || iy0 >= iy1) return;
  const px = new Float64Array(ix1 - ix0);
  const py = new Float64Array(iy1 - iy0);
  const sx = Math.SQRT2 * sigma;
  const sy = Math.SQRT2 * sigmaY;
  for (let i = ix0; i < ix1; i++) px[i - ix0] = 0.5 * (erf((i + 0.5 - x) / sx) - erf((i - 0.5 - x) / sx));
  for (let j = iy0; j < iy1; j++) py[j - iy0] = 0.5 * (erf((j + 0.5 - y) / sy) - erf((j - 0.5 - y) / sy));
  for (let j = iy0; j < iy1; j++) {
    const f = flux * py[j - iy0];
    const base = j * w;
    for (let i = ix0; i < ix1; i++) img[base + i] += f * px[i - ix0];
  }
}

export interface TruthStar {
  readonly x: number;
  readonly y: number;
  readonly flux: number;
}

/** Stars at random positions at least `margin` px from the edges and `minSep` px from each other. */
export function randomStars(
  rng: SeededRng,
  n: number,
  w: number,
  h: number,
  opts: { margin?: number; minSep?: number; fluxMin: number; fluxMax: number },
): TruthStar[] {
  const margin = opts.margin ?? 20;
  const minSep = opts.minSep ?? 0;
  const out: TruthStar[] = [];
  // A coarse grid for the separation check.
  const cell = Math.max(minSep, 1);
  const gw = Math.ceil(w / cell);
  const grid = new Map<number, TruthStar[]>();
  let tries = 0;
  while (out.length < n && tries < n * 50) {
    tries++;
    const x = margin + rng.uniform() * (w - 2 * margin);
    const y = margin + rng.uniform() * (h - 2 * margin);
    if (minSep > 0) {
      const cx = Math.floor(x / cell);
      const cy = Math.floor(y / cell);
      let ok = true;
      for (let dy = -1; dy <= 1 && ok; dy++) {
        for (let dx = -1; dx <= 1 && ok; dx++) {
          for (const s of grid.get((cy + dy) * gw + cx + dx) ?? []) {
            if ((s.x - x) ** 2 + (s.y - y) ** 2 < minSep * minSep) ok = false;
          }
        }
      }
      if (!ok) continue;
    }
    // Log-uniform fluxes.
    const flux = opts.fluxMin * Math.exp(rng.uniform() * Math.log(opts.fluxMax / opts.fluxMin));
    const s = { x, y, flux };
    out.push(s);
    if (minSep > 0) {
      const key = Math.floor(y / cell) * gw + Math.floor(x / cell);
      const list = grid.get(key);
      if (list) list.push(s);
      else grid.set(key, [s]);
    }
  }
  return out;
}

export interface SyntheticRawOptions {
  /** Expected electrons per pixel in detector coordinates (width x height of the geometry), or null for none. */
  readonly electrons: Float32Array | null;
  readonly rng: SeededRng;
  /** Add Poisson noise to the signal (default true) and read noise (default true). */
  readonly poisson?: boolean;
  readonly readNoise?: boolean;
  /** Bias drift along each amp's readout rows, ADU per row (default 0). */
  readonly biasSlopeAduPerRow?: number;
  /** Per-amp overrides of gain/bias/read noise (by amp name). */
  readonly amps?: Readonly<Record<string, { gain?: number; biasAdu?: number; readNoiseE?: number }>>;
}

/** The raw x range an amplifier owns in its HDU (prescan, overscan, data) and all rows. */
function ownedColumns(a: AmpGeometry): { x0: number; x1: number } {
  const boxes = [a.rawData, a.serialOverscan, a.prescan, a.parallelOverscan].filter((b) => b.x1 > b.x0 && b.y1 > b.y0);
  return { x0: Math.min(...boxes.map((b) => b.x0)), x1: Math.max(...boxes.map((b) => b.x1)) };
}

/**
 * Raw HDU pixels (index by hduIndex) for a detector: every amp gets its bias (+ slope), read noise,
 * and in its data region the detector-coordinate electrons / gain placed with its flips. Values
 * are clipped to [0, saturationAdu].
 */
export function makeSyntheticRaw(geom: CcdGeometry, opts: SyntheticRawOptions): Map<number, RawPlane> {
  const out = new Map<number, RawPlane>();
  for (const hdu of geom.rawHdus) out.set(hdu.index, { width: hdu.width, height: hdu.height, data: new Int32Array(hdu.width * hdu.height) });
  const rng = opts.rng;
  const poisson = opts.poisson ?? true;
  const withRn = opts.readNoise ?? true;
  const slope = opts.biasSlopeAduPerRow ?? 0;
  for (const a of geom.amps) {
    const plane = out.get(a.hduIndex) as RawPlane;
    const W = plane.width;
    const ov = opts.amps?.[a.name] ?? {};
    const gain = ov.gain ?? a.gainEPerAdu;
    const bias = ov.biasAdu ?? a.biasLevelAdu;
    const rnAdu = withRn ? (ov.readNoiseE ?? a.readNoiseE) / gain : 0;
    const { x0, x1 } = ownedColumns(a);
    const d = a.rawData;
    const w = d.x1 - d.x0;
    const h = d.y1 - d.y0;
    for (let y = 0; y < plane.height; y++) {
      const lv = bias + slope * y;
      const base = y * W;
      const inRows = y >= d.y0 && y < d.y1;
      const j = y - d.y0;
      const dy = a.flipY ? a.detector.y0 + h - 1 - j : a.detector.y0 + j;
      for (let x = x0; x < x1; x++) {
        let v = lv;
        if (rnAdu > 0) v += rnAdu * rng.normal();
        if (inRows && opts.electrons && x >= d.x0 && x < d.x1) {
          const i = x - d.x0;
          const dx = a.flipX ? a.detector.x0 + w - 1 - i : a.detector.x0 + i;
          const e = opts.electrons[dy * geom.width + dx];
          const s = poisson && e > 0 ? e + Math.sqrt(e) * rng.normal() : e;
          v += s / gain;
        }
        let r = Math.round(v);
        if (r < 0) r = 0;
        if (r > a.saturationAdu) r = a.saturationAdu;
        plane.data[base + x] = r;
      }
    }
  }
  return out;
}
