/**
 * One detector's SCIENCE visit through the whole pipeline, in a process of its own, so that its
 * peak resident memory is that of a worker doing nothing else.
 *
 *   node bin/run-ts.js bench/pipeline-child.ts prepare DIR INSTRUMENT DETECTOR
 *     simulates the visit's raws (two snaps, header WCS off by 10"), its masters and the
 *     reference shards and template patches the activator would preload, and writes them to DIR
 *     as the files a worker is given (and visit.json: the visit and the simulator's truth).
 *   node bin/run-ts.js bench/pipeline-child.ts run DIR REPS [EXPOSURE_OUT]
 *     reads DIR, runs processDetectorVisit REPS times and prints one line of JSON (RunReport)
 *     to standard output; EXPOSURE_OUT: the processed image (float32 FITS) of the last run, for
 *     Source Extractor.
 *
 * The pipeline's stage clock is the process's CPU time (user + system, all its threads): run
 * pinned to one CPU, that is the time an idle core would take, whatever else shares the machine.
 * Wall-clock seconds of each run are reported beside it.
 *
 * Preparation is a separate process: the simulator's own arrays would otherwise set the peak.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { writeFits } from '../src/fits/index.ts';
import { getInstrument, type InstrumentName } from '../src/instruments/index.ts';
import { readProcessedExposure, reuseOutputBuffers } from '../src/pipeline/outputs.ts';
import { makeVisitConfig, processDetectorVisit, type VisitSummary } from '../src/pipeline/process-visit.ts';
import type { MasterCalibration } from '../src/pipeline/index.ts';
import { simulatedCalibrationInputs } from '../src/pipeline/testing/sim-inputs.ts';
import { rawFile, simulateVisit } from '../src/pipeline/testing/sim-raws.ts';
import { masterBias, masterDark, masterFlat } from '../src/tester/central/masters.ts';

/** What `prepare` writes to visit.json. */
export interface PreparedVisit {
  readonly instrument: string;
  readonly detector: number;
  readonly detectorName: string;
  readonly ccdType: string;
  readonly group: string;
  readonly filter: string;
  readonly snaps: number;
  /** The simulator's zero point for 1 e-/s (add 2.5 log10 of the exposure time). */
  readonly truthZeroPointMag: number;
  readonly transientsInjected: number;
}

/** What `run` prints. */
export interface RunReport {
  readonly visit: PreparedVisit;
  /** CPU seconds of the process per stage (and 'total') of each run. */
  readonly runs: ReadonlyArray<Readonly<Record<string, number>>>;
  /** Wall-clock seconds of each run. */
  readonly wallSeconds: readonly number[];
  /** process.resourceUsage().maxRSS, kB: after the first visit and after the last. */
  readonly maxRssKbFirstVisit: number;
  readonly maxRssKbEnd: number;
  /** Bytes of the input files held for the visit (raws, masters, shards, templates). */
  readonly inputBytes: number;
  readonly summary: VisitSummary;
  readonly diaSourceCount: number | null;
}

const POINTING = { raDeg: 53.2, decDeg: -28.1 };
const GROUP = '2025050100041';

function prepare(dir: string, instrument: InstrumentName, detector: number): void {
  const inst = getInstrument(instrument);
  const det = inst.detector(detector);
  const filter = inst.filters.find((f) => f.band === 'r')?.name;
  if (!filter) throw new Error(`${instrument} has no r-band filter`);
  mkdirSync(dir, { recursive: true });
  const raws = simulateVisit({ instrument: inst.name, detector, group: GROUP, filter, ...POINTING, seed: 7, pointingErrorArcsec: 10 }, inst.snaps);
  raws.forEach((r, i) => writeFileSync(path.join(dir, `raw-${i}.fz`), rawFile(r)));
  writeFileSync(path.join(dir, 'calib-bias.fits'), masterBias(inst, detector));
  writeFileSync(path.join(dir, 'calib-dark.fits'), masterDark(inst, detector));
  writeFileSync(path.join(dir, 'calib-flat.fits'), masterFlat(inst, detector, filter));
  const inputs = simulatedCalibrationInputs({ instrument: inst.name, detector, ...POINTING, band: 'r' });
  inputs.refcatShards.forEach((b, i) => writeFileSync(path.join(dir, `refcat-${i}.fits`), b));
  inputs.templates.forEach((b, i) => writeFileSync(path.join(dir, `template-${i}.fits`), b));
  const visit: PreparedVisit = {
    instrument: inst.name,
    detector,
    detectorName: det.name,
    ccdType: det.ccdType,
    group: GROUP,
    filter,
    snaps: raws.length,
    truthZeroPointMag: raws[0].truth.zeroPointMag,
    transientsInjected: raws[0].truth.injected.transients.length,
  };
  writeFileSync(path.join(dir, 'visit.json'), JSON.stringify(visit));
}

