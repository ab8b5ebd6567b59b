import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildObjectKey } from '../instruments/keys.ts';
import { nextVisitAttributes, type NextVisit } from '../messages/next-visit.ts';
import { decodeOutcome, type Outcome } from '../messages/outcome.ts';
import { createBroker } from '../messaging/backends.ts';
import type { Broker } from '../messaging/broker.ts';
import { startEmbeddedBroker } from '../messaging/embedded/embedded-server.ts';
import { buildPushEnvelope } from '../messaging/push-envelope.ts';
import { waitFor } from '../messaging/testing.ts';
import { createLogger, silentLogger, type Logger } from '../observability/logger.ts';
import { Services } from '../runtime/services.ts';
import { LocalBucket } from '../storage/local/local-bucket.ts';
import type { ActivatorConfig } from './config.ts';
import { ActivatorMetrics } from './metrics.ts';
import type { Exported, Preloaded, VisitMiddleware } from './middleware.ts';
import { startActivator, type RunningActivator } from './server.ts';
import type { IngestedSnap, ProcessResult, VisitProcessor } from './visit-flow.ts';

const TOKEN = 'm3trics';

/** One sample of the Prometheus text exposition format. */
interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    samples.push({ name: m[1], labels, value: m[3] === '+Inf' ? Infinity : Number(m[3]) });
  }
  return samples;
}

/** The value of the one sample with this name and these labels (and maybe others). */
function valueOf(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

/** A processor that records its calls and, when gated, holds each visit until released. */
class GatedProcessor implements VisitProcessor {
  calls = 0;
  private gate: Promise<void> | null = null;
  private open: () => void = () => undefined;
  private onStart: () => void = () => undefined;
  /** Resolves once a visit is being processed. */
  started: Promise<void> = Promise.resolve();

  hold(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
    this.started = new Promise((resolve) => (this.onStart = resolve));
  }

  release(): void {
    this.open();
    this.gate = null;
  }

  async process(visit: NextVisit, snaps: readonly IngestedSnap[]): Promise<ProcessResult> {
    this.calls++;
    this.onStart();
    if (this.gate) await this.gate;
    return {
      files: { 'processed.fits': new Uint8Array([1, 2, 3]) },
      sources: 7,
      timings: { isr: 0.12, calibrate: 0.4 },
      summary: { snaps: snaps.length, visit: 2026112700001 },
    };
  }

  async close(): Promise<void> {}
}

/** The data repositories, as far as the visit flow sees them: two calibrations, one from the cache; logs with no context of its own. */
class StubMiddleware implements VisitMiddleware {
  constructor(private readonly log: Logger) {}
  async prepare(): Promise<Preloaded> {
    this.log.info('preloading from the central repository');
    return {
      calibs: { bias: new Uint8Array([1]), flat: new Uint8Array([2]) },
      refcatShardFiles: [],
      templateFiles: [],
      calibsFromCache: 1,
      refcatShards: 0,
      templatePatches: 0,
      seconds: 0.05,
    };
  }
  async ingest(): Promise<void> {
    this.log.debug('raws ingested into the local repository');
  }
  async exportOutputs(): Promise<Exported> {
    return { run: 'LATISS/prompt/output-20261127/ApPipe/test', outputs: { processed_exposure: 'file:///repo/processed.fits' }, seconds: 0.03 };
  }
  async cleanup(): Promise<void> {
    this.log.info('local repository cleaned');
  }
  async close(): Promise<void> {}
}

function captureLines(): { stream: Writable; lines: () => string[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(c, _e, cb) {
      chunks.push(String(c));
      cb();
    },
  });
  return { stream, lines: () => chunks.join('').split('\n').filter(Boolean) };
}

