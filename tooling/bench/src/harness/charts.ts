// Charts of a suite's results: each chart is plain data (series of points) turned into a
// Vega-Lite spec by a pure function, then rendered to SVG headless by Vega (`View.toSVG()`, no
// canvas, no native dependency). Suites build charts with the helpers below and hand them to
// `writeSuiteReport`, which writes the SVG files next to the JSON results.
import type { TopLevelSpec } from 'vega-lite';
import { BenchError } from '../errors.js';
import type { LatencySummary } from './histogram.js';

export interface ChartAxis {
  readonly title: string;
  /** `log` for figures spanning decades (concurrency, value size, key count, latency). */
  readonly scale: 'linear' | 'log';
  /** Base of a log scale: 2 for concurrency and value sizes, 10 otherwise. */
  readonly base?: number;
}

export interface ChartPoint {
  /** One line per series: a system or client path (`distsync`, `etcd-grpc`). */
  readonly series: string;
  /** A number on a quantitative axis, or a category (`p99`) on an ordinal one. */
  readonly x: number | string;
  readonly y: number;
}

export interface Chart {
  /** File-name stem, lower-case letters, digits and dashes: `put-throughput`. */
  readonly id: string;
  readonly title: string;
  /** A second title line: the workload, the unit, what is better. */
  readonly subtitle?: string;
  /** `quantitative`: numeric x; `ordinal`: categories in the order of `categories`. */
  readonly xKind: 'quantitative' | 'ordinal';
  /** The x categories in display order (ordinal charts only). */
  readonly categories?: readonly string[];
  readonly x: ChartAxis;
  readonly y: ChartAxis;
  readonly points: readonly ChartPoint[];
}

const CHART_ID = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

/**
 * Checks a chart before it becomes a spec and returns it: a bad id or a point a log scale
 * cannot show throws BAD_CHART.
 */
export function validateChart(chart: Chart): Chart {
  const fail = (message: string): never => {
    throw new BenchError('BAD_CHART', `chart ${JSON.stringify(chart.id)}: ${message}`);
  };
  if (!CHART_ID.test(chart.id)) fail('id must be lower-case letters, digits and dashes');
  for (const point of chart.points) {
    if (!Number.isFinite(point.y)) fail(`y of ${point.series} at ${String(point.x)} is not finite`);
    if (chart.y.scale === 'log' && point.y <= 0) {
      fail(`y of ${point.series} at ${String(point.x)} is ${point.y}: a log scale needs > 0`);
    }
    if (chart.xKind === 'quantitative') {
      if (typeof point.x !== 'number' || !Number.isFinite(point.x)) {
        fail(`x of ${point.series} must be a finite number (got ${String(point.x)})`);
      }
      if (chart.x.scale === 'log' && (point.x as number) <= 0) {
        fail(`x of ${point.series} is ${String(point.x)}: a log scale needs > 0`);
      }
    } else if (chart.categories !== undefined && !chart.categories.includes(String(point.x))) {
      fail(`x ${String(point.x)} of ${point.series} is not one of the categories`);
    }
  }
  return chart;
}

