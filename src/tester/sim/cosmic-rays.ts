/**
 * Cosmic rays: muon tracks and short electron "worms", a Poisson number of them per exposure at
 * a rate per cm² per minute of dark time, as sparse electron deposits on the detector.
 */
import type { Rng } from '../../core/rng.ts';

export interface CosmicRayParams {
  readonly width: number;
  readonly height: number;
  readonly darkTimeS: number;
  /** Events per cm² per minute (sea level ~1; a few on a mountain with secondary electrons). */
  readonly ratePerCm2PerMin: number;
  readonly pixelSizeUm: number;
  readonly thicknessUm: number;
}

export interface CosmicRayHits {
  /** Number of events. */
  readonly events: number;
  /** Detector pixel indices (y · width + x) hit, each once. */
  readonly pixels: Int32Array;
  /** Electrons deposited in each. */
  readonly electrons: Float32Array;
}

/** Electron-hole pairs per micrometre for a minimum-ionising particle in silicon. */
const PAIRS_PER_UM = 80;

export function simulateCosmicRays(rng: Rng, p: CosmicRayParams): CosmicRayHits {
  const areaCm2 = (p.width * p.height * (p.pixelSizeUm * 1e-4) ** 2);
  const mean = p.ratePerCm2PerMin * areaCm2 * (p.darkTimeS / 60);
  const events = rng.poisson(mean);
  const hits = new Map<number, number>();
  const W = p.width;
  const H = p.height;
  const deposit = (x: number, y: number, e: number): void => {
    // bilinear share between the four nearest pixels (charge diffusion)
    const fx = Math.floor(x);
    const fy = Math.floor(y);
    const tx = x - fx;
    const ty = y - fy;
    const put = (ix: number, iy: number, w: number): void => {
      if (ix < 0 || iy < 0 || ix >= W || iy >= H || w <= 0) return;
      const k = iy * W + ix;
      hits.set(k, (hits.get(k) ?? 0) + e * w);
    };
    put(fx, fy, (1 - tx) * (1 - ty));
    put(fx + 1, fy, tx * (1 - ty));
    put(fx, fy + 1, (1 - tx) * ty);
    put(fx + 1, fy + 1, tx * ty);
  };
  const depthPx = p.thicknessUm / p.pixelSizeUm;
  for (let k = 0; k < events; k++) {
    const x = rng.uniform() * W - 0.5;
    const y = rng.uniform() * H - 0.5;
    if (rng.uniform() < 0.7) {
      // muon: zenith angle with cos² distribution (cos θ = u^(1/3)), straight track
      const cosT = Math.max(0.05, rng.uniformOpen() ** (1 / 3));
      const tanT = Math.sqrt(1 - cosT * cosT) / cosT;
      const len = Math.min(60, depthPx * tanT);
      const phi = rng.uniform() * 2 * Math.PI;
      const total = (PAIRS_PER_UM * p.thicknessUm) / cosT;
      const steps = Math.max(1, Math.ceil(len * 3));
      const ux = Math.cos(phi);
      const uy = Math.sin(phi);
      for (let s = 0; s < steps; s++) {
        const t = steps === 1 ? 0 : (s / (steps - 1)) * len;
        // Landau-like fluctuation of the energy loss
        const f = Math.exp(0.5 * rng.normal()) / 1.133;
        deposit(x + ux * t, y + uy * t, (total / steps) * f);
      }
    } else {
      // low-energy electron: a short random walk
      const steps = 3 + rng.int(6);
      let cx = x;
      let cy = y;
      for (let s = 0; s < steps; s++) {
        deposit(cx, cy, rng.range(400, 2500));
        const a = rng.uniform() * 2 * Math.PI;
        cx += 0.8 * Math.cos(a);
        cy += 0.8 * Math.sin(a);
      }
    }
  }
  const n = hits.size;
  const pixels = new Int32Array(n);
  const electrons = new Float32Array(n);
  let i = 0;
  for (const [k, e] of hits) {
    pixels[i] = k;
    electrons[i] = e;
    i++;
  }
  return { events, pixels, electrons };
}
