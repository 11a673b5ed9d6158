// `pnpm bench kv-growth`: cost as data grows. Each system in turn gets `--keys` keys of 100
// bytes, loaded in batches (etcd: txns of 100 puts; Redis: MSET of 100; distsync: 100
// concurrent puts, its API has no batch write) within `--growth-budget-ms`; at each checkpoint
// (10k, 100k, 1M, ... and --keys) the suite records RSS per node and probes put and get latency
// over the keys already there (puts overwrite, so the size holds). Loading speed is reported but
// is not a like-for-like figure: the batch shapes differ.
import { setTimeout as sleep } from 'node:timers/promises';
import { memoryChart, seriesChart, type Chart } from '../harness/charts.js';
import { growthCheckpoints, loadKeys } from '../harness/growth.js';
import type { LatencySummary } from '../harness/histogram.js';
import { HttpClients } from '../harness/http.js';
import type { ClosedLoopResult } from '../harness/load.js';
import { formatMachineFacts, machineFacts } from '../harness/machine.js';
import type { Row } from '../harness/report.js';
import { sampleRssPeaks, treeRssMiB } from '../harness/rss.js';
import {
  publishDirOf,
  suiteMarkdown,
  writeSuiteReport,
  type SuiteOutput,
} from '../harness/suite-report.js';
import type { BenchOptions } from '../options.js';
import { distsyncSystem } from '../systems/distsync.js';
import { etcdSystem } from '../systems/etcd.js';
import { redisSystem } from '../systems/redis.js';
import type { KvCluster, KvSystem, Skip } from '../systems/types.js';
import { loadLevel } from './kv.js';

export const GROWTH_VALUE_BYTES = 100;
export const GROWTH_BATCH_SIZE = 100;
export const GROWTH_LOAD_CONCURRENCY = 4;
export const GROWTH_PROBE_CONCURRENCY = 16;
const READY_TIMEOUT_MS = 60_000;

export interface GrowthCheckpoint {
  /** Keys held when measured (below the checkpoint when the budget ran out). */
  readonly keys: number;
  readonly target: number;
  readonly reached: boolean;
  readonly rssMiB: (number | undefined)[];
  /** Peak RSS per node while loading up to this checkpoint. */
  readonly loadPeakRssMiB: (number | undefined)[];
  readonly loadKeysPerSecond: number;
  readonly put?: ClosedLoopResult;
  readonly get?: ClosedLoopResult;
}

export interface GrowthSystemResult {
  readonly name: string;
  readonly description: string;
  readonly kind: string;
  status: 'ran' | 'skipped' | 'failed';
  skip?: Skip;
  error?: string;
  emptyRssMiB?: (number | undefined)[];
  checkpoints: GrowthCheckpoint[];
  notes: string[];
}

const keyOf = (index: number): string => `bench-grow-${index}`;
const mean = (values: readonly (number | undefined)[]): number | undefined => {
  const known = values.filter((value) => value !== undefined);
  return known.length === 0 ? undefined : known.reduce((a, b) => a + b, 0) / known.length;
};

async function putBatch(
  cluster: KvCluster,
  batch: { from: number; to: number },
  value: string,
): Promise<void> {
  const entries = Array.from({ length: batch.to - batch.from }, (_, offset) => ({
    key: keyOf(batch.from + offset),
    value,
  }));
  if (cluster.putMany !== undefined) {
    await cluster.putMany(entries);
    return;
  }
  await Promise.all(
    entries.map(({ key }, index) => cluster.put({ node: index % cluster.nodeCount, key, value })),
  );
}

