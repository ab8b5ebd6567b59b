import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, promises as fs } from 'node:fs';
import { createInterface } from 'node:readline';
import { cpus } from 'node:os';
import path from 'node:path';
import { errorMessage } from '../core/errors.ts';
import { getInstrument, type InstrumentName } from '../instruments/index.ts';
import { decodeOutcome, outcomeKey, type Outcome } from '../messages/outcome.ts';
import type { VisitKind } from '../messages/next-visit.ts';
import type { Broker } from '../messaging/broker.ts';
import { createBroker } from '../messaging/backends.ts';
import { LocalBucket } from '../storage/local/local-bucket.ts';
import { startChildService, PROMPT_BIN, type ChildService } from './child-service.ts';
import { ensureCentralRepo } from '../tester/central/ensure.ts';
import { ServiceFront } from './front.ts';
import { Progress } from './progress.ts';
import { truthReport } from './truth-report.ts';
import { formatSummary, recordFromOutcome, summarize, type NightRecord, type NightSummary, type RedeliveryReport } from './summary.ts';
import { OutputRepository } from '../activator/output-repository.ts';
import { AlertTally, apdbCounts, makeApdb } from './alert-stream.ts';
import type { NightDashboard } from '../dashboard/feed.ts';
import { writeNightReport } from './report/night-report.ts';

const ALERT_TOPIC = 'alerts';
const ALERT_SUBSCRIPTION = 'night-alerts';
const NEXT_VISIT_COPY = 'night-nextvisit-copy';
const NEXT_VISIT_WORK = 'nextVisit-work';

export interface NightOptions {
  instrument: InstrumentName;
  groups: number;
  seed: number;
  workdir: string;
  activators?: number;
  exposureTimeS?: number;
  slewTimeS?: number;
  imageTimeoutS?: number;
  kind?: VisitKind;
  detectors?: readonly number[];
  testerThreads?: number;
  jsonFile?: string;
  /** Where progress and the summary are printed. */
  out?: NodeJS.WritableStream;
  /** Plain progress lines instead of a redrawn status line. */
  plain?: boolean;
  /**
   * The central data repository (directory or s3://…): built or completed for this night's
   * pointings before the night starts, preloaded from and exported to by the activators.
   * null: no repository, outputs only under the work directory.
   */
  centralRepo?: string | null;
  /** Transients injected into SCIENCE visits (default true) and their mean number per detector-visit. */
  transients?: boolean;
  transientsPerDetector?: number;
  /**
   * The APDB the activators associate into and alert from: sqlite:///file or postgresql://…
   * (then `apdbNamespace` names its schema). Default: an SQLite APDB in the work directory.
   * null: no APDB, no association and no alerts.
   */
  apdbUrl?: string | null;
  apdbNamespace?: string;
  /**
   * After the night, deliver every nextVisit again, with the detector-visits' outcome records
   * removed so that each is processed in full a second time, and report what changed: the APDB
   * and the alert stream must not gain a row or an alert.
   */
  redeliver?: boolean;
  /**
   * Production engines instead of the embedded ones: a broker URL (`nats://…`, `redis://…`,
   * `pubsub://…`; brokers that do not push are pulled from by the activators), a raw bucket URL
   * (`s3://bucket?endpoint=…`: its uploads are announced as S3 event records), and the central
   * repository's registry on PostgreSQL (seed config: db and namespace).
   */
  broker?: string;
  bucket?: string;
  /** Sequence number of the first group (default: from the time of day); the same number repeats a night's raws exactly. */
  firstSeq?: number;
  centralRegistry?: { db?: string; namespace?: string };
  /**
   * A live dashboard of the night (a web page) on this port (0: any free one), started before
   * everything else; `keepOpen` is awaited at the end of the night before it stops.
   */
  dashboard?: { port: number; host?: string; keepOpen?: () => Promise<void> };
}

const MARKER = '.prompt-night';
const TOKEN_BYTES = 12;

/** Empties the work directory, refusing one that holds anything but an earlier night. */
async function prepareWorkdir(dir: string): Promise<void> {
  if (existsSync(dir)) {
    const entries = await fs.readdir(dir);
    if (entries.length > 0 && !entries.includes(MARKER)) {
      throw new Error(`work directory ${dir} is not empty and was not made by 'prompt night'; choose another with --workdir`);
    }
    await fs.rm(dir, { recursive: true, force: true });
  }
  await fs.mkdir(path.join(dir, 'logs'), { recursive: true });
  await fs.writeFile(path.join(dir, MARKER), 'made by prompt night; emptied at the start of every night\n');
}

