/**
 * A TAN WCS with optional SIP polynomial distortion (Shupe et al. 2005), 0-based pixels:
 *
 *   u = x − crpix₁,  v = y − crpix₂
 *   (ξ, η) = CD · (u + f(u, v), v + g(u, v)),   f = Σ A_p_q uᵖ v^q,  g = Σ B_p_q uᵖ v^q,  2 ≤ p + q ≤ order
 *
 * then the gnomonic deprojection about CRVAL. Without distortion (`sip: null`) it is the plain
 * TanWcs of astro/tan-wcs.ts. The inverse (sky → pixel) is solved by Newton iterations on the
 * forward polynomial, so it is exact to ~1e-10 px; no AP/BP inverse coefficients are kept or written.
 */
import { deprojectUnit, pixelToSky, projectUnit, skyToPixel, tangentFrame, tanWcsCards, type TanWcs } from '../../astro/index.ts';

export interface SipDistortion {
  /** Largest p + q. */
  readonly order: number;
  /** A_p_q and B_p_q in the order of sipTerms(order). */
  readonly a: Float64Array;
  readonly b: Float64Array;
}

export interface SipWcs extends TanWcs {
  readonly sip: SipDistortion | null;
}

const D2R = Math.PI / 180;
const R2D = 180 / Math.PI;

/** The (p, q) exponents of the SIP terms of an order, 2 ≤ p + q ≤ order, by total degree then decreasing p. */
export function sipTerms(order: number): Array<readonly [number, number]> {
  const out: Array<readonly [number, number]> = [];
  for (let d = 2; d <= order; d++) for (let p = d; p >= 0; p--) out.push([p, d - p]);
  return out;
}

/** Powers u⁰ … u^order and v⁰ … v^order of the point being distorted (sipDistortion's scratch). */
const uPow = new Float64Array(16);
const vPow = new Float64Array(16);

/** f(u, v) and g(u, v) of a distortion, written into out[0], out[1]. */
export function sipDistortion(sip: SipDistortion, u: number, v: number, out: Float64Array): Float64Array {
  const order = sip.order;
  const up = order < 16 ? uPow : new Float64Array(order + 1);
  const vp = order < 16 ? vPow : new Float64Array(order + 1);
  up[0] = 1;
  vp[0] = 1;
  for (let i = 1; i <= order; i++) {
    up[i] = up[i - 1] * u;
    vp[i] = vp[i - 1] * v;
  }
  let f = 0;
  let g = 0;
  let k = 0;
  for (let d = 2; d <= order; d++) {
    for (let p = d; p >= 0; p--) {
      const t = up[p] * vp[d - p];
      f += sip.a[k] * t;
      g += sip.b[k] * t;
      k++;
    }
  }
  out[0] = f;
  out[1] = g;
  return out;
}

const scratch = new Float64Array(2);
/** The TAN projection about a WCS's reference point with unit CD: intermediate (ξ, η) degrees ↔ sky. */
const identities = new WeakMap<readonly [number, number], TanWcs>();
const identity = (crvalDeg: readonly [number, number]): TanWcs => {
  let id = identities.get(crvalDeg);
  if (!id) {
    id = { crvalDeg, crpix: [0, 0], cd: [[1, 0], [0, 1]] };
    identities.set(crvalDeg, id);
  }
  return id;
};

/** Intermediate world coordinates (ξ, η), degrees, of a 0-based pixel. */
export function sipPixelToIntermediate(wcs: SipWcs, x: number, y: number, out: Float64Array = new Float64Array(2)): Float64Array {
  let u = x - wcs.crpix[0];
  let v = y - wcs.crpix[1];
  if (wcs.sip) {
    sipDistortion(wcs.sip, u, v, scratch);
    u += scratch[0];
    v += scratch[1];
  }
  out[0] = wcs.cd[0][0] * u + wcs.cd[0][1] * v;
  out[1] = wcs.cd[1][0] * u + wcs.cd[1][1] * v;
  return out;
}

/** 0-based pixel → (ra, dec) degrees. */
export function sipPixelToSky(wcs: SipWcs, x: number, y: number, out: Float64Array = new Float64Array(2)): Float64Array {
  sipPixelToIntermediate(wcs, x, y, out);
  pixelToSky(identity(wcs.crvalDeg), out[0], out[1], out);
  return out;
}

/** (ra, dec) degrees → 0-based pixel (Newton iterations through the distortion); NaN on the far hemisphere. */
export function sipSkyToPixel(wcs: SipWcs, raDeg: number, decDeg: number, out: Float64Array = new Float64Array(2)): Float64Array {
  skyToPixel({ crvalDeg: wcs.crvalDeg, crpix: [0, 0], cd: wcs.cd }, raDeg, decDeg, out);
  return undistort(wcs, out);
}

