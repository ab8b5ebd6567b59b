import { ConfigError, errorMessage } from '../../core/errors.ts';
import { assertSafePrefix } from '../key-safety.ts';

/**
 * Where an S3 store lives. Credentials are not part of it: they come from the SDK's default
 * provider chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, or ~/.aws/credentials with
 * AWS_PROFILE; for Google Cloud Storage an HMAC key), so no URL or config file carries them.
 */
export interface S3StoreConfig {
  readonly bucket: string;
  /** Key prefix inside the bucket (`some/prefix`); the store's keys live below `some/prefix/`. */
  readonly prefix?: string;
  /**
   * S3-compatible server (`http://127.0.0.1:9000` for MinIO, Ceph or s3rver;
   * `https://storage.googleapis.com` for Google Cloud Storage). Default: S3_ENDPOINT_URL,
   * AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, else AWS itself.
   */
  readonly endpoint?: string;
  /** Default: AWS_REGION, AWS_DEFAULT_REGION, else us-east-1. */
  readonly region?: string;
  /** Path-style URLs (`endpoint/bucket/key`). Default: true when an endpoint is in use. */
  readonly forcePathStyle?: boolean;
  /** Keys per ListObjectsV2 page, 1–1000 (S3 caps pages at 1000). Default 1000. */
  readonly pageSize?: number;
}

/** A config with every default decided (at setup time, from the environment). */
export interface S3Settings {
  readonly bucket: string;
  /** '' or a prefix ending in '/'. */
  readonly keyPrefix: string;
  readonly endpoint: string | undefined;
  readonly region: string;
  readonly forcePathStyle: boolean;
  readonly pageSize: number;
}

/** Environment variables that name an S3 endpoint, in order of precedence. */
export const S3_ENDPOINT_ENV = ['S3_ENDPOINT_URL', 'AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL'] as const;

const QUERY_PARAMS = ['endpoint', 'region', 'forcePathStyle', 'pageSize'] as const;

/**
 * Parses `s3://bucket[/prefix][?endpoint=URL&region=R&forcePathStyle=true|false&pageSize=N]`
 * (the endpoint percent-encoded or not). ConfigError names what is wrong; a URL that carries
 * credentials is refused and never repeated in the message.
 */
export function parseS3Url(url: string): S3StoreConfig {
  const m = /^s3:\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?(#.*)?$/i.exec(url);
  if (!m) throw new ConfigError(`bucket URL ${JSON.stringify(redact(url))} is not of the form s3://bucket[/prefix][?endpoint=…]`);
  const [, authority, rawPath, rawQuery, fragment] = m;
  if (authority.includes('@')) {
    throw new ConfigError(
      `bucket URL ${JSON.stringify(redact(url))} carries credentials; remove them and use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or ~/.aws/credentials`,
    );
  }
  // Messages repeat the bucket and path only: query values may hold what should not be logged.
  const shown = JSON.stringify(`s3://${authority}${rawPath}`);
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

  const config: { -readonly [K in keyof S3StoreConfig]: S3StoreConfig[K] } = { bucket: authority };
  if (prefix !== '') config.prefix = prefix;
  const params = new URLSearchParams(rawQuery ?? '');
  const seen = new Set<string>();
  for (const [name, value] of params) {
    if (!(QUERY_PARAMS as readonly string[]).includes(name)) {
      throw new ConfigError(`bucket URL ${shown}: unknown parameter '${name}' (known: ${QUERY_PARAMS.join(', ')})`);
    }
    if (seen.has(name)) throw new ConfigError(`bucket URL ${shown}: parameter '${name}' is given twice`);
    seen.add(name);
    switch (name) {
      case 'endpoint':
        config.endpoint = value;
        break;
      case 'region':
        config.region = value;
        break;
      case 'forcePathStyle':
        if (value !== 'true' && value !== 'false') {
          throw new ConfigError(`bucket URL ${shown}: forcePathStyle must be true or false, not '${value}'`);
        }
        config.forcePathStyle = value === 'true';
        break;
      case 'pageSize':
        if (!/^\d+$/.test(value)) throw new ConfigError(`bucket URL ${shown}: pageSize must be a whole number, not '${value}'`);
        config.pageSize = Number(value);
        break;
    }
  }
  try {
    validateS3StoreConfig(config);
  } catch (e) {
    throw new ConfigError(`bucket URL ${shown}: ${errorMessage(e)}`, { cause: e });
  }
  return config;
}

/** Checks a config's values; ConfigError names the field. */
export function validateS3StoreConfig(config: S3StoreConfig): void {
  const b = config.bucket;
  if (typeof b !== 'string' || !/^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/.test(b) || b.includes('..')) {
    throw new ConfigError(
      `'${b}' is not a bucket name (3–222 characters: lowercase letters, digits, '.', '-', '_'; starting and ending with a letter or digit)`,
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
  if (config.endpoint !== undefined) checkEndpoint(config.endpoint, 'endpoint');
  if (config.region !== undefined && !/^[a-z0-9-]{1,64}$/.test(config.region)) {
    throw new ConfigError(`region '${config.region}' is not a region name (lowercase letters, digits and '-')`);
  }
  if (config.pageSize !== undefined && !(Number.isInteger(config.pageSize) && config.pageSize >= 1 && config.pageSize <= 1000)) {
    throw new ConfigError(`pageSize ${config.pageSize} is not a whole number from 1 to 1000`);
  }
}

function checkEndpoint(endpoint: string, what: string): void {
  let u: URL;
  try {
    u = new URL(endpoint);
  } catch {
    throw new ConfigError(`${what} ${JSON.stringify(redact(endpoint))} is not a URL (e.g. http://127.0.0.1:9000)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new ConfigError(`${what} ${JSON.stringify(redact(endpoint))} is not an http:// or https:// URL`);
  }
  if (u.username || u.password) {
    throw new ConfigError(`${what} ${JSON.stringify(redact(endpoint))} carries credentials; use the AWS credential chain instead`);
  }
  if (u.search || u.hash) throw new ConfigError(`${what} ${JSON.stringify(redact(endpoint))} has a query or fragment`);
}

/**
 * Decides every default once: the endpoint from the config or, failing that, the environment;
 * the region from the config, AWS_REGION, AWS_DEFAULT_REGION or us-east-1.
 */
export function resolveS3Settings(config: S3StoreConfig, env: Readonly<Record<string, string | undefined>> = process.env): S3Settings {
  validateS3StoreConfig(config);
  let endpoint = config.endpoint;
  if (endpoint === undefined) {
    for (const name of S3_ENDPOINT_ENV) {
      const v = env[name];
      if (v) {
        checkEndpoint(v, name);
        endpoint = v;
        break;
      }
    }
  }
  const region = config.region ?? (env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1');
  if (!/^[a-z0-9-]{1,64}$/.test(region)) throw new ConfigError(`region '${region}' (from the environment) is not a region name`);
  const prefix = config.prefix?.replace(/\/$/, '') ?? '';
  return {
    bucket: config.bucket,
    keyPrefix: prefix === '' ? '' : `${prefix}/`,
    endpoint,
    region,
    forcePathStyle: config.forcePathStyle ?? endpoint !== undefined,
    pageSize: config.pageSize ?? 1000,
  };
}

/** Hides userinfo in a URL before it goes into a message. */
function redact(url: string): string {
  return url.replace(/\/\/[^/?#@]*@/g, '//***@');
}
