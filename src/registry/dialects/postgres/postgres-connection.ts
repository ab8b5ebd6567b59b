/**
 * Connection settings for PostgreSQL, resolved the way libpq resolves them: the URL first, then
 * the PG environment variables (PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD, PGSSLMODE,
 * PGAPPNAME, PGCONNECT_TIMEOUT), then ~/.pgpass for the password, then libpq's defaults.
 */
import os from 'node:os';
import { ConfigError } from '../../../core/errors.ts';
import { pgpassPassword } from './pgpass.ts';

export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';
const SSL_MODES: readonly SslMode[] = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];

export interface PgSettings {
  /** A host name, an address, or a Unix socket directory. */
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  /** From the URL or PGPASSWORD; otherwise looked up in ~/.pgpass when connecting. */
  readonly password: string | undefined;
  readonly sslmode: SslMode;
  readonly applicationName: string;
  readonly connectTimeoutS: number | undefined;
}

const QUERY_PARAMS = ['host', 'port', 'sslmode', 'application_name', 'connect_timeout'];

export function resolvePgSettings(url: string, env: NodeJS.ProcessEnv = process.env): PgSettings {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(`registry db '${redact(url)}' is not a valid postgresql:// URL`);
  }
  for (const k of u.searchParams.keys()) {
    if (!QUERY_PARAMS.includes(k)) {
      throw new ConfigError(`registry db URL parameter '${k}' is not supported (supported: ${QUERY_PARAMS.join(', ')})`);
    }
  }
  const q = (k: string): string | undefined => u.searchParams.get(k) || undefined;
  const dec = (s: string): string | undefined => (s === '' ? undefined : decodeURIComponent(s));
  const hostname = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const host = q('host') ?? (dec(hostname) || env.PGHOST || 'localhost');
  const portText = q('port') ?? (u.port || env.PGPORT || '5432');
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ConfigError(`registry db port '${portText}' is not a port number`);
  const user = dec(u.username) ?? env.PGUSER ?? os.userInfo().username;
  const dbPath = u.pathname.replace(/^\//, '');
  if (dbPath.includes('/')) throw new ConfigError(`registry db URL path '${u.pathname}' must be one database name`);
  const database = dec(dbPath) ?? env.PGDATABASE ?? user;
  const password = dec(u.password) ?? (env.PGPASSWORD || undefined);
  const sslText = q('sslmode') ?? env.PGSSLMODE ?? 'prefer';
  if (!SSL_MODES.includes(sslText as SslMode)) throw new ConfigError(`sslmode '${sslText}' is not one of ${SSL_MODES.join(', ')}`);
  const timeoutText = q('connect_timeout') ?? env.PGCONNECT_TIMEOUT;
  const connectTimeoutS = timeoutText === undefined ? undefined : Number(timeoutText);
  if (connectTimeoutS !== undefined && !(connectTimeoutS >= 0)) throw new ConfigError(`connect_timeout '${timeoutText}' is not a number of seconds`);
  return {
    host, port, database, user, password,
    sslmode: sslText as SslMode,
    applicationName: q('application_name') ?? env.PGAPPNAME ?? 'prompt-registry',
    connectTimeoutS,
  };
}

/** The password to send: the configured one, else ~/.pgpass's, else none. */
export async function passwordFor(s: PgSettings, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  if (s.password !== undefined) return s.password;
  return pgpassPassword({ host: s.host, port: s.port, database: s.database, user: s.user }, env);
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:@/]*):[^@/]*@/i, '$1:***@');
}

/** `postgresql://user@host:port/db`, never with a password. */
export function describeSettings(s: PgSettings): string {
  const host = s.host.includes(':') ? `[${s.host}]` : s.host;
  return s.host.startsWith('/')
    ? `postgresql://${encodeURIComponent(s.user)}@/${encodeURIComponent(s.database)}?host=${s.host}&port=${s.port}`
    : `postgresql://${encodeURIComponent(s.user)}@${host}:${s.port}/${encodeURIComponent(s.database)}`;
}
