import { describe, expect, it } from 'vitest';
import {
  growthCharts,
  growthNotes,
  growthRows,
  natsClusterConfigs,
  parseOptions,
  runGrowthSystem,
  type ClosedLoopResult,
  type GrowthSubject,
  type GrowthSystemResult,
} from '@distsync/bench';

const run = (p99Ms: number, operations = 10, errors = 0): ClosedLoopResult => ({
  concurrency: 4,
  operations,
  errors,
  ...(errors > 0 ? { firstError: 'LIMIT_REACHED' } : {}),
  elapsedMs: 1000,
  opsPerSecond: operations,
  latency: {
    count: operations,
    meanMs: 1,
    p50Ms: p99Ms / 4,
    p90Ms: p99Ms / 2,
    p99Ms,
    p999Ms: p99Ms,
    maxMs: p99Ms,
    clamped: 0,
  },
  stoppedBy: 'duration',
});

const LOCKS = { unit: 'held locks', probes: [{ id: 'cycle', label: 'acquire+release' }] };
const system = { name: 'distsync', description: 'ours', kind: 'lock' };
const plan = (checkpoints: number[], budgetMs = 60_000) => ({
  checkpoints,
  budgetMs,
  batchSize: 100,
  loadConcurrency: 2,
  settleMs: 0,
  unit: 'held locks',
});

/** A system held in memory: counts what it holds, fails loading past `limit`. */
function fakeSubject(limit = Number.POSITIVE_INFINITY) {
  const state = { held: 0, stopped: false, probedAt: [] as number[] };
  const subject: GrowthSubject = {
    pids: () => [process.pid],
    load: ({ from, to }) => {
      if (to > limit) return Promise.reject(new Error('LIMIT_REACHED'));
      state.held += to - from;
      return Promise.resolve();
    },
    probe: (size) => {
      state.probedAt.push(size);
      return Promise.resolve({ cycle: run(size / 100) });
    },
    stop: () => {
      state.stopped = true;
      return Promise.resolve();
    },
  };
  return { state, subject };
}

describe('runGrowthSystem', () => {
  it('loads to each checkpoint, measures RSS and probes there, and stops the system', async () => {
    const { state, subject } = fakeSubject();
    const result = await runGrowthSystem({
      system,
      launch: () => Promise.resolve(subject),
      plan: plan([1000, 10_000]),
      log: () => undefined,
    });
    expect(result.status).toBe('ran');
    expect(result.checkpoints.map((c) => [c.size, c.target, c.reached])).toEqual([
      [1000, 1000, true],
      [10_000, 10_000, true],
    ]);
    expect(result.checkpoints[0]?.rssMiB[0]).toBeGreaterThan(0);
    expect(state).toMatchObject({ held: 10_000, stopped: true, probedAt: [1000, 10_000] });
  });

  it('says where loading stopped and why, measures there, and goes no further', async () => {
    const { state, subject } = fakeSubject(2500);
    const result = await runGrowthSystem({
      system,
      launch: () => Promise.resolve(subject),
      plan: plan([1000, 10_000, 100_000]),
      log: () => undefined,
    });
    expect(result.checkpoints.map((c) => [c.size, c.target, c.reached])).toEqual([
      [1000, 1000, true],
      [state.held, 10_000, false],
    ]);
    expect(state.held).toBeGreaterThanOrEqual(2400);
    expect(result.notes.join('\n')).toMatch(/load stopped by errors .*LIMIT_REACHED/);
    expect(state.stopped).toBe(true);
  });

  it('reports a skip without launching and a failed launch as failed', async () => {
    let launched = false;
    const skipped = await runGrowthSystem({
      system,
      skip: { reason: 'not installed', installCommand: 'apt-get install -y x' },
      launch: () => {
        launched = true;
        return Promise.reject(new Error('unreachable'));
      },
      plan: plan([1000]),
      log: () => undefined,
    });
    expect(skipped.status).toBe('skipped');
    expect(launched).toBe(false);
    const failed = await runGrowthSystem({
      system,
      launch: () => Promise.reject(new Error('port in use')),
      plan: plan([1000]),
      log: () => undefined,
    });
    expect(failed).toMatchObject({ status: 'failed', error: 'port in use' });
  });
});

describe('runGrowthSystem retries', () => {
  it('notes batches that failed once and were retried', async () => {
    const { subject } = fakeSubject();
    let failed = false;
    const flaky: GrowthSubject = {
      ...subject,
      load: (batch) => {
        if (!failed && batch.from === 500) {
          failed = true;
          return Promise.reject(new Error('TIMEOUT'));
        }
        return subject.load(batch);
      },
    };
    const result = await runGrowthSystem({
      system,
      launch: () => Promise.resolve(flaky),
      plan: plan([1000]),
      log: () => undefined,
    });
    expect(result.checkpoints[0]?.reached).toBe(true);
    expect(result.notes).toEqual([
      '1 failed batch attempt(s) retried on the way to 1000 held locks (first: TIMEOUT)',
    ]);
  });
});

