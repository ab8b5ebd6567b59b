import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The front of a pool of single-request instances, as Cloud Run or Knative put one before a
 * service with "maximum requests per container = 1": each request goes to an idle instance;
 * when none is idle it waits in a queue, and is refused with 429 (so the push subscription
 * redelivers it) when it has waited `queueTimeoutMs`. An instance that answers 429 itself is
 * skipped and the request tried on another one.
 */
export interface FrontOptions {
  host?: string;
  port?: number;
  queueTimeoutMs?: number;
  /** Forwarding timeout, as the service's request timeout (600 s in the playbook). */
  requestTimeoutMs?: number;
}

interface Instance {
  url: URL;
  busy: boolean;
  alive: boolean;
}

interface Waiter {
  resolve: (i: Instance | null) => void;
  timer: NodeJS.Timeout;
}

export class ServiceFront {
  private readonly instances: Instance[] = [];
  private readonly waiters: Waiter[] = [];
  private server?: http.Server;
  private readonly queueTimeoutMs: number;
  private readonly requestTimeoutMs: number;
  readonly stats = { forwarded: 0, queued: 0, refused: 0, maxQueue: 0 };

  constructor(private readonly opts: FrontOptions = {}) {
    this.queueTimeoutMs = opts.queueTimeoutMs ?? 60_000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 600_000;
  }

  addInstance(url: string): void {
    this.instances.push({ url: new URL(url), busy: false, alive: true });
    this.dispatch();
  }

  removeInstance(url: string): void {
    for (const i of this.instances) if (i.url.href === new URL(url).href) i.alive = false;
  }

  get size(): number {
    return this.instances.filter((i) => i.alive).length;
  }

  get busyCount(): number {
    return this.instances.filter((i) => i.alive && i.busy).length;
  }

  private dispatch(): void {
    while (this.waiters.length) {
      const free = this.instances.find((i) => i.alive && !i.busy);
      if (!free) return;
      const w = this.waiters.shift() as Waiter;
      clearTimeout(w.timer);
      free.busy = true;
      w.resolve(free);
    }
  }

  private acquire(exclude: Set<Instance>): Promise<Instance | null> {
    const free = this.instances.find((i) => i.alive && !i.busy && !exclude.has(i));
    if (free) {
      free.busy = true;
      return Promise.resolve(free);
    }
    this.stats.queued++;
    return new Promise((resolve) => {
      const w: Waiter = {
        resolve,
        timer: setTimeout(() => {
          const k = this.waiters.indexOf(w);
          if (k >= 0) this.waiters.splice(k, 1);
          resolve(null);
        }, this.queueTimeoutMs),
      };
      this.waiters.push(w);
      this.stats.maxQueue = Math.max(this.stats.maxQueue, this.waiters.length);
    });
  }

  private release(i: Instance): void {
    i.busy = false;
    this.dispatch();
  }

  async listen(): Promise<string> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.requestTimeout = this.requestTimeoutMs + 10_000;
    await new Promise<void>((resolve) => this.server?.listen(this.opts.port ?? 0, this.opts.host ?? '127.0.0.1', resolve));
    const a = this.server.address() as AddressInfo;
    return `http://${this.opts.host ?? '127.0.0.1'}:${a.port}`;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const tried = new Set<Instance>();
    for (let attempt = 0; attempt < Math.max(1, this.instances.length); attempt++) {
      const inst = await this.acquire(tried);
      if (!inst) break;
      tried.add(inst);
      try {
        const r = await this.forward(inst, req, body);
        if (r.status === 429 && tried.size < this.instances.length) continue;
        this.stats.forwarded++;
        res.writeHead(r.status, r.headers);
        res.end(r.body);
        return;
      } catch (e) {
        // The instance is gone (crashed or restarting): try another one.
        if (tried.size >= this.instances.length) {
          res.writeHead(502, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: `no instance could take the request: ${(e as Error).message}` }));
          return;
        }
      } finally {
        this.release(inst);
      }
    }
    this.stats.refused++;
    res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '1' });
    res.end(JSON.stringify({ error: 'every instance is busy' }));
  }

  private forward(
    inst: Instance,
    req: http.IncomingMessage,
    body: Buffer,
  ): Promise<{ status: number; headers: http.OutgoingHttpHeaders; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const headers = { ...req.headers, host: inst.url.host, 'content-length': String(body.length) };
      const out = http.request(
        {
          hostname: inst.url.hostname,
          port: inst.url.port,
          method: req.method,
          path: req.url,
          headers,
          timeout: this.requestTimeoutMs,
        },
        (r) => {
          const chunks: Buffer[] = [];
          r.on('data', (c: Buffer) => chunks.push(c));
          r.on('end', () => {
            const h: http.OutgoingHttpHeaders = {};
            for (const [k, v] of Object.entries(r.headers)) if (v !== undefined && k !== 'transfer-encoding' && k !== 'connection') h[k] = v;
            resolve({ status: r.statusCode ?? 502, headers: h, body: Buffer.concat(chunks) });
          });
          r.on('error', reject);
        },
      );
      out.on('timeout', () => out.destroy(new Error('instance did not answer within the request timeout')));
      out.on('error', reject);
      out.end(body);
    });
  }

  async close(): Promise<void> {
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.resolve(null);
    }
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
