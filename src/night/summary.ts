import type { Outcome } from '../messages/outcome.ts';
import type { TruthReport } from './truth-report.ts';

export interface NightRecord {
  group: string;
  detector: number;
  kind: string;
  status: 'processed' | 'failed' | 'timedOut' | 'missing';
  snaps: number;
  latencySeconds: number | null;
  sources: number | null;
  reason?: string;
  outputs: Record<string, string>;
  timings: Record<string, number>;
  /** The pipeline's summary of the detector-visit (flattened). */
  summary: Record<string, number | string | boolean | null>;
}

type ApdbCountsRow = { diaObjects: number; diaSources: number; diaForcedSources: number; detectorVisits: number };

/** What a second delivery of every nextVisit changed: nothing, when every write is idempotent. */
export interface RedeliveryReport {
  nextVisits: number;
  /** Outcomes that came back, and how many of them were processed again in full. */
  outcomes: number;
  processedAgain: number;
  /** Detector-visits the APDB found already stored (nothing written, no alert sent). */
  apdbAlreadyStored: number;
  seconds: number;
  apdbBefore: ApdbCountsRow | null;
  apdbAfter: ApdbCountsRow | null;
  /** Alert packets received on the alerts topic before and after. */
  alertsBefore: number;
  alertsAfter: number;
}

export interface NightSummary {
  instrument: string;
  groups: number;
  seed: number;
  workdir: string;
  startedAt: string;
  finishedAt: string;
  wallSeconds: number;
  activators: number;
  /** The central data repository the night preloaded from and exported to, or null. */
  centralRepo: string | null;
  detectorVisits: { expected: number; processed: number; failed: number; timedOut: number; missing: number };
  latencySeconds: { p50: number | null; p95: number | null; max: number | null; mean: number | null };
  /** Mean seconds per pipeline stage over processed detector-visits. */
  stageSeconds: Record<string, number>;
  /** Preloading from the central repository (before the pixels) and exporting to it, per detector-visit. */
  preloadSeconds: { p50: number | null; p95: number | null };
  exportSeconds: { p50: number | null; p95: number | null };
  sources: { total: number; perDetectorVisitMedian: number | null };
  /** DiaSources found in the difference images, over SCIENCE detector-visits that ran difference imaging. */
  diaSources: { total: number; perDetectorVisitMedian: number | null; detectorVisits: number; inApdb: number | null };
  /**
   * The injected transients against the DiaSources (truth-report.ts): injected, recovered,
   * completeness, falsePerDetector, completeness by expected S/N (bySnr) and kind; null when
   * nothing was injected.
   */
  truth: TruthReport | null;
  /** The APDB the night associated into (password removed), or null without one. */
  apdbUrl: string | null;
  /** Rows in the APDB at the end of the night. */
  apdb: ApdbCountsRow | null;
  /** Alert packets received on the alerts topic: all, distinct DiaSources, and repeats (should be 0). */
  alerts: { received: number; distinct: number; duplicates: number; undecodable: number };
  /** `--redeliver`: every nextVisit delivered again after the night; null otherwise. */
  redelivery: RedeliveryReport | null;
  /** Shorthands of the APDB counts and of the distinct alerts (null without an APDB). */
  diaObjects: number | null;
  records: NightRecord[];
}

/** Percentile by linear interpolation between order statistics (numpy's default). */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const pos = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function recordFromOutcome(o: Outcome): NightRecord {
  return {
    group: o.group,
    detector: o.detector,
    kind: o.kind,
    status: o.status,
    snaps: o.snaps,
    latencySeconds: o.latencySeconds ?? null,
    sources: o.sources ?? null,
    reason: o.reason,
    outputs: o.outputs,
    timings: o.timings,
    summary: o.summary,
  };
}

type Derived = 'detectorVisits' | 'latencySeconds' | 'stageSeconds' | 'preloadSeconds' | 'exportSeconds' | 'sources' | 'diaSources' | 'diaObjects' | 'records';

export function summarize(base: Omit<NightSummary, Derived>, records: NightRecord[]): NightSummary {
  const count = (s: NightRecord['status']): number => records.filter((r) => r.status === s).length;
  const lat = records
    .filter((r) => r.status === 'processed' && r.latencySeconds !== null)
    .map((r) => r.latencySeconds as number)
    .sort((a, b) => a - b);
  const round = (x: number | null): number | null => (x === null ? null : Math.round(x * 1000) / 1000);
  const stageTotals: Record<string, { sum: number; n: number }> = {};
  for (const r of records) {
    if (r.status !== 'processed') continue;
    for (const [k, v] of Object.entries(r.timings)) {
      const t = (stageTotals[k] ??= { sum: 0, n: 0 });
      t.sum += v;
      t.n++;
    }
  }
  const stagePercentiles = (name: string): { p50: number | null; p95: number | null } => {
    const v = records.filter((r) => r.status === 'processed' && r.timings[name] !== undefined).map((r) => r.timings[name]).sort((a, b) => a - b);
    return { p50: round(percentile(v, 50)), p95: round(percentile(v, 95)) };
  };
  const srcs = records.filter((r) => r.sources !== null).map((r) => r.sources as number).sort((a, b) => a - b);
  const dia = records.filter((r) => typeof r.summary.diaSources === 'number').map((r) => r.summary.diaSources as number).sort((a, b) => a - b);
  return {
    ...base,
    detectorVisits: {
      expected: records.length,
      processed: count('processed'),
      failed: count('failed'),
      timedOut: count('timedOut'),
      missing: count('missing'),
    },
    latencySeconds: {
      p50: round(percentile(lat, 50)),
      p95: round(percentile(lat, 95)),
      max: round(lat.length ? lat[lat.length - 1] : null),
      mean: round(lat.length ? lat.reduce((a, b) => a + b, 0) / lat.length : null),
    },
    preloadSeconds: stagePercentiles('preload'),
    exportSeconds: stagePercentiles('export'),
    stageSeconds: Object.fromEntries(Object.entries(stageTotals).map(([k, t]) => [k, Math.round((t.sum / t.n) * 1000) / 1000])),
    sources: { total: srcs.reduce((a, b) => a + b, 0), perDetectorVisitMedian: percentile(srcs, 50) },
    diaSources: {
      total: dia.reduce((a, b) => a + b, 0),
      perDetectorVisitMedian: percentile(dia, 50),
      detectorVisits: dia.length,
      inApdb: base.apdb ? base.apdb.diaSources : null,
    },
    diaObjects: base.apdb ? base.apdb.diaObjects : null,
    records: [...records].sort((a, b) => (a.group === b.group ? a.detector - b.detector : a.group < b.group ? -1 : 1)),
  };
}

