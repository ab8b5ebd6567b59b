/**
 * A made-up night as dashboard events, for tests and for looking at the page without running a
 * night: per group, every detector announced, its snaps uploaded and ingested, its stages, an
 * outcome with realistic timings (some failures and timeouts), and alerts with cutouts of a
 * point source on a noisy sky (science), the same without it (template) and their difference.
 */
import { alertRecordFromRow, encodeFramedAlert, type AlertPacket } from '../../alerts/index.ts';
import { fakePacket } from '../../alerts/testing/fixtures.ts';
import { createRng, type Rng } from '../../core/rng.ts';
import { getInstrument } from '../../instruments/index.ts';
import { cutoutToFitsImage } from '../../pipeline/stages/dia-sources/cutouts.ts';
import type { DashboardEvent, OutcomeInput } from '../state.ts';

const STAGES: ReadonlyArray<[string, number]> = [
  ['rawInput', 2.2], ['calibInput', 0.02], ['overscan', 0.7], ['assembly', 1.9], ['calibrateSignature', 3.1], ['snapCombine', 1.4],
  ['background', 0.9], ['detection', 2.4], ['measurement', 0.9], ['refcatInput', 0.2], ['astrometry', 0.1], ['photometricCalibration', 0.001],
  ['templateInput', 0.05], ['templateWarp', 16], ['psfMatching', 1.9], ['subtraction', 12.5], ['diaSources', 7.5], ['cutouts', 0.005],
  ['forcedPhotometry', 0.02], ['outputs', 0.4],
];

function stamp(rng: Rng, sky: number, flux: number, size = 31): Float32Array {
  const img = new Float32Array(size * size);
  const c = (size - 1) / 2 + rng.range(-0.5, 0.5);
  const sigma = rng.range(1.4, 2.2);
  const stars: Array<[number, number, number]> = [[c, c, flux]];
  for (let k = 0; k < 2; k++) stars.push([rng.range(0, size), rng.range(0, size), rng.range(0.2, 3) * Math.abs(flux)]);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let v = sky + rng.gaussian(0, 12);
      for (const [sx, sy, f] of stars) v += (f / (2 * Math.PI * sigma * sigma)) * Math.exp(-((x - sx) ** 2 + (y - sy) ** 2) / (2 * sigma * sigma));
      img[y * size + x] = v;
    }
  }
  return img;
}

/** An alert packet for a DiaSource of (visit, detector) with science, template and difference cutouts. */
export function syntheticAlert(seed: string, visit: number, detector: number): AlertPacket {
  const rng = createRng(`${seed}-cutouts`);
  const p = fakePacket(seed, { prvDiaSources: rng.int(4), prvDiaForcedSources: 2 }, alertRecordFromRow);
  const transient = rng.range(800, 6000);
  const sciRng = createRng(`${seed}-sky`);
  const science = stamp(sciRng, 300, transient);
  const template = stamp(createRng(`${seed}-sky`), 300, 0);
  const difference = science.map((v, i) => v - template[i] + rng.gaussian(0, 5));
  const fits = (image: Float32Array) => cutoutToFitsImage({ width: 31, height: 31, image }, null, 1000, 2000);
  return {
    ...p,
    diaSource: { ...p.diaSource, visit: BigInt(visit), detector, snr: rng.range(5, 80), psfFlux: transient, psfFluxErr: rng.range(50, 300), band: 'r' },
    cutoutScience: fits(science),
    cutoutTemplate: fits(template),
    cutoutDifference: fits(difference),
  };
}

export interface SyntheticNightOptions {
  readonly instrument: string;
  readonly groups: number;
  readonly start: number;
  /** Detector ids (default: the science detectors). */
  readonly detectors?: readonly number[];
  readonly alertsPerDetector?: number;
  /** Stop the last group halfway (some detectors still in flight). */
  readonly unfinishedLastGroup?: boolean;
  readonly seed?: string;
}