describe('growth table, charts and notes for held locks', () => {
  const results: GrowthSystemResult[] = [
    {
      ...system,
      status: 'ran',
      emptyRssMiB: [90, 100, 110],
      checkpoints: [
        {
          size: 1000,
          target: 1000,
          reached: true,
          rssMiB: [100, 110, 120],
          loadPeakRssMiB: [],
          loadPerSecond: 1000,
          probes: { cycle: run(40) },
        },
        // At the lock limit every probe failed: no latency to show, the errors in the notes.
        {
          size: 100_000,
          target: 100_000,
          reached: true,
          rssMiB: [300, 300, 300],
          loadPerSecond: 1000,
          loadPeakRssMiB: [],
          probes: { cycle: run(0, 0, 101) },
        },
      ],
      notes: [],
    },
    {
      name: 'etcd',
      description: 'peer',
      kind: 'lock',
      status: 'ran',
      emptyRssMiB: [30, 30, 30],
      checkpoints: [
        {
          size: 1000,
          target: 1000,
          reached: true,
          rssMiB: [60, 60, 60],
          loadPeakRssMiB: [],
          loadPerSecond: 500,
          probes: { cycle: run(80) },
        },
      ],
      notes: [],
    },
  ];

  it('names rows after the unit and the probe, and leaves a probe with no success empty', () => {
    const rows = growthRows(results, LOCKS);
    const row = (metric: string) => rows.find((r) => r.metric === metric)?.values;
    expect(rows.map((r) => r.metric)).toContain('acquire+release p99 ms at 1k held locks');
    expect(row('RSS per node at 1k held locks, MiB (mean over the nodes)')).toEqual({
      distsync: 110,
      etcd: 60,
    });
    expect(row('acquire+release p50 ms at 1k held locks')).toEqual({ distsync: 10, etcd: 20 });
    expect(row('acquire+release p99 ms at 100k held locks')).toEqual({
      distsync: undefined,
      etcd: undefined,
    });
    expect(row('RSS per node at 100k held locks, MiB (mean over the nodes)')?.distsync).toBe(300);
  });

  it('charts memory and each probe p99 with ids from the probes', () => {
    const charts = growthCharts(results, {
      ...LOCKS,
      subject: 'locks',
      memorySubtitle: 'm',
      probeSubtitle: 'p',
    });
    expect(charts.map((chart) => chart.id)).toEqual(['memory', 'cycle-p99']);
    expect(charts[1]?.points).toEqual([
      { series: 'distsync', x: 1000, y: 40 },
      { series: 'etcd', x: 1000, y: 80 },
    ]);
    expect(growthNotes(results, 'held locks').join('\n')).toMatch(
      /cycle: 101 failed probe operations, 0 succeeded \(first error: LIMIT_REACHED\)/,
    );
  });
});

describe('natsClusterConfigs', () => {
  it('gives each node its ports, its store dir and routes to the others only', () => {
    const configs = natsClusterConfigs({
      rootDir: '/tmp/x',
      nodes: [
        { client: 1001, cluster: 2001 },
        { client: 1002, cluster: 2002 },
        { client: 1003, cluster: 2003 },
      ],
    });
    expect(configs.map((c) => c.name)).toEqual(['nats1', 'nats2', 'nats3']);
    const second = configs[1]!.config;
    expect(second).toContain('listen: "127.0.0.1:1002"');
    expect(second).toContain('listen: "127.0.0.1:2002"');
    expect(second).toContain('store_dir: "/tmp/x/nats2"');
    expect(second).toContain('nats-route://127.0.0.1:2001');
    expect(second).toContain('nats-route://127.0.0.1:2003');
    expect(second).not.toContain('nats-route://127.0.0.1:2002');
    expect(() => natsClusterConfigs({ rootDir: '/tmp/x', nodes: [] })).toThrow(RangeError);
  });
});

describe('--growth-items', () => {
  it('defaults to 100k (10k quick) and is bounded', () => {
    expect(parseOptions(['lock-growth']).growthItems).toBe(100_000);
    expect(parseOptions(['lock-growth', '--quick']).growthItems).toBe(10_000);
    expect(parseOptions(['queue-growth', '--growth-items', '5000']).growthItems).toBe(5000);
    expect(() => parseOptions(['queue-growth', '--growth-items', '2000000'])).toThrow(/limit/);
    expect(() => parseOptions(['queue-growth', '--growth-items', '0'])).toThrow(/positive/);
  });
});
