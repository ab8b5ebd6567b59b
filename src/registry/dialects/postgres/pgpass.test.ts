import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { matchPgpass, parsePgpass, pgpassPassword } from './pgpass.ts';
import { passwordFor, resolvePgSettings } from './postgres-connection.ts';

const q = { host: 'db.example.org', port: 5432, database: 'butler', user: 'prompt' };

describe('~/.pgpass', () => {
  it('parses fields, escapes, wildcards and comments as libpq does', () => {
    const entries = parsePgpass([
      '# a comment line',
      'db.example.org:5432:butler:prompt:s3cr\\:et\\\\x',
      '*:*:*:alice:pw:with-extra-colon-ignored',
      'short:line',
      '',
      '\\*:5432:*:*:literal-star-host',
    ].join('\n'));
    expect(entries).toEqual([
      { host: 'db.example.org', port: '5432', database: 'butler', user: 'prompt', password: 's3cr:et\\x' },
      { host: null, port: null, database: null, user: 'alice', password: 'pw' },
      { host: '*', port: '5432', database: null, user: null, password: 'literal-star-host' },
    ]);
  });

  it('picks the first matching line; a socket directory matches localhost', () => {
    const entries = parsePgpass('db.example.org:5433:*:prompt:wrong-port\n*:5432:butler:*:any-user\ndb.example.org:*:*:prompt:later\nlocalhost:5432:*:*:local\n');
    expect(matchPgpass(entries, q)).toBe('any-user');
    expect(matchPgpass(entries, { ...q, database: 'other' })).toBe('later');
    expect(matchPgpass(entries, { ...q, host: 'elsewhere', database: 'other' })).toBeUndefined();
    expect(matchPgpass(entries, { host: '/var/run/postgresql', port: 5432, database: 'x', user: 'y' })).toBe('local');
  });

  describe('files', () => {
    let dir = '';
    afterEach(async () => {
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('reads $HOME/.pgpass only when nobody else can read it, else warns as libpq does', async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'pgpass-home-'));
      const file = path.join(dir, '.pgpass');
      await writeFile(file, 'db.example.org:5432:butler:prompt:from-home\n');
      const warnings: string[] = [];
      const warn = (m: string): void => { warnings.push(m); };
      await chmod(file, 0o600);
      expect(await pgpassPassword(q, { HOME: dir }, warn)).toBe('from-home');
      await chmod(file, 0o644);
      expect(await pgpassPassword(q, { HOME: dir }, warn)).toBeUndefined();
      expect(warnings).toEqual([`password file "${file}" has group or world access; permissions should be u=rw (0600) or less`]);
      expect(await pgpassPassword(q, { HOME: path.join(dir, 'missing') }, warn)).toBeUndefined();
    });

    it('prefers PGPASSFILE, and the URL or PGPASSWORD over the file', async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'pgpass-home-'));
      const other = path.join(dir, 'other-pgpass');
      await writeFile(other, '*:*:*:*:from-pgpassfile\n', { mode: 0o600 });
      await writeFile(path.join(dir, '.pgpass'), '*:*:*:*:from-home\n', { mode: 0o600 });
      const env = { HOME: dir, PGPASSFILE: other };
      const s = resolvePgSettings('postgresql://prompt@db.example.org/butler', env);
      expect(await passwordFor(s, env)).toBe('from-pgpassfile');
      expect(await passwordFor(s, { HOME: dir })).toBe('from-home');
      expect(await passwordFor(resolvePgSettings('postgresql://prompt@db.example.org/butler', { HOME: dir, PGPASSWORD: 'from-env' }), { HOME: dir })).toBe('from-env');
      expect(await passwordFor(resolvePgSettings('postgresql://prompt:from%3Aurl@db.example.org/butler', { HOME: dir, PGPASSWORD: 'from-env' }), { HOME: dir })).toBe('from:url');
    });
  });
});

describe('PostgreSQL connection settings', () => {
  it('fills what the URL leaves out from PG* variables, then libpq defaults', () => {
    expect(resolvePgSettings('postgresql://postgres@localhost:5432/', {})).toMatchObject({ host: 'localhost', port: 5432, user: 'postgres', database: 'postgres', password: undefined });
    expect(resolvePgSettings('postgres://', { PGHOST: 'h', PGPORT: '6543', PGUSER: 'u', PGDATABASE: 'd', PGSSLMODE: 'require' }))
      .toMatchObject({ host: 'h', port: 6543, user: 'u', database: 'd', sslmode: 'require' });
    expect(resolvePgSettings('postgresql://u@[::1]:5433/db?sslmode=disable&application_name=x', {})).toMatchObject({ host: '::1', port: 5433, sslmode: 'disable', applicationName: 'x' });
    expect(resolvePgSettings('postgresql:///db?host=/var/run/postgresql', { PGUSER: 'u' })).toMatchObject({ host: '/var/run/postgresql', database: 'db', user: 'u' });
    expect(() => resolvePgSettings('postgresql://h/db?pool=3', {})).toThrow(/parameter 'pool' is not supported/);
    expect(() => resolvePgSettings('postgresql://h:99999/db', {})).toThrow();
  });
});
