import { describe, expect, it } from 'vitest';
import { ConfigError, InvalidInputError, NotFoundError, TransientError } from '../../core/errors.ts';
import { mapS3Error } from './s3-errors.ts';
import { createS3Store, type S3CommandLike } from './s3-store.ts';

/** An error shaped like the SDK's S3ServiceException, raw response included. */
function sdkError(code: string, status: number | undefined, message = code): Error {
  return Object.assign(new Error(message), {
    name: code,
    ...(status !== undefined ? { Code: code, $metadata: { httpStatusCode: status, requestId: 'REQ1', attempts: 1 } } : {}),
    $fault: status !== undefined && status >= 500 ? 'server' : 'client',
    $response: { headers: { authorization: 'AWS4-HMAC-SHA256 Credential=AKIA…' } },
  });
}

function networkError(code: string): Error {
  return Object.assign(new Error(`connect ${code} 10.0.0.1:443`), { code, $metadata: { attempts: 3 } });
}

type Handler = (command: string, input: Record<string, unknown>) => unknown;

/** A structural S3 client: records commands by name and answers through `handler`. */
function fakeClient(handler: Handler): { send(c: S3CommandLike): Promise<unknown>; calls: Array<{ command: string; input: Record<string, unknown> }> } {
  const calls: Array<{ command: string; input: Record<string, unknown> }> = [];
  return {
    calls,
    async send(c: S3CommandLike) {
      const command = c.constructor.name.replace(/Command$/, '');
      const input = c.input as Record<string, unknown>;
      calls.push({ command, input });
      return handler(command, input);
    },
  };
}

const ctx = { op: 'get', bucket: 'rubin-raw', key: 'LATISS/x.fz' };

describe('mapS3Error', () => {
  const table: Array<[string, Error, new (...a: never[]) => Error, RegExp]> = [
    ['NoSuchKey', sdkError('NoSuchKey', 404), NotFoundError, /s3:\/\/rubin-raw\/LATISS\/x\.fz does not exist/],
    ['HEAD 404', sdkError('NotFound', 404, 'UnknownError'), NotFoundError, /does not exist/],
    ['NoSuchBucket', sdkError('NoSuchBucket', 404), ConfigError, /bucket 'rubin-raw' does not exist/],
    ['AccessDenied', sdkError('AccessDenied', 403), ConfigError, /refused: AccessDenied \(HTTP 403\).*AWS_ACCESS_KEY_ID.*HMAC/],
    ['InvalidAccessKeyId', sdkError('InvalidAccessKeyId', 403), ConfigError, /InvalidAccessKeyId.*~\/\.aws\/credentials/],
    ['SignatureDoesNotMatch', sdkError('SignatureDoesNotMatch', 403), ConfigError, /SignatureDoesNotMatch.*AWS_PROFILE/],
    ['ExpiredToken', sdkError('ExpiredToken', 400), ConfigError, /refused: ExpiredToken/],
    ['HEAD 403', sdkError('Forbidden', 403, 'UnknownError'), ConfigError, /refused.*s3:ListBucket/],
    ['no credentials at all', Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }), ConfigError, /refused: CredentialsProviderError/],
    ['PermanentRedirect', sdkError('PermanentRedirect', 301), ConfigError, /another region.*\?region=/],
    ['AuthorizationHeaderMalformed', sdkError('AuthorizationHeaderMalformed', 400), ConfigError, /another region/],
    ['RequestTimeTooSkewed', sdkError('RequestTimeTooSkewed', 403), ConfigError, /clock is off/],
    ['SlowDown', sdkError('SlowDown', 503), TransientError, /a retry may succeed: SlowDown \(HTTP 503\)/],
    ['InternalError', sdkError('InternalError', 500), TransientError, /InternalError \(HTTP 500\)/],
    ['any 502', sdkError('BadGateway', 502), TransientError, /HTTP 502/],
    ['429', sdkError('TooManyRequests', 429), TransientError, /HTTP 429/],
    ['RequestTimeout (400)', sdkError('RequestTimeout', 400), TransientError, /RequestTimeout/],
    ['BadDigest (corrupted in transit)', sdkError('BadDigest', 400), TransientError, /BadDigest/],
    ['ECONNREFUSED', networkError('ECONNREFUSED'), TransientError, /ECONNREFUSED/],
    ['ECONNRESET', networkError('ECONNRESET'), TransientError, /ECONNRESET/],
    ['socket timeout', Object.assign(new Error('Connection timed out after 10000 ms'), { name: 'TimeoutError' }), TransientError, /TimeoutError/],
    ['InvalidArgument', sdkError('InvalidArgument', 400), InvalidInputError, /rejected: InvalidArgument/],
    ['KeyTooLongError', sdkError('KeyTooLongError', 400), InvalidInputError, /KeyTooLongError/],
  ];
  it.each(table)('%s', (_name, err, cls, message) => {
    const mapped = mapS3Error(err, ctx);
    expect(mapped).toBeInstanceOf(cls);
    expect(mapped.message).toMatch(message);
  });

  it('keeps a plain summary as the cause, not the SDK exception with its raw response', () => {
    const mapped = mapS3Error(sdkError('SlowDown', 503, 'Please reduce your request rate.'), ctx);
    const cause = mapped.cause as Record<string, unknown>;
    expect(cause).toBeInstanceOf(Error);
    expect(cause).toMatchObject({ name: 'SlowDown', code: 'SlowDown', httpStatusCode: 503, requestId: 'REQ1' });
    expect(cause.$response).toBeUndefined();
    expect(JSON.stringify({ ...cause, message: (cause as unknown as Error).message })).not.toContain('AKIA');
  });

  it('keeps the Node error code of a network failure on the cause', () => {
    expect((mapS3Error(networkError('ECONNRESET'), ctx).cause as { code?: string }).code).toBe('ECONNRESET');
  });
});

