import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  autoScaleAxis,
  BenchError,
  chartSpec,
  expandSuites,
  latencyPercentileChart,
  memoryChart,
  parseConcurrency,
  parseOptions,
  renderChartSvg,
  sideBySide,
  throughputChart,
  validateChart,
  valueSizeChart,
  writeSuiteReport,
  type Chart,
  type LatencySummary,
} from '@distsync/bench';

const latency = (p50Ms: number): LatencySummary => ({
  count: 100,
  meanMs: p50Ms,
  p50Ms,
  p90Ms: p50Ms * 2,
  p99Ms: p50Ms * 4,
  p999Ms: p50Ms * 8,
  maxMs: p50Ms * 10,
  clamped: 0,
});

const codeOf = (run: () => unknown): string | undefined => {
  try {
    run();
  } catch (error) {
    return error instanceof BenchError ? error.code : `not a BenchError: ${String(error)}`;
  }
  return undefined;
};

describe('chart specs from results', () => {
  it('draws one point per measured level and system, on a log-2 concurrency axis', () => {
    const chart = throughputChart({
      id: 'put-throughput',
      title: 'put',
      series: {
        etcd: [
          { concurrency: 1, opsPerSecond: 100 },
          { concurrency: 16, opsPerSecond: 900 },
        ],
        distsync: [
          { concurrency: 1, opsPerSecond: 200 },
          { concurrency: 16, opsPerSecond: 0 },
        ],
        redis: undefined,
      },
    });
    // A level with no completed operation is not drawn as a zero.
    expect(chart.points).toEqual([
      { series: 'etcd', x: 1, y: 100 },
      { series: 'etcd', x: 16, y: 900 },
      { series: 'distsync', x: 1, y: 200 },
    ]);
    const spec = chartSpec(chart) as unknown as {
      data: { values: unknown[] };
      encoding: { x: { scale: unknown }; color: { scale: { domain: string[] } } };
    };
    expect(spec.data.values).toHaveLength(3);
    expect(spec.encoding.x.scale).toEqual({ type: 'log', base: 2 });
    // Ours first in the legend, whatever the order of the results.
    expect(spec.encoding.color.scale.domain).toEqual(['distsync', 'etcd']);
  });

  it('puts p50, p90, p99 and p99.9 in that order and skips empty histograms', () => {
    const chart = latencyPercentileChart({
      id: 'get-latency',
      title: 'get',
      series: { distsync: latency(1), etcd: { ...latency(2), count: 0 } },
    });
    expect(chart.points.map((point) => [point.x, point.y])).toEqual([
      ['p50', 1],
      ['p90', 2],
      ['p99', 4],
      ['p99.9', 8],
    ]);
    const spec = chartSpec(chart) as unknown as { encoding: { x: { sort: string[] } } };
    expect(spec.encoding.x.sort).toEqual(['p50', 'p90', 'p99', 'p99.9']);
  });

  it('maps memory against data size and throughput against value size, leaving out unknowns', () => {
    const memory = memoryChart({
      id: 'memory',
      title: 'memory',
      dataLabel: 'keys',
      series: {
        distsync: [
          { size: 10_000, rssMiB: 80 },
          { size: 100_000, rssMiB: undefined },
        ],
      },
    });
    expect(memory.points).toEqual([{ series: 'distsync', x: 10_000, y: 80 }]);
    expect(memory.x).toMatchObject({ scale: 'log', base: 10, title: 'keys' });
    const sizes = valueSizeChart({
      id: 'value-size',
      title: 'sizes',
      series: { etcd: [{ valueBytes: 65_536, opsPerSecond: 50 }] },
    });
    expect(sizes.points).toEqual([{ series: 'etcd', x: 65_536, y: 50 }]);
  });

  it('rejects a bad id and points a log scale cannot show, with BAD_CHART', () => {
    const base: Chart = {
      id: 'ok',
      title: 't',
      xKind: 'quantitative',
      x: { title: 'x', scale: 'log' },
      y: { title: 'y', scale: 'linear' },
      points: [{ series: 's', x: 1, y: 1 }],
    };
    expect(codeOf(() => validateChart(base))).toBeUndefined();
    expect(codeOf(() => validateChart({ ...base, id: 'Bad Id' }))).toBe('BAD_CHART');
    expect(codeOf(() => validateChart({ ...base, points: [{ series: 's', x: 0, y: 1 }] }))).toBe(
      'BAD_CHART',
    );
    expect(codeOf(() => validateChart({ ...base, points: [{ series: 's', x: 'a', y: 1 }] }))).toBe(
      'BAD_CHART',
    );
    expect(
      codeOf(() => validateChart({ ...base, points: [{ series: 's', x: 1, y: Number.NaN }] })),
    ).toBe('BAD_CHART');
    expect(
      codeOf(() =>
        validateChart({
          ...base,
          y: { title: 'y', scale: 'log' },
          points: [{ series: 's', x: 1, y: 0 }],
        }),
      ),
    ).toBe('BAD_CHART');
    expect(
      codeOf(() =>
        validateChart({
          ...base,
          xKind: 'ordinal',
          categories: ['p50'],
          points: [{ series: 's', x: 'p75', y: 1 }],
        }),
      ),
    ).toBe('BAD_CHART');
  });

  it('renders an SVG headless with the series names in it', async () => {
    const svg = await renderChartSvg(
      throughputChart({
        id: 't',
        title: 'throughput',
        series: {
          distsync: [
            { concurrency: 1, opsPerSecond: 10 },
            { concurrency: 4, opsPerSecond: 30 },
          ],
          etcd: [{ concurrency: 1, opsPerSecond: 20 }],
        },
      }),
    );
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('distsync');
    expect(svg).toContain('etcd');
    expect(svg).toContain('throughput');
  });
});

