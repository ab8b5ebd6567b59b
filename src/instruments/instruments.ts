import { InvalidInputError } from '../core/errors.ts';
import { type CcdGeometry, type CcdType, decamCcdGeometry, lsstCcdGeometry } from './geometry.ts';

export type DetectorPurpose = 'SCIENCE' | 'GUIDER' | 'WAVEFRONT';

export interface Detector {
  /** Integer id used in messages, keys and data IDs. */
  readonly id: number;
  /** Camera name: 'R22_S11', 'R00_SG0', 'N2', 'RXX_S00'. */
  readonly name: string;
  readonly purpose: DetectorPurpose;
  readonly ccdType: CcdType;
  /** Centre of the detector on the focal plane, arcseconds from the boresight (x east-ish, y north-ish). */
  readonly centerArcsec: { readonly x: number; readonly y: number };
  /** Angle from focal-plane x to the detector's +x axis, degrees counter-clockwise. */
  readonly rotationDeg: number;
  /** Lazily built amplifier geometry. */
  geometry(): CcdGeometry;
}

export interface Instrument {
  readonly name: InstrumentName;
  /** Two-letter prefix of observation ids. */
  readonly obsIdPrefix: string;
  readonly telescope: string;
  readonly snaps: number;
  readonly pixelScaleArcsec: number;
  readonly filters: readonly PhysicalFilter[];
  readonly detectors: readonly Detector[];
  detector(id: number): Detector;
  filter(name: string): PhysicalFilter;
}

export interface PhysicalFilter {
  readonly name: string;
  readonly band: 'u' | 'g' | 'r' | 'i' | 'z' | 'y';
}

export const INSTRUMENT_NAMES = ['LSSTCam', 'LSSTComCam', 'LATISS', 'DECam'] as const;
export type InstrumentName = (typeof INSTRUMENT_NAMES)[number];

function makeDetector(
  id: number,
  name: string,
  purpose: DetectorPurpose,
  ccdType: CcdType,
  centerArcsec: { x: number; y: number },
  build: () => CcdGeometry,
  rotationDeg = 0,
): Detector {
  let cached: CcdGeometry | undefined;
  return Object.freeze({
    id,
    name,
    purpose,
    ccdType,
    centerArcsec: Object.freeze(centerArcsec),
    rotationDeg,
    geometry: () => (cached ??= build()),
  });
}

function makeInstrument(spec: Omit<Instrument, 'detector' | 'filter'>): Instrument {
  const byId = new Map(spec.detectors.map((d) => [d.id, d]));
  const byFilter = new Map(spec.filters.map((f) => [f.name, f]));
  return Object.freeze({
    ...spec,
    detector(id: number): Detector {
      const d = byId.get(id);
      if (!d) {
        const ids = spec.detectors.map((x) => x.id);
        throw new InvalidInputError(
          `detector ${id} does not exist on ${spec.name} (valid ids ${Math.min(...ids)}..${Math.max(...ids)})`,
        );
      }
      return d;
    },
    filter(name: string): PhysicalFilter {
      const f = byFilter.get(name);
      if (!f) {
        throw new InvalidInputError(
          `filter '${name}' is not a filter of ${spec.name} (known: ${spec.filters.map((x) => x.name).join(', ')})`,
        );
      }
      return f;
    },
  });
}

// ---------------------------------------------------------------- LSSTCam and LSSTComCam
/** 10 µm pixels at 0.2 arcsec: 20 arcsec per mm on the focal plane. */
const LSST_ARCSEC_PER_MM = 20;
const RAFT_PITCH_MM = 127;
const CCD_PITCH_MM = 42.25;
/** Science rafts with e2v sensors; the other science rafts and all corner rafts carry ITL sensors. */
const E2V_RAFTS = new Set(['R11', 'R12', 'R13', 'R14', 'R21', 'R22', 'R23', 'R24', 'R30', 'R31', 'R32', 'R33', 'R34']);
const SCIENCE_RAFTS = [
  'R01', 'R02', 'R03',
  'R10', 'R11', 'R12', 'R13', 'R14',
  'R20', 'R21', 'R22', 'R23', 'R24',
  'R30', 'R31', 'R32', 'R33', 'R34',
  'R41', 'R42', 'R43',
];
const CORNER_RAFTS = ['R00', 'R04', 'R40', 'R44'];
const SENSORS = ['S00', 'S01', 'S02', 'S10', 'S11', 'S12', 'S20', 'S21', 'S22'];

