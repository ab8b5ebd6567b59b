import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { addLogContext, createLogger, levelFor, withLogContext } from './logger.ts';

function capture(): { stream: Writable; lines: () => Array<Record<string, unknown>>; raw: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(c, _e, cb) {
      chunks.push(String(c));
      cb();
    },
  });
  return { stream, lines: () => chunks.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>), raw: () => chunks.join('') };
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

  it('adds the fields of the current context to every line written within it, and only within it', async () => {
    const c = capture();
    const log = createLogger({ component: 'activator', destination: c.stream });
    const child = log.child({ request: 'r1' });
    log.info('before');
    await withLogContext({ group: 'g1', detector: 3 }, async () => {
      log.info('inside');
      await new Promise<void>((resolve) => setImmediate(resolve));
      addLogContext({ exposure: [11, 12] });
      await Promise.resolve().then(() => child.info('in a callback'));
      // The call's own fields take precedence, written once.
      log.info({ detector: 3, stage: 'isr' }, 'explicit');
      await withLogContext({ stage: 'export' }, async () => log.info('nested'));
    });
    log.info('after');
    addLogContext({ ignored: true });
    log.info('outside');
    const lines = c.lines();
    const by = (m: string): Record<string, unknown> => lines.find((l) => l.message === m) as Record<string, unknown>;
    expect(by('before')).not.toHaveProperty('group');
    expect(by('inside')).toMatchObject({ group: 'g1', detector: 3 });
    expect(by('inside')).not.toHaveProperty('exposure');
    expect(by('in a callback')).toMatchObject({ group: 'g1', detector: 3, exposure: [11, 12], request: 'r1' });
    expect(by('explicit')).toMatchObject({ group: 'g1', detector: 3, stage: 'isr' });
    expect(by('nested')).toMatchObject({ group: 'g1', detector: 3, exposure: [11, 12], stage: 'export' });
    expect(by('after')).not.toHaveProperty('group');
    expect(by('outside')).not.toHaveProperty('ignored');
    // A context field is never written twice on one line.
    const raw = c.raw().split('\n').find((l) => l.includes('"explicit"')) as string;
    expect(raw.match(/"detector":/g)).toHaveLength(1);
  });

  it('keeps concurrent contexts apart', async () => {
    const c = capture();
    const log = createLogger({ component: 'activator', destination: c.stream });
    const visit = (group: string): Promise<void> =>
      withLogContext({ group }, async () => {
        for (let i = 0; i < 3; i++) {
          await new Promise<void>((resolve) => setImmediate(resolve));
          log.info({ i, expected: group }, 'step');
        }
      });
    await Promise.all([visit('a'), visit('b')]);
    const lines = c.lines();
    expect(lines).toHaveLength(6);
    for (const l of lines) expect(l.group).toBe(l.expected);
  });
});
