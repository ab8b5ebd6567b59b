import { ConfigError, InvalidInputError, NotFoundError, type PromptError, TransientError } from '../../core/errors.ts';

/**
 * What a Cloud Storage failure means for the caller. The client's errors (ApiError, node-fetch's
 * FetchError, google-auth-library's errors, the client's own integrity errors) are read
 * structurally, so no client type crosses this folder's edge.
 */
export type GcsFailureKind = 'not-found' | 'credentials' | 'config' | 'transient' | 'corrupted' | 'invalid-input';

interface ClientErrorShape {
  name?: unknown;
  code?: unknown;
  status?: unknown;
  message?: unknown;
  reason?: unknown;
  type?: unknown;
  errors?: unknown;
  response?: { status?: unknown; statusCode?: unknown };
  cause?: unknown;
}

/** Node and node-fetch error codes of a failed connection or socket. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH',
  'ECONNABORTED', 'ESOCKETTIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET', 'ERR_STREAM_PREMATURE_CLOSE',
]);

/** The client's own checks of the bytes against the server's hashes. */
const INTEGRITY_CODES = new Set(['CONTENT_DOWNLOAD_MISMATCH', 'FILE_NO_UPLOAD', 'FILE_NO_UPLOAD_DELETE', 'MD5_NOT_AVAILABLE']);

/** JSON API reasons (error.errors[].reason) that a retry can fix whatever the status. */
const TRANSIENT_REASONS = new Set(['rateLimitExceeded', 'userRateLimitExceeded', 'backendError', 'internalError', 'conflict']);

/** JSON API reasons of a 400 that wrong configuration, not the request, causes. */
const CONFIG_REASONS = new Set([
  'userProjectMissing', 'userProjectInvalid', 'userProjectInconsistent', 'cloudKmsBadKey', 'cloudKmsDisabledKey',
  'cloudKmsEncryptionKeyNotFound', 'cloudKmsDecryptionKeyNotFound', 'cloudKmsKeyLocationNotAllowed', 'turnedDown',
  'resourceIsEncryptedWithCustomerEncryptionKey', 'customerEncryptionKeyIsIncorrect',
]);

const CREDENTIAL_MESSAGE = /default credentials|access token|client_email|private_key|invalid_grant|invalid_client|unauthorized_client|credential/i;

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function shape(err: unknown): ClientErrorShape {
  return err && typeof err === 'object' ? (err as ClientErrorShape) : {};
}

/** The HTTP status of a failure, wherever the client put it. */
export function gcsHttpStatus(err: unknown): number | undefined {
  const e = shape(err);
  for (const v of [e.code, e.status, e.response?.statusCode, e.response?.status]) {
    if (typeof v === 'number' && v >= 100 && v < 600) return v;
    if (typeof v === 'string' && /^[1-5]\d\d$/.test(v)) return Number(v);
  }
  return undefined;
}

/** The JSON API error body a download failure leaves as its message. */
function bodyError(err: unknown): { message?: string; reason?: string } {
  const m = str(shape(err).message);
  if (!m || !m.trimStart().startsWith('{')) return {};
  try {
    const body = JSON.parse(m) as { error?: { message?: unknown; errors?: Array<{ reason?: unknown }> } };
    return { message: str(body.error?.message), reason: str(body.error?.errors?.[0]?.reason) };
  } catch {
    return {};
  }
}

/** The first JSON API reason (notFound, forbidden, rateLimitExceeded, …), if the server gave one. */
export function gcsReason(err: unknown): string | undefined {
  const e = shape(err);
  if (Array.isArray(e.errors)) {
    for (const x of e.errors) {
      const r = str((x as { reason?: unknown } | null)?.reason);
      if (r) return r;
    }
  }
  return bodyError(err).reason ?? str(e.reason);
}

/** A Node or client error code (ECONNRESET, CONTENT_DOWNLOAD_MISMATCH, …), searched through causes. */
function stringCode(err: unknown, within: ReadonlySet<string>): string | undefined {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const c = (e as ClientErrorShape).code;
    if (typeof c === 'string' && within.has(c)) return c;
    e = (e as ClientErrorShape).cause;
  }
  return undefined;
}

