/**
 * From the difference image to APDB rows: DiaSources measured by the pipeline stage, their rows,
 * forced photometry at the same positions and association with a DiaObject of an earlier visit.
 */
import { describe, expect, it } from 'vitest';
import { pixelToSky } from '../astro/index.ts';
import type { ApdbHistory } from '../apdb/types.ts';
import { runDiaSources } from '../pipeline/stages/dia-sources/index.ts';
import {
  addStar,
  DETECTOR,
  differenceOf,
  fluxForSnr,
  makeScene,
  PSF_SIGMA_MOMENT,
  sceneWcs,
  VISIT,
} from '../pipeline/stages/dia-sources/testing/synthetic-difference.ts';
import { runForcedPhotometry } from '../pipeline/stages/forced-photometry/index.ts';
import { associate, diaSourceRowsFromCatalog } from './index.ts';

const CAL = 31.7;
const T = 60795.3;

describe('DiaSources to APDB rows', () => {
  it('measures, forces and associates one detector-visit consistently', () => {
    const W = 192;
    const H = 160;
    const scene = makeScene(W, H, 31);
    const F = fluxForSnr(30, 12);
    addStar(scene.science, 50.3, 60.6, F); // a new source
    addStar(scene.science, 140.2, 100.9, F); // a known variable
    addStar(scene.template, 140.2, 100.9, 0.4 * F);
    const wcs = sceneWcs(W, H);
    const dia = runDiaSources({
      difference: differenceOf(scene, 4),
      science: scene.science,
      template: scene.template,
      psfSigmaPx: PSF_SIGMA_MOMENT,
      calibNjyPerElectron: CAL,
      wcs,
      visit: VISIT,
      detector: DETECTOR,
    });
    expect(dia.catalog.length).toBe(2);
    const rows = diaSourceRowsFromCatalog(dia.catalog, { visit: BigInt(VISIT), detector: DETECTOR, midpointMjdTai: T, band: 'i', timeProcessedMjdTai: T + 0.0005 });

    // A DiaObject seen before, 0.3" from the variable; and one elsewhere on the detector.
    const known = pixelToSky(wcs, 140.2 + 1.5, 100.9, new Float64Array(2));
    const quiet = pixelToSky(wcs, 90, 30, new Float64Array(2));
    const history: ApdbHistory = {
      diaObjects: [
        { diaObjectId: 5n, validityStartMjdTai: T - 3, validityEndMjdTai: null, ra: known[0], dec: known[1], nDiaSources: 1 },
        { diaObjectId: 6n, validityStartMjdTai: T - 3, validityEndMjdTai: null, ra: quiet[0], dec: quiet[1], nDiaSources: 1 },
      ],
      diaSources: [],
      diaForcedSources: [],
    };
    const positions = [
      ...history.diaObjects.map((o) => ({ id: o.diaObjectId as bigint, ra: o.ra as number, dec: o.dec as number })),
      ...rows.map((r) => ({ id: r.diaSourceId as bigint, ra: r.ra as number, dec: r.dec as number })),
    ];
    const forced = runForcedPhotometry({
      positions,
      wcs,
      difference: differenceOf(scene, 4),
      science: scene.science,
      psfSigmaPx: PSF_SIGMA_MOMENT,
      calibNjyPerElectron: CAL,
      noiseScale: dia.diagnostics.noiseScaleUsed,
    });
    expect(forced.measurements).toHaveLength(4);
    // At a DiaSource's position the forced fluxes are its own (the same fit).
    for (const r of rows) {
      const m = forced.measurements.find((f) => f.id === r.diaSourceId);
      expect(m).toBeDefined();
      expect(m?.psfFlux).toBeCloseTo(r.psfFlux as number, 1);
      expect(m?.psfFluxErr).toBeCloseTo(r.psfFluxErr as number, 1);
      expect(m?.scienceFlux).toBeCloseTo(r.scienceFlux as number, 1);
    }

    const a = associate({
      diaSources: rows,
      history,
      visit: BigInt(VISIT),
      detector: DETECTOR,
      visitMjdTai: T,
      band: 'i',
      timeProcessedMjdTai: T + 0.0005,
      forced: forced.measurements,
    });
    expect(a.stats).toEqual({ matched: 1, created: 1, updated: 1, forced: 3 });
    const variable = a.diaSources.find((s) => s.diaObjectId === 5n);
    expect(variable).toBeDefined();
    const newOne = a.diaSources.find((s) => s.diaObjectId !== 5n);
    expect(newOne?.diaObjectId).toBe(newOne?.diaSourceId);
    expect(a.diaForcedSources.map((f) => f.diaObjectId)).toEqual([5n, 6n, newOne?.diaSourceId]);
    // The quiet object's forced flux is consistent with zero.
    const q = a.diaForcedSources[1];
    expect(Math.abs((q.psfFlux as number) / (q.psfFluxErr as number))).toBeLessThan(4);
    // The variable's new version: its DiaSource's flux (0.6 F on the difference) in band i.
    const o = a.diaObjects.find((x) => x.diaObjectId === 5n);
    expect(o?.i_psfFluxNdata).toBe(1);
    expect(Math.abs((o?.i_psfFluxMean as number) / CAL - 0.6 * F)).toBeLessThan(4 * ((o?.i_psfFluxMeanErr as number) / CAL));
    expect(o?.validityStartMjdTai).toBe(T);
  });
});
