/**
 * The stage runner: runs named stages with an injected clock, adds up the seconds each stage
 * takes, and classifies failures. A PromptError passes through as it is (an InvalidInputError
 * from a stage names what was wrong); any other error is bad input in an input stage (reading
 * files) and an AlgorithmError, with the stage in its metadata, everywhere else.
 */
import { AlgorithmError, errorMessage, InvalidInputError, PromptError } from '../core/errors.ts';

/** A monotonic clock in milliseconds (e.g. performance.now). */
export type Clock = () => number;

export class StageRunner {
  /** Seconds per stage name (stages run several times, e.g. once per snap, add up). */
  readonly timings: Record<string, number> = {};
  readonly #now: Clock;

  constructor(now: Clock) {
    this.#now = now;
  }

  /** Runs `fn` as stage `name`. `kind` 'input' makes unexpected errors InvalidInputError. */
  stage<T>(name: string, fn: () => T, kind: 'input' | 'algorithm' = 'algorithm'): T {
    const t0 = this.#now();
    try {
      return fn();
    } catch (err) {
      throw classifyStageError(name, err, kind);
    } finally {
      this.timings[name] = (this.timings[name] ?? 0) + (this.#now() - t0) / 1000;
    }
  }

  /** Seconds since `startMs` (a value of the same clock). */
  since(startMs: number): number {
    return (this.#now() - startMs) / 1000;
  }

  now(): number {
    return this.#now();
  }
}

export function classifyStageError(stage: string, err: unknown, kind: 'input' | 'algorithm'): PromptError {
  if (err instanceof PromptError) return err;
  if (kind === 'input') return new InvalidInputError(`${stage}: ${errorMessage(err)}`, { cause: err });
  return new AlgorithmError(`stage ${stage} failed: ${errorMessage(err)}`, { stage }, { cause: err });
}
