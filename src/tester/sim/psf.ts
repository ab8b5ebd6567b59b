/**
 * Point-source rendering: a Moffat profile (β = 3.5) painted into a small stamp around each
 * source, integrated over each pixel by sub-sampling near the core.
 *
 * Pixel (i, j) covers [i − 0.5, i + 0.5) × [j − 0.5, j + 0.5): a source at (10.0, 20.0) is centred
 * on pixel 10, 20. The stamp is a disc of radius R with R large enough that both the profile
 * falls below STAMP_FLOOR_E electrons per pixel and less than 1e-3 of the flux lies outside it.
 */
/** Moffat β of the simulated PSF. */
export const PSF_BETA = 3.5;

/** Moffat α (pixels) for a FWHM in pixels. */
export function moffatAlpha(fwhmPx: number, beta = PSF_BETA): number {
  return fwhmPx / (2 * Math.sqrt(2 ** (1 / beta) - 1));
}

/** Lowest profile value (electrons per pixel) the stamp reaches out to. */
export const STAMP_FLOOR_E = 0.05;
/** Largest stamp radius, pixels. */
export const MAX_STAMP_RADIUS = 160;
/** Sub-samples per axis inside the core. */
const CORE_SUBSAMPLES = 3;

/** Stamp radius (pixels) for a source of `electrons` with Moffat α (β = PSF_BETA). */
export function stampRadius(electrons: number, alphaPx: number): number {
  const peak = (electrons * (PSF_BETA - 1)) / (Math.PI * alphaPx * alphaPx);
  // (1 + R²/α²)^(1−β) < 1e-3  →  flux outside R below 0.1 %
  const rFlux = alphaPx * Math.sqrt(1e3 ** (1 / (PSF_BETA - 1)) - 1);
  const rFloor = peak > STAMP_FLOOR_E ? alphaPx * Math.sqrt((peak / STAMP_FLOOR_E) ** (1 / PSF_BETA) - 1) : 0;
  return Math.min(MAX_STAMP_RADIUS, Math.max(rFlux, rFloor, 2));
}

/**
 * Integral of the unit-peak Moffat (β = 3.5) over a square of side h centred at r²/α² = s:
 * f + (h²/24) ∇²f (second-order midpoint rule), with ∇²f / f = (−4β u + 4β(β+1) s u²) / α²,
 * u = 1/(1+s). Divide by h² outside.
 */
function moffatCell(s: number, h2InvA2Over24: number): number {
  const u = 1 / (1 + s);
  const f = u * u * u * Math.sqrt(u);
  return f * (1 + h2InvA2Over24 * (-14 * u + 63 * s * u * u));
}

/**
 * Adds a Moffat source of `electrons` total centred at (xc, yc) to a row-major image.
 * Each pixel gets the profile integrated over its area: 3×3 sub-pixels near the core, and the
 * second-order (Laplacian-corrected) midpoint rule everywhere. Returns the electrons added (less
 * than `electrons` near the image edges).
 */
export function addMoffat(img: Float32Array, width: number, height: number, xc: number, yc: number, electrons: number, alphaPx: number): number {
  if (!(electrons > 0)) return 0;
  const R = stampRadius(electrons, alphaPx);
  const x0 = Math.max(0, Math.ceil(xc - R));
  const x1 = Math.min(width - 1, Math.floor(xc + R));
  const y0 = Math.max(0, Math.ceil(yc - R));
  const y1 = Math.min(height - 1, Math.floor(yc + R));
  if (x0 > x1 || y0 > y1) return 0;
  const invA2 = 1 / (alphaPx * alphaPx);
  const norm = (electrons * (PSF_BETA - 1)) / (Math.PI * alphaPx * alphaPx);
  const R2 = R * R;
  const core = alphaPx + 1.5;
  const core2 = core * core;
  const n = CORE_SUBSAMPLES;
  const sub = 1 / n;
  const subNorm = norm / (n * n);
  const pixCorr = invA2 / 24;
  const subCorr = pixCorr / (n * n);
  let added = 0;
  for (let y = y0; y <= y1; y++) {
    const dy = y - yc;
    const dy2 = dy * dy;
    if (dy2 > R2 + 2 * R + 1) continue;
    const row = y * width;
    for (let x = x0; x <= x1; x++) {
      const dx = x - xc;
      const r2 = dx * dx + dy2;
      let v: number;
      if (r2 < core2) {
        let acc = 0;
        for (let j = 0; j < n; j++) {
          const sy = dy - 0.5 + (j + 0.5) * sub;
          const sy2 = sy * sy;
          for (let i = 0; i < n; i++) {
            const sx = dx - 0.5 + (i + 0.5) * sub;
            acc += moffatCell((sx * sx + sy2) * invA2, subCorr);
          }
        }
        v = acc * subNorm;
      } else if (r2 <= R2) {
        v = norm * moffatCell(r2 * invA2, pixCorr);
      } else {
        continue;
      }
      img[row + x] += v;
      added += v;
    }
  }
  return added;
}
