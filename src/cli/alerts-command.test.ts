import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ALERT_SCHEMA_CANONICAL, alertRecordFromRow, writeAlertArchive } from '../alerts/index.ts';
import { fakePacket } from '../alerts/testing/fixtures.ts';
import { alertsCommands, runAlertsReadCommand } from './alerts-command.ts';

function sink(): { text: string; write(t: string): boolean } {
  return {
    text: '',
    write(t: string) {
      this.text += t;
      return true;
    },
  };
}

const packets = Array.from({ length: 3 }, (_, i) => fakePacket(40 + i, { prvDiaSources: 2 }, alertRecordFromRow));

describe('prompt alerts', () => {
  let dir: string;
  let file: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'alerts-cli-'));
    file = path.join(dir, 'visit.avro');
    writeFileSync(file, writeAlertArchive(packets));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(() => {
    vi.restoreAllMocks();
    process.exitCode = undefined;
  });

  it('read: a line per alert and a count on stderr, exit 0', async () => {
    const out = sink();
    const err = sink();
    expect(await runAlertsReadCommand(file, {}, out, err)).toBe(0);
    expect(out.text.trim().split('\n')).toHaveLength(3);
    expect(err.text).toBe('3 alert(s) from 1 file(s)\n');
  });

  it('read --json --limit: JSON lines only', async () => {
    const out = sink();
    const err = sink();
    expect(await runAlertsReadCommand(file, { json: true, limit: 2 }, out, err)).toBe(0);
    const lines = out.text.trim().split('\n').map((l) => JSON.parse(l) as { diaSourceId: string });
    expect(lines.map((l) => l.diaSourceId)).toEqual(packets.slice(0, 2).map((p) => String(p.diaSourceId)));
    expect(err.text).toBe('');
  });

  it('read: exit 2 for a missing source, 1 for an unreadable file', async () => {
    const err = sink();
    expect(await runAlertsReadCommand(path.join(dir, 'missing.avro'), {}, sink(), err)).toBe(2);
    expect(err.text).toMatch(/^prompt alerts read: .*missing\.avro: ENOENT/);
    const bad = path.join(dir, 'bad.avro');
    writeFileSync(bad, 'nothing');
    const err2 = sink();
    expect(await runAlertsReadCommand(bad, {}, sink(), err2)).toBe(1);
    expect(err2.text).toMatch(/neither an Avro container file/);
    rmSync(bad);
  });

  it('parses its command line (read, options, schema)', async () => {
    const writes: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk));
      return true;
    });
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    await alertsCommands().parseAsync(['read', file, '--json', '--limit', '1'], { from: 'user' });
    expect(writes).toHaveLength(1);
    expect((JSON.parse(writes[0]) as { diaSourceId: string }).diaSourceId).toBe(String(packets[0].diaSourceId));
    expect(process.exitCode).toBe(0);
    writes.length = 0;
    await alertsCommands().parseAsync(['schema', '--canonical'], { from: 'user' });
    expect(writes.join('')).toBe(`${ALERT_SCHEMA_CANONICAL}\n`);
  });
});
