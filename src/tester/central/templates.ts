/**
 * Difference-imaging templates: a deep, background-subtracted coadd of one skymap patch in one
 * band, rendered from the same sky catalog the simulator paints the raws with (no transients).
 *
 * Flux unit: nanojansky. IMAGE is in nJy per pixel (BUNIT 'nJy'), so its photometric calibration
 * is the identity: MAGZERO = 31.4 (AB magnitude of 1 nJy, the catalog's AB_NJY_ZERO_POINT) and
 * PHOTOCALIB = 1 (nJy per image unit), as LSST coadds. A science image in electrons with AB zero
 * point ZP (magnitude giving 1 electron in the exposure: ZERO_POINTS + 2.5 log10(EXPTIME)) is on
 * the same scale after multiplying by 10^(−0.4 (ZP − 31.4)) nJy per electron; the PSF-matching
 * kernel of image differencing also absorbs the ratio.
 *
 * Depth: the template is the mean of `depthFactor` visits of `instrument` (default LSSTCam, two
 * 15 s snaps each) in dark sky: VARIANCE (nJy²) = c² (sky + stars + 2 rn²) / depthFactor per pixel,
 * c = nJy per electron of one visit, and IMAGE gets that noise. The noise is a function of the
 * tract pixel (drawn in 100-pixel blocks of the tract grid from the seed), so overlapping patches
 * of a tract agree in their overlap. The PSF is the simulator's Moffat (β = 3.5) with the given
 * FWHM; the WCS is the patch's (skymap.ts), east left.
 *
 * Storage: IMAGE quantised at σ_sky / 4 and VARIANCE at 1e-3 of the sky variance, both RICE
 * compressed int32 with BSCALE (exposure-file.ts); MASK lossless. A 2200 × 2200 patch is ~3 MB.
 */
import type { PatchInfo } from '../../astro/skymap.ts';
import { pixelToSky, skyToPixel } from '../../astro/index.ts';
import { InvalidInputError } from '../../core/errors.ts';
import { makeMaskedImage, type MaskedImage } from '../../core/image.ts';
import { Rng, type RngSeed } from '../../core/rng.ts';
import { INSTRUMENT_NAMES, getInstrument, type InstrumentName } from '../../instruments/index.ts';
import type { ExposureMetadata } from '../../pipeline/outputs.ts';
import { DARK_SKY_MAG_ARCSEC2, ZERO_POINTS } from '../sim/observation.ts';
import { addMoffat, MAX_STAMP_RADIUS, moffatAlpha, PSF_BETA } from '../sim/psf.ts';
import { DEFAULT_EXPOSURE_S } from '../sim/raw-pixels.ts';
import { AB_NJY_ZERO_POINT, BANDS, magToNjy, starsInRegion, type Band, type SkyCatalogSpec } from '../sim/sky-catalog.ts';
import { writeCompressedExposure } from './exposure-file.ts';

export const TEMPLATE_BUNIT = 'nJy';
/** AB magnitude of one image unit (1 nJy). */
export const TEMPLATE_MAGZERO = AB_NJY_ZERO_POINT;
/** Read noise assumed for the visits a template is made of, electrons per snap. */
export const TEMPLATE_READ_NOISE_E = 6.5;
/** Side of the noise blocks of the tract grid, pixels. */
export const NOISE_BLOCK_PX = 100;
/** GROUPID of template files (they come from no visit). */
export const TEMPLATE_GROUP = 'TEMPLATE';

export interface TemplateOptions {
  /** Seed of the noise. */
  readonly seed: RngSeed;
  /** The sky catalog (the simulator's `catalog`; default seed DEFAULT_CATALOG_SEED there). */
  readonly catalogSeed: RngSeed | SkyCatalogSpec;
  /** PSF FWHM, arcsec (default 0.7). */
  readonly psfFwhmArcsec?: number;
  /** Visits averaged: the variance is one visit's over this (default 20). */
  readonly depthFactor?: number;
  /** Instrument whose visits set the noise (default LSSTCam). */
  readonly instrument?: InstrumentName;
  /** false: float32 planes, uncompressed. */
  readonly compress?: boolean;
}

