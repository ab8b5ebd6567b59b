/**
 * The default night (`npm start`): per-detector latency against the pipeline's own service time
 * in the same night, which shows how much of the latency is waiting for a free core.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { runNight } from '../src/night/night.ts';
import type { NightSummary } from '../src/night/summary.ts';
import { ratio, type BenchResult } from './lib.ts';

/**
 * The figures of a night: run the default night in a temporary directory, or (`summaryFile`)
 * read those of a night that already ran, from its JSON summary (`prompt night --json FILE`),
 * e.g. the `npm start` of the same CI run.
 */
export async function benchNight(summaryFile?: string): Promise<BenchResult> {
  if (summaryFile) return nightFigures(JSON.parse(readFileSync(summaryFile, 'utf8')) as NightSummary, `the night of ${summaryFile}`);
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-night-'));
  try {
    const s = await runNight({
      instrument: 'LSSTComCam',
      groups: 2,
      seed: 1,
      workdir: path.join(dir, 'night'),
      centralRepo: path.join(dir, 'central'),
      plain: true,
      out: new Writable({ write: (_c, _e, cb) => cb() }),
    });
    return nightFigures(s, 'the default night (LSSTComCam, 2 groups of 9 detectors x 2 snaps, 18 s exposures, 2 s slew; central repository built first)');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function nightFigures(s: NightSummary, which: string): BenchResult {
  const service = s.stageSeconds.total ?? null;
  const t = s.truth;
  return {
    name: 'night',
    what: `${which}: latency from last snap finalized to outputs written vs mean pipeline service time per detector-visit in the same night; DiaSources against the injected transients`,
    figures: {
      instrument: s.instrument,
      groups: s.groups,
      detectorVisits: s.detectorVisits.expected,
      processed: s.detectorVisits.processed,
      wallS: s.wallSeconds,
      latencyP50S: s.latencySeconds.p50,
      latencyP95S: s.latencySeconds.p95,
      latencyMaxS: s.latencySeconds.max,
      serviceTimeMeanS: service,
      p50VsServiceTime: service && s.latencySeconds.p50 ? ratio(s.latencySeconds.p50, service) : null,
      activators: s.activators,
      preloadP50S: s.preloadSeconds.p50,
      preloadP95S: s.preloadSeconds.p95,
      exportP50S: s.exportSeconds.p50,
      exportP95S: s.exportSeconds.p95,
      diaSourcesPerDetectorVisitMedian: s.diaSources?.perDetectorVisitMedian ?? null,
      transientsInjected: t?.injected ?? null,
      transientsRecovered: t?.recovered ?? null,
      completeness: t?.completeness ?? null,
      completenessAboveSnr10: t?.completenessAboveSnr10 ?? null,
      falseDiaSourcesPerDetectorVisit: t?.falsePerDetector ?? null,
    },
  };
}
