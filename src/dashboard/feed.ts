/**
 * What a night sees, turned into dashboard events:
 * - the tester's JSON progress lines (`upload --json-progress`): group, nextVisit, uploaded,
 *   truth, error, done;
 * - the activators' JSON log lines: 'received a nextVisit', 'snap arrived; ingesting', stage
 *   lines (`stage` + `durationS`), 'processing with the snaps that arrived before the timeout',
 *   'detector-visit processed|failed|timedOut' with its timings; every line that names a group
 *   and a detector also goes to that detector-visit's log;
 * - outcomes (the `prompt-outcomes` topic), nextVisit messages and bucket notifications (for a
 *   dashboard fed from a broker), alert packets (the `alerts` topic).
 */
import type { AlertPacket } from '../alerts/index.ts';
import { errorMessage } from '../core/errors.ts';
import { parseObjectKey } from '../instruments/keys.ts';
import type { NextVisit } from '../messages/next-visit.ts';
import type { Outcome } from '../messages/outcome.ts';
import type { StorageNotification } from '../messages/storage-notification.ts';
import { alertInput } from './alert-view.ts';
import { startDashboard, type Dashboard, type DashboardOptions } from './server.ts';
import type { DashboardEvent, LogLine } from './state.ts';

type Rec = Record<string, unknown>;

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const int = (v: unknown): number | undefined => (typeof v === 'number' && Number.isInteger(v) ? v : undefined);
const finite = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

function groupOf(rec: Rec): string | undefined {
  if (typeof rec.group === 'string') return rec.group;
  if (typeof rec.group === 'number' && Number.isInteger(rec.group)) return String(rec.group);
  return undefined;
}

function exposureOf(objectKey: unknown): number | undefined {
  if (typeof objectKey !== 'string') return undefined;
  try {
    return parseObjectKey(objectKey).exposureId;
  } catch {
    return undefined;
  }
}

/** The line's time (its `time` field, RFC 3339), or `fallback`. */
function timeOf(rec: Rec, fallback: number): number {
  const t = typeof rec.time === 'string' ? Date.parse(rec.time) : NaN;
  return Number.isFinite(t) ? t : fallback;
}

/** Fields of a log line worth showing beside its message. */
const SHOWN_FIELDS = ['snap', 'stage', 'durationS', 'status', 'latencySeconds', 'sources', 'reason', 'arrived', 'expected', 'carrier', 'deliveryAttempt', 'calib', 'refcatShards', 'templatePatches'];

function shownFields(rec: Rec): Record<string, string | number | boolean | null> | undefined {
  const out: Record<string, string | number | boolean | null> = {};
  for (const k of SHOWN_FIELDS) {
    const v = rec[k];
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || v === null) out[k] = v;
  }
  return Object.keys(out).length ? out : undefined;
}

const OUTCOME_STATUS = new Set(['processed', 'failed', 'timedOut']);

/** Events from one of the tester's JSON progress lines. */
export function testerLineEvents(rec: Rec, at: number): DashboardEvent[] {
  const group = groupOf(rec);
  const detector = int(rec.detector);
  const log = (message: string, severity = 'INFO'): DashboardEvent => ({
    type: 'log', at, group, detector, line: { at, severity, message, source: 'tester' },
  });
  switch (rec.event) {
    case 'group':
      if (group === undefined) return [];
      return [
        { type: 'group', at, group, index: int(rec.index), of: int(rec.of), filter: str(rec.filter), ra: finite(rec.ra), dec: finite(rec.dec) },
        { type: 'note', at, source: 'tester', message: `group ${rec.index}/${rec.of}: ${group}, filter ${rec.filter ?? '?'}` },
      ];
    case 'nextVisit':
      if (group === undefined || detector === undefined) return [];
      return [
        { type: 'nextVisit', at, group, detector, kind: str(rec.kind), snaps: int(rec.snaps) },
        log(`nextVisit published (${rec.kind ?? '?'}, ${rec.snaps ?? '?'} snap(s))`),
      ];
    case 'uploaded': {
      const snap = int(rec.snap);
      if (group === undefined || detector === undefined || snap === undefined) return [];
      const late = finite(rec.lateS);
      return [
        { type: 'uploaded', at, group, detector, snap, exposureId: exposureOf(rec.key) },
        log(`snap ${snap} uploaded${late !== undefined ? ` ${late.toFixed(1)} s after the shutter closed` : ''}`),
      ];
    }
    case 'truth':
      if (group === undefined || detector === undefined) return [];
      return [log(`truth written: ${rec.transients ?? '?'} transient(s) injected`)];
    case 'error':
      return [log(`upload failed${rec.snap !== undefined ? ` (snap ${rec.snap})` : ''}: ${rec.reason ?? 'unknown reason'}`, 'ERROR')];
    case 'done':
      return [{ type: 'note', at, source: 'tester', message: `tester done: ${rec.groups ?? '?'} group(s), ${rec.uploaded ?? '?'} snap(s) uploaded, ${rec.errors ?? 0} error(s)` }];
    default:
      return [];
  }
}

