import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pixelStats, readFits, type FitsFile } from '../../fits/index.ts';
import { getInstrument, type CcdGeometry } from '../../instruments/index.ts';
import { skyToPixel, tanWcsFromHeader } from '../../astro/index.ts';
import { InvalidInputError } from '../../core/errors.ts';
import { encodeRaw, flatFieldPattern, simulateRaw, simulateRawPixels, type RawParams, type RawPixels } from './raw.ts';
import { CAMERA_PROPERTIES } from './observation.ts';

// ---------------------------------------------------------------- helpers
function median(a: ArrayLike<number>): number {
  const s = Float64Array.from(a).sort();
  const n = s.length;
  return n % 2 ? s[(n - 1) >> 1] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/** Every k-th value (a quick sample for medians of whole images). */
function every(a: Float32Array, k: number): Float32Array {
  const out = new Float32Array(Math.ceil(a.length / k));
  for (let i = 0, j = 0; i < a.length; i += k, j++) out[j] = a[i];
  return out;
}

interface AmpStats {
  overscanMedian: number;
  /** Std of the overscan after removing each row's mean (the drift). */
  overscanRowStd: number;
}

function hduPixels(f: FitsFile, name: string): Int32Array {
  return f.hdu(name).pixels() as Int32Array;
}

/** Overscan statistics of one amplifier. */
function overscanStats(f: FitsFile, geom: CcdGeometry, ampIndex: number): AmpStats {
  const amp = geom.amps[ampIndex];
  const hdu = geom.rawHdus.find((h) => h.index === amp.hduIndex);
  if (!hdu) throw new Error('no hdu');
  const px = hduPixels(f, hdu.name);
  const o = amp.serialOverscan;
  const vals: number[] = [];
  let ss = 0;
  let n = 0;
  for (let y = o.y0; y < o.y1; y++) {
    let m = 0;
    for (let x = o.x0; x < o.x1; x++) {
      const v = px[y * hdu.width + x];
      vals.push(v);
      m += v;
    }
    m /= o.x1 - o.x0;
    for (let x = o.x0; x < o.x1; x++) {
      const d = px[y * hdu.width + x] - m;
      ss += d * d;
      n++;
    }
  }
  const w = o.x1 - o.x0;
  return { overscanMedian: median(vals), overscanRowStd: Math.sqrt((ss / n) * (w / (w - 1))) };
}

/**
 * A minimal ISR: per-row serial-overscan mean subtracted, times the header gain, amplifiers put in
 * place by the geometry (flips included). Electrons, trimmed detector frame.
 */
function assemble(f: FitsFile, geom: CcdGeometry): Float32Array {
  const out = new Float32Array(geom.width * geom.height);
  for (const amp of geom.amps) {
    const hdu = geom.rawHdus.find((h) => h.index === amp.hduIndex);
    if (!hdu) throw new Error('no hdu');
    const px = hduPixels(f, hdu.name);
    const d = amp.rawData;
    const o = amp.serialOverscan;
    for (let ry = d.y0; ry < d.y1; ry++) {
      let m = 0;
      for (let x = o.x0; x < o.x1; x++) m += px[ry * hdu.width + x];
      m /= o.x1 - o.x0;
      const iy = ry - d.y0;
      const dy = amp.flipY ? amp.detector.y1 - 1 - iy : amp.detector.y0 + iy;
      for (let rx = d.x0; rx < d.x1; rx++) {
        const ix = rx - d.x0;
        const dx = amp.flipX ? amp.detector.x1 - 1 - ix : amp.detector.x0 + ix;
        out[dy * geom.width + dx] = (px[ry * hdu.width + rx] - m) * amp.gainEPerAdu;
      }
    }
  }
  return out;
}

/** Iterated windowed centroid starting from the brightest pixel near (x, y). */
function centroid(img: Float32Array, w: number, h: number, x: number, y: number, radius: number): [number, number] {
  // local background: median of an annulus
  const bgVals: number[] = [];
  for (let yy = Math.round(y) - 3 * radius; yy <= Math.round(y) + 3 * radius; yy++) {
    for (let xx = Math.round(x) - 3 * radius; xx <= Math.round(x) + 3 * radius; xx++) {
      const r = Math.hypot(xx - x, yy - y);
      if (r > 2 * radius && r < 3 * radius && xx >= 0 && yy >= 0 && xx < w && yy < h) bgVals.push(img[yy * w + xx]);
    }
  }
  const bg = median(bgVals);
  let best = -Infinity;
  let cx = Math.round(x);
  let cy = Math.round(y);
  for (let yy = Math.round(y) - 2; yy <= Math.round(y) + 2; yy++) {
    for (let xx = Math.round(x) - 2; xx <= Math.round(x) + 2; xx++) {
      if (img[yy * w + xx] > best) {
        best = img[yy * w + xx];
        cx = xx;
        cy = yy;
      }
    }
  }
  for (let it = 0; it < 10; it++) {
    let s = 0;
    let sx = 0;
    let sy = 0;
    for (let yy = Math.floor(cy - radius); yy <= Math.ceil(cy + radius); yy++) {
      for (let xx = Math.floor(cx - radius); xx <= Math.ceil(cx + radius); xx++) {
        if (Math.hypot(xx - cx, yy - cy) > radius) continue;
        const v = img[yy * w + xx] - bg;
        s += v;
        sx += v * xx;
        sy += v * yy;
      }
    }
    cx = sx / s;
    cy = sy / s;
  }
  return [cx, cy];
}

const GROUP = '2024110800042';
const COMCAM: RawParams = {
  instrument: 'LSSTComCam',
  detector: 4,
  group: GROUP,
  snap: 0,
  filter: 'r_03',
  exposureTimeS: 15,
  raDeg: 53.1,
  decDeg: -28.1,
  rotationDeg: 30,
  seeingFwhmArcsec: 0.8,
  seed: 2024,
  // a bright transient near the detector centre: it saturates and bleeds
  transients: [],
};

let tmp = '';
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'sim-raw-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------- LSSTComCam (ITL)
describe('simulateRaw: LSSTComCam ITL detector', () => {
  const inst = getInstrument('LSSTComCam');
  const geom = inst.detector(4).geometry();
  let raw0: RawPixels;
  let raw1: RawPixels;
  let bytes0: Uint8Array;
  let f0: FitsFile;
  let f1: FitsFile;
  let transientRaDec: [number, number];

  beforeAll(() => {
    // place a mag-12 transient at a known pixel of the detector (found through a first run's WCS)
    const probe = simulateRawPixels({ ...COMCAM, kind: 'BIAS', exposureTimeS: 0 });
    const wcs = probe.truth.wcs;
    const ra = wcs.crvalDeg[0] + (300 * wcs.cd[0][0] + 700 * wcs.cd[0][1]) / Math.cos((wcs.crvalDeg[1] * Math.PI) / 180);
    const dec = wcs.crvalDeg[1] + 300 * wcs.cd[1][0] + 700 * wcs.cd[1][1];
    transientRaDec = [ra, dec];
    const params = { ...COMCAM, transients: [{ raDeg: ra, decDeg: dec, mag: 12, id: 777 }] };
    raw0 = simulateRawPixels(params);
    bytes0 = encodeRaw(raw0);
    raw1 = simulateRawPixels({ ...params, snap: 1 });
    f0 = readFits(bytes0);
    f1 = readFits(encodeRaw(raw1));
  });

  it('writes a data-less primary and 16 RICE_1 int32 segments of 576x2048', () => {
    expect(f0.hdus).toHaveLength(17);
    expect(f0.hdus[0].shape).toEqual([]);
    const names = f0.hdus.slice(1).map((h) => h.name);
    expect(names).toEqual(geom.rawHdus.map((h) => h.name));
    expect(names.slice(0, 3)).toEqual(['Segment10', 'Segment11', 'Segment12']);
    expect(names[15]).toBe('Segment00');
    for (const h of f0.hdus.slice(1)) {
      expect(h.shape).toEqual([576, 2048]);
      expect(h.bitpix).toBe(32);
      expect(h.compression).toMatch(/RICE_1/);
    }
  });

  it('has the exposure cards in the primary header', () => {
    const h = f0.hdus[0].header;
    const expected: Record<string, unknown> = {
      INSTRUME: 'LSSTComCam',
      TELESCOP: 'Simonyi Survey Telescope',
      DETECTOR: 4,
      DETNAME: 'R22_S11',
      CCD_MANU: 'ITL',
      OBSTYPE: 'science',
      IMGTYPE: 'science',
      GROUPID: GROUP,
      EXPID: 2024110800084,
      SNAP: 0,
      NSNAPS: 2,
      FILTER: 'r_03',
      BAND: 'r',
      EXPTIME: 15,
      RA: 53.1,
      DEC: -28.1,
      ROTPA: 30,
      SEEING: 0.8,
      SIMSEED: 2024,
      CTYPE1: 'RA---TAN',
      CTYPE2: 'DEC--TAN',
      RAFTBAY: 'R22',
      CCDSLOT: 'S11',
    };
    for (const [k, v] of Object.entries(expected)) expect(h.get(k), k).toBe(v);
    expect(h.get('DARKTIME')).toBeCloseTo(15 + CAMERA_PROPERTIES.LSSTComCam.darkOverheadS, 9);
    expect(String(h.get('DATE-OBS'))).toMatch(/^2024-11-08T23:28:00\.000$/);
    expect(h.get('MJD-OBS')).toBeCloseTo(60622 + 23 / 24 + 28 / 1440, 8);
    const seg = f0.hdu('Segment00').header;
    for (const k of ['DATASEC', 'BIASSEC', 'DETSEC', 'DETSIZE', 'CCDSEC', 'GAIN', 'RDNOISE', 'SATURATE']) expect(seg.has(k), k).toBe(true);
    expect(seg.get('DATASEC')).toBe('[4:512,1:2000]');
    expect(seg.get('BIASSEC')).toBe('[513:576,1:2000]');
    expect(seg.get('DETSIZE')).toBe('[1:4072,1:4000]');
    // bottom-row amplifiers are read from the right: reversed x range; top row reversed y
    expect(seg.get('DETSEC')).toBe('[4072:3564,1:2000]');
    expect(f0.hdu('Segment10').header.get('DETSEC')).toBe('[1:509,4000:2001]');
  });

  it('overscan holds the bias level (±1 ADU) and the read noise (±10%)', () => {
    geom.amps.forEach((amp, a) => {
      const s = overscanStats(f0, geom, a);
      expect(Math.abs(s.overscanMedian - amp.biasLevelAdu), amp.name).toBeLessThanOrEqual(1);
      const expected = amp.readNoiseE / amp.gainEPerAdu;
      expect(Math.abs(s.overscanRowStd / expected - 1), amp.name).toBeLessThan(0.1);
    });
  });

  it('data minus overscan is the sky (times the flat pattern) over the gain, within 3%', () => {
    const flat = flatFieldPattern('LSSTComCam', 4);
    const sky = raw0.truth.skyElectronsPerPixel;
    const dark = CAMERA_PROPERTIES.LSSTComCam.darkCurrentEPerS * raw0.truth.darkTimeS;
    const img = assemble(f0, geom);
    for (const amp of geom.amps) {
      const d = amp.detector;
      const vals: number[] = [];
      const exp: number[] = [];
      for (let y = d.y0; y < d.y1; y += 3) {
        for (let x = d.x0; x < d.x1; x += 3) {
          vals.push(img[y * geom.width + x] / amp.gainEPerAdu);
          exp.push((sky * flat[y * geom.width + x] + dark) / amp.gainEPerAdu);
        }
      }
      const m = median(vals);
      const e = median(exp);
      expect(Math.abs(m / e - 1), amp.name).toBeLessThan(0.03);
    }
    expect(sky).toBeGreaterThan(350);
    expect(sky).toBeLessThan(500);
  });

  it('the header WCS maps catalog stars to their painted positions, and their image centroids agree within 0.1 px', () => {
    const wcs = tanWcsFromHeader((k) => f0.hdus[0].header.get(k));
    expect(wcs).not.toBeNull();
    if (!wcs) return;
    const s = raw0.truth.sources;
    const p = new Float64Array(2);
    for (let i = 0; i < s.count; i++) {
      skyToPixel(wcs, s.ra[i], s.dec[i], p);
      expect(Math.abs(p[0] - s.x[i])).toBeLessThan(1e-3);
      expect(Math.abs(p[1] - s.y[i])).toBeLessThan(1e-3);
    }
    const img = assemble(f0, geom);
    const W = geom.width;
    const H = geom.height;
    const cr = new Set(raw0.truth.cosmicRays.pixels);
    const measured: Array<{ amp: string; dx: number; dy: number }> = [];
    for (let i = 0; i < s.count; i++) {
      const e = s.electrons[i];
      if (e < 2e4 || e > 3e5 || s.transient[i]) continue;
      const x = s.x[i];
      const y = s.y[i];
      if (x < 30 || y < 30 || x > W - 31 || y > H - 31) continue;
      let isolated = true;
      for (let j = 0; j < s.count && isolated; j++) {
        if (j !== i && Math.hypot(s.x[j] - x, s.y[j] - y) < 40 && s.electrons[j] > 0.003 * e) isolated = false;
      }
      for (let dy = -12; dy <= 12 && isolated; dy++) for (let dx = -12; dx <= 12; dx++) if (cr.has((Math.round(y) + dy) * W + Math.round(x) + dx)) isolated = false;
      if (!isolated) continue;
      const [cx, cy] = centroid(img, W, H, x, y, 8);
      const amp = geom.amps.find((a) => x >= a.detector.x0 && x < a.detector.x1 && y >= a.detector.y0 && y < a.detector.y1);
      measured.push({ amp: amp?.name ?? '?', dx: cx - x, dy: cy - y });
    }
    expect(measured.length).toBeGreaterThanOrEqual(5);
    for (const m of measured) {
      expect(Math.abs(m.dx), JSON.stringify(m)).toBeLessThan(0.1);
      expect(Math.abs(m.dy), JSON.stringify(m)).toBeLessThan(0.1);
    }
    // stars in both amplifier rows (flipY on top, flipX at the bottom)
    expect(new Set(measured.map((m) => m.amp[1])).size).toBe(2);
  });

  it('renders a transient like a star, saturating and bleeding along the column', () => {
    const s = raw0.truth.sources;
    const k = s.ids.indexOf(777);
    expect(k).toBeGreaterThanOrEqual(0);
    expect(s.transient[k]).toBe(1);
    expect(s.mag[k]).toBe(12);
    expect(Math.abs(s.ra[k] - transientRaDec[0])).toBeLessThan(1e-12);
    // saturated pixels around the transient: a trail much longer (y) than wide (x)
    const x0 = Math.round(s.x[k]);
    const y0 = Math.round(s.y[k]);
    const sat = new Set<number>();
    for (const amp of geom.amps) {
      const hdu = geom.rawHdus.find((h) => h.index === amp.hduIndex);
      if (!hdu) continue;
      const px = hduPixels(f0, hdu.name);
      const d = amp.rawData;
      for (let ry = d.y0; ry < d.y1; ry++) {
        for (let rx = d.x0; rx < d.x1; rx++) {
          if (px[ry * hdu.width + rx] < amp.saturationAdu) continue;
          const ix = rx - d.x0;
          const iy = ry - d.y0;
          const dx = amp.flipX ? amp.detector.x1 - 1 - ix : amp.detector.x0 + ix;
          const dy = amp.flipY ? amp.detector.y1 - 1 - iy : amp.detector.y0 + iy;
          if (Math.abs(dx - x0) < 60 && Math.abs(dy - y0) < 400) sat.add(dy * geom.width + dx);
        }
      }
    }
    expect(sat.size).toBeGreaterThan(20);
    const xs = [...sat].map((i) => i % geom.width);
    const ys = [...sat].map((i) => Math.floor(i / geom.width));
    const width = Math.max(...xs) - Math.min(...xs) + 1;
    const height = Math.max(...ys) - Math.min(...ys) + 1;
    expect(height).toBeGreaterThan(3 * width);
  });

  it('snaps share the stars but not the cosmic rays', () => {
    const a = raw0.truth;
    const b = raw1.truth;
    expect(b.sources.count).toBe(a.sources.count);
    expect(Array.from(b.sources.x)).toEqual(Array.from(a.sources.x));
    expect(Array.from(b.sources.electrons)).toEqual(Array.from(a.sources.electrons));
    expect(a.cosmicRays.events).toBeGreaterThan(3);
    expect(b.cosmicRays.events).toBeGreaterThan(3);
    const pa = new Set(a.cosmicRays.pixels);
    const common = Array.from(b.cosmicRays.pixels).filter((p) => pa.has(p)).length;
    expect(common).toBeLessThan(0.05 * b.cosmicRays.pixels.length);
    expect(f1.hdus[0].header.get('SNAP')).toBe(1);
    expect(f1.hdus[0].header.get('EXPID')).toBe(2024110800085);
    // pixel difference: cosmic rays of snap 1 stand out, the stars cancel
    const i0 = assemble(f0, geom);
    const i1 = assemble(f1, geom);
    const W = geom.width;
    let crHits = 0;
    let crBig = 0;
    for (let k = 0; k < b.cosmicRays.pixels.length; k++) {
      if (b.cosmicRays.electrons[k] < 1000) continue;
      const p = b.cosmicRays.pixels[k];
      if (pa.has(p)) continue;
      crBig++;
      if (i1[p] - i0[p] > 500) crHits++;
    }
    expect(crBig).toBeGreaterThan(0);
    expect(crHits / crBig).toBeGreaterThan(0.9);
    const s = a.sources;
    let residual = 0;
    let n = 0;
    for (let i = 0; i < s.count; i++) {
      if (s.electrons[i] < 5e4 || s.electrons[i] > 2e5) continue;
      const x = Math.round(s.x[i]);
      const y = Math.round(s.y[i]);
      if (x < 5 || y < 5 || x >= W - 5 || y >= geom.height - 5) continue;
      const p = y * W + x;
      if (pa.has(p)) continue;
      // difference at the peak relative to the peak's Poisson noise
      residual += (i1[p] - i0[p]) / Math.sqrt(2 * Math.max(i0[p], 1));
      n++;
    }
    expect(n).toBeGreaterThan(3);
    expect(Math.abs(residual / n)).toBeLessThan(3);
  });

  it('is deterministic: the same parameters give the same bytes, another seed does not', () => {
    const params = { ...COMCAM, detector: 1, seed: 'det-test' };
    const a = simulateRaw(params);
    const b = simulateRaw(params);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    const c = simulateRaw({ ...params, seed: 'other' });
    expect(Buffer.from(a).equals(Buffer.from(c))).toBe(false);
    // the same sky: identical truth sources
    expect(simulateRawPixels({ ...params, seed: 'other' }).truth.sources.count).toBe(simulateRawPixels(params).truth.sources.count);
  });

  it('passes fitsverify and funpack, and astropy reads the same pixels', () => {
    const file = join(tmp, 'comcam.fz');
    writeFileSync(file, bytes0);
    if (existsSync('/usr/bin/fitsverify')) {
      const r = spawnSync('/usr/bin/fitsverify', [file], { encoding: 'utf8' });
      const m = /(\d+) error/.exec(r.stdout);
      expect(m, r.stdout).not.toBeNull();
      expect(Number(m?.[1]), r.stdout).toBe(0);
    } else {
      console.log('skipped fitsverify: /usr/bin/fitsverify is not installed');
    }
    if (existsSync('/usr/bin/funpack')) {
      const out = join(tmp, 'comcam.fits');
      execFileSync('/usr/bin/funpack', ['-O', out, file]);
      expect(existsSync(out)).toBe(true);
      const plain = readFits(new Uint8Array(readFileSync(out)));
      expect(plain.hdus).toHaveLength(17);
      const a = plain.hdu('Segment03').pixels();
      const b = f0.hdu('Segment03').pixels();
      expect(a.length).toBe(b.length);
      let diff = 0;
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) diff++;
      expect(diff).toBe(0);
    } else {
      console.log('skipped funpack: /usr/bin/funpack is not installed');
    }
    const py = spawnSync('/usr/bin/python3', ['-c', 'import astropy, numpy'], { encoding: 'utf8' });
    if (py.status !== 0) {
      console.log('skipped astropy comparison: /usr/bin/python3 with astropy is not available');
      return;
    }
    const script = [
      'import sys, json, numpy as np',
      'from astropy.io import fits',
      'out = []',
      'with fits.open(sys.argv[1]) as h:',
      '    for x in h[1:]:',
      '        d = x.data.astype(np.float64)',
      '        out.append([x.name, float(d.min()), float(d.max()), float(d.mean()), float(np.median(d)), list(x.data.shape)])',
      'print(json.dumps(out))',
    ].join('\n');
    const r = spawnSync('/usr/bin/python3', ['-c', script, file], { encoding: 'utf8', maxBuffer: 1 << 24 });
    expect(r.status, r.stderr).toBe(0);
    const stats = JSON.parse(r.stdout) as Array<[string, number, number, number, number, number[]]>;
    expect(stats).toHaveLength(16);
    for (const [name, min, max, mean, med, shape] of stats) {
      const ours = pixelStats(f0.hdu(name).pixels());
      expect(shape).toEqual([2048, 576]);
      expect(ours.min, name).toBe(min);
      expect(ours.max, name).toBe(max);
      expect(Math.abs(ours.mean - mean) / mean, name).toBeLessThan(1e-12);
      expect(ours.median, name).toBe(med);
    }
  });
});

