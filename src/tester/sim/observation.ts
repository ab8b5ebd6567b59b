/**
 * The sky model of one detector in one exposure: where the detector looks (its TAN WCS), how
 * bright the sky is, how many electrons each star gives, and the PSF.
 *
 * Focal-plane convention. A detector's `centerArcsec` is its centre on the focal plane, and
 * `rotationDeg` the angle from focal-plane +x to the detector's +x (counter-clockwise). At sky
 * rotation ROTPA = 0 the focal-plane +y axis points north and +x east; ROTPA turns the focal
 * plane so that +y points at position angle ROTPA (east of north). Images therefore have
 * east along +x at ROTPA = 0 (the parity DECam raws have: det(CD) > 0).
 *
 * The detector's WCS is a TAN projection about the sky position of the detector centre
 * (CRPIX = centre of the trimmed detector), with the CD matrix of the boresight projection at
 * that point: there is no optical distortion, so it is the exact truth the stars are painted with.
 *
 * Photometry. `ZERO_POINTS[instrument][band]` is the AB magnitude giving 1 photo-electron per
 * second at airmass 1 (atmosphere included). LSSTCam / LSSTComCam use the SMTN-002 (throughputs
 * v1.9) values, u 26.52, g 28.51, r 28.36, i 28.17, z 27.78, y 26.82; DECam values scale the
 * Blanco's collecting area (~10 m² against ~33 m²) with DECam's thick-CCD red response; LATISS
 * scales the 1.2 m AuxTel. Dark-sky brightness (mag/arcsec²) is SMTN-002's for Cerro Pachón
 * (u 23.05, g 22.25, r 21.20, i 20.46, z 19.61, y 18.60), slightly brighter for CTIO. So a 15 s
 * LSSTCam r snap has a sky of ≈ 440 e-/pixel (≈ 880 e- per 30 s visit), and an r = 24 star gives
 * ≈ 830 e- per snap; a 90 s DECam r exposure has ≈ 1,100 e-/pixel.
 */
import type { Detector, Instrument, InstrumentName } from '../../instruments/index.ts';
import { pixelToSky, skyToPixel, type TanWcs } from '../../astro/index.ts';
import { InvalidInputError } from '../../core/errors.ts';
import type { RngSeed } from '../../core/rng.ts';
import { type Band, type SkyCatalogSpec, starsInRegion } from './sky-catalog.ts';
import { moffatAlpha, PSF_BETA } from './psf.ts';
import { detectorPointingWcs } from '../../instruments/placement.ts';


export const ZERO_POINTS: Readonly<Record<InstrumentName, Readonly<Record<Band, number>>>> = {
  LSSTCam: { u: 26.52, g: 28.51, r: 28.36, i: 28.17, z: 27.78, y: 26.82 },
  LSSTComCam: { u: 26.4, g: 28.4, r: 28.3, i: 28.1, z: 27.7, y: 26.7 },
  LATISS: { u: 22.6, g: 24.6, r: 24.5, i: 24.2, z: 23.6, y: 22.5 },
  DECam: { u: 24.8, g: 26.9, r: 26.9, i: 26.8, z: 26.5, y: 25.5 },
};

export const DARK_SKY_MAG_ARCSEC2: Readonly<Record<InstrumentName, Readonly<Record<Band, number>>>> = {
  LSSTCam: { u: 23.05, g: 22.25, r: 21.2, i: 20.46, z: 19.61, y: 18.6 },
  LSSTComCam: { u: 23.05, g: 22.25, r: 21.2, i: 20.46, z: 19.61, y: 18.6 },
  LATISS: { u: 23.05, g: 22.25, r: 21.2, i: 20.46, z: 19.61, y: 18.6 },
  DECam: { u: 22.9, g: 22.1, r: 21.1, i: 20.3, z: 19.3, y: 18.2 },
};

/** Default EXPTIME per instrument for SCIENCE and DARK exposures (FLAT: 5 s; BIAS: 0). */
export const DEFAULT_EXPOSURE_S: Readonly<Record<InstrumentName, number>> = { LSSTCam: 15, LSSTComCam: 15, LATISS: 30, DECam: 90 };

/** Camera properties the simulation needs beyond the instrument registry. */
export interface CameraProperties {
  /** Pixel pitch, micrometres (for the cosmic-ray rate per cm²). */
  readonly pixelSizeUm: number;
  /** Depletion depth, micrometres (cosmic-ray track lengths). */
  readonly thicknessUm: number;
  /** Radius of the illuminated field, arcsec (scale of the vignetting). */
  readonly fieldRadiusArcsec: number;
  /** DARKTIME − EXPTIME (shutter and readout), seconds. */
  readonly darkOverheadS: number;
  /** Mean dark current, e-/s/pixel. */
  readonly darkCurrentEPerS: number;
}

