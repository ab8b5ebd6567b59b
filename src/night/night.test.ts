import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
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
          '--json', json, '--exposure-time', '2', '--slew-time', '1', '--activators', '2', '--plain'],
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
        for (const p of Object.values(r.outputs)) expect((await stat(p)).size).toBeGreaterThan(0);
      }
      expect(new Set(s.records.map((r) => r.group)).size).toBe(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
