import { describe, expect, it } from 'vitest';
import {
  alertCutout, BUDGET_S, initialState, LATENCY_BIN_S, LATENCY_MAX_S, reduce, snapshot, visitDetail,
  type AlertInput, type DashboardEvent, type DashboardState, type OutcomeInput,
} from './state.ts';

const G1 = '2026112700958';
const G2 = '2026112700960';
const T0 = Date.UTC(2026, 10, 27, 3, 0, 0);

function run(events: DashboardEvent[], state: DashboardState = initialState('LSSTComCam')): DashboardState {
  return events.reduce(reduce, state);
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o) && !ArrayBuffer.isView(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

const processed = (group: string, detector: number, extra: Partial<OutcomeInput> = {}): OutcomeInput => ({
  group, detector, status: 'processed', kind: 'SCIENCE', snaps: 2, expectedSnaps: 2, instance: 'activator-0',
  latencySeconds: 42.5, sources: 1000,
  timings: { rawInput: 2, templateWarp: 16, subtraction: 13, total: 31, preload: 1.5 },
  outputs: { processed_exposure: 'file:///repo/pe.fits' },
  summary: { visit: 2026112701916, 'apdb.diaSources': 18, 'apdb.diaObjectsCreated': 15, 'apdb.diaForcedSources': 20, alerts: 18 },
  ...extra,
});

const alert = (id: string, visit: number | null, detector = 4): AlertInput => ({
  diaSourceId: id, diaObjectId: '77', visit, detector, ra: 10, dec: -20, band: 'r', snr: 12, psfFlux: 3000, psfFluxErr: 200,
  midpointMjdTai: 61372, previousSources: 0, cutouts: { science: Uint8Array.of(1, 2, 3) },
});

describe('the dashboard state reducer', () => {
  it('takes a detector-visit from waiting through ingesting and processing to done', () => {
    let s = run([
      { type: 'group', at: T0, group: G1, index: 1, of: 2, filter: 'r_03', ra: 10, dec: -20 },
      { type: 'nextVisit', at: T0 + 10, group: G1, detector: 4, kind: 'SCIENCE', snaps: 2 },
    ]);
    expect(s.visits[G1][4].status).toBe('waiting');
    expect(s.counters.expected).toBe(1);
    expect(s.groups).toEqual([expect.objectContaining({ group: G1, index: 1, of: 2, filter: 'r_03', detectors: [4] })]);

    s = run([
      { type: 'received', at: T0 + 20, group: G1, detector: 4, instance: 'activator-1' },
      { type: 'stage', at: T0 + 1500, group: G1, detector: 4, stage: 'preload', seconds: 1.4 },
    ], s);
    // Preloading happens while the snaps are awaited: still waiting.
    expect(s.visits[G1][4]).toMatchObject({ status: 'waiting', instance: 'activator-1', timings: { preload: 1.4 } });

    s = run([
      { type: 'uploaded', at: T0 + 15_000, group: G1, detector: 4, snap: 0, exposureId: 2026112701916 },
      { type: 'snapArrived', at: T0 + 15_200, group: G1, detector: 4, snap: 0, exposureId: 2026112701916 },
    ], s);
    expect(s.visits[G1][4]).toMatchObject({ status: 'ingesting', snapsArrived: 1, snapsUploaded: 1, firstSnapAt: T0 + 15_200 });
    expect(s.exposures['2026112701916']).toBe(G1);

    s = run([{ type: 'snapArrived', at: T0 + 31_000, group: G1, detector: 4, snap: 1 }], s);
    expect(s.visits[G1][4]).toMatchObject({ status: 'processing', processingAt: T0 + 31_000, lastSnapAt: T0 + 31_000 });

    s = run([{ type: 'outcome', at: T0 + 74_000, outcome: processed(G1, 4) }], s);
    const v = s.visits[G1][4];
    expect(v).toMatchObject({ status: 'done', finishedAt: T0 + 74_000, latencySeconds: 42.5, sources: 1000, diaSources: 18, alerts: 18 });
    expect(v.timings).toMatchObject({ rawInput: 2, templateWarp: 16, preload: 1.5 });
    expect(v.outputs).toEqual({ processed_exposure: 'file:///repo/pe.fits' });
    expect(s.counters).toMatchObject({ expected: 1, processed: 1, failed: 0, timedOut: 0, diaSources: 18, diaObjects: 15, diaForcedSources: 20, alertsSent: 18, snapsArrived: 2, snapsUploaded: 1 });
    expect(s.latency.count).toBe(1);
    expect(s.latency.withinBudget).toBe(1);
    expect(s.latency.histogram[Math.floor(42.5 / LATENCY_BIN_S)]).toBe(1);
    // Stage means leave out the total; the minute of the outcome counts one processed.
    expect(Object.keys(s.stages)).toEqual(['rawInput', 'templateWarp', 'subtraction', 'preload']);
    expect(s.throughput[String(Math.floor((T0 + 74_000) / 60_000))]).toEqual({ processed: 1, failed: 0, timedOut: 0 });
  });

  it('never moves a status back and counts a detector-visit once, whatever repeats', () => {
    let s = run([
      { type: 'nextVisit', at: T0, group: G1, detector: 1, snaps: 2 },
      { type: 'outcome', at: T0 + 60_000, outcome: processed(G1, 1) },
      // A late line, the outcome again (a redelivery) and the activator's own finish line.
      { type: 'snapArrived', at: T0 + 61_000, group: G1, detector: 1, snap: 1 },
      { type: 'outcome', at: T0 + 62_000, outcome: processed(G1, 1, { latencySeconds: 99 }) },
      { type: 'processing', at: T0 + 63_000, group: G1, detector: 1 },
    ]);
    expect(s.visits[G1][1].status).toBe('done');
    expect(s.counters.processed).toBe(1);
    expect(s.counters.diaSources).toBe(18);
    expect(s.latency.count).toBe(1);
    expect(s.latency.recent).toEqual([42.5]);
    s = run([{ type: 'outcome', at: T0 + 64_000, outcome: { group: G1, detector: 1, status: 'failed', reason: 'late' } }], s);
    expect(s.counters).toMatchObject({ processed: 1, failed: 0 });
    expect(s.visits[G1][1]).toMatchObject({ status: 'done', latencySeconds: 42.5 });
  });

  it("counts the outcome's summary once, whether the activator's line or the outcome comes first", () => {
    const line: OutcomeInput = { group: G1, detector: 6, status: 'processed', latencySeconds: 30, timings: { templateWarp: 10, total: 20 } };
    for (const order of [[line, processed(G1, 6)], [processed(G1, 6), line]]) {
      const s = run(order.map((outcome, i) => ({ type: 'outcome' as const, at: T0 + i, outcome })));
      expect(s.counters).toMatchObject({ processed: 1, diaSources: 18, diaObjects: 15, alertsSent: 18 });
      expect(s.latency.count).toBe(1);
      expect(s.visits[G1][6]).toMatchObject({ status: 'done', diaSources: 18, outputs: { processed_exposure: 'file:///repo/pe.fits' } });
    }
  });

  it('counts failures and timeouts, keeps their reasons, and leaves them out of the latency', () => {
    const s = run([
      { type: 'nextVisit', at: T0, group: G1, detector: 2, snaps: 2 },
      { type: 'nextVisit', at: T0, group: G1, detector: 3, snaps: 2 },
      { type: 'nextVisit', at: T0, group: G1, detector: 5, snaps: 2 },
      { type: 'outcome', at: T0 + 50_000, outcome: { group: G1, detector: 2, status: 'failed', reason: 'stage astrometry failed' } },
      { type: 'outcome', at: T0 + 51_000, outcome: { group: G1, detector: 3, status: 'timedOut', reason: 'no snap arrived within IMAGE_TIMEOUT=50s' } },
      { type: 'outcome', at: T0 + 52_000, outcome: processed(G1, 5, { latencySeconds: BUDGET_S + 70 }) },
    ]);
    expect(s.visits[G1][2]).toMatchObject({ status: 'failed', reason: 'stage astrometry failed' });
    expect(s.visits[G1][3]).toMatchObject({ status: 'timedOut' });
    expect(s.counters).toMatchObject({ expected: 3, processed: 1, failed: 1, timedOut: 1 });
    expect(s.latency).toMatchObject({ count: 1, withinBudget: 0, max: BUDGET_S + 70 });
    // Beyond the last bin (LATENCY_MAX_S) it lands in the overflow bin.
    expect(BUDGET_S + 70).toBeGreaterThan(LATENCY_MAX_S);
    expect(s.latency.histogram[s.latency.histogram.length - 1]).toBe(1);
    const snap = snapshot(s);
    expect(snap.counters).toMatchObject({ finished: 3, inFlight: 0 });
    expect(snap.throughput.reduce((n, t) => n + t.processed + t.failed + t.timedOut, 0)).toBe(3);
  });

  it('keeps the last log lines per detector-visit, and lines without one as night notes', () => {
    let s = initialState('LSSTComCam', { logLinesPerVisit: 3, notes: 2 });
    for (let i = 0; i < 5; i++) {
      s = reduce(s, { type: 'log', at: T0 + i, group: G1, detector: 0, line: { at: T0 + i, severity: 'INFO', message: `line ${i}`, source: 'activator-0' } });
    }
    for (let i = 0; i < 3; i++) s = reduce(s, { type: 'note', at: T0 + i, message: `note ${i}` });
    s = reduce(s, { type: 'log', at: T0 + 9, line: { at: T0 + 9, severity: 'INFO', message: 'activator listening', source: 'activator-1' } });
    expect(s.visits[G1][0].logs.map((l) => l.message)).toEqual(['line 2', 'line 3', 'line 4']);
    expect(s.notes.map((n) => n.message)).toEqual(['note 2', 'activator listening']);
  });

  it('keeps only the most recent groups in full, and their counts for good', () => {
    let s = initialState('LSSTComCam', { groups: 2 });
    const G3 = '2026112700962';
    s = run([
      { type: 'nextVisit', at: T0, group: G1, detector: 0 },
      { type: 'outcome', at: T0 + 1, outcome: processed(G1, 0) },
      { type: 'nextVisit', at: T0 + 2, group: G2, detector: 0 },
      { type: 'nextVisit', at: T0 + 3, group: G3, detector: 0 },
    ], s);
    expect(s.groups.map((g) => g.group)).toEqual([G2, G3]);
    expect(Object.keys(s.visits).sort()).toEqual([G2, G3]);
    expect(s.counters).toMatchObject({ expected: 3, processed: 1 });
    // A late repeat of a dropped detector-visit's outcome neither comes back nor counts again.
    s = reduce(s, { type: 'outcome', at: T0 + 4, outcome: processed(G1, 0) });
    expect(s.visits[G1]).toBeUndefined();
    expect(s.groups.map((g) => g.group)).toEqual([G2, G3]);
    expect(s.counters.processed).toBe(1);
    expect(visitDetail(s, G1, 0)).toBeNull();
  });

  it('keeps the latest alerts once each, newest first, and places them in their group', () => {
    let s = initialState('LSSTComCam', { alerts: 2 });
    s = run([
      // Known exposure: placed at once.
      { type: 'uploaded', at: T0, group: G1, detector: 4, snap: 0, exposureId: 100 },
      { type: 'alert', at: T0 + 1, alert: alert('1', 100) },
      // Unknown exposure: placed when the outcome names its visit.
      { type: 'alert', at: T0 + 2, alert: alert('2', 2026112701916) },
      { type: 'alert', at: T0 + 3, alert: alert('2', 2026112701916) },
    ], s);
    expect(s.alerts.map((a) => [a.diaSourceId, a.group])).toEqual([['2', null], ['1', G1]]);
    expect(s.counters).toMatchObject({ alertsReceived: 2, alertRepeats: 1 });
    s = reduce(s, { type: 'outcome', at: T0 + 4, outcome: processed(G2, 4) });
    expect(s.alerts[0]).toMatchObject({ diaSourceId: '2', group: G2 });
    s = reduce(s, { type: 'alert', at: T0 + 5, alert: alert('3', null) });
    expect(s.alerts.map((a) => a.diaSourceId)).toEqual(['3', '2']);
    expect(alertCutout(s, '3', 'science')).toEqual(Uint8Array.of(1, 2, 3));
    expect(alertCutout(s, '3', 'template')).toBeNull();
    expect(alertCutout(s, '1', 'science')).toBeNull();
    // The page gets URLs, not bytes.
    expect(snapshot(s).alerts[0].cutouts).toEqual({ science: '/api/alert/3/science.png' });
  });

  it('never changes the state it is given', () => {
    const before = deepFreeze(run([
      { type: 'nextVisit', at: T0, group: G1, detector: 4, snaps: 2 },
      { type: 'snapArrived', at: T0 + 1, group: G1, detector: 4, snap: 0 },
      { type: 'alert', at: T0 + 2, alert: alert('9', null) },
    ]));
    const copy = JSON.stringify(snapshot(before));
    const after = run([
      { type: 'snapArrived', at: T0 + 3, group: G1, detector: 4, snap: 1 },
      { type: 'log', at: T0 + 3, group: G1, detector: 4, line: { at: T0 + 3, severity: 'INFO', message: 'x', source: 'a' } },
      { type: 'outcome', at: T0 + 4, outcome: processed(G1, 4) },
      { type: 'alert', at: T0 + 5, alert: alert('10', null) },
      { type: 'apdb', at: T0 + 6, diaSources: 1, diaObjects: 1, diaForcedSources: 1 },
      { type: 'ended', at: T0 + 7, message: 'done' },
    ], before);
    expect(JSON.stringify(snapshot(before))).toBe(copy);
    expect(after.visits[G1][4].status).toBe('done');
    expect(after).toMatchObject({ endedAt: T0 + 7, endMessage: 'done', apdb: { diaSources: 1 } });
  });

  it('sends everything once, then only what changed', () => {
    let s = run([
      { type: 'nextVisit', at: T0, group: G1, detector: 0 },
      { type: 'nextVisit', at: T0, group: G1, detector: 1 },
      { type: 'alert', at: T0, alert: alert('5', null) },
    ]);
    const full = snapshot(s);
    expect(full.full).toBe(true);
    expect(full.visits).toHaveLength(2);
    expect(full.alerts).toHaveLength(1);
    s = reduce(s, { type: 'outcome', at: T0 + 60_000, outcome: processed(G1, 1) });
    const delta = snapshot(s, full.seq);
    expect(delta.full).toBe(false);
    expect(delta.visits.map((v) => [v.detector, v.status])).toEqual([[1, 'done']]);
    expect(delta.alerts).toHaveLength(0);
    expect(delta.counters.processed).toBe(1);
    expect(delta.latency).toMatchObject({ count: 1, p50: 42.5, p95: 42.5, budgetS: BUDGET_S });
    expect(delta.stages.find((x) => x.stage === 'preload')).toMatchObject({ aheadOfPixels: true, meanSeconds: 1.5 });
    expect(snapshot(s, s.seq).visits).toHaveLength(0);
  });
});
