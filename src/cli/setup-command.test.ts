import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openApdb, parseApdbConfig } from '../apdb/index.ts';
import { Butler } from '../butler/butler.ts';
import { createBroker } from '../messaging/index.ts';
import { startEmbeddedBroker } from '../messaging/embedded/embedded-server.ts';
import { parsePushEnvelope } from '../messaging/push-envelope.ts';
import { startPushEndpoint, waitFor } from '../messaging/testing.ts';
import { parseStorageNotification } from '../messages/storage-notification.ts';
import { LocalBucket } from '../storage/local/local-bucket.ts';
import { runSetup } from './setup-command.ts';

describe('prompt setup', () => {
  it('creates topics, the push subscription, bucket notifications, the central repository and the APDB; a second run changes nothing', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'setup-'));
    const svc = await startEmbeddedBroker({ port: 0 });
    const endpoint = await startPushEndpoint(() => 200);
    const broker = createBroker(svc.url);
    try {
      const opts = {
        instrument: 'LATISS' as const,
        broker: svc.url,
        bucket: path.join(dir, 'bucket'),
        endpoint: endpoint.url,
        token: 'tok',
        subscription: 'nextVisit-sub',
        centralRepo: path.join(dir, 'central'),
        apdb: `sqlite:///${path.join(dir, 'apdb.sqlite3')}`,
        alertTopic: 'alerts',
        outcomeTopic: 'prompt-outcomes',
      };
      const lines: string[] = [];
      expect(await runSetup(opts, (l) => lines.push(l))).toBe(0);
      expect(lines.join('\n')).toMatch(/subscription nextVisit-sub on nextVisit: push to .*\/next-visit\?token=…/);
      expect(lines.join('\n')).toMatch(/created the APDB/);
      const again: string[] = [];
      expect(await runSetup(opts, (l) => again.push(l))).toBe(0);
      expect(again.join('\n')).toMatch(/already exists/);

      // A LATISS nextVisit is pushed to the service's endpoint with the token; another instrument's is not.
      await broker.publish('nextVisit', [
        { data: new TextEncoder().encode('{"instrument":"LSSTCam"}'), attributes: { instrument: 'LSSTCam' } },
        { data: new TextEncoder().encode('{"instrument":"LATISS"}'), attributes: { instrument: 'LATISS' } },
      ]);
      await waitFor(() => endpoint.requests.length >= 1, { what: 'a push' });
      await new Promise((r) => setTimeout(r, 200));
      expect(endpoint.requests).toHaveLength(1);
      expect(endpoint.requests[0].url).toBe('/next-visit?token=tok');
      expect(parsePushEnvelope(JSON.parse(endpoint.requests[0].rawBody)).attributes.instrument).toBe('LATISS');

      // The bucket announces LATISS objects on LATISS-image, once (the second run did not add a notification).
      await broker.ensureSubscription('images', 'LATISS-image');
      const bucket = new LocalBucket({ root: opts.bucket, notify: async (url, topic, m) => void (await createBroker(url).publish(topic, [m])) });
      await bucket.put('LATISS/0/2026112700001/0/x.fz', new Uint8Array([1]));
      await bucket.put('DECam/1/2026112700001/0/y.fz', new Uint8Array([1]));
      const got = await broker.pull('images', { maxMessages: 10, waitMs: 1000 });
      expect(got.map((m) => parseStorageNotification(m).object.key)).toEqual(['LATISS/0/2026112700001/0/x.fz']);

      const b = await Butler.open(opts.centralRepo);
      expect(JSON.stringify(await b.registry.dimensionRecords('instrument'))).toContain('"LATISS"');
      await b.close();
      const apdb = await openApdb(parseApdbConfig([`db_url=${opts.apdb}`]));
      expect((await apdb.counts()).diaSources).toBe(0);
      await apdb.close();
    } finally {
      await broker.close();
      await endpoint.close();
      await svc.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
