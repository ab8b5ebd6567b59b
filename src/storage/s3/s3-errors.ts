import { ConfigError, InvalidInputError, NotFoundError, type PromptError, TransientError } from '../../core/errors.ts';

/**
 * What an S3 failure means for the caller. The SDK's exceptions are read structurally (name,
 * Code, $metadata.httpStatusCode, Node's `code`), so no SDK type crosses this folder's edge.
 */
export type S3FailureKind = 'not-found' | 'no-such-bucket' | 'credentials' | 'config' | 'transient' | 'invalid-input';

interface SdkErrorShape {
  name?: unknown;
  Code?: unknown;
  code?: unknown;
  message?: unknown;
  $metadata?: { httpStatusCode?: unknown };
  $retryable?: unknown;
}

const CREDENTIAL_CODES = new Set([
  'AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'InvalidToken', 'ExpiredToken', 'TokenRefreshRequired',
  'InvalidSecurity', 'AccountProblem', 'AllAccessDisabled', 'CredentialsProviderError', 'Forbidden', 'InvalidClientTokenId',
  'MissingSecurityHeader', 'NotSignedUp',
]);

const CONFIG_CODES = new Set([
  'PermanentRedirect', 'AuthorizationHeaderMalformed', 'IllegalLocationConstraintException', 'InvalidBucketName',
  'RequestTimeTooSkewed', 'NotImplemented', 'InvalidRegion', 'MovedPermanently', 'Redirect', 'TemporaryRedirect',
]);

const TRANSIENT_CODES = new Set([
  'SlowDown', 'Throttling', 'ThrottlingException', 'ThrottledException', 'RequestThrottled', 'RequestThrottledException',
  'TooManyRequestsException', 'RequestLimitExceeded', 'ProvisionedThroughputExceededException', 'BandwidthLimitExceeded',
  'RequestTimeout', 'RequestTimeoutException', 'InternalError', 'ServiceUnavailable', 'BadDigest', 'IncompleteBody',
  'TimeoutError', 'NetworkingError', 'EC2ThrottledException', 'OperationAborted',
]);

/** Node and undici error codes of a failed connection or socket. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH',
  'ECONNABORTED', 'ESOCKETTIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET', 'ERR_STREAM_PREMATURE_CLOSE',
]);

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** The S3 error code (NoSuchKey, SlowDown, …) or Node error code of an SDK failure. */
export function s3ErrorCode(err: unknown): string | undefined {
  if (!err || typeof err !== 'object') return undefined;
  const e = err as SdkErrorShape;
  return str(e.Code) ?? str(e.code) ?? (str(e.name) !== 'Error' ? str(e.name) : undefined);
}

function httpStatus(err: unknown): number | undefined {
  if (!err || typeof err !== 'object') return undefined;
  const s = (err as SdkErrorShape).$metadata?.httpStatusCode;
  return typeof s === 'number' ? s : undefined;
}

export function classifyS3Error(err: unknown): S3FailureKind {
  const code = s3ErrorCode(err);
  const status = httpStatus(err);
  if (code === 'NoSuchBucket') return 'no-such-bucket';
  if (code === 'NoSuchKey' || code === 'NotFound' || status === 404) return 'not-found';
  if (code && CREDENTIAL_CODES.has(code)) return 'credentials';
  if (code && CONFIG_CODES.has(code)) return 'config';
  if (status === 401 || status === 403) return 'credentials';
  if (status === 301 || status === 307) return 'config';
  if ((code && TRANSIENT_CODES.has(code)) || (code && NETWORK_CODES.has(code))) return 'transient';
  if (status !== undefined && (status >= 500 || status === 429 || status === 408)) return 'transient';
  if (err && typeof err === 'object' && (err as SdkErrorShape).$retryable) return 'transient';
  if (status !== undefined && status >= 400) return 'invalid-input';
  // No HTTP answer at all: the connection failed somewhere between here and the server.
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const c = (e as SdkErrorShape).code;
    if (typeof c === 'string' && NETWORK_CODES.has(c)) return 'transient';
    e = (e as { cause?: unknown }).cause;
  }
  return 'transient';
}

export interface S3ErrorContext {
  /** What was attempted: 'put', 'get', 'stat', 'list', 'delete'. */
  readonly op: string;
  readonly bucket: string;
  /** The full key in the bucket, prefix included. */
  readonly key?: string;
  readonly endpoint?: string;
}

