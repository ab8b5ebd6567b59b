/**
 * The night's truth report: each processed SCIENCE detector-visit's DiaSource catalog (the
 * `dia_source_catalog` output its outcome names) matched to the transients the tester injected
 * there (its truth file), summed into completeness by expected S/N and kind, and false
 * DiaSources per detector-visit. A detector-visit whose difference imaging did not run counts
 * with no detection: its transients are missed, not left out.
 */
import { promises as fs } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { errorMessage } from '../core/errors.ts';
import { openObjectStore } from '../storage/backends.ts';
import { readDiaSourceCatalog } from '../pipeline/stages/dia-sources/index.ts';
import { matchToTruth, readTruthFile, summarizeTruth, truthFilePath, type TruthMatchResult, type TruthSummary } from '../tester/truth/index.ts';
import type { NightRecord } from './summary.ts';

export interface TruthReport extends TruthSummary {
  /** Detector-visits with a truth file but no DiaSource catalog (difference imaging skipped). */
  readonly withoutDiaSources: number;
  /** Recovery radius, arcsec. */
  readonly radiusArcsec: number;
}

const NONE = { length: 0, ra: [], dec: [] } as const;

/**
 * The bytes behind a dataset URI: a local path, `file://…`, or `s3://bucket/key` of the central
 * repository (`repoRoot` says how to reach its server: `s3://bucket/prefix?endpoint=…`).
 */
export async function readDatasetUri(uri: string, repoRoot?: string | null): Promise<Uint8Array> {
  if (uri.startsWith('file://')) return new Uint8Array(await fs.readFile(fileURLToPath(uri)));
  if (uri.startsWith('s3://') && repoRoot?.startsWith('s3://')) {
    const root = new URL(repoRoot);
    const target = new URL(uri);
    if (target.host === root.host) {
      const store = openObjectStore(`s3://${root.host}${root.search}`);
      try {
        return await store.get(decodeURIComponent(target.pathname.replace(/^\//, '')));
      } finally {
        await store.close();
      }
    }
  }
  if (uri.includes('://')) throw new Error(`cannot read ${uri}: not a local file nor in the central repository's bucket`);
  return new Uint8Array(await fs.readFile(uri));
}

/** Null when no processed SCIENCE detector-visit has a truth file (e.g. injection was off). */
export async function truthReport(
  truthDir: string,
  instrument: string,
  records: readonly NightRecord[],
  opts: { radiusArcsec?: number; note?: (msg: string) => void; repoRoot?: string | null } = {},
): Promise<TruthReport | null> {
  const radiusArcsec = opts.radiusArcsec ?? 1;
  const results: TruthMatchResult[] = [];
  let withoutDiaSources = 0;
  for (const r of records) {
    if (r.status !== 'processed' || r.kind !== 'SCIENCE') continue;
    let truth;
    try {
      truth = await readTruthFile(truthFilePath(truthDir, instrument, r.group, r.detector));
    } catch {
      continue; // no truth for this detector-visit
    }
    const uri = r.outputs.dia_source_catalog;
    let detections: Parameters<typeof matchToTruth>[0] = NONE;
    if (uri) {
      try {
        detections = readDiaSourceCatalog(await readDatasetUri(uri, opts.repoRoot), uri).catalog;
      } catch (e) {
        opts.note?.(`truth report: could not read the DiaSources of group ${r.group} detector ${r.detector}: ${errorMessage(e)}`);
        withoutDiaSources++;
      }
    } else {
      withoutDiaSources++;
    }
    results.push(matchToTruth(detections, truth, { radiusArcsec }));
  }
  if (results.length === 0) return null;
  return { ...summarizeTruth(results), withoutDiaSources, radiusArcsec };
}