export function formatSummary(s: NightSummary): string {
  const dv = s.detectorVisits;
  const f = (x: number | null): string => (x === null ? '—' : `${x.toFixed(2)} s`);
  const lines = [
    `Night of ${s.instrument}: ${s.groups} group(s), ${dv.expected} detector-visits in ${s.wallSeconds.toFixed(1)} s with ${s.activators} activator(s)`,
    `  processed ${dv.processed}   failed ${dv.failed}   timed out ${dv.timedOut}   no outcome ${dv.missing}`,
    `  latency (last snap finalized → outputs written): p50 ${f(s.latencySeconds.p50)}   p95 ${f(s.latencySeconds.p95)}   max ${f(s.latencySeconds.max)}`,
    `  sources: ${s.sources.total} in all, median ${s.sources.perDetectorVisitMedian ?? '—'} per detector-visit`,
  ];
  if (s.diaSources.detectorVisits > 0) {
    lines.push(`  DiaSources: ${s.diaSources.total} in ${s.diaSources.detectorVisits} difference images, median ${s.diaSources.perDetectorVisitMedian ?? '—'} per detector-visit`);
  }
  if (s.apdbUrl) {
    const a = s.apdb;
    lines.push(
      `  APDB ${s.apdbUrl}: ${a ? `${a.diaSources} DiaSources, ${a.diaObjects} DiaObjects, ${a.diaForcedSources} DiaForcedSources from ${a.detectorVisits} detector-visits` : 'not counted'}`,
      `  alerts: ${s.alerts.distinct} on the alerts topic${s.alerts.duplicates ? `, ${s.alerts.duplicates} REPEATED` : ''}${s.alerts.undecodable ? `, ${s.alerts.undecodable} UNDECODABLE` : ''}`,
    );
  }
  const rd = s.redelivery;
  if (rd) {
    const same = JSON.stringify(rd.apdbBefore) === JSON.stringify(rd.apdbAfter) && rd.alertsBefore === rd.alertsAfter;
    lines.push(
      `  redelivery of ${rd.nextVisits} nextVisit(s): ${rd.outcomes} outcomes back, ${rd.processedAgain} processed again, ${rd.apdbAlreadyStored} found already in the APDB; ${same ? 'no new row, no new alert' : `APDB ${JSON.stringify(rd.apdbBefore)} → ${JSON.stringify(rd.apdbAfter)}, alerts ${rd.alertsBefore} → ${rd.alertsAfter}`}`,
    );
  }
  const t = s.truth;
  if (t) {
    const pct = (x: number | null): string => (x === null ? '—' : `${(100 * x).toFixed(1)}%`);
    lines.push(
      `  truth: ${t.recovered}/${t.injected} injected transients recovered (${pct(t.completeness)}), ${pct(t.completenessAboveSnr10)} at S/N ≥ 10; ${t.falsePerDetector?.toFixed(2) ?? '—'} false DiaSources per detector-visit`,
      `    by S/N: ${t.bySnr.map((b) => `[${b.snrMin},${b.snrMax ?? '∞'}) ${b.recovered}/${b.injected}`).join('  ')}`,
    );
  }
  if (s.centralRepo) {
    lines.push(
      `  central repository ${s.centralRepo}: preload p50 ${f(s.preloadSeconds.p50)} p95 ${f(s.preloadSeconds.p95)}, export p50 ${f(s.exportSeconds.p50)} p95 ${f(s.exportSeconds.p95)}`,
    );
  }
  const stages = Object.entries(s.stageSeconds);
  if (stages.length) lines.push(`  mean stage time: ${stages.map(([k, v]) => `${k} ${v.toFixed(2)} s`).join(', ')}`);
  const bad = s.records.filter((r) => r.status !== 'processed');
  for (const r of bad.slice(0, 10)) lines.push(`  ${r.status.padEnd(9)} group ${r.group} detector ${r.detector}: ${r.reason ?? ''}`);
  if (bad.length > 10) lines.push(`  … and ${bad.length - 10} more`);
  lines.push(`  outputs under ${s.workdir}`);
  return lines.join('\n');
}
