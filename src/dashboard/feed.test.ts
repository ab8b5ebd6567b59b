import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { encodeFramedAlert } from '../alerts/index.ts';
import type { Outcome } from '../messages/outcome.ts';
import { cutoutPng, framedAlertInput } from './alert-view.ts';
import { activatorLineEvents, nextVisitEvents, outcomeEvents, storageEvents, testerLineEvents } from './feed.ts';
import { focalPlane } from './focal-plane.ts';
import { initialState, reduce, type DashboardEvent } from './state.ts';
import { syntheticAlert } from './testing/synthetic.ts';

const G = '2026112800958';
const AT = Date.UTC(2026, 10, 28, 0, 31, 0);

/** Lines as the tester and the activators print them during a night. */
const TESTER = [
  { event: 'group', index: 1, of: 1, group: G, filter: 'z_03', ra: 77.675, dec: -34.27 },
  { event: 'nextVisit', group: G, detector: 4, kind: 'SCIENCE', snaps: 2 },
  { event: 'truth', group: G, detector: 4, file: '/w/truth/LSSTComCam/2026112800958/4.json', transients: 21 },
  { event: 'uploaded', group: G, detector: 4, snap: 0, key: `LSSTComCam/4/${G}/0/LSSTComCam-${G}-0-2026112801916-z_03-4.fz`, bytes: 15258240, lateS: 1.229 },
  { event: 'done', groups: 1, uploaded: 4, errors: 0, seconds: 12.16 },
];
const labels = { component: 'activator', instrument: 'LSSTComCam' };
const ACTIVATOR = [
  { severity: 'INFO', time: '2026-11-28T00:31:52.711Z', labels, event: 'listening', port: 39105, url: 'http://127.0.0.1:39105', instance: 'activator-0', message: 'activator listening on http://127.0.0.1:39105' },
  { severity: 'INFO', time: '2026-11-28T00:31:54.343Z', labels, carrier: 'pubsub-push', shape: 'canonical', messageId: '2', group: G, detector: 4, message: 'received a nextVisit' },
  { severity: 'INFO', time: '2026-11-28T00:31:55.600Z', labels, group: G, detector: 4, stage: 'preload', durationS: 1.215, refcatShards: 2, templatePatches: 16, calibs: ['bias', 'dark', 'flat'], message: 'preloaded inputs for the detector' },
  { severity: 'INFO', time: '2026-11-28T00:32:00.485Z', labels, group: G, detector: 4, kind: 'SCIENCE', snap: 0, objectKey: `LSSTComCam/4/${G}/0/LSSTComCam-${G}-0-2026112801916-z_03-4.fz`, message: 'snap arrived; ingesting' },
  { severity: 'INFO', time: '2026-11-28T00:32:06.400Z', labels, group: G, detector: 4, kind: 'SCIENCE', snap: 1, objectKey: `LSSTComCam/4/${G}/1/LSSTComCam-${G}-1-2026112801917-z_03-4.fz`, message: 'snap arrived; ingesting' },
  { severity: 'INFO', time: '2026-11-28T00:33:06.467Z', labels, group: G, detector: 4, kind: 'SCIENCE', status: 'processed', snaps: 2, latencySeconds: 60.087, sources: 1102, timings: { rawInput: 2.02, templateWarp: 16.1, total: 53.2 }, message: 'detector-visit processed' },
];

function types(events: DashboardEvent[]): string[] {
  return events.map((e) => e.type);
}

