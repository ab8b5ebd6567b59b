/**
 * Test helpers for messaging backends: condition polling instead of sleeps, and a real local
 * HTTP endpoint to receive pushes.
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Polls `condition` until it returns a truthy value (returned) or the timeout passes (throws). */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const intervalMs = options.intervalMs ?? 5;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${options.what ?? 'a condition'}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface ReceivedPush {
  /** 0-based arrival index. */
  readonly index: number;
  /** Path and query as received, e.g. `/next-visit?token=abc`. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawBody: string;
  /** JSON-parsed body (undefined if not JSON). */
  readonly body: unknown;
  readonly receivedAt: number;
}

/** What the endpoint answers: a status, or a status after a delay, or 'hang' (never answers). */
export type PushAnswer = number | { status: number; delayMs: number } | 'hang';

export interface PushEndpoint {
  /** Base URL, `http://127.0.0.1:PORT`. */
  readonly url: string;
  readonly requests: ReceivedPush[];
  /** Requests being handled now. */
  readonly inflight: number;
  /** Highest `inflight` seen. */
  readonly maxInflight: number;
  close(): Promise<void>;
}

/** A real HTTP server on an ephemeral port that records every POST and answers via `answer`. */
export async function startPushEndpoint(
  answer: (push: ReceivedPush) => PushAnswer | Promise<PushAnswer>,
): Promise<PushEndpoint> {
  const requests: ReceivedPush[] = [];
  const hanging = new Set<ServerResponse>();
  let inflight = 0;
  let maxInflight = 0;
  const server = createServer((req, res) => {
    inflight++;
    maxInflight = Math.max(maxInflight, inflight);
    let settled = false;
    const done = (): void => {
      if (!settled) {
        settled = true;
        inflight--;
      }
    };
    res.on('close', done);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = JSON.parse(rawBody);
      } catch {
        body = undefined;
      }
      const push: ReceivedPush = {
        index: requests.length,
        url: req.url ?? '',
        headers: req.headers,
        rawBody,
        body,
        receivedAt: Date.now(),
      };
      requests.push(push);
      void Promise.resolve(answer(push)).then(async (a) => {
        if (a === 'hang') {
          hanging.add(res);
          return;
        }
        const { status, delayMs } = typeof a === 'number' ? { status: a, delayMs: 0 } : a;
        if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
        res.writeHead(status, { 'content-type': 'text/plain' });
        res.end(status < 300 ? '' : 'nope');
        done();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    get inflight() {
      return inflight;
    },
    get maxInflight() {
      return maxInflight;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

export function text(data: Uint8Array): string {
  return new TextDecoder().decode(data);
}
