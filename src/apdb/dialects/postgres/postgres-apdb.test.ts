import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../core/errors.ts';
import { apdbContract, type ApdbFixture } from '../../apdb.contract.ts';
import { openApdb, parseApdbConfig } from '../../index.ts';
import { associatePlan, boxRegion } from '../../testing/rows.ts';
import { microsToTimestamp, timestampToMicros } from './timestamps.ts';
import { serverAnswers } from '../../../core/testing/servers.ts';

const HOST = '127.0.0.1';
const PORT = 5432;
const URL_ = `postgresql://postgres@${HOST}:${PORT}/test`;


const up = await serverAnswers(PORT, HOST);
const ci = process.env.CI === 'true';
if (!up) console.warn(`[postgres] APDB tests skipped: nothing answers at ${HOST}:${PORT}${ci ? ' (CI=true: failing instead)' : ''}`);

const created = new Set<string>();

async function query(text: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: URL_ });
  await c.connect();
  try {
    return await c.query(text, params);
  } finally {
    await c.end();
  }
}

async function dropSchema(ns: string): Promise<void> {
  await query(`drop schema if exists "${ns}" cascade`);
  created.delete(ns);
}

afterAll(async () => {
  if (up) for (const ns of [...created]) await dropSchema(ns);
});

function freshName(): string {
  const ns = `test_apdb_${randomBytes(5).toString('hex')}`;
  created.add(ns);
  return ns;
}

async function freshNamespace(): Promise<ApdbFixture> {
  const namespace = freshName();
  return {
    pairs: [`db_url=${URL_}`, `namespace=${namespace}`],
    async exec(statement: string): Promise<void> {
      await query(`set search_path to "${namespace}"; ${statement}`);
    },
    isAbsent: async () => (await query('select 1 from pg_namespace where nspname = $1', [namespace])).rowCount === 0,
    cleanup: () => dropSchema(namespace),
  };
}

if (!up && ci) {
  describe('APDB on PostgreSQL (needs a server at 127.0.0.1:5432)', () => {
    it('has a server to test against (CI=true)', () => {
      expect.fail(`nothing answers at ${HOST}:${PORT}; CI runs need the PostgreSQL server`);
    });
  });
}

describe.skipIf(!up)('APDB on PostgreSQL (needs a server at 127.0.0.1:5432)', () => {
  apdbContract('PostgreSQL (schema per test)', freshNamespace);

  it('refuses an APDB without a namespace or in public, naming it, and creates nothing there', async () => {
    const err = (() => {
      try {
        parseApdbConfig([`db_url=${URL_}`]);
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toMatch(/needs a namespace.*public schema/s);
    expect(() => parseApdbConfig([`db_url=${URL_}`, 'namespace=public'])).toThrow(/namespace 'public'/);
    const r = await query(`select count(*)::int as n from pg_tables where schemaname = 'public' and tablename = 'DiaObject'`);
    expect(r.rows[0].n).toBe(0);
  });

  it('keeps passwords out of describe() and of the recorded config', async () => {
    const namespace = freshName();
    const apdb = await openApdb(parseApdbConfig([`db_url=postgresql://postgres:s3cret@${HOST}:${PORT}/test`, `namespace=${namespace}`]));
    try {
      expect(apdb.describe()).toBe(URL_);
      const made = await apdb.create();
      expect(made.message).toBe(`created the APDB at ${URL_} (namespace ${namespace}): schema ApdbSchema 10.0.0, ApdbSql 1.0.0, 12 tables`);
      const meta = await apdb.readTable('metadata', { name: 'config:apdb-sql.json' });
      expect(String(meta[0].value)).not.toContain('s3cret');
      expect(JSON.parse(String(meta[0].value))).toMatchObject({ db_url: URL_, namespace });
    } finally {
      await apdb.close();
      await dropSchema(namespace);
    }
  });

  it('works at every isolation level', async () => {
    for (const level of ['READ_UNCOMMITTED', 'REPEATABLE_READ', 'SERIALIZABLE']) {
      const namespace = freshName();
      const apdb = await openApdb(parseApdbConfig([`db_url=${URL_}`, `namespace=${namespace}`, `isolation_level=${level}`]));
      try {
        await apdb.create();
        const key = { visit: 1n, detector: 1 };
        const r = await apdb.storeDetectorVisit(key, boxRegion(20, 20, 0.1), 60_000, associatePlan({ key, ra: 20, dec: 20, mjd: 60_000, diaSourceId: 1n, newObjectId: 2n }));
        expect(r.stored).toBe(true);
        expect((await apdb.history(boxRegion(20, 20, 0.1), 60_001)).diaObjects).toHaveLength(1);
        expect(await apdb.counts()).toMatchObject({ diaObjects: 1, diaSources: 1, detectorVisits: 1 });
      } finally {
        await apdb.close();
        await dropSchema(namespace);
      }
    }
  });

  it('converts TIMESTAMP text to microseconds and back', () => {
    expect(microsToTimestamp(1_700_000_000_123_456n)).toBe('2023-11-14 22:13:20.123456');
    expect(timestampToMicros('2023-11-14 22:13:20.123456')).toBe(1_700_000_000_123_456n);
    expect(timestampToMicros('1969-12-31 23:59:59.5')).toBe(-500_000n);
    expect(microsToTimestamp(-1n)).toBe('1969-12-31 23:59:59.999999');
  });
});
