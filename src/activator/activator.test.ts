import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../core/errors.ts';
import { buildObjectKey } from '../instruments/keys.ts';
import { nextVisitAttributes, type NextVisit } from '../messages/next-visit.ts';
import { decodeOutcome } from '../messages/outcome.ts';
import { createBroker } from '../messaging/backends.ts';
import type { Broker } from '../messaging/broker.ts';
import { startEmbeddedBroker } from '../messaging/embedded/embedded-server.ts';
import { buildPushEnvelope } from '../messaging/push-envelope.ts';
import { silentLogger } from '../observability/logger.ts';
import { LocalBucket } from '../storage/local/local-bucket.ts';
import { Services } from '../runtime/services.ts';
import type { ActivatorConfig } from './config.ts';
import { startActivator, type RunningActivator } from './server.ts';
import type { IngestedSnap, ProcessResult, VisitProcessor } from './visit-flow.ts';

const TOKEN = 's3cret';

/** A processor that records what it was given; the real pipeline is tested on its own. */
class RecordingProcessor implements VisitProcessor {
  calls: Array<{ visit: NextVisit; snaps: IngestedSnap[] }> = [];
  failWith: Error | null = null;
  delayMs = 0;
  async process(visit: NextVisit, snaps: readonly IngestedSnap[]): Promise<ProcessResult> {
    this.calls.push({ visit, snaps: [...snaps] });
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.failWith) throw this.failWith;
    return {
      files: { 'processed.fits': new Uint8Array([1, 2, 3]) },
      sources: 7,
      timings: { isr: 0.1 },
      summary: { snaps: snaps.length },
    };
  }
  async close(): Promise<void> {}
}

