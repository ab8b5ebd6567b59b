/**
 * The last step of a SCIENCE detector-visit: association into the APDB and the alert packets.
 *
 * Before the pixels arrive, `preload` reads the APDB's history inside the padded detector
 * footprint (the DiaObjects, with their DiaSources and DiaForcedSources of the last 12 months):
 * their positions go to the pipeline for forced photometry. After the pipeline, `record` writes
 * the detector-visit in ONE transaction (the APDB reads the history again inside it, so that a
 * DiaObject a neighbouring detector created a moment ago is matched, not duplicated), then
 * publishes one alert per DiaSource on the alerts topic and returns the visit-detector's alert
 * archive (an Avro object container file) for the central repository.
 *
 * A detector-visit already in the APDB writes nothing and sends no alert: a redelivered message
 * cannot double a row or an alert.
 */
import { buildAlertPackets, encodeFramedAlert, writeAlertArchive, type AlertPacket } from '../alerts/index.ts';
import type { Apdb, ApdbHistory, ApdbRegion, ApdbRow } from '../apdb/index.ts';
import { associate, diaSourceRowsFromCatalog, makeAssociationConfig } from '../association/index.ts';
import { getInstrument, type InstrumentName } from '../instruments/index.ts';
import type { NextVisit } from '../messages/next-visit.ts';
import type { Broker } from '../messaging/broker.ts';
import type { Logger } from '../observability/logger.ts';
import { sipWcsFromHeader } from '../pipeline/lib/sip-wcs.ts';
import { cutoutToFitsImage, readDiaCutouts, stampAt, type StampKind } from '../pipeline/stages/dia-sources/index.ts';
import type { ForcedPosition } from '../pipeline/stages/forced-photometry/index.ts';
import type { ProcessResult } from './visit-flow.ts';

export interface AlertStepConfig {
  readonly alertTopic: string;
  readonly associationRadiusArcsec: number;
}

export interface ApdbPreload {
  readonly region: ApdbRegion;
  readonly history: ApdbHistory;
  readonly seconds: number;
}

export type AlertStepResult =
  | {
      readonly status: 'stored';
      readonly diaSources: number;
      readonly diaObjectsCreated: number;
      readonly diaObjectsUpdated: number;
      readonly diaForcedSources: number;
      readonly alerts: number;
      /** The alert archive of the detector-visit (Avro object container file). */
      readonly archive: Uint8Array;
      readonly apdbSeconds: number;
      readonly alertSeconds: number;
      /** Set when the rows were written but the alerts could not all be published. */
      readonly alertFailure?: string;
    }
  | { readonly status: 'already-stored'; readonly reason: string; readonly apdbSeconds: number }
  | { readonly status: 'skipped'; readonly reason: string };

/** MJD of a time in ms since the epoch, on the TAI scale (TAI − UTC = 37 s). */
export function mjdTaiOf(ms: number): number {
  return (ms + 37_000) / 86_400_000 + 40587;
}

const PUBLISH_BATCH = 100;

