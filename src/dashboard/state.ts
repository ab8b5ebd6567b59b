/**
 * What the dashboard knows about a night, as a pure reducer: `reduce(state, event)` returns a new
 * state and never touches the old one, reads no clock (every event carries its time `at`, ms
 * since the epoch) and does no I/O. The server keeps one state, feeds it every event, and serves
 * `snapshot(state)` (everything) or `snapshot(state, since)` (what changed after sequence number
 * `since`) to the page.
 *
 * Per detector-visit (instrument group × detector): its status
 *   waiting (announced) → ingesting (first snap arrived) → processing (all snaps in, or the
 *   pipeline started) → done | failed | timedOut
 * (a status never goes back), when each step happened, the seconds of each stage, the last log
 * lines, the outputs and the outcome's summary. Only the visits of the most recent groups are
 * kept; counters, the latency histogram, the stage means and the throughput cover the whole night.
 *
 * A night of LSSTCam brings hundreds of events a second, so the state is laid out for cheap
 * copies: visits per group (a change copies one group's map, not the night's), and bounded
 * lists elsewhere.
 */

export const VISIT_STATUSES = ['waiting', 'ingesting', 'processing', 'done', 'failed', 'timedOut'] as const;
export type VisitStatus = (typeof VISIT_STATUSES)[number];
export const CUTOUT_KINDS = ['science', 'template', 'difference'] as const;
export type CutoutKind = (typeof CUTOUT_KINDS)[number];

/** The alert budget: from the last snap landing to the outputs written. */
export const BUDGET_S = 60;
export const LATENCY_BIN_S = 5;
export const LATENCY_MAX_S = 120;
/** Stages that run while the snaps are still being exposed, outside the latency. */
export const AHEAD_OF_PIXELS = ['preload', 'apdbPreload'] as const;

export interface StateLimits {
  /** Groups whose detector-visits are kept in full. */
  readonly groups: number;
  readonly alerts: number;
  readonly logLinesPerVisit: number;
  readonly notes: number;
  /** Latencies kept for the percentiles. */
  readonly latencies: number;
  /** Alert ids remembered to recognise a repeat. */
  readonly alertIds: number;
}

export const DEFAULT_LIMITS: StateLimits = { groups: 16, alerts: 40, logLinesPerVisit: 40, notes: 100, latencies: 5000, alertIds: 2000 };

export interface LogLine {
  readonly at: number;
  readonly severity: string;
  readonly message: string;
  /** Who said it: 'tester', 'activator-0', 'night', … */
  readonly source: string;
  /** The line's other fields worth showing (snap, stage, reason, …). */
  readonly fields?: Readonly<Record<string, string | number | boolean | null>>;
}

export interface DetectorVisit {
  readonly key: string;
  readonly group: string;
  readonly detector: number;
  readonly kind: string | null;
  readonly status: VisitStatus;
  readonly snapsExpected: number | null;
  readonly snapsUploaded: number;
  readonly snapsArrived: number;
  /** The activator instance that handles it. */
  readonly instance: string | null;
  readonly announcedAt: number | null;
  readonly receivedAt: number | null;
  readonly firstUploadAt: number | null;
  readonly lastUploadAt: number | null;
  readonly firstSnapAt: number | null;
  readonly lastSnapAt: number | null;
  readonly processingAt: number | null;
  readonly finishedAt: number | null;
  readonly latencySeconds: number | null;
  readonly sources: number | null;
  readonly diaSources: number | null;
  readonly alerts: number | null;
  readonly reason: string | null;
  /** Seconds per stage (the outcome's timings once it is known). */
  readonly timings: Readonly<Record<string, number>>;
  readonly outputs: Readonly<Record<string, string>>;
  readonly summary: Readonly<Record<string, number | string | boolean | null>>;
  readonly logs: readonly LogLine[];
  /** Its finish is in the counters, and its outcome's summary (DiaSources, alerts, …). */
  readonly counted: { readonly finish: boolean; readonly summary: boolean };
  /** Sequence number of the last event that changed it. */
  readonly seq: number;
}

export interface GroupInfo {
  readonly group: string;
  readonly firstSeenAt: number;
  readonly index: number | null;
  readonly of: number | null;
  readonly filter: string | null;
  readonly ra: number | null;
  readonly dec: number | null;
  readonly detectors: readonly number[];
}

