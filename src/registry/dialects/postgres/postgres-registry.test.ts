import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, NotFoundError, TransientError } from '../../../core/errors.ts';
import { manyWritersContract, registryContract, type RegistryFixture } from '../../registry.contract.ts';
import { createRegistry, openRegistry } from '../../registry.ts';
import { serverAnswers } from '../../../core/testing/servers.ts';

const HOST = '127.0.0.1';
const PORT = 5432;
const URL_ = `postgresql://postgres@${HOST}:${PORT}/test`;


const up = await serverAnswers(PORT, HOST);
if (!up) console.warn(`[postgres] registry tests skipped: nothing answers at ${HOST}:${PORT}`);

const created = new Set<string>();

async function dropSchema(ns: string): Promise<void> {
  const c = new pg.Client({ connectionString: URL_ });
  await c.connect();
  try {
    await c.query(`drop schema if exists "${ns}" cascade`);
    created.delete(ns);
  } finally {
    await c.end();
  }
}

afterAll(async () => {
  for (const ns of [...created]) await dropSchema(ns);
});

async function freshNamespace(): Promise<RegistryFixture> {
  const namespace = `test_registry_${randomBytes(5).toString('hex')}`;
  created.add(namespace);
  return { cfg: { db: URL_, namespace }, cleanup: () => dropSchema(namespace) };
}

describe.skipIf(!up)('[postgres] registry', () => {
  registryContract('postgres (schema per test)', freshNamespace);
  manyWritersContract('postgres (one schema)', freshNamespace, 12);

  it('refuses a registry without a namespace, because it would land in public', async () => {
    for (const namespace of [undefined, '']) {
      const err = await createRegistry({ db: URL_, namespace }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(/needs a namespace/);
      expect((err as Error).message).toMatch(/public schema/);
      expect((err as Error).message).toMatch(/hard to clean up/);
    }
    await expect(createRegistry({ db: URL_, namespace: 'public' })).rejects.toThrow(/public/);
    await expect(openRegistry({ db: URL_ })).rejects.toBeInstanceOf(ConfigError);
    await expect(createRegistry({ db: URL_, namespace: 'Has-Dash' })).rejects.toThrow(/lower-case letters/);
    const c = new pg.Client({ connectionString: URL_ });
    await c.connect();
    try {
      const r = await c.query(`select count(*)::int as n from pg_tables where schemaname = 'public' and tablename = 'registry_meta'`);
      expect(r.rows[0].n).toBe(0);
    } finally {
      await c.end();
    }
  });

  it('keeps two repositories in two namespaces of one database apart', async () => {
    const a = await freshNamespace();
    const b = await freshNamespace();
    const ra = await createRegistry(a.cfg);
    const rb = await createRegistry(b.cfg);
    try {
      await ra.registerCollection('only/in/a', 'RUN');
      await rb.registerCollection('only/in/b', 'TAGGED');
      await ra.registerDatasetType({ name: 'raw', dimensions: ['instrument', 'detector', 'exposure'], storageClass: 'Exposure', isCalibration: false });
      await rb.registerDatasetType({ name: 'raw', dimensions: ['instrument', 'detector', 'visit'], storageClass: 'ExposureF', isCalibration: false });
      expect((await ra.collections()).map((c) => c.name)).toEqual(['only/in/a']);
      expect((await rb.collections()).map((c) => c.name)).toEqual(['only/in/b']);
      expect((await ra.datasetType('raw'))?.dimensions).toEqual(['instrument', 'detector', 'exposure']);
      expect((await rb.datasetType('raw'))?.dimensions).toEqual(['instrument', 'detector', 'visit']);
      await expect(ra.flattenCollections(['only/in/b'])).rejects.toBeInstanceOf(NotFoundError);
    } finally {
      await ra.close();
      await rb.close();
      await a.cleanup();
      await b.cleanup();
    }
  });

  it('opening a namespace that holds no registry says so and creates nothing', async () => {
    const ns = `test_registry_${randomBytes(5).toString('hex')}`;
    const err = await openRegistry({ db: URL_, namespace: ns }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as Error).message).toBe(`no registry at postgresql://postgres@${HOST}:${PORT}/test (namespace ${ns}); create it with \`prompt butler create\``);
    const c = new pg.Client({ connectionString: URL_ });
    await c.connect();
    try {
      expect((await c.query('select 1 from pg_namespace where nspname = $1', [ns])).rowCount).toBe(0);
    } finally {
      await c.end();
    }
  });

  it('takes host, user and database from the PG environment variables', async () => {
    const namespace = `test_registry_${randomBytes(5).toString('hex')}`;
    created.add(namespace);
    const env = { PGHOST: HOST, PGPORT: String(PORT), PGUSER: 'postgres', PGDATABASE: 'test', HOME: '/nonexistent' };
    const r = await createRegistry({ db: 'postgresql://', namespace }, { env });
    try {
      expect(await r.schemaVersion()).toBe('1.0.0');
    } finally {
      await r.close();
      await dropSchema(namespace);
    }
  });

  it('maps an unreachable server to TransientError and a missing database to ConfigError', async () => {
    const down = await createRegistry({ db: `postgresql://postgres@${HOST}:1/test`, namespace: 'test_registry_down' }).catch((e: unknown) => e);
    expect(down).toBeInstanceOf(TransientError);
    const nodb = await openRegistry({ db: `postgresql://postgres@${HOST}:${PORT}/no_such_database_x`, namespace: 'test_registry_x' }).catch((e: unknown) => e);
    expect(nodb).toBeInstanceOf(ConfigError);
    expect((nodb as Error).message).toMatch(/no_such_database_x/);
  });
});