function run(dir: string, reps: number, exposureOut: string | undefined): RunReport {
  const visit = JSON.parse(readFileSync(path.join(dir, 'visit.json'), 'utf8')) as PreparedVisit;
  const names = readdirSync(dir).sort();
  // Each file as a plain Uint8Array over the bytes read rather than a copy: a worker is handed its
  // inputs without copying them, and copies left the read buffers behind as garbage in the heap.
  const read = (prefix: string): Uint8Array[] =>
    names
      .filter((n) => n.startsWith(prefix))
      .map((n) => {
        const b = readFileSync(path.join(dir, n));
        return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      });
  const raws = read('raw-');
  const [bias] = read('calib-bias');
  const [dark] = read('calib-dark');
  const [flat] = read('calib-flat');
  const refcatShards = read('refcat-');
  const templates = read('template-');
  const inputBytes = [...raws, bias, dark, flat, ...refcatShards, ...templates].reduce((n, b) => n + b.length, 0);
  const config = makeVisitConfig();
  const cpuMs = (): number => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const runs: Array<Record<string, number>> = [];
  const wallSeconds: number[] = [];
  let maxRssKbFirstVisit = 0;
  let last: ReturnType<typeof processDetectorVisit> | null = null;
  // The masters are decoded on the first visit and kept for the next ones, as the activator's
  // pipeline workers keep them (src/activator/pipeline-worker.ts): runs after the first are the
  // steady state of a worker, and its peak memory includes the kept masters.
  const masterCache = new Map<string, MasterCalibration>();
  for (let i = 0; i < reps; i++) {
    // A worker hands its output files on before the next visit: the last visit's are not kept
    // while this one runs (they would add two full-size files to the peak). Once written out,
    // the activator hands the memory of the two large ones back to the worker for its next
    // visit's planes (src/activator/pipeline-processor.ts): so does this.
    if (last) reuseOutputBuffers([last.exposure.buffer, ...(last.difference ? [last.difference.buffer] : [])]);
    last = null;
    const t0 = performance.now();
    last = processDetectorVisit({
      raws,
      expected: { instrument: visit.instrument, detector: visit.detector, group: visit.group, filter: visit.filter },
      kind: 'SCIENCE',
      calibs: { bias, dark, flat },
      masterCache,
      refcatShards,
      templates,
      config,
      now: cpuMs,
    });
    wallSeconds.push((performance.now() - t0) / 1000);
    runs.push({ ...last.timings });
    if (i === 0) maxRssKbFirstVisit = process.resourceUsage().maxRSS;
  }
  if (!last) throw new Error('REPS must be at least 1');
  const maxRssKbEnd = process.resourceUsage().maxRSS;
  if (exposureOut) {
    const { masked } = readProcessedExposure(last.exposure, 'bench');
    writeFileSync(exposureOut, writeFits({ width: masked.width, height: masked.height, data: masked.image }));
  }
  const diaSourceCount = last.summary.diaSources;
  return {
    visit,
    runs,
    wallSeconds,
    maxRssKbFirstVisit,
    maxRssKbEnd,
    inputBytes,
    summary: last.summary,
    diaSourceCount,
  };
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'prepare') {
  const [dir, instrument, detector] = args;
  prepare(dir, instrument as InstrumentName, Number(detector));
} else if (mode === 'run') {
  const [dir, reps, exposureOut] = args;
  process.stdout.write(`${JSON.stringify(run(dir, Number(reps), exposureOut))}\n`);
} else {
  process.stderr.write('usage: pipeline-child.ts prepare DIR INSTRUMENT DETECTOR | run DIR REPS [EXPOSURE_OUT]\n');
  process.exit(2);
}
