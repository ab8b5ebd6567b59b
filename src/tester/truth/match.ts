/**
 * Matching difference-image detections to the injected truth of a detector-visit, and the
 * completeness and false-detection statistics of many.
 *
 * Rules (matchToTruth):
 * - A transient is recovered by a detection of the right sign within `radiusArcsec` (default 1"):
 *   'fade' and 'vanish' need a negative detection, 'new', 'brighten' and 'moving' a positive one.
 *   Pairs are assigned one to one, closest first.
 * - A detection is 'matched' when it recovers a transient; 'wrongSign' when it is unmatched, a
 *   transient of the other sign lies within `radiusArcsec` and none of its own sign does;
 *   'near' when otherwise unmatched but within `nearRadiusArcsec` (default 2") of an injected
 *   source (a duplicate, a displaced centroid); 'false' when farther than that from every
 *   injected source; 'ignored' when its flags hit `ignoreFlags` or |snr| < `minSnr`.
 *   Only 'false' detections count as false; 'wrongSign' and 'near' count neither way.
 * - A detection is negative when `isNegative` is truthy; without `isNegative`, when `snr` < 0;
 *   otherwise positive.
 *
 * Cost: O((n + m) log m) for n detections and m transients (transients sorted by declination,
 * each detection looks at those in its declination window).
 */
import { separationArcsec } from '../../astro/index.ts';
import { InvalidInputError } from '../../core/errors.ts';
import { NEGATIVE_KINDS, TRANSIENT_KINDS, type TransientKind, type VisitTruth } from '../sim/transients.ts';

/** Detections of one detector-visit, as columns. */
export interface DetectionColumns {
  readonly ra: ArrayLike<number>;
  readonly dec: ArrayLike<number>;
  readonly snr?: ArrayLike<number>;
  /** Truthy (1, true) for a negative difference-image source. */
  readonly isNegative?: ArrayLike<number | boolean>;
  readonly flags?: ArrayLike<number>;
  readonly length: number;
}

export interface MatchOptions {
  /** Recovery radius, arcsec (default 1). */
  readonly radiusArcsec?: number;
  /** Detections within this of an injected source are never false, arcsec (default 2). */
  readonly nearRadiusArcsec?: number;
  /** Detections with (flags & ignoreFlags) ≠ 0 are ignored (default 0: none). */
  readonly ignoreFlags?: number;
  /** Detections with |snr| below this are ignored (default 0: none). */
  readonly minSnr?: number;
}

export type DetectionStatus = 'matched' | 'wrongSign' | 'near' | 'false' | 'ignored';

export interface TransientMatch {
  readonly id: string;
  readonly kind: TransientKind;
  readonly expectedSnr: number;
  readonly recovered: boolean;
  /** Index of the recovering detection, −1 when not recovered. */
  readonly detection: number;
  /** Distance to the recovering detection, arcsec; null when not recovered. */
  readonly separationArcsec: number | null;
}

export interface DetectionCounts {
  readonly detections: number;
  readonly matched: number;
  readonly wrongSign: number;
  readonly near: number;
  readonly false: number;
  readonly ignored: number;
}

export interface TruthMatchResult {
  readonly instrument: string;
  readonly group: string;
  readonly detector: number;
  readonly visit: number;
  /** One per truth transient, in the truth's order. */
  readonly transients: readonly TransientMatch[];
  /** One per detection. */
  readonly detectionStatus: readonly DetectionStatus[];
  /** Per detection: the transient it recovers ('matched') or the nearest one within the near radius ('wrongSign', 'near'); −1 otherwise. */
  readonly detectionTransient: Int32Array;
  readonly counts: DetectionCounts;
}

function checkColumn(name: string, col: ArrayLike<unknown> | undefined, n: number): void {
  if (col !== undefined && col.length !== n) throw new InvalidInputError(`detections.${name} has ${col.length} values for ${n} detections`);
}

