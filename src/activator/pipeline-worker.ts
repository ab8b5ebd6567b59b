import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Piscina, transferableSymbol, valueSymbol } from 'piscina';
import { PromptError } from '../core/errors.ts';
import type { NextVisit } from '../messages/next-visit.ts';
import { getInstrument } from '../instruments/index.ts';
import { processDetectorVisit, warmMasterCache } from '../pipeline/process-visit.ts';
import { reuseOutputBuffers } from '../pipeline/outputs.ts';
import type { MasterCalibration } from '../pipeline/index.ts';
import type { ForcedMeasurement, ForcedPosition } from '../pipeline/stages/forced-photometry/index.ts';

/** What crosses into the worker thread: the visit and the raw bytes (transferred, not copied). */
export interface PipelineTask {
  /** 'warm': only decode the calibrations into this thread's cache, ahead of the pixels. */
  readonly op?: 'process' | 'warm';
  readonly visit: NextVisit;
  readonly snaps: ReadonlyArray<{ readonly objectKey: string; readonly bytes: Uint8Array }>;
  readonly calibRepo: string | null;
  /** Master calibrations preloaded from the data repository; they take precedence over calibRepo. */
  readonly calibs?: { bias?: Uint8Array; dark?: Uint8Array; flat?: Uint8Array };
  /** Reference-catalog shards and template patches preloaded for the detector (files). */
  readonly refcatShards?: readonly Uint8Array[];
  readonly templates?: readonly Uint8Array[];
  /** Known DiaObjects in the detector's footprint, for forced photometry. */
  readonly forcedPositions?: readonly ForcedPosition[];
  /**
   * Memory of earlier visits' large output files, written out and handed back (transferred): this
   * thread lays its next planes out in it (reuseOutputBuffers) instead of in fresh memory.
   */
  readonly reuse?: readonly ArrayBuffer[];
}

export type PipelineTaskResult =
  | {
      readonly ok: true;
      readonly files: Record<string, Uint8Array>;
      readonly sources: number | null;
      readonly timings: Record<string, number>;
      readonly summary: Record<string, number | string | boolean | null>;
      readonly forced?: readonly ForcedMeasurement[];
    }
  | { readonly ok: false; readonly code: string; readonly name: string; readonly message: string };

/**
 * Master calibrations from CALIB_REPO, when it holds them:
 * `{CALIB_REPO}/{instrument}/{detector}/{bias,dark,flat}.fits`.
 */
function loadCalibs(repo: string | null, visit: NextVisit): { bias?: Uint8Array; dark?: Uint8Array; flat?: Uint8Array } {
  if (!repo) return {};
  const out: { bias?: Uint8Array; dark?: Uint8Array; flat?: Uint8Array } = {};
  for (const which of ['bias', 'dark', 'flat'] as const) {
    const file = path.join(repo, visit.instrument, String(visit.detector), `${which}.fits`);
    if (existsSync(file)) out[which] = new Uint8Array(readFileSync(file));
  }
  return out;
}

function flatten(summary: object): Record<string, number | string | boolean | null> {
  const out: Record<string, number | string | boolean | null> = {};
  const walk = (prefix: string, v: unknown): void => {
    if (v === null || typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') {
      out[prefix] = typeof v === 'number' && !Number.isFinite(v) ? null : v;
    } else if (typeof v === 'object') {
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) walk(prefix ? `${prefix}.${k}` : k, x);
    }
  };
  walk('', summary);
  return out;
}

/** Decoded master calibrations, kept by this worker thread from one visit to the next. */
const masterCache = new Map<string, MasterCalibration>();

export default function runPipelineTask(task: PipelineTask): PipelineTaskResult | ReturnType<typeof Piscina.move> {
  if (task.reuse) reuseOutputBuffers(task.reuse);
  try {
    if (task.op === 'warm') {
      const g = getInstrument(task.visit.instrument).detector(task.visit.detector).geometry();
      const n = warmMasterCache(masterCache, task.calibs ?? {}, { instrument: task.visit.instrument, detector: task.visit.detector, width: g.width, height: g.height });
      return { ok: true, files: {}, sources: null, timings: {}, summary: { warmed: n } };
    }
    const r = processDetectorVisit({
      raws: task.snaps.map((s) => s.bytes),
      rawNames: task.snaps.map((s) => s.objectKey),
      expected: { instrument: task.visit.instrument, detector: task.visit.detector, group: task.visit.group, filter: task.visit.filter },
      kind: task.visit.kind,
      calibs: task.calibs ?? loadCalibs(task.calibRepo, task.visit),
      masterCache,
      refcatShards: task.refcatShards,
      templates: task.templates,
      forcedPositions: task.forcedPositions,
      now: () => performance.now(),
    });
    const files: Record<string, Uint8Array> = { 'processed.fits': r.exposure };
    if (r.catalog) files['sources.fits'] = r.catalog;
    if (r.difference) files['difference.fits'] = r.difference;
    if (r.diaSources) files['diaSources.fits'] = r.diaSources;
    if (r.cutouts) files['cutouts.fits'] = r.cutouts;
    if (r.verification) files['verification.json'] = r.verification;
    const result: PipelineTaskResult = {
      ok: true,
      files,
      sources: r.summary.sources,
      timings: { ...r.timings },
      summary: flatten(r.summary),
      forced: r.forced ?? undefined,
    };
    // Hand the output buffers over to the main thread instead of copying them.
    const transfer = Object.values(files).map((f) => f.buffer as ArrayBuffer);
    return Piscina.move({
      get [transferableSymbol]() {
        return transfer;
      },
      get [valueSymbol]() {
        return result;
      },
    });
  } catch (e) {
    // Error classes do not survive the thread boundary: send the code, rebuild on the other side.
    if (e instanceof PromptError) return { ok: false, code: e.code, name: e.name, message: e.message };
    const err = e as Error;
    return { ok: false, code: 'UNEXPECTED', name: err?.name ?? 'Error', message: err?.stack ?? String(e) };
  }
}
