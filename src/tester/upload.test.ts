import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { getInstrument, parseObjectKey } from '../instruments/index.ts';
import { decodeNextVisit } from '../messages/next-visit.ts';
import { parseStorageNotification } from '../messages/storage-notification.ts';
import { createBroker } from '../messaging/backends.ts';
import type { Broker } from '../messaging/broker.ts';
import { startEmbeddedBroker } from '../messaging/embedded/embedded-server.ts';
import { LocalBucket } from '../storage/local/local-bucket.ts';
import { planNight, snapRequest } from './plan.ts';
import { encodeRaw, simulateRawPixels, visitTruth } from './sim/raw.ts';
import { readTruthFile, truthFilePath } from './truth/index.ts';
import { snapRawParams, uploadNight, type UploadEvent } from './upload.ts';

describe('the tester (prompt upload)', () => {
  let dir: string;
  let server: { url: string; close(): Promise<void> };
  let broker: Broker;
  let bucket: LocalBucket;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'upload-'));
    server = await startEmbeddedBroker({ port: 0 });
    broker = createBroker(server.url);
    await broker.ensureTopic('nextVisit');
    await broker.ensureTopic('LSSTComCam-image');
    await broker.ensureSubscription('nv-comcam', 'nextVisit', { filter: 'attributes.instrument = "LSSTComCam"', ackDeadlineSeconds: 30 });
    await broker.ensureSubscription('nv-latiss', 'nextVisit', { filter: 'attributes.instrument = "LATISS"', ackDeadlineSeconds: 30 });
    await broker.ensureSubscription('images', 'LSSTComCam-image', { ackDeadlineSeconds: 30 });
    bucket = new LocalBucket({ root: path.join(dir, 'raw'), notify: async (_u, topic, m) => void (await broker.publish(topic, [m])) });
    await bucket.addNotification({ topic: 'LSSTComCam-image', broker: server.url, prefix: 'LSSTComCam/' });
  });
  afterEach(async () => {
    await broker.close();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('publishes a nextVisit per detector, then uploads every snap after its exposure, announced by the bucket', async () => {
    const events: UploadEvent[] = [];
    const uploadTimes: number[] = [];
    const t0 = Date.now();
    const r = await uploadNight({
      instrument: getInstrument('LSSTComCam'),
      groups: 2,
      seed: 4,
      dayObs: 20261127,
      exposureTimeS: 0.2,
      slewTimeS: 0.1,
      detectors: [0, 4, 8],
      broker,
      bucket,
      simulate: async (req) => new TextEncoder().encode(`${req.group}/${req.detector}/${req.snap}`),
      onEvent: (e) => {
        events.push(e);
        if (e.event === 'uploaded') uploadTimes.push(Date.now() - t0);
      },
    });
    expect(r.uploaded).toBe(2 * 3 * 2);
    expect(r.errors).toBe(0);
    // The first snap is uploaded only after its exposure time.
    expect(Math.min(...uploadTimes)).toBeGreaterThanOrEqual(190);

    const nv = await broker.pull('nv-comcam', { maxMessages: 100, waitMs: 500 });
    expect(nv).toHaveLength(6);
    const visits = nv.map((m) => decodeNextVisit(m.data));
    expect(new Set(visits.map((v) => v.group))).toEqual(new Set(['2026112700001', '2026112700002']));
    expect(visits.every((v) => v.snaps === 2 && v.kind === 'SCIENCE' && v.instrument === 'LSSTComCam')).toBe(true);
    expect(nv.every((m) => m.attributes.instrument === 'LSSTComCam')).toBe(true);
    expect(await broker.pull('nv-latiss', { maxMessages: 10, waitMs: 0 })).toHaveLength(0);

    const listed = await bucket.list('LSSTComCam/');
    expect(listed).toHaveLength(12);
    for (const o of listed) parseObjectKey(o.key);
    const notes = await broker.pull('images', { maxMessages: 100, waitMs: 500 });
    expect(notes.map((m) => parseStorageNotification(m).object.key).sort()).toEqual(listed.map((o) => o.key));
    expect(events.filter((e) => e.event === 'group').map((e) => (e as { index: number }).index)).toEqual([1, 2]);
  });

  it('plans the same night from the same seed, and another from another seed', () => {
    const inst = getInstrument('LATISS');
    const a = planNight({ instrument: inst, groups: 3, seed: 1, dayObs: 20261127, firstSeq: 1, exposureTimeS: 18, kind: 'SCIENCE' });
    const b = planNight({ instrument: inst, groups: 3, seed: 1, dayObs: 20261127, firstSeq: 1, exposureTimeS: 18, kind: 'SCIENCE' });
    const c = planNight({ instrument: inst, groups: 3, seed: 2, dayObs: 20261127, firstSeq: 1, exposureTimeS: 18, kind: 'SCIENCE' });
    expect(a).toEqual(b);
    expect(a[0].raDeg).not.toBe(c[0].raDeg);
    expect(a.map((v) => v.group)).toEqual(['2026112700001', '2026112700002', '2026112700003']);
    // Dithered around one field, so visits overlap.
    expect(Math.abs(a[1].decDeg - a[0].decDeg)).toBeLessThan(0.05);
  });

  it('refuses a detector the instrument does not have', async () => {
    await expect(
      uploadNight({ instrument: getInstrument('LATISS'), groups: 1, seed: 1, dayObs: 20261127, detectors: [3], broker, bucket, simulate: async () => new Uint8Array() }),
    ).rejects.toThrow(/detector 3 does not exist on LATISS/);
  });

  it('writes the truth of each SCIENCE detector-visit before uploading its first snap (LATISS, real raws)', async () => {
    const truthDir = path.join(dir, 'truth');
    const inst = getInstrument('LATISS');
    const events: UploadEvent[] = [];
    const r = await uploadNight({
      instrument: inst,
      groups: 1,
      seed: 5,
      dayObs: 20261127,
      exposureTimeS: 0.2,
      slewTimeS: 0,
      broker,
      bucket,
      truthDir,
      simulate: async (req) => encodeRaw(simulateRawPixels(snapRawParams(req))),
      simulateWithTruth: async (req) => {
        const raw = simulateRawPixels(snapRawParams(req, { transientsPerDetector: 10 }));
        return { bytes: encodeRaw(raw), truth: raw.truth.injected };
      },
      onEvent: (e) => events.push(e),
    });
    expect(r.errors).toBe(0);
    expect(r.uploaded).toBe(1);
    const file = truthFilePath(truthDir, 'LATISS', '2026112700001', 0);
    const truth = await readTruthFile(file);
    expect(truth).toMatchObject({ instrument: 'LATISS', group: '2026112700001', detector: 0, visit: 2026112700001, filter: r.visits[0].filter });
    expect(truth.transients.length).toBeGreaterThan(0);
    // the file holds what visitTruth recomputes from the snap's parameters
    const req = snapRequest(inst, r.visits[0], 0, 0, 0, 5);
    expect(truth).toEqual(visitTruth(snapRawParams(req, { transientsPerDetector: 10 })));
    const kinds = events.map((e) => e.event);
    expect(kinds.indexOf('truth')).toBeLessThan(kinds.indexOf('uploaded'));
    expect(events.find((e) => e.event === 'truth')).toMatchObject({ file, transients: truth.transients.length });
  });

  it('writes empty truth with transients off, none for other kinds, and needs simulateWithTruth', async () => {
    const truthDir = path.join(dir, 'truth2');
    const inst = getInstrument('LSSTComCam');
    const fake = async (): Promise<Uint8Array> => new Uint8Array(8);
    const withTruth = async (req: Parameters<typeof snapRawParams>[0]) => ({ bytes: new Uint8Array(8), truth: visitTruth(snapRawParams(req, { transients: false })) });
    const base = { instrument: inst, groups: 2, seed: 6, dayObs: 20261127, exposureTimeS: 0.05, slewTimeS: 0, detectors: [4], broker, bucket, truthDir, simulate: fake, simulateWithTruth: withTruth };
    await uploadNight(base);
    const files = await readdir(path.join(truthDir, 'LSSTComCam'));
    expect(files.sort()).toEqual(['2026112700001', '2026112700002']);
    expect((await readTruthFile(truthFilePath(truthDir, 'LSSTComCam', '2026112700001', 4))).transients).toEqual([]);
    await uploadNight({ ...base, truthDir: path.join(dir, 'truth3'), kind: 'FLAT', groups: 1 });
    await expect(readdir(path.join(dir, 'truth3'))).rejects.toThrow(/ENOENT/);
    await expect(uploadNight({ ...base, simulateWithTruth: undefined })).rejects.toThrow(/simulateWithTruth/);
    // SCIENCE raws get transients unless turned off
    const req = snapRequest(inst, planNight({ instrument: inst, groups: 1, seed: 6, dayObs: 20261127, firstSeq: 1, exposureTimeS: 15, kind: 'SCIENCE' })[0], 4, 0, 0, 6);
    expect(snapRawParams(req).injectTransients).toEqual({ seed: 6 });
    expect(snapRawParams(req, { transientsPerDetector: 7 }).injectTransients).toEqual({ seed: 6, perDetector: 7 });
    expect(snapRawParams(req, { transients: false }).injectTransients).toBeUndefined();
    expect(snapRawParams({ ...req, kind: 'BIAS' }).injectTransients).toBeUndefined();
  });
});
