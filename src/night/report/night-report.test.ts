import { Buffer } from 'node:buffer';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertRecordFromRow, writeAlertArchive, type AlertPacket } from '../../alerts/index.ts';
import { fakePacket } from '../../alerts/testing/fixtures.ts';
import { makeDiaSourceCatalog, writeDiaSourceCatalog } from '../../pipeline/stages/dia-sources/index.ts';
import { NEGATIVE_KINDS, visitTruth, writeTruthFile, type VisitTruth } from '../../tester/truth/index.ts';
import { summarize, type NightRecord, type NightSummary } from '../summary.ts';
import { truthReport } from '../truth-report.ts';
import { abMagnitude, completenessByMagnitude, wilsonInterval } from './completeness.ts';
import { visitOrder } from './gallery.ts';
import { esc } from './html.ts';
import { renderNightReport, writeNightReport } from './night-report.ts';
import { crc32, encodePng, PNG_SIGNATURE } from './png.ts';
import { NAN_RGB, stampRgb, stretch } from './stamp.ts';
import { histogramBins, niceTicks } from './svg.ts';

const INSTRUMENT = 'LSSTComCam';
const GROUP = '2026112700011';

/** CRC-32 bit by bit (no table), to check the encoder's table-driven one. */
function crcBitwise(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

interface Chunk {
  type: string;
  data: Buffer;
}

/** Chunks of a PNG file, every CRC checked. */
function pngChunks(png: Buffer): Chunk[] {
  expect([...png.subarray(0, 8)]).toEqual([...PNG_SIGNATURE]);
  const out: Chunk[] = [];
  let pos = 8;
  while (pos < png.length) {
    const len = png.readUInt32BE(pos);
    const typeAndData = png.subarray(pos + 4, pos + 8 + len);
    expect(png.readUInt32BE(pos + 8 + len)).toBe(crcBitwise(typeAndData));
    out.push({ type: typeAndData.subarray(0, 4).toString('latin1'), data: png.subarray(pos + 8, pos + 8 + len) });
    pos += 12 + len;
  }
  expect(pos).toBe(png.length);
  return out;
}

/** Size and raw scanlines of a PNG, checked to hold exactly height × (1 + width × channels) bytes. */
function decodePng(png: Buffer): { width: number; height: number; colourType: number; raw: Buffer } {
  const chunks = pngChunks(png);
  expect(chunks[0].type).toBe('IHDR');
  expect(chunks[chunks.length - 1].type).toBe('IEND');
  const ihdr = chunks[0].data;
  const width = ihdr.readUInt32BE(0);
  const height = ihdr.readUInt32BE(4);
  expect(ihdr[8]).toBe(8);
  const colourType = ihdr[9];
  const channels = { 0: 1, 4: 2, 2: 3, 6: 4 }[colourType] as number;
  const raw = inflateSync(Buffer.concat(chunks.filter((c) => c.type === 'IDAT').map((c) => c.data)));
  expect(raw.length).toBe(height * (1 + width * channels));
  return { width, height, colourType, raw };
}

describe('PNG encoder', () => {
  it('computes the standard CRC-32', () => {
    expect(crc32(Buffer.from('123456789', 'latin1'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc32(Buffer.from('IEND', 'latin1'))).toBe(0xae426082);
  });

  it('encodes a 2x2 grayscale image as worked out by hand', () => {
    const png = Buffer.from(encodePng({ width: 2, height: 2, channels: 1, data: Uint8Array.of(0, 255, 128, 64) }));
    // signature
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    // IHDR: length 13, "IHDR", width 2, height 2, depth 8, colour type 0, deflate, filter 0, no interlace, CRC
    expect([...png.subarray(8, 33)]).toEqual([
      0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0, 0, 0, 2, 0, 0, 0, 2, 8, 0, 0, 0, 0, 0x57, 0xdd, 0x52, 0xf8,
    ]);
    // IEND at the end: length 0, "IEND", CRC ae 42 60 82
    expect([...png.subarray(png.length - 12)]).toEqual([0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);
    // IDAT: each row preceded by filter type 0
    const idatLen = png.readUInt32BE(33);
    expect(png.subarray(37, 41).toString('latin1')).toBe('IDAT');
    expect([...inflateSync(png.subarray(41, 41 + idatLen))]).toEqual([0, 0, 255, 0, 128, 64]);
    expect(41 + idatLen + 4 + 12).toBe(png.length);
    pngChunks(png);
  });

  it('encodes RGB with colour type 2 and rejects bad sizes', () => {
    const png = Buffer.from(encodePng({ width: 3, height: 1, channels: 3, data: Uint8Array.of(255, 0, 0, 0, 255, 0, 0, 0, 255) }));
    expect([...png.subarray(16, 33)]).toEqual([0, 0, 0, 3, 0, 0, 0, 1, 8, 2, 0, 0, 0, 0x94, 0x82, 0x83, 0xe3]);
    expect([...decodePng(png).raw]).toEqual([0, 255, 0, 0, 0, 255, 0, 0, 0, 255]);
    expect(() => encodePng({ width: 2, height: 2, channels: 1, data: new Uint8Array(3) })).toThrow(/needs 4/);
    expect(() => encodePng({ width: 0, height: 2, channels: 1, data: new Uint8Array(0) })).toThrow(RangeError);
  });
});

describe('stamps, plots and numbers', () => {
  it('stretches stamps: NaN neutral, rows flipped so that FITS row 0 is at the bottom', () => {
    // 2x2, FITS order: row 0 = (NaN, 0), row 1 = (0, 100)
    const rgb = stampRgb(Float32Array.of(NaN, 0, 0, 100), 2, 2, 'positive');
    // top row of the picture = FITS row 1
    expect([...rgb.subarray(6, 9)]).toEqual([...NAN_RGB]); // bottom-left: NaN
    expect(rgb[3]).toBe(255); // top-right: the bright pixel
    expect(rgb[0]).toBeLessThan(rgb[3]);
    expect([...stretch(Float32Array.of(NaN, NaN), 'positive')]).toEqual([-1, -1]);
    // symmetric: sky at mid-grey, negative darker, positive brighter
    const d = stretch(Float32Array.from([0, 0, 0, 0, 0, -50, 50, 1, -1]), 'symmetric');
    expect(d[0]).toBe(128);
    expect(d[5]).toBeLessThan(20);
    expect(d[6]).toBeGreaterThan(235);
  });

  it('makes round ticks and histogram bins', () => {
    expect(niceTicks(0, 10, 5)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(niceTicks(0, 63, 8)).toEqual([0, 10, 20, 30, 40, 50, 60]);
    const bins = histogramBins([0.5, 1.5, 1.6, 9.9, 10], [0, 10], 5);
    expect(bins.map((b) => [b.lo, b.hi, b.count])).toEqual([
      [0, 2, 3],
      [2, 4, 0],
      [4, 6, 0],
      [6, 8, 0],
      [8, 10, 2],
    ]);
  });

  it('gives Wilson intervals within [0, 1] around k/n', () => {
    const a = wilsonInterval(0, 10);
    expect(a.lo).toBe(0);
    expect(a.hi).toBeGreaterThan(0);
    const b = wilsonInterval(10, 10);
    expect(b.hi).toBe(1);
    expect(b.lo).toBeLessThan(1);
    const c = wilsonInterval(50, 100);
    expect(c.lo).toBeCloseTo(0.5 - 0.05 / Math.sqrt(1.01), 3);
    expect(abMagnitude(10 ** (31.4 / 2.5) / 1e8)).toBeCloseTo(20, 10);
  });

  it('spreads the sampled archives over the night', () => {
    expect(visitOrder(3, 5)).toEqual([0, 1, 2]);
    expect(visitOrder(10, 3)).toEqual([1, 5, 8, 0, 2, 3, 4, 6, 7, 9]);
    expect(visitOrder(4, 0)).toEqual([0, 1, 2, 3]);
  });

  it('escapes text for HTML', () => {
    expect(esc(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
});

describe('writeNightReport', () => {
  let dir: string;
  let summary: NightSummary;
  let truths: VisitTruth[];
  let packets4: AlertPacket[];
  let packets5: AlertPacket[];
  const REASON = 'ISR failed: header <BITPIX> & "NAXIS" missing';

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'night-report-'));
    const truthDir = path.join(dir, 'truth');
    truths = [4, 5].map((detector) =>
      visitTruth({
        instrument: INSTRUMENT,
        detector,
        group: GROUP,
        filter: 'r_03',
        exposureTimeS: 15,
        raDeg: 53.1,
        decDeg: -28.1,
        seed: 7,
        injectTransients: { seed: 7, perDetector: 30 },
      }),
    );
    for (const t of truths) await writeTruthFile(truthDir, t);
    // detector 4: DiaSources at every other transient (right sign) and 2 far away (false)
    const hits = truths[0].transients.filter((_, i) => i % 2 === 0);
    const cat = makeDiaSourceCatalog(hits.length + 2);
    hits.forEach((t, i) => {
      cat.ra[i] = t.raDeg;
      cat.dec[i] = t.decDeg;
      cat.isNegative[i] = NEGATIVE_KINDS.has(t.kind) ? 1 : 0;
      cat.snr[i] = NEGATIVE_KINDS.has(t.kind) ? -t.expectedSnr : t.expectedSnr;
    });
    for (const k of [hits.length, hits.length + 1]) {
      cat.ra[k] = truths[0].transients[0].raDeg + 0.1 + 0.01 * k;
      cat.dec[k] = truths[0].transients[0].decDeg;
      cat.snr[k] = 6;
    }
    const catFile = path.join(dir, 'repo', 'diaSources-4.fits');
    await mkdir(path.dirname(catFile), { recursive: true });
    await writeFile(catFile, writeDiaSourceCatalog(cat, []));

    packets4 = [1, 2, 3].map((s) => fakePacket(`report-${s}`, { prvDiaSources: 3, prvDiaForcedSources: 1 }, alertRecordFromRow));
    packets5 = [4, 5].map((s) => fakePacket(`report-${s}`, { prvDiaSources: 0, prvDiaForcedSources: 0, cutouts: s === 4 }, alertRecordFromRow));
    const archive4 = path.join(dir, 'repo', 'alerts-4.avro');
    const archive5 = path.join(dir, 'repo', 'alerts-5.avro');
    await writeFile(archive4, writeAlertArchive(packets4));
    await writeFile(archive5, writeAlertArchive(packets5, { codec: 'deflate' }));

    const records: NightRecord[] = [
      {
        group: GROUP,
        detector: 4,
        kind: 'SCIENCE',
        status: 'processed',
        snaps: 2,
        latencySeconds: 12.3,
        sources: 410,
        outputs: { dia_source_catalog: catFile, alertArchive: archive4, dia_cutouts: path.join(dir, 'repo', 'cutouts-4.fits') },
        timings: { isr: 1.5, calibrate: 2.5, diaSources: 0.75, total: 6 },
        summary: { diaSources: cat.length },
      },
      {
        group: GROUP,
        detector: 5,
        kind: 'SCIENCE',
        status: 'processed',
        snaps: 2,
        latencySeconds: 71.5,
        sources: 380,
        outputs: { alertArchive: pathToFileURL(archive5).href },
        timings: { isr: 2.5, calibrate: 3.5, diaSources: 1.25, total: 9 },
        summary: { diaSources: 0 },
      },
      {
        group: GROUP,
        detector: 6,
        kind: 'SCIENCE',
        status: 'failed',
        snaps: 2,
        latencySeconds: null,
        sources: null,
        reason: REASON,
        outputs: {},
        timings: {},
        summary: {},
      },
    ];
    const truth = await truthReport(truthDir, INSTRUMENT, records);
    summary = summarize(
      {
        instrument: INSTRUMENT,
        groups: 1,
        seed: 7,
        workdir: dir,
        startedAt: '2026-11-27T03:00:00.000Z',
        finishedAt: '2026-11-27T03:02:00.000Z',
        wallSeconds: 120.4,
        activators: 2,
        centralRepo: null,
        truth,
        apdbUrl: 'sqlite:///night/apdb.db',
        apdb: { diaObjects: 17, diaSources: 23, diaForcedSources: 5, detectorVisits: 2 },
        alerts: { received: 5, distinct: 5, duplicates: 0, undecodable: 0 },
        redelivery: null,
      },
      records,
    );
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes one self-contained HTML file with the summary, plots, alerts and failures', async () => {
    const file = path.join(dir, 'out', 'report.html');
    await writeNightReport(summary, file);
    expect(await readdir(path.dirname(file))).toEqual(['report.html']);
    const html = await readFile(file, 'utf8');
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);

    // nothing external
    expect(html).not.toMatch(/src="http/i);
    expect(html).not.toMatch(/href="http/i);
    expect(html).not.toMatch(/<link/i);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/url\(/i);
    for (const m of html.matchAll(/\ssrc="([^"]*)"/g)) expect(m[1].startsWith('data:image/png;base64,')).toBe(true);

    // summary numbers
    expect(summary.truth).not.toBeNull();
    const t = summary.truth!;
    expect(t.injected).toBe(truths[0].transients.length + truths[1].transients.length);
    expect(t.recovered).toBe(Math.ceil(truths[0].transients.length / 2));
    expect(html).toContain(INSTRUMENT);
    expect(html).toContain('3 expected');
    expect(html).toContain('2 processed');
    expect(html).toContain('1 failed');
    expect(html).toContain('0 timed out');
    expect(html).toContain('0 missing');
    expect(html).toContain('120.4 s with 2 activator(s)');
    expect(html).toContain(`p50 ${summary.latencySeconds.p50!.toFixed(2)} s, p95 ${summary.latencySeconds.p95!.toFixed(2)} s, max 71.50 s`);
    expect(html).toContain(`${summary.diaSources.total} in 2 difference images`);
    expect(html).toContain('<th>DiaObjects</th><td>17</td>');
    expect(html).toContain('5 received, 5 distinct');
    expect(html).toContain('sqlite:///night/apdb.db');
    expect(html).toContain(`${t.recovered}/${t.injected} recovered (${(100 * t.completeness!).toFixed(1)}%)`);
    expect(html).toContain(`${t.falsePerDetector!.toFixed(2)} (2 false DiaSources in 2 detector-visits)`);
    expect(html).toContain('1 of 2 processed detector-visits within the 60 s budget');

    // plots
    const svgs = html.match(/<svg /g) ?? [];
    expect(svgs.length).toBe(5);
    for (const title of ['Latency of processed detector-visits', 'Mean seconds per stage', 'Seconds per stage over detector-visits', 'Completeness against expected S/N', 'Completeness against magnitude']) {
      expect(html).toContain(`<title>${title}</title>`);
    }
    expect(html).toContain('60 s budget</text>');
    expect(html).toContain('>calibrate</text>');
    expect(html).toContain('3.000 s'); // calibrate mean
    expect((html.match(/<\/svg>/g) ?? []).length).toBe(5);

    // alerts: all 5, each with its cutouts as valid PNGs
    const cards = html.match(/<div class="alert">/g) ?? [];
    expect(cards.length).toBe(5);
    for (const p of [...packets4, ...packets5]) expect(html).toContain(`<td>${p.diaSourceId}</td>`);
    expect(html).toContain('<th>earlier DiaSources</th><td>3</td>');
    expect(html).toContain('no science');
    const uris = [...html.matchAll(/data:image\/png;base64,([A-Za-z0-9+/=]+)/g)].map((m) => m[1]);
    expect(uris.length).toBe(4 * 3);
    for (const b64 of uris) {
      const { width, height, colourType, raw } = decodePng(Buffer.from(b64, 'base64'));
      expect([width, height, colourType]).toEqual([31, 31, 2]);
      for (let y = 0; y < height; y++) expect(raw[y * (1 + 3 * width)]).toBe(0);
    }

    // the failure, escaped
    expect(html).toContain(esc(REASON));
    expect(html).toContain('ISR failed: header &lt;BITPIX&gt; &amp; &quot;NAXIS&quot; missing');
    expect(html).not.toContain('<BITPIX>');
  });

  it('computes completeness against magnitude from the truth files with the truth report rule', async () => {
    const mag = await completenessByMagnitude(path.join(dir, 'truth'), INSTRUMENT, summary.records, { radiusArcsec: summary.truth!.radiusArcsec });
    expect(mag).not.toBeNull();
    expect(mag!.detectorVisits).toBe(2);
    const injected = mag!.bins.reduce((a, b) => a + b.injected, 0);
    const recovered = mag!.bins.reduce((a, b) => a + b.recovered, 0);
    expect(injected + mag!.withoutMagnitude).toBe(summary.truth!.injected);
    expect(recovered).toBeLessThanOrEqual(summary.truth!.recovered);
    for (const b of mag!.bins) expect(b.hi! - b.lo).toBeCloseTo(0.5, 12);
    expect(await completenessByMagnitude(path.join(dir, 'nowhere'), INSTRUMENT, summary.records)).toBeNull();
  });

  it('keeps to maxAlerts, taking from every archive', async () => {
    const html = await renderNightReport(summary, { maxAlerts: 2 });
    expect((html.match(/<div class="alert">/g) ?? []).length).toBe(2);
    expect(html).toContain(`<td>${packets4[0].diaSourceId}</td>`);
    expect(html).toContain(`<td>${packets5[0].diaSourceId}</td>`);
    expect(html).toContain(`<td>${GROUP} / 5</td>`);
    const none = await renderNightReport(summary, { maxAlerts: 0 });
    expect(none).not.toContain('<div class="alert">');
  });

  it('reports a night without truth, alerts or processed detector-visits', async () => {
    const records: NightRecord[] = [
      { group: GROUP, detector: 1, kind: 'SCIENCE', status: 'timedOut', snaps: 2, latencySeconds: null, sources: null, reason: 'no outcome in 120 s', outputs: { alertArchive: 's3://bucket/a.avro' }, timings: {}, summary: {} },
      { group: GROUP, detector: 2, kind: 'SCIENCE', status: 'missing', snaps: 0, latencySeconds: null, sources: null, outputs: {}, timings: {}, summary: {} },
    ];
    const bare = summarize(
      { ...summary, truth: null, apdbUrl: null, apdb: null, alerts: { received: 0, distinct: 0, duplicates: 0, undecodable: 0 }, redelivery: null },
      records,
    );
    const html = await renderNightReport(bare, { truthDir: path.join(dir, 'truth') });
    expect(html).toContain('No truth');
    expect(html).toContain('timedOut');
    expect(html).toContain('no outcome in 120 s');
    expect(html).toContain('s3://bucket/a.avro is not a local file');
    expect(html).toContain('Latency of processed detector-visits: no data.');
    expect(html).not.toContain('<svg ');
    expect(html).not.toMatch(/<script|<link|src="http/i);
  });
});
