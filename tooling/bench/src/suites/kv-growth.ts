// `pnpm bench kv-growth`: cost as data grows. Each system in turn gets `--keys` keys of 100
// bytes, loaded in batches (etcd: txns of 100 puts; Redis: MSET of 100; distsync: 100
// concurrent puts, its API has no batch write) within `--growth-budget-ms`; at each checkpoint
// (10k, 100k, 1M, ... and --keys) the suite records RSS per node and probes put and get latency
// over the keys already there (puts overwrite, so the size holds). Loading speed is reported but
// is not a like-for-like figure: the batch shapes differ.
import type { Chart } from '../harness/charts.js';
import { growthCheckpoints } from '../harness/growth.js';
import {
  growthCharts,
  growthNotes,
  growthRows,
  runGrowthSystem,
  type GrowthProbe,
  type GrowthSystemResult,
} from '../harness/growth-run.js';
import { HttpClients } from '../harness/http.js';
import type { ClosedLoopResult } from '../harness/load.js';
import { formatMachineFacts, machineFacts } from '../harness/machine.js';
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
import type { KvCluster, KvSystem } from '../systems/types.js';
import { loadLevel } from './kv.js';

export const GROWTH_VALUE_BYTES = 100;
export const GROWTH_BATCH_SIZE = 100;
export const GROWTH_LOAD_CONCURRENCY = 4;
export const GROWTH_PROBE_CONCURRENCY = 16;
const READY_TIMEOUT_MS = 60_000;

const keyOf = (index: number): string => `bench-grow-${index}`;

export const KV_GROWTH_PROBES: readonly GrowthProbe[] = [
  { id: 'put', label: 'put' },
  { id: 'get', label: 'get' },
];

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

function growSystem(
  system: KvSystem,
  context: { bench: BenchOptions; log: (line: string) => void },
): Promise<GrowthSystemResult> {
  const { bench, log } = context;
  const value = 'g'.repeat(GROWTH_VALUE_BYTES);
  const probeMs = bench.quick ? 500 : Math.min(bench.durationMs, 2000);
  return runGrowthSystem({
    system: { name: system.name, description: system.description, kind: system.kind ?? 'http' },
    skip: system.unavailable(),
    plan: {
      checkpoints: growthCheckpoints(bench.keys),
      budgetMs: bench.growthBudgetMs,
      batchSize: GROWTH_BATCH_SIZE,
      loadConcurrency: GROWTH_LOAD_CONCURRENCY,
      settleMs: bench.quick ? 300 : 1000,
      unit: 'keys',
    },
    log,
    launch: async () => {
      const clients = new HttpClients({ connectionsPerOrigin: 512 });
      let cluster: KvCluster | undefined;
      try {
        cluster = await system.launch({ clients, maxKeys: bench.keys + 10_000 });
        await cluster.waitReady(READY_TIMEOUT_MS);
      } catch (error) {
        await cluster?.stop();
        await clients.close();
        throw error;
      }
      const active = cluster;
      return {
        pids: () => active.pids(),
        load: (batch) => putBatch(active, batch, value),
        probe: (keys) =>
          probeLatency(active, { keys, probeMs, value, bench, log, name: system.name }),
        stop: async () => {
          await active.stop();
          await clients.close();
        },
      };
    },
  });
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
): Promise<Record<string, ClosedLoopResult>> {
  const { keys, value } = context;
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

const KV_TABLE = { unit: 'keys', probes: KV_GROWTH_PROBES } as const;

/** The kv-growth charts: RSS per node, put p99 and get p99 against keys held. */
export function kvGrowthCharts(results: readonly GrowthSystemResult[]): Chart[] {
  return growthCharts(results, {
    ...KV_TABLE,
    subject: 'kv',
    memorySubtitle: `${GROWTH_VALUE_BYTES}-byte values; mean over the nodes (lower is better)`,
    probeSubtitle: `${GROWTH_PROBE_CONCURRENCY} closed-loop clients over the whole key range (lower is better)`,
  });
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
  for (const system of systems) results.push(await growSystem(system, { bench, log }));
  const rows = growthRows(results, KV_TABLE);
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
    notes: growthNotes(results, 'keys'),
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
      charts: kvGrowthCharts(results),
    },
  });
}
