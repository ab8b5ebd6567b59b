/**
 * Where a detector looks: its TAN WCS and its sky footprint for a telescope pointing, from plain
 * numbers (the detector's place on the focal plane, its size and the pixel scale), so the
 * activator and the simulator compute the same thing without depending on each other.
 *
 * Conventions (the simulator's, see src/tester/sim/observation.ts): `centerArcsec` is the
 * detector centre on the focal plane, `detectorRotationDeg` the angle from focal-plane +x to
 * the detector's +x (counter-clockwise). At rotation (ROTPA) 0 focal-plane +y points north and +x
 * east; ROTPA turns +y to position angle ROTPA (east of north). The focal plane is the gnomonic
 * projection about the boresight. The detector's WCS is a TAN projection about the sky position
 * of its centre pixel ((width − 1)/2, (height − 1)/2) with the CD matrix of the boresight
 * projection there (central differences over a quarter of the detector).
 */
import { pixelToSky, skyToPixel, type TanWcs } from './tan-wcs.ts';

const D2R = Math.PI / 180;

export interface Boresight {
  readonly raDeg: number;
  readonly decDeg: number;
  /** ROTPA: position angle of focal-plane +y, degrees east of north. */
  readonly rotationDeg: number;
}

/** A detector on the focal plane, in plain numbers. */
export interface DetectorPlacement {
  /** Detector centre on the focal plane, arcsec from the boresight. */
  readonly centerArcsec: { readonly x: number; readonly y: number };
  /** Angle from focal-plane +x to the detector's +x, degrees counter-clockwise. */
  readonly detectorRotationDeg: number;
  readonly pixelScaleArcsec: number;
  /** Trimmed detector size, pixels. */
  readonly width: number;
  readonly height: number;
}

/** Focal-plane position (arcsec) of a detector pixel (0-based, trimmed detector). */
export function placementToFocalPlane(d: DetectorPlacement, x: number, y: number): [number, number] {
  const dx = x - (d.width - 1) / 2;
  const dy = y - (d.height - 1) / 2;
  const p = d.detectorRotationDeg * D2R;
  const c = Math.cos(p);
  const s = Math.sin(p);
  return [d.centerArcsec.x + d.pixelScaleArcsec * (dx * c - dy * s), d.centerArcsec.y + d.pixelScaleArcsec * (dx * s + dy * c)];
}

/** Boresight-relative intermediate coordinates (xi east, eta north; degrees) of a focal-plane point (arcsec). */
export function focalPlaneToTangentDeg(b: Boresight, xArcsec: number, yArcsec: number): [number, number] {
  const t = b.rotationDeg * D2R;
  const c = Math.cos(t);
  const s = Math.sin(t);
  return [(xArcsec * c + yArcsec * s) / 3600, (-xArcsec * s + yArcsec * c) / 3600];
}

/** The detector's TAN WCS for a pointing (the simulator's detectorWcs, from plain numbers). */
export function placementWcs(b: Boresight, d: DetectorPlacement): TanWcs {
  const cx = (d.width - 1) / 2;
  const cy = (d.height - 1) / 2;
  const bore: TanWcs = { crvalDeg: [b.raDeg, b.decDeg], crpix: [0, 0], cd: [[1, 0], [0, 1]] };
  const sky = new Float64Array(2);
  const toSky = (x: number, y: number): [number, number] => {
    const [fx, fy] = placementToFocalPlane(d, x, y);
    const [xi, eta] = focalPlaneToTangentDeg(b, fx, fy);
    pixelToSky(bore, xi, eta, sky);
    return [sky[0], sky[1]];
  };
  const [ra0, dec0] = toSky(cx, cy);
  const local: TanWcs = { crvalDeg: [ra0, dec0], crpix: [0, 0], cd: [[1, 0], [0, 1]] };
  const L = Math.min(d.width, d.height) / 4;
  const tangent = (x: number, y: number): [number, number] => {
    const [ra, dec] = toSky(x, y);
    const p = skyToPixel(local, ra, dec);
    return [p[0], p[1]];
  };
  const xp = tangent(cx + L, cy);
  const xm = tangent(cx - L, cy);
  const yp = tangent(cx, cy + L);
  const ym = tangent(cx, cy - L);
  const cd: TanWcs['cd'] = [
    [(xp[0] - xm[0]) / (2 * L), (yp[0] - ym[0]) / (2 * L)],
    [(xp[1] - xm[1]) / (2 * L), (yp[1] - ym[1]) / (2 * L)],
  ];
  return { crvalDeg: [ra0, dec0], crpix: [cx, cy], cd };
}

/**
 * Sky corners (degrees) of a pixel rectangle through a WCS: the outer edges of pixels
 * [0, width) × [0, height) (pixel i covers [i − 0.5, i + 0.5)), grown by `padPx` on every side.
 * Order: (x0, y0), (x1, y0), (x1, y1), (x0, y1). A TAN WCS maps the straight edges to great
 * circles, so the four corners describe the footprint exactly.
 */
export function wcsFootprint(wcs: TanWcs, width: number, height: number, padPx = 0): Array<[number, number]> {
  const x0 = -0.5 - padPx;
  const y0 = -0.5 - padPx;
  const x1 = width - 0.5 + padPx;
  const y1 = height - 0.5 + padPx;
  return [
    [x0, y0],
    [x1, y0],
    [x1, y1],
    [x0, y1],
  ].map(([x, y]) => {
    const s = pixelToSky(wcs, x, y);
    return [s[0], s[1]] as [number, number];
  });
}

/** Sky corners of a detector for a pointing, padded by `padArcsec` on every side. */
export function placementFootprint(b: Boresight, d: DetectorPlacement, padArcsec = 0): Array<[number, number]> {
  return wcsFootprint(placementWcs(b, d), d.width, d.height, padArcsec / d.pixelScaleArcsec);
}