/** What the server said, for a message: the JSON API error message, else the error's own. */
function serverMessage(err: unknown): string | undefined {
  const fromBody = bodyError(err).message;
  if (fromBody) return fromBody;
  const m = str(shape(err).message);
  return m?.replace(/\s+/g, ' ').trim().slice(0, 500);
}

export function classifyGcsError(err: unknown): GcsFailureKind {
  const status = gcsHttpStatus(err);
  const reason = gcsReason(err);
  const e = shape(err);
  const message = str(e.message) ?? '';
  // google-auth-library's failures: no credentials found, or the token endpoint refusing them (400/401).
  if ((status === undefined || status === 400 || status === 401) && reason === undefined && CREDENTIAL_MESSAGE.test(message)) {
    return 'credentials';
  }
  if (status === 404) return 'not-found';
  if (status === 401) return 'credentials';
  if (status === 403) return reason && TRANSIENT_REASONS.has(reason) ? 'transient' : 'credentials';
  if (status === 400 && isHashMismatch(err)) return 'corrupted';
  if (status === 400 && reason && CONFIG_REASONS.has(reason)) return 'config';
  if (status !== undefined && (status >= 500 || status === 429 || status === 408 || status === 409 || status === 410)) return 'transient';
  if (reason && TRANSIENT_REASONS.has(reason)) return 'transient';
  if (status !== undefined && status >= 400) return 'invalid-input';
  if (stringCode(err, INTEGRITY_CODES)) return 'corrupted';
  if (stringCode(err, NETWORK_CODES)) return 'transient';
  // node-fetch's own timeout, and an aborted request.
  if (e.type === 'request-timeout' || e.name === 'AbortError' || e.type === 'aborted') return 'transient';
  if (e.code === 'ENOENT' || e.code === 'EACCES') return 'config';
  // No HTTP answer and nothing known: the connection failed somewhere between here and the server.
  return 'transient';
}

/** A 400 that says the bytes received do not match the MD5 or CRC32C the upload declared. */
function isHashMismatch(err: unknown): boolean {
  const m = serverMessage(err) ?? '';
  return /(md5|crc32c)/i.test(m) && /(match|mismatch)/i.test(m);
}

export interface GcsErrorContext {
  /** What was attempted: 'put', 'get', 'stat', 'list', 'delete', 'notification'. */
  readonly op: string;
  readonly bucket: string;
  /** The full object name in the bucket, prefix included. */
  readonly key?: string;
  /** Where requests went, when not Google's default endpoint. */
  readonly server?: string;
}

const CREDENTIALS_HINT =
  'credentials come from Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS (a service-account key file), ' +
  '`gcloud auth application-default login`, or the service account attached to the VM or pod; the principal needs ' +
  'roles/storage.objectAdmin (or storage.objects.create/get/list/delete) on the bucket';

/**
 * Maps a client failure to the project's error classes. NotFoundError for a missing object;
 * ConfigError for rejected or missing credentials (401/403, naming the bucket) and for
 * requester-pays or KMS misconfiguration; TransientError for 408, 409, 429, 5xx, network
 * failures and bytes corrupted in transit; InvalidInputError for other rejections (400). The
 * message never contains credentials, and the cause kept is a plain summary, not the client's
 * error with its request (and Authorization header) attached.
 */