describe('autoScaleAxis', () => {
  it('turns log when the figures span more than the spread, linear otherwise', () => {
    expect(autoScaleAxis('ops/s', [100, 2500])).toEqual({
      title: 'ops/s, log scale',
      scale: 'log',
      base: 10,
    });
    expect(autoScaleAxis('ops/s', [100, 1500])).toEqual({ title: 'ops/s', scale: 'linear' });
    expect(autoScaleAxis('ops/s', [])).toEqual({ title: 'ops/s', scale: 'linear' });
    const chart = throughputChart({
      id: 't',
      title: 't',
      series: {
        distsync: [{ concurrency: 1, opsPerSecond: 10 }],
        redis: [{ concurrency: 1, opsPerSecond: 900 }],
      },
    });
    expect(chart.y.scale).toBe('log');
  });
});

describe('sideBySide', () => {
  it('pairs each of ours with each peer of the same kind only', () => {
    expect(
      sideBySide([
        { name: 'distsync', kind: 'http' },
        { name: 'etcd', kind: 'http' },
        { name: 'distsync-ws', kind: 'native' },
        { name: 'etcd-grpc', kind: 'native' },
        { name: 'redis', kind: 'native' },
      ]),
    ).toEqual({
      ours: ['distsync', 'distsync-ws'],
      peers: ['etcd', 'etcd-grpc', 'redis'],
      pairs: [
        { our: 'distsync', peer: 'etcd' },
        { our: 'distsync-ws', peer: 'etcd-grpc' },
        { our: 'distsync-ws', peer: 'redis' },
      ],
    });
  });
});