describe('what an operator sees of a running activator', () => {
  let dir: string;
  let brokerSvc: { url: string; close(): Promise<void> };
  let broker: Broker;
  let services: Services;
  let bucket: LocalBucket;
  const activators: RunningActivator[] = [];

  const visit: NextVisit = {
    instrument: 'LATISS',
    detector: 0,
    group: '2026112700001',
    snaps: 1,
    filter: 'SDSSr_65mm',
    ra: 10,
    dec: -20,
    kind: 'SCIENCE',
  };

  const configFor = (overrides: Partial<ActivatorConfig> = {}): ActivatorConfig => ({
    instrument: 'LATISS',
    verificationToken: TOKEN,
    imageBucket: path.join(dir, 'bucket'),
    calibRepo: null,
    imageTimeoutS: 5,
    port: 0,
    host: '127.0.0.1',
    brokerUrl: brokerSvc.url,
    outputRepo: path.join(dir, 'repo'),
    imageTopic: 'LATISS-image',
    outcomeTopic: 'prompt-outcomes',
    instanceId: 'metrics-1',
    centralRepo: null,
    localRepo: path.join(dir, 'local'),
    deployment: 'test',
    pipeline: 'ApPipe',
    exportTypes: ['*'],
    calibCacheSize: 8,
    preloadPadArcsec: 60,
    apdbUrl: null,
    apdbNamespace: null,
    alertTopic: 'alerts',
    associationRadiusArcsec: 1,
    imageNotifications: 'gcs',
    nextVisitSubscription: null,
    ...overrides,
  });

  const start = async (
    opts: { processor?: VisitProcessor; log?: Logger; middleware?: VisitMiddleware; config?: Partial<ActivatorConfig> } = {},
  ): Promise<RunningActivator> => {
    const a = await startActivator({
      config: configFor(opts.config),
      processor: opts.processor ?? new GatedProcessor(),
      log: opts.log ?? silentLogger(),
      middleware: opts.middleware,
      services,
    });
    activators.push(a);
    return a;
  };

  const post = (a: RunningActivator, body: unknown, token = TOKEN): Promise<Response> =>
    fetch(`${a.url}/next-visit?token=${encodeURIComponent(token)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(
        buildPushEnvelope({
          subscription: 'projects/local/subscriptions/nextVisit-sub',
          messageId: String(Math.random()),
          publishTime: new Date().toISOString(),
          data: new TextEncoder().encode(typeof body === 'string' ? body : JSON.stringify(body)),
          attributes: typeof body === 'object' && body !== null && 'instrument' in body ? nextVisitAttributes(body as NextVisit) : {},
        }),
      ),
    });

  const scrape = async (a: RunningActivator): Promise<{ text: string; samples: Sample[] }> => {
    const r = await fetch(`${a.url}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await r.text();
    return { text, samples: parseExposition(text) };
  };

  const uploadSnap = (v: NextVisit): Promise<unknown> =>
    bucket.put(buildObjectKey({ instrument: v.instrument, detector: v.detector, group: v.group, snap: 0, filter: v.filter }), new Uint8Array([42]));

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'activator-metrics-'));
    brokerSvc = await startEmbeddedBroker({ port: 0 });
    broker = createBroker(brokerSvc.url);
    services = new Services();
    for (const t of ['nextVisit', 'LATISS-image', 'prompt-outcomes']) await broker.ensureTopic(t);
    await broker.ensureSubscription('outcomes', 'prompt-outcomes', { ackDeadlineSeconds: 30 });
    bucket = new LocalBucket({
      root: path.join(dir, 'bucket'),
      notify: async (url, topic, m) => {
        await services.broker(url).publish(topic, [m]);
      },
    });
    await bucket.addNotification({ topic: 'LATISS-image', broker: brokerSvc.url, prefix: 'LATISS/' });
  });

  afterEach(async () => {
    await Promise.all(activators.splice(0).map((a) => a.close()));
    await services.close();
    await broker.close();
    await brokerSvc.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves /metrics: the detector-visit in flight, then counted, its latency and stages timed, its calibrations by source', async () => {
    const processor = new GatedProcessor();
    const a = await start({ processor, middleware: new StubMiddleware(silentLogger()) });
    const before = await scrape(a);
    expect(valueOf(before.samples, 'prompt_detector_visits_in_flight')).toBe(0);
    expect(valueOf(before.samples, 'prompt_detector_visits_total', { outcome: 'processed' })).toBe(0);

    processor.hold();
    await uploadSnap(visit);
    const answer = post(a, visit);
    await processor.started;
    // The instance answers its scrape while it processes.
    const during = await scrape(a);
    expect(valueOf(during.samples, 'prompt_detector_visits_in_flight')).toBe(1);
    processor.release();
    const r = await answer;
    expect(await r.json()).toMatchObject({ disposition: 'done', status: 'processed' });

    const { text, samples } = await scrape(a);
    const lines = text.split('\n');
    expect(lines).toContain('prompt_detector_visit_latency_seconds_count{outcome="processed"} 1');
    expect(valueOf(samples, 'prompt_detector_visits_total', { outcome: 'processed' })).toBe(1);
    for (const outcome of ['failed', 'timedOut', 'no-work', 'retry', 'invalid']) {
      expect(valueOf(samples, 'prompt_detector_visits_total', { outcome })).toBe(0);
    }
    expect(valueOf(samples, 'prompt_detector_visits_in_flight')).toBe(0);
    // The latency: one observation, under the 60 s budget.
    expect(valueOf(samples, 'prompt_detector_visit_latency_seconds_bucket', { outcome: 'processed', le: '60' })).toBe(1);
    expect(valueOf(samples, 'prompt_detector_visit_latency_seconds_bucket', { outcome: 'processed', le: '+Inf' })).toBe(1);
    // The stages: the pipeline's timings (0.12 s, 0.4 s), the preload and the export.
    expect(lines).toContain('prompt_stage_seconds_bucket{le="0.1",stage="isr"} 0');
    expect(lines).toContain('prompt_stage_seconds_bucket{le="0.25",stage="isr"} 1');
    expect(valueOf(samples, 'prompt_stage_seconds_sum', { stage: 'isr' })).toBeCloseTo(0.12, 9);
    expect(valueOf(samples, 'prompt_stage_seconds_bucket', { stage: 'calibrate', le: '0.25' })).toBe(0);
    expect(valueOf(samples, 'prompt_stage_seconds_bucket', { stage: 'calibrate', le: '0.5' })).toBe(1);
    expect(valueOf(samples, 'prompt_stage_seconds_count', { stage: 'preload' })).toBe(1);
    expect(valueOf(samples, 'prompt_stage_seconds_count', { stage: 'export' })).toBe(1);
    expect(valueOf(samples, 'prompt_preload_calibrations_total', { source: 'cache' })).toBe(1);
    expect(valueOf(samples, 'prompt_preload_calibrations_total', { source: 'repository' })).toBe(1);
    // No APDB: nothing stored, nothing sent.
    expect(valueOf(samples, 'prompt_alerts_sent_total')).toBe(0);
    expect(valueOf(samples, 'prompt_dia_sources_stored_total')).toBe(0);
    // prom-client's process metrics.
    expect(valueOf(samples, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(samples.some((s) => s.name === 'nodejs_eventloop_lag_seconds')).toBe(true);
  });

  it('counts what it refuses or acknowledges without processing, and a redelivery as no-work', async () => {
    const a = await start();
    expect((await post(a, visit, 'wrong')).status).toBe(403);
    expect((await post(a, 'not json')).status).toBe(200);
    expect((await post(a, { ...visit, instrument: 'LSSTComCam', filter: 'r_03' })).status).toBe(200);
    await uploadSnap(visit);
    expect(await (await post(a, visit)).json()).toMatchObject({ status: 'processed' });
    expect(await (await post(a, visit)).json()).toMatchObject({ disposition: 'no-work' });
    const { samples } = await scrape(a);
    expect(valueOf(samples, 'prompt_next_visit_refused_total', { reason: 'forbidden' })).toBe(1);
    expect(valueOf(samples, 'prompt_next_visit_refused_total', { reason: 'busy' })).toBe(0);
    expect(valueOf(samples, 'prompt_detector_visits_total', { outcome: 'invalid' })).toBe(1);
    expect(valueOf(samples, 'prompt_detector_visits_total', { outcome: 'no-work' })).toBe(2);
    expect(valueOf(samples, 'prompt_detector_visits_total', { outcome: 'processed' })).toBe(1);
    // The redelivery's recorded outcome is not timed a second time.
    expect(valueOf(samples, 'prompt_detector_visit_latency_seconds_count', { outcome: 'processed' })).toBe(1);
    expect(valueOf(samples, 'prompt_stage_seconds_count', { stage: 'isr' })).toBe(1);
  });

  it('feeds the same metrics from the pull loop', async () => {
    await broker.ensureSubscription('nextVisit-work', 'nextVisit', { ackDeadlineSeconds: 30 });
    const a = await start({ config: { nextVisitSubscription: 'nextVisit-work' } });
    await uploadSnap(visit);
    await broker.publish('nextVisit', [
      { data: new TextEncoder().encode(JSON.stringify(visit)), attributes: nextVisitAttributes(visit) },
      { data: new TextEncoder().encode('{"instrument": '), attributes: {} },
    ]);
    const outcome = await waitFor(
      async () => {
        const got = await broker.pull('outcomes', { maxMessages: 1, waitMs: 200 });
        return got[0] ? decodeOutcome(got[0].data) : null;
      },
      { timeoutMs: 15_000, what: 'the outcome of the pulled visit' },
    );
    expect(outcome.status).toBe('processed');
    const counted = await waitFor(
      async () => {
        const { samples } = await scrape(a);
        return valueOf(samples, 'prompt_detector_visits_total', { outcome: 'invalid' }) === 1 ? samples : null;
      },
      { timeoutMs: 10_000, what: 'the invalid message counted' },
    );
    expect(valueOf(counted, 'prompt_detector_visits_total', { outcome: 'processed' })).toBe(1);
    expect(valueOf(counted, 'prompt_detector_visit_latency_seconds_count', { outcome: 'processed' })).toBe(1);
    expect(valueOf(counted, 'prompt_stage_seconds_count', { stage: 'isr' })).toBe(1);
    expect(valueOf(counted, 'prompt_detector_visits_in_flight')).toBe(0);
  });

  it('writes the context of the detector-visit on every log line between the nextVisit and its outcome', async () => {
    const c = captureLines();
    const log = createLogger({ component: 'activator', instrument: 'LATISS', level: 'debug', destination: c.stream });
    const a = await start({ log, middleware: new StubMiddleware(log) });
    await uploadSnap(visit);
    expect(await (await post(a, visit)).json()).toMatchObject({ status: 'processed' });

    const raw = c.lines();
    const records = raw.map((l) => JSON.parse(l) as Record<string, unknown>);
    const first = records.findIndex((r) => r.message === 'received a nextVisit');
    const last = records.findIndex((r) => r.message === 'detector-visit processed');
    expect(first).toBeGreaterThanOrEqual(0);
    expect(last).toBeGreaterThan(first);
    const visitLines = records.slice(first, last + 1);
    expect(visitLines.length).toBeGreaterThan(8);
    for (const r of visitLines) {
      expect(r, String(r.message)).toMatchObject({ group: visit.group, detector: visit.detector, labels: { instrument: 'LATISS' } });
    }
    // A field is written once per line, even where the call names it too.
    for (const l of raw.slice(first, last + 1)) expect(l.match(/"group":/g), l).toHaveLength(1);

    const by = (message: string): Array<Record<string, unknown>> => visitLines.filter((r) => r.message === message);
    // What the data repositories log carries the detector-visit without naming it.
    expect(by('preloading from the central repository')[0]).toMatchObject({ kind: 'SCIENCE' });
    expect(by('raws ingested into the local repository')[0]).toMatchObject({ exposure: [Number(visit.group)], severity: 'DEBUG' });
    // One line per stage, with its duration; the exposure and the visit once known.
    const stages = by('stage done');
    expect(stages.map((r) => r.stage)).toEqual(['isr', 'calibrate', 'export']);
    expect(stages[0]).toMatchObject({ stage: 'isr', durationS: 0.12, exposure: [Number(visit.group)], visit: 2026112700001 });
    expect(stages[2]).toMatchObject({ stage: 'export', durationS: 0.03 });
    const outcome = records[last];
    expect(outcome).toMatchObject({ status: 'processed', exposure: [Number(visit.group)], visit: 2026112700001 });
    expect(typeof outcome.latencySeconds).toBe('number');
    // The cleanup after the outcome still belongs to the detector-visit; what follows does not.
    expect(records.find((r) => r.message === 'local repository cleaned')).toMatchObject({ group: visit.group });
    log.info('after the visit');
    expect(JSON.parse(c.lines().at(-1) as string)).not.toHaveProperty('group');
  });
});

