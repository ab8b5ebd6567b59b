/**
 * Completeness for the report's plots: binomial intervals, the truth report's S/N bins as
 * points, and completeness against magnitude, which the truth report does not keep per
 * transient: it is recomputed here from the truth files and the DiaSource catalogs with the
 * truth report's rule (truth-report.ts: processed SCIENCE detector-visits with a truth file; no
 * readable catalog counts as no detection; matchToTruth with the same radius).
 *
 * Magnitude: AB magnitude of the flux change the difference image sees, |deltaFluxNjy|:
 * m = 31.4 − 2.5 log10(nJy).
 */
import { promises as fs } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { errorMessage } from '../../core/errors.ts';
import { readDiaSourceCatalog } from '../../pipeline/stages/dia-sources/index.ts';
import { matchToTruth, readTruthFile, truthFilePath } from '../../tester/truth/index.ts';
import type { NightRecord } from '../summary.ts';
import type { TruthReport } from '../truth-report.ts';
import type { ErrorPoint } from './svg.ts';

/** AB zero point for fluxes in nJy. */
export const AB_NJY_ZERO_POINT = 31.4;

export function abMagnitude(fluxNjy: number): number {
  return AB_NJY_ZERO_POINT - 2.5 * Math.log10(fluxNjy);
}

/**
 * Wilson score interval of a binomial proportion k/n for `z` standard deviations (default 1,
 * ≈68 %); stays within [0, 1] and is not degenerate at k = 0 or k = n.
 */
export function wilsonInterval(k: number, n: number, z = 1): { lo: number; hi: number } {
  if (n <= 0) return { lo: 0, hi: 1 };
  const p = k / n;
  const z2 = z * z;
  const d = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / d;
  const half = (z / d) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  // exact at the ends (k = 0: lo = 0; k = n: hi = 1), where rounding would leave 1e-16
  return { lo: k <= 0 ? 0 : Math.max(0, centre - half), hi: k >= n ? 1 : Math.min(1, centre + half) };
}

export interface CompletenessBin {
  readonly lo: number;
  /** null: open-ended. */
  readonly hi: number | null;
  readonly injected: number;
  readonly recovered: number;
}

/**
 * Points with error bars of non-empty bins. `at` places a bin on the x axis; bars span the bin,
 * clipped to [clipLo, clipHi].
 */
export function completenessPoints(bins: readonly CompletenessBin[], at: (b: CompletenessBin) => number, clip: readonly [number, number], unit: string): ErrorPoint[] {
  return bins
    .filter((b) => b.injected > 0)
    .map((b) => {
      const { lo, hi } = wilsonInterval(b.recovered, b.injected);
      const range = `[${b.lo}, ${b.hi ?? '∞'})`;
      return {
        x: at(b),
        y: b.recovered / b.injected,
        yLo: lo,
        yHi: hi,
        xLo: Math.max(clip[0], b.lo),
        xHi: Math.min(clip[1], b.hi ?? clip[1]),
        title: `${unit} ${range}: ${b.recovered}/${b.injected} recovered (${((100 * b.recovered) / b.injected).toFixed(1)}%)`,
      };
    });
}

/** The x range of a logarithmic S/N axis holding every bin of the truth report. */
export function snrAxisRange(truth: TruthReport): [number, number] {
  const edges = truth.bySnr.flatMap((b) => (b.snrMax === null ? [b.snrMin] : [b.snrMin, b.snrMax])).filter((e) => e > 0);
  const lo = Math.min(1, ...edges.map((e) => e / 2));
  const hi = Math.max(100, ...truth.bySnr.filter((b) => b.snrMax === null).map((b) => b.snrMin * 2), ...edges);
  return [lo, hi];
}

/** Where an S/N bin sits on a log axis: the geometric middle, or near its finite edge. */
export function snrBinPosition(b: CompletenessBin): number {
  if (b.hi === null) return b.lo * 1.4;
  if (b.lo <= 0) return b.hi / 2;
  return Math.sqrt(b.lo * b.hi);
}

export interface MagnitudeCompleteness {
  readonly bins: CompletenessBin[];
  /** Detector-visits with a truth file. */
  readonly detectorVisits: number;
  /** Transients without a positive flux change (no magnitude). */
  readonly withoutMagnitude: number;
  readonly problems: string[];
}

async function readLocal(uri: string): Promise<Uint8Array> {
  if (uri.startsWith('file://')) return new Uint8Array(await fs.readFile(fileURLToPath(uri)));
  if (uri.includes('://')) throw new Error(`${uri} is not a local file`);
  return new Uint8Array(await fs.readFile(uri));
}

/**
 * Completeness in magnitude bins of `binWidth` (default 0.5 mag, edges at multiples of it);
 * null when no processed SCIENCE detector-visit has a truth file under `truthDir`.
 */
export async function completenessByMagnitude(
  truthDir: string,
  instrument: string,
  records: readonly NightRecord[],
  opts: { radiusArcsec?: number; binWidth?: number } = {},
): Promise<MagnitudeCompleteness | null> {
  const width = opts.binWidth ?? 0.5;
  const mags: Array<{ mag: number; recovered: boolean }> = [];
  const problems: string[] = [];
  let visits = 0;
  let withoutMagnitude = 0;
  for (const r of records) {
    if (r.status !== 'processed' || r.kind !== 'SCIENCE') continue;
    let truth;
    try {
      truth = await readTruthFile(truthFilePath(truthDir, instrument, r.group, r.detector));
    } catch {
      continue;
    }
    visits++;
    let detections: Parameters<typeof matchToTruth>[0] = { length: 0, ra: [], dec: [] };
    const uri = r.outputs.dia_source_catalog;
    if (uri) {
      try {
        detections = readDiaSourceCatalog(await readLocal(uri), uri).catalog;
      } catch (e) {
        problems.push(`group ${r.group} detector ${r.detector}: DiaSources not read: ${errorMessage(e)}`);
      }
    }
    const match = matchToTruth(detections, truth, { radiusArcsec: opts.radiusArcsec ?? 1 });
    truth.transients.forEach((t, i) => {
      const flux = Math.abs(t.deltaFluxNjy);
      if (!(flux > 0) || !Number.isFinite(flux)) {
        withoutMagnitude++;
        return;
      }
      mags.push({ mag: abMagnitude(flux), recovered: match.transients[i].recovered });
    });
  }
  if (visits === 0) return null;
  const byBin = new Map<number, { injected: number; recovered: number }>();
  for (const m of mags) {
    const k = Math.floor(m.mag / width);
    const b = byBin.get(k) ?? { injected: 0, recovered: 0 };
    b.injected++;
    if (m.recovered) b.recovered++;
    byBin.set(k, b);
  }
  const bins = [...byBin.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([k, b]) => ({ lo: Number((k * width).toPrecision(12)), hi: Number(((k + 1) * width).toPrecision(12)), ...b }));
  return { bins, detectorVisits: visits, withoutMagnitude, problems };
}