export const CAMERA_PROPERTIES: Readonly<Record<InstrumentName, CameraProperties>> = {
  LSSTCam: { pixelSizeUm: 10, thicknessUm: 100, fieldRadiusArcsec: 6300, darkOverheadS: 0.43, darkCurrentEPerS: 0.002 },
  LSSTComCam: { pixelSizeUm: 10, thicknessUm: 100, fieldRadiusArcsec: 1900, darkOverheadS: 0.43, darkCurrentEPerS: 0.002 },
  LATISS: { pixelSizeUm: 10, thicknessUm: 100, fieldRadiusArcsec: 300, darkOverheadS: 0.43, darkCurrentEPerS: 0.002 },
  DECam: { pixelSizeUm: 15, thicknessUm: 250, fieldRadiusArcsec: 4000, darkOverheadS: 1.0, darkCurrentEPerS: 0.002 },
};

export interface Pointing {
  /** Boresight. */
  readonly raDeg: number;
  readonly decDeg: number;
  /** Position angle of focal-plane +y, degrees east of north (the ROTPA card). */
  readonly rotationDeg: number;
}

/** A point source added to the sky (a transient), in the exposure's band. */
export interface PointSource {
  readonly raDeg: number;
  readonly decDeg: number;
  readonly mag: number;
  /** Caller's id, copied into the truth (default: −1 − index). */
  readonly id?: number;
}

const D2R = Math.PI / 180;

/** Boresight-relative intermediate coordinates (xi east, eta north; degrees) of a focal-plane point (arcsec). */
export function focalPlaneToTangent(pointing: Pointing, xArcsec: number, yArcsec: number): [number, number] {
  const t = pointing.rotationDeg * D2R;
  const c = Math.cos(t);
  const s = Math.sin(t);
  return [(xArcsec * c + yArcsec * s) / 3600, (-xArcsec * s + yArcsec * c) / 3600];
}

/** Focal-plane position (arcsec) of a detector pixel (0-based, trimmed detector). */
export function detectorToFocalPlane(detector: Detector, pixelScaleArcsec: number, x: number, y: number): [number, number] {
  const g = detector.geometry();
  const dx = x - (g.width - 1) / 2;
  const dy = y - (g.height - 1) / 2;
  const p = detector.rotationDeg * D2R;
  const c = Math.cos(p);
  const s = Math.sin(p);
  return [detector.centerArcsec.x + pixelScaleArcsec * (dx * c - dy * s), detector.centerArcsec.y + pixelScaleArcsec * (dx * s + dy * c)];
}

/**
 * The detector's TAN WCS for a pointing (see the module comment for the conventions): the
 * camera geometry of src/instruments/placement.ts, which the activator uses too, so the
 * footprint it predicts is the one the simulator paints.
 */
export function detectorWcs(instrument: Instrument, detector: Detector, pointing: Pointing): TanWcs {
  return detectorPointingWcs(instrument, detector.id, pointing);
}

/** A WCS shifted on the sky by (dEast, dNorth) arcsec: the header WCS of a mis-pointed telescope. */
export function offsetWcs(wcs: TanWcs, dEastArcsec: number, dNorthArcsec: number): TanWcs {
  const centre = pixelToSky({ crvalDeg: wcs.crvalDeg, crpix: [0, 0], cd: [[1, 0], [0, 1]] }, dEastArcsec / 3600, dNorthArcsec / 3600);
  return { crvalDeg: [centre[0], centre[1]], crpix: wcs.crpix, cd: wcs.cd };
}


export interface ObservationParams {
  readonly instrument: Instrument;
  readonly detector: Detector;
  readonly pointing: Pointing;
  readonly band: Band;
  readonly exposureTimeS: number;
  readonly seeingFwhmArcsec: number;
  /** Sky brightness, mag/arcsec² (default: the dark sky of DARK_SKY_MAG_ARCSEC2). */
  readonly skyMagArcsec2?: number;
  /** Magnitude for 1 e-/s (default ZERO_POINTS). */
  readonly zeroPointMag?: number;
  readonly catalog: RngSeed | SkyCatalogSpec;
  readonly transients?: readonly PointSource[];
  /** Stars whose centre lies up to this many pixels outside the detector are kept (their wings land on it). */
  readonly marginPx?: number;
}

/** Point sources on a detector: catalog stars first, then transients. Pixel positions are 0-based, trimmed detector. */
export interface DetectorSources {
  readonly count: number;
  readonly ids: Float64Array;
  readonly x: Float64Array;
  readonly y: Float64Array;
  readonly ra: Float64Array;
  readonly dec: Float64Array;
  /** Magnitude in the exposure's band. */
  readonly mag: Float32Array;
  /** Expected photo-electrons in the exposure, before the flat-field pattern. */
  readonly electrons: Float64Array;
  /** 1 for an injected transient, 0 for a catalog star. */
  readonly transient: Uint8Array;
}

export interface DetectorSky {
  readonly wcs: TanWcs;
  readonly width: number;
  readonly height: number;
  readonly band: Band;
  readonly zeroPointMag: number;
  readonly skyMagArcsec2: number;
  /** Sky photo-electrons per pixel in the exposure, before the flat-field pattern. */
  readonly skyElectronsPerPixel: number;
  readonly psf: { readonly fwhmPx: number; readonly alphaPx: number; readonly beta: number };
  readonly sources: DetectorSources;
}

