import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ServiceFront } from './front.ts';

/** A single-request instance: answers after `delayMs`, or 429 when it is already busy. */
async function instance(name: string, delayMs: number, status = 200): Promise<{ url: string; seen: string[]; close(): Promise<void> }> {
  let busy = false;
  const seen: string[] = [];
  const srv = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (busy) {
        res.writeHead(429).end();
        return;
      }
      busy = true;
      seen.push(Buffer.concat(chunks).toString());
      setTimeout(() => {
        busy = false;
        res.writeHead(status, { 'content-type': 'text/plain' }).end(`${name}:${req.url}`);
      }, delayMs);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((r) => srv.close(() => r())),
  };
}

describe('ServiceFront', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  it('gives each request its own idle instance and queues the rest', async () => {
    const a = await instance('a', 150);
    const b = await instance('b', 150);
    const front = new ServiceFront();
    cleanups.push(() => front.close(), a.close, b.close);
    front.addInstance(a.url);
    front.addInstance(b.url);
    const url = await front.listen();
    const answers = await Promise.all(
      Array.from({ length: 5 }, (_, i) => fetch(`${url}/next-visit?token=t`, { method: 'POST', body: `m${i}` }).then(async (r) => [r.status, await r.text()] as const)),
    );
    expect(answers.every(([s]) => s === 200)).toBe(true);
    expect(answers.every(([, t]) => t.endsWith('/next-visit?token=t'))).toBe(true);
    expect(a.seen.length + b.seen.length).toBe(5);
    expect([...a.seen, ...b.seen].sort()).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    expect(front.stats.queued).toBeGreaterThanOrEqual(3);
  });

  it('refuses with 429 a request that waited longer than the queue timeout, so that it is redelivered', async () => {
    const a = await instance('a', 400);
    const front = new ServiceFront({ queueTimeoutMs: 100 });
    cleanups.push(() => front.close(), a.close);
    front.addInstance(a.url);
    const url = await front.listen();
    const first = fetch(url, { method: 'POST', body: 'x' });
    await new Promise((r) => setTimeout(r, 50));
    const second = await fetch(url, { method: 'POST', body: 'y' });
    expect(second.status).toBe(429);
    expect((await first).status).toBe(200);
  });

  it('passes the instance’s own answer through (5xx included)', async () => {
    const a = await instance('a', 10, 503);
    const front = new ServiceFront();
    cleanups.push(() => front.close(), a.close);
    front.addInstance(a.url);
    const url = await front.listen();
    expect((await fetch(url, { method: 'POST', body: 'x' })).status).toBe(503);
  });

  it('skips an instance that is gone and uses another one', async () => {
    const dead = await instance('dead', 10);
    await dead.close();
    const b = await instance('b', 10);
    const front = new ServiceFront();
    cleanups.push(() => front.close(), b.close);
    front.addInstance(dead.url);
    front.addInstance(b.url);
    const url = await front.listen();
    const r = await fetch(url, { method: 'POST', body: 'x' });
    expect(r.status).toBe(200);
    expect(await r.text()).toMatch(/^b:/);
  });
});