export interface TemplateStars {
  readonly count: number;
  readonly ids: Float64Array;
  readonly ra: Float64Array;
  readonly dec: Float64Array;
  /** Patch pixel position (0-based). */
  readonly x: Float64Array;
  readonly y: Float64Array;
  readonly fluxNjy: Float64Array;
}

export interface RenderedTemplate {
  readonly masked: MaskedImage;
  readonly metadata: ExposureMetadata;
  /** Catalog stars painted (centres within the stamp reach of the patch). */
  readonly stars: TemplateStars;
  /** Sky noise, nJy per pixel. */
  readonly skySigmaNjy: number;
}

/** nJy per electron of one visit, sky electrons per template pixel per visit. */
function noiseModel(instrument: InstrumentName, band: Band, pixelScaleArcsec: number): { c: number; skyE: number; visitS: number } {
  const inst = getInstrument(instrument);
  const visitS = DEFAULT_EXPOSURE_S[instrument] * inst.snaps;
  const zp = ZERO_POINTS[instrument][band] + 2.5 * Math.log10(visitS);
  const c = 10 ** (-0.4 * (zp - AB_NJY_ZERO_POINT));
  const skyE = 10 ** (-0.4 * (DARK_SKY_MAG_ARCSEC2[instrument][band] - zp)) * pixelScaleArcsec * pixelScaleArcsec;
  return { c, skyE, visitS };
}

function checkOptions(band: string, o: TemplateOptions): { fwhm: number; depth: number; instrument: InstrumentName } {
  if (!(BANDS as readonly string[]).includes(band)) throw new InvalidInputError(`band '${band}' is not one of ${BANDS.join(', ')}`);
  const fwhm = o.psfFwhmArcsec ?? 0.7;
  if (!(fwhm > 0) || fwhm > 10) throw new InvalidInputError(`template PSF FWHM ${fwhm} arcsec is outside (0, 10]`);
  const depth = o.depthFactor ?? 20;
  if (!(depth >= 1) || !Number.isFinite(depth)) throw new InvalidInputError(`template depthFactor ${depth} must be a finite number >= 1`);
  const instrument = o.instrument ?? 'LSSTCam';
  if (!(INSTRUMENT_NAMES as readonly string[]).includes(instrument)) throw new InvalidInputError(`unknown instrument '${instrument}'`);
  return { fwhm, depth, instrument };
}