// ---------------------------------------------------------------- e2v and DECam
describe('simulateRaw: LSSTCam e2v and DECam variants', () => {
  it('writes e2v segments with the e2v layout', () => {
    const inst = getInstrument('LSSTCam');
    const det = inst.detector(94); // R22_S11, e2v
    expect(det.ccdType).toBe('E2V');
    const raw = simulateRawPixels({ ...COMCAM, instrument: 'LSSTCam', detector: 94, filter: 'r_57' });
    const f = readFits(encodeRaw(raw));
    expect(f.hdus).toHaveLength(17);
    expect(f.hdus[0].header.get('CCD_MANU')).toBe('E2V');
    expect(f.hdus[0].header.get('DETNAME')).toBe('R22_S11');
    const seg = f.hdu('Segment10');
    expect(seg.shape).toEqual([576, 2048]);
    expect(seg.header.get('DATASEC')).toBe('[11:522,1:2002]');
    expect(seg.header.get('BIASSEC')).toBe('[523:576,1:2002]');
    expect(seg.header.get('DETSIZE')).toBe('[1:4096,1:4004]');
    const geom = det.geometry();
    geom.amps.forEach((amp, a) => {
      const s = overscanStats(f, geom, a);
      expect(Math.abs(s.overscanMedian - amp.biasLevelAdu)).toBeLessThanOrEqual(1);
      expect(Math.abs(s.overscanRowStd / (amp.readNoiseE / amp.gainEPerAdu) - 1)).toBeLessThan(0.1);
    });
  });

  it('writes half-size wavefront sensors (8 segments) and guiders (16 segments)', () => {
    const wf = simulateRawPixels({ ...COMCAM, instrument: 'LSSTCam', detector: 191, filter: 'r_57' });
    expect(getInstrument('LSSTCam').detector(191).purpose).toBe('WAVEFRONT');
    expect(wf.hdus.map((h) => h.name)).toEqual(['Segment10', 'Segment11', 'Segment12', 'Segment13', 'Segment14', 'Segment15', 'Segment16', 'Segment17']);
    expect(wf.hdus[0].header.find((c) => c.key === 'DETSIZE')?.value).toBe('[1:4072,1:2000]');
    const guider = simulateRawPixels({ ...COMCAM, instrument: 'LSSTCam', detector: 189, filter: 'r_57', kind: 'BIAS', exposureTimeS: 0 });
    expect(guider.hdus).toHaveLength(16);
  });

  it('writes DECam CCDs as one HDU with both amplifiers and the A/B cards', () => {
    const inst = getInstrument('DECam');
    const det = inst.detector(25);
    const geom = det.geometry();
    const raw = simulateRawPixels({ ...COMCAM, instrument: 'DECam', detector: 25, filter: 'r', exposureTimeS: 90, snap: 0 });
    const f = readFits(encodeRaw(raw));
    expect(f.hdus).toHaveLength(2);
    const h = f.hdus[1];
    expect(h.name).toBe(det.name);
    expect(h.shape).toEqual([2160, 4146]);
    expect(h.compression).toMatch(/RICE_1/);
    const hdr = h.header;
    const cards: Record<string, string> = {
      DATASEC: '[57:2104,51:4146]',
      DATASECA: '[1081:2104,51:4146]',
      DATASECB: '[57:1080,51:4146]',
      BIASSECA: '[2105:2154,51:4146]',
      BIASSECB: '[7:56,51:4146]',
      DETSECA: '[1025:2048,1:4096]',
      DETSECB: '[1:1024,1:4096]',
    };
    for (const [k, v] of Object.entries(cards)) expect(hdr.get(k), k).toBe(v);
    for (const k of ['GAINA', 'GAINB', 'RDNOISEA', 'RDNOISEB', 'SATURATA', 'SATURATB']) expect(typeof hdr.get(k), k).toBe('number');
    expect(f.hdus[0].header.get('CCD_MANU')).toBe('DECAM');
    expect(f.hdus[0].header.get('CCDNUM')).toBe(25);
    expect(f.hdus[0].header.get('NSNAPS')).toBe(1);
    geom.amps.forEach((amp, a) => {
      const s = overscanStats(f, geom, a);
      expect(Math.abs(s.overscanMedian - amp.biasLevelAdu), amp.name).toBeLessThanOrEqual(1);
      expect(Math.abs(s.overscanRowStd / (amp.readNoiseE / amp.gainEPerAdu) - 1), amp.name).toBeLessThan(0.1);
    });
    const img = assemble(f, geom);
    const flat = flatFieldPattern('DECam', 25);
    const sky = raw.truth.skyElectronsPerPixel;
    for (const amp of geom.amps) {
      const vals: number[] = [];
      const exp: number[] = [];
      for (let y = amp.detector.y0; y < amp.detector.y1; y += 4) {
        for (let x = amp.detector.x0; x < amp.detector.x1; x += 4) {
          vals.push(img[y * geom.width + x]);
          exp.push(sky * flat[y * geom.width + x]);
        }
      }
      expect(Math.abs(median(vals) / median(exp) - 1), amp.name).toBeLessThan(0.03);
    }
    // 90 s on ~19 cm²: tens of cosmic rays
    expect(raw.truth.cosmicRays.events).toBeGreaterThan(30);
    expect(() => simulateRawPixels({ ...COMCAM, instrument: 'DECam', detector: 25, filter: 'r', snap: 1 })).toThrow(InvalidInputError);
  });
});

