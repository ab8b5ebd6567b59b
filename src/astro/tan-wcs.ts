/**
 * Gnomonic (TAN) world coordinate system, FITS paper II conventions, with a CD matrix.
 * Pixel coordinates here are 0-based (the FITS CRPIX is 1-based: crpix = fitsCrpix - 1).
 */
export interface TanWcs {
  /** Reference sky position, degrees. */
  readonly crvalDeg: readonly [number, number];
  /** Reference pixel, 0-based. */
  readonly crpix: readonly [number, number];
  /** CD matrix, degrees per pixel: [[cd11, cd12], [cd21, cd22]]. */
  readonly cd: readonly [readonly [number, number], readonly [number, number]];
}

const D2R = Math.PI / 180;
const R2D = 180 / Math.PI;

/** Builds a TAN WCS from a pointing, pixel scale and rotation (angle of +y from north, east of north). */
export function makeTanWcs(opts: {
  raDeg: number;
  decDeg: number;
  crpix: readonly [number, number];
  pixelScaleArcsec: number;
  rotationDeg?: number;
  /** East to the left (standard sky view) unless false. */
  eastLeft?: boolean;
}): TanWcs {
  const s = opts.pixelScaleArcsec / 3600;
  const t = (opts.rotationDeg ?? 0) * D2R;
  const c = Math.cos(t);
  const n = Math.sin(t);
  const cd: TanWcs['cd'] =
    opts.eastLeft === false
      ? [
          [s * c, -s * n],
          [s * n, s * c],
        ]
      : [
          [-s * c, s * n],
          [s * n, s * c],
        ];
  return { crvalDeg: [opts.raDeg, opts.decDeg], crpix: opts.crpix, cd };
}

/** Intermediate world coordinates (degrees) → sky (degrees). Writes into `out`. */
function deproject(wcs: TanWcs, xi: number, eta: number, out: Float64Array | number[]): void {
  const ra0 = wcs.crvalDeg[0] * D2R;
  const dec0 = wcs.crvalDeg[1] * D2R;
  const x = xi * D2R;
  const y = eta * D2R;
  const sinDec0 = Math.sin(dec0);
  const cosDec0 = Math.cos(dec0);
  const denom = cosDec0 - y * sinDec0;
  const ra = ra0 + Math.atan2(x, denom);
  const dec = Math.atan2(sinDec0 + y * cosDec0, Math.hypot(x, denom));
  let raDeg = ra * R2D;
  raDeg = ((raDeg % 360) + 360) % 360;
  out[0] = raDeg;
  out[1] = dec * R2D;
}

/** 0-based pixel → (ra, dec) degrees. */
export function pixelToSky(wcs: TanWcs, x: number, y: number, out: Float64Array | number[] = new Float64Array(2)): Float64Array | number[] {
  const dx = x - wcs.crpix[0];
  const dy = y - wcs.crpix[1];
  const xi = wcs.cd[0][0] * dx + wcs.cd[0][1] * dy;
  const eta = wcs.cd[1][0] * dx + wcs.cd[1][1] * dy;
  deproject(wcs, xi, eta, out);
  return out;
}

/** (ra, dec) degrees → 0-based pixel; NaN for points on the far hemisphere. */
export function skyToPixel(wcs: TanWcs, raDeg: number, decDeg: number, out: Float64Array | number[] = new Float64Array(2)): Float64Array | number[] {
  const ra0 = wcs.crvalDeg[0] * D2R;
  const dec0 = wcs.crvalDeg[1] * D2R;
  const ra = raDeg * D2R;
  const dec = decDeg * D2R;
  const cosC = Math.sin(dec0) * Math.sin(dec) + Math.cos(dec0) * Math.cos(dec) * Math.cos(ra - ra0);
  if (cosC <= 0) {
    out[0] = NaN;
    out[1] = NaN;
    return out;
  }
  const xi = (Math.cos(dec) * Math.sin(ra - ra0)) / cosC * R2D;
  const eta = (Math.cos(dec0) * Math.sin(dec) - Math.sin(dec0) * Math.cos(dec) * Math.cos(ra - ra0)) / cosC * R2D;
  const [[a, b], [c, d]] = wcs.cd;
  const det = a * d - b * c;
  out[0] = wcs.crpix[0] + (d * xi - b * eta) / det;
  out[1] = wcs.crpix[1] + (-c * xi + a * eta) / det;
  return out;
}

/**
 * The frame of a gnomonic projection about `crvalDeg`: the unit vectors (x, y, z on the celestial
 * sphere, as sphere.ts) towards the tangent point, east and north, nine numbers in that order.
 * With it a projection or deprojection is a few products and one division or square root
 * instead of trigonometric functions: for positions already held as unit vectors (a grid of
 * many, say) it is an order of magnitude faster than skyToPixel / pixelToSky, and agrees with
 * them to rounding.
 */
export function tangentFrame(crvalDeg: readonly [number, number]): Float64Array {
  const a = crvalDeg[0] * D2R;
  const d = crvalDeg[1] * D2R;
  const ca = Math.cos(a);
  const sa = Math.sin(a);
  const cd = Math.cos(d);
  const sd = Math.sin(d);
  return Float64Array.of(cd * ca, cd * sa, sd, -sa, ca, 0, -sd * ca, -sd * sa, cd);
}

