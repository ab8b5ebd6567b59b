import { z } from 'zod';
import { InvalidInputError } from '../../../core/errors.ts';
import { MaskBit, makeMaskedImage, type MaskedImage, type Plane } from '../../../core/image.ts';
import type { AmpGeometry } from '../../../instruments/index.ts';
import { parseConfig } from '../../config.ts';
import { isrKernels } from '../../../wasm/isr.ts';
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
   * for the output file, and a mask plane likewise (all zero); new ones when not given.
   */
  readonly planes?: { readonly image: Float32Array; readonly variance: Float32Array; readonly mask?: Int32Array };
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
  if (planes && (planes.image.length !== W * H || planes.variance.length !== W * H || (planes.mask && planes.mask.length !== W * H))) {
    throw new InvalidInputError(`assembly: the planes given are not ${W}x${H}`);
  }
  const out: MaskedImage = planes ? { width: W, height: H, image: planes.image, variance: planes.variance, mask: planes.mask ?? new Int32Array(W * H) } : makeMaskedImage(W, H);
  const img = out.image;
  const mask = out.mask;
  const vari = out.variance;
  const satPerAmp = new Array<number>(input.amps.length).fill(0);
  // Amps assembled from their raw HDUs: in bands of detector rows after the loop when no two
  // detector boxes overlap (the order they are written in then does not matter), else each in turn.
  const boxes = input.amps.map((a) => a.amp.detector);
  const overlapping = boxesOverlap(boxes);
  const fromRaw: RawAmpJob[] = [];

  for (let ai = 0; ai < input.amps.length; ai++) {
    const a = input.amps[ai];
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
    if (a.levels && a.raw) {
      const job: RawAmpJob = { amp, raw: a.raw, levels: a.levels, g, ppu: poissonPerUnit, rn2, sat, index: ai };
      if (overlapping) nSat = assembleBands([job], out);
      else fromRaw.push(job);
    } else {
      const src = (a.image as Plane).data;
      for (let j = 0; j < h; j++) {
        const y = amp.flipY ? d.y1 - 1 - j : d.y0 + j;
        const di0 = y * W + (amp.flipX ? d.x1 - 1 : d.x0);
        const rawBase = (amp.rawData.y0 + j) * rawW + amp.rawData.x0;
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
    satPerAmp[ai] = nSat;
  }
  if (fromRaw.length > 0) {
    // Amps reading the same detector rows are assembled together, a band of rows at a time.
    const groups = new Map<string, RawAmpJob[]>();
    for (const job of fromRaw) {
      const key = `${job.amp.detector.y0}:${job.amp.detector.y1}`;
      const group = groups.get(key);
      if (group) group.push(job);
      else groups.set(key, [job]);
    }
    for (const group of groups.values()) assembleBands(group, out, satPerAmp);
  }
  const diags: AssemblyAmpDiagnostics[] = input.amps.map((a, ai) => ({ name: a.amp.name, gainEPerAdu: a.gainEPerAdu, readNoiseE: a.readNoiseE, saturatedPixels: satPerAmp[ai] }));
  let satTotal = 0;
  for (const n of satPerAmp) satTotal += n;

  // Pixels no amp covers: NO_DATA (checked on the boxes, not the pixels, when they tile the detector).
  const uncovered = markUncovered(boxes, mask, W, H, overlapping);

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

/** Detector pixels per band of assembleBands (its buffers stay in the core's cache). */
const BAND_PIXELS = 1 << 16;

/** An amp to assemble from its raw HDU, with its conversion (see runAssembly). */
interface RawAmpJob {
  readonly amp: AmpGeometry;
  readonly raw: RawPlane;
  readonly levels: { readonly rowLevelsAdu: Float32Array; readonly columnLevelsAdu: Float32Array | null };
  readonly g: number;
  readonly ppu: number;
  readonly rn2: number;
  readonly sat: number;
  /** Its place in the input (for its count of saturated pixels). */
  readonly index: number;
}

/**
 * Amps reading the same detector rows (same detector y0 and y1), whose detector boxes do not
 * overlap, assembled from their raw HDUs in the isr kernels: a band of detector rows at a time,
 * each amp's raw rows are copied in and written by the kernel (less their overscan levels, in
 * electrons, with their variance, flipped as the amp reads out) into full-width band planes,
 * which are copied to the detector planes whole when the amps span the detector's width, else
 * amp by amp. Pixels whose raw value reaches the amp's saturation level are flagged SAT; their
 * count per amp is added to satPerAmp (by job index), and their total returned.
 */
function assembleBands(jobs: readonly RawAmpJob[], out: MaskedImage, satPerAmp: number[] | null = null): number {
  const W = out.width;
  const { y0: top, y1: bottom } = jobs[0].amp.detector;
  const h = bottom - top;
  if (h === 0 || W === 0) return 0;
  const bandRows = Math.max(1, Math.min(h, Math.floor(BAND_PIXELS / W)));
  let maxRawW = 0;
  for (const j of jobs) maxRawW = Math.max(maxRawW, j.raw.width);
  const { exports: k, arena } = isrKernels();
  const [rawBuf, lvBuf, colBuf, imgBuf, varBuf] = arena.layout([
    ['i32', bandRows * maxRawW],
    ['f32', jobs.length * h],
    ['f32', W],
    ['f32', bandRows * W],
    ['f32', bandRows * W],
  ]);
  // Each amp's row levels at jobIndex · h, its column levels at its detector columns.
  jobs.forEach((j, q) => {
    lvBuf.view.set(j.levels.rowLevelsAdu, q * h);
    if (j.levels.columnLevelsAdu) colBuf.view.set(j.levels.columnLevelsAdu, j.amp.detector.x0);
  });
  // Whether the amps cover the band's full width (then it is copied whole).
  const spans = [...jobs].sort((p, q) => p.amp.detector.x0 - q.amp.detector.x0);
  let reach = 0;
  for (const j of spans) if (j.amp.detector.x0 === reach) reach = j.amp.detector.x1;
  const fullWidth = reach === W;
  const { image, variance, mask } = out;
  let total = 0;
  for (let y0 = top; y0 < bottom; y0 += bandRows) {
    const nr = Math.min(bandRows, bottom - y0);
    jobs.forEach((job, q) => {
      const { amp, raw } = job;
      const d = amp.detector;
      const rawW = raw.width;
      // The amp's rows j (from its rawData.y0) that land on detector rows y0 … y0 + nr.
      const j0 = amp.flipY ? d.y1 - (y0 + nr) : y0 - d.y0;
      const r0 = (amp.rawData.y0 + j0) * rawW;
      rawBuf.view.set(raw.data.subarray(r0, r0 + nr * rawW));
      const w = amp.rawData.x1 - amp.rawData.x0;
      const cols = job.levels.columnLevelsAdu ? colBuf.ptr + 4 * d.x0 : 0;
      const found = k.assembleRows(
        rawBuf.ptr,
        rawW,
        amp.rawData.x0,
        w,
        nr,
        lvBuf.ptr + 4 * (q * h + j0),
        cols,
        job.g,
        job.ppu,
        job.rn2,
        job.sat,
        amp.flipX,
        amp.flipY,
        imgBuf.ptr + 4 * d.x0,
        varBuf.ptr + 4 * d.x0,
        W,
      );
      if (!fullWidth) {
        for (let r = 0; r < nr; r++) {
          const o = r * W;
          image.set(imgBuf.view.subarray(o + d.x0, o + d.x1), (y0 + r) * W + d.x0);
          variance.set(varBuf.view.subarray(o + d.x0, o + d.x1), (y0 + r) * W + d.x0);
        }
      }
      if (found > 0) {
        total += found;
        if (satPerAmp) satPerAmp[job.index] += found;
        for (let r = 0; r < nr; r++) {
          const j = j0 + r;
          const y = amp.flipY ? d.y1 - 1 - j : d.y0 + j;
          const rawBase = r0 + r * rawW + amp.rawData.x0;
          const step = amp.flipX ? -1 : 1;
          for (let i = 0, di = y * W + (amp.flipX ? d.x1 - 1 : d.x0); i < w; i++, di += step) if (raw.data[rawBase + i] >= job.sat) mask[di] = MaskBit.SAT;
        }
      }
    });
    if (fullWidth) {
      const len = nr * W;
      image.set(len === imgBuf.view.length ? imgBuf.view : imgBuf.view.subarray(0, len), y0 * W);
      variance.set(len === varBuf.view.length ? varBuf.view : varBuf.view.subarray(0, len), y0 * W);
    }
  }
  return total;
}

/** Whether any two of the boxes overlap. */
function boxesOverlap(boxes: ReadonlyArray<{ x0: number; y0: number; x1: number; y1: number }>): boolean {
  for (let i = 0; i < boxes.length; i++) {
    const a = boxes[i];
    for (let j = i + 1; j < boxes.length; j++) {
      const b = boxes[j];
      if (a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1) return true;
    }
  }
  return false;
}

/** Sets NO_DATA where no box covers the detector; returns the count. `overlap`: whether boxes overlap. */
function markUncovered(boxes: ReadonlyArray<{ x0: number; y0: number; x1: number; y1: number }>, mask: Int32Array, W: number, H: number, overlap: boolean): number {
  let area = 0;
  for (const a of boxes) area += (a.x1 - a.x0) * (a.y1 - a.y0);
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
