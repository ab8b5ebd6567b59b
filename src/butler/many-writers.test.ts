import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { Butler } from './butler.ts';

const RUN_TS = fileURLToPath(new URL('../../bin/run-ts.js', import.meta.url));
const CHILD = fileURLToPath(new URL('./testing/export-child.ts', import.meta.url));
const PG = 'postgresql://postgres@127.0.0.1:5432/test';
const pgUp = await new Promise<boolean>((resolve) => {
  const s = net.connect({ host: '127.0.0.1', port: 5432 });
  s.setTimeout(1000, () => (s.destroy(), resolve(false)));
  s.once('connect', () => (s.destroy(), resolve(true)));
  s.once('error', () => resolve(false));
});
if (!pgUp) console.warn('[postgres] many writers on a PostgreSQL central repository skipped: nothing answers at 127.0.0.1:5432');

const WRITERS = 9;
const dirs: string[] = [];
const namespaces: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
  if (namespaces.length) {
    const c = new pg.Client({ connectionString: PG });
    await c.connect();
    for (const n of namespaces) await c.query(`DROP SCHEMA IF EXISTS ${n} CASCADE`);
    await c.end();
  }
});

async function countFiles(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) if (e.isFile() && e.name.endsWith('.fits')) n++;
  return n;
}

async function manyWriters(seed: { db?: string; namespace?: string }): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'many-'));
  dirs.push(dir);
  const root = path.join(dir, 'central');
  await (await Butler.create(root, seed)).close();
  const children = Array.from({ length: WRITERS }, (_, i) => {
    const c = spawn(process.execPath, [RUN_TS, CHILD, root, String(i + 1)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    const done = new Promise<{ code: number | null; out: string; err: string }>((resolve) => c.on('exit', (code) => resolve({ code, out, err })));
    return { c, done };
  });
  await new Promise((r) => setTimeout(r, 3000));
  for (const { c } of children) c.stdin.end('go\n');
  const results = await Promise.all(children.map((x) => x.done));
  for (const r of results) expect(r.code, r.err).toBe(0);
  const b = await Butler.open(root);
  try {
    const run = 'LSSTComCam/prompt/output-20261127/ApPipe/many';
    const rows = await b.query({ collections: [run] });
    expect(rows.filter((r) => r.datasetType === 'processed_exposure')).toHaveLength(5);
    expect(rows.filter((r) => r.datasetType === 'source_catalog')).toHaveLength(5 * WRITERS);
    for (const r of rows) expect((await b.get(r)).length).toBe(r.sizeBytes);
    expect(await countFiles(root)).toBe(rows.length);
    expect((await b.collections('LSSTComCam/prompt'))[0].children).toEqual([run]);
  } finally {
    await b.close();
  }
}

describe(`${WRITERS} workers exporting into one central repository at once`, () => {
  it('on SQLite: nothing lost, nothing duplicated, no stray files', () => manyWriters({}), 120_000);
  it.skipIf(!pgUp)('[postgres] on PostgreSQL: nothing lost, nothing duplicated, no stray files', () => {
    const namespace = `test_many_${randomBytes(4).toString('hex')}`;
    namespaces.push(namespace);
    return manyWriters({ db: PG, namespace });
  }, 120_000);
});