describe('the dashboard feed', () => {
  it("turns the tester's progress lines into announcements and uploads", () => {
    const ev = TESTER.map((l) => testerLineEvents(l, AT));
    expect(ev.map(types)).toEqual([['group', 'note'], ['nextVisit', 'log'], ['log'], ['uploaded', 'log'], ['note']]);
    expect(ev[0][0]).toMatchObject({ group: G, index: 1, of: 1, filter: 'z_03' });
    expect(ev[1][0]).toMatchObject({ group: G, detector: 4, kind: 'SCIENCE', snaps: 2 });
    expect(ev[3][0]).toMatchObject({ snap: 0, exposureId: 2026112801916 });
    expect(testerLineEvents({ event: 'nextVisit', detector: 4 }, AT)).toEqual([]);
  });

  it("turns the activators' log lines into the detector-visit's steps, timings and log", () => {
    const ev = ACTIVATOR.map((l) => activatorLineEvents(l, 'activator-0', 0));
    expect(ev.map(types)).toEqual([['log'], ['received', 'log'], ['stage', 'log'], ['snapArrived', 'log'], ['snapArrived', 'log'], ['outcome', 'log']]);
    expect(ev[1][0]).toMatchObject({ at: Date.parse('2026-11-28T00:31:54.343Z'), group: G, detector: 4, instance: 'activator-0' });
    expect(ev[2][0]).toMatchObject({ stage: 'preload', seconds: 1.215 });
    expect(ev[3][0]).toMatchObject({ snap: 0, exposureId: 2026112801916 });
    expect(ev[5][0]).toMatchObject({ outcome: { status: 'processed', latencySeconds: 60.087, sources: 1102, timings: { templateWarp: 16.1 } } });
    expect(ev[2][1]).toMatchObject({ line: { message: 'preloaded inputs for the detector', fields: { stage: 'preload', durationS: 1.215, refcatShards: 2 } } });

    // Everything together: the detector-visit goes the whole way, its log in order.
    const s = [...TESTER.flatMap((l) => testerLineEvents(l, AT)), ...ev.flat()].reduce(reduce, initialState('LSSTComCam'));
    const v = s.visits[G][4];
    expect(v).toMatchObject({ status: 'done', snapsArrived: 2, latencySeconds: 60.087, instance: 'activator-0' });
    expect(v.timings).toMatchObject({ preload: 1.215, rawInput: 2.02 });
    expect(v.logs.map((l) => l.message)).toContain('snap arrived; ingesting');
    expect(s.notes.map((n) => n.message)).toContain('activator listening on http://127.0.0.1:39105');
  });

  it('turns outcomes, nextVisit messages and bucket notifications into events', () => {
    const o: Outcome = {
      instrument: 'LSSTComCam', group: G, detector: 3, kind: 'SCIENCE', status: 'timedOut', snaps: 0, expectedSnaps: 2,
      reason: 'no snap arrived within IMAGE_TIMEOUT=50s', instance: 'activator-1', receivedAt: '2026-11-28T00:31:54Z', outputs: {}, timings: {}, summary: {},
    };
    const oe = outcomeEvents(o, AT);
    expect(types(oe)).toEqual(['outcome', 'log']);
    expect(oe[1]).toMatchObject({ line: { severity: 'WARNING', message: 'outcome: timedOut (no snap arrived within IMAGE_TIMEOUT=50s)' } });
    const nv = nextVisitEvents({ instrument: 'LSSTComCam', detector: 3, group: G, snaps: 2, filter: 'z_03', ra: 77, dec: -34, kind: 'SCIENCE' }, AT);
    expect(nv).toEqual([
      { type: 'group', at: AT, group: G, filter: 'z_03', ra: 77, dec: -34 },
      { type: 'nextVisit', at: AT, group: G, detector: 3, kind: 'SCIENCE', snaps: 2 },
    ]);
    const key = `LSSTComCam/3/${G}/1/LSSTComCam-${G}-1-2026112801917-z_03-3.fz`;
    const se = storageEvents({ eventType: 'OBJECT_FINALIZE', object: { bucket: 'rubin-raw', key, size: 10, generation: String(AT * 1000), contentType: 'application/fits', updated: new Date(AT).toISOString() }, eventTime: '', notificationConfig: '', dedupeKey: '' }, 0);
    expect(se[0]).toEqual({ type: 'uploaded', at: AT, group: G, detector: 3, snap: 1, exposureId: 2026112801917 });
    expect(storageEvents({ eventType: 'OBJECT_FINALIZE', object: { bucket: 'b', key: 'LSSTComCam/not-a-raw', size: 1, generation: '1', contentType: '', updated: '' }, eventTime: '', notificationConfig: '', dedupeKey: '' }, 0)).toEqual([]);
  });

  it('reads an alert off the wire and renders its cutouts as PNG pictures', () => {
    const value = encodeFramedAlert(syntheticAlert('feed-test', 2026112801916, 4));
    const a = framedAlertInput(value);
    expect(a).toMatchObject({ visit: 2026112801916, detector: 4, band: 'r' });
    expect(Object.keys(a.cutouts).sort()).toEqual(['difference', 'science', 'template']);
    for (const kind of ['science', 'template', 'difference'] as const) {
      const png = cutoutPng(a.cutouts[kind] as Uint8Array, kind);
      expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      const view = Buffer.from(png);
      expect(view.toString('latin1', 12, 16)).toBe('IHDR');
      expect([view.readUInt32BE(16), view.readUInt32BE(20)]).toEqual([31, 31]);
      // RGB rows, each with its filter byte.
      const idat = view.indexOf('IDAT', 0, 'latin1');
      const raw = inflateSync(view.subarray(idat + 4, idat + 4 + view.readUInt32BE(idat - 4)));
      expect(raw.length).toBe(31 * (31 * 3 + 1));
    }
    expect(() => cutoutPng(Uint8Array.of(1, 2, 3), 'science')).toThrow();
  });

  it('draws each camera with its real detector layout', () => {
    const comcam = focalPlane('LSSTComCam');
    expect(comcam.detectors).toHaveLength(9);
    const d4 = comcam.detectors.find((d) => d.id === 4);
    // R22_S11 sits at the centre; ITL: 4072 x 4000 px at 0.2"/px.
    expect(d4).toMatchObject({ name: 'R22_S11', width: 4072 * 0.2, height: 4000 * 0.2 });
    expect((d4?.x ?? 0) + (d4?.width ?? 0) / 2).toBeCloseTo(0);
    const d0 = comcam.detectors.find((d) => d.id === 0);
    const d8 = comcam.detectors.find((d) => d.id === 8);
    expect(d0?.name).toBe('R22_S00');
    expect((d0?.x ?? 0) < (d4?.x ?? 0) && (d0?.y ?? 0) < (d4?.y ?? 0)).toBe(true);
    expect((d8?.x ?? 0) > (d4?.x ?? 0) && (d8?.y ?? 0) > (d4?.y ?? 0)).toBe(true);
    const cam = focalPlane('LSSTCam');
    expect(cam.detectors.filter((d) => d.purpose === 'SCIENCE')).toHaveLength(189);
    expect(cam.rafts).toHaveLength(25);
    expect(focalPlane('LATISS').detectors).toHaveLength(1);
    // DECam's CCDs lie with their long side along x.
    const n4 = focalPlane('DECam').detectors.find((d) => d.name === 'N4');
    expect((n4?.width ?? 0) > (n4?.height ?? 0)).toBe(true);
  });
});