describe('ActivatorMetrics', () => {
  const processed = (summary: Outcome['summary'], timings: Outcome['timings'] = {}): Outcome => ({
    instrument: 'LATISS',
    group: '2026112700001',
    detector: 0,
    kind: 'SCIENCE',
    status: 'processed',
    snaps: 1,
    expectedSnaps: 1,
    instance: 'x',
    receivedAt: new Date(0).toISOString(),
    latencySeconds: 12.5,
    outputs: {},
    timings,
    summary,
  });

  it('counts the alerts sent and the DiaSources stored, and two instances do not share a registry', async () => {
    const m1 = new ActivatorMetrics({ defaultMetrics: false });
    const m2 = new ActivatorMetrics({ defaultMetrics: false });
    m1.observe({ disposition: 'done', outcome: processed({ alerts: 3, 'apdb.diaSources': 4 }, { apdb: 0.02, alerts: 0.01 }) });
    m1.observe({ disposition: 'done', outcome: processed({ alerts: 2, 'apdb.diaSources': 2, 'apdb.skipped': null }) });
    m1.observe({ disposition: 'retry', reason: 'the APDB is down' });
    const s1 = parseExposition(await m1.text());
    expect(valueOf(s1, 'prompt_alerts_sent_total')).toBe(5);
    expect(valueOf(s1, 'prompt_dia_sources_stored_total')).toBe(6);
    expect(valueOf(s1, 'prompt_detector_visits_total', { outcome: 'processed' })).toBe(2);
    expect(valueOf(s1, 'prompt_detector_visits_total', { outcome: 'retry' })).toBe(1);
    expect(valueOf(s1, 'prompt_detector_visit_latency_seconds_bucket', { outcome: 'processed', le: '10' })).toBe(0);
    expect(valueOf(s1, 'prompt_detector_visit_latency_seconds_bucket', { outcome: 'processed', le: '15' })).toBe(2);
    expect(valueOf(s1, 'prompt_stage_seconds_count', { stage: 'apdb' })).toBe(1);
    expect(s1.some((s) => s.name.startsWith('process_'))).toBe(false);
    const s2 = parseExposition(await m2.text());
    expect(valueOf(s2, 'prompt_alerts_sent_total')).toBe(0);
    expect(valueOf(s2, 'prompt_detector_visits_total', { outcome: 'processed' })).toBe(0);
  });

  it('counts a detector-visit that throws as a retry and leaves nothing in flight', async () => {
    const m = new ActivatorMetrics({ defaultMetrics: false });
    await expect(m.track(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    const s = parseExposition(await m.text());
    expect(valueOf(s, 'prompt_detector_visits_total', { outcome: 'retry' })).toBe(1);
    expect(valueOf(s, 'prompt_detector_visits_in_flight')).toBe(0);
  });

  it('counts preloaded calibrations by source', async () => {
    const m = new ActivatorMetrics({ defaultMetrics: false });
    m.observePreload({ calibs: { bias: new Uint8Array(1), dark: new Uint8Array(1), flat: new Uint8Array(1) }, calibsFromCache: 2 });
    m.observePreload({ calibs: { bias: new Uint8Array(1) }, calibsFromCache: 0 });
    const s = parseExposition(await m.text());
    expect(valueOf(s, 'prompt_preload_calibrations_total', { source: 'cache' })).toBe(2);
    expect(valueOf(s, 'prompt_preload_calibrations_total', { source: 'repository' })).toBe(2);
  });
});
