import { afterAll, describe, expect, it } from 'vitest';
import { createTsWorkerPool } from './worker-pool.ts';

describe('TypeScript worker pool', () => {
  const pool = createTsWorkerPool(new URL('./testing/collect-task.ts', import.meta.url), { threads: 1 });
  afterAll(() => pool.destroy());

  it('runs a TypeScript task on a worker thread that can collect the planes it released', async () => {
    const r = (await pool.run({})) as { collected: boolean };
    expect(r.collected).toBe(true);
  });
});