function lsstCenter(raft: string, sensorRow: number, sensorCol: number): { x: number; y: number } {
  const rr = Number(raft[1]);
  const rc = Number(raft[2]);
  const xmm = (rc - 2) * RAFT_PITCH_MM + (sensorCol - 1) * CCD_PITCH_MM;
  const ymm = (rr - 2) * RAFT_PITCH_MM + (sensorRow - 1) * CCD_PITCH_MM;
  return { x: xmm * LSST_ARCSEC_PER_MM, y: ymm * LSST_ARCSEC_PER_MM };
}

function lsstCamDetectors(): Detector[] {
  const out: Detector[] = [];
  let id = 0;
  for (const raft of SCIENCE_RAFTS) {
    const ccdType: CcdType = E2V_RAFTS.has(raft) ? 'E2V' : 'ITL';
    for (const s of SENSORS) {
      const detId = id++;
      out.push(
        makeDetector(detId, `${raft}_${s}`, 'SCIENCE', ccdType, lsstCenter(raft, Number(s[1]), Number(s[2])), () =>
          lsstCcdGeometry(ccdType as 'ITL' | 'E2V', detId),
        ),
      );
    }
  }
  // Corner rafts: two guiders and a pair of half-size wavefront sensors each (ids 189..204).
  for (const raft of CORNER_RAFTS) {
    const cornerSlots: Array<{ slot: string; purpose: DetectorPurpose; row: number; col: number }> = [
      { slot: 'SG0', purpose: 'GUIDER', row: 0, col: 1 },
      { slot: 'SG1', purpose: 'GUIDER', row: 1, col: 0 },
      { slot: 'SW0', purpose: 'WAVEFRONT', row: 1.75, col: 1.5 },
      { slot: 'SW1', purpose: 'WAVEFRONT', row: 1.25, col: 1.5 },
    ];
    for (const c of cornerSlots) {
      const detId = id++;
      const rows = c.purpose === 'WAVEFRONT' ? 1 : 2;
      out.push(
        makeDetector(detId, `${raft}_${c.slot}`, c.purpose, 'ITL', lsstCenter(raft, c.row, c.col), () =>
          lsstCcdGeometry('ITL', detId, rows),
        ),
      );
    }
  }
  return out;
}

const LSSTCAM_FILTERS: PhysicalFilter[] = [
  { name: 'u_24', band: 'u' },
  { name: 'g_6', band: 'g' },
  { name: 'r_57', band: 'r' },
  { name: 'i_39', band: 'i' },
  { name: 'z_20', band: 'z' },
  { name: 'y_10', band: 'y' },
];

const COMCAM_FILTERS: PhysicalFilter[] = [
  { name: 'u_02', band: 'u' },
  { name: 'g_01', band: 'g' },
  { name: 'r_03', band: 'r' },
  { name: 'i_06', band: 'i' },
  { name: 'z_03', band: 'z' },
  { name: 'y_04', band: 'y' },
];

// ---------------------------------------------------------------- DECam
/** DECam CCD numbers 1..62 in focal-plane rows, south to north; names as the camera uses them. */
const DECAM_ROWS: string[][] = [
  ['S29', 'S30', 'S31'],
  ['S25', 'S26', 'S27', 'S28'],
  ['S20', 'S21', 'S22', 'S23', 'S24'],
  ['S14', 'S15', 'S16', 'S17', 'S18', 'S19'],
  ['S8', 'S9', 'S10', 'S11', 'S12', 'S13'],
  ['S1', 'S2', 'S3', 'S4', 'S5', 'S6', 'S7'],
  ['N1', 'N2', 'N3', 'N4', 'N5', 'N6', 'N7'],
  ['N8', 'N9', 'N10', 'N11', 'N12', 'N13'],
  ['N14', 'N15', 'N16', 'N17', 'N18', 'N19'],
  ['N20', 'N21', 'N22', 'N23', 'N24'],
  ['N25', 'N26', 'N27', 'N28'],
  ['N29', 'N30', 'N31'],
];
const DECAM_PIXEL_SCALE = 0.263;

