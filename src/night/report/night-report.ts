/**
 * The night's report: one self-contained HTML file (inline CSS, inline SVG plots, cutouts as
 * PNG data: URIs; no script, no network) with
 * - the summary table (detector-visits, wall time, latency, DiaSources, DiaObjects, alerts,
 *   APDB, truth completeness and false detections);
 * - the latency distribution against the 60 s alert budget;
 * - the time per pipeline stage: mean seconds, and the spread over detector-visits;
 * - completeness against expected difference-image S/N and against magnitude (when transients
 *   were injected), with binomial (Wilson, 68 %) error bars, and by kind;
 * - a gallery of sample alerts read back from the night's alert archives;
 * - the detector-visits that were not processed, with their reasons;
 * - every detector-visit in a collapsed table.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { errorMessage } from '../../core/errors.ts';
import type { NightRecord, NightSummary } from '../summary.ts';
import { completenessByMagnitude, completenessPoints, snrAxisRange, snrBinPosition, type MagnitudeCompleteness } from './completeness.ts';
import { alertCard, sampleAlerts } from './gallery.ts';
import { esc, num, pct, secs } from './html.ts';
import { boxStats, svgBarChart, svgBoxPlot, svgErrorScatter, svgHistogram, type BoxItem } from './svg.ts';

export interface NightReportOptions {
  /** Truth files' root (`{truthDir}/{instrument}/{group}/{detector}.json`); default `{workdir}/truth`. */
  readonly truthDir?: string;
  /** Alerts in the gallery (default 12). */
  readonly maxAlerts?: number;
}

/** The alert latency budget, seconds. */
export const ALERT_BUDGET_SECONDS = 60;

