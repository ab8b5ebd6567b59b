import { ApiError } from '@google-cloud/storage';
import { describe, expect, it } from 'vitest';
import { ConfigError, InvalidInputError, NotFoundError, TransientError } from '../../core/errors.ts';
import { classifyGcsError, mapGcsError, noSuchBucketError } from './gcs-errors.ts';

/**
 * The client's ApiError for a JSON API error answer, built by the client's own class from the
 * body Cloud Storage sends, with the raw response (whose request carries the Authorization
 * header) attached as the client attaches it.
 */
function apiError(status: number, reason: string, message: string): Error {
  const body = JSON.stringify({ error: { code: status, message, errors: [{ domain: 'global', reason, message }] } });
  return new ApiError({
    code: status,
    message,
    errors: [{ domain: 'global', reason, message }],
    response: { statusCode: status, body, request: { headers: { Authorization: 'Bearer ya29.SECRET-TOKEN' } } },
  } as unknown as ConstructorParameters<typeof ApiError>[0]);
}

/** A failed download: the client sets the message to the raw error body it read from the stream. */
function downloadError(status: number, reason: string, message: string): Error {
  return Object.assign(new Error(JSON.stringify({ error: { code: status, message, errors: [{ domain: 'global', reason, message }] } })), {
    code: status,
  });
}

/** node-fetch's FetchError for a failed connection. */
function fetchError(code: string): Error {
  return Object.assign(new Error(`request to http://10.0.0.1/storage/v1/b/x failed, reason: connect ${code} 10.0.0.1:443`), {
    name: 'FetchError',
    type: 'system',
    code,
    errno: code,
  });
}

/** The client's RequestError from its own hash checks. */
function integrityError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

const ctx = { op: 'get', bucket: 'rubin-raw', key: 'LATISS/x.fz' };