export class AlertStep {
  constructor(
    private readonly apdb: Apdb,
    private readonly broker: Broker,
    private readonly config: AlertStepConfig,
    private readonly footprint: (visit: NextVisit) => Array<[number, number]>,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** The APDB's history inside the padded footprint, read while the snaps are exposed. */
  async preload(visit: NextVisit): Promise<ApdbPreload> {
    const t0 = performance.now();
    const region: ApdbRegion = { vertices: this.footprint(visit) };
    const history = await this.apdb.history(region, mjdTaiOf(this.now()));
    return { region, history, seconds: (performance.now() - t0) / 1000 };
  }

  /** Forced-photometry positions of the known DiaObjects. */
  static positions(preload: ApdbPreload): ForcedPosition[] {
    return preload.history.diaObjects.map((o) => ({ id: o.diaObjectId as bigint, ra: o.ra as number, dec: o.dec as number }));
  }

  /**
   * Writes the detector-visit to the APDB and publishes its alerts. Throws only when the APDB
   * was not touched (the caller may retry); once the rows are committed, a failure to publish
   * is reported in the result, not thrown.
   */
  async record(visit: NextVisit, result: ProcessResult, preload: ApdbPreload | null): Promise<AlertStepResult> {
    const catalog = result.files['diaSources.fits'];
    if (!catalog) return { status: 'skipped', reason: 'no difference imaging, so no DiaSource to associate' };
    const s = result.summary;
    const midpointMjdTai = typeof s.midpointMjdTai === 'number' ? s.midpointMjdTai : null;
    if (midpointMjdTai === null) return { status: 'skipped', reason: 'the visit has no MJD-OBS: its DiaSources cannot be dated' };
    const visitId = BigInt(s.visit as number);
    const band = String(s.band);
    const timeProcessedMjdTai = mjdTaiOf(this.now());
    const rows = diaSourceRowsFromCatalog(catalog, { visit: visitId, detector: visit.detector, midpointMjdTai, band, timeProcessedMjdTai, exposureTime: Number(s.exposureTimeS) });
    const region = preload?.region ?? { vertices: this.footprint(visit) };
    const assocCfg = makeAssociationConfig({ radiusArcsec: this.config.associationRadiusArcsec });

    const t0 = performance.now();
    const stored = await this.apdb.storeDetectorVisit({ visit: visitId, detector: visit.detector }, region, midpointMjdTai, (history) => {
      const a = associate(
        { diaSources: rows, history, visit: visitId, detector: visit.detector, visitMjdTai: midpointMjdTai, band, timeProcessedMjdTai, forced: result.forced ?? [] },
        assocCfg,
      );
      return { diaSources: a.diaSources, diaObjects: a.diaObjects, diaForcedSources: a.diaForcedSources, processingSummary: processingSummaryRow(visit.instrument, visitId, visit.detector, s) };
    }, preload?.history);
    const apdbSeconds = (performance.now() - t0) / 1000;
    if (!stored.stored) return { status: 'already-stored', reason: stored.reason, apdbSeconds };

    const t1 = performance.now();
    const created = new Set(stored.rows.diaSources.map((r) => r.diaSourceId as bigint));
    const diaObjectsCreated = stored.rows.diaObjects.filter((o) => created.has(o.diaObjectId as bigint)).length;
    let packets: AlertPacket[] = [];
    let archive: Uint8Array = new Uint8Array(0);
    let published = 0;
    let alertFailure: string | undefined;
    try {
      const cutouts = result.files['cutouts.fits'] ? alertCutouts(result.files['cutouts.fits']) : new Map<bigint, Record<StampKind, Uint8Array>>();
      packets = buildAlertPackets({
        diaSources: stored.rows.diaSources,
        history: stored.history,
        diaObjects: stored.rows.diaObjects,
        diaForcedSources: stored.rows.diaForcedSources,
        cutouts: (id) => cutouts.get(id) ?? null,
      });
      archive = writeAlertArchive(packets);
      for (let i = 0; i < packets.length; i += PUBLISH_BATCH) {
        const batch = packets.slice(i, i + PUBLISH_BATCH).map((p) => ({
          data: encodeFramedAlert(p),
          attributes: {
            diaSourceId: String(p.diaSourceId),
            diaObjectId: p.diaSource.diaObjectId === null || p.diaSource.diaObjectId === undefined ? '' : String(p.diaSource.diaObjectId),
            visit: String(visitId),
            detector: String(visit.detector),
            instrument: visit.instrument,
          },
        }));
        await this.broker.publish(this.config.alertTopic, batch);
        published += batch.length;
      }
    } catch (e) {
      alertFailure = `${published} of ${packets.length} alert(s) published: ${e instanceof Error ? e.message : String(e)}`;
      this.log.error({ group: visit.group, detector: visit.detector, reason: alertFailure }, 'the APDB holds the detector-visit but its alerts could not all be sent; a retry would not resend them');
    }
    return {
      status: 'stored',
      diaSources: stored.rows.diaSources.length,
      diaObjectsCreated,
      diaObjectsUpdated: stored.rows.diaObjects.length - diaObjectsCreated,
      diaForcedSources: stored.rows.diaForcedSources.length,
      alerts: published,
      archive,
      apdbSeconds,
      alertSeconds: (performance.now() - t1) / 1000,
      alertFailure,
    };
  }
}

/** The DetectorVisitProcessingSummary row of a detector-visit, from the pipeline's summary. */
function processingSummaryRow(instrument: InstrumentName, visit: bigint, detector: number, s: Readonly<Record<string, number | string | boolean | null>>): ApdbRow {
  const num = (k: string): number | null => (typeof s[k] === 'number' && Number.isFinite(s[k]) ? (s[k] as number) : null);
  const g = getInstrument(instrument).detector(detector).geometry();
  const fwhmArcsec = num('psfFwhmArcsec');
  const fwhmPx = num('psfFwhmPx');
  return {
    visit,
    detector,
    xSize: BigInt(g.width),
    ySize: BigInt(g.height),
    nPsfStar: Math.round(num('psfStars') ?? 0),
    zeroPoint: num('zeroPointMag'),
    psfSigma: fwhmPx === null ? null : fwhmPx / (2 * Math.sqrt(2 * Math.log(2))),
    seeing: fwhmArcsec,
    skyBg: num('backgroundE'),
    skyNoise: num('backgroundRmsE'),
  };
}

/** Science, template and difference cutouts of every DiaSource, each a standalone FITS file with its WCS. */
export function alertCutouts(cutoutsFile: Uint8Array): Map<bigint, Record<StampKind, Uint8Array>> {
  const f = readDiaCutouts(cutoutsFile, 'dia cutouts');
  const wcs = sipWcsFromHeader((k) => f.primaryHeader.get(k));
  const bunit = f.primaryHeader.get('BUNIT');
  const out = new Map<bigint, Record<StampKind, Uint8Array>>();
  for (let k = 0; k < f.stamps.count; k++) {
    const id = f.diaSourceId[k];
    const x0 = f.stamps.x0[k];
    const y0 = f.stamps.y0[k];
    const header = [
      { key: 'DIASRCID', value: String(id), comment: 'diaSourceId' },
      ...(typeof bunit === 'string' ? [{ key: 'BUNIT', value: bunit }] : []),
    ];
    const one = (kind: StampKind): Uint8Array => cutoutToFitsImage(stampAt(f.stamps, k, kind), wcs, x0, y0, { includeVarianceAndMask: true, header });
    out.set(id, { science: one('science'), template: one('template'), difference: one('difference') });
  }
  return out;
}
