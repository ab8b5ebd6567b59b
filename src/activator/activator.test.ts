import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../core/errors.ts';
import { buildObjectKey } from '../instruments/keys.ts';
import { nextVisitAttributes, type NextVisit } from '../messages/next-visit.ts';
import type { NextVisitCarrier } from '../messages/next-visit-event.ts';
import { decodeOutcome } from '../messages/outcome.ts';
import { createBroker } from '../messaging/backends.ts';
import type { Broker } from '../messaging/broker.ts';
import { startEmbeddedBroker } from '../messaging/embedded/embedded-server.ts';
import { buildPushEnvelope } from '../messaging/push-envelope.ts';
import { silentLogger } from '../observability/logger.ts';
import { LocalBucket } from '../storage/local/local-bucket.ts';
import { Services } from '../runtime/services.ts';
import { carrierRetries } from './ack-policy.ts';
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

  /** The fan-out fields (FORMATS.md D) for a visit: what Knative and KEDA deliver. */
  const fanOut = (v: NextVisit): Record<string, unknown> => ({
    salIndex: 2,
    scriptSalIndex: 100017,
    instrument: v.instrument,
    groupId: v.group,
    coordinateSystem: 2,
    position: [v.ra, v.dec],
    startTime: 1746068682.0,
    rotationSystem: 2,
    cameraAngle: 90.0,
    filters: v.filter,
    dome: 2,
    duration: 39.0,
    nimages: v.snaps,
    survey: 'BLOCK-365',
    totalCheckpoints: 0,
    private_sndStamp: 1746068680.5,
    detector: v.detector,
  });
  /** The same with every value a string, as the Redis stream carries it. */
  const fanOutStrings = (v: NextVisit): Record<string, string> =>
    Object.fromEntries(Object.entries(fanOut(v)).map(([k, x]) => [k, Array.isArray(x) ? `[${x.join(', ')}]` : String(x)]));

  /** Knative KafkaSource's binary-mode headers for a record (FORMATS.md C4). */
  const kafkaSource = (offset: number): Record<string, string> => ({
    'ce-specversion': '1.0',
    'ce-type': 'dev.knative.kafka.event',
    'ce-source': '/apis/v1/namespaces/prompt/kafkasources/next-visit#next-visit-fanned-out',
    'ce-subject': `partition:0#${offset}`,
    'ce-id': `partition:0/offset:${offset}`,
    'ce-time': '2026-11-27T03:04:05.678Z',
    'ce-key': 'LATISS',
    traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    'content-type': 'application/json',
  });
  const STRUCTURED = { 'content-type': 'application/cloudevents+json' };
  const structured = (fields: Record<string, unknown>): string =>
    JSON.stringify({ specversion: '1.0', id: String(Math.random()), source: 'lsst.sal.ScriptQueue.logevent_nextVisit', type: 'com.example.kafka', ...fields });

  type Delivery = { carrier: NextVisitCarrier; headers: Record<string, string>; body: string };
  /** One delivery of the visit per carrier and shape. */
  const deliveries = (v: NextVisit): Array<[string, Delivery]> => [
    ['Pub/Sub push, canonical', { carrier: 'pubsub-push', headers: { 'content-type': 'application/json' }, body: envelope(v) }],
    ['Pub/Sub push, fan-out as strings', { carrier: 'pubsub-push', headers: { 'content-type': 'application/json' }, body: envelope(fanOutStrings(v)) }],
    ['KafkaSource binary, canonical', { carrier: 'cloudevent-binary', headers: kafkaSource(1), body: JSON.stringify(v) }],
    ['KafkaSource binary, fan-out', { carrier: 'cloudevent-binary', headers: kafkaSource(2), body: JSON.stringify(fanOut(v)) }],
    ['structured, data an object', { carrier: 'cloudevent-structured', headers: STRUCTURED, body: structured({ data: fanOut(v) }) }],
    ['structured, data a JSON string', { carrier: 'cloudevent-structured', headers: STRUCTURED, body: structured({ data: JSON.stringify(fanOut(v)) }) }],
    ['structured, data_base64', { carrier: 'cloudevent-structured', headers: STRUCTURED, body: structured({ data_base64: Buffer.from(JSON.stringify(fanOut(v))).toString('base64') }) }],
    ['structured, values as strings', { carrier: 'cloudevent-structured', headers: STRUCTURED, body: structured({ data: JSON.stringify(fanOutStrings(v)) }) }],
  ];

  const deliver = (d: Pick<Delivery, 'headers' | 'body'>, opts: { token?: string; path?: string } = {}): Promise<Response> =>
    fetch(`${activator.url}${opts.path ?? '/next-visit'}?token=${encodeURIComponent(opts.token ?? TOKEN)}`, {
      method: 'POST',
      headers: d.headers,
      body: d.body,
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
  it('processes the same nextVisit from every carrier and shape, answering each by its rules', async () => {
    const count = deliveries(visit).length;
    for (let i = 0; i < count; i++) {
      const v: NextVisit = { ...visit, group: `20261127000${10 + i}` };
      await upload(v, 0);
      const [name, mine] = deliveries(v)[i];
      const r = await deliver(mine);
      const j = (await r.json()) as { disposition: string; carrier: string; status: string };
      expect(j, name).toMatchObject({ disposition: 'done', carrier: mine.carrier, status: 'processed' });
      expect(r.status, name).toBe(mine.carrier === 'pubsub-push' ? 200 : 202);
      expect(carrierRetries(mine.carrier, r.status), name).toBe(false);
      expect(processor.calls[i].visit, name).toEqual(v);
    }
    expect(processor.calls).toHaveLength(count);
  });

  it('takes CloudEvents posted to the root, where Knative sinks post by default', async () => {
    await upload(visit, 0);
    const r = await deliver({ headers: kafkaSource(7), body: JSON.stringify(fanOut(visit)) }, { path: '/' });
    expect(r.status).toBe(202);
    expect(await r.json()).toMatchObject({ disposition: 'done', status: 'processed' });
    const again = await deliver({ headers: STRUCTURED, body: structured({ data: JSON.stringify(fanOut(visit)) }) }, { path: '/' });
    expect(again.status).toBe(202);
    expect(await again.json()).toMatchObject({ disposition: 'no-work' });
    expect(processor.calls).toHaveLength(1);
  });

  it('refuses a CloudEvent with a wrong or missing token with 403, which Knative does not retry', async () => {
    for (const [, d] of deliveries(visit).filter(([, x]) => x.carrier !== 'pubsub-push')) {
      const r = await deliver(d, { token: 'wrong' });
      expect(r.status).toBe(403);
      expect(carrierRetries('cloudevent-binary', r.status)).toBe(false);
    }
    const r = await fetch(`${activator.url}/`, { method: 'POST', headers: kafkaSource(1), body: JSON.stringify(visit) });
    expect(r.status).toBe(403);
    expect(processor.calls).toHaveLength(0);
  });

  it('refuses malformed CloudEvents with 400 and the reason: Knative does not retry them', async () => {
    const bad: Array<[Record<string, string>, string, RegExp]> = [
      [{ ...kafkaSource(1), 'ce-id': '' }, JSON.stringify(visit), /ce-id is empty/],
      [kafkaSource(1), '{"instrument": "LATISS"', /CloudEvent data is not JSON/],
      [kafkaSource(1), JSON.stringify({ ...fanOut(visit), detector: 'four' }), /detector must be an integer .*"four"/],
      [kafkaSource(1), JSON.stringify({ ...fanOut(visit), detector: undefined }), /detector is missing/],
      [STRUCTURED, '{"specversion":"1.0"', /not JSON/],
      [STRUCTURED, structured({}), /neither data nor data_base64/],
      [STRUCTURED, structured({ data: JSON.stringify({ ...fanOutStrings(visit), nimages: 'two' }) }), /nimages must be an integer/],
      [STRUCTURED, structured({ data: JSON.stringify({ ...fanOutStrings(visit), position: '[10, -20' }) }), /position .* is not a JSON array/],
      [STRUCTURED, structured({ data: { ...fanOut(visit), coordinateSystem: 4 } }), /coordinateSystem 4 \(MOUNT\)/],
      [STRUCTURED, structured({ data_base64: '***' }), /data_base64 is not base64/],
      [{ 'content-type': 'application/cloudevents-batch+json' }, '[]', /batch mode/],
    ];
    for (const [headers, body, why] of bad) {
      const r = await deliver({ headers, body });
      expect(r.status, String(why)).toBe(400);
      expect(carrierRetries('cloudevent-structured', r.status)).toBe(false);
      const j = (await r.json()) as { disposition: string; reason: string };
      expect(j.disposition).toBe('invalid');
      expect(j.reason).toMatch(why);
    }
    expect(processor.calls).toHaveLength(0);
  });

  it('acknowledges a malformed fan-out nextVisit in a push envelope with 2xx and the reason', async () => {
    const r = await post(envelope({ ...fanOutStrings(visit), startTime: 'soon' }));
    expect(r.status).toBe(200);
    expect(carrierRetries('pubsub-push', r.status)).toBe(false);
    expect(await r.json()).toMatchObject({ disposition: 'invalid', reason: expect.stringMatching(/startTime must be a finite number/) });
  });

  it('acknowledges a fan-out nextVisit that is not an observation (blank instrument) on every carrier', async () => {
    const blank = { ...fanOut(visit), instrument: '' };
    const p = await post(envelope(blank));
    expect(p.status).toBe(200);
    const k = await deliver({ headers: STRUCTURED, body: structured({ data: JSON.stringify(blank) }) });
    expect(k.status).toBe(202);
    expect(await k.json()).toMatchObject({ disposition: 'no-work', reason: expect.stringMatching(/not an observation/) });
    expect(activator.app.counters.notObservation).toBe(2);
    expect(processor.calls).toHaveLength(0);
  });

  it('acknowledges a CloudEvent for another instrument with 202', async () => {
    const other: NextVisit = { ...visit, instrument: 'LSSTComCam', filter: 'r_03', snaps: 2 };
    const r = await deliver({ headers: kafkaSource(3), body: JSON.stringify(fanOut(other)) });
    expect(r.status).toBe(202);
    expect(await r.json()).toMatchObject({ disposition: 'no-work' });
    expect(processor.calls).toHaveLength(0);
  });

  it('answers every carrier so that it retries when a retry can help (the broker is down)', async () => {
    await activator.close();
    const closed = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const port = (srv.address() as AddressInfo).port;
        srv.close(() => resolve(port));
      });
    });
    await start({ brokerUrl: `http://127.0.0.1:${closed}` });
    for (const [name, d] of deliveries(visit)) {
      const r = await deliver(d);
      expect(r.status, name).toBe(503);
      expect(r.headers.get('retry-after'), name).toBe('5');
      expect(carrierRetries(d.carrier, r.status), name).toBe(true);
      expect(((await r.json()) as { disposition: string }).disposition).toBe('retry');
    }
  });
});
