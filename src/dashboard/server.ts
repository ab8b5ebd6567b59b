/**
 * The dashboard's web server (Hono on node:http). It holds one state, reduces every published
 * event into it, and serves:
 *
 *   GET /                                 the page (static HTML, CSS and JS: no build step, no CDN)
 *   GET /api/state                        everything, as JSON (Snapshot, with the focal plane)
 *   GET /api/events                       server-sent events: `snapshot` (everything) on connect,
 *                                         then `update` (what changed) at most every `flushMs`,
 *                                         and `ended` when the night is over
 *   GET /api/detector/:group/:detector    one detector-visit in full: timings, log lines, outputs
 *   GET /api/alert/:id/:kind.png          an alert's science, template or difference cutout
 *   GET /api/focal-plane                  the instrument's detector layout
 */
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorMessage } from '../core/errors.ts';
import { cutoutPng } from './alert-view.ts';
import { focalPlane, type FocalPlane } from './focal-plane.ts';
import {
  alertCutout, CUTOUT_KINDS, initialState, reduce, snapshot, visitDetail,
  type CutoutKind, type DashboardEvent, type DashboardState, type StateLimits,
} from './state.ts';

export interface DashboardOptions {
  /** Listen address (default 127.0.0.1). */
  readonly host?: string;
  /** 0: any free port. */
  readonly port: number;
  readonly instrument: string;
  readonly limits?: Partial<StateLimits>;
  /** Updates are sent to the pages at most this often (default 250 ms). */
  readonly flushMs?: number;
}

export interface Dashboard {
  readonly url: string;
  readonly port: number;
  publish(event: DashboardEvent): void;
  /** The current state (read-only). */
  state(): DashboardState;
  /** Sends what changed to every page now. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

const PAGE_URL = new URL('./page.html', import.meta.url);
const KEEPALIVE_MS = 15_000;
const PNG_CACHE = 256;

interface Client {
  lastSeq: number;
  write(event: string, data: string, id: number): Promise<void>;
  end(): void;
  /** Resolves when its stream has ended. */
  readonly ended: Promise<void>;
}

