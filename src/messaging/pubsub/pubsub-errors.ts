/**
 * Errors of the official Pub/Sub client → the classes of core/errors.ts.
 *
 * Over gRPC an error carries a gRPC status code (`err.code`, 0-16). Over the REST transport the
 * client turns the JSON error body into the same codes (from `error.status`, else from the HTTP
 * status); an HTTP status may still show up as `code` (100-599) and is mapped too. Network
 * failures carry no status at all (`fetch failed`, ECONNREFUSED...): TransientError.
 */
import {
  ConfigError,
  InvalidInputError,
  NotFoundError,
  PromptError,
  TransientError,
  errorMessage,
} from '../../core/errors.ts';

/** gRPC status codes (google.rpc.Code). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

const STATUS_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(GrpcStatus).map(([name, code]) => [code, name]),
);

/** HTTP status → gRPC status, as Google APIs map them. */
export function grpcStatusOfHttp(status: number): number {
  switch (status) {
    case 400:
      return GrpcStatus.INVALID_ARGUMENT;
    case 401:
      return GrpcStatus.UNAUTHENTICATED;
    case 403:
      return GrpcStatus.PERMISSION_DENIED;
    case 404:
      return GrpcStatus.NOT_FOUND;
    case 408:
    case 504:
      return GrpcStatus.DEADLINE_EXCEEDED;
    case 409:
      return GrpcStatus.ALREADY_EXISTS;
    case 412:
      return GrpcStatus.FAILED_PRECONDITION;
    case 429:
      return GrpcStatus.RESOURCE_EXHAUSTED;
    case 499:
      return GrpcStatus.CANCELLED;
    case 501:
      return GrpcStatus.UNIMPLEMENTED;
    case 503:
      return GrpcStatus.UNAVAILABLE;
    default:
      if (status >= 500) return GrpcStatus.INTERNAL;
      if (status >= 400) return GrpcStatus.INVALID_ARGUMENT;
      return GrpcStatus.UNKNOWN;
  }
}

/** The gRPC status code of a client error, or undefined when it has none (a network failure). */
export function grpcStatusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'number' && Number.isInteger(code)) {
    if (code >= 0 && code <= 16) return code;
    if (code >= 100 && code <= 599) return grpcStatusOfHttp(code);
  }
  return undefined;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

/** The system error code of a network failure (on the error or its causes), e.g. ECONNREFUSED. */
function networkCode(err: unknown): string | undefined {
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The server's text without gRPC's "5 NOT_FOUND: " prefix. */
function detailText(err: unknown): string {
  if (typeof err === 'object' && err !== null) {
    const details = (err as { details?: unknown }).details;
    if (typeof details === 'string' && details !== '') return details;
  }
  return errorMessage(err).replace(/^\d+ [A-Z_]+: /, '');
}

/**
 * Maps a client error to InvalidInputError, NotFoundError, ConfigError or TransientError, with
 * `what` ("publish to topic nextVisit") in front of the server's message. Errors that are
 * already of our classes pass through.
 */
export function mapPubSubError(err: unknown, what: string, endpoint: string): PromptError {
  if (err instanceof PromptError) return err;
  const status = grpcStatusOf(err);
  const detail = detailText(err);
  const message = `${what}: ${detail}`;
  const options = { cause: err };
  if (status === undefined) {
    const net = networkCode(err);
    if (net !== undefined || /fetch failed|socket hang up|network/i.test(detail)) {
      return new TransientError(`${what}: cannot reach Pub/Sub at ${endpoint}: ${net ?? detail}`, options);
    }
    if (/default credentials|could not load|invalid_grant|unable to detect a project id/i.test(detail)) {
      return new ConfigError(`${what}: no usable Google credentials: ${detail}`, options);
    }
    return new TransientError(message, options);
  }
  const name = STATUS_NAMES[status] ?? String(status);
  switch (status) {
    case GrpcStatus.INVALID_ARGUMENT:
    case GrpcStatus.OUT_OF_RANGE:
      return new InvalidInputError(message, options);
    case GrpcStatus.NOT_FOUND:
      return new NotFoundError(message, options);
    case GrpcStatus.ALREADY_EXISTS:
    case GrpcStatus.FAILED_PRECONDITION: // e.g. Pub/Sub may not publish to the dead-letter topic
    case GrpcStatus.PERMISSION_DENIED:
    case GrpcStatus.UNAUTHENTICATED:
    case GrpcStatus.UNIMPLEMENTED:
      return new ConfigError(`${message} (${name})`, options);
    case GrpcStatus.UNAVAILABLE:
      return new TransientError(`${what}: Pub/Sub at ${endpoint} is unavailable: ${detail}`, options);
    case GrpcStatus.DEADLINE_EXCEEDED:
      return new TransientError(`${what}: Pub/Sub at ${endpoint} did not answer in time: ${detail}`, options);
    default:
      // CANCELLED, UNKNOWN, RESOURCE_EXHAUSTED, ABORTED, INTERNAL, DATA_LOSS: retry later.
      return new TransientError(`${message} (${name})`, options);
  }
}