/** Events from one of an activator's JSON log lines; `source` names the instance. */
export function activatorLineEvents(rec: Rec, source: string, fallbackAt: number): DashboardEvent[] {
  const at = timeOf(rec, fallbackAt);
  const message = str(rec.message) ?? str(rec.msg) ?? '';
  const instance = str(rec.instance) ?? source;
  const group = groupOf(rec);
  const detector = int(rec.detector);
  const line: LogLine = { at, severity: str(rec.severity) ?? 'INFO', message, source: instance, fields: shownFields(rec) };
  const events: DashboardEvent[] = [];
  if (group !== undefined && detector !== undefined) {
    if (message === 'received a nextVisit') events.push({ type: 'received', at, group, detector, instance });
    const snap = int(rec.snap);
    if (message === 'snap arrived; ingesting' && snap !== undefined) {
      events.push({ type: 'snapArrived', at, group, detector, snap, exposureId: exposureOf(rec.objectKey), instance });
    }
    const stage = str(rec.stage);
    const seconds = finite(rec.durationS);
    if (stage !== undefined && seconds !== undefined) events.push({ type: 'stage', at, group, detector, stage, seconds });
    if (message.startsWith('processing with the snaps that arrived')) events.push({ type: 'processing', at, group, detector });
    const status = str(rec.status);
    if (/^detector-visit (processed|failed|timedOut)$/.test(message) && status && OUTCOME_STATUS.has(status)) {
      const timings = rec.timings && typeof rec.timings === 'object' ? (rec.timings as Record<string, number>) : undefined;
      events.push({
        type: 'outcome',
        at,
        outcome: {
          group, detector, status: status as 'processed' | 'failed' | 'timedOut', instance,
          kind: str(rec.kind), snaps: int(rec.snaps), reason: str(rec.reason),
          latencySeconds: finite(rec.latencySeconds), sources: int(rec.sources), timings,
        },
      });
    }
    events.push({ type: 'log', at, group, detector, line });
  } else if (message) {
    events.push({ type: 'log', at, line });
  }
  return events;
}

/** Events from an outcome record. */
export function outcomeEvents(o: Outcome, at: number): DashboardEvent[] {
  const written = o.outputsWrittenAt ? Date.parse(o.outputsWrittenAt) : NaN;
  const when = Number.isFinite(written) ? written : at;
  const lat = o.latencySeconds !== undefined ? ` in ${o.latencySeconds.toFixed(1)} s` : '';
  return [
    { type: 'outcome', at: when, outcome: o },
    {
      type: 'log', at: when, group: o.group, detector: o.detector,
      line: { at: when, severity: o.status === 'processed' ? 'INFO' : o.status === 'failed' ? 'ERROR' : 'WARNING', message: `outcome: ${o.status}${lat}${o.reason ? ` (${o.reason})` : ''}`, source: o.instance },
    },
  ];
}

/** Events from a nextVisit message. */
export function nextVisitEvents(v: NextVisit, at: number): DashboardEvent[] {
  return [
    { type: 'group', at, group: v.group, filter: v.filter, ra: v.ra, dec: v.dec },
    { type: 'nextVisit', at, group: v.group, detector: v.detector, kind: v.kind, snaps: v.snaps },
  ];
}

/** Events from a bucket notification: a raw snap landed. */
export function storageEvents(n: StorageNotification, fallbackAt: number): DashboardEvent[] {
  if (n.eventType !== 'OBJECT_FINALIZE') return [];
  let key;
  try {
    key = parseObjectKey(n.object.key);
  } catch {
    return [];
  }
  const t = Date.parse(n.object.updated);
  const at = Number.isFinite(t) ? t : fallbackAt;
  return [
    { type: 'uploaded', at, group: key.group, detector: key.detector, snap: key.snap, exposureId: key.exposureId },
    { type: 'log', at, group: key.group, detector: key.detector, line: { at, severity: 'INFO', message: `snap ${key.snap} landed in the bucket`, source: 'bucket' } },
  ];
}

export function alertEvent(p: AlertPacket, at: number): DashboardEvent {
  return { type: 'alert', at, alert: alertInput(p) };
}

/**
 * The dashboard of a running night: each method turns what the night sees into events, and
 * nothing the dashboard does can fail the night (a problem is reported once through `warn`).
 */
export interface NightDashboard {
  readonly url: string;
  readonly dashboard: Dashboard;
  testerLine(rec: Rec): void;
  activatorLine(source: string, rec: Rec): void;
  outcome(o: Outcome): void;
  alert(p: AlertPacket): void;
  note(message: string): void;
  apdb(counts: { diaSources: number; diaObjects: number; diaForcedSources: number }): void;
  /** Tells the pages that the night is over, then stops the server. */
  close(message?: string): Promise<void>;
}

export async function startNightDashboard(opts: DashboardOptions & { readonly warn?: (m: string) => void; readonly now?: () => number }): Promise<NightDashboard> {
  const dashboard = await startDashboard(opts);
  const now = opts.now ?? Date.now;
  let warned = false;
  const guard = (what: string, fn: () => void): void => {
    try {
      fn();
    } catch (e) {
      if (!warned) opts.warn?.(`dashboard: could not show ${what}: ${errorMessage(e)}`);
      warned = true;
    }
  };
  const publishAll = (events: DashboardEvent[]) => {
    for (const e of events) dashboard.publish(e);
  };
  dashboard.publish({ type: 'night', at: now(), instrument: opts.instrument });
  return {
    url: dashboard.url,
    dashboard,
    testerLine: (rec) => guard('a tester line', () => publishAll(testerLineEvents(rec, now()))),
    activatorLine: (source, rec) => guard('an activator line', () => publishAll(activatorLineEvents(rec, source, now()))),
    outcome: (o) => guard('an outcome', () => publishAll(outcomeEvents(o, now()))),
    alert: (p) => guard('an alert', () => dashboard.publish(alertEvent(p, now()))),
    note: (message) => guard('a note', () => dashboard.publish({ type: 'note', at: now(), message })),
    apdb: (c) => guard('the APDB counts', () => dashboard.publish({ type: 'apdb', at: now(), ...c })),
    async close(message?: string): Promise<void> {
      guard('the end of the night', () => dashboard.publish({ type: 'ended', at: now(), message }));
      await dashboard.close().catch(() => undefined);
    },
  };
}
