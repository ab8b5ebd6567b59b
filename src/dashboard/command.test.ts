import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeFramedAlert } from '../alerts/index.ts';
import { encodeNextVisit, nextVisitAttributes } from '../messages/next-visit.ts';
import { encodeOutcome, type Outcome } from '../messages/outcome.ts';
import { buildStorageNotification } from '../messages/storage-notification.ts';
import { createBroker } from '../messaging/backends.ts';
import { startEmbeddedBroker } from '../messaging/embedded/embedded-server.ts';
import { waitFor } from '../messaging/testing.ts';
import { runDashboardCommand } from './command.ts';
import type { Snapshot } from './state.ts';
import { syntheticAlert } from './testing/synthetic.ts';

const G = '2026112800958';

const outcome = (detector: number, status: Outcome['status'] = 'processed'): Outcome => ({
  instrument: 'LSSTComCam', group: G, detector, kind: 'SCIENCE', status, snaps: 2, expectedSnaps: 2, instance: 'activator-0',
  receivedAt: '2026-11-28T00:31:54Z', outputsWrittenAt: '2026-11-28T00:33:06Z', latencySeconds: 58.2, sources: 1000,
  outputs: {}, timings: { rawInput: 2, templateWarp: 16, total: 50 }, summary: { visit: 2026112801916, 'apdb.diaSources': 3, alerts: 3 },
});

describe('prompt dashboard (fed from a broker)', () => {
  it("shows a deployment's announcements, snaps, outcomes, recorded outcomes and alerts, and cleans up after itself", async () => {
    const server = await startEmbeddedBroker();
    const broker = createBroker(server.url);
    const dir = await mkdtemp(path.join(tmpdir(), 'dashboard-cmd-'));
    const abort = new AbortController();
    try {
      for (const t of ['nextVisit', 'LSSTComCam-image', 'prompt-outcomes', 'alerts']) await broker.ensureTopic(t);
      // An outcome recorded before the dashboard started.
      await mkdir(path.join(dir, 'LSSTComCam', G, '002'), { recursive: true });
      await writeFile(path.join(dir, 'LSSTComCam', G, '002', 'outcome.json'), encodeOutcome({ ...outcome(2, 'failed'), latencySeconds: undefined, summary: {}, reason: 'stage astrometry failed' }));

      const lines: string[] = [];
      let url = '';
      const running = runDashboardCommand({
        broker: server.url, instrument: 'LSSTComCam', port: 0, outputs: dir, signal: abort.signal,
        out: (l) => {
          lines.push(l);
          const m = /(http:\/\/\S+)$/.exec(l);
          if (m && l.startsWith('dashboard of')) url = m[1];
        },
      });
      await waitFor(() => url, { timeoutMs: 10_000, what: 'the dashboard URL' });
      expect(lines).toContain(`1 recorded outcome(s) read from ${dir}`);

      const nv = { instrument: 'LSSTComCam' as const, detector: 4, group: G, snaps: 2, filter: 'z_03', ra: 77, dec: -34, kind: 'SCIENCE' as const };
      await broker.publish('nextVisit', [{ data: encodeNextVisit(nv), attributes: nextVisitAttributes(nv) }]);
      const key = `LSSTComCam/4/${G}/0/LSSTComCam-${G}-0-2026112801916-z_03-4.fz`;
      await broker.publish('LSSTComCam-image', [buildStorageNotification('OBJECT_FINALIZE', { bucket: 'rubin-raw', key, size: 100, generation: '1764290000000000', contentType: 'application/fits', updated: '2026-11-28T00:32:00Z' }, 'n')]);
      await broker.publish('alerts', [{ data: encodeFramedAlert(syntheticAlert('cmd', 2026112801916, 4)) }]);
      await broker.publish('prompt-outcomes', [{ data: encodeOutcome(outcome(4)) }, { data: new TextEncoder().encode('not an outcome') }]);

      const state = await waitFor(async () => {
        const s = (await (await fetch(new URL('api/state', url))).json()) as Snapshot;
        return s.counters.processed === 1 && s.counters.alertsReceived === 1 ? s : null;
      }, { timeoutMs: 20_000, what: 'the outcome and the alert on the dashboard' });
      expect(state.counters).toMatchObject({ expected: 2, processed: 1, failed: 1, snapsUploaded: 1, diaSources: 3 });
      expect(state.visits.find((v) => v.detector === 4)).toMatchObject({ status: 'done', latencySeconds: 58.2 });
      expect(state.alerts[0]).toMatchObject({ detector: 4, group: G });
      expect(state.notes.some((n) => /ignoring a message on prompt-outcomes: outcome is not JSON/.test(n.message))).toBe(true);
      const png = await fetch(new URL(state.alerts[0].cutouts.difference as string, url));
      expect(png.headers.get('content-type')).toBe('image/png');

      abort.abort();
      expect(await running).toBe(0);
      // The page is gone with it.
      await expect(fetch(new URL('api/state', url))).rejects.toThrow();
    } finally {
      abort.abort();
      await broker.close();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
