import { afterEach, describe, expect, it } from 'vitest';
import { decodeFramedAlert } from '../alerts/index.ts';
import { alertEvent } from './feed.ts';
import { startDashboard, type Dashboard } from './server.ts';
import type { Snapshot } from './state.ts';
import { syntheticNight } from './testing/synthetic.ts';

const T0 = Date.UTC(2026, 10, 27, 3, 0, 0);
let dash: Dashboard | null = null;

afterEach(async () => {
  await dash?.close();
  dash = null;
});

/** Server-sent events from a response body, one `{ event, data }` at a time. */
async function* sse(res: Response): AsyncGenerator<{ event: string; data: string }> {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += dec.decode(value, { stream: true });
    let end: number;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length) yield { event, data: data.join('\n') };
    }
  }
}

describe('the dashboard server', () => {
  it('serves the page, the state, a detector-visit, the cutouts and live updates', async () => {
    dash = await startDashboard({ port: 0, instrument: 'LSSTComCam' });
    const base = dash.url;
    const { events, alerts } = syntheticNight({ instrument: 'LSSTComCam', groups: 2, start: T0, detectors: [3, 4, 5], alertsPerDetector: 1 });
    for (const e of events) dash.publish(e);
    for (const a of alerts) dash.publish(alertEvent(decodeFramedAlert(a.value), a.at));

    const page = await fetch(base);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const html = await page.text();
    expect(html).toContain('<svg id="fp"');
    expect(html).not.toMatch(/https?:\/\/(?!www\.w3\.org)/);

    const state = (await (await fetch(new URL('api/state', base))).json()) as Snapshot & { focalPlane: { detectors: unknown[] } };
    expect(state.full).toBe(true);
    expect(state.instrument).toBe('LSSTComCam');
    expect(state.focalPlane.detectors).toHaveLength(9);
    expect(state.groups).toHaveLength(2);
    expect(state.counters.expected).toBe(6);
    expect(state.counters.finished).toBe(6);
    expect(state.alerts.length).toBeGreaterThan(0);

    const v = state.visits.find((x) => x.status === 'done');
    expect(v).toBeDefined();
    const detail = (await (await fetch(new URL(`api/detector/${v?.group}/${v?.detector}`, base))).json()) as { timings: Record<string, number>; logs: unknown[] };
    expect(detail).toMatchObject({ group: v?.group, detector: v?.detector, status: 'done', detectorName: expect.stringMatching(/^R22_S/) });
    expect(Object.keys(detail.timings)).toContain('templateWarp');
    expect(detail.logs.length).toBeGreaterThan(0);
    expect((await fetch(new URL('api/detector/2026112799999/4', base))).status).toBe(404);
    expect((await fetch(new URL('api/detector/x/four', base))).status).toBe(400);

    const a = state.alerts[0];
    for (const kind of ['science', 'template', 'difference'] as const) {
      const url = a.cutouts[kind];
      expect(url).toBe(`/api/alert/${a.diaSourceId}/${kind}.png`);
      const png = await fetch(new URL(url as string, base));
      expect(png.status).toBe(200);
      expect(png.headers.get('content-type')).toBe('image/png');
      expect([...new Uint8Array(await png.arrayBuffer()).subarray(0, 4)]).toEqual([0x89, 0x50, 0x4e, 0x47]);
    }
    expect((await fetch(new URL(`api/alert/${a.diaSourceId}/mask.png`, base))).status).toBe(404);
    expect((await fetch(new URL('api/alert/123/science.png', base))).status).toBe(404);

    // Live: everything on connect, then what changed, then the end of the night.
    const res = await fetch(new URL('api/events', base));
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const stream = sse(res);
    const first = (await stream.next()).value;
    expect(first?.event).toBe('snapshot');
    expect(JSON.parse(first?.data ?? '{}')).toMatchObject({ full: true, counters: { expected: 6 } });
    dash.publish({ type: 'nextVisit', at: T0 + 600_000, group: '2026112701100', detector: 4, snaps: 2 });
    await dash.flush();
    const update = (await stream.next()).value;
    expect(update?.event).toBe('update');
    const delta = JSON.parse(update?.data ?? '{}') as Snapshot;
    expect(delta.full).toBe(false);
    expect(delta.visits).toEqual([expect.objectContaining({ group: '2026112701100', detector: 4, status: 'waiting' })]);
    dash.publish({ type: 'ended', at: T0 + 700_000, message: '6/6 processed' });
    const ended = (await stream.next()).value;
    expect(ended?.event).toBe('ended');
    expect(JSON.parse(ended?.data ?? '{}')).toMatchObject({ endMessage: '6/6 processed' });
    await dash.close();
    // The stream ends with the server.
    expect((await stream.next()).done).toBe(true);
    dash = null;
  });

  it('refuses a port in use with the reason', async () => {
    dash = await startDashboard({ port: 0, instrument: 'LATISS' });
    await expect(startDashboard({ port: dash.port, instrument: 'LATISS' })).rejects.toThrow(/EADDRINUSE/);
  });
});