/** Events of a night and, aside, the Kafka values of its alerts (framed). */
export function syntheticNight(o: SyntheticNightOptions): { events: DashboardEvent[]; alerts: Array<{ at: number; value: Uint8Array }> } {
  const inst = getInstrument(o.instrument);
  const rng = createRng(o.seed ?? 'dashboard');
  const dets = o.detectors ?? inst.detectors.filter((d) => d.purpose === 'SCIENCE').map((d) => d.id);
  const events: DashboardEvent[] = [];
  const alerts: Array<{ at: number; value: Uint8Array }> = [];
  let t = o.start;
  for (let g = 0; g < o.groups; g++) {
    const group = `20261127${String(1000 + g * 7).padStart(5, '0')}`;
    const visit = 2026112700000 + 2000 + g * 2;
    const last = g === o.groups - 1 && o.unfinishedLastGroup;
    events.push({ type: 'group', at: t, group, index: g + 1, of: o.groups, filter: 'r_03', ra: 53.1 + g * 0.3, dec: -27.8 });
    for (const d of dets) events.push({ type: 'nextVisit', at: t + 10, group, detector: d, kind: 'SCIENCE', snaps: inst.snaps });
    for (const d of dets) {
      const inst0 = `activator-${d % 4}`;
      const a = t + 50 + rng.int(400);
      events.push({ type: 'received', at: a, group, detector: d, instance: inst0 });
      events.push({ type: 'stage', at: a + 1500, group, detector: d, stage: 'preload', seconds: 1.4 + rng.uniform() });
      for (let snap = 0; snap < inst.snaps; snap++) {
        const up = t + 15_000 + snap * 16_000 + rng.int(1500);
        events.push({ type: 'uploaded', at: up, group, detector: d, snap, exposureId: visit + snap });
        events.push({ type: 'snapArrived', at: up + 300, group, detector: d, snap, exposureId: visit + snap, instance: inst0 });
        events.push({ type: 'log', at: up + 300, group, detector: d, line: { at: up + 300, severity: 'INFO', message: 'snap arrived; ingesting', source: inst0, fields: { snap } } });
      }
      if (last && rng.uniform() < 0.6) continue;
      const lastSnap = t + 15_000 + (inst.snaps - 1) * 16_000 + 1500;
      const roll = rng.uniform();
      const status: OutcomeInput['status'] = roll < 0.03 ? 'failed' : roll < 0.05 ? 'timedOut' : 'processed';
      const timings: Record<string, number> = {};
      let total = 0;
      for (const [name, mean] of STAGES) {
        const sec = mean * rng.range(0.75, 1.3);
        timings[name] = sec;
        total += sec;
      }
      timings.total = total;
      timings.preload = 1.5 + rng.uniform();
      timings.export = 1.4 + rng.uniform() * 0.4;
      timings.apdb = 0.05;
      timings.alerts = 0.12;
      const latency = total + timings.export + 0.3 + rng.gaussian(0, 2);
      const done = lastSnap + latency * 1000;
      const nAlerts = status === 'processed' ? (o.alertsPerDetector ?? 2) : 0;
      for (let k = 0; k < nAlerts; k++) {
        alerts.push({ at: done - 200, value: encodeFramedAlert(syntheticAlert(`${group}-${d}-${k}`, visit, d)) });
      }
      events.push({
        type: 'outcome',
        at: done,
        outcome: {
          group, detector: d, status, kind: 'SCIENCE', snaps: inst.snaps, expectedSnaps: inst.snaps, instance: inst0,
          latencySeconds: status === 'processed' ? latency : undefined,
          reason: status === 'failed' ? 'stage astrometry failed: too few reference matches (3 < 6)' : status === 'timedOut' ? 'no snap arrived within IMAGE_TIMEOUT=50s' : undefined,
          sources: status === 'processed' ? 900 + rng.int(400) : undefined,
          timings: status === 'processed' ? timings : {},
          outputs: status === 'processed' ? {
            processed_exposure: `file:///central/LSSTComCam/prompt/processed_exposure/${d}/${visit}.fits`,
            difference_image: `file:///central/LSSTComCam/prompt/difference_image/${d}/${visit}.fits`,
            outcome: `/work/repo/${inst.name}/${group}/${String(d).padStart(3, '0')}/outcome.json`,
          } : {},
          summary: status === 'processed' ? { visit, 'apdb.diaSources': 15 + rng.int(10), 'apdb.diaObjectsCreated': 12 + rng.int(6), 'apdb.diaForcedSources': 20, alerts: nAlerts } : {},
        },
      });
    }
    t += 36_000;
  }
  events.sort((a, b) => a.at - b.at);
  return { events, alerts };
}
