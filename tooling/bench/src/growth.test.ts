import { describe, expect, it } from 'vitest';
import {
  growthCheckpoints,
  growthRows,
  KV_GROWTH_PROBES,
  kvGrowthCharts,
  loadKeys,
  type GrowthSystemResult,
  type LatencySummary,
} from '@distsync/bench';

const latency = (p99Ms: number): LatencySummary => ({
  count: 10,
  meanMs: 1,
  p50Ms: 1,
  p90Ms: 2,
  p99Ms,
  p999Ms: p99Ms * 2,
  maxMs: p99Ms * 3,
  clamped: 0,
});
const run = (p99Ms: number) => ({
  concurrency: 16,
  operations: 10,
  errors: 0,
  elapsedMs: 1000,
  opsPerSecond: 10,
  latency: latency(p99Ms),
  stoppedBy: 'duration' as const,
});

describe('growthCheckpoints', () => {
  it('puts the decades below the target, then the target', () => {
    expect(growthCheckpoints(1_000_000)).toEqual([10_000, 100_000, 1_000_000]);
    expect(growthCheckpoints(250_000)).toEqual([10_000, 100_000, 250_000]);
    expect(growthCheckpoints(5000)).toEqual([5000]);
    expect(growthCheckpoints(10_000)).toEqual([10_000]);
    expect(growthCheckpoints(100_000, { first: 1000 })).toEqual([1000, 10_000, 100_000]);
  });

  it('rejects a count that is not a positive integer', () => {
    expect(() => growthCheckpoints(0)).toThrow(RangeError);
    expect(() => growthCheckpoints(1.5)).toThrow(RangeError);
    expect(() => growthCheckpoints(100, { first: 500 })).toThrow(/power of ten/);
  });
});

describe('loadKeys', () => {
  it('writes every key of [from, to) exactly once, in batches that never cross to', async () => {
    const written: number[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const result = await loadKeys({
      from: 5,
      to: 1003,
      batchSize: 100,
      concurrency: 3,
      deadlineMs: Number.POSITIVE_INFINITY,
      putBatch: async ({ from, to }) => {
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        expect(to - from).toBeLessThanOrEqual(100);
        expect(to).toBeLessThanOrEqual(1003);
        await Promise.resolve();
        for (let key = from; key < to; key += 1) written.push(key);
        inFlight -= 1;
      },
    });
    expect(result).toMatchObject({ written: 998, next: 1003, stoppedBy: 'done', batches: 10 });
    expect(written.sort((a, b) => a - b)).toEqual(Array.from({ length: 998 }, (_, i) => i + 5));
    expect(maxInFlight).toBe(3);
  });

  it('starts no batch after the deadline and says where the next call resumes', async () => {
    let clock = 0;
    const result = await loadKeys({
      from: 0,
      to: 10_000,
      batchSize: 10,
      concurrency: 2,
      deadlineMs: 50,
      now: () => clock,
      putBatch: async () => {
        clock += 10;
        await Promise.resolve();
      },
    });
    expect(result.stoppedBy).toBe('deadline');
    expect(result.written).toBe(result.next);
    expect(result.next).toBeGreaterThan(0);
    expect(result.next).toBeLessThan(100);
  });

  it('retries a failing batch, then stops with errors without counting its keys', async () => {
    let calls = 0;
    const flaky = await loadKeys({
      from: 0,
      to: 20,
      batchSize: 10,
      concurrency: 1,
      deadlineMs: Number.POSITIVE_INFINITY,
      putBatch: ({ from }) => {
        calls += 1;
        return from === 0 && calls === 1 ? Promise.reject(new Error('busy')) : Promise.resolve();
      },
    });
    expect(flaky).toMatchObject({ written: 20, stoppedBy: 'done', failedAttempts: 1 });
    const broken = await loadKeys({
      from: 0,
      to: 50,
      batchSize: 10,
      concurrency: 1,
      maxAttempts: 2,
      deadlineMs: Number.POSITIVE_INFINITY,
      putBatch: ({ from }) =>
        from === 20 ? Promise.reject(new Error('LIMIT_REACHED')) : Promise.resolve(),
    });
    expect(broken).toMatchObject({
      written: 20,
      next: 30,
      stoppedBy: 'errors',
      failedAttempts: 2,
      firstError: 'LIMIT_REACHED',
    });
  });

  it('rejects a bad range, batch size or concurrency', async () => {
    const base = {
      from: 0,
      to: 10,
      batchSize: 1,
      concurrency: 1,
      deadlineMs: 1,
      putBatch: () => Promise.resolve(),
    };
    await expect(loadKeys({ ...base, from: 11 })).rejects.toThrow(RangeError);
    await expect(loadKeys({ ...base, batchSize: 0 })).rejects.toThrow(/batchSize/);
    await expect(loadKeys({ ...base, concurrency: 0 })).rejects.toThrow(/concurrency/);
  });
});

describe('growth table and charts', () => {
  const results: GrowthSystemResult[] = [
    {
      name: 'distsync',
      description: 'ours',
      kind: 'http',
      status: 'ran',
      emptyRssMiB: [80, 90, 100],
      checkpoints: [
        {
          size: 10_000,
          target: 10_000,
          reached: true,
          rssMiB: [100, 110, 120],
          loadPeakRssMiB: [],
          loadPerSecond: 1,
          probes: { put: run(5), get: run(2) },
        },
        // The budget ran out before 100k: a partial checkpoint is charted, not tabled.
        {
          size: 40_000,
          target: 100_000,
          reached: false,
          rssMiB: [200, 200, 200],
          loadPeakRssMiB: [],
          loadPerSecond: 1,
          probes: { put: run(7), get: run(3) },
        },
      ],
      notes: [],
    },
    {
      name: 'etcd',
      description: 'peer',
      kind: 'http',
      status: 'ran',
      emptyRssMiB: [30, 30, 30],
      checkpoints: [
        {
          size: 10_000,
          target: 10_000,
          reached: true,
          rssMiB: [50, 50, 50],
          loadPeakRssMiB: [],
          loadPerSecond: 1,
          probes: { put: run(10), get: run(4) },
        },
      ],
      notes: [],
    },
  ];

  it('tables reached checkpoints only, as means over the nodes', () => {
    const rows = growthRows(results, { unit: 'keys', probes: KV_GROWTH_PROBES });
    const row = (metric: string) => rows.find((r) => r.metric === metric)?.values;
    expect(row('RSS per node empty, MiB (mean over the nodes)')).toEqual({
      distsync: 90,
      etcd: 30,
    });
    expect(row('RSS per node at 10k keys, MiB (mean over the nodes)')).toEqual({
      distsync: 110,
      etcd: 50,
    });
    expect(row('put p99 ms at 10k keys')).toEqual({ distsync: 5, etcd: 10 });
    expect(row('RSS per node at 100k keys, MiB (mean over the nodes)')).toEqual({
      distsync: undefined,
      etcd: undefined,
    });
  });

  it('charts memory and p99 at every measured key count', () => {
    const [memory, put] = kvGrowthCharts(results);
    expect(memory?.points).toEqual([
      { series: 'distsync', x: 10_000, y: 110 },
      { series: 'distsync', x: 40_000, y: 200 },
      { series: 'etcd', x: 10_000, y: 50 },
    ]);
    expect(put?.points.map((point) => point.y)).toEqual([5, 7, 10]);
  });
});