async function runGrowthSystem(
  system: KvSystem,
  context: { bench: BenchOptions; log: (line: string) => void },
): Promise<GrowthSystemResult> {
  const { bench, log } = context;
  const result: GrowthSystemResult = {
    name: system.name,
    description: system.description,
    kind: system.kind ?? 'http',
    status: 'ran',
    checkpoints: [],
    notes: [],
  };
  const skip = system.unavailable();
  if (skip !== undefined) {
    log(`${system.name}: skipped (${skip.reason}); install with: ${skip.installCommand}`);
    return { ...result, status: 'skipped', skip };
  }
  const clients = new HttpClients({ connectionsPerOrigin: 512 });
  let cluster: KvCluster | undefined;
  const value = 'g'.repeat(GROWTH_VALUE_BYTES);
  const probeMs = bench.quick ? 500 : Math.min(bench.durationMs, 2000);
  try {
    log(`${system.name}: launching for ${bench.keys} keys`);
    cluster = await system.launch({ clients, maxKeys: bench.keys + 10_000 });
    await cluster.waitReady(READY_TIMEOUT_MS);
    await sleep(bench.quick ? 300 : 1000);
    result.emptyRssMiB = cluster
      .pids()
      .map((pid) => (pid === undefined ? undefined : treeRssMiB(pid)));
    const deadlineMs = performance.now() + bench.growthBudgetMs;
    let next = 0;
    for (const target of growthCheckpoints(bench.keys)) {
      const active = cluster;
      const peaks = sampleRssPeaks(
        active.pids().filter((pid) => pid !== undefined),
        500,
      );
      let lastLogMs = performance.now();
      const load = await loadKeys({
        from: next,
        to: target,
        batchSize: GROWTH_BATCH_SIZE,
        concurrency: GROWTH_LOAD_CONCURRENCY,
        deadlineMs,
        putBatch: (batch) => putBatch(active, batch, value),
        progress: (written) => {
          if (performance.now() - lastLogMs < 5000) return;
          lastLogMs = performance.now();
          log(`  ${system.name} growth: ${next + written} keys`);
        },
      });
      const loadPeakRssMiB = peaks.stop();
      next = load.next;
      const keys = next;
      const reached = load.stoppedBy === 'done';
      const loadKeysPerSecond = load.written / (load.elapsedMs / 1000);
      log(
        `${system.name}: ${keys} keys (${load.stoppedBy}), loaded at ${Math.round(loadKeysPerSecond)} keys/s`,
      );
      if (load.stoppedBy === 'errors') {
        result.notes.push(`load stopped by errors at ${keys} keys: ${load.firstError ?? '?'}`);
      }
      if (load.stoppedBy === 'deadline') {
        result.notes.push(
          `load budget of ${bench.growthBudgetMs} ms ran out at ${keys} of ${target} keys`,
        );
      }
      await sleep(bench.quick ? 200 : 1000);
      const rssMiB = active.pids().map((pid) => (pid === undefined ? undefined : treeRssMiB(pid)));
      const probe = await probeLatency(active, {
        keys,
        probeMs,
        value,
        bench,
        log,
        name: system.name,
      });
      result.checkpoints.push({
        keys,
        target,
        reached,
        rssMiB,
        loadPeakRssMiB,
        loadKeysPerSecond,
        ...probe,
      });
      if (!reached) break;
    }
  } catch (error) {
    result.status = 'failed';
    result.error = error instanceof Error ? error.message : String(error);
    log(`${system.name}: FAILED: ${result.error}`);
  } finally {
    await cluster?.stop();
    await clients.close();
  }
  return result;
}

async function probeLatency(
  cluster: KvCluster,
  context: {
    keys: number;
    probeMs: number;
    value: string;
    bench: BenchOptions;
    log: (line: string) => void;
    name: string;
  },
): Promise<{ put?: ClosedLoopResult; get?: ClosedLoopResult }> {
  const { keys, value } = context;
  if (keys === 0) return {};
  // Spread over the whole key range so reads are not served from a small hot set.
  const pick = (client: number, sequence: number): string =>
    keyOf((client * 104_729 + sequence * 7919) % keys);
  const options = {
    concurrency: [GROWTH_PROBE_CONCURRENCY],
    durationMs: context.probeMs,
    warmupMs: Math.round(context.probeMs / 4),
    maxOperationsPerRun: context.bench.maxOperationsPerRun,
    failoverRounds: 0,
    valueBytes: GROWTH_VALUE_BYTES,
    keySpace: keys,
    idleSettleMs: 0,
    log: context.log,
  };
  const put = await loadLevel({
    name: `${context.name} put @${keys} keys`,
    concurrency: GROWTH_PROBE_CONCURRENCY,
    operation: (client, sequence) =>
      cluster.put({ node: client % cluster.nodeCount, key: pick(client, sequence), value }),
    options,
  });
  const get = await loadLevel({
    name: `${context.name} get @${keys} keys`,
    concurrency: GROWTH_PROBE_CONCURRENCY,
    operation: async (client, sequence) => {
      const key = pick(client, sequence);
      if ((await cluster.get({ node: client % cluster.nodeCount, key })) === undefined) {
        throw new Error(`${key} missing after the load`);
      }
    },
    options,
  });
  return { put, get };
}

