import { ConfigError, errorMessage } from '../core/errors.ts';
import { buildObjectKey, type Instrument } from '../instruments/index.ts';
import { encodeNextVisit, nextVisitAttributes, type NextVisit, type VisitKind } from '../messages/next-visit.ts';
import type { Broker } from '../messaging/broker.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import { planNight, snapRequest, type PlannedVisit, type SnapRequest } from './plan.ts';
import type { RawParams } from './sim/raw.ts';
import type { VisitTruth } from './sim/transients.ts';
import { writeTruthFile } from './truth/truth-file.ts';

/** Events the tester reports while it works (printed as JSON lines with --json-progress). */
export type UploadEvent =
  | { event: 'group'; index: number; of: number; group: string; filter: string; ra: number; dec: number }
  | { event: 'nextVisit'; group: string; detector: number; kind: VisitKind; snaps: number }
  | { event: 'uploaded'; group: string; detector: number; snap: number; key: string; bytes: number; lateS: number }
  | { event: 'truth'; group: string; detector: number; file: string; transients: number }
  | { event: 'error'; group: string; detector: number; snap: number; reason: string };

export interface UploadOptions {
  instrument: Instrument;
  groups: number;
  seed: number;
  dayObs: number;
  firstSeq?: number;
  exposureTimeS?: number;
  slewTimeS?: number;
  kind?: VisitKind;
  detectors?: readonly number[];
  nextVisitTopic?: string;
  /** Parallel uploads. */
  concurrency?: number;
  broker: Broker;
  bucket: ObjectStore;
  /** Produces one raw file; runs on worker threads in production. */
  simulate: (req: SnapRequest) => Promise<Uint8Array>;
  /**
   * Where the truth of every SCIENCE detector-visit goes: `{truthDir}/{instrument}/{group}/{detector}.json`
   * (truth/truth-file.ts), written before the visit's first snap is uploaded. Needs simulateWithTruth.
   */
  truthDir?: string;
  /** Produces the first snap of a SCIENCE visit with the visit's truth (used when truthDir is set). */
  simulateWithTruth?: (req: SnapRequest) => Promise<{ bytes: Uint8Array; truth: VisitTruth }>;
  onEvent?: (e: UploadEvent) => void;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Plays the camera and the observatory's scheduler for `groups` visits: publishes one nextVisit
 * per detector on the nextVisit topic, lets each snap's exposure time pass, uploads every
 * detector's raw for that snap in parallel, and slews to the next group. Raws are simulated
 * while the shutter is open, so they are ready when it closes.
 */
export async function uploadNight(o: UploadOptions): Promise<{ visits: PlannedVisit[]; uploaded: number; errors: number }> {
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms))));
  const exposureTimeS = o.exposureTimeS ?? 18;
  const slewTimeS = o.slewTimeS ?? 2;
  const topic = o.nextVisitTopic ?? 'nextVisit';
  const detectors = o.detectors ?? o.instrument.detectors.map((d) => d.id);
  for (const d of detectors) o.instrument.detector(d);
  const truthDir = o.truthDir;
  const simulateWithTruth = o.simulateWithTruth;
  if (truthDir !== undefined && !simulateWithTruth) throw new ConfigError('uploadNight: truthDir needs simulateWithTruth');
  const visits = planNight({
    instrument: o.instrument,
    groups: o.groups,
    seed: o.seed,
    dayObs: o.dayObs,
    firstSeq: o.firstSeq ?? 1,
    exposureTimeS,
    kind: o.kind ?? 'SCIENCE',
  });
  const emit = o.onEvent ?? (() => undefined);
  await o.broker.ensureTopic(topic);
  let uploaded = 0;
  let errors = 0;
  // The raw is uploaded even when its truth file cannot be written (that is reported as an error).
  const recordTruth = async (req: SnapRequest, dir: string, sim: NonNullable<UploadOptions['simulateWithTruth']>): Promise<Uint8Array> => {
    const r = await sim(req);
    try {
      const file = await writeTruthFile(dir, r.truth);
      emit({ event: 'truth', group: req.group, detector: req.detector, file, transients: r.truth.transients.length });
    } catch (e) {
      errors++;
      emit({ event: 'error', group: req.group, detector: req.detector, snap: req.snap, reason: `truth file: ${errorMessage(e)}` });
    }
    return r.bytes;
  };
  const limit = o.concurrency ?? 8;

  for (const v of visits) {
    emit({ event: 'group', index: v.index + 1, of: visits.length, group: v.group, filter: v.filter, ra: v.raDeg, dec: v.decDeg });
    const t0 = now();
    const messages = detectors.map((detector) => {
      const nv: NextVisit = {
        instrument: o.instrument.name,
        detector,
        group: v.group,
        snaps: v.snaps,
        filter: v.filter,
        ra: v.raDeg,
        dec: v.decDeg,
        kind: v.kind,
      };
      return { data: encodeNextVisit(nv), attributes: nextVisitAttributes(nv) };
    });
    await o.broker.publish(topic, messages);
    for (const detector of detectors) emit({ event: 'nextVisit', group: v.group, detector, kind: v.kind, snaps: v.snaps });

    for (let snap = 0; snap < v.snaps; snap++) {
      const snapStart = t0 + snap * exposureTimeS * 1000;
      const shutterClose = snapStart + exposureTimeS * 1000;
      // Start simulating every detector now (the pool bounds the parallelism); upload each
      // once the shutter has closed, at most `limit` at a time.
      const pending = detectors.map((detector) => {
        const req = snapRequest(o.instrument, v, detector, snap, snapStart, o.seed);
        const bytes = truthDir !== undefined && simulateWithTruth && v.kind === 'SCIENCE' && snap === 0 ? recordTruth(req, truthDir, simulateWithTruth) : o.simulate(req);
        bytes.catch(() => undefined);
        return { detector, req, bytes };
      });
      await sleep(shutterClose - now());
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < pending.length) {
          const p = pending[next++];
          const key = buildObjectKey({ instrument: o.instrument.name, detector: p.detector, group: v.group, snap, filter: v.filter });
          try {
            const bytes = await p.bytes;
            await o.bucket.put(key, bytes, { contentType: 'image/fits' });
            uploaded++;
            emit({ event: 'uploaded', group: v.group, detector: p.detector, snap, key, bytes: bytes.length, lateS: Math.max(0, (now() - shutterClose) / 1000) });
          } catch (e) {
            errors++;
            emit({ event: 'error', group: v.group, detector: p.detector, snap, reason: errorMessage(e) });
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(limit, pending.length) }, worker));
    }
    if (v.index < visits.length - 1) await sleep(t0 + (v.snaps * exposureTimeS + slewTimeS) * 1000 - now());
  }
  return { visits, uploaded, errors };
}

