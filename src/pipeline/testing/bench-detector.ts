/**
 * Speed of one detector-visit through the pipeline: `node bin/run-ts.js src/pipeline/testing/bench-detector.ts [instrument] [detector]`.
 * Simulates the snaps (not timed), then runs processDetectorVisit REPS times (default 5) and prints
 * the seconds per stage of each run and the best of each stage. 'pipeline' is ISR + combine +
 * background + detection + measurement (total less raw input, calibration input and outputs).
 * A fourth argument 'plain' writes the raws uncompressed.
 */
import { getInstrument, type InstrumentName } from '../../instruments/index.ts';
import { makeVisitConfig, processDetectorVisit } from '../process-visit.ts';
import { rawFile, simulateVisit } from './sim-raws.ts';

const instrument = (process.argv[2] ?? 'LSSTComCam') as InstrumentName;
const detector = Number(process.argv[3] ?? 4);
const compress = process.argv[4] !== 'plain';
const inst = getInstrument(instrument);
const group = '2025050100011';
const filter = inst.filters[2].name;
const raws = simulateVisit({ instrument, detector, group, filter, raDeg: 53.1, decDeg: -27.8, seed: 7 }, inst.snaps);
const files = raws.map((r) => rawFile(r, compress));
const cfg = makeVisitConfig();
const reps = Number(process.env.REPS ?? 5);
const best: Record<string, number> = {};
for (let rep = 0; rep < reps; rep++) {
  const r = processDetectorVisit({ raws: files, expected: { instrument, detector, group, filter }, kind: 'SCIENCE', config: cfg, now: () => performance.now() });
  const t = r.timings;
  const pipeline = (t.total ?? 0) - (t.rawInput ?? 0) - (t.outputs ?? 0) - (t.calibInput ?? 0);
  for (const [k, v] of Object.entries({ ...t, pipeline })) best[k] = Math.min(best[k] ?? Infinity, v);
  console.log(
    JSON.stringify({
      instrument,
      detector,
      ccd: inst.detector(detector).ccdType,
      snaps: files.length,
      sources: r.summary.sources,
      psfFwhmPx: Number(r.summary.psfFwhmPx?.toFixed(3)),
      crPixels: r.summary.crPixels,
      pipelineS: Number(pipeline.toFixed(3)),
      timings: Object.fromEntries(Object.entries(t).map(([k, v]) => [k, Number(v.toFixed(3))])),
    }),
  );
}
console.log(JSON.stringify({ bestOf: reps, seconds: Object.fromEntries(Object.entries(best).map(([k, v]) => [k, Number(v.toFixed(3))])) }));