/** Stars of the catalog whose centres fall within `margin` pixels of the patch, with patch pixel positions. */
function patchStars(patch: PatchInfo, band: Band, catalog: RngSeed | SkyCatalogSpec, margin: number): TemplateStars {
  const W = patch.width;
  const H = patch.height;
  // RA/Dec box of the patch grown by the margin: sample its outline (edges are great circles).
  const s = new Float64Array(2);
  let decMin = Infinity;
  let decMax = -Infinity;
  const ra0 = pixelToSky(patch.wcs, (W - 1) / 2, (H - 1) / 2)[0];
  let dMin = 0;
  let dMax = 0;
  const N = 16;
  for (let k = 0; k <= N; k++) {
    const t = -0.5 - margin + ((W + 2 * margin) * k) / N;
    const u = -0.5 - margin + ((H + 2 * margin) * k) / N;
    for (const [x, y] of [
      [t, -0.5 - margin],
      [t, H - 0.5 + margin],
      [-0.5 - margin, u],
      [W - 0.5 + margin, u],
    ]) {
      pixelToSky(patch.wcs, x, y, s);
      decMin = Math.min(decMin, s[1]);
      decMax = Math.max(decMax, s[1]);
      let d = s[0] - ra0;
      d -= 360 * Math.round(d / 360);
      dMin = Math.min(dMin, d);
      dMax = Math.max(dMax, d);
    }
  }
  // a whisker of slack for the curvature of dec lines between samples
  const slack = 1e-3 * (decMax - decMin) + 1e-6;
  const pole = skyToPixel(patch.wcs, 0, decMax + slack > 90 ? 90 : -90);
  const holdsPole = (p: Float64Array | number[]): boolean => p[0] >= -0.5 - margin && p[0] <= W - 0.5 + margin && p[1] >= -0.5 - margin && p[1] <= H - 0.5 + margin;
  const region =
    holdsPole(pole) || decMax + slack >= 90 || decMin - slack <= -90
      ? { raMinDeg: 0, raMaxDeg: 360, decMinDeg: Math.max(-90, decMin - slack), decMaxDeg: Math.min(90, decMax + slack) }
      : { raMinDeg: ra0 + dMin - slack, raMaxDeg: ra0 + dMax + slack, decMinDeg: decMin - slack, decMaxDeg: decMax + slack };
  const cat = starsInRegion(catalog, region);
  const mags = cat.mags[band];
  const ids = new Float64Array(cat.count);
  const ra = new Float64Array(cat.count);
  const dec = new Float64Array(cat.count);
  const xs = new Float64Array(cat.count);
  const ys = new Float64Array(cat.count);
  const flux = new Float64Array(cat.count);
  let n = 0;
  for (let i = 0; i < cat.count; i++) {
    skyToPixel(patch.wcs, cat.ra[i], cat.dec[i], s);
    const x = s[0];
    const y = s[1];
    if (!(x >= -margin && x <= W - 1 + margin && y >= -margin && y <= H - 1 + margin)) continue;
    ids[n] = cat.ids[i];
    ra[n] = cat.ra[i];
    dec[n] = cat.dec[i];
    xs[n] = x;
    ys[n] = y;
    flux[n] = magToNjy(mags[i]);
    n++;
  }
  return { count: n, ids: ids.slice(0, n), ra: ra.slice(0, n), dec: dec.slice(0, n), x: xs.slice(0, n), y: ys.slice(0, n), fluxNjy: flux.slice(0, n) };
}