/**
 * 0-based pixel → unit vector (x, y, z) of its sky position, into out[at … at + 2], with the
 * WCS's `tangentFrame(crvalDeg)`: as sipPixelToSky, without the trigonometry.
 */
export function sipPixelToUnit(wcs: SipWcs, frame: Float64Array, x: number, y: number, out: Float64Array, at = 0): Float64Array {
  sipPixelToIntermediate(wcs, x, y, scratchXi);
  return deprojectUnit(frame, scratchXi[0], scratchXi[1], out, at);
}

/** Unit vector (x, y, z) of a sky position → 0-based pixel, with the WCS's `tangentFrame(crvalDeg)`: as sipSkyToPixel. */
export function sipUnitToPixel(wcs: SipWcs, frame: Float64Array, x: number, y: number, z: number, out: Float64Array): Float64Array {
  projectUnit(frame, x, y, z, out);
  const cd = wcs.cd;
  const a = cd[0][0];
  const b = cd[0][1];
  const c = cd[1][0];
  const d = cd[1][1];
  const det = a * d - b * c;
  const xi = out[0];
  const eta = out[1];
  out[0] = (d * xi - b * eta) / det;
  out[1] = (-c * xi + a * eta) / det;
  return undistort(wcs, out);
}

const scratchXi = new Float64Array(2);

/**
 * A TAN or TAN-SIP WCS as pixel ↔ sky functions (the warp's SkyTransform), with the unit-vector
 * paths through its tangent frame. A class rather than closures made per WCS, so that optimised
 * code calling it serves every WCS instead of being rebuilt for each visit's.
 */
export class SipTransform {
  readonly wcs: SipWcs;
  readonly frame: Float64Array;

  constructor(wcs: SipWcs | TanWcs) {
    this.wcs = { crvalDeg: wcs.crvalDeg, crpix: wcs.crpix, cd: wcs.cd, sip: 'sip' in wcs ? wcs.sip : null };
    this.frame = tangentFrame(wcs.crvalDeg);
  }

  pixelToSky(x: number, y: number, out: Float64Array): Float64Array {
    return sipPixelToSky(this.wcs, x, y, out);
  }

  skyToPixel(raDeg: number, decDeg: number, out: Float64Array): Float64Array {
    return sipSkyToPixel(this.wcs, raDeg, decDeg, out);
  }

  pixelToUnit(x: number, y: number, out: Float64Array, at: number): Float64Array {
    return sipPixelToUnit(this.wcs, this.frame, x, y, out, at);
  }

  unitToPixel(x: number, y: number, z: number, out: Float64Array): Float64Array {
    return sipUnitToPixel(this.wcs, this.frame, x, y, z, out);
  }
}

/**
 * Undistorted pixel offsets from CRPIX (out[0], out[1]: CD⁻¹ (ξ, η)) → the 0-based pixel, in
 * place: the SIP polynomial inverted by Newton iterations on the forward one.
 */
function undistort(wcs: SipWcs, out: Float64Array): Float64Array {
  if (!wcs.sip || !Number.isFinite(out[0])) {
    out[0] += wcs.crpix[0];
    out[1] += wcs.crpix[1];
    return out;
  }
  // Solve U(u, v) = (u + f, v + g) = (U0, V0) for (u, v).
  const sip = wcs.sip;
  const u0 = out[0];
  const v0 = out[1];
  let u = u0;
  let v = v0;
  for (let it = 0; it < 50; it++) {
    sipDistortion(sip, u, v, scratch);
    const ru = u + scratch[0] - u0;
    const rv = v + scratch[1] - v0;
    // Jacobian of (f, g).
    let fu = 0;
    let fv = 0;
    let gu = 0;
    let gv = 0;
    let k = 0;
    for (let d = 2; d <= sip.order; d++) {
      for (let p = d; p >= 0; p--) {
        const q = d - p;
        const du = p > 0 ? p * u ** (p - 1) * v ** q : 0;
        const dv = q > 0 ? q * u ** p * v ** (q - 1) : 0;
        fu += sip.a[k] * du;
        fv += sip.a[k] * dv;
        gu += sip.b[k] * du;
        gv += sip.b[k] * dv;
        k++;
      }
    }
    const j11 = 1 + fu;
    const j12 = fv;
    const j21 = gu;
    const j22 = 1 + gv;
    const det = j11 * j22 - j12 * j21;
    const du = (j22 * ru - j12 * rv) / det;
    const dv = (-j21 * ru + j11 * rv) / det;
    u -= du;
    v -= dv;
    if (Math.abs(du) + Math.abs(dv) < 1e-12 * (1 + Math.abs(u) + Math.abs(v))) break;
  }
  out[0] = u + wcs.crpix[0];
  out[1] = v + wcs.crpix[1];
  return out;
}

