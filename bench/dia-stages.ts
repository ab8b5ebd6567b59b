/**
 * One simulated LSSTComCam ITL detector visit (detector 4, two snaps) through the SCIENCE
 * pipeline with template patches and reference shards, a few times; prints the median of each
 * stage's timing (seconds). Usage: node bin/run-ts.js bench/dia-stages.ts [reps=3]
 */
import { masterBias, masterDark, masterFlat } from '../src/tester/central/masters.ts';
import { processDetectorVisit } from '../src/pipeline/process-visit.ts';
import { simulatedCalibrationInputs } from '../src/pipeline/testing/sim-inputs.ts';
import { rawFile, simulateVisit } from '../src/pipeline/testing/sim-raws.ts';

const INSTRUMENT = 'LSSTComCam';
const DETECTOR = 4;
const GROUP = '2025050100041';
const FILTER = 'r_03';
const POINTING = { raDeg: 53.2, decDeg: -28.1 };
const reps = Number(process.argv[2] ?? 3);

const raws = simulateVisit({ instrument: INSTRUMENT, detector: DETECTOR, group: GROUP, filter: FILTER, ...POINTING, seed: 7, pointingErrorArcsec: 10 }, 2);
const inputs = simulatedCalibrationInputs({ instrument: INSTRUMENT, detector: DETECTOR, ...POINTING, band: 'r' });
const calibs = { bias: masterBias(INSTRUMENT, DETECTOR), dark: masterDark(INSTRUMENT, DETECTOR), flat: masterFlat(INSTRUMENT, DETECTOR, FILTER) };
const files = raws.map((x) => rawFile(x));

const runs: Record<string, number>[] = [];
for (let i = 0; i < reps; i++) {
  const r = processDetectorVisit({
    raws: files,
    expected: { instrument: INSTRUMENT, detector: DETECTOR, group: GROUP, filter: FILTER },
    kind: 'SCIENCE',
    calibs,
    refcatShards: inputs.refcatShards,
    templates: inputs.templates,
    now: () => performance.now(),
  });
  if (r.summary.diaSkipped) throw new Error(`difference imaging skipped: ${r.summary.diaSkipped}`);
  runs.push({ ...r.timings });
  if (i === 0) {
    const s = r.summary;
    console.log(`summary: kernelSum=${s.kernelSum} normStd=${s.differenceNormalizedStd} diaNoiseScale=${s.diaNoiseScale} coverage=${s.templateCoverage}`);
  }
}
const median = (v: number[]): number => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const keys = Object.keys(runs[0]);
const w = Math.max(...keys.map((k) => k.length));
for (const k of keys) {
  const v = runs.map((r) => r[k] ?? 0);
  console.log(`${k.padEnd(w)}  median ${median(v).toFixed(3)}  [${v.map((x) => x.toFixed(3)).join(' ')}]`);
}
