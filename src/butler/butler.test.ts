import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, NotFoundError } from '../core/errors.ts';
import { getInstrument } from '../instruments/index.ts';
import { buildObjectKey } from '../instruments/keys.ts';
import { startS3TestServer, type S3TestServer } from '../storage/s3/s3-testing.ts';
import { LocalBucket } from '../storage/local/local-bucket.ts';
import { Butler } from './butler.ts';

const PG = 'postgresql://postgres@127.0.0.1:5432/test';
const pgUp = await new Promise<boolean>((resolve) => {
  const s = net.connect({ host: '127.0.0.1', port: 5432 });
  s.setTimeout(1000, () => (s.destroy(), resolve(false)));
  s.once('connect', () => (s.destroy(), resolve(true)));
  s.once('error', () => resolve(false));
});
if (!pgUp) console.warn('[postgres] butler tests on PostgreSQL and S3 skipped: nothing answers at 127.0.0.1:5432');

const namespaces: string[] = [];
async function dropNamespaces(): Promise<void> {
  if (!namespaces.length) return;
  const c = new pg.Client({ connectionString: PG });
  await c.connect();
  for (const n of namespaces) await c.query(`DROP SCHEMA IF EXISTS ${n} CASCADE`);
  await c.end();
}

interface Setup {
  name: string;
  skip: boolean;
  make(): Promise<{ root: string; seed: { db?: string; namespace?: string } }>;
}

let dir: string;
let s3: S3TestServer | undefined;

const setups: Setup[] = [
  { name: 'directory + SQLite', skip: false, make: async () => ({ root: path.join(dir, `repo-${randomBytes(3).toString('hex')}`), seed: {} }) },
  {
    name: '[postgres] directory + PostgreSQL namespace',
    skip: !pgUp,
    make: async () => {
      const namespace = `test_butler_${randomBytes(4).toString('hex')}`;
      namespaces.push(namespace);
      return { root: path.join(dir, `repo-${namespace}`), seed: { db: PG, namespace } };
    },
  },
  {
    name: '[postgres] S3 (in-process s3rver) + PostgreSQL namespace',
    skip: !pgUp,
    make: async () => {
      const namespace = `test_butler_${randomBytes(4).toString('hex')}`;
      namespaces.push(namespace);
      const bucket = `repo-${randomBytes(3).toString('hex')}`;
      await s3?.createBucket(bucket);
      return { root: `s3://${bucket}/central?endpoint=${encodeURIComponent(s3?.endpoint ?? '')}`, seed: { db: PG, namespace } };
    },
  },
];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'butler-'));
  if (pgUp) {
    s3 = await startS3TestServer();
    process.env.AWS_ACCESS_KEY_ID = s3.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = s3.secretAccessKey;
  }
});
afterAll(async () => {
  await s3?.close();
  await dropNamespaces();
  await rm(dir, { recursive: true, force: true });
});

const bytes = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);

