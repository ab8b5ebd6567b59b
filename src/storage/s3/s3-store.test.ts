import { createHash } from 'node:crypto';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ConfigError, NotFoundError } from '../../core/errors.ts';
import { openObjectStore } from '../backends.ts';
import { objectStoreContract } from '../object-store.contract.ts';
import type { ObjectStore } from '../object-store.ts';
import { startS3TestServer, type S3TestServer } from './s3-testing.ts';
import { createS3Store, type S3ClientLike, type S3CommandLike } from './s3-store.ts';

// [s3rver] An S3-compatible server in this process: 127.0.0.1, an ephemeral port, a temporary
// directory. Credentials reach the store the way they reach it in production: through the
// SDK's default chain, here from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
let server: S3TestServer;
let buckets = 0;
const newBucket = async (): Promise<string> => {
  const name = `bucket-${++buckets}`;
  await server.createBucket(name);
  return name;
};

beforeAll(async () => {
  server = await startS3TestServer();
  vi.stubEnv('AWS_ACCESS_KEY_ID', server.accessKeyId);
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', server.secretAccessKey);
  vi.stubEnv('AWS_SESSION_TOKEN', '');
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await server?.close();
});

objectStoreContract('s3 (s3rver in-process)', async () => {
  const store = createS3Store({ bucket: await newBucket(), endpoint: server.endpoint });
  return { store, teardown: () => store.close() };
});

objectStoreContract('s3 under a prefix, opened by URL (s3rver in-process)', async () => {
  const bucket = await newBucket();
  // Objects outside the prefix must stay invisible to every contract check.
  await server.putObject(bucket, 'A/1/outside', new Uint8Array([7]));
  await server.putObject(bucket, 'some/prefixed/x', new Uint8Array([7]));
  const store = openObjectStore(`s3://${bucket}/some/prefix?endpoint=${encodeURIComponent(server.endpoint)}`);
  return { store, teardown: () => store.close() };
});

const withStores = async (stores: ObjectStore[], fn: () => Promise<void>): Promise<void> => {
  try {
    await fn();
  } finally {
    await Promise.all(stores.map((s) => s.close()));
  }
};