/**
 * An alert's numbers and its cutouts (the packet's FITS images; the server renders them to PNG
 * when the page asks, so that only the alerts still shown are ever rendered).
 */
export interface AlertInput {
  readonly diaSourceId: string;
  readonly diaObjectId: string | null;
  readonly visit: number | null;
  readonly detector: number | null;
  readonly ra: number | null;
  readonly dec: number | null;
  readonly band: string | null;
  readonly snr: number | null;
  readonly psfFlux: number | null;
  readonly psfFluxErr: number | null;
  readonly midpointMjdTai: number | null;
  /** Earlier DiaSources of its DiaObject. */
  readonly previousSources: number | null;
  readonly cutouts: Readonly<Partial<Record<CutoutKind, Uint8Array>>>;
}

export interface AlertEntry extends AlertInput {
  readonly at: number;
  readonly seq: number;
  /** The group of its visit, when the dashboard has seen that visit's exposure. */
  readonly group: string | null;
}

export interface OutcomeInput {
  readonly group: string;
  readonly detector: number;
  readonly status: 'processed' | 'failed' | 'timedOut';
  readonly kind?: string;
  readonly snaps?: number;
  readonly expectedSnaps?: number;
  readonly reason?: string;
  readonly instance?: string;
  readonly latencySeconds?: number;
  readonly sources?: number;
  readonly outputs?: Readonly<Record<string, string>>;
  readonly timings?: Readonly<Record<string, number>>;
  readonly summary?: Readonly<Record<string, number | string | boolean | null>>;
}

export type DashboardEvent =
  | { readonly type: 'night'; readonly at: number; readonly instrument?: string }
  | { readonly type: 'note'; readonly at: number; readonly message: string; readonly severity?: string; readonly source?: string }
  | { readonly type: 'group'; readonly at: number; readonly group: string; readonly index?: number; readonly of?: number; readonly filter?: string; readonly ra?: number; readonly dec?: number }
  | { readonly type: 'nextVisit'; readonly at: number; readonly group: string; readonly detector: number; readonly kind?: string; readonly snaps?: number }
  | { readonly type: 'uploaded'; readonly at: number; readonly group: string; readonly detector: number; readonly snap: number; readonly exposureId?: number }
  | { readonly type: 'received'; readonly at: number; readonly group: string; readonly detector: number; readonly instance?: string }
  | { readonly type: 'snapArrived'; readonly at: number; readonly group: string; readonly detector: number; readonly snap: number; readonly exposureId?: number; readonly instance?: string }
  | { readonly type: 'processing'; readonly at: number; readonly group: string; readonly detector: number }
  | { readonly type: 'stage'; readonly at: number; readonly group: string; readonly detector: number; readonly stage: string; readonly seconds: number }
  | { readonly type: 'log'; readonly at: number; readonly line: LogLine; readonly group?: string; readonly detector?: number }
  | { readonly type: 'outcome'; readonly at: number; readonly outcome: OutcomeInput }
  | { readonly type: 'alert'; readonly at: number; readonly alert: AlertInput }
  | { readonly type: 'apdb'; readonly at: number; readonly diaSources: number; readonly diaObjects: number; readonly diaForcedSources: number }
  | { readonly type: 'ended'; readonly at: number; readonly message?: string };

export interface Counters {
  /** Detector-visits seen (announced, or first heard of otherwise). */
  readonly expected: number;
  readonly processed: number;
  readonly failed: number;
  readonly timedOut: number;
  readonly snapsUploaded: number;
  readonly snapsArrived: number;
  /** From the outcomes' summaries: what association wrote. */
  readonly diaSources: number;
  readonly diaObjects: number;
  readonly diaForcedSources: number;
  /** Alerts the activators report sent. */
  readonly alertsSent: number;
  /** Alerts received on the alert stream (distinct DiaSources). */
  readonly alertsReceived: number;
  readonly alertRepeats: number;
}

