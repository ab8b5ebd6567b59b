import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildObjectKey } from '../instruments/keys.ts';
import type { NextVisit } from '../messages/next-visit.ts';
import { parseS3Event, parseStorageNotifications } from '../messages/storage-notification.ts';
import { createBroker } from '../messaging/backends.ts';
import type { Broker } from '../messaging/broker.ts';
import { startEmbeddedBroker } from '../messaging/embedded/embedded-server.ts';
import { buildPushEnvelope } from '../messaging/push-envelope.ts';
import { silentLogger } from '../observability/logger.ts';
import { Services } from '../runtime/services.ts';
import { LocalBucket } from '../storage/local/local-bucket.ts';
import type { ActivatorConfig } from './config.ts';
import { startActivator, type RunningActivator } from './server.ts';
import type { IngestedSnap, ProcessResult, VisitProcessor } from './visit-flow.ts';

const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));

/** An S3 event record set as MinIO publishes it (its wrapper, `s3:` prefix, URL-encoded key). */
function minioEvent(bucket: string, key: string, eventName = 's3:ObjectCreated:Put', time = new Date()): Uint8Array {
  const encoded = encodeURIComponent(key).replace(/%2F/g, '/').replace(/%20/g, '+');
  return enc({
    EventName: eventName,
    Key: `${bucket}/${key}`,
    Records: [
      {
        eventVersion: '2.0',
        eventSource: 'minio:s3',
        awsRegion: '',
        eventTime: time.toISOString(),
        eventName,
        userIdentity: { principalId: 'tester' },
        s3: {
          s3SchemaVersion: '1.0',
          configurationId: 'Config',
          bucket: { name: bucket, ownerIdentity: { principalId: 'tester' }, arn: `arn:aws:s3:::${bucket}` },
          object: { key: encoded, size: 2, eTag: 'e', contentType: 'application/fits', sequencer: '17A0' },
        },
        source: { host: '127.0.0.1', port: '', userAgent: 'tester' },
      },
    ],
  });
}

describe('S3 event records (AWS, MinIO, Ceph RGW)', () => {
  it('ObjectCreated becomes OBJECT_FINALIZE with the decoded key; removals and other events are told apart', () => {
    const t = new Date('2026-11-27T03:04:05.678Z');
    const [n] = parseS3Event(minioEvent('rubin-raw', 'LATISS/0/2026112700001/0/a b+c.fz', 's3:ObjectCreated:Put', t));
    expect(n).toMatchObject({ eventType: 'OBJECT_FINALIZE', object: { bucket: 'rubin-raw', key: 'LATISS/0/2026112700001/0/a b+c.fz', size: 2, generation: String(t.getTime() * 1000) } });
    expect(n.dedupeKey).toBe('rubin-raw/LATISS/0/2026112700001/0/a b+c.fz#17A0');
    // AWS: no prefix, size a number; Ceph: size a string.
    const aws = enc({ Records: [{ eventName: 'ObjectCreated:CompleteMultipartUpload', eventTime: t.toISOString(), s3: { bucket: { name: 'b' }, object: { key: 'k%2B1', size: '7' } } }] });
    expect(parseS3Event(aws)[0]).toMatchObject({ eventType: 'OBJECT_FINALIZE', object: { key: 'k+1', size: 7 } });
    expect(parseS3Event(minioEvent('b', 'k', 's3:ObjectRemoved:Delete'))[0].eventType).toBe('OBJECT_DELETE');
    expect(parseS3Event(minioEvent('b', 'k', 's3:ObjectAccessed:Get'))).toEqual([]);
    // A Cloud Storage notification still goes its own way.
    expect(() => parseStorageNotifications({ data: new Uint8Array(), attributes: { eventType: 'OBJECT_FINALIZE' } })).toThrow(/attribute/);
  });

  it('bad records are refused with the reason', () => {
    expect(() => parseS3Event(new TextEncoder().encode('nope'))).toThrow(/not JSON/);
    expect(() => parseS3Event(enc({ records: [] }))).toThrow(/no Records/);
    expect(() => parseS3Event(enc({ Records: [{ eventName: 'ObjectCreated:Put', eventTime: 'x', s3: { bucket: { name: 'b' }, object: { key: 'k' } } }] }))).toThrow(/eventTime 'x'/);
    expect(() => parseS3Event(enc({ Records: [{ eventName: 'ObjectCreated:Put', eventTime: '2026-01-01T00:00:00Z', s3: { bucket: { name: 'b' } } }] }))).toThrow(/record 0: s3.object/);
  });
});