export async function startDashboard(opts: DashboardOptions): Promise<Dashboard> {
  const page = readFileSync(PAGE_URL, 'utf8');
  const plane: FocalPlane = focalPlane(opts.instrument);
  const flushMs = opts.flushMs ?? 250;
  let state = initialState(plane.instrument, opts.limits);
  const clients = new Set<Client>();
  const pngs = new Map<string, Uint8Array>();
  let timer: NodeJS.Timeout | null = null;
  let closed = false;

  const full = () => ({ ...snapshot(state), focalPlane: plane });

  const flush = async (): Promise<void> => {
    if (timer) clearTimeout(timer);
    timer = null;
    const bySince = new Map<number, string>();
    const sends: Promise<void>[] = [];
    for (const c of clients) {
      if (c.lastSeq >= state.seq) continue;
      let data = bySince.get(c.lastSeq);
      if (data === undefined) {
        data = JSON.stringify(snapshot(state, c.lastSeq));
        bySince.set(c.lastSeq, data);
      }
      c.lastSeq = state.seq;
      sends.push(c.write(state.endedAt !== null ? 'ended' : 'update', data, state.seq).catch(() => c.end()));
    }
    await Promise.all(sends);
  };

  const app = new Hono();
  app.get('/', (c) => c.html(page, 200, { 'cache-control': 'no-store' }));
  app.get('/favicon.ico', (c) => c.body(null, 204));
  app.get('/api/state', (c) => c.json(full(), 200, { 'cache-control': 'no-store' }));
  app.get('/api/focal-plane', (c) => c.json(plane));
  app.get('/api/detector/:group/:detector', (c) => {
    const group = c.req.param('group');
    const detector = Number(c.req.param('detector'));
    if (!Number.isInteger(detector)) return c.json({ error: `detector '${c.req.param('detector')}' is not an integer` }, 400);
    const v = visitDetail(state, group, detector);
    if (!v) return c.json({ error: `no detector-visit ${group}/${detector} on the dashboard (unknown, or its group is too old to be kept)` }, 404);
    const name = plane.detectors.find((d) => d.id === detector)?.name ?? null;
    return c.json({ ...v, detectorName: name }, 200, { 'cache-control': 'no-store' });
  });
  app.get('/api/alert/:id/:file', (c) => {
    const id = c.req.param('id');
    const m = /^([a-z]+)\.png$/.exec(c.req.param('file'));
    const kind = m?.[1] as CutoutKind | undefined;
    if (!kind || !CUTOUT_KINDS.includes(kind)) return c.text(`no such cutout '${c.req.param('file')}': science.png, template.png or difference.png`, 404);
    const key = `${id}/${kind}`;
    let png = pngs.get(key);
    if (!png) {
      const fits = alertCutout(state, id, kind);
      if (!fits) return c.text(`alert ${id} has no ${kind} cutout on the dashboard (unknown, or no longer among the latest)`, 404);
      try {
        png = cutoutPng(fits, kind);
      } catch (e) {
        return c.text(`cannot render the ${kind} cutout of alert ${id}: ${errorMessage(e)}`, 422);
      }
      if (pngs.size >= PNG_CACHE) pngs.delete(pngs.keys().next().value as string);
      pngs.set(key, png);
    }
    return c.body(png as Uint8Array<ArrayBuffer>, 200, { 'content-type': 'image/png', 'cache-control': 'max-age=3600, immutable' });
  });
  app.get('/api/events', (c) => {
    return streamSSE(c, async (stream) => {
      let resolveDone: () => void = () => undefined;
      const done = new Promise<void>((r) => (resolveDone = r));
      let resolveEnded: () => void = () => undefined;
      const client: Client = {
        lastSeq: state.seq,
        write: (event, data, id) => stream.writeSSE({ event, data, id: String(id) }),
        end: () => resolveDone(),
        ended: new Promise<void>((r) => (resolveEnded = r)),
      };
      stream.onAbort(() => resolveDone());
      clients.add(client);
      const keepalive = setInterval(() => {
        stream.write(': keepalive\n\n').catch(() => resolveDone());
      }, KEEPALIVE_MS);
      try {
        await stream.writeSSE({ event: 'snapshot', data: JSON.stringify(full()), id: String(state.seq) });
        client.lastSeq = state.seq;
        if (closed) resolveDone();
        await done;
      } finally {
        clearInterval(keepalive);
        clients.delete(client);
        resolveEnded();
      }
    });
  });

  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: opts.host ?? '127.0.0.1', port: opts.port }, () => resolve(s));
    s.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  const host = !opts.host || opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;

  return {
    url,
    port,
    publish(event: DashboardEvent): void {
      if (closed) return;
      state = reduce(state, event);
      // A finished night is shown at once; everything else at most every flushMs.
      if (event.type === 'ended') void flush();
      else timer ??= setTimeout(() => void flush(), flushMs);
    },
    state: () => state,
    flush,
    async close(): Promise<void> {
      if (closed) return;
      await flush();
      closed = true;
      // The pages' streams end first (they see the end of the night), then the server.
      const ending = [...clients].map((c) => c.ended);
      for (const c of clients) c.end();
      await Promise.all(ending);
      await new Promise<void>((resolve) => {
        // Connections go as soon as they are idle (a stream's just ended), all of them after 2 s.
        const idle = setInterval(() => (server as Server).closeIdleConnections?.(), 25);
        const force = setTimeout(() => (server as Server).closeAllConnections?.(), 2000);
        server.close(() => {
          clearInterval(idle);
          clearTimeout(force);
          resolve();
        });
        (server as Server).closeIdleConnections?.();
      });
    },
  };
}
