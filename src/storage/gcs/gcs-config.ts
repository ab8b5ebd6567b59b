import { ConfigError, errorMessage } from '../../core/errors.ts';
import { assertSafePrefix } from '../key-safety.ts';

/**
 * Where a Google Cloud Storage store lives. Credentials are normally not part of it: the
 * official client finds Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, the
 * file `gcloud auth application-default login` writes, or the attached service account), so
 * no URL or config file carries them. `credentials` / `keyFilename` exist for callers that
 * must name a service-account key explicitly.
 */
export interface GcsStoreConfig {
  readonly bucket: string;
  /** Object name prefix inside the bucket (`some/prefix`); the store's keys live below `some/prefix/`. */
  readonly prefix?: string;
  /** Project for requests that need one (a short Pub/Sub topic name in createGcsNotification). */
  readonly projectId?: string;
  /**
   * JSON API server, e.g. `http://127.0.0.1:4443` for fake-gcs-server or a Private Service
   * Connect endpoint. Default: https://storage.googleapis.com, or STORAGE_EMULATOR_HOST when set
   * (which the official client reads itself). Requests to an http:// endpoint or an emulator
   * are sent without credentials; any other https:// endpoint gets them.
   *
   * fake-gcs-server and Google's storage-testbench want this endpoint, with STORAGE_EMULATOR_HOST
   * unset: when the variable is set, the Node client sends metadata requests to
   * `${STORAGE_EMULATOR_HOST}/b/…`, without `/storage/v1` (nodejs-storage#2069), which only
   * emulators that serve that path (the Firebase Storage emulator) answer.
   */
  readonly apiEndpoint?: string;
  /** A service-account key (its JSON fields), instead of Application Default Credentials. */
  readonly credentials?: { readonly client_email?: string; readonly private_key?: string; readonly [field: string]: unknown };
  /** Path of a service-account key file, instead of Application Default Credentials. */
  readonly keyFilename?: string;
  /** Objects per list page, 1–1000 (the JSON API caps pages at 1000). Default 1000. */
  readonly pageSize?: number;
  /**
   * Retries the client itself makes of an idempotent request (get, stat, list) after 408, 429,
   * 5xx or a reset connection, with exponential backoff; 0 turns them off. Default 3.
   */
  readonly maxRetries?: number;
}

/** A config with every default decided (at setup time, from the environment). */
export interface GcsSettings {
  readonly bucket: string;
  /** '' or a prefix ending in '/'. */
  readonly keyPrefix: string;
  readonly projectId: string | undefined;
  /** The endpoint given in the config; undefined when the client's own default applies. */
  readonly apiEndpoint: string | undefined;
  /** Where requests go, for messages: the endpoint, STORAGE_EMULATOR_HOST, or undefined for Google. */
  readonly server: string | undefined;
  /** Send credentials to a custom endpoint (https:// endpoints only). */
  readonly useAuthWithCustomEndpoint: boolean;
  readonly pageSize: number;
  readonly maxRetries: number;
}

/** The environment variable the official client reads for an emulator. */
export const GCS_EMULATOR_ENV = 'STORAGE_EMULATOR_HOST';

const QUERY_PARAMS = ['endpoint', 'project'] as const;

/**
 * Parses `gs://bucket[/prefix][?endpoint=URL&project=P]` (the endpoint percent-encoded or
 * not). ConfigError names what is wrong; a URL that carries credentials is refused and never
 * repeated in the message.
 */