// ---------------------------------------------------------------- calibration kinds
describe('simulateRaw: BIAS, DARK and FLAT', () => {
  const inst = getInstrument('LATISS');
  const geom = inst.detector(0).geometry();
  const base: RawParams = { instrument: 'LATISS', detector: 0, group: GROUP, filter: 'SDSSr_65mm', raDeg: 10, decDeg: -30, seed: 5 };

  it('BIAS: exposure time 0, data at the bias level, no stars', () => {
    const raw = simulateRawPixels({ ...base, kind: 'BIAS' });
    const f = readFits(encodeRaw(raw));
    expect(f.hdus[0].header.get('IMGTYPE')).toBe('bias');
    expect(f.hdus[0].header.get('OBSTYPE')).toBe('bias');
    expect(f.hdus[0].header.get('EXPTIME')).toBe(0);
    expect(raw.truth.sources.count).toBe(0);
    const img = assemble(f, geom);
    expect(Math.abs(median(every(img, 7)))).toBeLessThan(0.5);
    expect(() => simulateRawPixels({ ...base, kind: 'BIAS', exposureTimeS: 3 })).toThrow(/BIAS/);
  });

  it('DARK: dark current, hot columns and hot pixels, no light', () => {
    const raw = simulateRawPixels({ ...base, kind: 'DARK', exposureTimeS: 600 });
    const f = readFits(encodeRaw(raw));
    expect(f.hdus[0].header.get('IMGTYPE')).toBe('dark');
    const img = assemble(f, geom);
    const W = geom.width;
    const darkE = 0.002 * raw.truth.darkTimeS;
    expect(Math.abs(median(every(img, 7)) - darkE)).toBeLessThan(0.5);
    expect(raw.truth.hotColumns.length).toBeGreaterThanOrEqual(2);
    for (const c of raw.truth.hotColumns) {
      const col: number[] = [];
      const nb: number[] = [];
      for (let y = c.y0; y < c.y1; y++) {
        col.push(img[y * W + c.x]);
        if (c.x + 3 < W) nb.push(img[y * W + c.x + 3]);
      }
      const excess = median(col) - median(nb);
      expect(excess / (c.rateEPerS * raw.truth.darkTimeS)).toBeGreaterThan(0.8);
      expect(excess / (c.rateEPerS * raw.truth.darkTimeS)).toBeLessThan(1.2);
    }
    // the defects are a property of the camera: same places for another seed
    const other = simulateRawPixels({ ...base, kind: 'DARK', seed: 99 });
    expect(other.truth.hotColumns).toEqual(raw.truth.hotColumns);
    expect(Array.from(other.truth.hotPixels)).toEqual(Array.from(raw.truth.hotPixels));
  });

  it('FLAT: ~20000 e- times the flat pattern', () => {
    const raw = simulateRawPixels({ ...base, kind: 'FLAT' });
    const f = readFits(encodeRaw(raw));
    expect(f.hdus[0].header.get('IMGTYPE')).toBe('flat');
    const img = assemble(f, geom);
    const flat = flatFieldPattern('LATISS', 0);
    const W = geom.width;
    for (const amp of geom.amps) {
      const ratio: number[] = [];
      for (let y = amp.detector.y0 + 50; y < amp.detector.y1 - 50; y += 7) {
        for (let x = amp.detector.x0 + 10; x < amp.detector.x1 - 10; x += 7) ratio.push(img[y * W + x] / flat[y * W + x]);
      }
      expect(Math.abs(median(ratio) / 20000 - 1), amp.name).toBeLessThan(0.01);
    }
    // per-amplifier response steps of up to ±1.5%
    const means = geom.amps.map((amp) => flat[((amp.detector.y0 + amp.detector.y1) >> 1) * W + ((amp.detector.x0 + amp.detector.x1) >> 1)]);
    expect(Math.max(...means) - Math.min(...means)).toBeGreaterThan(0.003);
    expect(Math.max(...means) - Math.min(...means)).toBeLessThan(0.04);
  });
});

