import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  cleanupAll,
  formatRatio,
  formatValue,
  LatencyHistogram,
  makeTempDir,
  markdownTable,
  median,
  parseOptions,
  processRssKiB,
  processTree,
  runClosedLoop,
  runningProcessCount,
  startProcess,
  timeToFirstSuccess,
} from '@distsync/bench';

describe('LatencyHistogram', () => {
  it('reports percentiles of a uniform 1..10000 us distribution within 0.1 %', () => {
    const histogram = new LatencyHistogram();
    for (let us = 1; us <= 10_000; us += 1) histogram.recordMs(us / 1000);
    const summary = histogram.summary();
    expect(summary.count).toBe(10_000);
    expect(summary.p50Ms).toBeCloseTo(5, 2);
    expect(Math.abs(summary.p99Ms - 9.9) / 9.9).toBeLessThan(0.001);
    expect(Math.abs(summary.maxMs - 10) / 10).toBeLessThan(0.001);
    expect(summary.meanMs).toBeCloseTo(5, 2);
  });

  it('clamps samples beyond its range and counts them instead of throwing', () => {
    const histogram = new LatencyHistogram();
    histogram.recordMs(1e9);
    expect(histogram.summary().clamped).toBe(1);
    expect(histogram.summary().maxMs).toBeCloseTo(120_000, -2);
  });

  it('rejects negative and non-finite latencies, and reports zeros when empty', () => {
    const histogram = new LatencyHistogram();
    expect(() => {
      histogram.recordMs(-1);
    }).toThrow(/latencyMs/);
    expect(() => {
      histogram.recordMs(Number.NaN);
    }).toThrow(/latencyMs/);
    expect(histogram.summary()).toMatchObject({ count: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 });
  });
});

describe('report formatting', () => {
  it('says whether ours is better for higher-is-better and lower-is-better figures', () => {
    expect(formatRatio({ ours: 200, peer: 100, better: 'higher' })).toBe('2.00x (better)');
    expect(formatRatio({ ours: 200, peer: 100, better: 'lower' })).toBe('2.00x (worse)');
    expect(formatRatio({ ours: 5, peer: 100, better: 'lower' })).toBe('0.050x (better)');
    expect(formatRatio({ ours: 1500, peer: 100, better: 'higher' })).toBe('15x (better)');
    expect(formatRatio({ ours: 3, peer: 3, better: 'higher' })).toBe('1.00x');
  });

  it('leaves the ratio empty when a side is missing or the peer figure is zero', () => {
    expect(formatRatio({ ours: undefined, peer: 1, better: 'higher' })).toBe('-');
    expect(formatRatio({ ours: 1, peer: undefined, better: 'higher' })).toBe('-');
    expect(formatRatio({ ours: 1, peer: 0, better: 'lower' })).toBe('-');
  });

  it('formats figures to about three significant digits, ops/s as grouped integers', () => {
    expect(formatValue(12_345.6, 'ops/s')).toBe('12,346');
    expect(formatValue(0.8213, 'ms')).toBe('0.821');
    expect(formatValue(27.94, 'MiB')).toBe('27.9');
    expect(formatValue(431.1, 'ms')).toBe('431');
    expect(formatValue(undefined, 'ms')).toBe('-');
  });

  it('puts each system and each ratio in its own column of a markdown table', () => {
    const table = markdownTable({
      rows: [
        { metric: 'put ops/s', unit: 'ops/s', better: 'higher', values: { ours: 300, etcd: 100 } },
      ],
      ours: ['ours'],
      peers: ['etcd'],
    });
    expect(table.split('\n')).toEqual([
      '| metric | ours | etcd | ours / etcd |',
      '| --- | ---: | ---: | ---: |',
      '| put ops/s | 300 | 100 | 3.00x (better) |',
    ]);
  });

  it('gives every pair of our client paths and peers a ratio column', () => {
    const table = markdownTable({
      rows: [
        { metric: 'p99 ms', unit: 'ms', better: 'lower', values: { rest: 2, ws: 1, etcd: 4 } },
      ],
      ours: ['rest', 'ws'],
      peers: ['etcd'],
    });
    expect(table.split('\n')[0]).toBe('| metric | rest | ws | etcd | rest / etcd | ws / etcd |');
    expect(table.split('\n')[2]).toBe(
      '| p99 ms | 2.00 | 1.00 | 4.00 | 0.500x (better) | 0.250x (better) |',
    );
  });

  it('shows only the ratio columns it is given when pairs are named', () => {
    const table = markdownTable({
      rows: [
        { metric: 'ops/s', unit: 'ops/s', better: 'higher', values: { a: 2, b: 4, c: 1, d: 2 } },
      ],
      ours: ['a', 'b'],
      peers: ['c', 'd'],
      pairs: [
        { our: 'a', peer: 'c' },
        { our: 'b', peer: 'd' },
      ],
    });
    expect(table.split('\n')[0]).toBe('| metric | a | b | c | d | a / c | b / d |');
    expect(table.split('\n')[2]).toBe(
      '| ops/s | 2 | 4 | 1 | 2 | 2.00x (better) | 2.00x (better) |',
    );
  });

  it('takes the median of odd and even lists', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeUndefined();
  });
});

