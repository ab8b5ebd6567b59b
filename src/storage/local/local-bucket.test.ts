import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseStorageNotification } from '../../messages/storage-notification.ts';
import { objectStoreContract } from '../object-store.contract.ts';
import { LocalBucket } from './local-bucket.ts';

objectStoreContract('local directory bucket', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'bucket-'));
  return { store: new LocalBucket({ root: path.join(dir, 'raw') }), teardown: () => rm(dir, { recursive: true, force: true }) };
});

describe('LocalBucket notifications', () => {
  it('publishes OBJECT_FINALIZE in JSON_API_V1 only for keys under the configured prefix', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'bucket-'));
    try {
      const sent: Array<{ broker: string; topic: string; data: Uint8Array; attributes: Record<string, string> }> = [];
      const b = new LocalBucket({
        root: path.join(dir, 'rubin-raw'),
        notify: async (broker, topic, m) => {
          sent.push({ broker, topic, ...m });
        },
      });
      await b.addNotification({ topic: 'LATISS-image', broker: 'http://broker', prefix: 'LATISS/' });
      const obj = await b.put('LATISS/0/2026112700001/0/f.fz', new Uint8Array([9, 9, 9]));
      await b.put('DECam/1/2026112700001/0/f.fz', new Uint8Array([1]));
      expect(sent).toHaveLength(1);
      expect(sent[0].topic).toBe('LATISS-image');
      expect(sent[0].broker).toBe('http://broker');
      expect(sent[0].attributes).toMatchObject({
        eventType: 'OBJECT_FINALIZE',
        payloadFormat: 'JSON_API_V1',
        bucketId: 'rubin-raw',
        objectId: 'LATISS/0/2026112700001/0/f.fz',
        objectGeneration: obj.generation,
        notificationConfig: 'projects/_/buckets/rubin-raw/notificationConfigs/1',
      });
      const resource = JSON.parse(new TextDecoder().decode(sent[0].data));
      expect(resource).toMatchObject({ kind: 'storage#object', name: obj.key, bucket: 'rubin-raw', size: '3', generation: obj.generation });
      const parsed = parseStorageNotification(sent[0]);
      expect(parsed.object.size).toBe(3);
      expect(parsed.dedupeKey).toBe(`rubin-raw/${obj.key}#${obj.generation}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('never shows a partial upload and leaves no temporary files behind', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'bucket-'));
    try {
      const b = new LocalBucket({ root: dir });
      const big = new Uint8Array(8 * 1024 * 1024).fill(7);
      const writing = b.put('X/big', big);
      // While the write is in flight the object is either absent or complete.
      const seen = await b.stat('X/big');
      expect(seen === null || seen.size === big.length).toBe(true);
      await writing;
      expect((await b.stat('X/big'))?.size).toBe(big.length);
      expect(await readdir(path.join(dir, '.bucket', 'tmp'))).toEqual([]);
      expect((await b.list('')).map((o) => o.key)).toEqual(['X/big']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses the reserved metadata folder as a key', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'bucket-'));
    try {
      const b = new LocalBucket({ root: dir });
      await expect(b.put('.bucket/notifications.json', new Uint8Array([1]))).rejects.toThrow(/reserved/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
