import { AsyncLocalStorage } from 'node:async_hooks';
import { pino, destination, type DestinationStream, type Logger as PinoLogger } from 'pino';

/**
 * Structured JSON logging, one line per event, in the shape Google Cloud Logging reads:
 * `severity`, `message`, `time`, and labels (instrument) under both `labels` and
 * `logging.googleapis.com/labels`. Context an operator searches by (group, detector,
 * exposure, stage, durationS) goes in as fields; `withLogContext` puts a unit of work's context
 * on every line written during it.
 */
export type Logger = PinoLogger;

const SEVERITY: Record<string, string> = {
  trace: 'DEBUG',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARNING',
  error: 'ERROR',
  fatal: 'CRITICAL',
};

/** Fields that every log line written within a unit of work carries (see `withLogContext`). */
export type LogContext = Record<string, unknown>;

const contextStore = new AsyncLocalStorage<LogContext>();

/**
 * Runs `fn` with `fields` added to every line that any logger made by `createLogger` writes
 * while it runs, including in the callbacks and promises it starts: a detector-visit's group
 * and detector reach the lines of every component it calls (the data repositories, the APDB
 * step) without each of them being handed a logger for it. Fields given to a log call take
 * precedence; contexts nest.
 */
export function withLogContext<T>(fields: LogContext, fn: () => T): T {
  return contextStore.run({ ...contextStore.getStore(), ...fields }, fn);
}

/** Adds fields to the current context (e.g. the exposure ids once the snaps are in); outside one it does nothing. */
export function addLogContext(fields: LogContext): void {
  const store = contextStore.getStore();
  if (store) Object.assign(store, fields);
}

/** The fields of the current context (a copy). */
export function currentLogContext(): LogContext {
  return { ...contextStore.getStore() };
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export interface LoggerOptions {
  component: string;
  instrument?: string;
  level?: LogLevel;
  destination?: DestinationStream;
}

/**
 * Level per component from `PROMPT_LOG_LEVEL`: a default level and overrides, e.g.
 * `info,activator=debug,broker=warn`.
 */
export function levelFor(component: string, spec: string | undefined = process.env.PROMPT_LOG_LEVEL): LogLevel {
  const valid = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);
  let level: LogLevel = 'info';
  for (const part of (spec ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq < 0) {
      if (valid.has(part)) level = part as LogLevel;
    } else if (part.slice(0, eq) === component && valid.has(part.slice(eq + 1))) {
      return part.slice(eq + 1) as LogLevel;
    }
  }
  return level;
}

export function createLogger(opts: LoggerOptions): Logger {
  const labels: Record<string, string> = { component: opts.component };
  if (opts.instrument) labels.instrument = opts.instrument;
  return pino(
    {
      level: opts.level ?? levelFor(opts.component),
      messageKey: 'message',
      base: { labels, 'logging.googleapis.com/labels': labels },
      // A copy: pino merges the call's fields into what the mixin returns.
      mixin: currentLogContext,
      timestamp: () => `,"time":"${new Date().toISOString()}"`,
      formatters: {
        level(label) {
          return { severity: SEVERITY[label] ?? 'DEFAULT' };
        },
      },
    },
    opts.destination ?? destination({ fd: 1, sync: false }),
  );
}

/** A logger that writes nothing (tests, library defaults). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
