import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { apdbContract, type ApdbFixture } from '../../apdb.contract.ts';
import { openApdb, parseApdbConfig } from '../../index.ts';
import { sqliteDecoder, sqliteEncode } from './sqlite-apdb-backend.ts';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'apdb-'));
  dirs.push(dir);
  return dir;
}

async function tempFile(): Promise<ApdbFixture> {
  const dir = await tempDir();
  const file = path.join(dir, 'sub', `apdb-${randomBytes(4).toString('hex')}.db`);
  return {
    pairs: [`db_url=sqlite:///${file}`],
    async exec(statement: string): Promise<void> {
      const db = new Database(file);
      try {
        db.exec(statement);
      } finally {
        db.close();
      }
    },
    isAbsent: async () => !existsSync(file),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

apdbContract('SQLite (temp file)', tempFile);

describe('APDB on SQLite', () => {
  it('reads sqlite:///relative and sqlite:////absolute as SQLAlchemy does, and describes the absolute form', async () => {
    const dir = await tempDir();
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const rel = await openApdb(parseApdbConfig(['db_url=sqlite:///rel/apdb.db']));
      expect(rel.describe()).toBe(`sqlite:///${path.join(dir, 'rel', 'apdb.db')}`);
      expect((await rel.create()).created).toBe(true);
      await rel.close();
      expect(existsSync(path.join(dir, 'rel', 'apdb.db'))).toBe(true);
      const abs = await openApdb(parseApdbConfig([`db_url=sqlite:///${path.join(dir, 'rel', 'apdb.db')}`]));
      expect((await abs.create()).created).toBe(false);
      await abs.close();
      const plain = await openApdb(parseApdbConfig(['db_url=sqlite:rel/apdb.db']));
      expect(plain.describe()).toBe(abs.describe());
      await plain.close();
    } finally {
      process.chdir(cwd);
    }
  });

  it('stores NaN as the text NaN and reads it back; NULL stays NULL; booleans are 0/1', () => {
    const f = { name: 'psfFlux', datatype: 'float', nullable: true } as const;
    const b = { name: 'isNegative', datatype: 'boolean', nullable: true } as const;
    expect(sqliteEncode(f, Number.NaN)).toBe('NaN');
    expect(sqliteDecoder(f)?.('NaN')).toBeNaN();
    expect(sqliteEncode(f, null)).toBeNull();
    expect(sqliteEncode(b, true)).toBe(1);
    expect(sqliteDecoder(b)?.(0n)).toBe(false);
  });

  it('says there is no APDB and creates no file when asked for counts of a missing one', async () => {
    const file = path.join(await tempDir(), 'missing.db');
    const apdb = await openApdb(parseApdbConfig([`db_url=sqlite:///${file}`]));
    await expect(apdb.counts()).rejects.toThrow(/no APDB at sqlite:\/\/\/\/.*missing\.db; create it/);
    await apdb.close();
    expect(existsSync(file)).toBe(false);
  });
});
