import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createRawPool } from './raw-pool.ts';
import { simulateRaw, visitTruth, type RawParams } from './raw.ts';

const PARAMS: RawParams = {
  instrument: 'LSSTComCam',
  detector: 2,
  group: '2024110800007',
  snap: 1,
  filter: 'g_01',
  raDeg: 150.1,
  decDeg: 2.2,
  rotationDeg: 0,
  seed: 'pool',
};

describe('raw pool', () => {
  it('simulates in worker threads the same bytes as in-process, with the truth', async () => {
    const pool = createRawPool({ threads: 2 });
    try {
      expect(pool.threads).toBe(2);
      const injected = { ...PARAMS, injectTransients: { seed: 3 } };
      const [a, b, withTruth, withVisitTruth] = await Promise.all([
        pool.simulate(PARAMS),
        pool.simulate({ ...PARAMS, detector: 3 }),
        pool.simulateWithTruth(PARAMS),
        pool.simulateWithVisitTruth(injected),
      ]);
      const local = simulateRaw(PARAMS);
      expect(a).toBeInstanceOf(Uint8Array);
      expect(Buffer.from(a).equals(Buffer.from(local))).toBe(true);
      expect(Buffer.from(b).equals(Buffer.from(local))).toBe(false);
      expect(Buffer.from(withTruth.bytes).equals(Buffer.from(local))).toBe(true);
      expect(withTruth.truth.sources.count).toBeGreaterThan(100);
      expect(withTruth.truth.sources.x).toBeInstanceOf(Float64Array);
      expect(withVisitTruth.bytes).toBeInstanceOf(Uint8Array);
      expect(withVisitTruth.truth).toEqual(visitTruth(injected));
      expect(withVisitTruth.truth.transients.length).toBeGreaterThan(0);
      // a task that fails reports the error, and the pool keeps working
      await expect(pool.simulate({ ...PARAMS, filter: 'nope' })).rejects.toThrow(/filter 'nope'/);
      expect((await pool.simulate(PARAMS)).length).toBe(local.length);
    } finally {
      await pool.close();
    }
    await expect(pool.simulate(PARAMS)).rejects.toThrow(/closed/);
  });

  it('works from a plain node process that registered tsx with register()', () => {
    const dir = mkdtempSync(join(tmpdir(), 'raw-pool-'));
    try {
      const poolUrl = new URL('./raw-pool.ts', import.meta.url).href;
      const tsxApi = new URL('../../../node_modules/tsx/dist/esm/api/index.mjs', import.meta.url).href;
      const script = join(dir, 'run.mjs');
      writeFileSync(
        script,
        [
          `import { register } from ${JSON.stringify(tsxApi)};`,
          'register();',
          `const { createRawPool } = await import(${JSON.stringify(poolUrl)});`,
          'const pool = createRawPool({ threads: 1 });',
          `const bytes = await pool.simulate(${JSON.stringify({ ...PARAMS, kind: 'BIAS' })});`,
          'await pool.close();',
          "console.log('bytes', bytes.length, new TextDecoder().decode(bytes.subarray(0, 6)));",
        ].join('\n'),
      );
      const t0 = Date.now();
      const r = spawnSync(process.execPath, [script], { encoding: 'utf8', cwd: dir, env: { ...process.env, NODE_OPTIONS: '' }, timeout: 60_000 });
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^bytes \d+ SIMPLE/);
      // the process exits as soon as the pool is closed (no lingering timers or workers)
      expect(Date.now() - t0).toBeLessThan(20_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(fileURLToPath(new URL('./raw-worker.ts', import.meta.url))).toMatch(/raw-worker\.ts$/);
  });
});