describe('S3 store over a fake client', () => {
  const lastModified = new Date('2026-11-27T10:00:00.000Z');
  const head = { ContentLength: 3, ContentType: 'image/fits', ETag: '"5289df737df57326fcdd22597afb1fac"', LastModified: lastModified };

  it('puts with Content-MD5, the content type and the prefixed key', async () => {
    const client = fakeClient((command) => {
      if (command === 'HeadObject' && client.calls.filter((c) => c.command === 'PutObject').length === 0) throw sdkError('NotFound', 404);
      if (command === 'HeadObject') return head;
      return {};
    });
    const store = createS3Store({ bucket: 'rubin-raw', prefix: 'pre' }, { client, env: {} });
    const obj = await store.put('LATISS/x.fits', new Uint8Array([1, 2, 3]));
    const put = client.calls.find((c) => c.command === 'PutObject')!.input;
    expect(put).toMatchObject({ Bucket: 'rubin-raw', Key: 'pre/LATISS/x.fits', ContentMD5: 'Uonfc331cyb83SJZevsfrA==', ContentType: 'image/fits', ContentLength: 3 });
    expect(obj).toEqual({
      bucket: 'rubin-raw',
      key: 'LATISS/x.fits',
      size: 3,
      generation: String(lastModified.getTime() * 1000),
      contentType: 'image/fits',
      md5Base64: 'Uonfc331cyb83SJZevsfrA==',
      updated: '2026-11-27T10:00:00.000Z',
    });
  });

  it('waits for the next second before replacing an object written this second', async () => {
    let serverSecond = 1_800_000_000;
    let now = serverSecond * 1000 + 300;
    const sleeps: number[] = [];
    const client = fakeClient((command) => {
      if (command === 'PutObject') serverSecond = Math.floor(now / 1000);
      if (command === 'HeadObject') return { ...head, LastModified: new Date(serverSecond * 1000) };
      return {};
    });
    const clock = {
      now: () => now,
      sleep: async (ms: number) => {
        sleeps.push(ms);
        now += ms;
      },
    };
    const store = createS3Store({ bucket: 'rubin-raw' }, { client, clock, env: {} });
    const b = await store.put('k', new Uint8Array([1]));
    expect(sleeps).toEqual([705]);
    expect(client.calls.filter((c) => c.command === 'PutObject')).toHaveLength(1);
    expect(BigInt(b.generation)).toBe(1_800_000_001_000_000n);
  });

  it('gives up with TransientError when the server never advances LastModified', async () => {
    const client = fakeClient((command) => (command === 'HeadObject' ? head : {}));
    const clock = { now: () => lastModified.getTime() + 100, sleep: async () => {} };
    const store = createS3Store({ bucket: 'rubin-raw' }, { client, clock, env: {} });
    await expect(store.put('k', new Uint8Array([1]))).rejects.toBeInstanceOf(TransientError);
    expect(client.calls.filter((c) => c.command === 'PutObject')).toHaveLength(3);
  });

  it('puts with write-only credentials that cannot HEAD the old object', async () => {
    let written = false;
    const client = fakeClient((command) => {
      if (command === 'HeadObject' && !written) throw sdkError('Forbidden', 403, 'UnknownError');
      if (command === 'PutObject') written = true;
      return head;
    });
    const store = createS3Store({ bucket: 'rubin-raw' }, { client, env: {} });
    expect((await store.put('k.fits', new Uint8Array([1, 2, 3]))).size).toBe(3);
  });

  it('maps credentials, throttling and network failures of every operation', async () => {
    const cases: Array<[Error, new (...a: never[]) => Error]> = [
      [sdkError('SignatureDoesNotMatch', 403), ConfigError],
      [sdkError('AccessDenied', 403), ConfigError],
      [sdkError('SlowDown', 503), TransientError],
      [networkError('ECONNRESET'), TransientError],
    ];
    for (const [err, cls] of cases) {
      const client = fakeClient(() => {
        throw err;
      });
      const store = createS3Store({ bucket: 'rubin-raw' }, { client, env: {} });
      for (const op of [() => store.get('k'), () => store.list(''), () => store.delete('k'), () => store.put('k', new Uint8Array([1]))]) {
        await expect(op()).rejects.toBeInstanceOf(cls);
      }
      // stat: a 403 on HEAD is a refusal too; throttling and network failures are transient.
      await expect(store.stat('k')).rejects.toBeInstanceOf(cls);
    }
  });

  it('tells a missing object from a missing bucket on stat (HEAD has no error body)', async () => {
    let bucketExists = true;
    const client = fakeClient((command) => {
      if (command === 'HeadObject') throw sdkError('NotFound', 404, 'UnknownError');
      if (command === 'HeadBucket' && !bucketExists) throw sdkError('NotFound', 404, 'UnknownError');
      return {};
    });
    expect(await createS3Store({ bucket: 'rubin-raw' }, { client, env: {} }).stat('k')).toBeNull();
    bucketExists = false;
    await expect(createS3Store({ bucket: 'rubin-gone' }, { client, env: {} }).stat('k')).rejects.toThrow(/bucket 'rubin-gone' does not exist/);
  });

  it('follows continuation tokens, strips the prefix, and reads MD5 only from single-part ETags', async () => {
    const client = fakeClient((command, input) => {
      if (command !== 'ListObjectsV2') throw new Error(`unexpected ${command}`);
      if (input.ContinuationToken === undefined) {
        return {
          IsTruncated: true,
          NextContinuationToken: 'T1',
          Contents: [{ Key: 'pre/a', Size: 1, ETag: '"5289df737df57326fcdd22597afb1fac"', LastModified: lastModified }],
        };
      }
      expect(input.ContinuationToken).toBe('T1');
      return {
        IsTruncated: false,
        Contents: [
          { Key: 'pre/b', Size: 2, ETag: '"d41d8cd98f00b204e9800998ecf8427e-2"', LastModified: lastModified },
          { Key: 'pre/dir/', Size: 0, ETag: '"d41d8cd98f00b204e9800998ecf8427e"', LastModified: lastModified },
        ],
      };
    });
    const store = createS3Store({ bucket: 'rubin-raw', prefix: 'pre', pageSize: 1 }, { client, env: {} });
    const listed = await store.list('');
    expect(listed.map((o) => [o.key, o.md5Base64])).toEqual([
      ['a', 'Uonfc331cyb83SJZevsfrA=='],
      ['b', undefined],
    ]);
    expect(client.calls.map((c) => c.input)).toEqual([
      { Bucket: 'rubin-raw', Prefix: 'pre/', MaxKeys: 1 },
      { Bucket: 'rubin-raw', Prefix: 'pre/', MaxKeys: 1, ContinuationToken: 'T1' },
    ]);
  });

  it('refuses a truncated listing without a continuation token', async () => {
    const client = fakeClient(() => ({ IsTruncated: true, Contents: [] }));
    await expect(createS3Store({ bucket: 'rubin-raw' }, { client, env: {} }).list('')).rejects.toBeInstanceOf(TransientError);
  });

  it('neither builds nor destroys a client it was given', async () => {
    let destroyed = false;
    const client = { ...fakeClient(() => ({})), destroy: () => (destroyed = true) };
    const store = createS3Store({ bucket: 'rubin-raw' }, { client, env: {} });
    await store.delete('k');
    await store.close();
    expect(destroyed).toBe(false);
  });
});
