import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { readAlertArchive } from '../alerts/index.ts';
import { openApdb, parseApdbConfig } from '../apdb/index.ts';
import { separationArcsec } from '../astro/index.ts';
import { startS3TestServer } from '../storage/s3/s3-testing.ts';
import { deleteNatsStreams } from '../messaging/nats/testing.ts';
import { PROMPT_BIN } from './child-service.ts';
import type { NightSummary } from './summary.ts';
import { serverAnswers } from '../core/testing/servers.ts';

const run = promisify(execFile);

interface TruthFile {
  group: string;
  transients: Array<{ kind: string; objectId?: string; raDeg: number; decDeg: number; expectedSnr: number }>;
}

describe('prompt night: association into the APDB and alerts, on one field over three visits', () => {
  it('makes one DiaObject of a source seen three times, sends its history in the third alert, and doubles nothing on redelivery', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'night-alerts-'));
    try {
      const work = path.join(dir, 'work');
      const json = path.join(dir, 'summary.json');
      await run(
        process.execPath,
        [PROMPT_BIN, 'night', '--instrument', 'LSSTComCam', '--groups', '3', '--detectors', '4', '--seed', '3', '--workdir', work,
          '--json', json, '--exposure-time', '10', '--slew-time', '1', '--activators', '2', '--plain', '--redeliver',
          '--transients-per-detector', '30', '--central-repo', path.join(dir, 'central')],
        { timeout: 600_000, maxBuffer: 16 * 1024 * 1024 },
      );
      const s = JSON.parse(await readFile(json, 'utf8')) as NightSummary;
      expect(s.detectorVisits).toMatchObject({ expected: 3, processed: 3 });
      expect(s.apdbUrl).toBe(`sqlite:///${path.join(work, 'apdb.sqlite3')}`);
      const counts = s.apdb;
      if (!counts) throw new Error('no APDB counts in the summary');
      expect(counts.detectorVisits).toBe(3);
      expect(counts.diaSources).toBe(s.diaSources.total);
      expect(s.diaObjects).toBe(counts.diaObjects);
      // One alert per DiaSource, none twice.
      expect(s.alerts).toMatchObject({ distinct: counts.diaSources, received: counts.diaSources, duplicates: 0, undecodable: 0 });

      // The HTML report next to the summary: self-contained, with the alerts' cutouts as images.
      const html = await readFile(path.join(dir, 'summary.html'), 'utf8');
      expect(html).toContain('data:image/png;base64,');
      expect(html).not.toMatch(/<script src|<link |src="http/);

      // Every nextVisit delivered again, each detector-visit processed again in full: no new row, no new alert.
      const rd = s.redelivery;
      if (!rd) throw new Error('no redelivery report');
      expect(rd).toMatchObject({ nextVisits: 3, outcomes: 3, processedAgain: 3, apdbAlreadyStored: 3 });
      expect(rd.apdbAfter).toEqual(rd.apdbBefore);
      expect(rd.alertsAfter).toBe(rd.alertsBefore);

      // Sources injected in all three visits (sky-anchored 'new' transients, bright enough) are
      // each one DiaObject with three DiaSources.
      const truthDir = path.join(work, 'truth', 'LSSTComCam');
      const groups = (await readdir(truthDir)).sort();
      expect(groups).toHaveLength(3);
      const truths = await Promise.all(groups.map(async (g) => JSON.parse(await readFile(path.join(truthDir, g, '4.json'), 'utf8')) as TruthFile));
      const seen = new Map<string, { ra: number; dec: number; visits: number; minSnr: number }>();
      for (const t of truths) {
        for (const tr of t.transients) {
          if (tr.kind !== 'new' || !tr.objectId) continue;
          const e = seen.get(tr.objectId) ?? { ra: tr.raDeg, dec: tr.decDeg, visits: 0, minSnr: Infinity };
          e.visits++;
          e.minSnr = Math.min(e.minSnr, tr.expectedSnr);
          seen.set(tr.objectId, e);
        }
      }
      const recurring = [...seen.values()].filter((e) => e.visits === 3 && e.minSnr >= 15);
      expect(recurring.length).toBeGreaterThan(0);

      const apdb = await openApdb(parseApdbConfig([`db_url=${s.apdbUrl}`]));
      try {
        const objects = await apdb.readTable('DiaObjectLast');
        const sources = await apdb.readTable('DiaSource');
        for (const e of recurring) {
          const near = objects.filter((o) => separationArcsec(o.ra as number, o.dec as number, e.ra, e.dec) < 1);
          expect(near).toHaveLength(1);
          const id = near[0].diaObjectId as bigint;
          const its = sources.filter((r) => r.diaObjectId === id);
          expect(its).toHaveLength(3);
          expect(new Set(its.map((r) => r.visit)).size).toBe(3);
          const versions = await apdb.readTable('DiaObject', { diaObjectId: id });
          expect(versions).toHaveLength(3);
          expect(versions.filter((v) => v.validityEndMjdTai === null)).toHaveLength(1);
          expect(near[0].nDiaSources).toBe(3);
        }

        // The third visit's archive: the alert of such a source carries its two earlier DiaSources.
        const q = await run(process.execPath, [PROMPT_BIN, 'butler', 'query-datasets', path.join(dir, 'central'), '--collections', 'LSSTComCam/prompt', '--json'], { maxBuffer: 16 << 20 });
        const rows = (JSON.parse(q.stdout) as Array<{ datasetType: string; dataId: { visit: number }; uri: string }>).filter((r) => r.datasetType === 'alertArchive');
        expect(rows).toHaveLength(3);
        const last = rows.sort((a, b) => a.dataId.visit - b.dataId.visit)[2];
        const packets = readAlertArchive(new Uint8Array(await readFile(last.uri.startsWith('file://') ? fileURLToPath(last.uri) : last.uri)));
        expect(packets.length).toBeGreaterThan(0);
        for (const e of recurring) {
          const p = packets.find((a) => separationArcsec(a.diaSource.ra as number, a.diaSource.dec as number, e.ra, e.dec) < 1);
          if (!p) throw new Error(`no alert near ${e.ra}, ${e.dec} in the third visit`);
          expect(p.prvDiaSources).toHaveLength(2);
          expect(p.diaObject?.nDiaSources).toBe(3);
          for (const prv of p.prvDiaSources ?? []) expect(prv.diaObjectId).toBe(p.diaSource.diaObjectId);
          expect(p.prvDiaForcedSources?.length).toBeGreaterThanOrEqual(2);
          for (const c of [p.cutoutScience, p.cutoutTemplate, p.cutoutDifference]) {
            expect(c && Buffer.from(c.subarray(0, 30)).toString('latin1')).toMatch(/^SIMPLE {2}= {20}T/);
          }
        }
      } finally {
        await apdb.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 700_000);
});

const PG_URL = 'postgresql://postgres@127.0.0.1:5432/test';
const pgUp = await serverAnswers(5432);
const natsUp = await serverAnswers(4222);
if (!(pgUp && natsUp)) {
  console.warn(`[night on NATS, PostgreSQL and S3] skipped: ${pgUp ? '' : 'nothing answers at 127.0.0.1:5432 '}${natsUp ? '' : 'nothing answers at 127.0.0.1:4222'}${process.env.CI === 'true' ? ' (CI=true: failing instead)' : ''}`);
}

describe.runIf((pgUp && natsUp) || process.env.CI === 'true')('prompt night on NATS JetStream, PostgreSQL and S3 (needs NATS at 127.0.0.1:4222 and PostgreSQL at 127.0.0.1:5432)', () => {
  it('gives the same outcome as the embedded night: the same detector-visits, sources, DiaSources and alerts', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'night-engines-'));
    const id = randomBytes(4).toString('hex');
    const registryNs = `night_registry_${id}`;
    const apdbNs = `night_apdb_${id}`;
    const s3 = await startS3TestServer();
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      await s3.createBucket('raw');
      await s3.createBucket('repo');
      const seedConfig = path.join(dir, 'seed.yaml');
      await writeFile(seedConfig, `registry:\n  db: ${PG_URL}\n  namespace: ${registryNs}\n`);
      const common = ['night', '--instrument', 'LSSTComCam', '--groups', '1', '--detectors', '3,4', '--seed', '5', '--first-seq', '777',
        '--exposure-time', '10', '--slew-time', '1', '--activators', '2', '--plain'];
      const env = { ...process.env, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: 'us-east-1' };
      const night = async (name: string, extra: string[]): Promise<NightSummary> => {
        const json = path.join(dir, `${name}.json`);
        await run(process.execPath, [PROMPT_BIN, ...common, '--workdir', path.join(dir, name), '--json', json, ...extra], { env, timeout: 600_000, maxBuffer: 16 << 20 });
        return JSON.parse(await readFile(json, 'utf8')) as NightSummary;
      };
      const embedded = await night('embedded', ['--central-repo', path.join(dir, 'central')]);
      const engines = await night('engines', [
        '--broker', `nats://127.0.0.1:4222?prefix=night${id}`,
        '--bucket', `s3://raw?endpoint=${s3.endpoint}`,
        '--central-repo', `s3://repo/central?endpoint=${s3.endpoint}`, '--seed-config', seedConfig,
        '--apdb', PG_URL, '--apdb-namespace', apdbNs,
      ]);
      expect(engines.detectorVisits).toEqual(embedded.detectorVisits);
      expect(engines.detectorVisits).toMatchObject({ expected: 2, processed: 2 });
      expect(engines.apdbUrl).toBe(PG_URL);
      const per = (s: NightSummary): Array<[string, unknown, unknown, string[]]> =>
        s.records.map((r) => [`${r.group}/${r.detector}`, r.sources, r.summary.diaSources, Object.keys(r.outputs).sort()]);
      expect(per(engines)).toEqual(per(embedded));
      expect(engines.apdb).toEqual(embedded.apdb);
      expect(engines.alerts).toEqual(embedded.alerts);
      expect(engines.truth?.recovered).toBe(embedded.truth?.recovered);
      // The rows really are in PostgreSQL, and no two current DiaObjects coincide.
      const objs = await c.query(`select ra, dec from "${apdbNs}"."DiaObjectLast"`);
      expect(objs.rows.length).toBe(engines.diaObjects);
      const pts = objs.rows as Array<{ ra: number; dec: number }>;
      for (let i = 0; i < pts.length; i++) {
        for (let j = i + 1; j < pts.length; j++) expect(separationArcsec(pts[i].ra, pts[i].dec, pts[j].ra, pts[j].dec)).toBeGreaterThan(0.5);
      }
    } finally {
      await c.query(`drop schema if exists "${registryNs}" cascade`).catch(() => undefined);
      await c.query(`drop schema if exists "${apdbNs}" cascade`).catch(() => undefined);
      await c.end();
      await deleteNatsStreams(`night${id}`).catch(() => undefined);
      await s3.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 900_000);
});
