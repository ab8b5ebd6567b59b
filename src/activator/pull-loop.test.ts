import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TransientError } from '../core/errors.ts';
import { buildObjectKey } from '../instruments/keys.ts';
import { nextVisitAttributes, type NextVisit } from '../messages/next-visit.ts';
import { createBroker } from '../messaging/backends.ts';
import type { Broker } from '../messaging/broker.ts';
import { startEmbeddedBroker } from '../messaging/embedded/embedded-server.ts';
import { waitFor } from '../messaging/testing.ts';
import { silentLogger } from '../observability/logger.ts';
import { Services } from '../runtime/services.ts';
import { LocalBucket } from '../storage/local/local-bucket.ts';
import type { ActivatorConfig } from './config.ts';
import { startActivator, type RunningActivator } from './server.ts';
import type { IngestedSnap, ProcessResult, VisitProcessor } from './visit-flow.ts';

/** Records every call in a list shared by all workers; fails the first attempt of chosen groups. */
class SharedProcessor implements VisitProcessor {
  constructor(
    private readonly calls: Array<{ worker: string; group: string; detector: number }>,
    private readonly worker: string,
    private readonly failOnce: Set<string>,
  ) {}
  async process(visit: NextVisit, snaps: readonly IngestedSnap[]): Promise<ProcessResult> {
    this.calls.push({ worker: this.worker, group: visit.group, detector: visit.detector });
    await new Promise((r) => setTimeout(r, 100));
    if (this.failOnce.delete(`${visit.group}/${visit.detector}`)) throw new TransientError('the repository is briefly unreachable');
    return { files: { 'processed.fits': new Uint8Array([snaps.length]) }, sources: 1, timings: {}, summary: {} };
  }
  async close(): Promise<void> {}
}

describe('activators pulling their nextVisit messages (brokers that do not push)', () => {
  let dir: string;
  let brokerSvc: { url: string; close(): Promise<void> };
  let broker: Broker;
  let services: Services;
  const workers: RunningActivator[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'pull-loop-'));
    brokerSvc = await startEmbeddedBroker({ port: 0 });
    broker = createBroker(brokerSvc.url);
    services = new Services();
    for (const t of ['nextVisit', 'LATISS-image', 'prompt-outcomes']) await broker.ensureTopic(t);
    await broker.ensureSubscription('nextVisit-work', 'nextVisit', { ackDeadlineSeconds: 30, filter: 'attributes.instrument = "LATISS"' });
  });

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.close()));
    await services.close();
    await broker.close();
    await brokerSvc.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('three workers share the visits: each detector-visit processed once, a retriable failure redelivered', async () => {
    const calls: Array<{ worker: string; group: string; detector: number }> = [];
    const failOnce = new Set(['2026112700003/0']);
    const bucket = new LocalBucket({ root: path.join(dir, 'bucket') });
    for (let i = 0; i < 3; i++) {
      const config: ActivatorConfig = {
        instrument: 'LATISS', verificationToken: 't', imageBucket: path.join(dir, 'bucket'), calibRepo: null, imageTimeoutS: 5, port: 0,
        host: '127.0.0.1', brokerUrl: brokerSvc.url, outputRepo: path.join(dir, 'repo'), imageTopic: 'LATISS-image', outcomeTopic: 'prompt-outcomes',
        instanceId: `w${i}`, centralRepo: null, localRepo: path.join(dir, `local-${i}`), deployment: 'test', pipeline: 'ApPipe', exportTypes: ['*'],
        calibCacheSize: 1, preloadPadArcsec: 60, apdbUrl: null, apdbNamespace: null, alertTopic: 'alerts', associationRadiusArcsec: 1,
        imageNotifications: 'gcs', nextVisitSubscription: 'nextVisit-work',
      };
      workers.push(await startActivator({ config, processor: new SharedProcessor(calls, `w${i}`, failOnce), log: silentLogger(), services }));
    }
    const visits: NextVisit[] = Array.from({ length: 6 }, (_, i) => ({
      instrument: 'LATISS', detector: 0, group: `202611270000${i + 1}`, snaps: 1, filter: 'SDSSr_65mm', ra: 10, dec: -20, kind: 'SCIENCE',
    }));
    // The snaps are there before the messages (the workers list the bucket first).
    for (const v of visits) await bucket.put(buildObjectKey({ ...v, snap: 0 }), new Uint8Array([1]));
    await broker.publish('nextVisit', [
      ...visits.map((v) => ({ data: new TextEncoder().encode(JSON.stringify(v)), attributes: nextVisitAttributes(v) })),
      // Another instrument's message never reaches these workers (the subscription filters it).
      { data: new TextEncoder().encode('{}'), attributes: { instrument: 'DECam' } },
    ]);
    await waitFor(() => new Set(calls.map((c) => c.group)).size === 6 && calls.length === 7, { timeoutMs: 20_000, what: 'every visit processed' });
    await new Promise((r) => setTimeout(r, 500));
    expect(calls).toHaveLength(7);
    const perGroup = new Map<string, number>();
    for (const c of calls) perGroup.set(c.group, (perGroup.get(c.group) ?? 0) + 1);
    expect(perGroup.get('2026112700003')).toBe(2);
    expect([...perGroup.values()].filter((n) => n === 1)).toHaveLength(5);
    // The work was shared.
    expect(new Set(calls.map((c) => c.worker)).size).toBeGreaterThan(1);
  }, 30_000);
});
