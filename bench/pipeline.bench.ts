/**
 * The whole SCIENCE pipeline, stage by stage, on one full-size ITL detector (LSSTComCam 4) and
 * one e2v detector (LSSTCam 94, R22_S11), two snaps each, with their masters and the reference
 * shards and template patches the activator would preload. Each detector is processed in a
 * fresh child process (pipeline-child.ts) pinned to one CPU, whose peak resident memory is read
 * at its end; the figures are printed beside the alert-production targets. The masters are
 * decoded on the first visit and kept for the next ones, as the activator's pipeline workers keep
 * them. A worker runs all night, so the figures are the median of the visits after the first:
 * its steady state. The first visit also decodes the masters and is when the JavaScript engine
 * compiles the pipeline's code; its total and master decoding are printed beside them.
 *
 * Stage seconds are the child's CPU seconds (all its threads, on the one CPU it may use): what an
 * idle core would take, even when other processes share the machine, which would inflate
 * wall-clock time; the wall-clock seconds and their ratio to CPU are printed beside them.
 * Background + detection + measurement is compared with Source Extractor's CPU seconds on the
 * same processed ITL image, pinned to the same CPU, in the same run.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { VISIT_STAGES } from '../src/pipeline/process-visit.ts';
import { cpuOfCommandS, hasCommand, ratio, type BenchCheck, type BenchResult } from './lib.ts';
import type { RunReport } from './pipeline-child.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHILD = ['bin/run-ts.js', 'bench/pipeline-child.ts'];
const DETECTORS = [
  { tag: 'itl', instrument: 'LSSTComCam', detector: 4 },
  { tag: 'e2v', instrument: 'LSSTCam', detector: 94 },
] as const;

/** The alert-production targets. */
const TARGET = {
  totalS: 3,
  warpMatchSubtractS: 1.5,
  peakRssMiB: 1024,
  astrometryRmsArcsec: 0.05,
  zeroPointMag: 0.01,
  // Bounds of src/pipeline/alert-production.test.ts on the same simulated static sky.
  diaSources: 5,
  kernelSumOffset: 0.03,
  differenceStd: [0.8, 1.3] as const,
};
const WARP_MATCH_SUBTRACT = ['templateWarp', 'psfMatching', 'subtraction'];
const DETECT_MEASURE = ['background', 'detection', 'measurement'];