const CREDENTIALS_HINT =
  'check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or ~/.aws/credentials ([default] aws_access_key_id=…, aws_secret_access_key=…, ' +
  'or the profile named by AWS_PROFILE); for Google Cloud Storage the key must be an HMAC key. ' +
  '(S3 also answers 403 for a missing key when the credentials lack s3:ListBucket.)';

/**
 * Maps an SDK failure to the project's error classes. NotFoundError for a missing object;
 * ConfigError for a missing bucket, rejected credentials or a wrong region or endpoint;
 * TransientError for throttling, 5xx and network failures; InvalidInputError for other
 * rejections of the request itself. The message never contains credentials.
 */
export function mapS3Error(err: unknown, ctx: S3ErrorContext): PromptError {
  const code = s3ErrorCode(err) ?? 'unknown';
  const status = httpStatus(err);
  const where = ctx.key !== undefined ? `s3://${ctx.bucket}/${ctx.key}` : `s3://${ctx.bucket}`;
  const server = ctx.endpoint ? ` at ${ctx.endpoint}` : '';
  const detail = `${code}${status !== undefined ? ` (HTTP ${status})` : ''}`;
  const options = { cause: summarize(err, code, status) };
  switch (classifyS3Error(err)) {
    case 'not-found':
      return new NotFoundError(`object ${where} does not exist`, options);
    case 'no-such-bucket':
      return noSuchBucketError(ctx, err);
    case 'credentials':
      return new ConfigError(
        `S3 ${ctx.op} ${where}${server} was refused: ${detail}. The credentials are missing, wrong or lack permission for ` +
          `bucket '${ctx.bucket}'; ${CREDENTIALS_HINT}`,
        options,
      );
    case 'config':
      return new ConfigError(`S3 ${ctx.op} ${where}${server} failed: ${detail}${configHint(code)}`, options);
    case 'transient':
      return new TransientError(`S3 ${ctx.op} ${where}${server} failed, a retry may succeed: ${detail}${messageOf(err)}`, options);
    case 'invalid-input':
      return new InvalidInputError(`S3 ${ctx.op} ${where}${server} was rejected: ${detail}${messageOf(err)}`, options);
  }
}

/** ConfigError for a bucket that does not exist (S3's NoSuchBucket, or HEAD bucket's 404). */
export function noSuchBucketError(ctx: S3ErrorContext, err: unknown): ConfigError {
  const cause = summarize(err, s3ErrorCode(err) ?? 'NoSuchBucket', httpStatus(err));
  const where = ctx.key !== undefined ? ` (${ctx.op} s3://${ctx.bucket}/${ctx.key})` : ` (${ctx.op})`;
  return new ConfigError(`bucket '${ctx.bucket}' does not exist${ctx.endpoint ? ` at ${ctx.endpoint}` : ''}${where}`, { cause });
}

/**
 * The SDK's exception carries the raw HTTP response (sockets, signed request headers): the
 * cause kept is a plain Error with the S3 code, HTTP status, request id and Node error code.
 */
function summarize(err: unknown, code: string, status: number | undefined): Error {
  const e = (err && typeof err === 'object' ? err : {}) as SdkErrorShape & {
    $metadata?: { requestId?: unknown; extendedRequestId?: unknown };
  };
  const summary = new Error(str(e.message) ?? code);
  summary.name = code;
  const fields: Record<string, unknown> = { code };
  if (status !== undefined) fields.httpStatusCode = status;
  const requestId = str(e.$metadata?.requestId);
  if (requestId) fields.requestId = requestId;
  const extended = str(e.$metadata?.extendedRequestId);
  if (extended) fields.extendedRequestId = extended;
  return Object.assign(summary, fields);
}

function configHint(code: string): string {
  switch (code) {
    case 'PermanentRedirect':
    case 'AuthorizationHeaderMalformed':
    case 'IllegalLocationConstraintException':
    case 'InvalidRegion':
    case 'MovedPermanently':
    case 'Redirect':
    case 'TemporaryRedirect':
      return '; the bucket is in another region: set ?region= in the bucket URL, or AWS_REGION';
    case 'RequestTimeTooSkewed':
      return "; this machine's clock is off by more than 15 minutes";
    case 'NotImplemented':
      return '; the server does not implement this S3 operation';
    default:
      return '';
  }
}

function messageOf(err: unknown): string {
  const m = err && typeof err === 'object' ? str((err as SdkErrorShape).message) : undefined;
  return m && m !== 'UnknownError' ? `: ${m}` : '';
}
