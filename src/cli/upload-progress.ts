/**
 * `prompt upload` on a terminal: one status line redrawn in place (groups, snaps uploaded of
 * those expected, detectors announced, elapsed and expected remaining time). Off a terminal the
 * command prints its JSON log lines instead, one per event.
 */
import type { UploadEvent } from '../tester/upload.ts';

export class UploadProgress {
  private groupIndex = 0;
  private groupCount = 0;
  private announced = 0;
  private uploaded = 0;
  private errors = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly expectedSnaps: number,
    private readonly startedAt = Date.now(),
  ) {
    this.timer = setInterval(() => this.render(), 500);
  }

  private elapsedS(): number {
    return (Date.now() - this.startedAt) / 1000;
  }

  line(): string {
    const s = Math.floor(this.elapsedS());
    const clock = `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
    const left = this.uploaded > 0 && this.expectedSnaps > this.uploaded ? ` · ~${Math.round((this.elapsedS() / this.uploaded) * (this.expectedSnaps - this.uploaded))} s left` : '';
    return `[${clock}] group ${this.groupIndex}/${this.groupCount} · detectors announced ${this.announced} · snaps uploaded ${this.uploaded}/${this.expectedSnaps}${this.errors ? ` · ${this.errors} error(s)` : ''}${left}`;
  }

  private render(): void {
    this.out.write(`\r\x1b[K${this.line()}`);
  }

  event(e: UploadEvent): void {
    if (e.event === 'group') {
      this.groupIndex = e.index;
      this.groupCount = e.of;
    } else if (e.event === 'nextVisit') this.announced++;
    else if (e.event === 'uploaded') this.uploaded++;
    else if (e.event === 'error') {
      this.errors++;
      this.out.write(`\r\x1b[Kupload failed: group ${e.group} detector ${e.detector} snap ${e.snap}: ${e.reason}\n`);
    }
    this.render();
  }

  done(): void {
    clearInterval(this.timer);
    this.render();
    this.out.write('\n');
  }
}
