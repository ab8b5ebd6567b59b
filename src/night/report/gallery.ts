/**
 * Sample alerts for the report: packets read back from the night's alert archives (each
 * record's `alertArchive` output, a path or file:// URI), spread over the archives, and their
 * cards: the science, template and difference cutouts as PNG, with the source's numbers.
 */
import { promises as fs } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { iterateAlertArchive, type AlertPacket } from '../../alerts/index.ts';
import { errorMessage } from '../../core/errors.ts';
import type { NightRecord } from '../summary.ts';
import { esc, num } from './html.ts';
import { fitsStampToPng, type StretchMode } from './stamp.ts';

export interface SampledAlert {
  readonly packet: AlertPacket;
  readonly group: string;
  readonly detector: number;
}

export interface AlertSample {
  readonly alerts: SampledAlert[];
  /** Archives named by the records, and how many of them were opened. */
  readonly archives: number;
  readonly archivesRead: number;
  readonly problems: string[];
}

/** The local path of an output URI, or null for remote storage. */
export function localPath(uri: string): string | null {
  if (uri.startsWith('file://')) return fileURLToPath(uri);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri)) return null;
  return uri;
}

/**
 * Indices 0..n−1 with `k` evenly spaced ones first (so that a sample of k archives spans the
 * whole night, not only its first group), then the others in order.
 */
export function visitOrder(n: number, k: number): number[] {
  if (n <= k) return Array.from({ length: n }, (_, i) => i);
  const first = Array.from({ length: k }, (_, i) => Math.floor(((i + 0.5) * n) / k));
  const taken = new Set(first);
  return [...first, ...Array.from({ length: n }, (_, i) => i).filter((i) => !taken.has(i))];
}

/**
 * Up to `max` alerts: first an equal share from each archive, archives spread over the night
 * (visitOrder), then the rest from the archives already read. Archives that cannot be read are
 * named in `problems`.
 */
export async function sampleAlerts(records: readonly NightRecord[], max: number): Promise<AlertSample> {
  const withArchive = records.filter((r) => typeof r.outputs.alertArchive === 'string' && r.outputs.alertArchive !== '');
  const problems: string[] = [];
  const chosen: SampledAlert[] = [];
  const spare: SampledAlert[] = [];
  let read = 0;
  if (max <= 0) return { alerts: [], archives: withArchive.length, archivesRead: 0, problems };
  const share = Math.max(1, Math.ceil(max / Math.max(1, withArchive.length)));
  for (const k of visitOrder(withArchive.length, max)) {
    const r = withArchive[k];
    if (chosen.length >= max) break;
    const uri = r.outputs.alertArchive;
    const file = localPath(uri);
    if (file === null) {
      problems.push(`group ${r.group} detector ${r.detector}: ${uri} is not a local file`);
      continue;
    }
    try {
      const bytes = new Uint8Array(await fs.readFile(file));
      read++;
      let taken = 0;
      for (const packet of iterateAlertArchive(bytes)) {
        const a = { packet, group: r.group, detector: r.detector };
        if (taken < share && chosen.length < max) chosen.push(a);
        else if (spare.length < max) spare.push(a);
        else break;
        taken++;
      }
    } catch (e) {
      problems.push(`group ${r.group} detector ${r.detector}: ${uri}: ${errorMessage(e)}`);
    }
  }
  while (chosen.length < max && spare.length > 0) chosen.push(spare.shift() as SampledAlert);
  return { alerts: chosen, archives: withArchive.length, archivesRead: read, problems };
}

const STAMPS: ReadonlyArray<{ key: 'cutoutScience' | 'cutoutTemplate' | 'cutoutDifference'; name: string; mode: StretchMode }> = [
  { key: 'cutoutScience', name: 'science', mode: 'positive' },
  { key: 'cutoutTemplate', name: 'template', mode: 'positive' },
  { key: 'cutoutDifference', name: 'difference', mode: 'symmetric' },
];

function value(v: unknown, digits: number): string {
  if (typeof v === 'number') return num(v, digits);
  if (typeof v === 'bigint') return v.toString();
  if (v === null || v === undefined) return '—';
  return String(v);
}

/** One alert's card (figure) for the gallery. */
export function alertCard(a: SampledAlert): string {
  const p = a.packet;
  const s = p.diaSource;
  const stamps = STAMPS.map(({ key, name, mode }) => {
    const bytes = p[key];
    let img: string;
    if (!bytes) img = `<div class="stamp missing">no ${esc(name)}</div>`;
    else {
      try {
        const r = fitsStampToPng(bytes, mode, `${name} cutout of ${p.diaSourceId}`);
        img = `<img class="stamp" src="${r.dataUri}" width="${r.width}" height="${r.height}" alt="${esc(`${name} cutout ${r.width}x${r.height}`)}">`;
      } catch (e) {
        img = `<div class="stamp missing" title="${esc(errorMessage(e))}">${esc(name)} unreadable</div>`;
      }
    }
    return `<figure>${img}<figcaption>${esc(name)}</figcaption></figure>`;
  }).join('');
  const flux = `${value(s.psfFlux, 1)} ± ${value(s.psfFluxErr, 1)} nJy`;
  const rows: Array<[string, string]> = [
    ['diaSourceId', p.diaSourceId.toString()],
    ['diaObjectId', value(s.diaObjectId, 0)],
    ['group / detector', `${a.group} / ${a.detector}`],
    ['ra, dec', `${value(s.ra, 6)}, ${value(s.dec, 6)}`],
    ['band', value(s.band, 0)],
    ['psfFlux', flux],
    ['S/N', value(s.snr, 1)],
    ['earlier DiaSources', p.prvDiaSources === null ? '—' : String(p.prvDiaSources.length)],
  ];
  const table = rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('');
  return `<div class="alert"><div class="stamps">${stamps}</div><table class="kv">${table}</table></div>`;
}
