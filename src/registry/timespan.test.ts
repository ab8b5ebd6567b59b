import { describe, expect, it } from 'vitest';
import { contains, normaliseTime, normaliseTimespan, overlaps } from './timespan.ts';

describe('validity times', () => {
  it('normalises ISO 8601 to fixed-width UTC with microseconds', () => {
    expect(normaliseTime('2026-11-28T03:00:00Z')).toBe('2026-11-28T03:00:00.000000Z');
    expect(normaliseTime('2026-11-28T03:00:00.123456789Z')).toBe('2026-11-28T03:00:00.123456Z');
    expect(normaliseTime('2026-11-28T05:30:00+02:30')).toBe('2026-11-28T03:00:00.000000Z');
    expect(normaliseTime('2026-11-27T23:00:00-04:00')).toBe('2026-11-28T03:00:00.000000Z');
    expect(normaliseTime('2026-11-28')).toBe('2026-11-28T00:00:00.000000Z');
    expect(normaliseTime('2026-11-28 03:00')).toBe('2026-11-28T03:00:00.000000Z');
    for (const bad of ['yesterday', '2026-02-30T00:00:00Z', '2026-11-28T25:00:00Z', '']) expect(() => normaliseTime(bad)).toThrow(/ISO 8601|not a valid/);
  });

  it('orders as text the way it orders in time', () => {
    const times = ['2026-11-28T03:00:00.5Z', '2026-11-28T03:00:00Z', '1999-01-01T00:00:00Z', '2026-11-28T03:00:00.000001Z'].map((t) => normaliseTime(t));
    expect([...times].sort()).toEqual([times[2], times[1], times[3], times[0]]);
  });

  it('treats spans as half-open, null as unbounded', () => {
    const a = normaliseTimespan({ begin: '2026-01-01', end: '2026-02-01' });
    const b = normaliseTimespan({ begin: '2026-02-01', end: null });
    expect(overlaps(a, b)).toBe(false);
    expect(overlaps(a, normaliseTimespan({ begin: null, end: '2026-01-01T00:00:00.000001Z' }))).toBe(true);
    expect(overlaps(b, normaliseTimespan({ begin: null, end: null }))).toBe(true);
    expect(contains(a, normaliseTime('2026-01-01'))).toBe(true);
    expect(contains(a, normaliseTime('2026-02-01'))).toBe(false);
    expect(() => normaliseTimespan({ begin: '2026-02-01', end: '2026-02-01' })).toThrow(/empty/);
  });
});
