import { describe, expect, it } from 'vitest';
import { UploadProgress } from './upload-progress.ts';

describe('prompt upload progress on a terminal', () => {
  it('counts groups, announced detectors and snaps of those expected, and estimates what is left', () => {
    let written = '';
    const out = { write: (t: string) => ((written += t), true) } as unknown as NodeJS.WriteStream;
    const p = new UploadProgress(out, 8, Date.now() - 10_000);
    p.event({ event: 'group', index: 1, of: 2, group: '2026112700001', filter: 'r', ra: 1, dec: 2 });
    for (const d of [0, 1]) p.event({ event: 'nextVisit', group: '2026112700001', detector: d, kind: 'SCIENCE', snaps: 2 });
    for (let i = 0; i < 4; i++) p.event({ event: 'uploaded', group: '2026112700001', detector: i % 2, snap: i >> 1, key: 'k', bytes: 1, lateS: 0 });
    p.event({ event: 'error', group: '2026112700001', detector: 1, snap: 1, reason: 'bucket down' });
    p.done();
    expect(p.line()).toMatch(/^\[00:1\d\] group 1\/2 · detectors announced 2 · snaps uploaded 4\/8 · 1 error\(s\) · ~1\d s left$/);
    expect(written).toContain('upload failed: group 2026112700001 detector 1 snap 1: bucket down\n');
    expect(written.endsWith('\n')).toBe(true);
  });
});
