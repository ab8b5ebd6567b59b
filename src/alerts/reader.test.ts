import { Buffer } from 'node:buffer';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeAlertArchive } from './archive.ts';
import { alertRecordFromRow, encodeFramedAlert, type AlertPacket } from './codec.ts';
import { alertsFromFramed, alertSummaryLine, alertToJson, runAlertsRead, type AlertsOutput } from './reader.ts';
import { fakePacket } from './testing/fixtures.ts';

function sink(): AlertsOutput & { text: string; lines: () => string[] } {
  const s = {
    text: '',
    write(t: string) {
      s.text += t;
      return true;
    },
    lines: () => s.text.split('\n').filter(Boolean),
  };
  return s;
}

const packets: AlertPacket[] = Array.from({ length: 5 }, (_, i) => fakePacket(900 + i, { prvDiaSources: i, prvDiaForcedSources: 2, cutouts: i !== 1 }, alertRecordFromRow));
packets[0].diaSource.psfFlux = NaN;

describe('reading alerts back', () => {
  let dir: string;
  let archive: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'alerts-read-'));
    archive = path.join(dir, 'one.avro');
    writeFileSync(archive, writeAlertArchive(packets.slice(0, 3)));
    mkdirSync(path.join(dir, 'sub', 'deeper'), { recursive: true });
    writeFileSync(path.join(dir, 'sub', 'deeper', 'two.avro'), writeAlertArchive(packets.slice(3), { codec: 'null' }));
    // One Kafka value saved as a file (as a producer does with alerts it could not send).
    writeFileSync(path.join(dir, 'sub', 'failed_123.avro'), encodeFramedAlert(packets[4]));
    writeFileSync(path.join(dir, 'notes.txt'), 'not an alert');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints one summary line per alert of an archive', async () => {
    const out = sink();
    const err = sink();
    const r = await runAlertsRead(archive, { json: false }, out, err);
    expect(r).toEqual({ alerts: 3, files: 1, failures: 0 });
    const lines = out.lines();
    expect(lines).toHaveLength(3);
    const p = packets[0];
    expect(lines[0]).toBe(alertSummaryLine(p));
    expect(lines[0]).toContain(`diaSourceId=${p.diaSourceId} diaObjectId=${p.diaSource.diaObjectId}`);
    expect(lines[0]).toMatch(/ ra=\d+\.\d{6} dec=-?\d+\.\d{6} band=r psfFlux=NaN±\S+ snr=\S+ prv=0\/2 cutouts=8640\/8640\/8640$/);
    expect(lines[1]).toMatch(/prv=1\/2 cutouts=-\/-\/-$/);
    expect(err.text).toBe('');
  });

  it('reads every .avro under a directory, archives and saved Kafka values', async () => {
    const out = sink();
    const r = await runAlertsRead(dir, { json: false }, out, sink());
    expect(r).toEqual({ alerts: 6, files: 3, failures: 0 });
    // Files in path order: one.avro, sub/deeper/two.avro, sub/failed_123.avro.
    expect(out.lines().map((l) => /diaSourceId=(\d+)/.exec(l)?.[1])).toEqual([...packets, packets[4]].map((p) => String(p.diaSourceId)));
  });

  it('reports a broken file and goes on', async () => {
    const bad = path.join(dir, 'sub', 'broken.avro');
    writeFileSync(bad, Buffer.from('garbage that is not avro'));
    try {
      const out = sink();
      const err = sink();
      const r = await runAlertsRead(dir, { json: false }, out, err);
      expect(r).toEqual({ alerts: 6, files: 4, failures: 1 });
      expect(err.text).toContain(`${bad}: ${bad} is neither an Avro container file`);
    } finally {
      rmSync(bad);
    }
  });

  it('prints JSON lines: longs as strings, NaN as "NaN", cutouts as lengths or base64', async () => {
    const out = sink();
    await runAlertsRead(archive, { json: true, limit: 2 }, out, sink());
    const lines = out.lines().map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    const first = lines[0] as { diaSourceId: string; diaSource: Record<string, unknown>; cutoutScience: number; prvDiaForcedSources: Array<Record<string, unknown>> };
    expect(first.diaSourceId).toBe(String(packets[0].diaSourceId));
    expect(BigInt(first.diaSourceId) > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
    expect(first.diaSource.visit).toBe(String(packets[0].diaSource.visit));
    expect(first.diaSource.psfFlux).toBe('NaN');
    expect(first.diaSource.detector).toBe(packets[0].diaSource.detector);
    expect(first.cutoutScience).toBe(packets[0].cutoutScience!.length);
    expect(first.prvDiaForcedSources).toHaveLength(2);
    expect(lines[0]).toEqual(JSON.parse(JSON.stringify(alertToJson(packets[0]))));

    const withCutouts = sink();
    await runAlertsRead(archive, { json: true, limit: 1, cutouts: true }, withCutouts, sink());
    const b64 = (JSON.parse(withCutouts.lines()[0]) as { cutoutTemplate: string }).cutoutTemplate;
    expect(Buffer.from(b64, 'base64').equals(Buffer.from(packets[0].cutoutTemplate!))).toBe(true);
  });

  it('stops at the limit', async () => {
    const out = sink();
    expect((await runAlertsRead(dir, { json: false, limit: 4 }, out, sink())).alerts).toBe(4);
    expect(out.lines()).toHaveLength(4);
  });

  it('reads a stream of Kafka values, reporting the ones it cannot read', async () => {
    async function* values(): AsyncGenerator<Uint8Array> {
      yield encodeFramedAlert(packets[0]);
      yield Uint8Array.of(1, 2, 3, 4, 5, 6);
      yield new Uint8Array(encodeFramedAlert(packets[2]));
    }
    const out = sink();
    const err = sink();
    const r = await runAlertsRead(values(), { json: false }, out, err);
    expect(r).toEqual({ alerts: 2, files: 0, failures: 1 });
    expect(out.lines()[1]).toContain(`diaSourceId=${packets[2].diaSourceId}`);
    expect(err.text).toMatch(/^value 1: framed alert has wrong magic byte 0x01/);
  });

  it('alertsFromFramed decodes values and, without a handler, stops at a bad one naming it', async () => {
    const got: bigint[] = [];
    for await (const p of alertsFromFramed([encodeFramedAlert(packets[1])])) got.push(p.diaSourceId);
    expect(got).toEqual([packets[1].diaSourceId]);
    const bad = async (): Promise<void> => {
      for await (const _ of alertsFromFramed([encodeFramedAlert(packets[1]), Uint8Array.of(0, 0, 0)])) void _;
    };
    await expect(bad()).rejects.toThrow(/value 1: framed alert truncated/);
  });

  it('throws for a source that does not exist', async () => {
    await expect(runAlertsRead(path.join(dir, 'nope'), { json: false }, sink(), sink())).rejects.toThrow(/ENOENT/);
  });
});
