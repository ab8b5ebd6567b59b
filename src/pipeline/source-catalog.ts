/**
 * The measured source catalog of one detector-visit, columnar: one typed array per column, all
 * of the same length. Pixel coordinates are 0-based in the assembled detector image.
 */
export interface SourceCatalog {
  readonly length: number;
  /** 1-based source number within the detector-visit. */
  readonly id: Int32Array;
  readonly x: Float64Array;
  readonly y: Float64Array;
  readonly xErr: Float32Array;
  readonly yErr: Float32Array;
  /** ICRS degrees from the exposure's WCS (NaN without one). */
  readonly ra: Float64Array;
  readonly dec: Float64Array;
  /** Circular-aperture flux (electrons) and its 1-sigma error. */
  readonly apFlux: Float32Array;
  readonly apFluxErr: Float32Array;
  readonly snr: Float32Array;
  /**
   * PSF flux (electrons): the amplitude of a unit-sum PSF model at the centroid, fitted by
   * inverse-variance weighted linear least squares; its 1-sigma error; and the fit's chi² per
   * degree of freedom. NaN when the fit failed (SourceFlag.PSF_FLUX_FAILED).
   */
  readonly psfFlux: Float32Array;
  readonly psfFluxErr: Float32Array;
  readonly psfChi2: Float32Array;
  /** Highest pixel value in the footprint (electrons, background-subtracted). */
  readonly peak: Float32Array;
  /** Adaptive second moments (pixels²). */
  readonly ixx: Float32Array;
  readonly iyy: Float32Array;
  readonly ixy: Float32Array;
  /** Footprint area (pixels above the detection threshold). */
  readonly area: Int32Array;
  /** SourceFlag bits. */
  readonly flags: Int32Array;
}

export const SourceFlag = {
  CENTROID_FAILED: 1 << 0,
  MOMENTS_FAILED: 1 << 1,
  /** A saturated pixel in the footprint or the aperture. */
  SATURATED: 1 << 2,
  /** The aperture runs off the image or into NO_DATA pixels. */
  EDGE: 1 << 3,
  /** A cosmic-ray pixel in the aperture. */
  COSMIC_RAY: 1 << 4,
  /** A BAD pixel in the aperture. */
  BAD: 1 << 5,
  /** More than one peak in the footprint. */
  BLENDED: 1 << 6,
  /** A SUSPECT pixel in the aperture. */
  SUSPECT: 1 << 7,
  /** No PSF flux: too little of the PSF on usable pixels, or no usable variance. */
  PSF_FLUX_FAILED: 1 << 8,
} as const;
export type SourceFlagName = keyof typeof SourceFlag;

export type SourceColumnName = Exclude<keyof SourceCatalog, 'length'>;

export interface SourceColumn {
  readonly name: SourceColumnName;
  readonly format: 'J' | 'D' | 'E';
  readonly unit: string;
  readonly doc: string;
  /** Added after the first catalogs were written: a file without it reads as NaN. */
  readonly optional?: boolean;
}

/** Column order, FITS formats and units for the catalog file. */
export const SOURCE_COLUMNS: readonly SourceColumn[] = [
  { name: 'id', format: 'J', unit: '', doc: 'source number within the detector-visit' },
  { name: 'x', format: 'D', unit: 'pix', doc: 'centroid x, 0-based' },
  { name: 'y', format: 'D', unit: 'pix', doc: 'centroid y, 0-based' },
  { name: 'xErr', format: 'E', unit: 'pix', doc: 'centroid x error' },
  { name: 'yErr', format: 'E', unit: 'pix', doc: 'centroid y error' },
  { name: 'ra', format: 'D', unit: 'deg', doc: 'right ascension (ICRS)' },
  { name: 'dec', format: 'D', unit: 'deg', doc: 'declination (ICRS)' },
  { name: 'apFlux', format: 'E', unit: 'electron', doc: 'circular aperture flux' },
  { name: 'apFluxErr', format: 'E', unit: 'electron', doc: 'aperture flux error' },
  { name: 'snr', format: 'E', unit: '', doc: 'aperture signal to noise' },
  { name: 'psfFlux', format: 'E', unit: 'electron', doc: 'PSF-fit flux', optional: true },
  { name: 'psfFluxErr', format: 'E', unit: 'electron', doc: 'PSF-fit flux error', optional: true },
  { name: 'psfChi2', format: 'E', unit: '', doc: 'PSF fit chi2 per degree of freedom', optional: true },
  { name: 'peak', format: 'E', unit: 'electron', doc: 'highest footprint pixel' },
  { name: 'ixx', format: 'E', unit: 'pix2', doc: 'adaptive second moment xx' },
  { name: 'iyy', format: 'E', unit: 'pix2', doc: 'adaptive second moment yy' },
  { name: 'ixy', format: 'E', unit: 'pix2', doc: 'adaptive second moment xy' },
  { name: 'area', format: 'J', unit: 'pix', doc: 'footprint area' },
  { name: 'flags', format: 'J', unit: '', doc: 'SourceFlag bits' },
];

export function makeSourceCatalog(n: number): SourceCatalog {
  return {
    length: n,
    id: new Int32Array(n),
    x: new Float64Array(n),
    y: new Float64Array(n),
    xErr: new Float32Array(n),
    yErr: new Float32Array(n),
    ra: new Float64Array(n),
    dec: new Float64Array(n),
    apFlux: new Float32Array(n),
    apFluxErr: new Float32Array(n),
    snr: new Float32Array(n),
    psfFlux: new Float32Array(n),
    psfFluxErr: new Float32Array(n),
    psfChi2: new Float32Array(n),
    peak: new Float32Array(n),
    ixx: new Float32Array(n),
    iyy: new Float32Array(n),
    ixy: new Float32Array(n),
    area: new Int32Array(n),
    flags: new Int32Array(n),
  };
}
