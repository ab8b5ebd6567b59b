/**
 * IRAF/FITS section strings such as DATASEC = '[11:522,1:2002]' (1-based, inclusive, x first).
 */
import { FitsError } from './errors.ts';

/** A pixel box, 0-based half-open: x0 <= x < x1, y0 <= y < y1, plus reversed axes. */
export interface Section {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
  /** True when the string gives x from high to low (e.g. '[512:1,...]'). */
  flipX: boolean;
  flipY: boolean;
}

const SECTION_RE = /^\s*\[\s*(\d+)\s*:\s*(\d+)\s*,\s*(\d+)\s*:\s*(\d+)\s*\]\s*$/;

/** Parse '[x1:x2,y1:y2]' (spaces allowed). Throws FitsError for anything else. */
export function parseSection(text: string): Section {
  const m = SECTION_RE.exec(text);
  if (!m) throw new FitsError(`invalid section '${text}' (expected '[x1:x2,y1:y2]')`);
  const [a, b, c, d] = [m[1], m[2], m[3], m[4]].map(Number);
  if (a < 1 || b < 1 || c < 1 || d < 1) throw new FitsError(`invalid section '${text}' (indices are 1-based)`);
  return {
    x0: Math.min(a, b) - 1,
    x1: Math.max(a, b),
    y0: Math.min(c, d) - 1,
    y1: Math.max(c, d),
    flipX: a > b,
    flipY: c > d,
  };
}

/** Inverse of parseSection: '[x1:x2,y1:y2]', reversed where flipped. */
export function formatSection(section: { x0: number; x1: number; y0: number; y1: number; flipX?: boolean; flipY?: boolean }): string {
  const { x0, x1, y0, y1 } = section;
  if (![x0, x1, y0, y1].every(Number.isInteger) || x0 < 0 || y0 < 0 || x1 <= x0 || y1 <= y0) {
    throw new FitsError(`invalid section box x ${x0}..${x1}, y ${y0}..${y1}`);
  }
  const xs = section.flipX ? `${x1}:${x0 + 1}` : `${x0 + 1}:${x1}`;
  const ys = section.flipY ? `${y1}:${y0 + 1}` : `${y0 + 1}:${y1}`;
  return `[${xs},${ys}]`;
}