/**
 * Gnomonic projection of many positions about (ra0, dec0): ξ (east) and η (north), in the unit
 * `scale` per radian (206264.806… for arcseconds). Points on the far hemisphere get NaN.
 */
export function projectTangent(
  raDeg: ArrayLike<number>,
  decDeg: ArrayLike<number>,
  ra0Deg: number,
  dec0Deg: number,
  outXi: Float64Array,
  outEta: Float64Array,
  scale = R2D * 3600,
  indices?: ArrayLike<number>,
): void {
  const sd0 = Math.sin(dec0Deg * D2R);
  const cd0 = Math.cos(dec0Deg * D2R);
  const n = indices ? indices.length : raDeg.length;
  for (let k = 0; k < n; k++) {
    const i = indices ? indices[k] : k;
    const dra = (raDeg[i] - ra0Deg) * D2R;
    const dec = decDeg[i] * D2R;
    const sd = Math.sin(dec);
    const cdd = Math.cos(dec);
    const cra = Math.cos(dra);
    const cosC = sd0 * sd + cd0 * cdd * cra;
    if (!(cosC > 0)) {
      outXi[k] = NaN;
      outEta[k] = NaN;
      continue;
    }
    outXi[k] = ((cdd * Math.sin(dra)) / cosC) * scale;
    outEta[k] = ((cd0 * sd - sd0 * cdd * cra) / cosC) * scale;
  }
}

/** FITS header cards (1-based CRPIX) of a TAN or TAN-SIP WCS. */
export function sipWcsCards(wcs: SipWcs): Array<{ key: string; value: string | number; comment?: string }> {
  const sip = wcs.sip;
  const cards = tanWcsCards(wcs).map((c) =>
    sip && (c.key === 'CTYPE1' || c.key === 'CTYPE2') ? { ...c, value: `${c.value}-SIP`, comment: 'gnomonic projection + SIP distortion' } : c,
  );
  if (sip) {
    const terms = sipTerms(sip.order);
    cards.push({ key: 'A_ORDER', value: sip.order, comment: 'SIP polynomial order, axis 1' });
    terms.forEach(([p, q], k) => cards.push({ key: `A_${p}_${q}`, value: sip.a[k] }));
    cards.push({ key: 'B_ORDER', value: sip.order, comment: 'SIP polynomial order, axis 2' });
    terms.forEach(([p, q], k) => cards.push({ key: `B_${p}_${q}`, value: sip.b[k] }));
  }
  return cards;
}

/**
 * Reads a TAN or TAN-SIP WCS from header values (`get` returns undefined for a missing key);
 * CD matrix form only. Null when the header has no such WCS. Missing A_p_q / B_p_q are 0;
 * SIP terms of order 0 and 1 (allowed by the convention, never written here) are not supported.
 */
export function sipWcsFromHeader(get: (key: string) => unknown): SipWcs | null {
  const num = (k: string): number | undefined => {
    const v = get(k);
    const n = typeof v === 'bigint' ? Number(v) : v;
    return typeof n === 'number' && Number.isFinite(n) ? n : undefined;
  };
  const c1 = get('CTYPE1');
  const c2 = get('CTYPE2');
  if (typeof c1 !== 'string' || typeof c2 !== 'string' || !c1.startsWith('RA---TAN') || !c2.startsWith('DEC--TAN')) return null;
  const v = ['CRVAL1', 'CRVAL2', 'CRPIX1', 'CRPIX2', 'CD1_1', 'CD2_2'].map(num);
  if (v.some((x) => x === undefined)) return null;
  const cd: TanWcs['cd'] = [
    [v[4] as number, num('CD1_2') ?? 0],
    [num('CD2_1') ?? 0, v[5] as number],
  ];
  const base = { crvalDeg: [v[0] as number, v[1] as number] as const, crpix: [(v[2] as number) - 1, (v[3] as number) - 1] as const, cd };
  const isSip = c1.endsWith('-SIP') && c2.endsWith('-SIP');
  const order = Math.max(num('A_ORDER') ?? 0, num('B_ORDER') ?? 0);
  if (!isSip || order < 2) return { ...base, sip: null };
  const terms = sipTerms(order);
  const a = Float64Array.from(terms, ([p, q]) => num(`A_${p}_${q}`) ?? 0);
  const b = Float64Array.from(terms, ([p, q]) => num(`B_${p}_${q}`) ?? 0);
  return { ...base, sip: { order, a, b } };
}