/** Matches one detector-visit's detections to its truth (see the module comment). */
export function matchToTruth(detections: DetectionColumns, truth: VisitTruth, opts: MatchOptions = {}): TruthMatchResult {
  const radius = opts.radiusArcsec ?? 1;
  const nearRadius = Math.max(radius, opts.nearRadiusArcsec ?? 2);
  if (!(radius > 0) || !Number.isFinite(nearRadius)) throw new InvalidInputError(`match radius ${radius} arcsec must be a positive number`);
  const ignoreFlags = opts.ignoreFlags ?? 0;
  const minSnr = opts.minSnr ?? 0;
  const n = detections.length;
  checkColumn('ra', detections.ra, n);
  checkColumn('dec', detections.dec, n);
  checkColumn('snr', detections.snr, n);
  checkColumn('isNegative', detections.isNegative, n);
  checkColumn('flags', detections.flags, n);

  const tr = truth.transients;
  const m = tr.length;
  // transients by declination
  const order = Array.from({ length: m }, (_, i) => i).sort((a, b) => tr[a].decDeg - tr[b].decDeg);
  const decs = Float64Array.from(order, (i) => tr[i].decDeg);
  const negativeTruth = tr.map((t) => NEGATIVE_KINDS.has(t.kind));
  const nearDeg = nearRadius / 3600;

  const status: DetectionStatus[] = new Array<DetectionStatus>(n);
  const nearest = new Int32Array(n).fill(-1);
  const wrongOnly = new Uint8Array(n);
  const pairs: Array<{ d: number; t: number; sep: number }> = [];
  for (let i = 0; i < n; i++) {
    const ra = detections.ra[i];
    const dec = detections.dec[i];
    const snr = detections.snr?.[i];
    const flags = detections.flags?.[i] ?? 0;
    if ((flags & ignoreFlags) !== 0 || (minSnr > 0 && !(Math.abs(snr ?? Infinity) >= minSnr)) || !Number.isFinite(ra) || !Number.isFinite(dec)) {
      status[i] = 'ignored';
      continue;
    }
    const neg = detections.isNegative !== undefined ? Boolean(detections.isNegative[i]) : snr !== undefined && snr < 0;
    // first transient with dec ≥ dec − near
    let lo = 0;
    let hi = m;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (decs[mid] < dec - nearDeg) lo = mid + 1;
      else hi = mid;
    }
    let best = Infinity;
    let rightSign = false;
    let wrongSign = false;
    for (let k = lo; k < m && decs[k] <= dec + nearDeg; k++) {
      const t = order[k];
      const sep = separationArcsec(ra, dec, tr[t].raDeg, tr[t].decDeg);
      if (sep > nearRadius) continue;
      if (sep < best) {
        best = sep;
        nearest[i] = t;
      }
      if (sep <= radius) {
        if (negativeTruth[t] === neg) {
          rightSign = true;
          pairs.push({ d: i, t, sep });
        } else wrongSign = true;
      }
    }
    status[i] = nearest[i] < 0 ? 'false' : 'near';
    if (wrongSign && !rightSign) wrongOnly[i] = 1;
  }

  // one-to-one, closest pairs first
  pairs.sort((a, b) => a.sep - b.sep || a.t - b.t || a.d - b.d);
  const byTransient = new Int32Array(m).fill(-1);
  const sepOf = new Float64Array(m);
  const detectionTransient = new Int32Array(n).fill(-1);
  for (const p of pairs) {
    if (byTransient[p.t] >= 0 || detectionTransient[p.d] >= 0) continue;
    byTransient[p.t] = p.d;
    sepOf[p.t] = p.sep;
    detectionTransient[p.d] = p.t;
    status[p.d] = 'matched';
  }
  for (let i = 0; i < n; i++) {
    if (status[i] === 'near') {
      if (wrongOnly[i]) status[i] = 'wrongSign';
      detectionTransient[i] = nearest[i];
    }
  }

  const counts = { detections: n, matched: 0, wrongSign: 0, near: 0, false: 0, ignored: 0 };
  for (const s of status) counts[s]++;
  return {
    instrument: truth.instrument,
    group: truth.group,
    detector: truth.detector,
    visit: truth.visit,
    transients: tr.map((t, i) => ({
      id: t.id,
      kind: t.kind,
      expectedSnr: t.expectedSnr,
      recovered: byTransient[i] >= 0,
      detection: byTransient[i],
      separationArcsec: byTransient[i] >= 0 ? sepOf[i] : null,
    })),
    detectionStatus: status,
    detectionTransient,
    counts,
  };
}

