import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The `prompt` command's entry point, for starting sibling services as child processes. */
export const PROMPT_BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/prompt.js');

export interface ChildService {
  readonly name: string;
  readonly url: string;
  readonly child: ChildProcess;
  /** Resolves when the process has exited. */
  readonly exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface StartChildOptions {
  name: string;
  args: readonly string[];
  env?: Record<string, string | undefined>;
  /** Every line the child prints (JSON log lines) is appended here. */
  logFile: string;
  /** Called with each parsed JSON log line. */
  onLine?: (line: Record<string, unknown>) => void;
  readyTimeoutMs?: number;
}

/**
 * Starts `prompt <args>` as a child process and waits for its `{"event":"listening","url":…}`
 * log line. Its stdout and stderr go to `logFile`.
 */
export async function startChildService(opts: StartChildOptions): Promise<ChildService> {
  const child = spawn(process.execPath, [PROMPT_BIN, ...opts.args], {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log: WriteStream = createWriteStream(opts.logFile, { flags: 'a' });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  exited.then(() => log.end());
  child.stderr?.pipe(log, { end: false });
  let resolveUrl: (u: string) => void = () => undefined;
  const urlPromise = new Promise<string>((resolve) => (resolveUrl = resolve));
  if (child.stdout) {
    const rl = createInterface({ input: child.stdout });
    rl.on('line', (line) => {
      log.write(line + '\n');
      if (!line.startsWith('{')) return;
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if (rec.event === 'listening' && typeof rec.url === 'string') resolveUrl(rec.url);
      opts.onLine?.(rec);
    });
  }
  const timeoutMs = opts.readyTimeoutMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  const url = await Promise.race([
    urlPromise,
    exited.then((code) => {
      throw new Error(`${opts.name} exited with code ${code} before it was ready; see ${opts.logFile}`);
    }),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${opts.name} was not ready within ${timeoutMs} ms; see ${opts.logFile}`)), timeoutMs);
    }),
  ]).finally(() => clearTimeout(timer));
  return {
    name: opts.name,
    url,
    child,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}