describe('runClosedLoop', () => {
  it('stops at the operation count when that comes before the duration', async () => {
    const result = await runClosedLoop({
      label: 'test',
      concurrency: 4,
      durationMs: 60_000,
      maxOperations: 100,
      operation: () => Promise.resolve(),
    });
    expect(result).toMatchObject({ operations: 100, errors: 0, stoppedBy: 'count' });
    expect(result.latency.count).toBe(100);
  });

  it('stops after too many errors and keeps the first error message', async () => {
    const result = await runClosedLoop({
      label: 'test',
      concurrency: 2,
      durationMs: 60_000,
      maxOperations: 1000,
      maxErrors: 5,
      operation: () => Promise.reject(new Error('refused')),
    });
    expect(result).toMatchObject({ operations: 0, stoppedBy: 'errors', firstError: 'refused' });
    expect(result.errors).toBeGreaterThan(5);
  });

  it('refuses a concurrency below one', async () => {
    await expect(
      runClosedLoop({
        label: 'test',
        concurrency: 0,
        durationMs: 1,
        maxOperations: 1,
        operation: () => Promise.resolve(),
      }),
    ).rejects.toThrow(/concurrency/);
  });
});

describe('timeToFirstSuccess', () => {
  it('ends with the first attempt that succeeds although earlier ones never answer', async () => {
    const elapsedMs = await timeToFirstSuccess({
      what: 'test write',
      startedMs: performance.now(),
      timeoutMs: 10_000,
      attemptEveryMs: 1,
      attempt: (attempt) => (attempt < 3 ? new Promise<void>(() => undefined) : Promise.resolve()),
    });
    expect(elapsedMs).toBeGreaterThanOrEqual(0);
  });

  it('gives up after its timeout when nothing succeeds', async () => {
    await expect(
      timeToFirstSuccess({
        what: 'test write',
        startedMs: performance.now(),
        timeoutMs: 30,
        attemptEveryMs: 5,
        attempt: () => Promise.reject(new Error('no leader')),
      }),
    ).rejects.toThrow(/no successful test write within 30 ms/);
  });
});

describe('process cleanup', () => {
  it('kills a started process and its children (the whole group) and removes temp dirs', async () => {
    const dir = makeTempDir('test');
    const parent = startProcess({
      name: 'sleeper',
      command: 'sh',
      args: ['-c', 'sleep 300 & sleep 300; wait'],
      logFile: join(dir, 'sleeper.log'),
    });
    // The shell's child appears once it has forked (no event says so: poll, bounded at 10 s,
    // since a loaded machine may take a while to schedule the shell); the tree proves the group.
    let tree: number[] = [];
    const deadline = performance.now() + 10_000;
    while (tree.length < 3 && performance.now() < deadline) {
      tree = processTree(parent.pid);
      if (tree.length < 3) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(tree.length).toBeGreaterThanOrEqual(3);
    expect(runningProcessCount()).toBe(1);
    cleanupAll();
    await parent.exited;
    for (const pid of tree) {
      const state = spawnSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' });
      // Gone, or a zombie waiting for its parent (already killed) to be reaped by init.
      expect(state.stdout.trim() === '' || state.stdout.trim().startsWith('Z')).toBe(true);
    }
    expect(runningProcessCount()).toBe(0);
    expect(spawnSync('test', ['-d', dir]).status).not.toBe(0);
  });

  it('reads the VmRSS of a live process and nothing for a pid that does not exist', () => {
    expect(processRssKiB(process.pid)).toBeGreaterThan(1000);
    expect(processRssKiB(2 ** 22 + 1)).toBeUndefined();
  });
});

describe('parseOptions', () => {
  it('takes the defaults, the quick mode and an explicit concurrency list', () => {
    expect(parseOptions(['--', 'kv'])).toMatchObject({
      suites: ['kv'],
      durationMs: 5000,
      concurrency: [1, 4, 16, 64, 256],
      failoverRounds: 5,
    });
    expect(parseOptions(['kv', '--quick'])).toMatchObject({ durationMs: 1000, failoverRounds: 2 });
    expect(parseOptions(['kv', '--concurrency', '2,8'])).toMatchObject({ concurrency: [2, 8] });
  });

  it('names the flag of a bad value', () => {
    expect(() => parseOptions(['kv', '--duration-ms', 'soon'])).toThrow(
      /--duration-ms must be a positive integer/,
    );
    expect(() => parseOptions(['kv', '--concurrency', '0'])).toThrow(/--concurrency/);
  });
});
