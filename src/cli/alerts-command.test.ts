import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ALERT_SCHEMA_CANONICAL, alertRecordFromRow, writeAlertArchive } from '../alerts/index.ts';
import { fakePacket } from '../alerts/testing/fixtures.ts';
import { encodeFramedAlert } from '../alerts/index.ts';
import { createBroker } from '../messaging/index.ts';
import { startEmbeddedBroker } from '../messaging/embedded/embedded-server.ts';
import { alertsCommands, alertsSourceOf, runAlertsReadCommand } from './alerts-command.ts';

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

  it('read: the alert stream on a broker, from a subscription (left in place unless --ack) or a topic', async () => {
    const svc = await startEmbeddedBroker({ port: 0 });
    const broker = createBroker(svc.url);
    try {
      await broker.ensureTopic('alerts');
      await broker.ensureSubscription('alerts-archive', 'alerts', { ackDeadlineSeconds: 1 });
      await broker.publish('alerts', packets.map((p) => ({ data: encodeFramedAlert(p), attributes: { diaSourceId: String(p.diaSourceId) } })));
      const out = sink();
      expect(await runAlertsReadCommand(alertsSourceOf('subscription:alerts-archive', { broker: svc.url, wait: 0.5, ack: true }), { json: true }, out, sink())).toBe(0);
      const ids = out.text.trim().split('\n').map((l) => (JSON.parse(l) as { diaSourceId: string }).diaSourceId);
      expect(ids.sort()).toEqual(packets.map((p) => String(p.diaSourceId)).sort());
      // Acknowledged: nothing is left to read.
      const again = sink();
      await runAlertsReadCommand(alertsSourceOf('subscription:alerts-archive', { broker: svc.url, wait: 0.3 }), { json: true }, again, sink());
      expect(again.text).toBe('');
      // A topic: what is published while reading.
      const out2 = sink();
      const reading = runAlertsReadCommand(alertsSourceOf('topic:alerts', { broker: svc.url, wait: 1.5 }), {}, out2, sink());
      await new Promise((r) => setTimeout(r, 300));
      await broker.publish('alerts', [{ data: encodeFramedAlert(packets[0]) }]);
      expect(await reading).toBe(0);
      expect(out2.text).toContain(`diaSourceId=${packets[0].diaSourceId}`);
      const err = sink();
      expect(await runAlertsReadCommand(alertsSourceOf('topic:alerts', {}), {}, sink(), err)).toBe(1);
      expect(err.text).toMatch(/needs --broker URL/);
    } finally {
      await broker.close();
      await svc.close();
    }
  });
});