/** Each system keeps its colour on every chart: ours blue, etcd orange, Redis green. */
export const SERIES_COLORS: Readonly<Record<string, string>> = {
  distsync: '#1f5fa8',
  'distsync-ws': '#6baed6',
  etcd: '#e6550d',
  'etcd-grpc': '#fdae6b',
  redis: '#2ca25f',
};
const OTHER_COLORS = ['#9467bd', '#d62728', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/** The colours of the series, in order: the fixed one when known, the next spare one otherwise. */
export function seriesColors(series: readonly string[]): string[] {
  let spare = 0;
  return series.map(
    (name) => SERIES_COLORS[name] ?? OTHER_COLORS[spare++ % OTHER_COLORS.length] ?? '#7f7f7f',
  );
}

function scaleOf(axis: ChartAxis): Record<string, unknown> {
  return axis.scale === 'log'
    ? { type: 'log', base: axis.base ?? 10 }
    : { type: 'linear', zero: true };
}

/**
 * The Vega-Lite spec of a chart: lines with a point per measurement, one colour per series,
 * ours first in the legend. Pure: the same chart gives the same spec.
 */
export function chartSpec(chart: Chart): TopLevelSpec {
  validateChart(chart);
  const series = [...new Set(chart.points.map((point) => point.series))];
  const ordered = [
    ...series.filter((name) => name.startsWith('distsync')),
    ...series.filter((name) => !name.startsWith('distsync')),
  ];
  const x =
    chart.xKind === 'quantitative'
      ? {
          field: 'x',
          type: 'quantitative' as const,
          title: chart.x.title,
          scale: scaleOf(chart.x),
          axis: { labelFlush: false },
        }
      : {
          field: 'x',
          type: 'ordinal' as const,
          title: chart.x.title,
          sort: [...(chart.categories ?? [...new Set(chart.points.map((p) => String(p.x)))])],
          axis: { labelAngle: 0 },
        };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title:
      chart.subtitle === undefined
        ? { text: chart.title }
        : { text: chart.title, subtitle: chart.subtitle },
    width: 480,
    height: 280,
    background: 'white',
    padding: 8,
    data: { values: chart.points.map((point) => ({ ...point })) },
    mark: { type: 'line', point: { size: 45 }, strokeWidth: 2 },
    encoding: {
      x,
      y: { field: 'y', type: 'quantitative', title: chart.y.title, scale: scaleOf(chart.y) },
      color: {
        field: 'series',
        type: 'nominal',
        title: null,
        scale: { domain: ordered, range: seriesColors(ordered) },
        legend: { orient: 'bottom', direction: 'horizontal' },
      },
    },
    config: { font: 'Helvetica, Arial, sans-serif', view: { stroke: null } },
  };
}

/** Renders one chart to an SVG document (Vega's headless renderer, no canvas). */
export async function renderChartSvg(chart: Chart): Promise<string> {
  const [vega, vegaLite] = await Promise.all([import('vega'), import('vega-lite')]);
  const compiled = vegaLite.compile(chartSpec(chart)).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logLevel: vega.Error });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Every chart rendered to SVG, in order; charts without points are left out. */
export async function renderCharts(
  charts: readonly Chart[],
): Promise<{ chart: Chart; svg: string }[]> {
  const rendered: { chart: Chart; svg: string }[] = [];
  for (const chart of charts) {
    if (chart.points.length === 0) continue;
    rendered.push({ chart, svg: await renderChartSvg(chart) });
  }
  return rendered;
}

/**
 * A linear y axis, or a log one when the figures span more than `spread` times (a peer 50x
 * faster would flatten every other line to the floor of a linear chart).
 */
export function autoScaleAxis(title: string, values: readonly number[], spread = 20): ChartAxis {
  const positive = values.filter((value) => value > 0);
  if (positive.length > 0 && Math.max(...positive) / Math.min(...positive) > spread) {
    return { title: `${title}, log scale`, scale: 'log', base: 10 };
  }
  return { title, scale: 'linear' };
}

// ---- Builders for the charts every suite draws ----------------------------------------------

/** A measured load level, as `runClosedLoop` returns it. */
export interface LevelFigures {
  readonly concurrency: number;
  readonly opsPerSecond: number;
  readonly operations?: number;
}

/** ops/s against closed-loop clients (log 2 x), one line per system; empty levels are left out. */
export function throughputChart(options: {
  id: string;
  title: string;
  subtitle?: string;
  series: Readonly<Record<string, readonly LevelFigures[] | undefined>>;
}): Chart {
  const points = Object.entries(options.series).flatMap(([series, levels]) =>
    (levels ?? [])
      .filter((level) => level.opsPerSecond > 0)
      .map((level) => ({ series, x: level.concurrency, y: level.opsPerSecond })),
  );
  return {
    id: options.id,
    title: options.title,
    ...(options.subtitle === undefined ? {} : { subtitle: options.subtitle }),
    xKind: 'quantitative',
    x: { title: 'concurrent clients', scale: 'log', base: 2 },
    y: autoScaleAxis(
      'ops/s (higher is better)',
      points.map((point) => point.y),
    ),
    points,
  };
}