const compact = (keys: number): string =>
  keys >= 1_000_000 && keys % 1_000_000 === 0
    ? `${keys / 1_000_000}M`
    : keys >= 1000 && keys % 1000 === 0
      ? `${keys / 1000}k`
      : String(keys);

/** The table: per checkpoint, RSS per node (mean and highest) and the probes' p50 / p99. */
export function growthRows(results: readonly GrowthSystemResult[]): Row[] {
  const targets = [...new Set(results.flatMap((r) => r.checkpoints.map((c) => c.target)))].sort(
    (a, b) => a - b,
  );
  const at = (result: GrowthSystemResult, target: number) =>
    result.checkpoints.find((checkpoint) => checkpoint.target === target && checkpoint.reached);
  const values = (pick: (result: GrowthSystemResult) => number | undefined) =>
    Object.fromEntries(results.map((result) => [result.name, pick(result)]));
  const rows: Row[] = [
    {
      metric: 'RSS per node empty, MiB (mean over the nodes)',
      unit: 'MiB',
      better: 'lower',
      values: values((r) => (r.emptyRssMiB === undefined ? undefined : mean(r.emptyRssMiB))),
    },
  ];
  for (const target of targets) {
    const label = `${compact(target)} keys`;
    const latency = (r: GrowthSystemResult, kind: 'put' | 'get'): LatencySummary | undefined =>
      at(r, target)?.[kind]?.latency;
    rows.push(
      {
        metric: `RSS per node at ${label}, MiB (mean over the nodes)`,
        unit: 'MiB',
        better: 'lower',
        values: values((r) => {
          const checkpoint = at(r, target);
          return checkpoint === undefined ? undefined : mean(checkpoint.rssMiB);
        }),
      },
      {
        metric: `put p50 ms at ${label}`,
        unit: 'ms',
        better: 'lower',
        values: values((r) => latency(r, 'put')?.p50Ms),
      },
      {
        metric: `put p99 ms at ${label}`,
        unit: 'ms',
        better: 'lower',
        values: values((r) => latency(r, 'put')?.p99Ms),
      },
      {
        metric: `get p50 ms at ${label}`,
        unit: 'ms',
        better: 'lower',
        values: values((r) => latency(r, 'get')?.p50Ms),
      },
      {
        metric: `get p99 ms at ${label}`,
        unit: 'ms',
        better: 'lower',
        values: values((r) => latency(r, 'get')?.p99Ms),
      },
    );
  }
  return rows;
}

export function growthCharts(results: readonly GrowthSystemResult[]): Chart[] {
  const reachedOf = (result: GrowthSystemResult) => result.checkpoints.filter((c) => c.keys > 0);
  const latencySeries = (kind: 'put' | 'get') =>
    Object.fromEntries(
      results.map((result) => [
        result.name,
        reachedOf(result).map((c) => ({ x: c.keys, y: c[kind]?.latency.p99Ms })),
      ]),
    );
  return [
    memoryChart({
      id: 'memory',
      title: 'kv: RSS per node against keys held',
      subtitle: `${GROWTH_VALUE_BYTES}-byte values; mean over the nodes (lower is better)`,
      dataLabel: 'keys held',
      series: Object.fromEntries(
        results.map((result) => [
          result.name,
          reachedOf(result).map((c) => ({ size: c.keys, rssMiB: mean(c.rssMiB) })),
        ]),
      ),
    }),
    ...(['put', 'get'] as const).map((kind) =>
      seriesChart({
        id: `${kind}-p99`,
        title: `kv ${kind}: p99 latency against keys held`,
        subtitle: `${GROWTH_PROBE_CONCURRENCY} closed-loop clients over the whole key range (lower is better)`,
        x: { title: 'keys held', scale: 'log', base: 10 },
        y: { title: 'p99 latency ms (lower is better)', scale: 'log' },
        series: latencySeries(kind),
      }),
    ),
  ];
}

