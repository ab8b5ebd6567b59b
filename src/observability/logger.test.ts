import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, levelFor } from './logger.ts';

function capture(): { stream: Writable; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(c, _e, cb) {
      chunks.push(String(c));
      cb();
    },
  });
  return { stream, lines: () => chunks.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('logger', () => {
  it('writes one JSON line per event in the shape Cloud Logging reads', () => {
    const c = capture();
    const log = createLogger({ component: 'activator', instrument: 'LATISS', destination: c.stream });
    log.info({ group: '2026112700001', detector: 0, stage: 'isr', durationS: 1.25 }, 'stage done');
    log.warn('slow');
    log.error({ reason: 'bad' }, 'failed');
    const [a, b, e] = c.lines();
    expect(a).toMatchObject({
      severity: 'INFO',
      message: 'stage done',
      labels: { instrument: 'LATISS', component: 'activator' },
      'logging.googleapis.com/labels': { instrument: 'LATISS' },
      group: '2026112700001',
      detector: 0,
      stage: 'isr',
      durationS: 1.25,
    });
    expect(typeof a.time).toBe('string');
    expect(new Date(a.time as string).toISOString()).toBe(a.time);
    expect(b.severity).toBe('WARNING');
    expect(e).toMatchObject({ severity: 'ERROR', reason: 'bad' });
    expect(a).not.toHaveProperty('level');
  });

  it('sets levels per component from PROMPT_LOG_LEVEL', () => {
    expect(levelFor('activator', undefined)).toBe('info');
    expect(levelFor('activator', 'warn')).toBe('warn');
    expect(levelFor('activator', 'info,activator=debug,broker=error')).toBe('debug');
    expect(levelFor('broker', 'info,activator=debug,broker=error')).toBe('error');
    expect(levelFor('tester', 'info,activator=debug')).toBe('info');
    expect(levelFor('tester', 'nonsense')).toBe('info');
  });
});