describe('activator', () => {
  let dir: string;
  let brokerSvc: { url: string; close(): Promise<void> };
  let broker: Broker;
  let bucket: LocalBucket;
  let processor: RecordingProcessor;
  let activator: RunningActivator;
  let services: Services;

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

  const envelope = (v: unknown, attrs: Record<string, string> = {}): string =>
    JSON.stringify(
      buildPushEnvelope({
        subscription: 'projects/local/subscriptions/nextVisit-sub',
        messageId: String(Math.random()),
        publishTime: new Date().toISOString(),
        data: new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v)),
        attributes: attrs,
      }),
    );

  const post = (body: string, token = TOKEN): Promise<Response> =>
    fetch(`${activator.url}/next-visit?token=${encodeURIComponent(token)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });

  const start = async (overrides: Partial<ActivatorConfig> = {}): Promise<void> => {
    const config: ActivatorConfig = {
      instrument: 'LATISS',
      verificationToken: TOKEN,
      imageBucket: path.join(dir, 'bucket'),
      calibRepo: null,
      imageTimeoutS: 2,
      port: 0,
      host: '127.0.0.1',
      brokerUrl: brokerSvc.url,
      outputRepo: path.join(dir, 'repo'),
      imageTopic: 'LATISS-image',
      outcomeTopic: 'prompt-outcomes',
      instanceId: 'test-1',
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
    };
    activator = await startActivator({ config, processor, log: silentLogger(), services });
  };

  const upload = async (v: NextVisit, snap: number, bytes = new Uint8Array([snap])): Promise<void> => {
    await bucket.put(buildObjectKey({ instrument: v.instrument, detector: v.detector, group: v.group, snap, filter: v.filter }), bytes);
  };

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'activator-'));
    brokerSvc = await startEmbeddedBroker({ port: 0 });
    broker = createBroker(brokerSvc.url);
    services = new Services();
    await broker.ensureTopic('LATISS-image');
    await broker.ensureTopic('prompt-outcomes');
    await broker.ensureSubscription('outcomes', 'prompt-outcomes', { ackDeadlineSeconds: 30 });
    bucket = new LocalBucket({
      root: path.join(dir, 'bucket'),
      notify: async (url, topic, m) => {
        await services.broker(url).publish(topic, [m]);
      },
    });
    await bucket.addNotification({ topic: 'LATISS-image', broker: brokerSvc.url, prefix: 'LATISS/' });
    processor = new RecordingProcessor();
    await start();
  });

  afterEach(async () => {
    await activator.close();
    await services.close();
    await broker.close();
    await brokerSvc.close();
    await rm(dir, { recursive: true, force: true });
  });

  const outcomes = async (): Promise<ReturnType<typeof decodeOutcome>[]> => {
    const got = await broker.pull('outcomes', { maxMessages: 50, waitMs: 200 });
    if (got.length) await broker.ack('outcomes', got.map((m) => m.ackId));
    return got.map((m) => decodeOutcome(m.data));
  };

  it('answers health checks', async () => {
    const r = await fetch(`${activator.url}/healthz`);
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ ok: true, instrument: 'LATISS', busy: false });
  });

  it('refuses a push with a wrong or missing token with 403', async () => {
    expect((await post(envelope(visit), 'wrong')).status).toBe(403);
    const r = await fetch(`${activator.url}/next-visit`, { method: 'POST', body: envelope(visit) });
    expect(r.status).toBe(403);
    expect(processor.calls).toHaveLength(0);
  });

  it('acknowledges a malformed envelope with 2xx and the reason, never a redelivery loop', async () => {
    for (const body of ['not json', '{}', '{"message":{"data":"%%%"}}', JSON.stringify({ message: { messageId: '1' } })]) {
      const r = await post(body);
      expect(r.status).toBe(200);
      const j = (await r.json()) as { disposition: string; reason: string };
      expect(j.disposition).toBe('invalid');
      expect(j.reason.length).toBeGreaterThan(5);
    }
    expect(processor.calls).toHaveLength(0);
  });

  it('acknowledges an invalid nextVisit naming the bad field', async () => {
    const r = await post(envelope({ ...visit, kind: 'SKY' }));
    expect(r.status).toBe(200);
    expect(((await r.json()) as { reason: string }).reason).toMatch(/kind must be one of/);
    const r2 = await post(envelope('{"instrument": "LATISS"'));
    expect(r2.status).toBe(200);
    expect(((await r2.json()) as { reason: string }).reason).toMatch(/not JSON/);
  });

  it('acknowledges a nextVisit for another instrument without processing it', async () => {
    const other = { ...visit, instrument: 'LSSTComCam', filter: 'r_03', snaps: 2 };
    const r = await post(envelope(other));
    expect(r.status).toBe(200);
    expect(((await r.json()) as { disposition: string }).disposition).toBe('no-work');
    expect(processor.calls).toHaveLength(0);
  });

  it('waits for the snap, processes it, writes outputs and announces the outcome', async () => {
    const answer = post(envelope(visit, nextVisitAttributes(visit)));
    await new Promise((r) => setTimeout(r, 300));
    await upload(visit, 0, new Uint8Array([42, 43]));
    const r = await answer;
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ disposition: 'done', status: 'processed' });
    expect(processor.calls).toHaveLength(1);
    expect(Array.from(processor.calls[0].snaps[0].bytes)).toEqual([42, 43]);
    const [o] = await outcomes();
    expect(o).toMatchObject({ instrument: 'LATISS', group: visit.group, detector: 0, status: 'processed', snaps: 1, sources: 7 });
    expect(o.latencySeconds).toBeGreaterThanOrEqual(0);
    expect(o.latencySeconds).toBeLessThan(5);
    expect(o.outputs['processed.fits']).toMatch(/LATISS\/2026112700001\/000\/processed\.fits$/);
  });

  it('finds a snap that arrived before its nextVisit', async () => {
    await upload(visit, 0);
    const r = await post(envelope(visit));
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ status: 'processed' });
    expect(processor.calls[0].snaps).toHaveLength(1);
  });

  it('gives up after IMAGE_TIMEOUT with a timedOut outcome (acknowledged)', async () => {
    const t = Date.now();
    const r = await post(envelope(visit));
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ status: 'timedOut' });
    expect(Date.now() - t).toBeGreaterThanOrEqual(1900);
    expect(processor.calls).toHaveLength(0);
    const [o] = await outcomes();
    expect(o.status).toBe('timedOut');
    expect(o.reason).toMatch(/IMAGE_TIMEOUT=2s/);
  });

  it('refuses a second concurrent request with 429 so that it is redelivered elsewhere', async () => {
    processor.delayMs = 500;
    await upload(visit, 0);
    const first = post(envelope(visit));
    await new Promise((r) => setTimeout(r, 100));
    const second = await post(envelope({ ...visit, group: '2026112700002' }));
    expect(second.status).toBe(429);
    expect((await first).status).toBe(200);
  });

  it('does not process a redelivered nextVisit twice, and announces the same outcome again', async () => {
    await upload(visit, 0);
    expect((await post(envelope(visit))).status).toBe(200);
    const again = await post(envelope(visit));
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ disposition: 'no-work' });
    expect(processor.calls).toHaveLength(1);
    const os = await outcomes();
    expect(os).toHaveLength(2);
    expect(os[0]).toEqual(os[1]);
  });

  it('acknowledges a raw the pipeline rejects as bad input, with a failed outcome', async () => {
    processor.failWith = new InvalidInputError('HDU 3 (Segment12) is truncated at byte 1234');
    await upload(visit, 0);
    const r = await post(envelope(visit));
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ status: 'failed', reason: expect.stringMatching(/truncated/) });
  });

  it('answers 5xx when a retry can help (the broker is down)', async () => {
    await activator.close();
    const closed = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const port = (srv.address() as AddressInfo).port;
        srv.close(() => resolve(port));
      });
    });
    await start({ brokerUrl: `http://127.0.0.1:${closed}` });
    const r = await post(envelope(visit));
    expect(r.status).toBeGreaterThanOrEqual(500);
  });

  it('ignores objects under the prefix whose key is not a valid raw key', async () => {
    await bucket.put('LATISS/0/2026112700001/0/garbage.fz', new Uint8Array([1]));
    const r = await post(envelope(visit));
    expect(await r.json()).toMatchObject({ status: 'timedOut', reason: expect.stringMatching(/rejected: .*garbage/) });
  });

  it('waits for both snaps of a two-snap visit', async () => {
    await activator.close();
    await start({ instrument: 'LSSTComCam', imageTopic: 'LATISS-image' });
    const v2: NextVisit = { instrument: 'LSSTComCam', detector: 4, group: '2026112700003', snaps: 2, filter: 'r_03', ra: 1, dec: 2, kind: 'SCIENCE' };
    await bucket.addNotification({ topic: 'LATISS-image', broker: brokerSvc.url, prefix: 'LSSTComCam/' });
    const answer = post(envelope(v2));
    await upload(v2, 0);
    await new Promise((r) => setTimeout(r, 300));
    await upload(v2, 1);
    const r = await answer;
    expect(await r.json()).toMatchObject({ status: 'processed' });
    expect(processor.calls[0].snaps.map((s) => s.key.snap)).toEqual([0, 1]);
  });
});