export interface DashboardState {
  readonly instrument: string;
  readonly limits: StateLimits;
  readonly startedAt: number | null;
  readonly endedAt: number | null;
  readonly endMessage: string | null;
  readonly lastEventAt: number | null;
  readonly seq: number;
  /** Group → detector → its detector-visit, for the groups kept. */
  readonly visits: Readonly<Record<string, Readonly<Record<number, DetectorVisit>>>>;
  /** Groups no longer kept: what comes for them later is left out. */
  readonly droppedGroups: Readonly<Record<string, true>>;
  /** Oldest first. */
  readonly groups: readonly GroupInfo[];
  /** Exposure (visit) id → group, for placing alerts. */
  readonly exposures: Readonly<Record<string, string>>;
  /** Newest first. */
  readonly alerts: readonly AlertEntry[];
  /** The latest alert ids, newest last (at most limits.alertIds). */
  readonly alertIds: readonly string[];
  readonly notes: readonly (LogLine & { readonly seq: number })[];
  readonly counters: Counters;
  /** APDB row counts when someone counted them. */
  readonly apdb: { readonly diaSources: number; readonly diaObjects: number; readonly diaForcedSources: number } | null;
  readonly latency: {
    readonly count: number;
    readonly withinBudget: number;
    readonly max: number | null;
    /** Counts per LATENCY_BIN_S-wide bin from 0 to LATENCY_MAX_S, then one for everything above. */
    readonly histogram: readonly number[];
    readonly recent: readonly number[];
  };
  /** Seconds summed over the processed detector-visits, per stage, in the order first seen. */
  readonly stages: Readonly<Record<string, { readonly sum: number; readonly count: number }>>;
  /** Detector-visits finished per UTC minute (key: minute since the epoch). */
  readonly throughput: Readonly<Record<string, { readonly processed: number; readonly failed: number; readonly timedOut: number }>>;
}

const TERMINAL: ReadonlySet<VisitStatus> = new Set(['done', 'failed', 'timedOut']);
const RANK: Readonly<Record<VisitStatus, number>> = { waiting: 0, ingesting: 1, processing: 2, done: 3, failed: 3, timedOut: 3 };

export function visitKey(group: string, detector: number): string {
  return `${group}/${detector}`;
}

export function initialState(instrument: string, limits: Partial<StateLimits> = {}): DashboardState {
  return {
    instrument,
    limits: { ...DEFAULT_LIMITS, ...limits },
    startedAt: null,
    endedAt: null,
    endMessage: null,
    lastEventAt: null,
    seq: 0,
    visits: {},
    droppedGroups: {},
    groups: [],
    exposures: {},
    alerts: [],
    alertIds: [],
    notes: [],
    counters: {
      expected: 0, processed: 0, failed: 0, timedOut: 0, snapsUploaded: 0, snapsArrived: 0,
      diaSources: 0, diaObjects: 0, diaForcedSources: 0, alertsSent: 0, alertsReceived: 0, alertRepeats: 0,
    },
    apdb: null,
    latency: { count: 0, withinBudget: 0, max: null, histogram: new Array(LATENCY_MAX_S / LATENCY_BIN_S + 1).fill(0), recent: [] },
    stages: {},
    throughput: {},
  };
}

function emptyVisit(group: string, detector: number, seq: number): DetectorVisit {
  return {
    key: visitKey(group, detector), group, detector, kind: null, status: 'waiting',
    snapsExpected: null, snapsUploaded: 0, snapsArrived: 0, instance: null,
    announcedAt: null, receivedAt: null, firstUploadAt: null, lastUploadAt: null, firstSnapAt: null, lastSnapAt: null,
    processingAt: null, finishedAt: null, latencySeconds: null, sources: null, diaSources: null, alerts: null, reason: null,
    timings: {}, outputs: {}, summary: {}, logs: [], counted: { finish: false, summary: false }, seq,
  };
}

const min = (a: number | null, b: number): number => (a === null ? b : Math.min(a, b));
const max = (a: number | null, b: number): number => (a === null ? b : Math.max(a, b));

/** Moves a visit forward to `status` (never back), noting when processing started. */
function advance(v: DetectorVisit, status: VisitStatus, at: number): DetectorVisit {
  if (RANK[status] <= RANK[v.status]) return v;
  return { ...v, status, processingAt: status === 'processing' ? (v.processingAt ?? at) : v.processingAt };
}

function withLog(v: DetectorVisit, line: LogLine, limit: number): DetectorVisit {
  const logs = v.logs.length >= limit ? [...v.logs.slice(v.logs.length - limit + 1), line] : [...v.logs, line];
  return { ...v, logs };
}