describe('S3 store [s3rver]', () => {
  it('keeps stores with different prefixes in one bucket apart', async () => {
    const bucket = await newBucket();
    const a = createS3Store({ bucket, prefix: 'a', endpoint: server.endpoint });
    const ab = createS3Store({ bucket, prefix: 'ab/', endpoint: server.endpoint });
    const root = createS3Store({ bucket, endpoint: server.endpoint });
    await withStores([a, ab, root], async () => {
      const put = await a.put('k/x.fits', new Uint8Array([1, 2]));
      expect(put.key).toBe('k/x.fits');
      await ab.put('k/y', new Uint8Array([3]));
      expect((await a.list('')).map((o) => o.key)).toEqual(['k/x.fits']);
      expect((await ab.list('k/')).map((o) => o.key)).toEqual(['k/y']);
      expect((await root.list('')).map((o) => o.key)).toEqual(['a/k/x.fits', 'ab/k/y']);
      expect(await ab.stat('k/x.fits')).toBeNull();
      await expect(ab.get('k/x.fits')).rejects.toBeInstanceOf(NotFoundError);
      expect(Array.from(await root.get('a/k/x.fits'))).toEqual([1, 2]);
      await ab.delete('k/x.fits'); // another store's key: nothing happens to a's object
      expect((await a.stat('k/x.fits'))?.size).toBe(2);
    });
  });

  it('reports the same generation, size and MD5 from put, stat and list', async () => {
    const store = createS3Store({ bucket: await newBucket(), endpoint: server.endpoint });
    await withStores([store], async () => {
      const put = await store.put('v/raw.fits', new Uint8Array([5, 6, 7]), { contentType: 'image/fits' });
      const st = await store.stat('v/raw.fits');
      const [listed] = await store.list('v/');
      expect(st).toEqual(put);
      expect(listed).toEqual(put);
      expect(put.md5Base64).toBe(createHash('md5').update(new Uint8Array([5, 6, 7])).digest('base64'));
      expect(put.updated).toBe(new Date(Number(BigInt(put.generation) / 1000n)).toISOString());
    });
  });

  it('pages through a listing with continuation tokens (small pages)', async () => {
    const bucket = await newBucket();
    const keys = Array.from({ length: 23 }, (_, i) => `p/${String(i).padStart(3, '0')}`);
    await Promise.all(keys.map((k) => server.putObject(bucket, `pre/${k}`, new Uint8Array([1]))));
    await server.putObject(bucket, 'pre/p/', new Uint8Array(0)); // a folder marker is not an object
    const { client, pages } = countingClient(server);
    const store = createS3Store({ bucket, prefix: 'pre', endpoint: server.endpoint, pageSize: 5 }, { client });
    await withStores([store], async () => {
      expect((await store.list('p/')).map((o) => o.key)).toEqual(keys);
      expect(pages()).toBe(5);
    });
    client.destroy();
  });

  it('lists more than 1000 keys (S3 caps a page at 1000)', async () => {
    const bucket = await newBucket();
    const keys = Array.from({ length: 1003 }, (_, i) => `many/${String(i).padStart(4, '0')}`);
    for (let i = 0; i < keys.length; i += 100) {
      await Promise.all(keys.slice(i, i + 100).map((k) => server.putObject(bucket, k, new Uint8Array([1]))));
    }
    const { client, pages } = countingClient(server);
    const store = createS3Store({ bucket, endpoint: server.endpoint }, { client });
    await withStores([store], async () => {
      const listed = await store.list('many/');
      expect(listed.length).toBe(1003);
      expect(listed.map((o) => o.key)).toEqual(keys);
      expect(pages()).toBe(2);
    });
    client.destroy();
  });

  it('maps a missing bucket to ConfigError naming the bucket, for every operation', async () => {
    const store = createS3Store({ bucket: 'no-such-bucket', endpoint: server.endpoint });
    await withStores([store], async () => {
      for (const op of [
        () => store.put('k', new Uint8Array([1])),
        () => store.get('k'),
        () => store.stat('k'),
        () => store.list(''),
        () => store.delete('k'),
      ]) {
        const err = await op().then(
          () => null,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(ConfigError);
        expect((err as Error).message).toContain("bucket 'no-such-bucket' does not exist");
      }
    });
  });

  it('maps rejected credentials to ConfigError with a hint, and never shows the secret', async () => {
    const bucket = await newBucket();
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'NOT-A-KEY');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'very-secret-value');
    const store = createS3Store({ bucket, endpoint: server.endpoint });
    try {
      for (const op of [() => store.list(''), () => store.stat('k'), () => store.put('k', new Uint8Array([1])), () => store.get('k')]) {
        const err = (await op().then(
          () => null,
          (e: unknown) => e,
        )) as Error;
        expect(err).toBeInstanceOf(ConfigError);
        expect(err.message).toMatch(/refused.*AWS_ACCESS_KEY_ID/);
        expect(err.message).not.toContain('very-secret-value');
      }
    } finally {
      await store.close();
      vi.stubEnv('AWS_ACCESS_KEY_ID', server.accessKeyId);
      vi.stubEnv('AWS_SECRET_ACCESS_KEY', server.secretAccessKey);
    }
  });

  it('takes the endpoint from AWS_ENDPOINT_URL_S3 when the config has none', async () => {
    const bucket = await newBucket();
    const store = createS3Store({ bucket }, { env: { AWS_ENDPOINT_URL_S3: server.endpoint } });
    await withStores([store], async () => {
      await store.put('e/x', new Uint8Array([1]));
      expect((await store.list('e/')).map((o) => o.key)).toEqual(['e/x']);
    });
  });

  it('maps an unreachable endpoint to TransientError', async () => {
    const closed = await startS3TestServer();
    await closed.close();
    const store = createS3Store({ bucket: 'bkt', endpoint: closed.endpoint });
    await withStores([store], async () => {
      await expect(store.get('k')).rejects.toMatchObject({ name: 'TransientError', code: 'TRANSIENT' });
    });
  });
});

/** A real client that counts ListObjectsV2 requests. */
function countingClient(srv: S3TestServer): { client: S3ClientLike & { destroy(): void }; pages: () => number } {
  const real = new S3Client({
    endpoint: srv.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: srv.accessKeyId, secretAccessKey: srv.secretAccessKey },
  });
  // The SDK's client satisfies the structural type as it is.
  const realLike: S3ClientLike = real;
  let n = 0;
  const client = {
    send(command: S3CommandLike): Promise<unknown> {
      if (command.constructor.name === 'ListObjectsV2Command') n++;
      return realLike.send(command);
    },
    destroy: () => real.destroy(),
  };
  return { client, pages: () => n };
}
