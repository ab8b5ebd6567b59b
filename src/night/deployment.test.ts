/**
 * A multi-process deployment on this machine: three `prompt activator` processes pulling their
 * nextVisit messages from NATS JetStream, the raw bucket and the central repository's datastore on
 * an S3-compatible server, the central repository's registry and the APDB on PostgreSQL (each in
 * its own namespace), and the tester uploading an LSSTComCam night. One activator is killed in the
 * middle of a visit: its message is redelivered to another, and every detector-visit ends processed
 * exactly once.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { decodeOutcome, type Outcome } from '../messages/outcome.ts';
import { createBroker } from '../messaging/index.ts';
import { startS3TestServer } from '../storage/s3/s3-testing.ts';
import { deleteNatsStreams } from '../messaging/nats/testing.ts';
import { PROMPT_BIN, startChildService, type ChildService } from './child-service.ts';
import { serverAnswers } from '../core/testing/servers.ts';

const run = promisify(execFile);
const PG_URL = 'postgresql://postgres@127.0.0.1:5432/test';


const natsUp = await serverAnswers(4222);
const pgUp = await serverAnswers(5432);
const ci = process.env.CI === 'true';
if (!(natsUp && pgUp)) {
  console.warn(`[deployment] skipped: ${natsUp ? '' : 'no NATS at 127.0.0.1:4222 '}${pgUp ? '' : 'no PostgreSQL at 127.0.0.1:5432'}${ci ? ' (CI=true: failing instead)' : ''}`);
}

describe.runIf((natsUp && pgUp) || ci)('a deployment of three activator processes (needs NATS at 127.0.0.1:4222 and PostgreSQL at 127.0.0.1:5432)', () => {
  it('processes every detector-visit of an LSSTComCam night exactly once, also when an activator is killed mid-visit', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'deployment-'));
    const id = randomBytes(4).toString('hex');
    const registryNs = `deploy_registry_${id}`;
    const apdbNs = `deploy_apdb_${id}`;
    const brokerUrl = `nats://127.0.0.1:4222?prefix=deploy${id}`;
    const s3 = await startS3TestServer();
    const children: ChildService[] = [];
    const broker = createBroker(brokerUrl);
    const db = new pg.Client({ connectionString: PG_URL });
    await db.connect();
    try {
      await s3.createBucket('raw');
      await s3.createBucket('repo');
      const env = { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey, AWS_REGION: 'us-east-1', PROMPT_LOG_LEVEL: 'info' };
      const rawBucket = `s3://raw?endpoint=${s3.endpoint}`;
      const central = `s3://repo/central?endpoint=${s3.endpoint}`;
      const seed = path.join(dir, 'seed.yaml');
      await writeFile(seed, `registry:\n  db: ${PG_URL}\n  namespace: ${registryNs}\n`);
      const prompt = (args: string[]): Promise<{ stdout: string }> =>
        run(process.execPath, [PROMPT_BIN, ...args], { env: { ...process.env, ...env }, timeout: 300_000, maxBuffer: 16 << 20 });

      // What the playbook sets up by hand: the central repository (registry on PostgreSQL), topics,
      // the nextVisit subscription the activators pull from, the APDB.
      await prompt(['central', central, '--instrument', 'LSSTComCam', '--groups', '2', '--detectors', '0,1,2', '--seed', '11', '--seed-config', seed]);
      const setup = await prompt([
        'setup', '--instrument', 'LSSTComCam', '--broker', brokerUrl, '--bucket', rawBucket, '--subscription', 'nextVisit-work',
        '--ack-deadline', '20', '--central-repo', central, '--apdb', PG_URL, '--apdb-namespace', apdbNs,
      ]);
      expect(setup.stdout).toMatch(/subscription nextVisit-work on nextVisit: pull/);
      await broker.ensureSubscription('deployment-outcomes', 'prompt-outcomes', { ackDeadlineSeconds: 60 });

      const arrived = new Map<string, string>();
      for (let i = 0; i < 3; i++) {
        children.push(
          await startChildService({
            name: `activator-${i}`,
            args: ['activator'],
            env: {
              ...env,
              RUBIN_INSTRUMENT: 'lsst.obs.lsst.LsstComCam', PUBSUB_VERIFICATION_TOKEN: 'unused', IMAGE_BUCKET: rawBucket, IMAGE_NOTIFICATIONS: 's3',
              IMAGE_TIMEOUT: '60', PORT: '0', HOST: '127.0.0.1', BROKER_URL: brokerUrl, NEXT_VISIT_SUBSCRIPTION: 'nextVisit-work',
              OUTPUT_REPO: path.join(dir, 'outputs'), CENTRAL_REPO: central, LOCAL_REPO: path.join(dir, `local-${i}`), INSTANCE_ID: `activator-${i}`,
              APDB_URL: PG_URL, APDB_NAMESPACE: apdbNs, DEPLOYMENT: 'deployment-test',
            },
            logFile: path.join(dir, `activator-${i}.log`),
            onLine: (rec) => {
              if (String(rec.message ?? rec.msg ?? '').startsWith('snap arrived') && !arrived.has(`activator-${i}`)) arrived.set(`activator-${i}`, `${rec.group}/${rec.detector}`);
            },
          }),
        );
      }

      const tester = prompt([
        'upload', 'LSSTComCam', '2', '--detectors', '0,1,2', '--broker', brokerUrl, '--bucket', rawBucket, '--announce', 'LSSTComCam-image',
        '--seed', '11', '--exposure-time', '10', '--slew-time', '1',
      ]);

      // Kill the first activator that starts ingesting a visit, a moment into its work.
      let killed: { name: string; visit: string } | null = null;
      const deadline = Date.now() + 240_000;
      while (!killed && Date.now() < deadline) {
        const first = [...arrived.entries()][0];
        if (first) {
          await new Promise((r) => setTimeout(r, 1500));
          const child = children.find((c) => c.name === first[0]) as ChildService;
          child.child.kill('SIGKILL');
          await child.exited;
          killed = { name: first[0], visit: first[1] };
        } else await new Promise((r) => setTimeout(r, 200));
      }
      if (!killed) throw new Error('no activator started a visit');
      await tester;

      const outcomes = new Map<string, Outcome[]>();
      const until = Date.now() + 300_000;
      while (Date.now() < until && outcomes.size < 6) {
        const msgs = await broker.pull('deployment-outcomes', { maxMessages: 50, waitMs: 2000 });
        for (const m of msgs) {
          const o = decodeOutcome(m.data);
          const k = `${o.group}/${o.detector}`;
          outcomes.set(k, [...(outcomes.get(k) ?? []), o]);
        }
        if (msgs.length) await broker.ack('deployment-outcomes', msgs.map((m) => m.ackId));
      }
      expect(outcomes.size).toBe(6);
      for (const [k, list] of outcomes) {
        // A redelivered nextVisit announces the recorded outcome again: the same outcome, never a second one.
        const distinct = new Set(list.map((o) => JSON.stringify({ status: o.status, instance: o.instance, outputs: o.outputs })));
        expect(distinct.size, `${k}: ${list.map((o) => `${o.instance} ${o.status} ${o.receivedAt}`).join('; ')}`).toBe(1);
        expect(list[0].status).toBe('processed');
      }
      // The killed activator's visit was finished by another one.
      const redone = outcomes.get(killed.visit)?.[0];
      expect(redone?.instance).not.toBe(killed.name);

      // Exactly once in the APDB and in the central repository.
      const summaries = await db.query(`select visit, detector from "${apdbNs}"."DetectorVisitProcessingSummary"`);
      expect(summaries.rows).toHaveLength(6);
      expect(new Set(summaries.rows.map((r: { visit: string; detector: number }) => `${r.visit}/${r.detector}`)).size).toBe(6);
      const diaSources = await db.query(`select count(*)::int as n from "${apdbNs}"."DiaSource"`);
      const expectedDia = [...outcomes.values()].reduce((n, [o]) => n + Number(o.summary['apdb.diaSources'] ?? 0), 0);
      expect(diaSources.rows[0].n).toBe(expectedDia);
      const q = await prompt(['butler', 'query-datasets', central, 'processed_exposure', '--collections', 'LSSTComCam/prompt', '--json']);
      const rows = JSON.parse(q.stdout) as Array<{ dataId: { visit: number; detector: number } }>;
      expect(rows).toHaveLength(6);
      expect(new Set(rows.map((r) => `${r.dataId.visit}/${r.dataId.detector}`)).size).toBe(6);
    } finally {
      await Promise.all(children.map((c) => c.stop()));
      await broker.close();
      await db.query(`drop schema if exists "${registryNs}" cascade`).catch(() => undefined);
      await db.query(`drop schema if exists "${apdbNs}" cascade`).catch(() => undefined);
      await db.end();
      await deleteNatsStreams(`deploy${id}`).catch(() => undefined);
      await s3.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 900_000);
});