function withGroup(state: DashboardState, group: string, at: number, detector?: number, info: Partial<GroupInfo> = {}): DashboardState {
  const i = state.groups.findIndex((g) => g.group === group);
  const known = i >= 0 ? state.groups[i] : null;
  const detectors = known?.detectors ?? [];
  const addDetector = detector !== undefined && !detectors.includes(detector);
  const hasInfo = Object.values(info).some((x) => x !== undefined && x !== null);
  if (known && !addDetector && !hasInfo) return state;
  const next: GroupInfo = {
    group,
    firstSeenAt: known?.firstSeenAt ?? at,
    index: info.index ?? known?.index ?? null,
    of: info.of ?? known?.of ?? null,
    filter: info.filter ?? known?.filter ?? null,
    ra: info.ra ?? known?.ra ?? null,
    dec: info.dec ?? known?.dec ?? null,
    detectors: addDetector ? [...detectors, detector as number].sort((a, b) => a - b) : detectors,
  };
  let groups = known ? state.groups.map((g, k) => (k === i ? next : g)) : [...state.groups, next];
  if (groups.length <= state.limits.groups) return { ...state, groups };
  // The oldest groups leave; their detector-visits with them (their counts stay).
  const dropped = groups.slice(0, groups.length - state.limits.groups).map((g) => g.group);
  groups = groups.slice(groups.length - state.limits.groups);
  const visits = { ...state.visits };
  const droppedGroups = { ...state.droppedGroups };
  for (const g of dropped) {
    delete visits[g];
    droppedGroups[g] = true;
  }
  return { ...state, groups, visits, droppedGroups };
}

/** The state with the visit of (group, detector) changed by `change` (created first if new). */
function updateVisit(state: DashboardState, group: string, detector: number, at: number, change: (v: DetectorVisit) => DetectorVisit): DashboardState {
  // A group no longer kept stays gone, whatever comes late for it.
  if (state.droppedGroups[group]) return state;
  let s = withGroup(state, group, at, detector);
  const inGroup = s.visits[group] ?? {};
  const existing = inGroup[detector];
  const next = change(existing ?? emptyVisit(group, detector, s.seq));
  if (next === existing) return s;
  if (!existing) s = { ...s, counters: { ...s.counters, expected: s.counters.expected + 1 } };
  return { ...s, visits: { ...s.visits, [group]: { ...inGroup, [detector]: { ...next, seq: s.seq } } } };
}

