import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { PROMPT_BIN } from './child-service.ts';
import type { NightSummary } from './summary.ts';

const run = promisify(execFile);

describe('prompt night (every piece in its own process)', () => {
  it('processes every detector-visit of a 2-group LATISS night and writes the JSON summary', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'night-'));
    try {
      const json = path.join(dir, 'summary.json');
      const { stdout } = await run(
        process.execPath,
        [PROMPT_BIN, 'night', '--instrument', 'LATISS', '--groups', '2', '--seed', '7', '--workdir', path.join(dir, 'work'),
          '--json', json, '--exposure-time', '2', '--slew-time', '1', '--activators', '2', '--plain',
          '--central-repo', path.join(dir, 'central')],
        { timeout: 240_000, maxBuffer: 16 * 1024 * 1024 },
      );
      expect(stdout).toMatch(/Night of LATISS: 2 group\(s\), 2 detector-visits/);
      const s = JSON.parse(await readFile(json, 'utf8')) as NightSummary;
      expect(s.instrument).toBe('LATISS');
      expect(s.groups).toBe(2);
      expect(s.detectorVisits).toEqual({ expected: 2, processed: 2, failed: 0, timedOut: 0, missing: 0 });
      expect(s.latencySeconds.p50).toBeGreaterThan(0);
      expect(s.latencySeconds.p95).toBeGreaterThanOrEqual(s.latencySeconds.p50 as number);
      expect(s.records).toHaveLength(2);
      for (const r of s.records) {
        expect(r).toMatchObject({ detector: 0, kind: 'SCIENCE', status: 'processed', snaps: 1 });
        expect(r.sources).toBeGreaterThan(10);
        expect(Object.keys(r.outputs).sort()).toEqual(['outcome', 'processed_exposure', 'source_catalog']);
        for (const p of Object.values(r.outputs)) expect((await stat(p.startsWith('file://') ? fileURLToPath(p) : p)).size).toBeGreaterThan(0);
        expect(r.timings.preload).toBeGreaterThan(0);
        expect(r.timings.export).toBeGreaterThan(0);
      }
      expect(new Set(s.records.map((r) => r.group)).size).toBe(2);

      // The central repository holds every output of every detector-visit exactly once.
      expect(s.centralRepo).toBe(path.join(dir, 'central'));
      const q = await run(process.execPath, [PROMPT_BIN, 'butler', 'query-datasets', s.centralRepo as string, '--collections', 'LATISS/prompt', '--json'], { maxBuffer: 16 << 20 });
      const rows = JSON.parse(q.stdout) as Array<{ datasetType: string; run: string; dataId: { visit: number }; uri: string }>;
      expect(rows).toHaveLength(4);
      expect(rows.filter((r) => r.datasetType === 'processed_exposure')).toHaveLength(2);
      expect(rows.filter((r) => r.datasetType === 'source_catalog')).toHaveLength(2);
      expect(new Set(rows.map((r) => r.uri)).size).toBe(4);
      expect(rows.every((r) => /^LATISS\/prompt\/output-\d{8}\/ApPipe\/night$/.test(r.run))).toBe(true);
      const uris = new Set(s.records.flatMap((r) => [r.outputs.processed_exposure, r.outputs.source_catalog]));
      expect(new Set(rows.map((r) => r.uri))).toEqual(uris);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
