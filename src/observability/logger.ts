import { pino, destination, type DestinationStream, type Logger as PinoLogger } from 'pino';

/**
 * Structured JSON logging, one line per event, in the shape Google Cloud Logging reads:
 * `severity`, `message`, `time`, and labels (instrument) under both `labels` and
 * `logging.googleapis.com/labels`. Context an operator searches by (group, detector,
 * exposure, stage, durationS) goes in as fields.
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
