import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll } from 'vitest';
import { manyWritersContract, registryContract } from '../../registry.contract.ts';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempFile(): Promise<{ cfg: { db: string }; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'registry-'));
  dirs.push(dir);
  const file = path.join(dir, 'repo', `registry-${randomBytes(4).toString('hex')}.sqlite3`);
  return { cfg: { db: `sqlite://${file}` }, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

registryContract('sqlite (temp file)', tempFile);
manyWritersContract('sqlite (one file)', tempFile, 12);
