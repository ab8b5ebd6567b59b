/**
 * The default night (`npm start`): per-detector latency against the pipeline's own service time
 * in the same night, which shows how much of the latency is waiting for a free core.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { runNight } from '../src/night/night.ts';
import { ratio, type BenchResult } from './lib.ts';

export async function benchNight(): Promise<BenchResult> {
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
    const service = s.stageSeconds.total ?? null;
    return {
      name: 'night',
      what: 'the default night (LSSTComCam, 2 groups of 9 detectors x 2 snaps, 18 s exposures, 2 s slew; central repository built first, preloaded from and exported to), latency from last snap finalized to outputs written, vs mean pipeline service time per detector-visit in the same night',
      figures: {
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
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
