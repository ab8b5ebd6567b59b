import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/errors.ts';
import { parseRegistryDb } from './config.ts';
import { globToRegExp } from './glob.ts';
import { createRegistry, openRegistry } from './registry.ts';

describe('registry db strings', () => {
  it('reads the SQLite and PostgreSQL forms', () => {
    expect(parseRegistryDb({ db: 'sqlite:///abs/repo/registry.sqlite3' })).toEqual({ backend: 'sqlite', file: '/abs/repo/registry.sqlite3' });
    expect(parseRegistryDb({ db: 'sqlite:relative/registry.sqlite3' })).toEqual({ backend: 'sqlite', file: path.resolve('relative/registry.sqlite3') });
    expect(parseRegistryDb({ db: 'sqlite::memory:' })).toEqual({ backend: 'sqlite', file: ':memory:' });
    expect(parseRegistryDb({ db: 'sqlite:///with%20space/r.db' })).toEqual({ backend: 'sqlite', file: '/with space/r.db' });
    expect(parseRegistryDb({ db: 'postgresql://postgres@localhost:5432/', namespace: 'x' })).toEqual({ backend: 'postgres', url: 'postgresql://postgres@localhost:5432/' });
    expect(parseRegistryDb({ db: 'postgres://h/db' })).toEqual({ backend: 'postgres', url: 'postgres://h/db' });
  });

  it('refuses what it cannot use, with a ConfigError saying what would work', () => {
    expect(() => parseRegistryDb({ db: 'mysql://h/db' })).toThrow(/unsupported registry db scheme 'mysql'/);
    expect(() => parseRegistryDb({ db: '' })).toThrow(ConfigError);
    expect(() => parseRegistryDb({ db: 'sqlite://host/file' })).toThrow(/three slashes/);
    expect(() => parseRegistryDb({ db: 'sqlite:' })).toThrow(/no file path/);
    expect(() => parseRegistryDb({ db: 'sqlite::memory:', namespace: 'x' })).toThrow(/PostgreSQL only/);
  });

  it('makes an in-memory registry, which can never be opened again', async () => {
    const r = await createRegistry({ db: 'sqlite::memory:' });
    expect(await r.schemaVersion()).toBe('1.0.0');
    await r.close();
    await expect(openRegistry({ db: 'sqlite::memory:' })).rejects.toThrow(/no registry at sqlite::memory:/);
  });

  it('refuses a PostgreSQL registry without a namespace before connecting', async () => {
    await expect(createRegistry({ db: 'postgresql://nobody@192.0.2.1:5432/x' })).rejects.toThrow(/public schema/);
  });
});

describe('collection globs', () => {
  it('match * and ? and nothing else', () => {
    expect(globToRegExp('LATISS/runs/*').test('LATISS/runs/a/b')).toBe(true);
    expect(globToRegExp('LATISS/runs/?').test('LATISS/runs/ab')).toBe(false);
    expect(globToRegExp('a.b+(c)').test('a.b+(c)')).toBe(true);
    expect(globToRegExp('a.b').test('axb')).toBe(false);
  });
});
