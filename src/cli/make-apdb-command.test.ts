import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMakeApdb } from './make-apdb-command.ts';

describe('prompt make-apdb', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'make-apdb-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const run = async (...pairs: string[]): Promise<{ code: number; lines: string[] }> => {
    const lines: string[] = [];
    const code = await runMakeApdb(pairs, (l) => lines.push(l));
    return { code, lines };
  };

  it('creates an SQLite APDB, then says it exists and changes nothing', async () => {
    const file = path.join(dir, 'apdb', 'apdb.db');
    const first = await run('-c', `db_url=sqlite:///${file}`, '-c', 'isolation_level=READ_UNCOMMITTED');
    expect(first).toEqual({ code: 0, lines: [`created the APDB at sqlite:///${file}: schema ApdbSchema 10.0.0, ApdbSql 1.0.0, 12 tables`] });
    expect(existsSync(file)).toBe(true);
    const second = await run(`db_url=sqlite:///${file}`);
    expect(second).toEqual({ code: 0, lines: [`an APDB already exists at sqlite:///${file} (schema ApdbSchema 10.0.0); nothing changed`] });
  });

  it('exits 1 with a message naming what is wrong in the configuration', async () => {
    expect(await run('-c', 'isolation_level=READ_UNCOMMITTED')).toEqual({ code: 1, lines: [expect.stringMatching(/^make-apdb: APDB config needs db_url/)] });
    expect(await run('-c', `db_url=sqlite:///${dir}/x.db`, '-c', 'isolation_level=SOMETIMES'))
      .toEqual({ code: 1, lines: [expect.stringMatching(/isolation_level='SOMETIMES'/)] });
    expect(await run('-c', 'db_url=postgresql://postgres@127.0.0.1:5432/test'))
      .toEqual({ code: 1, lines: [expect.stringMatching(/needs a namespace/)] });
    expect(await run('-c', 'db_url=postgresql://postgres@127.0.0.1:5432/test', '-c', 'namespace=public'))
      .toEqual({ code: 1, lines: [expect.stringMatching(/namespace 'public'/)] });
  });
});
