/**
 * Small static SVG plots for the night report: a histogram, horizontal bars, horizontal box
 * summaries and points with error bars. Each returns one `<svg>` element (styled by the
 * report's CSS classes: plot, axis, grid, bar, box, marker, point, err, note), with `<title>`
 * tooltips and every text escaped. Plots of no data are a short note instead.
 */
import { esc, tickLabel } from './html.ts';

export interface Margins {
  readonly top: number;
  readonly right: number;
  readonly bottom: number;
  readonly left: number;
}

export interface AxisSpec {
  readonly min: number;
  readonly max: number;
  /** Logarithmic (min > 0). */
  readonly log?: boolean;
  readonly label?: string;
}

const px = (v: number): string => (Math.round(v * 10) / 10).toString();

/** 1, 2, 2.5 or 5 × 10^k, the smallest not below `raw`. */
export function niceStep(raw: number): number {
  if (!(raw > 0) || !Number.isFinite(raw)) return 1;
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * p;
}

/** Round-number ticks within [min, max], about `count` of them. */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) return [min];
  const step = niceStep((max - min) / count);
  const out: number[] = [];
  const first = Math.ceil(min / step - 1e-9);
  for (let i = first; i * step <= max + step * 1e-9; i++) out.push(Number((i * step).toPrecision(12)));
  return out;
}

/** Powers of ten within [min, max] (with 2× and 5× when fewer than three decades). */
export function logTicks(min: number, max: number): number[] {
  const out: number[] = [];
  const lo = Math.floor(Math.log10(min));
  const hi = Math.ceil(Math.log10(max));
  const mults = hi - lo < 3 ? [1, 2, 5] : [1];
  for (let k = lo; k <= hi; k++) {
    for (const m of mults) {
      const v = Number((m * 10 ** k).toPrecision(12));
      if (v >= min * (1 - 1e-9) && v <= max * (1 + 1e-9)) out.push(v);
    }
  }
  return out;
}

function scaler(axis: AxisSpec, from: number, to: number): (v: number) => number {
  if (axis.log) {
    const a = Math.log10(axis.min);
    const b = Math.log10(axis.max);
    return (v) => from + ((Math.log10(Math.max(v, axis.min * 1e-6)) - a) / (b - a)) * (to - from);
  }
  const span = axis.max - axis.min || 1;
  return (v) => from + ((v - axis.min) / span) * (to - from);
}

interface Frame {
  readonly width: number;
  readonly height: number;
  readonly m: Margins;
  readonly sx: (v: number) => number;
  readonly sy: (v: number) => number;
}

function open(width: number, height: number, title: string): string {
  return `<svg class="plot" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${esc(title)}"><title>${esc(title)}</title>`;
}

/** Frame, grid, ticks and axis labels of an x–y plot. */
function axes(f: Frame, x: AxisSpec, y: AxisSpec | null, xTicks: number[], yTicks: number[]): string {
  const { m, width, height } = f;
  const x0 = m.left;
  const x1 = width - m.right;
  const y0 = height - m.bottom;
  const y1 = m.top;
  const parts: string[] = [];
  for (const t of xTicks) {
    const X = px(f.sx(t));
    parts.push(`<line class="grid" x1="${X}" y1="${y1}" x2="${X}" y2="${y0}"/>`, `<text class="tick" x="${X}" y="${y0 + 14}" text-anchor="middle">${esc(tickLabel(t))}</text>`);
  }
  for (const t of yTicks) {
    const Y = px(f.sy(t));
    parts.push(`<line class="grid" x1="${x0}" y1="${Y}" x2="${x1}" y2="${Y}"/>`, `<text class="tick" x="${x0 - 5}" y="${Y}" dy="0.32em" text-anchor="end">${esc(tickLabel(t))}</text>`);
  }
  parts.push(`<rect class="axis" x="${x0}" y="${y1}" width="${x1 - x0}" height="${y0 - y1}"/>`);
  if (x.label) parts.push(`<text class="label" x="${px((x0 + x1) / 2)}" y="${height - 6}" text-anchor="middle">${esc(x.label)}</text>`);
  if (y?.label) parts.push(`<text class="label" transform="translate(13 ${px((y0 + y1) / 2)}) rotate(-90)" text-anchor="middle">${esc(y.label)}</text>`);
  return parts.join('');
}