export const PERCENTILES: readonly {
  readonly label: string;
  readonly pick: (latency: LatencySummary) => number;
}[] = [
  { label: 'p50', pick: (latency) => latency.p50Ms },
  { label: 'p90', pick: (latency) => latency.p90Ms },
  { label: 'p99', pick: (latency) => latency.p99Ms },
  { label: 'p99.9', pick: (latency) => latency.p999Ms },
];

/** p50 / p90 / p99 / p99.9 in ms (log y), one line per system; empty histograms are left out. */
export function latencyPercentileChart(options: {
  id: string;
  title: string;
  subtitle?: string;
  series: Readonly<Record<string, LatencySummary | undefined>>;
}): Chart {
  const points = Object.entries(options.series).flatMap(([series, latency]) =>
    latency === undefined || latency.count === 0
      ? []
      : PERCENTILES.map(({ label, pick }) => ({
          series,
          x: label,
          y: Math.max(pick(latency), 0.001),
        })),
  );
  return {
    id: options.id,
    title: options.title,
    ...(options.subtitle === undefined ? {} : { subtitle: options.subtitle }),
    xKind: 'ordinal',
    categories: PERCENTILES.map(({ label }) => label),
    x: { title: 'percentile', scale: 'linear' },
    y: { title: 'latency ms (lower is better)', scale: 'log' },
    points,
  };
}

/** A figure against a numeric x per system: `{ series: [{ x, y }] }`; non-positive y left out. */
export function seriesChart(options: {
  id: string;
  title: string;
  subtitle?: string;
  x: ChartAxis;
  y: ChartAxis;
  series: Readonly<Record<string, readonly { x: number; y: number | undefined }[] | undefined>>;
}): Chart {
  const points = Object.entries(options.series).flatMap(([series, values]) =>
    (values ?? []).flatMap((value) =>
      value.y === undefined ||
      !Number.isFinite(value.y) ||
      (options.y.scale === 'log' && value.y <= 0)
        ? []
        : [{ series, x: value.x, y: value.y }],
    ),
  );
  return {
    id: options.id,
    title: options.title,
    ...(options.subtitle === undefined ? {} : { subtitle: options.subtitle }),
    xKind: 'quantitative',
    x: options.x,
    y: options.y,
    points,
  };
}

/** RSS per node in MiB against the amount of data held (keys, messages, locks; log 10 x). */
export function memoryChart(options: {
  id: string;
  title: string;
  subtitle?: string;
  /** What the x counts: `keys`, `queued messages`, `held locks`. */
  dataLabel: string;
  series: Readonly<
    Record<string, readonly { size: number; rssMiB: number | undefined }[] | undefined>
  >;
}): Chart {
  return seriesChart({
    id: options.id,
    title: options.title,
    ...(options.subtitle === undefined ? {} : { subtitle: options.subtitle }),
    x: { title: options.dataLabel, scale: 'log', base: 10 },
    y: { title: 'RSS per node, MiB (lower is better)', scale: 'linear' },
    series: Object.fromEntries(
      Object.entries(options.series).map(([series, values]) => [
        series,
        values?.map((value) => ({ x: value.size, y: value.rssMiB })),
      ]),
    ),
  });
}

/** ops/s against value size in bytes (log 2 x), one line per system. */
export function valueSizeChart(options: {
  id: string;
  title: string;
  subtitle?: string;
  series: Readonly<
    Record<string, readonly { valueBytes: number; opsPerSecond: number | undefined }[] | undefined>
  >;
}): Chart {
  const figures = Object.values(options.series).flatMap((values) =>
    (values ?? []).flatMap((value) =>
      value.opsPerSecond === undefined ? [] : [value.opsPerSecond],
    ),
  );
  return seriesChart({
    id: options.id,
    title: options.title,
    ...(options.subtitle === undefined ? {} : { subtitle: options.subtitle }),
    x: { title: 'value size, bytes', scale: 'log', base: 2 },
    y: autoScaleAxis('ops/s (higher is better)', figures),
    series: Object.fromEntries(
      Object.entries(options.series).map(([series, values]) => [
        series,
        values?.map((value) => ({ x: value.valueBytes, y: value.opsPerSecond })),
      ]),
    ),
  });
}