/** The template's planes, metadata and the stars painted (see the module comment). */
export function renderTemplateImage(patch: PatchInfo, band: Band, opts: TemplateOptions): RenderedTemplate {
  const { fwhm, depth, instrument } = checkOptions(band, opts);
  const W = patch.width;
  const H = patch.height;
  const scale = Math.sqrt(Math.abs(patch.wcs.cd[0][0] * patch.wcs.cd[1][1] - patch.wcs.cd[0][1] * patch.wcs.cd[1][0])) * 3600;
  const fwhmPx = fwhm / scale;
  const alpha = moffatAlpha(fwhmPx);
  const mi = makeMaskedImage(W, H);
  const img = mi.image;
  const stars = patchStars(patch, band, opts.catalogSeed, MAX_STAMP_RADIUS);
  for (let i = 0; i < stars.count; i++) addMoffat(img, W, H, stars.x[i], stars.y[i], stars.fluxNjy[i], alpha);

  // Variance (nJy²) of the mean of `depth` visits: c² (sky + star electrons + 2 snaps of read noise) / depth.
  const { c, skyE, visitS } = noiseModel(instrument, band, scale);
  const snaps = getInstrument(instrument).snaps;
  const skyVar = (c * c * (skyE + snaps * TEMPLATE_READ_NOISE_E * TEMPLATE_READ_NOISE_E)) / depth;
  const starVarPerNjy = c / depth;
  const variance = mi.variance;
  for (let i = 0; i < img.length; i++) {
    const f = img[i];
    variance[i] = skyVar + (f > 0 ? f * starVarPerNjy : 0);
  }

  // Noise from blocks of the tract pixel grid: the same tract pixel gets the same deviate in every patch.
  const root = Rng.from(opts.seed).fork(`template/${patch.skymap}/${patch.tract}/${band}`);
  const B = NOISE_BLOCK_PX;
  const ox = patch.bbox.x0;
  const oy = patch.bbox.y0;
  const bx0 = Math.floor(ox / B);
  const by0 = Math.floor(oy / B);
  const bx1 = Math.floor((ox + W - 1) / B);
  const by1 = Math.floor((oy + H - 1) / B);
  for (let by = by0; by <= by1; by++) {
    for (let bx = bx0; bx <= bx1; bx++) {
      const rng = root.fork(`${bx},${by}`);
      for (let ty = by * B; ty < (by + 1) * B; ty++) {
        const y = ty - oy;
        const inY = y >= 0 && y < H;
        const row = y * W;
        for (let tx = bx * B; tx < (bx + 1) * B; tx++) {
          const g = rng.normal();
          const x = tx - ox;
          if (!inY || x < 0 || x >= W) continue;
          img[row + x] += Math.sqrt(variance[row + x]) * g;
        }
      }
    }
  }

  const skySigma = Math.sqrt(skyVar);
  const catSeed = typeof opts.catalogSeed === 'object' ? opts.catalogSeed.seed : opts.catalogSeed;
  const metadata: ExposureMetadata = {
    instrument,
    detector: -1,
    detectorName: 'coadd',
    group: TEMPLATE_GROUP,
    visit: 0,
    exposureIds: [],
    kind: 'SCIENCE',
    filter: band,
    band,
    exposureTimeS: visitS * depth,
    darkTimeS: visitS * depth,
    mjdObs: null,
    dateObs: null,
    raDeg: null,
    decDeg: null,
    wcs: patch.wcs,
    bunit: TEMPLATE_BUNIT,
    diagnostics: [
      { key: 'SKYMAP', value: patch.skymap, comment: 'skymap name' },
      { key: 'TRACT', value: patch.tract, comment: 'tract id' },
      { key: 'PATCH', value: patch.patch, comment: 'patch index (cellY * numPatchesX + cellX)' },
      { key: 'PATCHX', value: patch.cellX, comment: 'patch cell x' },
      { key: 'PATCHY', value: patch.cellY, comment: 'patch cell y' },
      { key: 'TRACTX0', value: patch.bbox.x0, comment: '[pix] tract x of patch pixel 0' },
      { key: 'TRACTY0', value: patch.bbox.y0, comment: '[pix] tract y of patch pixel 0' },
      { key: 'COADDTYP', value: 'template', comment: 'simulated deep coadd' },
      { key: 'MAGZERO', value: TEMPLATE_MAGZERO, comment: 'AB mag of 1 image unit (1 nJy)' },
      { key: 'PHOTOCALIB', value: 1, comment: '[nJy] per image unit' },
      { key: 'PSFFWHM', value: fwhm, comment: '[arcsec] Moffat PSF FWHM' },
      { key: 'PSFBETA', value: PSF_BETA, comment: 'Moffat beta' },
      { key: 'DEPTHFAC', value: depth, comment: 'visits averaged' },
      { key: 'NOISEREF', value: instrument, comment: 'instrument whose visits set the noise' },
      { key: 'SKYSIGMA', value: skySigma, comment: '[nJy] sky noise per pixel' },
      { key: 'NSTARS', value: stars.count, comment: 'catalog stars painted' },
      { key: 'SIMCAT', value: catSeed, comment: 'sky catalog seed' },
      { key: 'SIMSEED', value: opts.seed, comment: 'noise seed' },
    ],
  };
  return { masked: mi, metadata, stars, skySigmaNjy: skySigma };
}

/** The template file of a patch in a band: a processed exposure in nJy (see the module comment). */
export function renderTemplate(patch: PatchInfo, band: Band, opts: TemplateOptions): Uint8Array {
  const t = renderTemplateImage(patch, band, opts);
  const q =
    opts.compress === false
      ? { image: null, variance: null }
      : { image: { bscale: t.skySigmaNjy / 4 }, variance: { bscale: (t.skySigmaNjy * t.skySigmaNjy) / 1000 } };
  return writeCompressedExposure(t.masked, t.metadata, q);
}
