import { AlgorithmError, InvalidInputError, TransientError } from '../core/errors.ts';
import type { NextVisit } from '../messages/next-visit.ts';
import { createTsWorkerPool } from '../runtime/worker-pool.ts';
import type { CalibFiles, PipelineInputs } from './middleware.ts';
import type { PipelineTask, PipelineTaskResult } from './pipeline-worker.ts';
import type { IngestedSnap, ProcessResult, VisitProcessor } from './visit-flow.ts';

/** The output files made in place of full-size planes (writeProcessedExposureInPlace), whose memory goes back to the workers. */
const REUSABLE_FILES = ['processed.fits', 'difference.fits'] as const;

/**
 * Runs the science pipeline on a worker thread, so that this instance's HTTP server keeps
 * answering (health checks, 429 to a concurrent push) while pixels are being processed.
 */
export function createPipelineProcessor(opts: { calibRepo: string | null; threads?: number }): VisitProcessor {
  const pool = createTsWorkerPool(new URL('./pipeline-worker.ts', import.meta.url), { threads: opts.threads ?? 1 });
  // The memory of the large output files of visits done with, to go back to a worker thread with
  // the next task (the newest two: a thread keeps no more).
  let spare: ArrayBuffer[] = [];
  return {
    async process(visit: NextVisit, snaps: readonly IngestedSnap[], inputs?: PipelineInputs): Promise<ProcessResult> {
      const task: PipelineTask = {
        visit,
        snaps: snaps.map((s) => ({ objectKey: s.objectKey, bytes: s.bytes })),
        calibRepo: opts.calibRepo,
        calibs: inputs?.calibs,
        refcatShards: inputs?.refcatShards,
        templates: inputs?.templates,
        forcedPositions: inputs?.forcedPositions,
        reuse: spare,
      };
      spare = [];
      const r = (await pool.run(task, { transferList: [...(task.reuse ?? [])] })) as PipelineTaskResult;
      if (r.ok) return { files: r.files, sources: r.sources, timings: r.timings, summary: r.summary, forced: r.forced };
      if (r.code === 'INVALID_INPUT') throw new InvalidInputError(r.message);
      if (r.code === 'TRANSIENT') throw new TransientError(r.message);
      if (r.code === 'ALGORITHM') throw new AlgorithmError(r.message);
      throw new Error(`${r.name}: ${r.message}`);
    },
    recycle(files: Readonly<Record<string, Uint8Array>>): void {
      // Only the two files of full-size planes: the others are small, and made in memory of their own.
      for (const name of REUSABLE_FILES) {
        const b = files[name]?.buffer;
        if (b instanceof ArrayBuffer && b.byteLength > 0 && !spare.includes(b)) spare = [b, ...spare].slice(0, 2);
      }
    },
    async prepare(visit: NextVisit, calibs: CalibFiles): Promise<void> {
      if (!calibs.bias && !calibs.dark && !calibs.flat) return;
      const r = (await pool.run({ op: 'warm', visit, snaps: [], calibRepo: null, calibs } satisfies PipelineTask)) as PipelineTaskResult;
      if (!r.ok) throw new InvalidInputError(r.message);
    },
    async close(): Promise<void> {
      await pool.destroy();
    },
  };
}
