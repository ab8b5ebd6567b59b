/**
 * One detector-visit through the pipeline, per stage; detection and measurement against
 * Source Extractor on the same processed image, in the same run.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { writeFits } from '../src/fits/index.ts';
import { getInstrument, type InstrumentName } from '../src/instruments/index.ts';
import { makeVisitConfig, processDetectorVisit } from '../src/pipeline/process-visit.ts';
import { readProcessedExposure } from '../src/pipeline/outputs.ts';
import { encodeRaw, simulateRawPixels } from '../src/tester/sim/raw.ts';
import { hasCommand, ratio, timeCommandMs, type BenchResult } from './lib.ts';

function visitFiles(instrument: InstrumentName, detector: number): { files: Uint8Array[]; group: string; filter: string } {
  const inst = getInstrument(instrument);
  const group = '2026112700011';
  const filter = inst.filters[2].name;
  const files: Uint8Array[] = [];
  for (let s = 0; s < inst.snaps; s++) {
    files.push(encodeRaw(simulateRawPixels({ instrument, detector, group, snap: s, filter, raDeg: 53.1, decDeg: -27.8, seed: 7 })));
  }
  return { files, group, filter };
}

export function benchPipeline(reps = 3): BenchResult {
  const figures: BenchResult['figures'] = {};
  const cfg = makeVisitConfig();
  let exposure: Uint8Array | null = null;
  let detectMeasureS = 0;
  let sources = 0;
  for (const [instrument, detector] of [['LSSTComCam', 4], ['LSSTCam', 94], ['DECam', 28]] as const) {
    const { files, group, filter } = visitFiles(instrument, detector);
    const best: Record<string, number> = {};
    for (let r = 0; r < reps + 1; r++) {
      const res = processDetectorVisit({ raws: files, expected: { instrument, detector, group, filter }, kind: 'SCIENCE', config: cfg, now: () => performance.now() });
      if (r === 0) continue;
      for (const [k, v] of Object.entries(res.timings)) best[k] = Math.min(best[k] ?? Infinity, v);
      if (instrument === 'LSSTComCam') {
        exposure = res.exposure;
        sources = res.summary.sources ?? 0;
      }
    }
    const tag = `${instrument}${detector}`;
    figures[`${tag}TotalS`] = Number(best.total.toFixed(3));
    figures[`${tag}DetectionS`] = Number(best.detection.toFixed(3));
    figures[`${tag}MeasurementS`] = Number(best.measurement.toFixed(3));
    if (instrument === 'LSSTComCam') {
      detectMeasureS = best.detection + best.measurement + best.background;
      for (const [k, v] of Object.entries(best)) figures[`itl.${k}S`] = Number(v.toFixed(3));
    }
  }
  figures.itlSources = sources;
  if (exposure && hasCommand('source-extractor')) {
    // Source Extractor on the same ISR'd, snap-combined image: background, detection and
    // measurement (5 sigma, 5 pixels, 3-pixel-radius... apertures), as our stages do.
    const dir = mkdtempSync(path.join(tmpdir(), 'bench-sex-'));
    try {
      const { masked } = readProcessedExposure(exposure, 'bench');
      const img = path.join(dir, 'image.fits');
      writeFileSync(img, writeFits({ width: masked.width, height: masked.height, data: masked.image }));
      writeFileSync(path.join(dir, 'params'), 'NUMBER\nX_IMAGE\nY_IMAGE\nFLUX_APER\nFLUXERR_APER\nX2_IMAGE\nY2_IMAGE\nXY_IMAGE\nFLAGS\n');
      writeFileSync(path.join(dir, 'gauss.conv'), 'CONV NORM\n1 2 1\n2 4 2\n1 2 1\n');
      const args = [
        img, '-c', '/dev/null', '-PARAMETERS_NAME', path.join(dir, 'params'), '-FILTER_NAME', path.join(dir, 'gauss.conv'),
        '-CATALOG_NAME', path.join(dir, 'cat.txt'), '-CATALOG_TYPE', 'ASCII', '-DETECT_THRESH', '5', '-ANALYSIS_THRESH', '5',
        '-DETECT_MINAREA', '5', '-BACK_SIZE', '128', '-PHOT_APERTURES', '12', '-CHECKIMAGE_TYPE', 'NONE', '-VERBOSE_TYPE', 'QUIET',
        '-NTHREADS', '1',
      ];
      const sexMs = timeCommandMs('source-extractor', args, 3);
      figures.sourceExtractorS = Number((sexMs / 1000).toFixed(3));
      figures.oursBackgroundDetectMeasureS = Number(detectMeasureS.toFixed(3));
      figures.oursVsSourceExtractor = ratio(detectMeasureS * 1000, sexMs);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return {
    name: 'pipeline',
    what: 'best-of seconds per stage for one detector-visit (LSSTComCam ITL 2 snaps, LSSTCam e2v 2 snaps, DECam 1 snap), single thread; background + detection + measurement vs Source Extractor 2.x (1 thread) on the same ITL image',
    figures,
  };
}
