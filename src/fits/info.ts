/**
 * A summary of a FITS file, one line per HDU (like astropy's fits.info, plus pixel statistics).
 */
import type { FitsFile } from './reader.ts';
import type { HduType } from './hdu.ts';
import { pixelStats } from './stats.ts';
import type { PixelStats } from './stats.ts';

export interface HduInfo {
  index: number;
  name: string;
  type: HduType;
  bitpix: number;
  shape: number[];
  compression: string | null;
  stats: PixelStats | null;
}

export function fitsInfo(file: FitsFile): HduInfo[] {
  return file.hdus.map((h) => ({
    index: h.index,
    name: h.name,
    type: h.type,
    bitpix: h.bitpix,
    shape: [...h.shape],
    compression: h.compression,
    stats: h.isImage ? pixelStats(h.pixels()) : null,
  }));
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e12) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e7)) return v.toExponential(4);
  return v.toPrecision(7).replace(/\.?0+$/, '');
}

/** A fixed-width text table of HDU summaries. */
export function formatFitsInfo(infos: readonly HduInfo[]): string {
  const head = ['No.', 'Name', 'Type', 'BITPIX', 'Dimensions', 'Compression', 'Min', 'Max', 'Median', 'Mean', 'Std'];
  const rows = infos.map((i) => {
    const s = i.stats;
    return [
      String(i.index),
      i.name,
      i.type,
      String(i.bitpix),
      i.shape.length ? i.shape.join('x') : '-',
      i.compression ?? '-',
      s ? fmt(s.min) : '',
      s ? fmt(s.max) : '',
      s ? fmt(s.median) : '',
      s ? fmt(s.mean) : '',
      s ? fmt(s.std) : '',
    ];
  });
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const numeric = new Set([0, 3, 6, 7, 8, 9, 10]);
  const line = (cells: string[]): string =>
    cells
      .map((cell, c) => (numeric.has(c) ? cell.padStart(widths[c]) : cell.padEnd(widths[c])))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}
