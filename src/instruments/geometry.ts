/**
 * CCD and amplifier geometry. All boxes are 0-based, half-open: x in [x0, x1), y in [y0, y1).
 * Raw boxes are in the coordinates of the HDU that holds the amplifier; detector boxes are in
 * the trimmed (assembled) detector image.
 */
export interface Box {
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
}

export function boxWidth(b: Box): number {
  return b.x1 - b.x0;
}
export function boxHeight(b: Box): number {
  return b.y1 - b.y0;
}

export type CcdType = 'ITL' | 'E2V' | 'DECAM';

export interface AmpGeometry {
  /** Amplifier name as in the raw headers: 'C10' style for LSST CCDs, 'A'/'B' for DECam. */
  readonly name: string;
  /** Extension name of the raw HDU holding the amplifier ('Segment10', or the CCD name for DECam). */
  readonly hduName: string;
  /** Index of that HDU in the raw file, 1-based (0 is the primary). */
  readonly hduIndex: number;
  /** Image area of the amplifier in its raw HDU. */
  readonly rawData: Box;
  /** Serial (column) overscan in its raw HDU. */
  readonly serialOverscan: Box;
  /** Parallel (row) overscan in its raw HDU; empty box when the CCD has none. */
  readonly parallelOverscan: Box;
  /** Prescan columns in its raw HDU (never used for bias level). */
  readonly prescan: Box;
  /** Where the amplifier's data lands in the trimmed detector image. */
  readonly detector: Box;
  /** Raw x runs opposite to detector x (readout from the other side). */
  readonly flipX: boolean;
  /** Raw y runs opposite to detector y. */
  readonly flipY: boolean;
  /** Nominal gain, electrons per ADU. */
  readonly gainEPerAdu: number;
  /** Nominal read noise, electrons. */
  readonly readNoiseE: number;
  /** Bias level, ADU (what the simulator writes; the ISR measures it from the overscan). */
  readonly biasLevelAdu: number;
  /** Full-well / saturation level, ADU. */
  readonly saturationAdu: number;
}

export interface RawHduGeometry {
  readonly name: string;
  readonly index: number;
  readonly width: number;
  readonly height: number;
}

export interface CcdGeometry {
  readonly ccdType: CcdType;
  /** Trimmed detector size. */
  readonly width: number;
  readonly height: number;
  readonly rawHdus: readonly RawHduGeometry[];
  readonly amps: readonly AmpGeometry[];
}

interface LsstAmpSpec {
  readonly prescan: number;
  readonly dataWidth: number;
  readonly dataHeight: number;
  readonly serialOverscan: number;
  readonly parallelOverscan: number;
}

/** Per-CCD-type amplifier dimensions (raw amplifier 576x2048 for both LSST vendors). */
export const ITL_AMP: LsstAmpSpec = { prescan: 3, dataWidth: 509, dataHeight: 2000, serialOverscan: 64, parallelOverscan: 48 };
export const E2V_AMP: LsstAmpSpec = { prescan: 10, dataWidth: 512, dataHeight: 2002, serialOverscan: 54, parallelOverscan: 46 };

/** Deterministic per-amplifier variation of gain, noise and bias, so every amp differs as in real CCDs. */
function ampElectronics(ccdType: CcdType, detectorId: number, ampIndex: number): { gain: number; noise: number; bias: number } {
  // A small integer hash, stable across runs and platforms.
  let h = (detectorId * 73856093) ^ (ampIndex * 19349663) ^ (ccdType.length * 83492791);
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  h ^= h >>> 16;
  const u1 = ((h >>> 0) % 1000) / 1000;
  const u2 = ((h >>> 10) % 1000) / 1000;
  const u3 = ((h >>> 20) % 1000) / 1000;
  if (ccdType === 'DECAM') return { gain: 3.8 + 0.6 * u1, noise: 6 + 2 * u2, bias: 2500 + 1500 * u3 };
  if (ccdType === 'E2V') return { gain: 1.4 + 0.3 * u1, noise: 5 + 2 * u2, bias: 24000 + 4000 * u3 };
  return { gain: 1.5 + 0.3 * u1, noise: 5.5 + 2 * u2, bias: 14000 + 6000 * u3 };
}

/**
 * LSST CCD (ITL or e2v): one HDU per amplifier, 2 rows of amplifiers. Top row Segment10..17
 * left to right, read out from the top (flipY); bottom row Segment07..00 left to right, read
 * from the right (flipX), so C00 sits at the bottom right as on the focal plane.
 * `rows` = 1 gives the half-size wavefront sensor (Segment10..17 only).
 */