/** Rows beyond these are left out of the failure and detector-visit tables (with a note). */
const MAX_FAILURE_ROWS = 500;
const MAX_RECORD_ROWS = 5000;

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1100px;padding:0 20px 40px;color:#1d2330;background:#fff}
h1{font-size:22px;margin:22px 0 4px}h2{font-size:18px;margin:30px 0 8px;border-bottom:1px solid #d5dae3;padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}
nav a{margin-right:12px;color:#2b5d9e}p.sub{color:#5a6475;margin:0 0 8px}
table{border-collapse:collapse;margin:6px 0}th,td{padding:3px 10px;text-align:left;vertical-align:top;border-bottom:1px solid #eceff4}
table.summary th{font-weight:600;color:#3b4556;white-space:nowrap}td.n{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#6a7383;font-size:12px}.bad{color:#b3261e;font-weight:600}.ok{color:#1e7b34}
svg.plot{display:block;max-width:100%;height:auto;margin:6px 0 14px;font-size:11px;font-family:inherit}
svg .grid{stroke:#e6e9ef;stroke-width:1}svg .axis{fill:none;stroke:#8a93a3;stroke-width:1}
svg .tick{fill:#4a5262}svg .label{fill:#1d2330;font-size:12px}svg .value{fill:#4a5262}
svg .bar{fill:#4c78a8}svg .bar.total{fill:#9aa7b8}svg .marker{stroke:#d1495b;stroke-width:2;stroke-dasharray:5 3}svg .marker-label{fill:#d1495b;font-weight:600}
svg text.note{fill:#6a7383}svg .box{fill:#c7d8ec;stroke:#4c78a8}svg .whisker{stroke:#4c78a8}svg .median{stroke:#1d2330;stroke-width:2}
svg .point{fill:#4c78a8;stroke:#1d2330;stroke-width:.8}svg .err{stroke:#1d2330;stroke-width:1.2}svg .xerr{stroke:#8a93a3;stroke-width:1}
.gallery{display:flex;flex-wrap:wrap;gap:14px}.alert{border:1px solid #d5dae3;border-radius:6px;padding:8px;width:410px}
.stamps{display:flex;gap:6px}.stamps figure{margin:0;text-align:center}.stamps figcaption{font-size:11px;color:#5a6475}
img.stamp,div.stamp{width:124px;height:124px;image-rendering:pixelated;background:#607088;display:block}
div.stamp.missing{display:flex;align-items:center;justify-content:center;color:#fff;font-size:11px}
table.kv th{font-weight:600;color:#3b4556;padding:1px 8px 1px 0;white-space:nowrap}table.kv td{padding:1px 0;word-break:break-all}
.reason{white-space:pre-wrap;word-break:break-word;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
details summary{cursor:pointer;color:#2b5d9e}
`;

type Row = readonly [string, string];

function table(rows: readonly Row[], cls = 'summary'): string {
  return `<table class="${cls}">${rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${v}</td></tr>`).join('')}</table>`;
}

function summaryRows(s: NightSummary): Row[] {
  const dv = s.detectorVisits;
  const lat = s.latencySeconds;
  const rows: Row[] = [
    ['Instrument', esc(s.instrument)],
    ['Groups', esc(s.groups)],
    ['Night', esc(`${s.startedAt} → ${s.finishedAt}`)],
    ['Wall time', esc(`${num(s.wallSeconds, 1)} s with ${s.activators} activator(s)`)],
    [
      'Detector-visits',
      [
        `${esc(dv.expected)} expected`,
        `<span class="ok">${esc(dv.processed)} processed</span>`,
        `<span class="${dv.failed ? 'bad' : ''}">${esc(dv.failed)} failed</span>`,
        `<span class="${dv.timedOut ? 'bad' : ''}">${esc(dv.timedOut)} timed out</span>`,
        `<span class="${dv.missing ? 'bad' : ''}">${esc(dv.missing)} missing</span>`,
      ].join(', '),
    ],
    ['Latency', esc(`p50 ${secs(lat.p50)}, p95 ${secs(lat.p95)}, max ${secs(lat.max)}, mean ${secs(lat.mean)}`)],
    ['Sources', esc(`${s.sources.total} (median ${num(s.sources.perDetectorVisitMedian, 0)} per detector-visit)`)],
    [
      'DiaSources',
      esc(
        `${s.diaSources.total} in ${s.diaSources.detectorVisits} difference images (median ${num(s.diaSources.perDetectorVisitMedian, 0)} per detector-visit)` +
          (s.diaSources.inApdb === null ? '' : `; ${s.diaSources.inApdb} in the APDB`),
      ),
    ],
    ['DiaObjects', esc(s.diaObjects ?? '—')],
  ];
  const al = s.alerts;
  const alertText = `${al.received} received, ${al.distinct} distinct`;
  rows.push(['Alerts', `${esc(alertText)}${al.duplicates ? `, <span class="bad">${esc(al.duplicates)} repeated</span>` : ''}${al.undecodable ? `, <span class="bad">${esc(al.undecodable)} undecodable</span>` : ''}`]);
  rows.push(['APDB', esc(s.apdbUrl ?? '—')]);
  if (s.apdb) rows.push(['APDB rows', esc(`${s.apdb.diaObjects} DiaObjects, ${s.apdb.diaSources} DiaSources, ${s.apdb.diaForcedSources} DiaForcedSources from ${s.apdb.detectorVisits} detector-visits`)]);
  const t = s.truth;
  rows.push([
    'Truth completeness',
    t ? esc(`${t.recovered}/${t.injected} recovered (${pct(t.completeness)}); ${pct(t.completenessAboveSnr10)} at S/N ≥ 10`) : esc('— (nothing injected)'),
  ]);
  rows.push(['False per detector-visit', t ? esc(`${num(t.falsePerDetector, 2)} (${t.falseDetections} false DiaSources in ${t.detectorVisits} detector-visits)`) : '—']);
  if (s.centralRepo) {
    rows.push(['Central repository', esc(s.centralRepo)]);
    rows.push(['Preload / export', esc(`preload p50 ${secs(s.preloadSeconds.p50)} p95 ${secs(s.preloadSeconds.p95)}; export p50 ${secs(s.exportSeconds.p50)} p95 ${secs(s.exportSeconds.p95)}`)]);
  }
  const rd = s.redelivery;
  if (rd) {
    const same = JSON.stringify(rd.apdbBefore) === JSON.stringify(rd.apdbAfter) && rd.alertsBefore === rd.alertsAfter;
    rows.push([
      'Redelivery',
      esc(`${rd.nextVisits} nextVisit(s) again: ${rd.outcomes} outcomes, ${rd.processedAgain} processed again, ${rd.apdbAlreadyStored} already in the APDB; `) +
        (same ? '<span class="ok">no new row, no new alert</span>' : `<span class="bad">${esc(`alerts ${rd.alertsBefore} → ${rd.alertsAfter}`)}</span>`),
    ]);
  }
  rows.push(['Seed', esc(s.seed)], ['Work directory', esc(s.workdir)]);
  return rows;
}

function latencySection(s: NightSummary): string {
  const lat = s.records.filter((r) => r.status === 'processed' && r.latencySeconds !== null).map((r) => r.latencySeconds as number);
  const max = lat.length ? Math.max(...lat) : 0;
  const domain: [number, number] = [0, max >= ALERT_BUDGET_SECONDS / 3 ? Math.max(max, ALERT_BUDGET_SECONDS * 1.05) : Math.max(max, 1e-3)];
  const within = lat.filter((v) => v <= ALERT_BUDGET_SECONDS).length;
  const plot = svgHistogram(lat, {
    title: 'Latency of processed detector-visits',
    xLabel: 'latency: last snap finalized → outputs written (s)',
    yLabel: 'detector-visits',
    domain,
    markers: [{ x: ALERT_BUDGET_SECONDS, label: `${ALERT_BUDGET_SECONDS} s budget` }],
  });
  const note = lat.length ? `<p class="sub">${esc(`${within} of ${lat.length} processed detector-visits within the ${ALERT_BUDGET_SECONDS} s budget (${pct(within / lat.length)}).`)}</p>` : '';
  return `<h2 id="latency">Latency</h2>${note}${plot}`;
}

function stageOrder(s: NightSummary): string[] {
  const names = Object.keys(s.stageSeconds);
  return [...names.filter((n) => n !== 'total'), ...names.filter((n) => n === 'total')];
}

function stagesSection(s: NightSummary): string {
  const names = stageOrder(s);
  const bars = svgBarChart(
    names.map((n) => ({ label: n, value: s.stageSeconds[n], className: n === 'total' ? 'total' : undefined, text: `${s.stageSeconds[n].toFixed(3)} s` })),
    { title: 'Mean seconds per stage', xLabel: 'mean seconds per processed detector-visit' },
  );
  const processed = s.records.filter((r) => r.status === 'processed');
  const boxes = names.map((n) => boxStats(n, processed.flatMap((r) => (r.timings[n] === undefined ? [] : [r.timings[n]])))).filter((b): b is BoxItem => b !== null);
  const box = svgBoxPlot(boxes, { title: 'Seconds per stage over detector-visits', xLabel: 'seconds (whiskers min–max, box quartiles, line median)' });
  return `<h2 id="stages">Time per stage</h2><h3>Mean</h3>${bars}<h3>Spread over ${esc(processed.length)} processed detector-visits</h3>${box}`;
}

function truthSection(s: NightSummary, mag: MagnitudeCompleteness | null, truthDir: string, magError: string | null): string {
  const t = s.truth;
  if (!t) return `<h2 id="truth">Completeness</h2><p class="sub">No truth: no transient was injected, or none landed in a processed SCIENCE detector-visit.</p>`;
  const parts = [
    `<h2 id="truth">Completeness</h2>`,
    `<p class="sub">${esc(
      `${t.recovered} of ${t.injected} injected transients recovered (${pct(t.completeness)}) within ${t.radiusArcsec}″ by a DiaSource of the right sign, over ${t.detectorVisits} detector-visits` +
        (t.withoutDiaSources ? ` (${t.withoutDiaSources} without DiaSources)` : '') +
        `. Error bars: 68 % binomial (Wilson) intervals; horizontal bars: the bin.`,
    )}</p>`,
  ];
  const [lo, hi] = snrAxisRange(t);
  parts.push(
    '<h3>Against expected difference-image S/N</h3>',
    svgErrorScatter(
      completenessPoints(
        t.bySnr.map((b) => ({ lo: b.snrMin, hi: b.snrMax, injected: b.injected, recovered: b.recovered })),
        snrBinPosition,
        [lo, hi],
        'S/N',
      ),
      { title: 'Completeness against expected S/N', x: { min: lo, max: hi, log: true, label: 'expected S/N of the difference-image PSF flux' }, y: { min: 0, max: 1.05, label: 'completeness' } },
    ),
  );
  parts.push('<h3>Against magnitude</h3>');
  if (mag && mag.bins.length) {
    const lo2 = mag.bins[0].lo;
    const hi2 = mag.bins[mag.bins.length - 1].hi ?? lo2 + 1;
    parts.push(
      svgErrorScatter(
        completenessPoints(mag.bins, (b) => (b.lo + (b.hi ?? b.lo)) / 2, [lo2, hi2], 'mag'),
        { title: 'Completeness against magnitude', x: { min: lo2, max: hi2, label: 'AB magnitude of the flux change |Δflux| (31.4 − 2.5 log10 nJy)' }, y: { min: 0, max: 1.05, label: 'completeness' } },
      ),
      `<p class="note">${esc(
        `From the truth files of ${mag.detectorVisits} detector-visits under ${truthDir}` +
          (mag.withoutMagnitude ? `; ${mag.withoutMagnitude} transients without a flux change left out` : '') +
          (mag.problems.length ? `; ${mag.problems.length} DiaSource catalog(s) unreadable (counted as no detection): ${mag.problems.slice(0, 3).join('; ')}` : ''),
      )}</p>`,
    );
  } else {
    parts.push(`<p class="note">${esc(magError ?? `No truth file under ${truthDir} for a processed SCIENCE detector-visit: no magnitudes.`)}</p>`);
  }
  const kinds = Object.entries(t.byKind).filter(([, k]) => k.injected > 0);
  if (kinds.length) {
    parts.push(
      '<h3>By kind</h3><table><tr><th>kind</th><th>injected</th><th>recovered</th><th>completeness</th></tr>',
      ...kinds.map(([name, k]) => `<tr><td>${esc(name)}</td><td class="n">${esc(k.injected)}</td><td class="n">${esc(k.recovered)}</td><td class="n">${esc(pct(k.completeness))}</td></tr>`),
      '</table>',
    );
  }
  parts.push(
    `<p class="note">${esc(`DiaSources: ${t.detections} in all; ${t.falseDetections} false (${num(t.falsePerDetector, 2)} per detector-visit), ${t.nearDetections} near an injected source, ${t.wrongSignDetections} of the wrong sign, ${t.ignoredDetections} ignored.`)}</p>`,
  );
  return parts.join('');
}

async function gallerySection(s: NightSummary, max: number): Promise<string> {
  const sample = await sampleAlerts(s.records, max);
  const head = '<h2 id="alerts">Sample alerts</h2>';
  const problems = sample.problems.length
    ? `<details><summary>${esc(`${sample.problems.length} archive(s) not read`)}</summary><ul>${sample.problems.map((p) => `<li class="reason">${esc(p)}</li>`).join('')}</ul></details>`
    : '';
  if (sample.alerts.length === 0) {
    const why = sample.archives === 0 ? 'No detector-visit wrote an alert archive.' : `No alert in the ${sample.archives} alert archive(s) read.`;
    return `${head}<p class="sub">${esc(why)}</p>${problems}`;
  }
  const sub = `<p class="sub">${esc(
    `${sample.alerts.length} alert(s) from ${sample.archivesRead} of ${sample.archives} alert archive(s). Cutouts: science and template with an asinh stretch from the sky level; difference symmetric about zero (negative dark, positive bright); shown with +y up as in FITS; slate pixels have no data.`,
  )}</p>`;
  return `${head}${sub}<div class="gallery">${sample.alerts.map(alertCard).join('')}</div>${problems}`;
}

function failuresSection(s: NightSummary): string {
  const bad = s.records.filter((r) => r.status !== 'processed');
  const head = '<h2 id="failures">Failures</h2>';
  if (bad.length === 0) return `${head}<p class="sub ok">Every detector-visit was processed.</p>`;
  const rows = bad
    .slice(0, MAX_FAILURE_ROWS)
    .map((r) => `<tr><td>${esc(r.group)}</td><td class="n">${esc(r.detector)}</td><td>${esc(r.kind)}</td><td class="bad">${esc(r.status)}</td><td class="reason">${esc(r.reason ?? '')}</td></tr>`);
  const more = bad.length > MAX_FAILURE_ROWS ? `<p class="note">${esc(`… and ${bad.length - MAX_FAILURE_ROWS} more`)}</p>` : '';
  return `${head}<p class="sub">${esc(`${bad.length} detector-visit(s) not processed.`)}</p><table><tr><th>group</th><th>detector</th><th>kind</th><th>status</th><th>reason</th></tr>${rows.join('')}</table>${more}`;
}

function recordRow(r: NightRecord): string {
  const dia = r.summary.diaSources;
  const cells = [
    esc(r.group),
    esc(r.detector),
    esc(r.kind),
    esc(r.status),
    esc(r.snaps),
    esc(num(r.latencySeconds, 2)),
    esc(r.sources ?? '—'),
    esc(typeof dia === 'number' ? dia : '—'),
    esc(num(r.timings.total, 2)),
    esc(r.outputs.alertArchive ? 'yes' : '—'),
  ];
  return `<tr>${cells.map((c, i) => `<td${i === 1 || (i >= 4 && i <= 8) ? ' class="n"' : ''}>${c}</td>`).join('')}</tr>`;
}

function recordsSection(s: NightSummary): string {
  const rows = s.records.slice(0, MAX_RECORD_ROWS).map(recordRow).join('');
  const more = s.records.length > MAX_RECORD_ROWS ? `<p class="note">${esc(`… and ${s.records.length - MAX_RECORD_ROWS} more`)}</p>` : '';
  return (
    `<h2 id="records">Detector-visits</h2><details><summary>${esc(`${s.records.length} detector-visit(s)`)}</summary>` +
    '<table><tr><th>group</th><th>detector</th><th>kind</th><th>status</th><th>snaps</th><th>latency (s)</th><th>sources</th><th>DiaSources</th><th>pipeline (s)</th><th>alerts</th></tr>' +
    `${rows}</table>${more}</details>`
  );
}

/** The report's HTML. */
export async function renderNightReport(summary: NightSummary, opts: NightReportOptions = {}): Promise<string> {
  const truthDir = opts.truthDir ?? path.join(summary.workdir, 'truth');
  const maxAlerts = Math.max(0, Math.floor(opts.maxAlerts ?? 12));
  let mag: MagnitudeCompleteness | null = null;
  let magError: string | null = null;
  if (summary.truth) {
    try {
      mag = await completenessByMagnitude(truthDir, summary.instrument, summary.records, { radiusArcsec: summary.truth.radiusArcsec });
    } catch (e) {
      magError = `Completeness against magnitude not computed: ${errorMessage(e)}`;
    }
  }
  const title = `Night of ${summary.instrument}: ${summary.startedAt}`;
  const body = [
    `<h1>${esc(title)}</h1>`,
    `<p class="sub">${esc(`${summary.groups} group(s), ${summary.detectorVisits.expected} detector-visits, finished ${summary.finishedAt}`)}</p>`,
    '<nav><a href="#summary">Summary</a><a href="#latency">Latency</a><a href="#stages">Stages</a><a href="#truth">Completeness</a><a href="#alerts">Alerts</a><a href="#failures">Failures</a><a href="#records">Detector-visits</a></nav>',
    `<h2 id="summary">Summary</h2>${table(summaryRows(summary))}`,
    latencySection(summary),
    stagesSection(summary),
    truthSection(summary, mag, truthDir, magError),
    await gallerySection(summary, maxAlerts),
    failuresSection(summary),
    recordsSection(summary),
  ].join('\n');
  return `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${esc(title)}</title><style>${CSS}</style></head><body>\n${body}\n</body></html>\n`;
}

/**
 * Writes the report to `file` (directories created; written to a temporary file, then renamed
 * into place).
 */
export async function writeNightReport(summary: NightSummary, file: string, opts: NightReportOptions = {}): Promise<void> {
  const html = await renderNightReport(summary, opts);
  await fs.mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  try {
    await fs.writeFile(tmp, html, 'utf8');
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}