class RecordingProcessor implements VisitProcessor {
  calls: Array<{ visit: NextVisit; snaps: IngestedSnap[] }> = [];
  async process(visit: NextVisit, snaps: readonly IngestedSnap[]): Promise<ProcessResult> {
    this.calls.push({ visit, snaps: [...snaps] });
    return { files: { 'processed.fits': new Uint8Array([1]) }, sources: 1, timings: {}, summary: {} };
  }
  async close(): Promise<void> {}
}

describe('activator with a bucket that publishes S3 event records (IMAGE_NOTIFICATIONS=s3)', () => {
  let dir: string;
  let brokerSvc: { url: string; close(): Promise<void> };
  let broker: Broker;
  let activator: RunningActivator;
  let services: Services;
  const processor = new RecordingProcessor();
  const visit: NextVisit = { instrument: 'LATISS', detector: 0, group: '2026112700002', snaps: 1, filter: 'SDSSr_65mm', ra: 10, dec: -20, kind: 'SCIENCE' };

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'activator-s3-'));
    brokerSvc = await startEmbeddedBroker({ port: 0 });
    broker = createBroker(brokerSvc.url);
    services = new Services();
    await broker.ensureTopic('LATISS-image');
    const config: ActivatorConfig = {
      instrument: 'LATISS', verificationToken: 't', imageBucket: path.join(dir, 'bucket'), calibRepo: null, imageTimeoutS: 5, port: 0,
      host: '127.0.0.1', brokerUrl: brokerSvc.url, outputRepo: path.join(dir, 'repo'), imageTopic: 'LATISS-image', outcomeTopic: 'prompt-outcomes',
      instanceId: 's3-test', centralRepo: null, localRepo: path.join(dir, 'local'), deployment: 'test', pipeline: 'ApPipe', exportTypes: ['*'],
      calibCacheSize: 1, preloadPadArcsec: 60, apdbUrl: null, apdbNamespace: null, alertTopic: 'alerts', associationRadiusArcsec: 1,
      imageNotifications: 's3',
      nextVisitSubscription: null,
    };
    activator = await startActivator({ config, processor, log: silentLogger(), services });
  });

  afterEach(async () => {
    await activator.close();
    await services.close();
    await broker.close();
    await brokerSvc.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('ingests the snap an S3 event announces (another detector\'s events are ignored)', async () => {
    const body = JSON.stringify(
      buildPushEnvelope({ subscription: 'projects/local/subscriptions/nextVisit-sub', messageId: '1', publishTime: new Date().toISOString(), data: new TextEncoder().encode(JSON.stringify(visit)), attributes: {} }),
    );
    const answer = fetch(`${activator.url}/next-visit?token=t`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    await new Promise((r) => setTimeout(r, 400));
    // The bucket has no notification of its own here: the object is written, then its S3 event published.
    const bucket = new LocalBucket({ root: path.join(dir, 'bucket') });
    const other = buildObjectKey({ ...visit, group: '2026112700003', snap: 0 });
    const key = buildObjectKey({ ...visit, snap: 0 });
    await bucket.put(other, new Uint8Array([9]));
    await bucket.put(key, new Uint8Array([4, 2]));
    await broker.publish('LATISS-image', [{ data: minioEvent('rubin-raw', other) }, { data: minioEvent('rubin-raw', key) }]);
    const r = await answer;
    expect(await r.json()).toMatchObject({ disposition: 'done', status: 'processed' });
    expect(processor.calls).toHaveLength(1);
    expect(processor.calls[0].snaps.map((s) => s.objectKey)).toEqual([key]);
    expect(Array.from(processor.calls[0].snaps[0].bytes)).toEqual([4, 2]);
  });
});