/** `taskset -c N` on the last CPU when there is more than one and taskset exists: "one core". */
function pinning(): string[] {
  const n = cpus().length;
  return n > 1 && hasCommand('taskset') ? ['taskset', '-c', String(n - 1)] : [];
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const round = (x: number | null | undefined, digits = 3): number | null => (x === null || x === undefined || !Number.isFinite(x) ? null : Number(x.toFixed(digits)));

/** Runs `visits` visits in one child: the first decodes the masters and compiles the code; the rest are a worker's steady state. */
function runChild(dir: string, visits: number, exposureOut: string | undefined): RunReport {
  const pin = pinning();
  // --expose-gc: as in the activator's pipeline workers, released planes are collected at the
  // visit's boundaries (src/core/memory.ts).
  const argv = [...pin, process.execPath, '--expose-gc', ...CHILD, 'run', dir, String(visits), ...(exposureOut ? [exposureOut] : [])];
  const r = spawnSync(argv[0], argv.slice(1), { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 600_000 });
  if (r.status !== 0) throw new Error(`pipeline child (${dir}) failed (status ${r.status} ${r.signal ?? ''}): ${r.stderr}`);
  const line = r.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as RunReport;
}

interface DetectorFigures {
  readonly label: string;
  readonly stages: Record<string, number>;
  /** CPU seconds, median of the visits after the first. */
  readonly totalS: number;
  readonly warpMatchSubtractS: number;
  readonly detectMeasureS: number;
  /** Wall-clock seconds, median of the visits after the first. */
  readonly wallS: number;
  readonly peakRssMiB: number;
  readonly peakRssFirstVisitMiB: number;
  /** The first visit's total and calibInput: the masters decoded (later visits reuse them). */
  readonly firstVisitTotalS: number;
  readonly firstVisitCalibInputS: number;
  readonly inputMiB: number;
  readonly sources: number | null;
  readonly astrometryMatches: number | null;
  readonly astrometryRmsArcsec: number | null;
  readonly zeroPointMinusTruthMag: number | null;
  readonly diaSources: number | null;
  readonly kernelSum: number | null;
  readonly differenceNormalizedStd: number | null;
  readonly templateCoverage: number | null;
  readonly diaSkipped: string | null;
}

function detectorFigures(rep: RunReport): DetectorFigures {
  const seen = new Set(rep.runs.flatMap((r) => Object.keys(r)));
  // Stages in pipeline order; any stage the pipeline has gained since is kept, after them.
  const order = [...VISIT_STAGES.filter((s) => seen.has(s)), ...[...seen].filter((s) => s !== 'total' && !(VISIT_STAGES as readonly string[]).includes(s))];
  const stages: Record<string, number> = {};
  // A worker's steady state: the visits after the first, which decodes the masters and in which
  // the JavaScript engine compiles the pipeline's code (both reported apart).
  const steady = rep.runs.length > 1 ? rep.runs.slice(1) : rep.runs;
  const steadyWall = rep.wallSeconds.length > 1 ? rep.wallSeconds.slice(1) : rep.wallSeconds;
  for (const s of order) stages[s] = median(steady.map((r) => r[s] ?? 0));
  const sumOf = (names: readonly string[]): number => median(steady.map((r) => names.reduce((n, s) => n + (r[s] ?? 0), 0)));
  const s = rep.summary;
  const truth = rep.visit.truthZeroPointMag + 2.5 * Math.log10(s.exposureTimeS);
  return {
    label: `${rep.visit.instrument} ${rep.visit.detector} (${rep.visit.detectorName}, ${rep.visit.ccdType}, ${rep.visit.snaps} snaps)`,
    stages,
    totalS: median(steady.map((r) => r.total)),
    warpMatchSubtractS: sumOf(WARP_MATCH_SUBTRACT),
    detectMeasureS: sumOf(DETECT_MEASURE),
    wallS: median(steadyWall),
    peakRssMiB: rep.maxRssKbEnd / 1024,
    peakRssFirstVisitMiB: rep.maxRssKbFirstVisit / 1024,
    firstVisitTotalS: rep.runs[0].total,
    firstVisitCalibInputS: rep.runs[0].calibInput ?? 0,
    inputMiB: rep.inputBytes / 2 ** 20,
    sources: s.sources,
    astrometryMatches: s.astrometryMatches,
    astrometryRmsArcsec: s.astrometryRmsArcsec,
    zeroPointMinusTruthMag: s.zeroPointMag === null ? null : s.zeroPointMag - truth,
    diaSources: rep.diaSourceCount,
    kernelSum: s.kernelSum,
    differenceNormalizedStd: s.differenceNormalizedStd,
    templateCoverage: s.templateCoverage,
    diaSkipped: s.diaSkipped,
  };
}

function checksOf(tag: string, d: DetectorFigures): BenchCheck[] {
  const c = (what: string, value: number | null, target: string, met: boolean): BenchCheck => ({ detector: tag, what, value, target, met: value === null ? false : met });
  const [lo, hi] = TARGET.differenceStd;
  return [
    c('whole pipeline, CPU s on one core', round(d.totalS), `<= ${TARGET.totalS} s on one core`, d.totalS <= TARGET.totalS),
    c('whole pipeline, wall s', round(d.wallS), `<= ${TARGET.totalS} s on one core`, d.wallS <= TARGET.totalS),
    c('warp + PSF matching + subtraction, CPU s', round(d.warpMatchSubtractS), `<= ${TARGET.warpMatchSubtractS} s`, d.warpMatchSubtractS <= TARGET.warpMatchSubtractS),
    c('peak RSS of the worker process, MiB', round(d.peakRssMiB, 0), `<= ${TARGET.peakRssMiB} MiB (1 GiB)`, d.peakRssMiB <= TARGET.peakRssMiB),
    c('astrometric rms, arcsec', round(d.astrometryRmsArcsec, 4), `<= ${TARGET.astrometryRmsArcsec}"`, d.astrometryRmsArcsec !== null && d.astrometryRmsArcsec <= TARGET.astrometryRmsArcsec),
    c('zero point - truth, mag', round(d.zeroPointMinusTruthMag, 4), `|.| <= ${TARGET.zeroPointMag} mag`, d.zeroPointMinusTruthMag !== null && Math.abs(d.zeroPointMinusTruthMag) <= TARGET.zeroPointMag),
    c('DiaSources on the static sky', d.diaSources, `<= ${TARGET.diaSources} (test bound)`, d.diaSources !== null && d.diaSources <= TARGET.diaSources),
    c('kernel sum', round(d.kernelSum, 4), `1 +- ${TARGET.kernelSumOffset} (test bound)`, d.kernelSum !== null && Math.abs(d.kernelSum - 1) <= TARGET.kernelSumOffset),
    c('normalised difference std', round(d.differenceNormalizedStd, 3), `${lo}..${hi}, ideally 1 (test bound)`, d.differenceNormalizedStd !== null && d.differenceNormalizedStd >= lo && d.differenceNormalizedStd <= hi),
  ];
}

function table(dets: ReadonlyArray<{ tag: string; d: DetectorFigures }>, checks: readonly BenchCheck[], steadyVisits: number, pinned: boolean): string {
  const lines: string[] = [];
  const col = (s: string, n: number): string => s.padStart(n);
  const fmt = (x: number | null, digits = 3): string => (x === null ? '-' : x.toFixed(digits));
  lines.push(`  stage CPU seconds, median of the ${steadyVisits} visits after the first, in one fresh process per detector${pinned ? ' pinned to one CPU' : ''}:`);
  for (const { tag, d } of dets) lines.push(`    ${tag}: ${d.label}`);
  const stages = [...new Set(dets.flatMap(({ d }) => Object.keys(d.stages)))];
  lines.push(`    ${'stage'.padEnd(24)}${dets.map(({ tag }) => col(tag, 9)).join('')}`);
  for (const s of stages) lines.push(`    ${s.padEnd(24)}${dets.map(({ d }) => col(fmt(d.stages[s] ?? null), 9)).join('')}`);
  lines.push(`    ${'total (median of totals)'.padEnd(24)}${dets.map(({ d }) => col(fmt(d.totalS), 9)).join('')}`);
  lines.push(`    ${'1st visit total'.padEnd(24)}${dets.map(({ d }) => col(fmt(d.firstVisitTotalS), 9)).join('')}`);
  lines.push(`    ${'1st visit calibInput'.padEnd(24)}${dets.map(({ d }) => col(fmt(d.firstVisitCalibInputS), 9)).join('')}`);
  lines.push(`    ${'wall s (median)'.padEnd(24)}${dets.map(({ d }) => col(fmt(d.wallS), 9)).join('')}`);
  lines.push(`    ${'wall / CPU'.padEnd(24)}${dets.map(({ d }) => col(fmt(d.wallS / d.totalS, 2), 9)).join('')}`);
  lines.push(`    ${'peak RSS after 1st, MiB'.padEnd(24)}${dets.map(({ d }) => col(fmt(d.peakRssFirstVisitMiB, 0), 9)).join('')}`);
  lines.push(`    ${'inputs held, MiB'.padEnd(24)}${dets.map(({ d }) => col(fmt(d.inputMiB, 0), 9)).join('')}`);
  lines.push(`    ${'sources measured'.padEnd(24)}${dets.map(({ d }) => col(String(d.sources ?? '-'), 9)).join('')}`);
  lines.push(`    ${'astrometric matches'.padEnd(24)}${dets.map(({ d }) => col(String(d.astrometryMatches ?? '-'), 9)).join('')}`);
  lines.push(`    ${'template coverage'.padEnd(24)}${dets.map(({ d }) => col(fmt(d.templateCoverage), 9)).join('')}`);
  lines.push('');
  lines.push('  against the targets:');
  lines.push(`    ${'figure'.padEnd(42)}${dets.map(({ tag }) => col(tag, 9)).join('')}   ${'target'.padEnd(34)} met`);
  const whats = [...new Set(checks.map((c) => c.what))];
  for (const w of whats) {
    const row = dets.map(({ tag }) => checks.find((c) => c.what === w && c.detector === tag));
    const v = row.map((c) => col(c?.value === null || c?.value === undefined ? '-' : String(c.value), 9)).join('');
    const met = row.map((c) => `${c?.detector}:${c?.met ? 'yes' : 'NO'}`).join(' ');
    lines.push(`    ${w.padEnd(42)}${v}   ${(row[0]?.target ?? '').padEnd(34)} ${met}`);
  }
  const shared = dets.filter(({ d }) => d.wallS / d.totalS > 1.1);
  if (shared.length) {
    lines.push(
      `    note: ${shared.map(({ tag }) => tag).join(', ')}: wall-clock time exceeded CPU time by more than 10 %: other processes shared the CPU, ` +
        `so the wall-clock seconds are inflated; the CPU seconds are closer to what an idle core would take.`,
    );
  }
  for (const { tag, d } of dets) if (d.diaSkipped) lines.push(`    ${tag}: difference imaging skipped: ${d.diaSkipped}`);
  return lines.join('\n');
}

export async function benchPipeline(steadyVisits = 4): Promise<BenchResult> {
  const figures: BenchResult['figures'] = {};
  const work = mkdtempSync(path.join(tmpdir(), 'bench-pipeline-'));
  try {
    // The inputs of both detectors, simulated in parallel (not timed).
    const exec = promisify(execFile);
    await Promise.all(
      DETECTORS.map((d) => exec(process.execPath, [...CHILD, 'prepare', path.join(work, d.tag), d.instrument, String(d.detector)], { cwd: ROOT, maxBuffer: 64 << 20 })),
    );
    // Then each detector alone, one after the other.
    const itlImage = path.join(work, 'itl-processed.fits');
    const dets = DETECTORS.map((det) => ({ tag: det.tag, d: detectorFigures(runChild(path.join(work, det.tag), steadyVisits + 1, det.tag === 'itl' ? itlImage : undefined)) }));
    const checks = dets.flatMap(({ tag, d }) => checksOf(tag, d));
    for (const { tag, d } of dets) {
      figures[`${tag}.detector`] = d.label;
      for (const [k, v] of Object.entries(d.stages)) figures[`${tag}.${k}S`] = round(v);
      Object.assign(figures, {
        [`${tag}.totalS`]: round(d.totalS),
        [`${tag}.warpMatchSubtractS`]: round(d.warpMatchSubtractS),
        [`${tag}.firstVisitTotalS`]: round(d.firstVisitTotalS),
        [`${tag}.firstVisitCalibInputS`]: round(d.firstVisitCalibInputS),
        [`${tag}.wallS`]: round(d.wallS),
        [`${tag}.wallOverCpu`]: round(d.wallS / d.totalS, 2),
        [`${tag}.peakRssMiB`]: round(d.peakRssMiB, 0),
        [`${tag}.peakRssFirstVisitMiB`]: round(d.peakRssFirstVisitMiB, 0),
        [`${tag}.inputMiB`]: round(d.inputMiB, 1),
        [`${tag}.sources`]: d.sources,
        [`${tag}.astrometryRmsArcsec`]: round(d.astrometryRmsArcsec, 4),
        [`${tag}.zeroPointMinusTruthMag`]: round(d.zeroPointMinusTruthMag, 4),
        [`${tag}.diaSources`]: d.diaSources,
        [`${tag}.kernelSum`]: round(d.kernelSum, 4),
        [`${tag}.differenceNormalizedStd`]: round(d.differenceNormalizedStd, 3),
      });
    }
    const pin = pinning();
    let report = table(dets, checks, steadyVisits, pin.length > 0);
    const itl = dets.find((x) => x.tag === 'itl')?.d;
    if (itl && hasCommand('source-extractor')) {
      // Source Extractor on the same processed (ISR'd, snap-combined, background-subtracted) ITL
      // image: background, detection and measurement (5 sigma, 5 pixels, 12-pixel-diameter
      // apertures and moments), as our stages do; ours also fit PSF fluxes.
      const dir = path.join(work, 'sex');
      mkdirSync(dir);
      writeFileSync(path.join(dir, 'params'), 'NUMBER\nX_IMAGE\nY_IMAGE\nFLUX_APER\nFLUXERR_APER\nX2_IMAGE\nY2_IMAGE\nXY_IMAGE\nFLAGS\n');
      writeFileSync(path.join(dir, 'gauss.conv'), 'CONV NORM\n1 2 1\n2 4 2\n1 2 1\n');
      const args = [
        itlImage, '-c', '/dev/null', '-PARAMETERS_NAME', path.join(dir, 'params'), '-FILTER_NAME', path.join(dir, 'gauss.conv'),
        '-CATALOG_NAME', path.join(dir, 'cat.txt'), '-CATALOG_TYPE', 'ASCII', '-DETECT_THRESH', '5', '-ANALYSIS_THRESH', '5',
        '-DETECT_MINAREA', '5', '-BACK_SIZE', '128', '-PHOT_APERTURES', '12', '-CHECKIMAGE_TYPE', 'NONE', '-VERBOSE_TYPE', 'QUIET',
        '-NTHREADS', '1',
      ];
      const sexS = cpuOfCommandS('source-extractor', args, 3, pin);
      Object.assign(figures, {
        sourceExtractorS: round(sexS),
        oursBackgroundDetectMeasureS: round(itl.detectMeasureS),
        oursVsSourceExtractor: ratio(itl.detectMeasureS, sexS),
      });
      report +=
        `\n\n  background + detection + measurement (with PSF fluxes) of the ITL image: ours ${itl.detectMeasureS.toFixed(3)} CPU s, ` +
        `Source Extractor 2.x ${sexS.toFixed(3)} CPU s (1 thread, same image, same CPU): ${ratio(itl.detectMeasureS, sexS)} x`;
    }
    return {
      name: 'pipeline',
      what:
        `whole SCIENCE pipeline (ISR, snap combine, background, detection, measurement with PSF fluxes, astrometry, photometric calibration, template warp, PSF matching, subtraction, DiaSources, cutouts, outputs) ` +
        `CPU seconds per stage, median of the ${steadyVisits} visits after the first, one detector per fresh process${pin.length ? ' pinned to one CPU' : ''}, masters decoded on the first visit and kept for the next as the activator's workers keep them (LSSTComCam 4 ITL and LSSTCam 94 e2v, 2 full-size snaps, simulated static sky, header WCS 10" off), ` +
        `wall seconds, peak RSS of that process, quality against the simulator's truth; background + detection + measurement vs Source Extractor 2.x (1 thread, CPU seconds) on the same ITL image`,
      figures,
      checks,
      report,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