function decamDetectors(): Detector[] {
  const out: Detector[] = [];
  let ccdnum = 1;
  // DECam CCDs lie with their long (4096 px) side along focal-plane x, so the CCD frame is turned
  // by 90 degrees; rows are one short side plus a gap apart.
  const pitchX = (4096 + 110) * DECAM_PIXEL_SCALE;
  const pitchY = (2048 + 110) * DECAM_PIXEL_SCALE;
  DECAM_ROWS.forEach((row, r) => {
    const y = (r - 5.5) * pitchY;
    row.forEach((name, k) => {
      const x = (k - (row.length - 1) / 2) * pitchX;
      const detId = ccdnum++;
      out.push(makeDetector(detId, name, 'SCIENCE', 'DECAM', { x, y }, () => decamCcdGeometry(detId, name), 90));
    });
  });
  return out;
}

// ---------------------------------------------------------------- the registry
let registry: ReadonlyMap<InstrumentName, Instrument> | undefined;

function build(): ReadonlyMap<InstrumentName, Instrument> {
  const lsstCam = makeInstrument({
    name: 'LSSTCam',
    obsIdPrefix: 'MC',
    telescope: 'Simonyi Survey Telescope',
    snaps: 2,
    pixelScaleArcsec: 0.2,
    filters: LSSTCAM_FILTERS,
    detectors: lsstCamDetectors(),
  });
  const comCam = makeInstrument({
    name: 'LSSTComCam',
    obsIdPrefix: 'CC',
    telescope: 'Simonyi Survey Telescope',
    snaps: 2,
    pixelScaleArcsec: 0.2,
    filters: COMCAM_FILTERS,
    detectors: SENSORS.map((s, i) =>
      makeDetector(i, `R22_${s}`, 'SCIENCE', 'ITL', lsstCenter('R22', Number(s[1]), Number(s[2])), () =>
        lsstCcdGeometry('ITL', i),
      ),
    ),
  });
  const latiss = makeInstrument({
    name: 'LATISS',
    obsIdPrefix: 'AT',
    telescope: 'Rubin Auxiliary Telescope',
    snaps: 1,
    pixelScaleArcsec: 0.1,
    filters: [
      { name: 'SDSSg_65mm', band: 'g' },
      { name: 'SDSSr_65mm', band: 'r' },
      { name: 'SDSSi_65mm', band: 'i' },
      { name: 'SDSSz_65mm', band: 'z' },
    ],
    detectors: [makeDetector(0, 'RXX_S00', 'SCIENCE', 'ITL', { x: 0, y: 0 }, () => lsstCcdGeometry('ITL', 0))],
  });
  const decam = makeInstrument({
    name: 'DECam',
    obsIdPrefix: 'DE',
    telescope: 'CTIO 4.0-m telescope',
    snaps: 1,
    pixelScaleArcsec: DECAM_PIXEL_SCALE,
    filters: [
      { name: 'u', band: 'u' },
      { name: 'g', band: 'g' },
      { name: 'r', band: 'r' },
      { name: 'i', band: 'i' },
      { name: 'z', band: 'z' },
      { name: 'Y', band: 'y' },
    ],
    detectors: decamDetectors(),
  });
  return new Map<InstrumentName, Instrument>([
    ['LSSTCam', lsstCam],
    ['LSSTComCam', comCam],
    ['LATISS', latiss],
    ['DECam', decam],
  ]);
}

export function isInstrumentName(name: string): name is InstrumentName {
  return (INSTRUMENT_NAMES as readonly string[]).includes(name);
}

/** The instrument called `name`; an InvalidInputError naming the known ones otherwise. */
export function getInstrument(name: string): Instrument {
  registry ??= build();
  if (!isInstrumentName(name)) {
    throw new InvalidInputError(`unknown instrument '${name}' (known: ${INSTRUMENT_NAMES.join(', ')})`);
  }
  return registry.get(name) as Instrument;
}
