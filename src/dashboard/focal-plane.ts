/**
 * The instrument's focal plane as the page draws it: every detector's outline in arcseconds
 * from the boresight (x east, y north), from the camera geometry in src/instruments (centre,
 * trimmed size × pixel scale, rotation), and the raft outlines of the LSST cameras.
 */
import { getInstrument } from '../instruments/index.ts';

export interface FocalPlaneDetector {
  readonly id: number;
  readonly name: string;
  readonly purpose: string;
  /** Lower-left corner and size, arcseconds. */
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export interface FocalPlane {
  readonly instrument: string;
  readonly detectors: readonly FocalPlaneDetector[];
  /** Raft outlines (LSSTCam, LSSTComCam): the box around each raft's detectors. */
  readonly rafts: readonly { readonly name: string; readonly x: number; readonly y: number; readonly width: number; readonly height: number }[];
  /** The box around everything, arcseconds. */
  readonly bounds: { readonly x: number; readonly y: number; readonly width: number; readonly height: number };
}

export function focalPlane(instrumentName: string): FocalPlane {
  const inst = getInstrument(instrumentName);
  const detectors: FocalPlaneDetector[] = inst.detectors.map((d) => {
    const g = d.geometry();
    const w = g.width * inst.pixelScaleArcsec;
    const h = g.height * inst.pixelScaleArcsec;
    // The detector's outline turned by its rotation (axis-aligned for the cameras here).
    const r = (d.rotationDeg * Math.PI) / 180;
    const c = Math.abs(Math.cos(r));
    const s = Math.abs(Math.sin(r));
    const width = w * c + h * s;
    const height = w * s + h * c;
    return { id: d.id, name: d.name, purpose: d.purpose, x: d.centerArcsec.x - width / 2, y: d.centerArcsec.y - height / 2, width, height };
  });
  const byRaft = new Map<string, FocalPlaneDetector[]>();
  for (const d of detectors) {
    const m = /^(R\d\d)_/.exec(d.name);
    if (!m) continue;
    const list = byRaft.get(m[1]) ?? [];
    list.push(d);
    byRaft.set(m[1], list);
  }
  const box = (ds: readonly FocalPlaneDetector[], pad: number) => {
    const x0 = Math.min(...ds.map((d) => d.x)) - pad;
    const y0 = Math.min(...ds.map((d) => d.y)) - pad;
    const x1 = Math.max(...ds.map((d) => d.x + d.width)) + pad;
    const y1 = Math.max(...ds.map((d) => d.y + d.height)) + pad;
    return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
  };
  // A raft's outline sits in the gap between rafts: a quarter of the detector gap outside.
  const gap = inst.name === 'LSSTCam' || inst.name === 'LSSTComCam' ? 12 : 0;
  const rafts = byRaft.size > 1 || inst.name === 'LSSTComCam' ? [...byRaft].map(([name, ds]) => ({ name, ...box(ds, gap) })) : [];
  return { instrument: inst.name, detectors, rafts, bounds: box(detectors, 0) };
}
