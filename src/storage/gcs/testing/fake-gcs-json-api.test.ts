import { createHash, randomBytes } from 'node:crypto';
import { CRC32C } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32cBase64, startFakeGcsJsonApi, type FakeGcsServer } from './fake-gcs-json-api.ts';

// The fake must refuse what Cloud Storage would refuse, or tests over it prove nothing: these
// requests are written by hand, in and out of the documented forms.
let server: FakeGcsServer;

beforeAll(async () => {
  server = await startFakeGcsJsonApi();
  server.createBucket('bkt');
});

afterAll(() => server?.close());

const B = 'b0undary-7f';
function multipart(parts: Array<{ type?: string; body: string | Buffer }>, close = true): Buffer {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    chunks.push(Buffer.from(`--${B}\r\n${p.type !== undefined ? `Content-Type: ${p.type}\r\n` : ''}\r\n`));
    chunks.push(Buffer.isBuffer(p.body) ? p.body : Buffer.from(p.body));
    chunks.push(Buffer.from('\r\n'));
  }
  if (close) chunks.push(Buffer.from(`--${B}--`));
  return Buffer.concat(chunks);
}

async function upload(query: string, body: Buffer, contentType = `multipart/related; boundary=${B}`): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${server.endpoint}/upload/storage/v1/b/bkt/o?${query}`, { method: 'POST', headers: { 'content-type': contentType }, body });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** Runs a request and returns the problems it added. */
async function problemsOf(fn: () => Promise<unknown>): Promise<string[]> {
  const before = server.problems.length;
  await fn();
  return server.problems.slice(before);
}

describe('fake JSON API: uploads', () => {
  it('stores a documented multipart upload and answers the object resource', async () => {
    const data = Buffer.from('hello, bucket');
    const md5 = createHash('md5').update(data).digest('base64');
    const { status, json } = await upload(
      'uploadType=multipart',
      multipart([
        { type: 'application/json; charset=UTF-8', body: JSON.stringify({ name: 'docs/hello.txt', contentType: 'text/plain', md5Hash: md5 }) },
        { type: 'text/plain', body: data },
      ]),
    );
    expect(status).toBe(200);
    expect(json).toMatchObject({
      kind: 'storage#object',
      name: 'docs/hello.txt',
      bucket: 'bkt',
      size: String(data.length),
      md5Hash: md5,
      crc32c: crc32cBase64(data),
      contentType: 'text/plain',
      metageneration: '1',
    });
    expect(json.generation).toMatch(/^\d{16}$/);
    expect(json.id).toBe(`bkt/docs/hello.txt/${String(json.generation)}`);
    expect(new Date(String(json.updated)).toISOString()).toBe(json.updated);
  });

  it('refuses, before storing, bytes that do not match the declared MD5 or CRC32C', async () => {
    for (const field of ['md5Hash', 'crc32c']) {
      const { status, json } = await upload(
        'uploadType=multipart&name=bad',
        multipart([
          { type: 'application/json', body: JSON.stringify({ [field]: 'AAAAAAAAAAAAAAAAAAAAAA==' }) },
          { type: 'application/octet-stream', body: 'x' },
        ]),
      );
      expect(status).toBe(400);
      expect(json).toEqual({ error: { code: 400, message: expect.stringMatching(/doesn't match calculated/), errors: [expect.objectContaining({ domain: 'global', reason: 'invalid' })] } });
    }
    expect((await fetch(`${server.endpoint}/storage/v1/b/bkt/o/bad`)).status).toBe(404);
  });

  const malformed: Array<[string, () => Promise<unknown>, RegExp]> = [
    ['three parts', () => upload('uploadType=multipart&name=x', multipart([{ type: 'application/json', body: '{}' }, { type: 'a/b', body: 'x' }, { type: 'a/b', body: 'y' }])), /has 2 parts, not 3/],
    ['no closing delimiter', () => upload('uploadType=multipart&name=x', multipart([{ type: 'application/json', body: '{}' }, { type: 'a/b', body: 'x' }], false)), /no closing --boundary--/],
    ['metadata not JSON-typed', () => upload('uploadType=multipart&name=x', multipart([{ type: 'text/plain', body: '{}' }, { type: 'a/b', body: 'x' }])), /metadata\) part's Content-Type is 'text\/plain'/],
    ['media part without a type', () => upload('uploadType=multipart&name=x', multipart([{ type: 'application/json', body: '{}' }, { body: 'x' }])), /media\) part has no Content-Type/],
    ['metadata not an object', () => upload('uploadType=multipart&name=x', multipart([{ type: 'application/json', body: '[1]' }, { type: 'a/b', body: 'x' }])), /not a JSON object/],
    ['no boundary', () => upload('uploadType=multipart&name=x', multipart([{ type: 'application/json', body: '{}' }, { type: 'a/b', body: 'x' }]), 'multipart/related'), /not multipart\/related with a boundary/],
    ['content types disagree', () => upload('uploadType=multipart&name=x', multipart([{ type: 'application/json', body: '{"contentType":"image/fits"}' }, { type: 'text/plain', body: 'x' }])), /differs from the media part's/],
    ['a media upload', () => upload('uploadType=media&name=x', Buffer.from('x'), 'text/plain'), /uploadType 'media' is not multipart/],
    ['an undocumented parameter', () => upload('uploadType=multipart&name=x&bogus=1', Buffer.alloc(0)), /'bogus' is not a documented query parameter/],
    ['a documented parameter the fake lacks', () => upload('uploadType=multipart&name=x&ifGenerationMatch=0', Buffer.alloc(0)), /'ifGenerationMatch' is documented but this fake does not implement it/],
  ];
  it.each(malformed)('records %s as a problem and refuses it', async (_name, fn, message) => {
    const added = await problemsOf(fn);
    expect(added).toHaveLength(1);
    expect(added[0]).toMatch(message);
  });
});

describe('fake JSON API: reads, lists, deletes', () => {
  beforeAll(() => {
    for (const n of ['l/a', 'l/B', 'l/z', 'l/é', 'l/a/b']) server.putObject('bkt', n, Buffer.from(n), 'text/plain');
  });

  it('answers a download with the bytes and the hash headers', async () => {
    const res = await fetch(`${server.endpoint}/storage/v1/b/bkt/o/${encodeURIComponent('l/a')}?alt=media`);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).toString()).toBe('l/a');
    expect(res.headers.get('content-type')).toBe('text/plain');
    expect(res.headers.get('x-goog-hash')).toBe(`crc32c=${crc32cBase64(Buffer.from('l/a'))},md5=${createHash('md5').update('l/a').digest('base64')}`);
    expect(res.headers.get('x-goog-generation')).toMatch(/^\d+$/);
    expect(res.headers.get('x-goog-stored-content-encoding')).toBe('identity');
  });

  it('lists in UTF-8 byte order, in pages, with partial responses', async () => {
    const page1 = (await (await fetch(`${server.endpoint}/storage/v1/b/bkt/o?prefix=l%2F&maxResults=2&fields=items(name),nextPageToken`)).json()) as {
      items: Array<Record<string, unknown>>;
      nextPageToken: string;
    };
    expect(page1.items).toEqual([{ name: 'l/B' }, { name: 'l/a' }]);
    const page2 = (await (await fetch(`${server.endpoint}/storage/v1/b/bkt/o?prefix=l%2F&maxResults=2&fields=items(name),nextPageToken&pageToken=${page1.nextPageToken}`)).json()) as {
      items: Array<Record<string, unknown>>;
      nextPageToken: string;
    };
    expect(page2.items).toEqual([{ name: 'l/a/b' }, { name: 'l/z' }]);
    const page3 = (await (await fetch(`${server.endpoint}/storage/v1/b/bkt/o?prefix=l%2F&maxResults=2&pageToken=${page2.nextPageToken}`)).json()) as Record<string, unknown>;
    expect(page3).toMatchObject({ kind: 'storage#objects', items: [expect.objectContaining({ name: 'l/é', size: '4' })] });
    expect(page3.nextPageToken).toBeUndefined();
  });

  it('answers a missing object with the documented error body, and deletes with 204', async () => {
    const missing = await fetch(`${server.endpoint}/storage/v1/b/bkt/o/nope`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toBe('application/json; charset=UTF-8');
    expect(await missing.json()).toEqual({
      error: { code: 404, message: 'No such object: bkt/nope', errors: [{ message: 'No such object: bkt/nope', domain: 'global', reason: 'notFound' }] },
    });
    const del = await fetch(`${server.endpoint}/storage/v1/b/bkt/o/${encodeURIComponent('l/z')}`, { method: 'DELETE' });
    expect(del.status).toBe(204);
    expect(await del.text()).toBe('');
    expect((await fetch(`${server.endpoint}/storage/v1/b/bkt/o/${encodeURIComponent('l/z')}`, { method: 'DELETE' })).status).toBe(404);
  });

  const malformed: Array<[string, string, RegExp]> = [
    ['an unescaped / in an object name', '/storage/v1/b/bkt/o/l/a', /not one percent-encoded path segment/],
    ['a delimiter listing', '/storage/v1/b/bkt/o?delimiter=%2F', /'delimiter' is documented but this fake does not implement it/],
    ['alt=media on a listing', '/storage/v1/b/bkt/o?alt=media', /alt=media is not valid here/],
    ['an unknown path', '/storage/v1/b/bkt/nope', /is not a JSON API request this fake implements/],
    ['a fields selector the fake lacks', '/storage/v1/b/bkt/o?fields=items/name', /fields selector/],
  ];
  it.each(malformed)('records %s as a problem', async (_name, path, message) => {
    const added = await problemsOf(() => fetch(`${server.endpoint}${path}`));
    expect(added).toHaveLength(1);
    expect(added[0]).toMatch(message);
  });
});

describe('crc32cBase64', () => {
  it('is CRC-32C (Castagnoli) in big-endian base64, as the client computes it', () => {
    // The check value of CRC-32C over "123456789" is 0xE3069283.
    expect(crc32cBase64(Buffer.from('123456789'))).toBe(Buffer.from([0xe3, 0x06, 0x92, 0x83]).toString('base64'));
    for (const n of [0, 1, 7, 4096, 100_003]) {
      const bytes = randomBytes(n);
      const c = new CRC32C();
      c.update(bytes);
      expect(crc32cBase64(bytes)).toBe(c.toString());
    }
  });
});
