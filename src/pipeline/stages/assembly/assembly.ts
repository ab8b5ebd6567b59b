import { z } from 'zod';
import { InvalidInputError } from '../../../core/errors.ts';
import { MaskBit, makeMaskedImage, type MaskedImage, type Plane } from '../../../core/image.ts';
import type { AmpGeometry } from '../../../instruments/index.ts';
import { parseConfig } from '../../config.ts';
import type { Defect, RawPlane } from '../../types.ts';

/**
 * Assembly: overscan-corrected amplifiers (raw orientation, ADU) placed into the detector image
 * with each amp's detector box and flips, converted to electrons with the amp's gain, with a
 * variance plane (Poisson + read noise), a saturation mask from the raw values and a mask from
 * the defect list.
 */
export const AssemblyConfig = z.object({
  /** Convert ADU to electrons (the variance is then in electrons²); false keeps ADU. */
  applyGain: z.boolean().default(true),
  /** Grow the SAT mask by this many pixels in each direction (bleed edges). */
  saturationGrowPx: z.number().int().min(0).max(10).default(0),
});
export type AssemblyConfig = z.output<typeof AssemblyConfig>;
export type AssemblyConfigInput = z.input<typeof AssemblyConfig>;

export function makeAssemblyConfig(input: AssemblyConfigInput = {}): AssemblyConfig {
  return parseConfig(AssemblyConfig, input, 'assembly');
}

export interface AssemblyAmpInput {
  readonly amp: AmpGeometry;
  /** Overscan-corrected data region, raw orientation, ADU. */
  readonly image: Plane;
  /** The raw HDU (for the saturation test on the raw values), or null to skip it. */
  readonly raw: RawPlane | null;
  readonly gainEPerAdu: number;
  readonly readNoiseE: number;
  readonly saturationAdu: number;
}

export interface AssemblyInput {
  /** Trimmed detector size. */
  readonly width: number;
  readonly height: number;
  readonly amps: readonly AssemblyAmpInput[];
  readonly defects?: readonly Defect[];
}

export interface AssemblyAmpDiagnostics {
  readonly name: string;
  readonly gainEPerAdu: number;
  readonly readNoiseE: number;
  readonly saturatedPixels: number;
}

export interface AssemblyResult {
  /** Detector image (electrons, or ADU when applyGain is false), mask and variance. */
  readonly exposure: MaskedImage;
  readonly amps: readonly AssemblyAmpDiagnostics[];
  /** Pixels flagged SAT (after growing). */
  readonly saturatedPixels: number;
  /** Pixels flagged BAD or SUSPECT by the defect list. */
  readonly defectPixels: number;
  /** Pixels no amplifier covers (flagged NO_DATA). */
  readonly uncoveredPixels: number;
}

