import type { Outcome } from '../messages/outcome.ts';

/**
 * Progress of a night on a terminal: one status line redrawn in place on a TTY, plain lines
 * (at most one every few seconds, and one per notable event) otherwise.
 */
export class Progress {
  private readonly tty: boolean;
  private expectedCount = 0;
  private uploads = 0;
  private groupIndex = 0;
  private groupCount = 0;
  private processed = 0;
  private failed = 0;
  private timedOut = 0;
  private readonly latencies: number[] = [];
  private lastPlain = 0;
  private timer?: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly opts: { plain?: boolean; startedAt: number; inFlight?: () => number },
  ) {
    this.tty = !opts.plain && Boolean((out as NodeJS.WriteStream).isTTY);
    if (this.tty) this.timer = setInterval(() => this.render(), 500);
  }

  private elapsed(): string {
    const s = Math.floor((Date.now() - this.opts.startedAt) / 1000);
    return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  }

  private line(): string {
    const done = this.processed + this.failed + this.timedOut;
    const lat = [...this.latencies].sort((a, b) => a - b);
    const p50 = lat.length ? lat[Math.floor((lat.length - 1) / 2)] : null;
    const rate = done > 0 ? (Date.now() - this.opts.startedAt) / 1000 / done : null;
    const remaining = rate !== null && this.expectedCount > done ? ` · ~${Math.round(rate * (this.expectedCount - done))} s left` : '';
    return (
      `[${this.elapsed()}] group ${this.groupIndex}/${this.groupCount} · snaps uploaded ${this.uploads}` +
      ` · detector-visits ${done}/${this.expectedCount} (processed ${this.processed}, failed ${this.failed}, timed out ${this.timedOut})` +
      (this.opts.inFlight ? ` · activators busy ${this.opts.inFlight()}` : '') +
      (p50 !== null ? ` · latency p50 ${p50.toFixed(1)} s` : '') +
      remaining
    );
  }

  private render(force = false): void {
    if (this.closed) return;
    if (this.tty) {
      this.out.write(`\r\x1b[K${this.line()}`);
    } else if (force || Date.now() - this.lastPlain > 5000) {
      this.lastPlain = Date.now();
      this.out.write(this.line() + '\n');
    }
  }

  note(text: string): void {
    if (this.closed) return;
    if (this.tty) this.out.write(`\r\x1b[K[${this.elapsed()}] ${text}\n`);
    else this.out.write(`[${this.elapsed()}] ${text}\n`);
  }

  expected(n: number): void {
    this.expectedCount = n;
    this.render();
  }

  uploaded(): void {
    this.uploads++;
    this.render();
  }

  group(index: number, of: number): void {
    this.groupIndex = index;
    this.groupCount = of;
    this.render(true);
  }

  outcome(o: Outcome): void {
    if (o.status === 'processed') this.processed++;
    else if (o.status === 'failed') this.failed++;
    else this.timedOut++;
    if (o.latencySeconds !== undefined && o.status === 'processed') this.latencies.push(o.latencySeconds);
    if (o.status !== 'processed') this.note(`group ${o.group} detector ${o.detector}: ${o.status}${o.reason ? ` (${o.reason})` : ''}`);
    this.render();
  }

  done(): void {
    if (this.closed) return;
    if (this.timer) clearInterval(this.timer);
    this.render(true);
    if (this.tty) this.out.write('\n');
    this.closed = true;
  }
}
