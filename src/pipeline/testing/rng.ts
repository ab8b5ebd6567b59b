/**
 * The seeded random generator of the pipeline's tests, benchmarks and synthetic data: the
 * project's core Rng (xoshiro128**, ziggurat normals), deterministic for a given seed.
 */
import { Rng } from '../../core/rng.ts';

export class SeededRng {
  readonly #rng: Rng;

  constructor(seed: number) {
    this.#rng = Rng.from(seed);
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.#rng.uniform();
  }

  /** Standard normal deviate. */
  normal(): number {
    return this.#rng.normal();
  }

  /** Poisson deviate. */
  poisson(mean: number): number {
    return this.#rng.poisson(mean);
  }
}