export function runAssembly(input: AssemblyInput, cfg: AssemblyConfig = makeAssemblyConfig()): AssemblyResult {
  const { width: W, height: H } = input;
  const out = makeMaskedImage(W, H);
  const img = out.image;
  const mask = out.mask;
  const vari = out.variance;
  mask.fill(MaskBit.NO_DATA);
  const diags: AssemblyAmpDiagnostics[] = [];

  for (const a of input.amps) {
    const { amp } = a;
    const w = amp.rawData.x1 - amp.rawData.x0;
    const h = amp.rawData.y1 - amp.rawData.y0;
    const d = amp.detector;
    if (a.image.width !== w || a.image.height !== h || a.image.data.length !== w * h) {
      throw new InvalidInputError(`amp ${amp.name}: trimmed image is ${a.image.width}x${a.image.height}, expected ${w}x${h}`);
    }
    if (d.x1 - d.x0 !== w || d.y1 - d.y0 !== h || d.x0 < 0 || d.y0 < 0 || d.x1 > W || d.y1 > H) {
      throw new InvalidInputError(`amp ${amp.name}: detector box does not match its ${w}x${h} data or the ${W}x${H} detector`);
    }
    if (!(a.gainEPerAdu > 0) || !(a.readNoiseE >= 0)) {
      throw new InvalidInputError(`amp ${amp.name}: gain ${a.gainEPerAdu} or read noise ${a.readNoiseE} is not usable`);
    }
    const g = cfg.applyGain ? a.gainEPerAdu : 1;
    // Variance = max(signal, 0) * (e per unit) + read noise², in the output unit squared.
    const poissonPerUnit = cfg.applyGain ? 1 : 1 / a.gainEPerAdu;
    const rn = cfg.applyGain ? a.readNoiseE : a.readNoiseE / a.gainEPerAdu;
    const rn2 = rn * rn;
    const src = a.image.data;
    const raw = a.raw;
    const sat = a.saturationAdu;
    let nSat = 0;
    for (let j = 0; j < h; j++) {
      const y = amp.flipY ? d.y1 - 1 - j : d.y0 + j;
      const step = amp.flipX ? -1 : 1;
      let di = y * W + (amp.flipX ? d.x1 - 1 : d.x0);
      const si = j * w;
      const rawBase = raw ? (amp.rawData.y0 + j) * raw.width + amp.rawData.x0 : 0;
      for (let i = 0; i < w; i++, di += step) {
        const v = src[si + i] * g;
        img[di] = v;
        vari[di] = (v > 0 ? v * poissonPerUnit : 0) + rn2;
        if (raw !== null && raw.data[rawBase + i] >= sat) {
          mask[di] = MaskBit.SAT;
          nSat++;
        } else {
          mask[di] = 0;
        }
      }
    }
    diags.push({ name: amp.name, gainEPerAdu: a.gainEPerAdu, readNoiseE: a.readNoiseE, saturatedPixels: nSat });
  }

  if (cfg.saturationGrowPx > 0) growBit(mask, W, H, MaskBit.SAT, cfg.saturationGrowPx);

  let defectPixels = 0;
  for (const def of input.defects ?? []) {
    const bit = def.kind === 'SUSPECT' ? MaskBit.SUSPECT : MaskBit.BAD;
    const x0 = Math.max(0, def.x0);
    const x1 = Math.min(W, def.x1);
    const y0 = Math.max(0, def.y0);
    const y1 = Math.min(H, def.y1);
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        const k = y * W + x;
        if ((mask[k] & (MaskBit.BAD | MaskBit.SUSPECT)) === 0) defectPixels++;
        mask[k] |= bit;
      }
    }
  }

  let saturatedPixels = 0;
  let uncovered = 0;
  for (let k = 0; k < mask.length; k++) {
    const m = mask[k];
    if (m & MaskBit.SAT) saturatedPixels++;
    if (m & MaskBit.NO_DATA) uncovered++;
  }
  return { exposure: out, amps: diags, saturatedPixels, defectPixels, uncoveredPixels: uncovered };
}

/** Grows `bit` by r pixels (square), using separable row/column passes over a scratch plane. */
export function growBit(mask: Int32Array, W: number, H: number, bit: number, r: number): void {
  const tmp = new Uint8Array(W * H);
  // Horizontal pass: tmp = bit present within r along the row.
  for (let y = 0; y < H; y++) {
    const base = y * W;
    let last = -Infinity;
    for (let x = 0; x < W; x++) {
      if (mask[base + x] & bit) last = x;
      if (x - last <= r) tmp[base + x] = 1;
    }
    last = Infinity;
    for (let x = W - 1; x >= 0; x--) {
      if (mask[base + x] & bit) last = x;
      if (last - x <= r) tmp[base + x] = 1;
    }
  }
  // Vertical pass over tmp, written into the mask.
  for (let x = 0; x < W; x++) {
    let last = -Infinity;
    for (let y = 0; y < H; y++) {
      if (tmp[y * W + x]) last = y;
      if (y - last <= r) mask[y * W + x] |= bit;
    }
    last = Infinity;
    for (let y = H - 1; y >= 0; y--) {
      if (tmp[y * W + x]) last = y;
      if (last - y <= r) mask[y * W + x] |= bit;
    }
  }
}
