/**
 * ~/.pgpass, read as libpq reads it: `hostname:port:database:username:password` per line, `*`
 * matching anything, `\:` and `\\` escapes, `#` comments; the file is `PGPASSFILE` or
 * `$HOME/.pgpass`, and is ignored (with a warning) unless it is a regular file without group or
 * world access. A host that is a Unix socket directory matches `localhost`.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface PgpassEntry {
  /** null = `*`. */
  readonly host: string | null;
  readonly port: string | null;
  readonly database: string | null;
  readonly user: string | null;
  readonly password: string;
}

export interface PgpassQuery {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
}

/** Splits one line into its fields, unescaping; a field that is exactly an unescaped `*` is null. */
function splitLine(line: string): Array<string | null> {
  const fields: Array<string | null> = [];
  let cur = '';
  let escaped = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (ch === '\\' && i + 1 < line.length) {
      cur += line[++i];
      escaped = true;
    } else if (ch === ':' && fields.length < 4) {
      fields.push(cur === '*' && !escaped ? null : cur);
      cur = '';
      escaped = false;
    } else if (ch === ':') {
      // libpq: the password ends at its first unescaped colon.
      break;
    } else {
      cur += ch;
    }
  }
  fields.push(cur === '*' && !escaped && fields.length < 4 ? null : cur);
  return fields;
}

export function parsePgpass(text: string): PgpassEntry[] {
  const entries: PgpassEntry[] = [];
  for (const raw of text.split(/\r?\n/)) {
    if (raw === '' || raw.startsWith('#')) continue;
    const f = splitLine(raw);
    if (f.length < 5) continue;
    entries.push({ host: f[0], port: f[1], database: f[2], user: f[3], password: f[4] ?? '' });
  }
  return entries;
}

/** The first entry's password that matches, as libpq picks it. */
export function matchPgpass(entries: readonly PgpassEntry[], q: PgpassQuery): string | undefined {
  const host = q.host === '' || q.host.startsWith('/') ? 'localhost' : q.host;
  const port = String(q.port);
  for (const e of entries) {
    if ((e.host === null || e.host === host)
      && (e.port === null || e.port === port)
      && (e.database === null || e.database === q.database)
      && (e.user === null || e.user === q.user)) return e.password;
  }
  return undefined;
}

export function pgpassFile(env: NodeJS.ProcessEnv): string {
  if (env.PGPASSFILE) return env.PGPASSFILE;
  return path.join(env.HOME ?? os.homedir(), '.pgpass');
}

/**
 * The password for `q` from the password file, or undefined (no file, no match, unsafe
 * permissions — the last with a warning, as libpq gives).
 */
export async function pgpassPassword(q: PgpassQuery, env: NodeJS.ProcessEnv = process.env, warn: (message: string) => void = (m) => process.emitWarning(m)): Promise<string | undefined> {
  const file = pgpassFile(env);
  let st;
  try {
    st = await fs.stat(file);
  } catch {
    return undefined;
  }
  if (!st.isFile()) {
    warn(`password file "${file}" is not a plain file`);
    return undefined;
  }
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    warn(`password file "${file}" has group or world access; permissions should be u=rw (0600) or less`);
    return undefined;
  }
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  return matchPgpass(parsePgpass(text), q);
}