function rememberExposure(state: DashboardState, exposureId: number | undefined, group: string): DashboardState {
  if (exposureId === undefined || state.exposures[String(exposureId)] === group) return state;
  const exposures = { ...state.exposures, [String(exposureId)]: group };
  // Alerts that came before their visit was known get their group now.
  const alerts = state.alerts.some((a) => a.group === null && a.visit === exposureId)
    ? state.alerts.map((a) => (a.group === null && a.visit === exposureId ? { ...a, group, seq: state.seq } : a))
    : state.alerts;
  return { ...state, exposures, alerts };
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

function applyOutcome(state: DashboardState, o: OutcomeInput, at: number): DashboardState {
  const reported: VisitStatus = o.status === 'processed' ? 'done' : o.status;
  const before = state.visits[o.group]?.[o.detector];
  const summary = o.summary && Object.keys(o.summary).length ? o.summary : null;
  // Each is counted once per detector-visit, whatever repeats (a redelivery; the activator's
  // own line and the outcome, in either order).
  const countFinish = !before?.counted.finish;
  const countSummary = summary !== null && !before?.counted.summary;
  let s = updateVisit(state, o.group, o.detector, at, (v) => {
    const sum = summary ?? v.summary;
    return {
      ...v,
      // The first outcome decides; a later one only fills in what was missing.
      status: v.counted.finish ? v.status : reported,
      kind: o.kind ?? v.kind,
      snapsExpected: o.expectedSnaps ?? v.snapsExpected,
      snapsArrived: Math.max(v.snapsArrived, o.snaps ?? 0),
      instance: o.instance ?? v.instance,
      finishedAt: v.finishedAt ?? at,
      latencySeconds: v.latencySeconds ?? o.latencySeconds ?? null,
      sources: o.sources ?? v.sources,
      diaSources: typeof sum['apdb.diaSources'] === 'number' ? sum['apdb.diaSources'] : v.diaSources,
      alerts: typeof sum.alerts === 'number' ? sum.alerts : v.alerts,
      reason: o.reason ?? v.reason,
      timings: o.timings && Object.keys(o.timings).length ? { ...v.timings, ...o.timings } : v.timings,
      outputs: o.outputs && Object.keys(o.outputs).length ? { ...v.outputs, ...o.outputs } : v.outputs,
      summary: sum,
      counted: { finish: true, summary: v.counted.summary || summary !== null },
    };
  });
  if (!s.visits[o.group]?.[o.detector]) return s;
  if (typeof summary?.visit === 'number') s = rememberExposure(s, summary.visit, o.group);
  const c = s.counters;
  if (countSummary && summary) {
    s = {
      ...s,
      counters: {
        ...c,
        diaSources: c.diaSources + num(summary['apdb.diaSources']),
        diaObjects: c.diaObjects + num(summary['apdb.diaObjectsCreated']),
        diaForcedSources: c.diaForcedSources + num(summary['apdb.diaForcedSources']),
        alertsSent: c.alertsSent + num(summary.alerts),
      },
    };
  }
  if (!countFinish) return s;
  const status = reported;
  s = {
    ...s,
    counters: {
      ...s.counters,
      processed: s.counters.processed + (status === 'done' ? 1 : 0),
      failed: s.counters.failed + (status === 'failed' ? 1 : 0),
      timedOut: s.counters.timedOut + (status === 'timedOut' ? 1 : 0),
    },
  };
  const minute = String(Math.floor(at / 60_000));
  const t = s.throughput[minute] ?? { processed: 0, failed: 0, timedOut: 0 };
  const field = status === 'done' ? 'processed' : status;
  s = { ...s, throughput: { ...s.throughput, [minute]: { ...t, [field]: t[field] + 1 } } };
  if (status === 'done' && typeof o.latencySeconds === 'number' && Number.isFinite(o.latencySeconds)) {
    const l = s.latency;
    const lat = Math.max(0, o.latencySeconds);
    const bin = Math.min(Math.floor(lat / LATENCY_BIN_S), l.histogram.length - 1);
    const recent = l.recent.length >= s.limits.latencies ? [...l.recent.slice(1), lat] : [...l.recent, lat];
    s = {
      ...s,
      latency: {
        count: l.count + 1,
        withinBudget: l.withinBudget + (lat <= BUDGET_S ? 1 : 0),
        max: l.max === null ? lat : Math.max(l.max, lat),
        histogram: l.histogram.map((n, k) => (k === bin ? n + 1 : n)),
        recent,
      },
    };
  }
  if (status === 'done' && o.timings) {
    const stages = { ...s.stages };
    for (const [name, sec] of Object.entries(o.timings)) {
      if (name === 'total' || typeof sec !== 'number' || !Number.isFinite(sec)) continue;
      const cur = stages[name] ?? { sum: 0, count: 0 };
      stages[name] = { sum: cur.sum + sec, count: cur.count + 1 };
    }
    s = { ...s, stages };
  }
  return s;
}

function applyAlert(state: DashboardState, a: AlertInput, at: number): DashboardState {
  if (state.alertIds.includes(a.diaSourceId)) {
    return { ...state, counters: { ...state.counters, alertRepeats: state.counters.alertRepeats + 1 } };
  }
  const group = a.visit !== null ? (state.exposures[String(a.visit)] ?? null) : null;
  const entry: AlertEntry = { ...a, at, seq: state.seq, group };
  const alerts = [entry, ...state.alerts.slice(0, state.limits.alerts - 1)];
  const ids = state.alertIds;
  const alertIds = ids.length >= state.limits.alertIds ? [...ids.slice(ids.length - state.limits.alertIds + 1), a.diaSourceId] : [...ids, a.diaSourceId];
  return { ...state, alerts, alertIds, counters: { ...state.counters, alertsReceived: state.counters.alertsReceived + 1 } };
}

/** The state after one event. */
export function reduce(state: DashboardState, event: DashboardEvent): DashboardState {
  const at = event.at;
  let s: DashboardState = { ...state, seq: state.seq + 1, lastEventAt: max(state.lastEventAt, at), startedAt: min(state.startedAt, at) };
  const logLimit = s.limits.logLinesPerVisit;
  switch (event.type) {
    case 'night':
      return { ...s, instrument: event.instrument ?? s.instrument, endedAt: null, endMessage: null };
    case 'note': {
      const line = { at, severity: event.severity ?? 'INFO', message: event.message, source: event.source ?? 'night', seq: s.seq };
      const notes = [...s.notes, line].slice(-s.limits.notes);
      return { ...s, notes };
    }
    case 'group':
      return withGroup(s, event.group, at, undefined, { index: event.index, of: event.of, filter: event.filter, ra: event.ra, dec: event.dec });
    case 'nextVisit':
      return updateVisit(s, event.group, event.detector, at, (v) => ({
        ...v,
        kind: event.kind ?? v.kind,
        snapsExpected: event.snaps ?? v.snapsExpected,
        announcedAt: v.announcedAt ?? at,
      }));
    case 'uploaded':
      s = { ...rememberExposure(s, event.snap === 0 ? event.exposureId : undefined, event.group), counters: { ...s.counters, snapsUploaded: s.counters.snapsUploaded + 1 } };
      return updateVisit(s, event.group, event.detector, at, (v) => ({
        ...v,
        snapsUploaded: v.snapsUploaded + 1,
        firstUploadAt: min(v.firstUploadAt, at),
        lastUploadAt: max(v.lastUploadAt, at),
      }));
    case 'received':
      return updateVisit(s, event.group, event.detector, at, (v) => ({ ...v, receivedAt: v.receivedAt ?? at, instance: event.instance ?? v.instance }));
    case 'snapArrived':
      s = { ...rememberExposure(s, event.snap === 0 ? event.exposureId : undefined, event.group), counters: { ...s.counters, snapsArrived: s.counters.snapsArrived + 1 } };
      return updateVisit(s, event.group, event.detector, at, (v) => {
        const arrived = v.snapsArrived + 1;
        const next = {
          ...v,
          snapsArrived: arrived,
          instance: event.instance ?? v.instance,
          firstSnapAt: min(v.firstSnapAt, at),
          lastSnapAt: max(v.lastSnapAt, at),
        };
        const all = v.snapsExpected !== null && arrived >= v.snapsExpected;
        return advance(advance(next, 'ingesting', at), all ? 'processing' : 'ingesting', at);
      });
    case 'processing':
      return updateVisit(s, event.group, event.detector, at, (v) => advance(v, 'processing', at));
    case 'stage':
      return updateVisit(s, event.group, event.detector, at, (v) => {
        const next = { ...v, timings: { ...v.timings, [event.stage]: event.seconds } };
        // Preloading happens while the snaps are awaited; any other stage is the pipeline at work.
        return (AHEAD_OF_PIXELS as readonly string[]).includes(event.stage) ? next : advance(next, 'processing', at);
      });
    case 'log': {
      if (event.group !== undefined && event.detector !== undefined) {
        return updateVisit(s, event.group, event.detector, at, (v) => withLog(v, event.line, logLimit));
      }
      const notes = [...s.notes, { ...event.line, seq: s.seq }].slice(-s.limits.notes);
      return { ...s, notes };
    }
    case 'outcome':
      return applyOutcome(s, event.outcome, at);
    case 'alert':
      return applyAlert(s, event.alert, at);
    case 'apdb':
      return { ...s, apdb: { diaSources: event.diaSources, diaObjects: event.diaObjects, diaForcedSources: event.diaForcedSources } };
    case 'ended':
      return { ...s, endedAt: at, endMessage: event.message ?? null };
    default:
      return state;
  }
}

export function isTerminal(status: VisitStatus): boolean {
  return TERMINAL.has(status);
}

// ---------------------------------------------------------------- what the page is sent

/** A detector-visit as the map needs it (no logs, timings or outputs). */
export interface VisitSummary {
  readonly key: string;
  readonly group: string;
  readonly detector: number;
  readonly kind: string | null;
  readonly status: VisitStatus;
  readonly snapsExpected: number | null;
  readonly snapsArrived: number;
  readonly latencySeconds: number | null;
  readonly reason: string | null;
  readonly seq: number;
}

export interface AlertSummary extends Omit<AlertEntry, 'cutouts'> {
  /** URL of each rendered cutout. */
  readonly cutouts: Readonly<Partial<Record<CutoutKind, string>>>;
}

export interface LatencyView {
  readonly count: number;
  readonly p50: number | null;
  readonly p95: number | null;
  readonly max: number | null;
  readonly withinBudget: number;
  readonly budgetS: number;
  readonly binS: number;
  readonly histogram: readonly number[];
}

export interface Snapshot {
  readonly seq: number;
  /** True: everything; false: only what changed after `since`. */
  readonly full: boolean;
  readonly since: number;
  readonly instrument: string;
  readonly startedAt: number | null;
  readonly endedAt: number | null;
  readonly endMessage: string | null;
  readonly lastEventAt: number | null;
  readonly visits: readonly VisitSummary[];
  readonly groups: readonly GroupInfo[];
  readonly alerts: readonly AlertSummary[];
  readonly notes: readonly LogLine[];
  readonly counters: Counters & { readonly inFlight: number; readonly finished: number };
  readonly apdb: DashboardState['apdb'];
  readonly latency: LatencyView;
  readonly stages: readonly { readonly stage: string; readonly meanSeconds: number; readonly count: number; readonly aheadOfPixels: boolean }[];
  readonly throughput: readonly { readonly minute: number; readonly processed: number; readonly failed: number; readonly timedOut: number }[];
}

export function percentile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function summarizeVisit(v: DetectorVisit): VisitSummary {
  return {
    key: v.key, group: v.group, detector: v.detector, kind: v.kind, status: v.status,
    snapsExpected: v.snapsExpected, snapsArrived: v.snapsArrived, latencySeconds: v.latencySeconds, reason: v.reason, seq: v.seq,
  };
}

/** Where the page fetches an alert's cutout. */
export function cutoutUrl(diaSourceId: string, kind: CutoutKind): string {
  return `/api/alert/${encodeURIComponent(diaSourceId)}/${kind}.png`;
}

export function summarizeAlert(a: AlertEntry): AlertSummary {
  const { cutouts, ...rest } = a;
  const urls: Partial<Record<CutoutKind, string>> = {};
  for (const k of CUTOUT_KINDS) if (cutouts[k]) urls[k] = cutoutUrl(a.diaSourceId, k);
  return { ...rest, cutouts: urls };
}

/**
 * What the page needs: everything (no `since`), or the detector-visits, alerts and notes changed
 * after sequence number `since` with the (small) aggregates in full.
 */
export function snapshot(state: DashboardState, since?: number): Snapshot {
  const full = since === undefined;
  const after = since ?? -1;
  const all = allVisits(state);
  const visits = all.filter((v) => v.seq > after).map(summarizeVisit);
  const inFlight = all.filter((v) => !isTerminal(v.status)).length;
  const c = state.counters;
  const l = state.latency;
  return {
    seq: state.seq,
    full,
    since: after,
    instrument: state.instrument,
    startedAt: state.startedAt,
    endedAt: state.endedAt,
    endMessage: state.endMessage,
    lastEventAt: state.lastEventAt,
    visits,
    groups: state.groups,
    alerts: state.alerts.filter((a) => a.seq > after).map(summarizeAlert),
    notes: state.notes.filter((n) => n.seq > after).map(({ seq: _seq, ...line }) => line),
    counters: { ...c, inFlight, finished: c.processed + c.failed + c.timedOut },
    apdb: state.apdb,
    latency: {
      count: l.count,
      p50: percentile(l.recent, 0.5),
      p95: percentile(l.recent, 0.95),
      max: l.max,
      withinBudget: l.withinBudget,
      budgetS: BUDGET_S,
      binS: LATENCY_BIN_S,
      histogram: l.histogram,
    },
    stages: Object.entries(state.stages).map(([stage, t]) => ({
      stage,
      meanSeconds: t.count ? t.sum / t.count : 0,
      count: t.count,
      aheadOfPixels: (AHEAD_OF_PIXELS as readonly string[]).includes(stage),
    })),
    throughput: Object.entries(state.throughput)
      .map(([m, t]) => ({ minute: Number(m), ...t }))
      .sort((a, b) => a.minute - b.minute),
  };
}

/** A detector-visit in full, for its panel; null when the dashboard does not (or no longer) hold it. */
export function visitDetail(state: DashboardState, group: string, detector: number): DetectorVisit | null {
  return state.visits[group]?.[detector] ?? null;
}

/** Every detector-visit kept, oldest group first. */
export function allVisits(state: DashboardState): DetectorVisit[] {
  return state.groups.flatMap((g) => Object.values(state.visits[g.group] ?? {}));
}

/** The FITS bytes of an alert's cutout, or null. */
export function alertCutout(state: DashboardState, diaSourceId: string, kind: CutoutKind): Uint8Array | null {
  return state.alerts.find((a) => a.diaSourceId === diaSourceId)?.cutouts[kind] ?? null;
}
