import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const PROMPT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/prompt.js');

type LogRecord = Record<string, unknown> & { message?: string };

describe("an activator's log in a real night", () => {
  it('writes group and detector on every line of a detector-visit, stage and duration on every stage', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'night-logs-'));
    try {
      const workdir = path.join(dir, 'work');
      const { stdout } = await run(
        process.execPath,
        [PROMPT, 'night', '--instrument', 'LATISS', '--groups', '1', '--exposure-time', '2', '--activators', '1', '--plain', '--no-apdb',
          '--central-repo', path.join(dir, 'central'), '--workdir', workdir],
        { timeout: 240_000, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, PROMPT_LOG_LEVEL: 'info' } },
      );
      expect(stdout).toMatch(/processed 1\s+failed 0\s+timed out 0/);

      const text = await readFile(path.join(workdir, 'logs', 'activator-0.log'), 'utf8');
      const records: LogRecord[] = text
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as LogRecord);
      expect(records.length).toBeGreaterThan(5);

      // A detector-visit's lines: from its nextVisit to its outcome.
      const visits: LogRecord[][] = [];
      let current: LogRecord[] | null = null;
      for (const r of records) {
        if (r.message === 'received a nextVisit') current = [];
        current?.push(r);
        if (current && typeof r.message === 'string' && r.message.startsWith('detector-visit ')) {
          visits.push(current);
          current = null;
        }
      }
      expect(current).toBeNull();
      expect(visits).toHaveLength(1);
      const [lines] = visits;
      const { group, detector } = lines[0];
      expect(typeof group).toBe('string');
      expect(detector).toBe(0);
      for (const r of lines) {
        expect(r, r.message).toMatchObject({ group, detector, severity: expect.any(String), labels: { instrument: 'LATISS' } });
      }
      const outcome = lines.at(-1) as LogRecord;
      expect(outcome).toMatchObject({ message: 'detector-visit processed', status: 'processed', kind: 'SCIENCE' });
      expect(outcome.exposure).toEqual([expect.any(Number)]);
      expect(typeof outcome.visit).toBe('number');

      // Every stage, each on its own line with its duration: the preload (the data repositories),
      // the pipeline's stages (timed on its worker thread), the export.
      const stages = lines.filter((r) => typeof r.stage === 'string');
      const names = stages.map((r) => r.stage);
      expect(names[0]).toBe('preload');
      expect(names).toEqual(expect.arrayContaining(['preload', 'rawInput', 'detection', 'measurement', 'astrometry', 'export']));
      for (const r of stages) expect(typeof r.durationS, String(r.stage)).toBe('number');
      // The exposure and the visit, once known.
      for (const r of stages.filter((s) => s.stage !== 'preload')) {
        expect(r, String(r.stage)).toMatchObject({ exposure: outcome.exposure, visit: outcome.visit });
      }
      // Nothing outside a detector-visit claims a stage.
      for (const r of records) if ('stage' in r) expect(lines).toContain(r);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