function noData(title: string): string {
  return `<p class="note">${esc(title)}: no data.</p>`;
}

// --- Histogram ------------------------------------------------------------------------------------

export interface Marker {
  readonly x: number;
  readonly label: string;
}

export interface HistogramOptions {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel?: string;
  /** About this many bins (default 30), of a round width. */
  readonly bins?: number;
  /** The x range to cover (default: the data's); data outside it are not drawn. */
  readonly domain?: readonly [number, number];
  /** Vertical lines; those outside the plotted range are named in a note. */
  readonly markers?: readonly Marker[];
  readonly width?: number;
  readonly height?: number;
}

export interface Bin {
  readonly lo: number;
  readonly hi: number;
  readonly count: number;
}

/** Counts of `values` in round-width bins covering `domain` (or the data). */
export function histogramBins(values: readonly number[], domain: readonly [number, number] | undefined, bins: number): Bin[] {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return [];
  let [lo, hi] = domain ?? [Math.min(...finite), Math.max(...finite)];
  if (!(hi > lo)) {
    lo -= 0.5;
    hi += 0.5;
  }
  const step = niceStep((hi - lo) / Math.max(1, bins));
  const start = Math.floor(lo / step + 1e-9) * step;
  const n = Math.max(1, Math.ceil((hi - start) / step - 1e-9));
  const counts = new Array<number>(n).fill(0);
  for (const v of finite) {
    const i = Math.floor((v - start) / step + 1e-9);
    if (i >= 0 && i < n) counts[i]++;
    else if (i === n && v <= hi) counts[n - 1]++;
  }
  return counts.map((count, i) => ({ lo: Number((start + i * step).toPrecision(12)), hi: Number((start + (i + 1) * step).toPrecision(12)), count }));
}

export function svgHistogram(values: readonly number[], opts: HistogramOptions): string {
  const bins = histogramBins(values, opts.domain, opts.bins ?? 30);
  if (bins.length === 0) return noData(opts.title);
  const width = opts.width ?? 640;
  const height = opts.height ?? 260;
  const m: Margins = { top: 12, right: 16, bottom: 40, left: 48 };
  const x: AxisSpec = { min: bins[0].lo, max: bins[bins.length - 1].hi, label: opts.xLabel };
  const top = Math.max(...bins.map((b) => b.count));
  const yTicks = niceTicks(0, Math.max(1, top), 4).filter((t) => Number.isInteger(t));
  const y: AxisSpec = { min: 0, max: Math.max(yTicks[yTicks.length - 1], top), label: opts.yLabel ?? 'count' };
  const f: Frame = { width, height, m, sx: scaler(x, m.left, width - m.right), sy: scaler(y, height - m.bottom, m.top) };
  const parts = [open(width, height, opts.title), axes(f, x, y, niceTicks(x.min, x.max, 8), yTicks)];
  for (const b of bins) {
    if (b.count === 0) continue;
    const X = f.sx(b.lo);
    const W = Math.max(0.5, f.sx(b.hi) - X - 0.5);
    const Y = f.sy(b.count);
    parts.push(`<rect class="bar" x="${px(X)}" y="${px(Y)}" width="${px(W)}" height="${px(f.sy(0) - Y)}"><title>${esc(`[${tickLabel(b.lo)}, ${tickLabel(b.hi)}): ${b.count}`)}</title></rect>`);
  }
  const off: string[] = [];
  for (const mk of opts.markers ?? []) {
    if (mk.x < x.min || mk.x > x.max) {
      off.push(`${mk.label} at ${tickLabel(mk.x)} is off the scale`);
      continue;
    }
    const X = px(f.sx(mk.x));
    parts.push(`<line class="marker" x1="${X}" y1="${m.top}" x2="${X}" y2="${height - m.bottom}"/>`, `<text class="marker-label" x="${X}" y="${m.top + 12}" dx="-4" text-anchor="end">${esc(mk.label)}</text>`);
  }
  if (off.length) parts.push(`<text class="note" x="${width - m.right - 6}" y="${m.top + 14}" text-anchor="end">${esc(off.join('; '))}</text>`);
  parts.push('</svg>');
  return parts.join('');
}