/** How `snapRawParams` simulates: transients are injected into SCIENCE visits unless turned off. */
export interface SnapSimulationOptions {
  /** Inject transients with truth into SCIENCE visits (default true); their seed is the night's. */
  readonly transients?: boolean;
  /** Mean transients per detector-visit (default: transients.ts, 20). */
  readonly transientsPerDetector?: number;
}

/** The simulator's parameters for one planned snap (what `prompt upload` simulates). */
export function snapRawParams(req: SnapRequest, o: SnapSimulationOptions = {}): RawParams {
  const inject = o.transients !== false && req.kind === 'SCIENCE';
  return {
    instrument: req.instrument,
    detector: req.detector,
    group: req.group,
    snap: req.snap,
    kind: req.kind,
    filter: req.filter,
    exposureTimeS: req.exposureTimeS,
    raDeg: req.raDeg,
    decDeg: req.decDeg,
    rotationDeg: req.rotationDeg,
    seeingFwhmArcsec: req.seeingFwhmArcsec,
    seed: req.seed,
    dateObs: new Date(req.startMs).toISOString(),
    ...(inject ? { injectTransients: { seed: req.seed, ...(o.transientsPerDetector !== undefined ? { perDetector: o.transientsPerDetector } : {}) } } : {}),
  };
}
