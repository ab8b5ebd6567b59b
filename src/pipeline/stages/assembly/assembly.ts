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
  /** Overscan-corrected data region, raw orientation, ADU. Give this or `levels`. */
  readonly image?: Plane;
  /**
   * Overscan levels to subtract from the raw data region while assembling (one pass instead of
   * a trimmed copy per amp). Needs `raw`.
   */
  readonly levels?: { readonly rowLevelsAdu: Float32Array; readonly columnLevelsAdu: Float32Array | null };
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
  /**
   * Image and variance planes to assemble into (width × height, fresh: all zero), e.g. laid out
   * for the output file; new ones when not given.
   */
  readonly planes?: { readonly image: Float32Array; readonly variance: Float32Array };
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
  const planes = input.planes;
  if (planes && (planes.image.length !== W * H || planes.variance.length !== W * H)) {
    throw new InvalidInputError(`assembly: the planes given are not ${W}x${H}`);
  }
  const out: MaskedImage = planes ? { width: W, height: H, image: planes.image, variance: planes.variance, mask: new Int32Array(W * H) } : makeMaskedImage(W, H);
  const img = out.image;
  const mask = out.mask;
  const vari = out.variance;
  const diags: AssemblyAmpDiagnostics[] = [];
  let satTotal = 0;

  for (const a of input.amps) {
    const { amp } = a;
    const w = amp.rawData.x1 - amp.rawData.x0;
    const h = amp.rawData.y1 - amp.rawData.y0;
    const d = amp.detector;
    if ((a.image === undefined) === (a.levels === undefined)) {
      throw new InvalidInputError(`amp ${amp.name}: give either a trimmed image or overscan levels`);
    }
    if (a.image && (a.image.width !== w || a.image.height !== h || a.image.data.length !== w * h)) {
      throw new InvalidInputError(`amp ${amp.name}: trimmed image is ${a.image.width}x${a.image.height}, expected ${w}x${h}`);
    }
    if (a.levels && (!a.raw || a.levels.rowLevelsAdu.length !== h || (a.levels.columnLevelsAdu !== null && a.levels.columnLevelsAdu.length !== w))) {
      throw new InvalidInputError(`amp ${amp.name}: overscan levels need the raw HDU and ${h} row / ${w} column levels`);
    }
    if (a.raw && (amp.rawData.x1 > a.raw.width || amp.rawData.y1 > a.raw.height || a.raw.data.length !== a.raw.width * a.raw.height)) {
      throw new InvalidInputError(`amp ${amp.name}: data box does not fit the ${a.raw.width}x${a.raw.height} raw HDU`);
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
    const sat = a.saturationAdu;
    const step = amp.flipX ? -1 : 1;
    const rawData = a.raw ? a.raw.data : null;
    const rawW = a.raw ? a.raw.width : 0;
    let nSat = 0;
    for (let j = 0; j < h; j++) {
      const y = amp.flipY ? d.y1 - 1 - j : d.y0 + j;
      const di0 = y * W + (amp.flipX ? d.x1 - 1 : d.x0);
      const rawBase = (amp.rawData.y0 + j) * rawW + amp.rawData.x0;
      if (a.levels && rawData) {
        const lv = a.levels.rowLevelsAdu[j];
        const col = a.levels.columnLevelsAdu;
        for (let i = 0, di = di0; i < w; i++, di += step) {
          const r = rawData[rawBase + i];
          const v = (col ? r - lv - col[i] : r - lv) * g;
          img[di] = v;
          vari[di] = (v > 0 ? v * poissonPerUnit : 0) + rn2;
          if (r >= sat) {
            mask[di] = MaskBit.SAT;
            nSat++;
          }
        }
      } else {
        const src = (a.image as Plane).data;
        const si = j * w;
        for (let i = 0, di = di0; i < w; i++, di += step) {
          const v = src[si + i] * g;
          img[di] = v;
          vari[di] = (v > 0 ? v * poissonPerUnit : 0) + rn2;
          if (rawData !== null && rawData[rawBase + i] >= sat) {
            mask[di] = MaskBit.SAT;
            nSat++;
          }
        }
      }
    }
    satTotal += nSat;
    diags.push({ name: amp.name, gainEPerAdu: a.gainEPerAdu, readNoiseE: a.readNoiseE, saturatedPixels: nSat });
  }

  // Pixels no amp covers: NO_DATA (checked on the boxes, not the pixels, when they tile the detector).
  const uncovered = markUncovered(input.amps.map((a) => a.amp.detector), mask, W, H);

  let saturatedPixels = satTotal;
  if (cfg.saturationGrowPx > 0) {
    growBit(mask, W, H, MaskBit.SAT, cfg.saturationGrowPx);
    saturatedPixels = 0;
    for (let k = 0; k < mask.length; k++) if (mask[k] & MaskBit.SAT) saturatedPixels++;
  }

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
  return { exposure: out, amps: diags, saturatedPixels, defectPixels, uncoveredPixels: uncovered };
}

/** Sets NO_DATA where no box covers the detector; returns the count. */
function markUncovered(boxes: ReadonlyArray<{ x0: number; y0: number; x1: number; y1: number }>, mask: Int32Array, W: number, H: number): number {
  let area = 0;
  let overlap = false;
  for (let i = 0; i < boxes.length; i++) {
    const a = boxes[i];
    area += (a.x1 - a.x0) * (a.y1 - a.y0);
    for (let j = i + 1; j < boxes.length; j++) {
      const b = boxes[j];
      if (a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1) overlap = true;
    }
  }
  if (!overlap && area === W * H) return 0;
  const covered = new Uint8Array(W * H);
  for (const b of boxes) for (let y = b.y0; y < b.y1; y++) covered.fill(1, y * W + b.x0, y * W + b.x1);
  let n = 0;
  for (let k = 0; k < covered.length; k++) {
    if (!covered[k]) {
      mask[k] |= MaskBit.NO_DATA;
      n++;
    }
  }
  return n;
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
