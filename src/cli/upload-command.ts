import path from 'node:path';
import { getInstrument } from '../instruments/index.ts';
import type { VisitKind } from '../messages/next-visit.ts';
import { createLogger } from '../observability/logger.ts';
import { Services } from '../runtime/services.ts';
import type { SnapRequest } from '../tester/plan.ts';
import { createRawPool } from '../tester/sim/raw-pool.ts';
import { announcingStore } from '../tester/announcing-store.ts';
import { UploadProgress } from './upload-progress.ts';
import { snapRawParams, uploadNight, type SnapSimulationOptions, type UploadEvent } from '../tester/upload.ts';

export interface UploadCommandOptions {
  instrument: string;
  groups: number;
  broker: string;
  bucket: string;
  seed: number;
  exposureTime: number;
  slewTime: number;
  dayObs: number;
  firstSeq: number;
  kind: VisitKind;
  detectors?: number[];
  threads?: number;
  jsonProgress?: boolean;
  /** Inject transients into SCIENCE visits (default true; `--no-transients`). */
  transients?: boolean;
  /** Mean transients per detector-visit (`--transients-per-detector`, default 20). */
  transientsPerDetector?: number;
  /** Write the truth of every SCIENCE detector-visit under this directory (`--truth-dir`). */
  truthDir?: string;
  /** Publish an S3 event record on this topic for every upload (a bucket without notifications of its own). */
  announce?: string;
}

/** `prompt upload`: the playbook's tester, with real simulated raws. */
export async function runUpload(o: UploadCommandOptions): Promise<void> {
  const instrument = getInstrument(o.instrument);
  const log = createLogger({ component: 'tester', instrument: instrument.name });
  const services = new Services();
  const pool = createRawPool(o.threads ? { threads: o.threads } : {});
  const started = Date.now();
  const sim: SnapSimulationOptions = { transients: o.transients !== false, ...(o.transientsPerDetector !== undefined ? { transientsPerDetector: o.transientsPerDetector } : {}) };
  const detectors = o.detectors?.length ?? instrument.detectors.length;
  const progress = !o.jsonProgress && process.stdout.isTTY ? new UploadProgress(process.stdout, o.groups * detectors * instrument.snaps, started) : null;
  const print = (e: UploadEvent): void => {
    if (o.jsonProgress) {
      process.stdout.write(JSON.stringify(e) + '\n');
      return;
    }
    if (progress) {
      progress.event(e);
      return;
    }
    if (e.event === 'group') log.info(e, `group ${e.index}/${e.of}: ${e.group} in ${e.filter} at (${e.ra.toFixed(4)}, ${e.dec.toFixed(4)})`);
    else if (e.event === 'uploaded') log.info(e, `uploaded ${e.key}`);
    else if (e.event === 'error') log.error(e, `upload failed: ${e.reason}`);
    else if (e.event === 'truth') log.debug(e, `truth written to ${e.file}`);
  };
  try {
    const r = await uploadNight({
      instrument,
      groups: o.groups,
      seed: o.seed,
      dayObs: o.dayObs,
      firstSeq: o.firstSeq,
      exposureTimeS: o.exposureTime,
      slewTimeS: o.slewTime,
      kind: o.kind,
      detectors: o.detectors,
      broker: services.broker(o.broker),
      bucket: o.announce ? announcingStore(services.bucket(o.bucket), services.broker(o.broker), o.announce) : services.bucket(o.bucket),
      simulate: (req: SnapRequest) => pool.simulate(snapRawParams(req, sim)),
      ...(o.truthDir !== undefined ? { truthDir: path.resolve(o.truthDir), simulateWithTruth: (req: SnapRequest) => pool.simulateWithVisitTruth(snapRawParams(req, sim)) } : {}),
      onEvent: print,
    });
    const summary = { event: 'done', groups: r.visits.length, uploaded: r.uploaded, errors: r.errors, seconds: (Date.now() - started) / 1000 };
    if (o.jsonProgress) process.stdout.write(JSON.stringify(summary) + '\n');
    else log.info(summary, `uploaded ${r.uploaded} raw(s) in ${summary.seconds.toFixed(1)} s, ${r.errors} error(s)`);
    if (r.errors > 0) process.exitCode = 1;
  } finally {
    progress?.done();
    await pool.close();
    await services.close();
  }
}