/**
 * A whole simulated night on the embedded defaults, every piece in its own process and talking
 * over its real wire format: the broker, a pool of activator instances behind a front (as
 * Cloud Run puts one before a service), the push subscription that feeds them, the directory
 * bucket with its finalize notifications, and the tester uploading raws.
 */
export async function runNight(opts: NightOptions): Promise<NightSummary> {
  const out = opts.out ?? process.stdout;
  const inst = getInstrument(opts.instrument);
  const workdir = path.resolve(opts.workdir);
  await prepareWorkdir(workdir);
  const logs = path.join(workdir, 'logs');
  const bucketDir = path.join(workdir, 'buckets', 'rubin-raw');
  const outputRepo = path.join(workdir, 'repo');
  const truthDir = path.join(workdir, 'truth');
  const nActivators = opts.activators ?? Math.max(1, cpus().length);
  const imageTimeoutS = opts.imageTimeoutS ?? 50;
  const token = randomBytes(TOKEN_BYTES).toString('hex');
  const started = Date.now();
  const children: ChildService[] = [];
  const front = new ServiceFront({ queueTimeoutMs: 600_000 });
  let broker: Broker | undefined;
  let shuttingDown = false;
  let dashboard: NightDashboard | null = null;
  const progress = new Progress(out, { plain: opts.plain, startedAt: started, inFlight: () => front.busyCount });

  try {
    if (opts.dashboard) {
      const { startNightDashboard } = await import('../dashboard/feed.ts');
      dashboard = await startNightDashboard({ port: opts.dashboard.port, host: opts.dashboard.host, instrument: inst.name, warn: (m) => progress.note(m) });
      progress.note(`dashboard: ${dashboard.url}`);
    }
    progress.note(`starting the broker, the bucket and ${nActivators} activator instance(s) in ${workdir}`);
    let brokerUrl: string;
    if (opts.broker) {
      brokerUrl = opts.broker;
    } else {
      const brokerSvc = await startChildService({ name: 'broker', args: ['broker', '--port', '0'], logFile: path.join(logs, 'broker.log') });
      children.push(brokerSvc);
      brokerUrl = brokerSvc.url;
    }
    broker = createBroker(brokerUrl);
    const imageTopic = `${inst.name}-image`;
    for (const t of ['nextVisit', imageTopic, 'prompt-outcomes', ALERT_TOPIC]) await broker.ensureTopic(t);
    // A directory bucket announces its objects itself (Cloud Storage notifications); an S3 bucket's
    // uploads are announced by the tester as the server would (S3 event records).
    const bucketUrl = opts.bucket ?? bucketDir;
    const s3Bucket = /^s3:\/\//.test(bucketUrl);
    if (!s3Bucket) {
      const bucket = new LocalBucket({ root: bucketUrl.replace(/^file:\/\//, '') });
      await bucket.addNotification({ topic: imageTopic, broker: brokerUrl, prefix: `${inst.name}/` });
    }
    const pulled = !broker.capabilities.push;
    await broker.ensureSubscription('night-outcomes', 'prompt-outcomes', { ackDeadlineSeconds: 60, retentionSeconds: 3600 });
    // The night listens to its alert stream as a broker would forward it, and counts every packet.
    await broker.ensureSubscription(ALERT_SUBSCRIPTION, ALERT_TOPIC, { ackDeadlineSeconds: 60, retentionSeconds: 3600 });
    // A copy of every nextVisit, to deliver them all again after the night (--redeliver).
    if (opts.redeliver) await broker.ensureSubscription(NEXT_VISIT_COPY, 'nextVisit', { ackDeadlineSeconds: 600, retentionSeconds: 7200 });

    let apdbUrl: string | null = null;
    if (opts.apdbUrl !== null) {
      const pairs = [`db_url=${opts.apdbUrl ?? `sqlite:///${path.join(workdir, 'apdb.sqlite3')}`}`];
      if (opts.apdbNamespace) pairs.push(`namespace=${opts.apdbNamespace}`);
      const made = await makeApdb(pairs);
      apdbUrl = made.url;
      progress.note(`APDB ${made.url}: ${made.message}`);
    }

    let centralRoot: string | null = null;
    if (opts.centralRepo !== null) {
      const where = opts.centralRepo ?? 'central-repo';
      progress.note(`making sure the central repository ${where} holds the calibrations, templates and reference catalog this night needs`);
      let last = 0;
      const r = await ensureCentralRepo(where, {
        instrument: inst.name,
        seed: opts.seed,
        groups: opts.groups,
        detectors: opts.detectors,
        registry: opts.centralRegistry,
        onProgress: (done, total) => {
          if (Date.now() - last > 3000 || done === total) {
            last = Date.now();
            progress.note(`  central repository: built ${done}/${total}`);
          }
        },
      });
      centralRoot = r.root;
      progress.note(`central repository ready: ${r.built} dataset(s) built, ${r.present} already there, ${r.seconds.toFixed(1)} s`);
    }

    const activatorEnv = {
      RUBIN_INSTRUMENT: inst.name,
      PUBSUB_VERIFICATION_TOKEN: token,
      IMAGE_BUCKET: bucketUrl,
      IMAGE_NOTIFICATIONS: s3Bucket ? 's3' : 'gcs',
      NEXT_VISIT_SUBSCRIPTION: pulled ? NEXT_VISIT_WORK : '',
      IMAGE_TIMEOUT: String(imageTimeoutS),
      PORT: '0',
      HOST: '127.0.0.1',
      BROKER_URL: brokerUrl,
      OUTPUT_REPO: outputRepo,
      PROMPT_LOG_LEVEL: process.env.PROMPT_LOG_LEVEL ?? 'info',
      CENTRAL_REPO: centralRoot ?? '',
      DEPLOYMENT: 'night',
      APDB_URL: opts.apdbUrl === null ? '' : (opts.apdbUrl ?? `sqlite:///${path.join(workdir, 'apdb.sqlite3')}`),
      APDB_NAMESPACE: opts.apdbNamespace ?? '',
      ALERT_TOPIC,
    };
    // The activator pool: like Cloud Run, an instance that dies is replaced (a few times at most),
    // and the push subscription redelivers whatever it was handling.
    const startActivator = async (i: number, restarts: number): Promise<void> => {
      const svc = await startChildService({
        name: `activator-${i}`,
        args: ['activator'],
        env: {
          ...activatorEnv,
          INSTANCE_ID: `activator-${i}${restarts ? `-r${restarts}` : ''}`,
          LOCAL_REPO: path.join(workdir, 'local', `activator-${i}`),
        },
        logFile: path.join(logs, `activator-${i}.log`),
        onLine: (rec) => dashboard?.activatorLine(`activator-${i}${restarts ? `-r${restarts}` : ''}`, rec),
      });
      children.push(svc);
      front.addInstance(svc.url);
      void svc.exited.then((code) => {
        front.removeInstance(svc.url);
        if (shuttingDown) return;
        progress.note(`activator-${i} exited with code ${code}; see ${path.join(logs, `activator-${i}.log`)}`);
        if (restarts < 3) {
          startActivator(i, restarts + 1).catch((e: unknown) => progress.note(`could not restart activator-${i}: ${errorMessage(e)}`));
        }
      });
    };
    await Promise.all(Array.from({ length: nActivators }, (_, i) => startActivator(i, 0)));
    const frontUrl = await front.listen();
    if (pulled) {
      // The activators pull (one at a time each) and keep a message while they work on it.
      await broker.ensureSubscription(NEXT_VISIT_WORK, 'nextVisit', {
        filter: `attributes.instrument = "${inst.name}"`,
        ackDeadlineSeconds: 60,
        retentionSeconds: 600,
      });
    } else {
      await broker.ensureSubscription('nextVisit-sub', 'nextVisit', {
        push: { endpoint: `${frontUrl}/next-visit?token=${token}` },
        filter: `attributes.instrument = "${inst.name}"`,
        ackDeadlineSeconds: 600,
        retentionSeconds: 600,
        retry: { minimumBackoffS: 0, maximumBackoffS: 10 },
      });
    }

    // Outcomes, keyed by detector-visit: a redelivery's repeat counts once.
    const outcomes = new Map<string, Outcome>();
    // During a redelivery, the outcomes that come back.
    const redeliveryState: { again: Map<string, Outcome> | null } = { again: null };
    const expected = new Map<string, { group: string; detector: number; kind: string; snaps: number }>();
    const abort = new AbortController();
    const collecting = (async () => {
      while (!abort.signal.aborted) {
        let msgs;
        try {
          msgs = await (broker as Broker).pull('night-outcomes', { maxMessages: 64, waitMs: 1000, signal: abort.signal });
        } catch (e) {
          if (abort.signal.aborted) return;
          progress.note(`could not pull outcomes: ${errorMessage(e)}`);
          await new Promise((r) => setTimeout(r, 500));
          continue;
        }
        for (const m of msgs) {
          try {
            const o = decodeOutcome(m.data);
            dashboard?.outcome(o);
            const again = redeliveryState.again;
            if (again && !again.has(outcomeKey(o))) again.set(outcomeKey(o), o);
            if (!outcomes.has(outcomeKey(o))) {
              outcomes.set(outcomeKey(o), o);
              progress.outcome(o);
            }
          } catch (e) {
            progress.note(`ignoring a malformed outcome: ${errorMessage(e)}`);
          }
        }
        if (msgs.length) await (broker as Broker).ack('night-outcomes', msgs.map((m) => m.ackId)).catch(() => undefined);
      }
    })();
    const alerts = new AlertTally((p) => dashboard?.alert(p));
    const listening = alerts.listen(broker, ALERT_SUBSCRIPTION, abort.signal, (m) => progress.note(m));

    // The tester, as the camera would: nextVisit per detector, then the snaps.
    const testerArgs = [
      'upload', inst.name, String(opts.groups),
      '--broker', brokerUrl,
      '--bucket', bucketUrl,
      ...(s3Bucket ? ['--announce', imageTopic] : []),
      '--seed', String(opts.seed),
      '--json-progress',
      '--truth-dir', truthDir,
    ];
    if (opts.transients === false) testerArgs.push('--no-transients');
    if (opts.firstSeq !== undefined) testerArgs.push('--first-seq', String(opts.firstSeq));
    if (opts.transientsPerDetector !== undefined) testerArgs.push('--transients-per-detector', String(opts.transientsPerDetector));
    if (opts.exposureTimeS !== undefined) testerArgs.push('--exposure-time', String(opts.exposureTimeS));
    if (opts.slewTimeS !== undefined) testerArgs.push('--slew-time', String(opts.slewTimeS));
    if (opts.kind) testerArgs.push('--kind', opts.kind);
    if (opts.detectors) testerArgs.push('--detectors', opts.detectors.join(','));
    if (opts.testerThreads) testerArgs.push('--threads', String(opts.testerThreads));
    progress.note(`tester: prompt ${testerArgs.slice(0, 3).join(' ')} (seed ${opts.seed})`);
    const testerLog = createWriteStream(path.join(logs, 'tester.log'), { flags: 'a' });
    const tester = spawn(process.execPath, [PROMPT_BIN, ...testerArgs], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    tester.stderr.pipe(testerLog, { end: false });
    createInterface({ input: tester.stdout }).on('line', (line) => {
      testerLog.write(line + '\n');
      if (!line.startsWith('{')) return;
      try {
        const rec = JSON.parse(line) as Record<string, unknown>;
        dashboard?.testerLine(rec);
        if (rec.event === 'nextVisit') {
          const key = `${inst.name}/${rec.group}/${rec.detector}`;
          expected.set(key, { group: String(rec.group), detector: Number(rec.detector), kind: String(rec.kind), snaps: Number(rec.snaps) });
          progress.expected(expected.size);
        } else if (rec.event === 'uploaded') {
          progress.uploaded();
        } else if (rec.event === 'group') {
          progress.group(Number(rec.index), Number(rec.of));
        }
      } catch {
        /* a non-JSON line */
      }
    });
    const testerCode: number | null = await new Promise((resolve) => tester.once('exit', (code) => resolve(code)));
    testerLog.end();
    if (testerCode !== 0) progress.note(`the tester exited with code ${testerCode}; see ${path.join(logs, 'tester.log')}`);

    // Every announced detector-visit ends with an outcome: processed, failed, or timed out
    // after IMAGE_TIMEOUT. Allow for the queue in front of the activators as well.
    const perVisitS = imageTimeoutS + 120;
    const deadline = Date.now() + perVisitS * 1000 * Math.max(1, Math.ceil(expected.size / nActivators));
    while (Date.now() < deadline) {
      if ([...expected.keys()].every((k) => outcomes.has(k))) break;
      if (front.size === 0) {
        progress.note('no activator instance is left running');
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    // Alerts are published before the outcome: a last pull finds any still in flight.
    await alerts.drain();

    let redelivery: RedeliveryReport | null = null;
    if (opts.redeliver) {
      const before = { apdb: apdbUrl ? await apdbCounts(apdbUrl, opts.apdbNamespace) : null, alerts: alerts.counts() };
      const sent: Array<{ data: Uint8Array; attributes: Record<string, string> }> = [];
      while (true) {
        const msgs = await (broker as Broker).pull(NEXT_VISIT_COPY, { maxMessages: 256, waitMs: 300 });
        if (msgs.length === 0) break;
        for (const m of msgs) sent.push({ data: m.data, attributes: { ...m.attributes } });
        await (broker as Broker).ack(NEXT_VISIT_COPY, msgs.map((m) => m.ackId));
      }
      progress.note(`redelivering ${sent.length} nextVisit message(s), each detector-visit's outcome record removed first`);
      const outputs = new OutputRepository(outputRepo);
      for (const e of expected.values()) await fs.rm(outputs.outcomePath(inst.name, e.group, e.detector), { force: true });
      const again = new Map<string, Outcome>();
      redeliveryState.again = again;
      const t0 = Date.now();
      for (let i = 0; i < sent.length; i += 100) await (broker as Broker).publish('nextVisit', sent.slice(i, i + 100));
      const until = Date.now() + perVisitS * 1000 * Math.max(1, Math.ceil(expected.size / nActivators));
      while (Date.now() < until && front.size > 0 && ![...expected.keys()].every((k) => again.has(k))) {
        await new Promise((r) => setTimeout(r, 200));
      }
      await alerts.drain();
      const after = { apdb: apdbUrl ? await apdbCounts(apdbUrl, opts.apdbNamespace) : null, alerts: alerts.counts() };
      const back = [...again.values()];
      redelivery = {
        nextVisits: sent.length,
        outcomes: back.length,
        processedAgain: back.filter((o) => o.status === 'processed').length,
        apdbAlreadyStored: back.filter((o) => typeof o.summary?.['apdb.skipped'] === 'string').length,
        seconds: (Date.now() - t0) / 1000,
        apdbBefore: before.apdb,
        apdbAfter: after.apdb,
        alertsBefore: before.alerts.received,
        alertsAfter: after.alerts.received,
      };
      progress.note(
        `redelivery: ${redelivery.outcomes}/${expected.size} outcomes back, APDB rows ${JSON.stringify(before.apdb)} → ${JSON.stringify(after.apdb)}, alerts ${before.alerts.received} → ${after.alerts.received}`,
      );
    }
    abort.abort();
    await collecting;
    await listening;

    const records: NightRecord[] = [];
    for (const [key, e] of expected) {
      const o = outcomes.get(key);
      records.push(
        o
          ? recordFromOutcome(o)
          : { group: e.group, detector: e.detector, kind: e.kind, status: 'missing', snaps: 0, latencySeconds: null, sources: null, reason: 'no outcome before the night ended', outputs: {}, timings: {}, summary: {} },
      );
    }
    const truth = await truthReport(truthDir, inst.name, records, { note: (m) => progress.note(m), repoRoot: centralRoot });
    const finished = Date.now();
    const summary = summarize(
      {
        instrument: inst.name,
        groups: opts.groups,
        seed: opts.seed,
        workdir,
        startedAt: new Date(started).toISOString(),
        finishedAt: new Date(finished).toISOString(),
        wallSeconds: (finished - started) / 1000,
        activators: nActivators,
        centralRepo: centralRoot,
        truth,
        apdbUrl,
        apdb: apdbUrl ? await apdbCounts(apdbUrl, opts.apdbNamespace).catch((e: unknown) => {
          progress.note(`could not count the APDB's rows: ${errorMessage(e)}`);
          return null;
        }) : null,
        alerts: alerts.counts(),
        redelivery,
      },
      records,
    );
    progress.done();
    out.write(formatSummary(summary) + '\n');
    const jsonFile = opts.jsonFile ? path.resolve(opts.jsonFile) : path.join(workdir, 'summary.json');
    await fs.mkdir(path.dirname(jsonFile), { recursive: true });
    await fs.writeFile(jsonFile, JSON.stringify(summary, null, 2) + '\n');
    out.write(`  summary written to ${jsonFile}\n`);
    const reportFile = jsonFile.replace(/\.json$/, '') + '.html';
    await writeNightReport(summary, reportFile, { truthDir }).then(
      () => out.write(`  report written to ${reportFile}\n`),
      (e: unknown) => out.write(`  could not write the report: ${errorMessage(e)}\n`),
    );
    if (dashboard) {
      if (summary.apdb) dashboard.apdb(summary.apdb);
      await opts.dashboard?.keepOpen?.();
      await dashboard.close(`${summary.detectorVisits.processed}/${summary.detectorVisits.expected} processed`);
    }
    return summary;
  } finally {
    shuttingDown = true;
    await dashboard?.close();
    progress.done();
    await front.close();
    await Promise.all(children.reverse().map((c) => c.stop()));
    await broker?.close();
  }
}
