import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HduInfo } from '../fits/index.ts';
import { astropyPython } from '../fits/oracle-helpers.ts';
import { simulateRaw } from '../tester/sim/raw.ts';

const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../../bin/prompt.js', import.meta.url));
const REALDATA = path.resolve(fileURLToPath(new URL('../../', import.meta.url)), '../shared/realdata');

async function info(file: string): Promise<HduInfo[]> {
  const { stdout } = await run(process.execPath, [BIN, 'fits', 'info', file, '--json'], { maxBuffer: 64 << 20 });
  return (JSON.parse(stdout) as { hdus: HduInfo[] }).hdus;
}

describe('prompt fits info', () => {
  let dir: string;
  let raw: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fits-info-'));
    raw = path.join(dir, 'raw.fz');
    await writeFile(raw, simulateRaw({ instrument: 'LATISS', detector: 0, group: '2026112700001', filter: 'SDSSr_65mm', raDeg: 10, decDeg: -20, seed: 3 }));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('lists every HDU of a raw with type, BITPIX, shape and compression', async () => {
    const hdus = await info(raw);
    expect(hdus).toHaveLength(17);
    expect(hdus[0]).toMatchObject({ index: 0, type: 'primary', shape: [], stats: null });
    expect(hdus[1]).toMatchObject({ index: 1, name: 'Segment10', type: 'compressed-image', bitpix: 32, shape: [576, 2048], compression: 'RICE_1' });
  });

  it('prints a readable table without --json', async () => {
    const { stdout } = await run(process.execPath, [BIN, 'fits', 'info', raw]);
    expect(stdout).toMatch(/Segment10/);
    expect(stdout).toMatch(/RICE_1/);
    expect(stdout.split('\n').length).toBeGreaterThan(17);
  });

  const py = astropyPython();
  it.skipIf(!py)('matches astropy’s statistics on the raw, HDU by HDU', async () => {
    if (!py) return;
    const hdus = await info(raw);
    const script = `
import sys, json, numpy as np
from astropy.io import fits
out = []
with fits.open(sys.argv[1]) as f:
    for h in f:
        if h.data is None or not h.is_image: out.append(None); continue
        d = np.asarray(h.data, dtype=np.float64)
        out.append([float(np.nanmin(d)), float(np.nanmax(d)), float(np.nanmean(d)), float(np.nanmedian(d)), float(np.nanstd(d))])
print(json.dumps(out))`;
    const r = spawnSync(py, ['-c', script, raw], { encoding: 'utf8', maxBuffer: 1 << 24 });
    expect(r.status, r.stderr).toBe(0);
    const ref = JSON.parse(r.stdout) as Array<number[] | null>;
    expect(ref).toHaveLength(hdus.length);
    hdus.forEach((h, i) => {
      const a = ref[i];
      if (!a) return expect(h.stats).toBeNull();
      const s = h.stats;
      expect(s).not.toBeNull();
      if (!s) return;
      expect(s.min).toBe(a[0]);
      expect(s.max).toBe(a[1]);
      expect(s.mean).toBeCloseTo(a[2], 6);
      expect(s.median).toBe(a[3]);
      expect(s.std).toBeCloseTo(a[4], 6);
    });
  });
  if (!py) console.warn('[cli tests] skipping the astropy comparison: no python3 with astropy (apt install python3-astropy)');

  const haveReal = existsSync(path.join(REALDATA, 'MANIFEST.md'));
  if (!haveReal) console.warn(`[cli tests] skipping real-data checks: ${REALDATA} is absent`);
  it.skipIf(!haveReal)('reads real files from other telescopes to the values of their manifest', async () => {
    const m13 = await info(path.join(REALDATA, 'dss_nom-tam-fits/m13_rice.fits'));
    expect(m13[1]).toMatchObject({ type: 'compressed-image', bitpix: 16, shape: [300, 300], compression: 'RICE_1' });
    expect(m13[1].stats).toMatchObject({ min: 109, max: 3618, median: 122 });
    expect(m13[1].stats?.mean).toBeCloseTo(147.704, 3);
    const saao = await info(path.join(REALDATA, 'saao-1m_ccdproc/a8280271.fits'));
    expect(saao[0]).toMatchObject({ bitpix: 16, shape: [536, 520] });
    expect(saao[0].stats).toMatchObject({ min: 187, max: 1715, median: 300 });
    const decam = await info(path.join(REALDATA, 'decam_legacypipe/c4d_171113_060340_ooi_r_ls9.N6.fits'));
    expect(decam[1]).toMatchObject({ name: 'N6', bitpix: -32, shape: [280, 375] });
    expect(decam[1].compression).toMatch(/RICE_1.*SUBTRACTIVE_DITHER_1/);
    expect(decam[1].stats?.median).toBeCloseTo(174.325, 3);
    const ts8 = await info(path.join(REALDATA, 'lsst_obs_lsst/201807241028453-RTM-010-S11-det067.fits'));
    expect(ts8).toHaveLength(21);
    const seg00 = ts8.find((h) => h.name === 'Segment00');
    expect(seg00?.shape).toEqual([576, 2048]);
  });

  it('names the problem and exits non-zero on a file that is not FITS', async () => {
    const bad = path.join(dir, 'bad.fits');
    await writeFile(bad, 'SIMPLE  = this is not a FITS file at all');
    const r = spawnSync(process.execPath, [BIN, 'fits', 'info', bad], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/bad\.fits/);
    expect(r.stderr.length).toBeGreaterThan(20);
    const missing = spawnSync(process.execPath, [BIN, 'fits', 'info', path.join(dir, 'nope.fits')], { encoding: 'utf8' });
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/cannot read/);
  });

  it('says which HDU is truncated in a cut-short raw', async () => {
    const { readFile } = await import('node:fs/promises');
    const bytes = await readFile(raw);
    const cut = path.join(dir, 'cut.fz');
    await writeFile(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const r = spawnSync(process.execPath, [BIN, 'fits', 'info', cut], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/HDU|truncat|byte/i);
  });
});