export function lsstCcdGeometry(ccdType: 'ITL' | 'E2V', detectorId: number, rows: 1 | 2 = 2): CcdGeometry {
  const spec = ccdType === 'ITL' ? ITL_AMP : E2V_AMP;
  const rawWidth = spec.prescan + spec.dataWidth + spec.serialOverscan;
  const rawHeight = spec.dataHeight + spec.parallelOverscan;
  const width = spec.dataWidth * 8;
  const height = spec.dataHeight * rows;
  const ampNames: string[] = [];
  for (let i = 0; i < 8; i++) ampNames.push(`C1${i}`);
  if (rows === 2) for (let i = 7; i >= 0; i--) ampNames.push(`C0${i}`);
  const rawHdus: RawHduGeometry[] = [];
  const amps: AmpGeometry[] = [];
  ampNames.forEach((name, k) => {
    const top = name.startsWith('C1');
    const col = top ? Number(name[2]) : 7 - Number(name[2]);
    const hduName = `Segment${name.slice(1)}`;
    const hduIndex = k + 1;
    rawHdus.push({ name: hduName, index: hduIndex, width: rawWidth, height: rawHeight });
    const e = ampElectronics(ccdType, detectorId, k);
    const y0 = rows === 2 ? (top ? spec.dataHeight : 0) : 0;
    amps.push({
      name,
      hduName,
      hduIndex,
      rawData: { x0: spec.prescan, y0: 0, x1: spec.prescan + spec.dataWidth, y1: spec.dataHeight },
      serialOverscan: { x0: spec.prescan + spec.dataWidth, y0: 0, x1: rawWidth, y1: spec.dataHeight },
      parallelOverscan: { x0: spec.prescan, y0: spec.dataHeight, x1: spec.prescan + spec.dataWidth, y1: rawHeight },
      prescan: { x0: 0, y0: 0, x1: spec.prescan, y1: spec.dataHeight },
      detector: { x0: col * spec.dataWidth, y0, x1: (col + 1) * spec.dataWidth, y1: y0 + spec.dataHeight },
      flipX: !top,
      flipY: top && rows === 2,
      gainEPerAdu: e.gain,
      readNoiseE: e.noise,
      biasLevelAdu: Math.round(e.bias),
      saturationAdu: ccdType === 'ITL' ? 100000 : 120000,
    });
  });
  return { ccdType, width, height, rawHdus, amps };
}

/**
 * DECam CCD: one raw HDU of 2160x4146 holding both amplifiers, as DECam writes it:
 * columns 1-6 prescan, 7-56 overscan B, 57-1080 data B, 1081-2104 data A, 2105-2154 overscan A,
 * 2155-2160 prescan; rows 1-50 overscan, 51-4146 data. Amplifier A is read from the right (flipX).
 */
export function decamCcdGeometry(detectorId: number, ccdName: string): CcdGeometry {
  const rawWidth = 2160;
  const rawHeight = 4146;
  const dataW = 1024;
  const dataH = 4096;
  const rows = 50;
  const rawHdus: RawHduGeometry[] = [{ name: ccdName, index: 1, width: rawWidth, height: rawHeight }];
  const eB = ampElectronics('DECAM', detectorId, 0);
  const eA = ampElectronics('DECAM', detectorId, 1);
  const common = { hduName: ccdName, hduIndex: 1, saturationAdu: 60000 };
  const ampB: AmpGeometry = {
    ...common,
    name: 'B',
    rawData: { x0: 56, y0: rows, x1: 56 + dataW, y1: rows + dataH },
    serialOverscan: { x0: 6, y0: rows, x1: 56, y1: rows + dataH },
    parallelOverscan: { x0: 56, y0: 0, x1: 56 + dataW, y1: rows },
    prescan: { x0: 0, y0: rows, x1: 6, y1: rows + dataH },
    detector: { x0: 0, y0: 0, x1: dataW, y1: dataH },
    flipX: false,
    flipY: false,
    gainEPerAdu: eB.gain,
    readNoiseE: eB.noise,
    biasLevelAdu: Math.round(eB.bias),
  };
  const ampA: AmpGeometry = {
    ...common,
    name: 'A',
    rawData: { x0: 56 + dataW, y0: rows, x1: 56 + 2 * dataW, y1: rows + dataH },
    serialOverscan: { x0: 56 + 2 * dataW, y0: rows, x1: 56 + 2 * dataW + 50, y1: rows + dataH },
    parallelOverscan: { x0: 56 + dataW, y0: 0, x1: 56 + 2 * dataW, y1: rows },
    prescan: { x0: rawWidth - 6, y0: rows, x1: rawWidth, y1: rows + dataH },
    detector: { x0: dataW, y0: 0, x1: 2 * dataW, y1: dataH },
    flipX: false,
    flipY: false,
    gainEPerAdu: eA.gain,
    readNoiseE: eA.noise,
    biasLevelAdu: Math.round(eA.bias),
  };
  return { ccdType: 'DECAM', width: 2 * dataW, height: dataH, rawHdus, amps: [ampB, ampA] };
}