/** Intermediate world coordinates (ξ, η), degrees, of the direction (x, y, z) in a tangent frame; NaN on the far hemisphere. */
export function projectUnit(frame: Float64Array, x: number, y: number, z: number, out: Float64Array): Float64Array {
  const c = frame[0] * x + frame[1] * y + frame[2] * z;
  if (!(c > 0)) {
    out[0] = NaN;
    out[1] = NaN;
    return out;
  }
  out[0] = ((frame[3] * x + frame[4] * y) / c) * R2D;
  out[1] = ((frame[6] * x + frame[7] * y + frame[8] * z) / c) * R2D;
  return out;
}

/** The unit vector of intermediate world coordinates (ξ, η), degrees, in a tangent frame: out[at … at + 2]. */
export function deprojectUnit(frame: Float64Array, xiDeg: number, etaDeg: number, out: Float64Array, at = 0): Float64Array {
  const xi = xiDeg * D2R;
  const eta = etaDeg * D2R;
  const k = 1 / Math.sqrt(1 + xi * xi + eta * eta);
  out[at] = (frame[0] + xi * frame[3] + eta * frame[6]) * k;
  out[at + 1] = (frame[1] + xi * frame[4] + eta * frame[7]) * k;
  out[at + 2] = (frame[2] + eta * frame[8]) * k;
  return out;
}

/** FITS header cards (1-based CRPIX) for a TAN WCS. */
export function tanWcsCards(wcs: TanWcs): Array<{ key: string; value: string | number; comment?: string }> {
  return [
    { key: 'WCSAXES', value: 2 },
    { key: 'CTYPE1', value: 'RA---TAN', comment: 'gnomonic projection' },
    { key: 'CTYPE2', value: 'DEC--TAN', comment: 'gnomonic projection' },
    { key: 'CUNIT1', value: 'deg' },
    { key: 'CUNIT2', value: 'deg' },
    { key: 'CRVAL1', value: wcs.crvalDeg[0], comment: '[deg] RA at reference pixel' },
    { key: 'CRVAL2', value: wcs.crvalDeg[1], comment: '[deg] Dec at reference pixel' },
    { key: 'CRPIX1', value: wcs.crpix[0] + 1, comment: 'reference pixel (1-based)' },
    { key: 'CRPIX2', value: wcs.crpix[1] + 1, comment: 'reference pixel (1-based)' },
    { key: 'CD1_1', value: wcs.cd[0][0] },
    { key: 'CD1_2', value: wcs.cd[0][1] },
    { key: 'CD2_1', value: wcs.cd[1][0] },
    { key: 'CD2_2', value: wcs.cd[1][1] },
    { key: 'RADESYS', value: 'ICRS' },
    { key: 'EQUINOX', value: 2000.0 },
  ];
}

/** Reads a TAN WCS from header values; `get` returns undefined for a missing key. */
export function tanWcsFromHeader(get: (key: string) => unknown): TanWcs | null {
  const num = (k: string): number | undefined => {
    const v = get(k);
    return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
  };
  const c1 = get('CTYPE1');
  const c2 = get('CTYPE2');
  if (typeof c1 !== 'string' || typeof c2 !== 'string' || !c1.startsWith('RA---TAN') || !c2.startsWith('DEC--TAN')) return null;
  const v = [num('CRVAL1'), num('CRVAL2'), num('CRPIX1'), num('CRPIX2')];
  if (v.some((x) => x === undefined)) return null;
  let cd: [[number, number], [number, number]];
  if (num('CD1_1') !== undefined) {
    cd = [
      [num('CD1_1') ?? 0, num('CD1_2') ?? 0],
      [num('CD2_1') ?? 0, num('CD2_2') ?? 0],
    ];
  } else if (num('CDELT1') !== undefined && num('CDELT2') !== undefined) {
    const c1d = num('CDELT1') as number;
    const c2d = num('CDELT2') as number;
    const rot = (num('CROTA2') ?? 0) * D2R;
    cd = [
      [c1d * Math.cos(rot), -c2d * Math.sin(rot)],
      [c1d * Math.sin(rot), c2d * Math.cos(rot)],
    ];
  } else {
    return null;
  }
  return { crvalDeg: [v[0] as number, v[1] as number], crpix: [(v[2] as number) - 1, (v[3] as number) - 1], cd };
}

/** Great-circle separation, arcseconds. */
export function separationArcsec(ra1: number, dec1: number, ra2: number, dec2: number): number {
  const p1 = dec1 * D2R;
  const p2 = dec2 * D2R;
  const dp = p2 - p1;
  const dl = (ra2 - ra1) * D2R;
  const a = Math.sin(dp / 2) ** 2 + Math.cos(p1) * Math.cos(p2) * Math.sin(dl / 2) ** 2;
  return 2 * Math.asin(Math.min(1, Math.sqrt(a))) * R2D * 3600;
}