// ---------------------------------------------------------------- summaries
export interface CompletenessCount {
  readonly injected: number;
  readonly recovered: number;
  /** recovered / injected; null when nothing was injected. */
  readonly completeness: number | null;
}

export interface SnrBin extends CompletenessCount {
  readonly snrMin: number;
  /** null: no upper bound. */
  readonly snrMax: number | null;
}

export interface TruthSummary extends CompletenessCount {
  readonly detectorVisits: number;
  readonly detections: number;
  readonly falseDetections: number;
  readonly nearDetections: number;
  readonly wrongSignDetections: number;
  readonly ignoredDetections: number;
  /** False detections per detector-visit; null without detector-visits. */
  readonly falsePerDetector: number | null;
  /** Expected-S/N bins [edge_i, edge_i+1), the last one open; together they hold every transient. */
  readonly bySnr: readonly SnrBin[];
  readonly byKind: Readonly<Record<TransientKind, CompletenessCount>>;
  /** Completeness of the transients with expected S/N ≥ 10. */
  readonly completenessAboveSnr10: number | null;
}

/** Lower edges of the default S/N bins: [0,3) [3,5) [5,10) [10,20) [20,50) [50,∞). */
export const DEFAULT_SNR_EDGES: readonly number[] = [0, 3, 5, 10, 20, 50];

function ratio(recovered: number, injected: number): number | null {
  return injected > 0 ? recovered / injected : null;
}

/** Completeness by S/N and kind, and false detections per detector-visit, over many matches. */
export function summarizeTruth(results: readonly TruthMatchResult[], opts: { snrEdges?: readonly number[] } = {}): TruthSummary {
  const edges = [...(opts.snrEdges ?? DEFAULT_SNR_EDGES)];
  for (let i = 1; i < edges.length; i++) if (!(edges[i] > edges[i - 1])) throw new InvalidInputError(`S/N bin edges must increase: ${edges.join(', ')}`);
  if (edges.length === 0 || edges[0] > 0) edges.unshift(0);
  const binInj = new Array<number>(edges.length).fill(0);
  const binRec = new Array<number>(edges.length).fill(0);
  const kindInj = Object.fromEntries(TRANSIENT_KINDS.map((k) => [k, 0])) as Record<TransientKind, number>;
  const kindRec = { ...kindInj };
  let injected = 0;
  let recovered = 0;
  let inj10 = 0;
  let rec10 = 0;
  let detections = 0;
  let falseN = 0;
  let nearN = 0;
  let wrongN = 0;
  let ignoredN = 0;
  for (const r of results) {
    detections += r.counts.detections;
    falseN += r.counts.false;
    nearN += r.counts.near;
    wrongN += r.counts.wrongSign;
    ignoredN += r.counts.ignored;
    for (const t of r.transients) {
      const rec = t.recovered ? 1 : 0;
      injected++;
      recovered += rec;
      kindInj[t.kind]++;
      kindRec[t.kind] += rec;
      let b = 0;
      while (b + 1 < edges.length && t.expectedSnr >= edges[b + 1]) b++;
      binInj[b]++;
      binRec[b] += rec;
      if (t.expectedSnr >= 10) {
        inj10++;
        rec10 += rec;
      }
    }
  }
  const byKind = Object.fromEntries(
    TRANSIENT_KINDS.map((k) => [k, { injected: kindInj[k], recovered: kindRec[k], completeness: ratio(kindRec[k], kindInj[k]) }]),
  ) as Record<TransientKind, CompletenessCount>;
  return {
    injected,
    recovered,
    completeness: ratio(recovered, injected),
    detectorVisits: results.length,
    detections,
    falseDetections: falseN,
    nearDetections: nearN,
    wrongSignDetections: wrongN,
    ignoredDetections: ignoredN,
    falsePerDetector: results.length > 0 ? falseN / results.length : null,
    bySnr: edges.map((e, i) => ({
      snrMin: e,
      snrMax: i + 1 < edges.length ? edges[i + 1] : null,
      injected: binInj[i],
      recovered: binRec[i],
      completeness: ratio(binRec[i], binInj[i]),
    })),
    byKind,
    completenessAboveSnr10: ratio(rec10, inj10),
  };
}