// --- Horizontal bars ------------------------------------------------------------------------------

export interface BarItem {
  readonly label: string;
  readonly value: number;
  /** Extra CSS class of the bar (e.g. to set a total apart). */
  readonly className?: string;
  /** Text after the value (default: the value). */
  readonly text?: string;
}

export interface BarChartOptions {
  readonly title: string;
  readonly xLabel: string;
  readonly width?: number;
}

function labelWidth(labels: readonly string[]): number {
  return Math.min(220, 12 + 7 * Math.max(4, ...labels.map((l) => l.length)));
}

export function svgBarChart(items: readonly BarItem[], opts: BarChartOptions): string {
  const bars = items.filter((b) => Number.isFinite(b.value));
  if (bars.length === 0) return noData(opts.title);
  const width = opts.width ?? 640;
  const row = 22;
  const m: Margins = { top: 8, right: 70, bottom: 40, left: labelWidth(bars.map((b) => b.label)) };
  const height = m.top + m.bottom + row * bars.length;
  const top = Math.max(0, ...bars.map((b) => b.value));
  const ticks = niceTicks(0, top > 0 ? top : 1, 5);
  const x: AxisSpec = { min: 0, max: Math.max(ticks[ticks.length - 1], top), label: opts.xLabel };
  const f: Frame = { width, height, m, sx: scaler(x, m.left, width - m.right), sy: (v) => v };
  const parts = [open(width, height, opts.title), axes(f, x, null, ticks, [])];
  bars.forEach((b, i) => {
    const Y = m.top + i * row;
    const W = Math.max(0, f.sx(Math.max(0, b.value)) - m.left);
    const text = b.text ?? tickLabel(b.value);
    parts.push(
      `<text class="tick" x="${m.left - 6}" y="${Y + row / 2}" dy="0.32em" text-anchor="end">${esc(b.label)}</text>`,
      `<rect class="bar${b.className ? ` ${esc(b.className)}` : ''}" x="${m.left}" y="${Y + 3}" width="${px(W)}" height="${row - 6}"><title>${esc(`${b.label}: ${text}`)}</title></rect>`,
      `<text class="value" x="${px(m.left + W + 4)}" y="${Y + row / 2}" dy="0.32em">${esc(text)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('');
}

// --- Horizontal box summaries ---------------------------------------------------------------------

export interface BoxItem {
  readonly label: string;
  readonly min: number;
  readonly q1: number;
  readonly median: number;
  readonly q3: number;
  readonly max: number;
  readonly n: number;
}

/** Five-number summary of the values (null when there is none). */
export function boxStats(label: string, values: readonly number[]): BoxItem | null {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const q = (p: number): number => {
    const pos = p * (v.length - 1);
    const lo = Math.floor(pos);
    const hi = Math.ceil(pos);
    return v[lo] + (v[hi] - v[lo]) * (pos - lo);
  };
  return { label, min: v[0], q1: q(0.25), median: q(0.5), q3: q(0.75), max: v[v.length - 1], n: v.length };
}

export function svgBoxPlot(items: readonly BoxItem[], opts: BarChartOptions): string {
  if (items.length === 0) return noData(opts.title);
  const width = opts.width ?? 640;
  const row = 22;
  const m: Margins = { top: 8, right: 20, bottom: 40, left: labelWidth(items.map((b) => b.label)) };
  const height = m.top + m.bottom + row * items.length;
  const top = Math.max(...items.map((b) => b.max));
  const ticks = niceTicks(0, top > 0 ? top : 1, 6);
  const x: AxisSpec = { min: 0, max: Math.max(ticks[ticks.length - 1], top), label: opts.xLabel };
  const f: Frame = { width, height, m, sx: scaler(x, m.left, width - m.right), sy: (v) => v };
  const parts = [open(width, height, opts.title), axes(f, x, null, ticks, [])];
  items.forEach((b, i) => {
    const Y = m.top + i * row;
    const mid = Y + row / 2;
    const tip = `${b.label} (${b.n}): min ${tickLabel(b.min)}, quartiles ${tickLabel(b.q1)} / ${tickLabel(b.median)} / ${tickLabel(b.q3)}, max ${tickLabel(b.max)}`;
    parts.push(
      `<text class="tick" x="${m.left - 6}" y="${mid}" dy="0.32em" text-anchor="end">${esc(b.label)}</text>`,
      `<g><title>${esc(tip)}</title>`,
      `<line class="whisker" x1="${px(f.sx(b.min))}" y1="${mid}" x2="${px(f.sx(b.max))}" y2="${mid}"/>`,
      `<rect class="box" x="${px(f.sx(b.q1))}" y="${Y + 4}" width="${px(Math.max(1, f.sx(b.q3) - f.sx(b.q1)))}" height="${row - 8}"/>`,
      `<line class="median" x1="${px(f.sx(b.median))}" y1="${Y + 3}" x2="${px(f.sx(b.median))}" y2="${Y + row - 3}"/>`,
      '</g>',
    );
  });
  parts.push('</svg>');
  return parts.join('');
}

// --- Points with error bars -----------------------------------------------------------------------

export interface ErrorPoint {
  readonly x: number;
  readonly y: number;
  /** Vertical error bar from yLo to yHi. */
  readonly yLo?: number;
  readonly yHi?: number;
  /** Horizontal extent (e.g. the bin), drawn as a thin bar. */
  readonly xLo?: number;
  readonly xHi?: number;
  readonly title?: string;
}

export interface ScatterOptions {
  readonly title: string;
  readonly x: AxisSpec;
  readonly y: AxisSpec;
  readonly width?: number;
  readonly height?: number;
}

export function svgErrorScatter(points: readonly ErrorPoint[], opts: ScatterOptions): string {
  const pts = points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  if (pts.length === 0) return noData(opts.title);
  const width = opts.width ?? 640;
  const height = opts.height ?? 280;
  const m: Margins = { top: 12, right: 16, bottom: 40, left: 52 };
  const { x, y } = opts;
  const f: Frame = { width, height, m, sx: scaler(x, m.left, width - m.right), sy: scaler(y, height - m.bottom, m.top) };
  const cx = (v: number): number => Math.min(width - m.right, Math.max(m.left, f.sx(v)));
  const cy = (v: number): number => Math.min(height - m.bottom, Math.max(m.top, f.sy(v)));
  const xTicks = x.log ? logTicks(x.min, x.max) : niceTicks(x.min, x.max, 8);
  const yTicks = y.log ? logTicks(y.min, y.max) : niceTicks(y.min, y.max, 5);
  const parts = [open(width, height, opts.title), axes(f, x, y, xTicks, yTicks)];
  for (const p of pts) {
    const X = cx(p.x);
    const Y = cy(p.y);
    parts.push('<g>');
    if (p.title) parts.push(`<title>${esc(p.title)}</title>`);
    if (p.xLo !== undefined && p.xHi !== undefined) parts.push(`<line class="xerr" x1="${px(cx(p.xLo))}" y1="${px(Y)}" x2="${px(cx(p.xHi))}" y2="${px(Y)}"/>`);
    if (p.yLo !== undefined && p.yHi !== undefined) {
      const a = px(cy(p.yLo));
      const b = px(cy(p.yHi));
      parts.push(
        `<line class="err" x1="${px(X)}" y1="${a}" x2="${px(X)}" y2="${b}"/>`,
        `<line class="err" x1="${px(X - 4)}" y1="${a}" x2="${px(X + 4)}" y2="${a}"/>`,
        `<line class="err" x1="${px(X - 4)}" y1="${b}" x2="${px(X + 4)}" y2="${b}"/>`,
      );
    }
    parts.push(`<circle class="point" cx="${px(X)}" cy="${px(Y)}" r="4"/></g>`);
  }
  parts.push('</svg>');
  return parts.join('');
}
