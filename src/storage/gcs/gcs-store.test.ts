import { createHash } from 'node:crypto';
import { Storage } from '@google-cloud/storage';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ConfigError, InvalidInputError, NotFoundError, TransientError } from '../../core/errors.ts';
import { parseStorageNotification } from '../../messages/storage-notification.ts';
import { objectStoreContract } from '../object-store.contract.ts';
import type { ObjectStore } from '../object-store.ts';
import { createGcsNotification, createGcsStore, gcsNotificationCommand, gcsStoreFromUrl, type GcsStore } from './gcs-store.ts';
import { startFakeGcsJsonApi, type FakeGcsOp, type FakeGcsServer } from './testing/fake-gcs-json-api.ts';

// Read before any test changes the environment: the address of a GCS emulator, if one runs.
const emulatorHost = process.env.STORAGE_EMULATOR_HOST;

// [fake] The official client against an in-process server that implements, and checks, the
// JSON API requests it makes (see testing/fake-gcs-json-api.ts). The stores are given its
// address as their endpoint; STORAGE_EMULATOR_HOST is hidden from them (the client would send
// metadata requests there instead) except in the test about that variable.
let server: FakeGcsServer;
let buckets = 0;
const newBucket = (): string => {
  const name = `bucket-${++buckets}`;
  server.createBucket(name);
  return name;
};

beforeAll(async () => {
  vi.stubEnv('STORAGE_EMULATOR_HOST', undefined);
  server = await startFakeGcsJsonApi();
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await server?.close();
});

// Every request the client sent so far was one the JSON API documents, in the documented form.
afterEach(() => {
  expect(server.problems).toEqual([]);
});

if (emulatorHost) {
  // [emulator] A JSON API emulator (fake-gcs-server, storage-testbench) at STORAGE_EMULATOR_HOST.
  // The store is given that address as its endpoint, with the variable hidden from the client:
  // while the variable is set, the Node client sends metadata requests to
  // `${STORAGE_EMULATOR_HOST}/b/…` without `/storage/v1` (nodejs-storage#2069), which
  // fake-gcs-server does not serve.
  let emulatorBuckets = 0;
  objectStoreContract(`gcs (emulator at ${emulatorHost})`, async () => {
    const bucket = `prompt-gcs-${process.pid}-${Date.now()}-${++emulatorBuckets}`;
    await new Storage({ apiEndpoint: emulatorHost, projectId: 'test-project' }).createBucket(bucket);
    const store = createGcsStore({ bucket, apiEndpoint: emulatorHost, projectId: 'test-project' });
    return { store, teardown: () => store.close() };
  });
} else {
  console.warn(
    '[gcs] STORAGE_EMULATOR_HOST is not set: the ObjectStore contract against a GCS emulator (e.g. fake-gcs-server ' +
      '-scheme http, STORAGE_EMULATOR_HOST=http://127.0.0.1:4443) is skipped; it runs against the in-process JSON API fake only',
  );
  describe.skip('ObjectStore contract: gcs (emulator at STORAGE_EMULATOR_HOST)', () => {
    it('needs STORAGE_EMULATOR_HOST', () => {});
  });
}

objectStoreContract('gcs (in-process JSON API fake)', async () => {
  const store = createGcsStore({ bucket: newBucket(), apiEndpoint: server.endpoint });
  return { store, teardown: () => store.close() };
});

objectStoreContract('gcs under a prefix, opened by URL (in-process JSON API fake)', async () => {
  const bucket = newBucket();
  // Objects outside the prefix must stay invisible to every contract check.
  server.putObject(bucket, 'A/1/outside', new Uint8Array([7]));
  server.putObject(bucket, 'some/prefixed/x', new Uint8Array([7]));
  const store = gcsStoreFromUrl(`gs://${bucket}/some/prefix?endpoint=${encodeURIComponent(server.endpoint)}&project=rubin-prompt`);
  return { store, teardown: () => store.close() };
});

const withStores = async (stores: ObjectStore[], fn: () => Promise<void>): Promise<void> => {
  try {
    await fn();
  } finally {
    await Promise.all(stores.map((s) => s.close()));
  }
};

const requestsOf = (op: FakeGcsOp, from = 0): typeof server.requests => server.requests.slice(from).filter((r) => r.op === op);

const rejection = async (p: Promise<unknown>): Promise<Error> =>
  p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e as Error,
  );