export function parseGcsUrl(url: string): Pick<GcsStoreConfig, 'bucket' | 'prefix' | 'apiEndpoint' | 'projectId'> {
  const m = /^gs:\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?(#.*)?$/i.exec(url);
  if (!m) throw new ConfigError(`bucket URL ${JSON.stringify(redact(url))} is not of the form gs://bucket[/prefix][?endpoint=…&project=…]`);
  const [, authority, rawPath, rawQuery, fragment] = m;
  if (authority.includes('@')) {
    throw new ConfigError(
      `bucket URL ${JSON.stringify(redact(url))} carries credentials; remove them and use Application Default Credentials ` +
        '(GOOGLE_APPLICATION_CREDENTIALS or `gcloud auth application-default login`)',
    );
  }
  // Messages repeat the bucket and path only: query values may hold what should not be logged.
  const shown = JSON.stringify(`gs://${authority}${rawPath}`);
  if (authority === '') throw new ConfigError(`bucket URL ${shown} has no bucket name`);
  if (authority.includes(':')) {
    throw new ConfigError(`bucket URL ${shown}: '${authority}' is not a bucket name; give the server as ?endpoint=http://host:port`);
  }
  if (fragment !== undefined) throw new ConfigError(`bucket URL ${shown} has a '#' fragment`);

  const segments = rawPath === '' || rawPath === '/' ? [] : rawPath.replace(/^\//, '').replace(/\/$/, '').split('/');
  let prefix: string;
  try {
    prefix = segments.map((s) => decodeURIComponent(s)).join('/');
  } catch {
    throw new ConfigError(`bucket URL ${shown} has a malformed percent-encoding in its path`);
  }

  const config: { -readonly [K in 'bucket' | 'prefix' | 'apiEndpoint' | 'projectId']?: string } & { bucket: string } = { bucket: authority };
  if (prefix !== '') config.prefix = prefix;
  const seen = new Set<string>();
  for (const [name, value] of new URLSearchParams(rawQuery ?? '')) {
    if (!(QUERY_PARAMS as readonly string[]).includes(name)) {
      throw new ConfigError(`bucket URL ${shown}: unknown parameter '${name}' (known: ${QUERY_PARAMS.join(', ')})`);
    }
    if (seen.has(name)) throw new ConfigError(`bucket URL ${shown}: parameter '${name}' is given twice`);
    seen.add(name);
    if (name === 'endpoint') config.apiEndpoint = value;
    else config.projectId = value;
  }
  try {
    validateGcsStoreConfig(config);
  } catch (e) {
    throw new ConfigError(`bucket URL ${shown}: ${errorMessage(e)}`, { cause: e });
  }
  return config;
}

/**
 * Checks a bucket name against Cloud Storage's naming rules: 3–63 characters (up to 222 when
 * dotted, each dot-separated part at most 63), lowercase letters, digits, '-', '_' and '.',
 * starting and ending with a letter or digit; not an IP address; not starting with "goog" and
 * not containing "google".
 */
export function isGcsBucketName(b: string): boolean {
  if (typeof b !== 'string' || !/^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/.test(b)) return false;
  const parts = b.split('.');
  if (parts.length === 1 && b.length > 63) return false;
  if (parts.some((p) => p.length === 0 || p.length > 63)) return false;
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(b)) return false;
  return !b.startsWith('goog') && !b.includes('google');
}

/** Checks a config's values; ConfigError names the field. */
export function validateGcsStoreConfig(config: GcsStoreConfig): void {
  const b = config.bucket;
  if (!isGcsBucketName(b)) {
    throw new ConfigError(
      `'${b}' is not a Cloud Storage bucket name (3–63 characters, or up to 222 with dots: lowercase letters, digits, ` +
        `'-', '_', '.'; starting and ending with a letter or digit; not an IP address, not starting with "goog")`,
    );
  }
  if (config.prefix !== undefined) {
    const p = config.prefix.replace(/\/$/, '');
    try {
      if (p === '') throw new Error('it is empty');
      assertSafePrefix(p);
    } catch (e) {
      throw new ConfigError(`prefix '${config.prefix}' is not a usable key prefix: ${errorMessage(e)}`, { cause: e });
    }
  }
  if (config.apiEndpoint !== undefined) checkEndpoint(config.apiEndpoint, 'endpoint');
  if (config.projectId !== undefined && !/^(?:[a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$/.test(config.projectId)) {
    throw new ConfigError(
      `project '${config.projectId}' is not a project ID (6–30 lowercase letters, digits and '-', starting with a letter)`,
    );
  }
  if (config.pageSize !== undefined && !(Number.isInteger(config.pageSize) && config.pageSize >= 1 && config.pageSize <= 1000)) {
    throw new ConfigError(`pageSize ${config.pageSize} is not a whole number from 1 to 1000`);
  }
  if (config.maxRetries !== undefined && !(Number.isInteger(config.maxRetries) && config.maxRetries >= 0 && config.maxRetries <= 10)) {
    throw new ConfigError(`maxRetries ${config.maxRetries} is not a whole number from 0 to 10`);
  }
  if (config.credentials !== undefined && config.keyFilename !== undefined) {
    throw new ConfigError('give either credentials or keyFilename, not both');
  }
}

function checkEndpoint(endpoint: string, what: string): URL {
  let u: URL;
  try {
    u = new URL(endpoint);
  } catch {
    throw new ConfigError(`${what} ${JSON.stringify(redact(endpoint))} is not a URL (e.g. http://127.0.0.1:4443)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new ConfigError(`${what} ${JSON.stringify(redact(endpoint))} is not an http:// or https:// URL`);
  }
  if (u.username || u.password) {
    throw new ConfigError(`${what} ${JSON.stringify(redact(endpoint))} carries credentials; use Application Default Credentials instead`);
  }
  if (u.search || u.hash) throw new ConfigError(`${what} ${JSON.stringify(redact(endpoint))} has a query or fragment`);
  return u;
}

/** `http://h:1/` and `http://h:1` are one endpoint. */
function sameEndpoint(a: string, b: string): boolean {
  return a.replace(/\/+$/, '') === b.replace(/\/+$/, '');
}

/**
 * Decides every default once. STORAGE_EMULATOR_HOST is left to the official client, which
 * sends metadata requests to it and uploads to the endpoint: so an endpoint that differs from
 * it is refused rather than split between two servers, and a value the client cannot use (no
 * http:// or https://) is refused with the fix.
 */
export function resolveGcsSettings(config: GcsStoreConfig, env: Readonly<Record<string, string | undefined>> = process.env): GcsSettings {
  validateGcsStoreConfig(config);
  const emulator = env[GCS_EMULATOR_ENV];
  if (emulator !== undefined) {
    if (emulator === '') {
      throw new ConfigError(`${GCS_EMULATOR_ENV} is set but empty; unset it, or set it to the emulator's URL (e.g. http://127.0.0.1:4443)`);
    }
    if (!/^https?:\/\//i.test(emulator)) {
      throw new ConfigError(
        `${GCS_EMULATOR_ENV} ${JSON.stringify(redact(emulator))} has no http:// or https://; the Node client uses it as given, ` +
          `so set e.g. ${GCS_EMULATOR_ENV}=http://${redact(emulator)}`,
      );
    }
    checkEndpoint(emulator, GCS_EMULATOR_ENV);
    if (config.apiEndpoint !== undefined && !sameEndpoint(config.apiEndpoint, emulator)) {
      throw new ConfigError(
        `the bucket's endpoint ${JSON.stringify(redact(config.apiEndpoint))} differs from ${GCS_EMULATOR_ENV}=${JSON.stringify(redact(emulator))}; ` +
          'the client would send metadata requests to one and uploads to the other: unset one of them',
      );
    }
  }
  const prefix = config.prefix?.replace(/\/$/, '') ?? '';
  const endpointUrl = config.apiEndpoint !== undefined ? new URL(config.apiEndpoint) : undefined;
  return {
    bucket: config.bucket,
    keyPrefix: prefix === '' ? '' : `${prefix}/`,
    projectId: config.projectId,
    apiEndpoint: config.apiEndpoint?.replace(/\/+$/, ''),
    server: config.apiEndpoint?.replace(/\/+$/, '') ?? (emulator ? emulator.replace(/\/+$/, '') : undefined),
    // An emulator takes no credentials; a real service behind a custom https:// endpoint does.
    useAuthWithCustomEndpoint: endpointUrl?.protocol === 'https:' && emulator === undefined,
    pageSize: config.pageSize ?? 1000,
    maxRetries: config.maxRetries ?? 3,
  };
}

/** Hides userinfo in a URL before it goes into a message. */
function redact(url: string): string {
  return url.replace(/\/\/[^/?#@]*@/g, '//***@');
}