/** Sky model of one detector: WCS, sky level, PSF and the point sources with pixel positions and electrons. */
export function observeDetector(p: ObservationParams): DetectorSky {
  if (!(p.exposureTimeS >= 0) || !Number.isFinite(p.exposureTimeS)) throw new InvalidInputError(`exposure time ${p.exposureTimeS} s is not a non-negative number`);
  if (!(p.seeingFwhmArcsec > 0) || p.seeingFwhmArcsec > 20) throw new InvalidInputError(`seeing ${p.seeingFwhmArcsec} arcsec is outside (0, 20]`);
  const inst = p.instrument;
  const g = p.detector.geometry();
  const wcs = detectorWcs(inst, p.detector, p.pointing);
  const zp = p.zeroPointMag ?? ZERO_POINTS[inst.name][p.band];
  const skyMag = p.skyMagArcsec2 ?? DARK_SKY_MAG_ARCSEC2[inst.name][p.band];
  const pixArea = inst.pixelScaleArcsec * inst.pixelScaleArcsec;
  const skyE = 10 ** (-0.4 * (skyMag - zp)) * pixArea * p.exposureTimeS;
  const fwhmPx = p.seeingFwhmArcsec / inst.pixelScaleArcsec;
  const alphaPx = moffatAlpha(fwhmPx);
  const margin = p.marginPx ?? Math.ceil(8 * fwhmPx + 10);

  // Bounding box of the detector (plus margin) on the sky.
  const corners: Array<[number, number]> = [];
  const edge = [-margin, g.width / 2, g.width - 1 + margin];
  const edgeY = [-margin, g.height / 2, g.height - 1 + margin];
  for (const x of edge) for (const y of edgeY) corners.push([x, y]);
  let decMin = Infinity;
  let decMax = -Infinity;
  const ras: number[] = [];
  for (const [x, y] of corners) {
    const s = pixelToSky(wcs, x, y);
    decMin = Math.min(decMin, s[1]);
    decMax = Math.max(decMax, s[1]);
    ras.push(s[0]);
  }
  // RA range around the centre, unwrapped
  const ra0 = wcs.crvalDeg[0];
  let dMin = 0;
  let dMax = 0;
  for (const ra of ras) {
    let d = ra - ra0;
    d -= 360 * Math.round(d / 360);
    dMin = Math.min(dMin, d);
    dMax = Math.max(dMax, d);
  }
  const pole = decMax > 89.9 || decMin < -89.9;
  const region = pole
    ? { raMinDeg: 0, raMaxDeg: 360, decMinDeg: Math.max(-90, decMin), decMaxDeg: Math.min(90, decMax) }
    : { raMinDeg: ra0 + dMin, raMaxDeg: ra0 + dMax, decMinDeg: decMin, decMaxDeg: decMax };
  const cat = starsInRegion(p.catalog, region);

  const transients = p.transients ?? [];
  const nMax = cat.count + transients.length;
  const ids = new Float64Array(nMax);
  const xs = new Float64Array(nMax);
  const ys = new Float64Array(nMax);
  const ra = new Float64Array(nMax);
  const dec = new Float64Array(nMax);
  const mag = new Float32Array(nMax);
  const electrons = new Float64Array(nMax);
  const transient = new Uint8Array(nMax);
  const fluxScale = p.exposureTimeS;
  const pix = new Float64Array(2);
  let n = 0;
  const add = (id: number, r: number, d: number, m: number, isTransient: number): void => {
    skyToPixel(wcs, r, d, pix);
    const x = pix[0];
    const y = pix[1];
    if (!(x >= -margin && x <= g.width - 1 + margin && y >= -margin && y <= g.height - 1 + margin)) return;
    ids[n] = id;
    xs[n] = x;
    ys[n] = y;
    ra[n] = r;
    dec[n] = d;
    mag[n] = m;
    electrons[n] = 10 ** (-0.4 * (m - zp)) * fluxScale;
    transient[n] = isTransient;
    n++;
  };
  const mags = cat.mags[p.band];
  for (let i = 0; i < cat.count; i++) add(cat.ids[i], cat.ra[i], cat.dec[i], mags[i], 0);
  transients.forEach((t, i) => {
    if (![t.raDeg, t.decDeg, t.mag].every(Number.isFinite)) throw new InvalidInputError(`transient ${i} has a non-finite ra, dec or mag`);
    add(t.id ?? -1 - i, t.raDeg, t.decDeg, t.mag, 1);
  });
  return {
    wcs,
    width: g.width,
    height: g.height,
    band: p.band,
    zeroPointMag: zp,
    skyMagArcsec2: skyMag,
    skyElectronsPerPixel: skyE,
    psf: { fwhmPx, alphaPx, beta: PSF_BETA },
    sources: {
      count: n,
      ids: ids.slice(0, n),
      x: xs.slice(0, n),
      y: ys.slice(0, n),
      ra: ra.slice(0, n),
      dec: dec.slice(0, n),
      mag: mag.slice(0, n),
      electrons: electrons.slice(0, n),
      transient: transient.slice(0, n),
    },
  };
}