describe('writeSuiteReport', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('writes JSON, markdown and one SVG per chart with points, and stable copies to publish', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-report-'));
    dirs.push(dir);
    const output = await writeSuiteReport({
      dir: join(dir, 'results'),
      publishDir: join(dir, 'docs'),
      report: {
        suite: 'demo',
        startedAt: new Date('2026-12-02T08:00:00.000Z'),
        markdown: '## demo\n\n| a |',
        results: { suite: 'demo', figure: 1 },
        charts: [
          throughputChart({
            id: 'throughput',
            title: 'demo throughput',
            series: { distsync: [{ concurrency: 1, opsPerSecond: 5 }] },
          }),
          throughputChart({ id: 'empty', title: 'nothing measured', series: {} }),
        ],
      },
    });
    expect(readdirSync(join(dir, 'results')).sort()).toEqual([
      'demo-2026-12-02T08-00-00Z-throughput.svg',
      'demo-2026-12-02T08-00-00Z.json',
      'demo-2026-12-02T08-00-00Z.md',
    ]);
    const json = JSON.parse(readFileSync(output.resultsPath, 'utf8')) as {
      figure: number;
      charts: Chart[];
    };
    expect(json.figure).toBe(1);
    expect(json.charts.map((chart) => chart.id)).toEqual(['throughput', 'empty']);
    expect(readFileSync(join(dir, 'results', 'demo-2026-12-02T08-00-00Z.md'), 'utf8')).toContain(
      '![demo throughput](demo-2026-12-02T08-00-00Z-throughput.svg)',
    );
    expect(readdirSync(join(dir, 'docs')).sort()).toEqual([
      'demo-throughput.svg',
      'demo.json',
      'demo.md',
    ]);
    expect(readFileSync(join(dir, 'docs', 'demo.md'), 'utf8')).toContain(
      '![demo throughput](demo-throughput.svg)',
    );
  });
});

describe('option parsing', () => {
  it('expands all to every registered suite and rejects unknown names with UNKNOWN_SUITE', () => {
    const known = ['kv', 'kv-growth', 'locks'];
    expect(expandSuites(['all'], known)).toEqual(known);
    expect(expandSuites(['kv-growth', 'kv', 'kv'], known)).toEqual(['kv-growth', 'kv']);
    expect(codeOf(() => expandSuites(['kv', 'cash'], known))).toBe('UNKNOWN_SUITE');
    expect(() => expandSuites(['all', 'cash'], known)).toThrow(
      /cash.*known: kv, kv-growth, locks, all/,
    );
  });

  it('expands a concurrency range to powers of two and keeps a list as given', () => {
    expect(parseConcurrency('1..256')).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256]);
    expect(parseConcurrency('3..20')).toEqual([3, 6, 12, 20]);
    expect(parseConcurrency('1, 16,16')).toEqual([1, 16]);
    expect(parseConcurrency(undefined)).toEqual([1, 4, 16, 64, 256]);
  });

  it('rejects bad levels, sizes and key counts with BAD_OPTION naming the flag', () => {
    const rejected = (args: string[], flag: RegExp): void => {
      expect(codeOf(() => parseOptions(['kv', ...args]))).toBe('BAD_OPTION');
      expect(() => parseOptions(['kv', ...args])).toThrow(flag);
    };
    rejected(['--concurrency', '256..1'], /--concurrency/);
    rejected(['--concurrency', '1..x'], /--concurrency/);
    rejected(['--concurrency', '5000'], /--concurrency/);
    rejected(['--concurrency', ','], /--concurrency/);
    rejected(['--value-sizes', '0'], /--value-sizes/);
    rejected(['--value-sizes', '100,2000000'], /--value-sizes/);
    rejected(['--value-sizes', ''], /--value-sizes/);
    rejected(['--keys', '-5'], /--keys/);
    rejected(['--keys', '20000000'], /--keys/);
    rejected(['--growth-budget-ms', '1.5'], /--growth-budget-ms/);
    // node's own parse errors become BAD_OPTION too.
    rejected(['--no-such-flag'], /no-such-flag/);
    rejected(['--keys'], /--keys/);
  });

  it('takes the new defaults, quick sizes and publish settings', () => {
    expect(parseOptions(['all'])).toMatchObject({
      suites: ['all'],
      valueSizes: [100, 1024, 4096, 16_384, 65_536],
      keys: 1_000_000,
      growthBudgetMs: 180_000,
      publish: false,
    });
    expect(parseOptions(['kv-growth', '--quick'])).toMatchObject({
      keys: 20_000,
      valueSizes: [100, 4096, 65_536],
    });
    expect(parseOptions(['kv', '--publish-dir', '/tmp/x'])).toMatchObject({
      publish: true,
      publishDir: '/tmp/x',
    });
  });
});