export function growthNotes(results: readonly GrowthSystemResult[]): string[] {
  const notes: string[] = [];
  const mib = (values: readonly (number | undefined)[]): string =>
    values.map((value) => (value === undefined ? '-' : value.toFixed(0))).join(' / ');
  for (const result of results) {
    notes.push(`- ${result.name}: ${result.description}`);
    if (result.status === 'skipped' && result.skip !== undefined) {
      notes.push(
        `  - SKIPPED: ${result.skip.reason}; install with \`${result.skip.installCommand}\``,
      );
      continue;
    }
    if (result.status === 'failed') notes.push(`  - FAILED: ${result.error ?? 'unknown error'}`);
    for (const note of result.notes) notes.push(`  - ${note}`);
    for (const checkpoint of result.checkpoints) {
      notes.push(
        `  - ${checkpoint.keys} keys: RSS MiB per node ${mib(checkpoint.rssMiB)} ` +
          `(peak while loading ${mib(checkpoint.loadPeakRssMiB)}); loaded at ` +
          `${Math.round(checkpoint.loadKeysPerSecond)} keys/s` +
          (checkpoint.reached ? '' : ' (checkpoint not reached)'),
      );
      for (const run of [checkpoint.put, checkpoint.get]) {
        if (run !== undefined && run.errors > 0) {
          notes.push(`    - ${run.errors} failed probe operations (first: ${run.firstError})`);
        }
      }
    }
  }
  return notes;
}

export async function runKvGrowthSuite(options: {
  bench: BenchOptions;
  resultsDir: string;
  log: (line: string) => void;
}): Promise<SuiteOutput> {
  const { bench, log } = options;
  const startedAt = new Date();
  const machine = machineFacts();
  log(`kv-growth suite on:\n${formatMachineFacts(machine)}`);
  const all: KvSystem[] = [distsyncSystem, etcdSystem, redisSystem];
  const systems = all.filter((system) => bench.systems?.includes(system.name) ?? true);
  const results: GrowthSystemResult[] = [];
  for (const system of systems) results.push(await runGrowthSystem(system, { bench, log }));
  const rows = growthRows(results);
  const markdown = suiteMarkdown({
    title: 'kv-growth: memory and latency as the key count grows',
    machine,
    workload: [
      `workload: up to ${bench.keys} keys of ${GROWTH_VALUE_BYTES} bytes loaded in batches of ` +
        `${GROWTH_BATCH_SIZE} (${GROWTH_LOAD_CONCURRENCY} batches in flight), within ` +
        `${bench.growthBudgetMs} ms per system; at each checkpoint RSS per node, then puts ` +
        `(overwrites) and linearizable gets over the whole key range at ` +
        `${GROWTH_PROBE_CONCURRENCY} clients` +
        (bench.quick ? ' (--quick: smoke figures, not for comparison)' : ''),
      'Redis is one unreplicated node: its RSS is one copy of the data, ours and etcd hold ' +
        'three (one per node, each row is per node)',
    ],
    rows,
    columns: results.map((result) => ({ name: result.name, kind: result.kind })),
    notes: growthNotes(results),
  });
  return writeSuiteReport({
    dir: options.resultsDir,
    publishDir: publishDirOf(bench),
    report: {
      suite: 'kv-growth',
      startedAt,
      markdown,
      results: {
        suite: 'kv-growth',
        startedAt: startedAt.toISOString(),
        finishedAt: new Date().toISOString(),
        options: bench,
        machine,
        systems: results,
        table: rows,
      },
      charts: growthCharts(results),
    },
  });
}
