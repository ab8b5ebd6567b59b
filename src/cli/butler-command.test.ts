import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../../bin/prompt.js', import.meta.url));
const PG = 'postgresql://postgres@127.0.0.1:5432/test';
const pgUp = await new Promise<boolean>((resolve) => {
  const s = net.connect({ host: '127.0.0.1', port: 5432 });
  s.setTimeout(1000, () => (s.destroy(), resolve(false)));
  s.once('connect', () => (s.destroy(), resolve(true)));
  s.once('error', () => resolve(false));
});
if (!pgUp) console.warn('[postgres] prompt butler with a PostgreSQL seed config skipped: nothing answers at 127.0.0.1:5432');

const prompt = (...args: string[]) => run(process.execPath, [BIN, ...args], { maxBuffer: 16 << 20 });

describe('prompt butler', () => {
  let dir: string;
  const namespace = `test_cli_${randomBytes(4).toString('hex')}`;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'butler-cli-'));
  });
  afterAll(async () => {
    if (pgUp) {
      const c = new pg.Client({ connectionString: PG });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${namespace} CASCADE`);
      await c.end();
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('creates a SQLite repository, registers an instrument, certifies and lists', async () => {
    const repo = path.join(dir, 'sqlite-repo');
    expect((await prompt('butler', 'create', repo)).stdout).toMatch(/created repository .* \(registry sqlite\)/);
    expect((await prompt('butler', 'register-instrument', repo, 'LSSTComCam')).stdout).toMatch(/9 detectors/);
    const cols = JSON.parse((await prompt('butler', 'query-collections', repo, '--json')).stdout);
    expect(cols).toEqual([]);
    const none = await prompt('butler', 'query-datasets', repo, '--json');
    expect(JSON.parse(none.stdout)).toEqual([]);
    await expect(prompt('butler', 'create', repo)).rejects.toMatchObject({ stderr: expect.stringMatching(/already exists/) });
    await expect(prompt('butler', 'query-datasets', repo, '--where', 'colour=1')).rejects.toMatchObject({ stderr: expect.stringMatching(/not a dimension/) });
    await expect(prompt('butler', 'query-collections', path.join(dir, 'nowhere'))).rejects.toMatchObject({ stderr: expect.stringMatching(/no repository at/) });
  });

  it.skipIf(!pgUp)('[postgres] creates the registry in the seed config’s namespace', async () => {
    const seed = path.join(dir, 'seed.yaml');
    await writeFile(seed, `registry:\n  db: ${PG}\n  namespace: ${namespace}\n`);
    const repo = path.join(dir, 'pg-repo');
    expect((await prompt('butler', 'create', '--seed-config', seed, repo)).stdout).toMatch(new RegExp(`registry postgres, namespace ${namespace}`));
    const c = new pg.Client({ connectionString: PG });
    await c.connect();
    const r = await c.query('SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1', [namespace]);
    await c.end();
    expect(r.rows[0].n).toBeGreaterThan(5);
    expect((await prompt('butler', 'query-collections', repo)).stdout).toMatch(/Name/);
  });

  it.skipIf(!pgUp)('[postgres] refuses a PostgreSQL registry without a namespace, saying why', async () => {
    const seed = path.join(dir, 'seed-nons.yaml');
    await writeFile(seed, `registry:\n  db: ${PG}\n`);
    await expect(prompt('butler', 'create', '--seed-config', seed, path.join(dir, 'bad'))).rejects.toMatchObject({
      stderr: expect.stringMatching(/public/),
    });
  });
});
