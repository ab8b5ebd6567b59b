import { describe, expect, it } from 'vitest';
import { masterBiasImage, masterDarkImage, masterFlatImage } from '../../../tester/central/masters.ts';
import { simulateRawPixels } from '../../../tester/sim/raw.ts';
import { runIsr } from '../../isr.ts';
import { rawFile } from '../../testing/sim-raws.ts';
import { readRawExposure } from '../raw-input/raw-input.ts';
import { findMetric, makeVerifyCalibrationConfig, runVerifyCalibration } from './verify-calibration.ts';

const INSTRUMENT = 'LSSTComCam';
/** R22_S00: a corner detector, where vignetting and amplifier steps make the flat structure largest. */
const DETECTOR = 0;
const FILTER = 'r_03';
const GROUP = '2025050100301';

describe('verify-calibration end to end', () => {
  it('a simulated LSSTComCam FLAT, ISR with the simulator’s bias and dark, verifies against its master flat', () => {
    const sim = simulateRawPixels({ instrument: INSTRUMENT, detector: DETECTOR, group: GROUP, snap: 0, kind: 'FLAT', filter: FILTER, raDeg: 0, decDeg: 0, seed: 17 });
    const raw = readRawExposure(rawFile(sim, false), { instrument: INSTRUMENT, detector: DETECTOR, group: GROUP, filter: FILTER });
    const isr = runIsr({ raw, masters: { bias: masterBiasImage(INSTRUMENT, DETECTOR), dark: masterDarkImage(INSTRUMENT, DETECTOR) } });
    expect(isr.biasApplied && isr.darkApplied && !isr.flatApplied).toBe(true);
    const input = {
      kind: 'FLAT' as const,
      exposure: isr.exposure,
      exposureTimeS: raw.exposureTimeS,
      darkTimeS: raw.darkTimeS,
      snaps: 1,
      amps: raw.amps.map((a) => ({ name: a.amp.name, detector: a.amp.detector, readNoiseE: a.readNoiseE })),
    };
    const cfg = makeVerifyCalibrationConfig();
    const r = runVerifyCalibration({ ...input, master: masterFlatImage(INSTRUMENT, DETECTOR) }, cfg);
    const v = (name: string) => findMetric(r, name)?.value as number;
    console.log(
      `ComCam FLAT vs master flat: ${r.status}; uniformity ${(100 * v('uniformity')).toFixed(3)}%, noise ratio ${v('noiseRatio').toFixed(3)}, ` +
        `worst amp ${(100 * v('segmentRatioMaxDeviation')).toFixed(3)}%, own structure ${(100 * v('exposureStructure')).toFixed(2)}%`,
    );
    expect(r.failed).toEqual([]);
    expect(r.status).toBe('pass');
    expect(r.segmentSource).toBe('amp');
    expect(r.segments).toHaveLength(16);
    expect(v('uniformity')).toBeLessThan(0.002);
    expect(Math.abs(v('noiseRatio') - 1)).toBeLessThan(0.05);
    // The level: the simulated 20,000 e- through a flat of mean ~1.
    expect(v('exposureMedian')).toBeGreaterThan(18000);
    expect(v('exposureMedian')).toBeLessThan(21000);

    // The same flat against a flat of ones: the vignetting and amplifier steps are left over.
    const ones = { width: raw.geometry.width, height: raw.geometry.height, image: new Float32Array(raw.geometry.width * raw.geometry.height).fill(1) };
    const bad = runVerifyCalibration({ ...input, master: ones }, cfg);
    expect(bad.status).toBe('fail');
    expect(bad.failed).toContain('uniformity');
  });
});
