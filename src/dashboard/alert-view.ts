/**
 * An alert packet as the dashboard shows it: the DiaSource's numbers and the science, template
 * and difference cutouts (FITS images in the packet), rendered to PNG on request with the same
 * asinh stretch as the night report (science and template from the sky up, the difference
 * symmetric about zero), NaN pixels in one neutral colour, north (+y) up.
 */
import { decodeFramedAlert, type AlertPacket } from '../alerts/index.ts';
import { readFits } from '../fits/index.ts';
import { encodePng } from '../night/report/png.ts';
import { stampRgb, type StretchMode } from '../night/report/stamp.ts';
import { CUTOUT_KINDS, type AlertInput, type CutoutKind } from './state.ts';

const STRETCH: Readonly<Record<CutoutKind, StretchMode>> = { science: 'positive', template: 'positive', difference: 'symmetric' };

/** The PNG of the first image HDU of a FITS cutout; throws naming what is wrong with it. */
export function cutoutPng(fits: Uint8Array, kind: CutoutKind): Uint8Array {
  const file = readFits(fits, { name: `${kind} cutout` });
  const hdu = file.hdus.find((h) => h.isImage && h.shape.length >= 2 && h.shape[0] > 0 && h.shape[1] > 0);
  if (!hdu) throw new Error(`the ${kind} cutout holds no image`);
  const [width, height] = hdu.shape;
  const pixels = hdu.pixelsAsFloat32().subarray(0, width * height);
  return encodePng({ width, height, channels: 3, data: stampRgb(pixels, width, height, STRETCH[kind]) });
}

function numberOf(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'bigint') return Number(v);
  return null;
}

function idOf(v: unknown): string | null {
  if (typeof v === 'bigint') return v === 0n ? null : v.toString();
  if (typeof v === 'number' && Number.isFinite(v)) return v === 0 ? null : String(v);
  return null;
}

/** The packet's numbers and its cutouts' FITS bytes (copied: the packet's may view a larger buffer). */
export function alertInput(p: AlertPacket): AlertInput {
  const s = p.diaSource;
  const bytes: Record<CutoutKind, Uint8Array | null> = { science: p.cutoutScience, template: p.cutoutTemplate, difference: p.cutoutDifference };
  const cutouts: Partial<Record<CutoutKind, Uint8Array>> = {};
  for (const kind of CUTOUT_KINDS) {
    const b = bytes[kind];
    if (b && b.length > 0) cutouts[kind] = new Uint8Array(b);
  }
  return {
    diaSourceId: p.diaSourceId.toString(),
    diaObjectId: idOf(s.diaObjectId),
    visit: numberOf(s.visit),
    detector: numberOf(s.detector),
    ra: numberOf(s.ra),
    dec: numberOf(s.dec),
    band: typeof s.band === 'string' ? s.band : null,
    snr: numberOf(s.snr),
    psfFlux: numberOf(s.psfFlux),
    psfFluxErr: numberOf(s.psfFluxErr),
    midpointMjdTai: numberOf(s.midpointMjdTai),
    previousSources: p.prvDiaSources ? p.prvDiaSources.length : null,
    cutouts,
  };
}

/** A Kafka-framed alert (the value on the alerts topic) as the dashboard shows it. */
export function framedAlertInput(value: Uint8Array): AlertInput {
  return alertInput(decodeFramedAlert(value));
}