describe('simulateRaw parameters', () => {
  it('rejects bad parameters with InvalidInputError naming the field', () => {
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ filter: 'r_57' }, /filter 'r_57'/],
      [{ group: '2024130800001' }, /valid date/],
      [{ snap: 2 }, /snap 2/],
      [{ detector: 99 }, /detector 99/],
      [{ decDeg: 91 }, /decDeg/],
      [{ seeingFwhmArcsec: -1 }, /seeingFwhmArcsec/],
      [{ bogus: 1 }, /bogus/],
      [{ dateObs: 'yesterday' }, /dateObs/],
      [{ instrument: 'HSC' }, /instrument/],
    ];
    for (const [patch, re] of bad) {
      const p = { ...COMCAM, ...patch } as RawParams;
      expect(() => simulateRawPixels(p), JSON.stringify(patch)).toThrow(InvalidInputError);
      expect(() => simulateRawPixels(p), JSON.stringify(patch)).toThrow(re);
    }
  });

  it('honours dateObs and the pointing error', () => {
    const raw = simulateRawPixels({ ...COMCAM, kind: 'BIAS', exposureTimeS: 0, dateObs: '2024-11-09T06:34:41.323', pointingErrorArcsec: 5 });
    const dateObs = raw.primaryHeader.find((c) => c.key === 'DATE-OBS');
    expect(dateObs?.value).toBe('2024-11-09T06:34:41.323');
    const t = raw.truth;
    const dRa = (t.headerWcs.crvalDeg[0] - t.wcs.crvalDeg[0]) * Math.cos((t.wcs.crvalDeg[1] * Math.PI) / 180) * 3600;
    const dDec = (t.headerWcs.crvalDeg[1] - t.wcs.crvalDeg[1]) * 3600;
    expect(Math.hypot(dRa, dDec)).toBeCloseTo(5, 2);
  });
});