describe('GCS store [JSON API fake]', () => {
  it('opens without touching the network, with notifications as its capability', async () => {
    const before = server.requests.length;
    const store = gcsStoreFromUrl('gs://rubin-raw/prefix?endpoint=http%3A%2F%2F127.0.0.1%3A1');
    expect(store.bucket).toBe('rubin-raw');
    expect(store.keyPrefix).toBe('prefix/');
    expect(store.capabilities).toEqual({ notifications: true });
    await store.close();
    await store.close();
    expect(server.requests.length).toBe(before);
  });

  it('uploads in one multipart request that declares the MD5, and reports what the server stored', async () => {
    const store = createGcsStore({ bucket: newBucket(), apiEndpoint: server.endpoint });
    await withStores([store], async () => {
      const from = server.requests.length;
      const bytes = new Uint8Array([5, 6, 7]);
      const md5 = createHash('md5').update(bytes).digest('base64');
      const put = await store.put('v/raw.fits', bytes, { contentType: 'image/fits' });
      const [insert] = requestsOf('objects.insert', from);
      expect(insert.query).toEqual({ uploadType: 'multipart', name: 'v/raw.fits' });
      expect(insert.metadata).toEqual({ contentType: 'image/fits', md5Hash: md5 });
      expect(insert.media).toEqual({ contentType: 'image/fits', length: 3 });
      expect(requestsOf('objects.insert', from)).toHaveLength(1);

      expect(put).toMatchObject({ bucket: store.bucket, key: 'v/raw.fits', size: 3, contentType: 'image/fits', md5Base64: md5 });
      expect(put.generation).toMatch(/^\d{16}$/);
      expect(Date.parse(put.updated)).toBe(Number(BigInt(put.generation) / 1000n));
      expect(await store.stat('v/raw.fits')).toEqual(put);
      expect(await store.list('v/')).toEqual([put]);
      // The content type a key implies, when none is given.
      expect((await store.put('v/meta.json', new Uint8Array([123, 125]))).contentType).toBe('application/json');
    });
  });

  it('describes an object as the JSON_API_V1 notification of its finalize does', async () => {
    const bucket = newBucket();
    const store = createGcsStore({ bucket, apiEndpoint: server.endpoint });
    await withStores([store], async () => {
      const put = await store.put('LATISS/raw/a.fz', new Uint8Array([1, 2, 3, 4]));
      // The payload Cloud Storage publishes is the object resource; read it as the server has it.
      const resource = (await (await fetch(`${server.endpoint}/storage/v1/b/${bucket}/o/${encodeURIComponent('LATISS/raw/a.fz')}`)).json()) as Record<
        string,
        string
      >;
      const n = parseStorageNotification({
        data: new TextEncoder().encode(JSON.stringify(resource)),
        attributes: {
          notificationConfig: `projects/_/buckets/${bucket}/notificationConfigs/1`,
          eventType: 'OBJECT_FINALIZE',
          payloadFormat: 'JSON_API_V1',
          bucketId: bucket,
          objectId: resource.name,
          objectGeneration: resource.generation,
          eventTime: resource.updated,
        },
      });
      expect(n.object).toEqual(put);
    });
  });

  it('keeps stores with different prefixes in one bucket apart', async () => {
    const bucket = newBucket();
    const a = createGcsStore({ bucket, prefix: 'a', apiEndpoint: server.endpoint });
    const ab = createGcsStore({ bucket, prefix: 'ab/', apiEndpoint: server.endpoint });
    const root = createGcsStore({ bucket, apiEndpoint: server.endpoint });
    await withStores([a, ab, root], async () => {
      expect((await a.put('k/x.fits', new Uint8Array([1, 2]))).key).toBe('k/x.fits');
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

  it('pages through a listing with small pages, asking only for the fields it reads', async () => {
    const bucket = newBucket();
    const keys = Array.from({ length: 23 }, (_, i) => `p/${String(i).padStart(3, '0')}`);
    for (const k of [...keys].reverse()) server.putObject(bucket, `pre/${k}`, new Uint8Array([1]));
    server.putObject(bucket, 'pre/p/', new Uint8Array(0)); // a folder placeholder is not an object
    server.putObject(bucket, 'pre/p//odd', new Uint8Array(1)); // nor is a name this store cannot address
    const store = createGcsStore({ bucket, prefix: 'pre', apiEndpoint: server.endpoint, pageSize: 5 });
    await withStores([store], async () => {
      const from = server.requests.length;
      const listed = await store.list('p/');
      expect(listed.map((o) => o.key)).toEqual(keys);
      expect(listed.every((o) => o.size === 1 && /^\d+$/.test(o.generation) && o.md5Base64 !== undefined)).toBe(true);
      const pages = requestsOf('objects.list', from);
      expect(pages).toHaveLength(5);
      expect(pages[0].query).toEqual({
        prefix: 'pre/p/',
        maxResults: '5',
        fields: 'items(name,size,generation,contentType,md5Hash,updated),nextPageToken',
      });
      expect(pages.slice(1).every((p) => typeof p.query.pageToken === 'string')).toBe(true);
    });
  });

  it('lists more than 1000 objects (the JSON API caps a page at 1000)', async () => {
    const bucket = newBucket();
    const keys = Array.from({ length: 1003 }, (_, i) => `many/${String(i).padStart(4, '0')}`);
    for (const k of keys) server.putObject(bucket, k, new Uint8Array([1]));
    const store = createGcsStore({ bucket, apiEndpoint: server.endpoint });
    await withStores([store], async () => {
      const from = server.requests.length;
      expect((await store.list('many/')).map((o) => o.key)).toEqual(keys);
      expect(requestsOf('objects.list', from)).toHaveLength(2);
    });
  });

  it('maps a missing bucket to ConfigError naming the bucket, for every operation', async () => {
    const store = createGcsStore({ bucket: 'no-such-bucket', apiEndpoint: server.endpoint });
    await withStores([store], async () => {
      for (const op of [
        () => store.put('k', new Uint8Array([1])),
        () => store.get('k'),
        () => store.stat('k'),
        () => store.list(''),
        () => store.delete('k'),
      ]) {
        const err = await rejection(op());
        expect(err).toBeInstanceOf(ConfigError);
        expect(err.message).toContain(`bucket 'no-such-bucket' does not exist at ${server.endpoint}`);
      }
    });
  });

  it('maps refused credentials (401, 403) to ConfigError naming the bucket, for every operation', async () => {
    const bucket = newBucket();
    const store = createGcsStore({ bucket, apiEndpoint: server.endpoint, maxRetries: 0 });
    await withStores([store], async () => {
      const cases: Array<[FakeGcsOp, () => Promise<unknown>]> = [
        ['objects.insert', () => store.put('k', new Uint8Array([1]))],
        ['objects.media', () => store.get('k')],
        ['objects.get', () => store.stat('k')],
        ['objects.list', () => store.list('')],
        ['objects.delete', () => store.delete('k')],
      ];
      for (const [op, call] of cases) {
        for (const [status, reason] of [
          [403, 'forbidden'],
          [401, 'authError'],
        ] as const) {
          server.failNext(op, { status, reason, message: `caller does not have access (${op})` });
          const err = await rejection(call());
          expect(err, `${op} ${status}`).toBeInstanceOf(ConfigError);
          expect(err.message).toMatch(new RegExp(`refused: HTTP ${status} \\(${reason}\\): caller does not have access.*bucket '${bucket}'`));
          expect(err.message).toContain('GOOGLE_APPLICATION_CREDENTIALS');
        }
      }
    });
  });

  it('maps 429 and 5xx to TransientError, and 400 to InvalidInputError', async () => {
    const store = createGcsStore({ bucket: newBucket(), apiEndpoint: server.endpoint, maxRetries: 0 });
    await withStores([store], async () => {
      await store.put('k', new Uint8Array([1]));
      server.failNext('objects.media', { status: 503, reason: 'backendError', message: 'Service Unavailable' });
      expect(await rejection(store.get('k'))).toBeInstanceOf(TransientError);
      server.failNext('objects.list', { status: 429, reason: 'rateLimitExceeded', message: 'Too many requests' });
      expect(await rejection(store.list(''))).toBeInstanceOf(TransientError);
      server.failNext('objects.insert', { status: 500, reason: 'backendError', message: 'Internal Error' });
      expect(await rejection(store.put('k', new Uint8Array([2])))).toBeInstanceOf(TransientError);
      server.failNext('objects.get', { status: 400, reason: 'invalid', message: 'Invalid argument.' });
      const bad = await rejection(store.stat('k'));
      expect(bad).toBeInstanceOf(InvalidInputError);
      expect(bad.message).toMatch(/was rejected: HTTP 400 \(invalid\): Invalid argument$/);
      // Nothing was retried: each failure was answered once, and the object is unchanged.
      expect(Array.from(await store.get('k'))).toEqual([1]);
    });
  });

  it('lets the client retry reads on 503, also after a put (uploads are not retried)', async () => {
    const store = createGcsStore({ bucket: newBucket(), apiEndpoint: server.endpoint });
    await withStores([store], async () => {
      await store.put('k', new Uint8Array([9]));
      server.failNext('objects.get', { status: 503, reason: 'backendError', message: 'Service Unavailable' });
      expect((await store.stat('k'))?.size).toBe(1);
      server.failNext('objects.insert', { status: 503, reason: 'backendError', message: 'Service Unavailable' });
      const from = server.requests.length;
      expect(await rejection(store.put('k', new Uint8Array([8])))).toBeInstanceOf(TransientError);
      expect(requestsOf('objects.insert', from)).toHaveLength(1);
    });
  });

  it('refuses bytes corrupted in transit: the server stores nothing and the old object stays', async () => {
    const store = createGcsStore({ bucket: newBucket(), apiEndpoint: server.endpoint });
    await withStores([store], async () => {
      const first = await store.put('c/obj', new Uint8Array(100).fill(1));
      server.corruptNextUpload();
      const from = server.requests.length;
      const err = await rejection(store.put('c/obj', new Uint8Array(100).fill(2)));
      expect(err).toBeInstanceOf(TransientError);
      expect(err.message).toMatch(/declared hash \(corrupted in transit: Provided MD5 hash .*nothing was stored/);
      expect(requestsOf('objects.delete', from)).toEqual([]);
      expect(await store.stat('c/obj')).toEqual(first);
      expect(Array.from(await store.get('c/obj'))).toEqual(Array.from(new Uint8Array(100).fill(1)));
    });
  });

  it('maps a dropped connection and an unreachable server to TransientError', async () => {
    const store = createGcsStore({ bucket: newBucket(), apiEndpoint: server.endpoint, maxRetries: 0 });
    const closed = await startFakeGcsJsonApi();
    await closed.close();
    const gone = createGcsStore({ bucket: 'bkt', apiEndpoint: closed.endpoint, maxRetries: 0 });
    await withStores([store, gone], async () => {
      await store.put('k', new Uint8Array([1]));
      server.dropNext('objects.media');
      expect(await rejection(store.get('k'))).toBeInstanceOf(TransientError);
      server.dropNext('objects.insert');
      expect(await rejection(store.put('k', new Uint8Array([2])))).toBeInstanceOf(TransientError);
      const err = await rejection(gone.get('k'));
      expect(err).toBeInstanceOf(TransientError);
      expect(err.message).toMatch(/ECONNREFUSED/);
      expect((err.cause as { code?: string }).code).toBe('ECONNREFUSED');
    });
  });

  it('rejects object names longer than 1024 bytes before any request', async () => {
    const store = createGcsStore({ bucket: newBucket(), prefix: 'p', apiEndpoint: server.endpoint });
    await withStores([store], async () => {
      const from = server.requests.length;
      // 'p/' and 512 two-byte characters: 1026 bytes.
      await expect(store.put('é'.repeat(512), new Uint8Array([1]))).rejects.toThrow(/longer than Cloud Storage's 1024 bytes/);
      expect(server.requests.length).toBe(from);
    });
  });

  it('sends no credentials to an http:// endpoint', () => {
    expect(server.requests.length).toBeGreaterThan(0);
    expect(server.requests.filter((r) => r.headers.authorization !== undefined)).toEqual([]);
  });

  it('leaves STORAGE_EMULATOR_HOST to the client: with no endpoint given, every request goes to it', async () => {
    const emulator = await startFakeGcsJsonApi({ rootMetadataPaths: true });
    emulator.createBucket('emu-bucket');
    vi.stubEnv('STORAGE_EMULATOR_HOST', emulator.endpoint);
    const store = createGcsStore({ bucket: 'emu-bucket' });
    try {
      await store.put('e/x', new Uint8Array([1, 2]));
      expect(Array.from(await store.get('e/x'))).toEqual([1, 2]);
      expect((await store.list('e/')).map((o) => o.key)).toEqual(['e/x']);
      await store.delete('e/x');
      expect(await store.stat('e/x')).toBeNull();
      expect(emulator.problems).toEqual([]);
      // Uploads at the documented path; metadata requests where the Node client sends them.
      expect(emulator.requests.map((r) => `${r.method} ${r.path.replace(/\/o\/[^/]+$/, '/o/…')}`)).toEqual([
        'POST /upload/storage/v1/b/emu-bucket/o',
        'GET /b/emu-bucket/o/…',
        'GET /b/emu-bucket/o',
        'DELETE /b/emu-bucket/o/…',
        'GET /b/emu-bucket/o/…',
        'GET /b/emu-bucket',
      ]);
      expect(emulator.requests.filter((r) => r.headers.authorization !== undefined)).toEqual([]);
    } finally {
      await store.close();
      vi.stubEnv('STORAGE_EMULATOR_HOST', undefined);
      await emulator.close();
    }
  });
});

describe('bucket notifications', () => {
  it('prints the gcloud command that sets them up', () => {
    expect(gcsNotificationCommand('rubin-raw', 'raw-finalized', 'LATISS/')).toBe(
      'gcloud storage buckets notifications create gs://rubin-raw --topic=raw-finalized --event-types=OBJECT_FINALIZE ' +
        '--payload-format=json --object-prefix=LATISS/',
    );
    expect(gcsNotificationCommand('rubin-raw', 'projects/rubin-prompt/topics/raw')).toBe(
      'gcloud storage buckets notifications create gs://rubin-raw --topic=projects/rubin-prompt/topics/raw ' +
        '--event-types=OBJECT_FINALIZE --payload-format=json',
    );
    expect(gcsNotificationCommand('rubin-raw', 't', "it's here/")).toBe(
      "gcloud storage buckets notifications create gs://rubin-raw --topic=t --event-types=OBJECT_FINALIZE --payload-format=json " +
        `'--object-prefix=it'\\''s here/'`,
    );
    expect(() => gcsNotificationCommand('rubin-raw', ' ')).toThrow(ConfigError);
  });

  it('creates an OBJECT_FINALIZE, JSON_API_V1 notification below the store prefix', async () => {
    const bucket = newBucket();
    const store = createGcsStore({ bucket, prefix: 'raw', apiEndpoint: server.endpoint });
    await withStores([store], async () => {
      const made = await createGcsNotification(store, 'projects/rubin-prompt/topics/raw-finalized', 'LATISS/');
      expect(made).toEqual({
        id: expect.stringMatching(/^\d+$/),
        topic: '//pubsub.googleapis.com/projects/rubin-prompt/topics/raw-finalized',
        objectNamePrefix: 'raw/LATISS/',
      });
      const recorded = server.notifications.filter((n) => n.bucket === bucket).map((n) => n.resource);
      expect(recorded).toEqual([
        expect.objectContaining({
          id: made.id,
          topic: '//pubsub.googleapis.com/projects/rubin-prompt/topics/raw-finalized',
          event_types: ['OBJECT_FINALIZE'],
          payload_format: 'JSON_API_V1',
          object_name_prefix: 'raw/LATISS/',
        }),
      ]);
    });
  });

  it("puts a short topic name in the store's project", async () => {
    const bucket = newBucket();
    const store = createGcsStore({ bucket, apiEndpoint: server.endpoint, projectId: 'rubin-prompt' });
    await withStores([store], async () => {
      const made = await createGcsNotification(store, 'raw-finalized');
      expect(made).toMatchObject({ topic: '//pubsub.googleapis.com/projects/rubin-prompt/topics/raw-finalized', objectNamePrefix: '' });
      const [n] = server.notifications.filter((x) => x.bucket === bucket);
      expect(n.resource.object_name_prefix).toBeUndefined();
    });
  });

  it('explains a refusal: permission on the bucket, the topic, and the service account', async () => {
    const bucket = newBucket();
    const store: GcsStore = createGcsStore({ bucket, apiEndpoint: server.endpoint });
    await withStores([store], async () => {
      server.failNext('notifications.insert', { status: 403, reason: 'forbidden', message: 'The caller does not have permission' });
      const err = await rejection(createGcsNotification(store, 'projects/p-123456/topics/t', 'x/'));
      expect(err).toBeInstanceOf(ConfigError);
      expect(err.message).toMatch(/refused: HTTP 403.*Cloud Storage service account.*roles\/pubsub\.publisher/);
      expect(err.message).toContain(`gcloud storage buckets notifications create gs://${bucket} --topic=projects/p-123456/topics/t`);
      await expect(createGcsNotification({ ...store } as GcsStore, 't')).rejects.toThrow(/a store made by createGcsStore/);
    });
  });
});