export function mapGcsError(err: unknown, ctx: GcsErrorContext): PromptError {
  const status = gcsHttpStatus(err);
  const reason = gcsReason(err);
  const where = ctx.key !== undefined ? `gs://${ctx.bucket}/${ctx.key}` : `gs://${ctx.bucket}`;
  const server = ctx.server ? ` at ${ctx.server}` : '';
  const code = reason ?? (typeof shape(err).code === 'string' ? (shape(err).code as string) : undefined) ?? str(shape(err).name) ?? 'Error';
  const detail = [status !== undefined ? `HTTP ${status}` : '', code !== 'Error' ? `(${code})` : ''].filter(Boolean).join(' ');
  const said = serverMessage(err)?.replace(/\.$/, '');
  const options = { cause: summarize(err, code, status, reason) };
  switch (classifyGcsError(err)) {
    case 'not-found':
      return new NotFoundError(`object ${where} does not exist`, options);
    case 'credentials':
      return new ConfigError(
        `GCS ${ctx.op} ${where}${server} was refused: ${join(detail, said)}. The credentials are missing, wrong or ` +
          `lack permission for bucket '${ctx.bucket}'; ${CREDENTIALS_HINT}`,
        options,
      );
    case 'config':
      return new ConfigError(`GCS ${ctx.op} ${where}${server} failed: ${join(detail, said)}${configHint(reason)}`, options);
    case 'corrupted':
      return new TransientError(`GCS ${ctx.op} ${where}${server}: ${corruption(err, said)}; a retry may succeed`, options);
    case 'transient':
      return new TransientError(`GCS ${ctx.op} ${where}${server} failed, a retry may succeed: ${join(detail, said)}`, options);
    case 'invalid-input':
      return new InvalidInputError(`GCS ${ctx.op} ${where}${server} was rejected: ${join(detail, said)}`, options);
  }
}

/** ConfigError for a bucket that does not exist. */
export function noSuchBucketError(ctx: GcsErrorContext, err: unknown): ConfigError {
  const where = ctx.key !== undefined ? ` (${ctx.op} gs://${ctx.bucket}/${ctx.key})` : ` (${ctx.op})`;
  const status = gcsHttpStatus(err);
  const reason = gcsReason(err);
  return new ConfigError(`bucket '${ctx.bucket}' does not exist${ctx.server ? ` at ${ctx.server}` : ''}${where}`, {
    cause: summarize(err, reason ?? 'notFound', status, reason),
  });
}

function summarize(err: unknown, code: string, status: number | undefined, reason: string | undefined): Error {
  const summary = new Error(serverMessage(err) ?? code);
  summary.name = code;
  const fields: Record<string, unknown> = { code };
  if (status !== undefined) fields.httpStatusCode = status;
  if (reason !== undefined) fields.reason = reason;
  const network = stringCode(err, NETWORK_CODES);
  if (network !== undefined) fields.code = network;
  return Object.assign(summary, fields);
}

/** What a failed integrity check means for what is stored. */
function corruption(err: unknown, said: string | undefined): string {
  switch (stringCode(err, INTEGRITY_CODES)) {
    case 'CONTENT_DOWNLOAD_MISMATCH':
      return 'the bytes received do not match the CRC32C the server reports (corrupted in transit); nothing was returned';
    case 'FILE_NO_UPLOAD':
      return 'the stored object does not match the bytes sent; the client deleted it again';
    case 'FILE_NO_UPLOAD_DELETE':
      return `the stored object does not match the bytes sent and could not be deleted (${said ?? 'no reason given'}); it holds wrong bytes until rewritten`;
    case 'MD5_NOT_AVAILABLE':
      return 'the server reported no hash to check the bytes against';
    default:
      return `the server refused bytes that do not match their declared hash (corrupted in transit: ${said ?? 'hash mismatch'}); nothing was stored`;
  }
}

function join(detail: string, said: string | undefined): string {
  if (!said) return detail || 'no answer';
  return detail ? `${detail}: ${said}` : said;
}

function configHint(reason: string | undefined): string {
  if (reason?.startsWith('userProject')) return '; the bucket is Requester Pays, which this store does not support';
  if (reason?.startsWith('cloudKms')) return "; the bucket's Cloud KMS key is missing, disabled or not usable by Cloud Storage";
  if (reason?.startsWith('customerEncryption') || reason === 'resourceIsEncryptedWithCustomerEncryptionKey') {
    return '; the object is encrypted with a customer-supplied key, which this store does not support';
  }
  return '';
}
