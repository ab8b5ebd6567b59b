import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/errors.ts';
import { openApdb } from './apdb.ts';
import { parseApdbConfig, parseApdbUrl, stripPassword } from './config.ts';

const PG = 'postgresql://prompt@db.example.org:5432/lsst';

function error(pairs: string[]): Error {
  try {
    parseApdbConfig(pairs);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as Error;
  }
  throw new Error(`parseApdbConfig(${JSON.stringify(pairs)}) did not fail`);
}

describe('parseApdbConfig', () => {
  it('reads make_apdb.py pairs with their defaults', () => {
    expect(parseApdbConfig(['db_url=sqlite:///apdb.db'])).toEqual({
      dbUrl: 'sqlite:///apdb.db', namespace: null, isolationLevel: 'READ_COMMITTED', readSourcesMonths: 12, readForcedSourcesMonths: 12,
    });
    expect(parseApdbConfig([`db_url=${PG}`, 'namespace=apdb_latiss', 'isolation_level=READ_UNCOMMITTED', 'read_sources_months=6', 'read_forced_sources_months=0']))
      .toEqual({ dbUrl: PG, namespace: 'apdb_latiss', isolationLevel: 'READ_UNCOMMITTED', readSourcesMonths: 6, readForcedSourcesMonths: 0 });
  });

  it('names the key or value at fault', () => {
    expect(error([]).message).toMatch(/needs db_url/);
    expect(error(['db_url']).message).toMatch(/'db_url' is not key=value/);
    expect(error(['db_url=sqlite:a.db', 'colour=blue']).message).toMatch(/unknown APDB config key 'colour' \(known keys: db_url, namespace/);
    expect(error(['db_url=sqlite:a.db', 'db_url=sqlite:b.db']).message).toMatch(/'db_url' is given twice/);
    expect(error(['db_url=mysql://h/db']).message).toMatch(/unsupported APDB db_url scheme 'mysql'/);
    expect(error(['db_url=sqlite:a.db', 'isolation_level=DIRTY']).message).toMatch(/isolation_level='DIRTY' is not one of READ_COMMITTED/);
    expect(error(['db_url=sqlite:a.db', 'read_sources_months=1.5']).message).toMatch(/read_sources_months='1.5' must be a whole number/);
    expect(error(['db_url=sqlite:a.db', 'read_forced_sources_months=-1']).message).toMatch(/read_forced_sources_months='-1'/);
    expect(error(['db_url=sqlite:a.db', 'namespace=x']).message).toMatch(/namespace='x' applies to PostgreSQL only/);
    expect(error(['db_url=sqlite://host/a.db']).message).toMatch(/names a host/);
  });

  it('refuses a PostgreSQL APDB without a namespace, in public, or with a bad one', () => {
    const missing = error([`db_url=${PG}`]).message;
    expect(missing).toMatch(/needs a namespace/);
    expect(missing).toMatch(/-c namespace=NAME/);
    expect(missing).toMatch(/public schema/);
    expect(error([`db_url=postgresql://u:pw@h/db`]).message).not.toContain('pw');
    expect(error([`db_url=${PG}`, 'namespace=public']).message).toMatch(/namespace 'public' is a shared or system schema/);
    expect(error([`db_url=${PG}`, 'namespace=pg_temp']).message).toMatch(/shared or system/);
    expect(error([`db_url=${PG}`, 'namespace=Has-Dash']).message).toMatch(/lower-case letters/);
  });
});

describe('parseApdbUrl', () => {
  it('follows SQLAlchemy: three slashes then a relative path, four for an absolute one', () => {
    expect(parseApdbUrl('sqlite:///rel/a.db')).toEqual({ backend: 'sqlite', file: path.resolve('rel/a.db') });
    expect(parseApdbUrl('sqlite:////abs/a.db')).toEqual({ backend: 'sqlite', file: '/abs/a.db' });
    expect(parseApdbUrl('sqlite:/abs/a.db')).toEqual({ backend: 'sqlite', file: '/abs/a.db' });
    expect(parseApdbUrl('sqlite:rel/a.db')).toEqual({ backend: 'sqlite', file: path.resolve('rel/a.db') });
    expect(parseApdbUrl('sqlite::memory:')).toEqual({ backend: 'sqlite', file: ':memory:' });
    expect(parseApdbUrl('postgres://h/db')).toEqual({ backend: 'postgres', url: 'postgres://h/db' });
    expect(() => parseApdbUrl('sqlite:')).toThrow(/no file path/);
  });

  it('words PostgreSQL URL errors for the APDB', async () => {
    await expect(openApdb(parseApdbConfig(['db_url=postgresql://h/db?pool=3', 'namespace=apdb_x']))).rejects.toThrow(/^APDB db_url URL parameter 'pool' is not supported/);
  });

  it('strips passwords', () => {
    expect(stripPassword('postgresql://u:secret@h:5432/db')).toBe('postgresql://u@h:5432/db');
    expect(stripPassword('sqlite:///a.db')).toBe('sqlite:///a.db');
  });
});