describe('mapGcsError', () => {
  const table: Array<[string, Error, new (...a: never[]) => Error, RegExp]> = [
    ['404 notFound', apiError(404, 'notFound', 'No such object: rubin-raw/LATISS/x.fz'), NotFoundError, /^object gs:\/\/rubin-raw\/LATISS\/x\.fz does not exist$/],
    [
      '403 forbidden',
      apiError(403, 'forbidden', 'sa@p.iam.gserviceaccount.com does not have storage.objects.get access to the Google Cloud Storage object.'),
      ConfigError,
      /GCS get gs:\/\/rubin-raw\/LATISS\/x\.fz was refused: HTTP 403 \(forbidden\): sa@p\.iam.*lack permission for bucket 'rubin-raw'.*GOOGLE_APPLICATION_CREDENTIALS/,
    ],
    ['401 authError', apiError(401, 'authError', 'Invalid Credentials'), ConfigError, /refused: HTTP 401 \(authError\).*bucket 'rubin-raw'/],
    ['403 as a download body', downloadError(403, 'forbidden', 'Access denied.'), ConfigError, /HTTP 403 \(forbidden\): Access denied\..*bucket 'rubin-raw'/],
    ['404 as a download body', downloadError(404, 'notFound', 'No such object: rubin-raw/LATISS/x.fz'), NotFoundError, /does not exist/],
    ['429 rateLimitExceeded', apiError(429, 'rateLimitExceeded', 'The rate of change requests to the object is too high.'), TransientError, /a retry may succeed: HTTP 429 \(rateLimitExceeded\)/],
    ['403 userRateLimitExceeded', apiError(403, 'userRateLimitExceeded', 'User Rate Limit Exceeded'), TransientError, /HTTP 403/],
    ['500 backendError', apiError(500, 'backendError', 'Backend Error'), TransientError, /HTTP 500 \(backendError\)/],
    ['502', apiError(502, 'badGateway', 'Bad Gateway'), TransientError, /HTTP 502/],
    ['503', apiError(503, 'backendError', 'Service Unavailable'), TransientError, /HTTP 503/],
    ['504', apiError(504, 'gatewayTimeout', 'Gateway Timeout'), TransientError, /HTTP 504/],
    ['408', apiError(408, 'requestTimeout', 'Request Timeout'), TransientError, /HTTP 408/],
    ['409 conflict', apiError(409, 'conflict', 'A concurrent change'), TransientError, /HTTP 409/],
    ['400 invalid', apiError(400, 'invalid', 'The object name is invalid.'), InvalidInputError, /GCS get gs:\/\/rubin-raw\/LATISS\/x\.fz was rejected: HTTP 400 \(invalid\): The object name is invalid$/],
    ['412 conditionNotMet', apiError(412, 'conditionNotMet', 'Precondition Failed'), InvalidInputError, /HTTP 412/],
    [
      '400 MD5 mismatch',
      apiError(400, 'invalid', 'Provided MD5 hash "AAAA" doesn\'t match calculated MD5 hash "BBBB".'),
      TransientError,
      /refused bytes that do not match their declared hash \(corrupted in transit: Provided MD5 hash.*\); nothing was stored; a retry may succeed/,
    ],
    ['400 CRC32C mismatch', apiError(400, 'invalid', 'Provided CRC32C "AAAA" doesn\'t match calculated CRC32C "BBBB".'), TransientError, /corrupted in transit/],
    ['400 requester pays', apiError(400, 'userProjectMissing', 'Bucket is a requester pays bucket but no user project provided.'), ConfigError, /Requester Pays/],
    ['400 KMS key', apiError(400, 'cloudKmsDisabledKey', 'The Cloud KMS key is disabled.'), ConfigError, /Cloud KMS key/],
    ['download CRC32C mismatch', integrityError('CONTENT_DOWNLOAD_MISMATCH', 'The downloaded data did not match the data from the server.'), TransientError, /corrupted in transit\); nothing was returned/],
    ['upload mismatch, object deleted', integrityError('FILE_NO_UPLOAD', 'The uploaded data did not match the data from the server.'), TransientError, /the client deleted it again/],
    ['upload mismatch, delete failed', integrityError('FILE_NO_UPLOAD_DELETE', 'delete failed: HTTP 403'), TransientError, /could not be deleted.*holds wrong bytes until rewritten/],
    ['ECONNREFUSED', fetchError('ECONNREFUSED'), TransientError, /a retry may succeed: \(ECONNREFUSED\)/],
    ['ECONNRESET', fetchError('ECONNRESET'), TransientError, /ECONNRESET/],
    ['EAI_AGAIN', fetchError('EAI_AGAIN'), TransientError, /EAI_AGAIN/],
    ['node-fetch timeout', Object.assign(new Error('network timeout at: http://h/x'), { name: 'FetchError', type: 'request-timeout' }), TransientError, /network timeout/],
    [
      'no credentials anywhere',
      new Error('Could not load the default credentials. Browse to https://cloud.google.com/docs/authentication/getting-started for more information.'),
      ConfigError,
      /refused.*Could not load the default credentials.*bucket 'rubin-raw'/,
    ],
    [
      'token endpoint refuses the key',
      Object.assign(new Error('invalid_grant: Invalid JWT Signature.'), { name: 'GaxiosError', response: { status: 400 } }),
      ConfigError,
      /refused: HTTP 400.*invalid_grant/,
    ],
    ['key file missing', Object.assign(new Error("ENOENT: no such file or directory, open '/k.json'"), { code: 'ENOENT' }), ConfigError, /failed.*ENOENT/],
    ['metadata server down', Object.assign(new Error('Could not refresh access token: 503'), { response: { status: 503 } }), TransientError, /HTTP 503/],
    ['anything else', new Error('socket hang up'), TransientError, /socket hang up/],
  ];
  it.each(table)('%s', (_name, err, cls, message) => {
    const mapped = mapGcsError(err, ctx);
    expect(mapped).toBeInstanceOf(cls);
    expect(mapped.message).toMatch(message);
  });

  it('keeps a plain summary as the cause, never the response with its Authorization header', () => {
    const mapped = mapGcsError(apiError(503, 'backendError', 'Service Unavailable'), ctx);
    const cause = mapped.cause as Error & Record<string, unknown>;
    expect(cause).toBeInstanceOf(Error);
    expect(cause).toMatchObject({ name: 'backendError', httpStatusCode: 503, reason: 'backendError', message: 'Service Unavailable' });
    expect(cause.response).toBeUndefined();
    expect(JSON.stringify({ ...cause, message: cause.message, stack: cause.stack })).not.toContain('SECRET-TOKEN');
    expect(mapped.message).not.toContain('SECRET-TOKEN');
  });

  it('keeps the Node error code of a network failure on the cause', () => {
    expect((mapGcsError(fetchError('ECONNRESET'), ctx).cause as { code?: string }).code).toBe('ECONNRESET');
  });

  it('names the server when it is not Google', () => {
    expect(mapGcsError(apiError(503, 'x', 'y'), { ...ctx, server: 'http://127.0.0.1:4443' }).message).toContain('at http://127.0.0.1:4443');
  });
});

describe('classifyGcsError and noSuchBucketError', () => {
  it('classifies by status first, then by code', () => {
    expect(classifyGcsError(apiError(404, 'notFound', 'The specified bucket does not exist.'))).toBe('not-found');
    expect(classifyGcsError(fetchError('ECONNREFUSED'))).toBe('transient');
    expect(classifyGcsError(integrityError('FILE_NO_UPLOAD_DELETE', 'x'))).toBe('corrupted');
  });

  it('names the bucket and the server', () => {
    const e = noSuchBucketError({ op: 'list', bucket: 'rubin-raw', key: 'a/', server: 'http://h:1' }, apiError(404, 'notFound', 'The specified bucket does not exist.'));
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toBe("bucket 'rubin-raw' does not exist at http://h:1 (list gs://rubin-raw/a/)");
  });
});