for (const setup of setups) {
  describe.skipIf(setup.skip)(`Butler on ${setup.name}`, () => {
    it('creates a repository once, and opens it', async () => {
      const { root, seed } = await setup.make();
      await expect(Butler.open(root)).rejects.toBeInstanceOf(NotFoundError);
      const b = await Butler.create(root, seed);
      await b.close();
      await expect(Butler.create(root, seed)).rejects.toBeInstanceOf(ConfigError);
      const again = await Butler.open(root);
      expect((await again.registry.datasetTypes()).map((t) => t.name)).toContain('processed_exposure');
      await again.close();
    });

    it('puts and gets datasets, checked by checksum; a retried put keeps one copy', async () => {
      const { root, seed } = await setup.make();
      const b = await Butler.create(root, seed);
      try {
        await b.registerInstrument(getInstrument('LATISS'));
        const dataId = { instrument: 'LATISS', detector: 0, visit: 2026112700001 };
        const run = 'LATISS/prompt/output-20261127/ApPipe/test';
        const a = await b.put(bytes(1000, 7), 'processed_exposure', dataId, run);
        const again = await b.put(bytes(1000, 7), 'processed_exposure', dataId, run);
        const different = await b.put(bytes(10, 9), 'processed_exposure', dataId, run);
        expect(again.id).toBe(a.id);
        expect(different.id).toBe(a.id);
        expect(Array.from(await b.get(a)).slice(0, 3)).toEqual([7, 7, 7]);
        const all = await b.query({ collections: [run] });
        expect(all).toHaveLength(1);
        expect(b.uriOf(a)).toMatch(/processed_exposure/);
        const found = await b.find('processed_exposure', dataId, [run]);
        expect(found?.id).toBe(a.id);
      } finally {
        await b.close();
      }
    });

    it('ingests raws from a bucket, certifies calibrations and finds the one valid at a time', async () => {
      const { root, seed } = await setup.make();
      const b = await Butler.create(root, seed);
      try {
        await b.registerInstrument(getInstrument('LATISS'));
        const bucket = new LocalBucket({ root: path.join(dir, `raw-${randomBytes(3).toString('hex')}`) });
        const key = buildObjectKey({ instrument: 'LATISS', detector: 0, group: '2026112700004', snap: 0, filter: 'SDSSr_65mm' });
        await bucket.put(key, bytes(64, 1));
        const raws = await b.ingestRaws(bucket, [key], 'LATISS/raw/all');
        expect(raws[0].dataId).toEqual({ instrument: 'LATISS', detector: 0, exposure: 2026112700004 });
        expect((await b.registry.dimensionRecords('exposure', { instrument: 'LATISS' })).length).toBe(1);

        await b.put(bytes(32, 2), 'bias', { instrument: 'LATISS', detector: 0 }, 'LATISS/calib/bias/1');
        await b.put(bytes(32, 3), 'bias', { instrument: 'LATISS', detector: 0 }, 'LATISS/calib/bias/2');
        await b.certifyCalibrations('LATISS/calib/bias/1', 'LATISS/calib', 'bias', { begin: '2026-01-01T00:00:00Z', end: '2026-06-01T00:00:00Z' });
        await b.certifyCalibrations('LATISS/calib/bias/2', 'LATISS/calib', 'bias', { begin: '2026-06-01T00:00:00Z', end: null });
        const early = await b.find('bias', { instrument: 'LATISS', detector: 0 }, ['LATISS/calib'], { time: '2026-03-01T00:00:00Z' });
        const late = await b.find('bias', { instrument: 'LATISS', detector: 0 }, ['LATISS/calib'], { time: '2026-11-27T00:00:00Z' });
        const before = await b.find('bias', { instrument: 'LATISS', detector: 0 }, ['LATISS/calib'], { time: '2025-03-01T00:00:00Z' });
        expect(early?.run).toBe('LATISS/calib/bias/1');
        expect(late?.run).toBe('LATISS/calib/bias/2');
        expect(before).toBeNull();
        expect(Array.from(await b.get(late as NonNullable<typeof late>))[0]).toBe(3);
      } finally {
        await b.close();
      }
    });

    it('transfers datasets to another repository and back, without duplicates', async () => {
      const one = await setup.make();
      const a = await Butler.create(one.root, one.seed);
      const b = await Butler.create(path.join(dir, `local-${randomBytes(3).toString('hex')}`));
      try {
        const refs = [
          await a.put(bytes(100, 4), 'refcat', { htm7: 131072 }, 'refcats/sim'),
          await a.put(bytes(100, 5), 'refcat', { htm7: 131073 }, 'refcats/sim'),
        ];
        const copied = await b.transferFrom(a, refs);
        await b.transferFrom(a, refs);
        expect(copied.map((r) => r.id).sort()).toEqual(refs.map((r) => r.id).sort());
        expect(await b.query({ datasetType: 'refcat', collections: ['refcats/sim'] })).toHaveLength(2);
        expect(Array.from(await b.get(copied[1]))[0]).toBe(5);
        const out = await b.put(bytes(50, 6), 'source_catalog', { instrument: 'LATISS', detector: 0, visit: 1 }, 'LATISS/out');
        await a.transferFrom(b, [out]);
        await a.transferFrom(b, [out]);
        expect(await a.query({ datasetType: 'source_catalog', collections: ['LATISS/out'] })).toHaveLength(1);
        await b.remove(copied);
        expect(await b.query({ datasetType: 'refcat', collections: ['refcats/sim'] })).toHaveLength(0);
      } finally {
        await a.close();
        await b.close();
      }
    });
  });
}
