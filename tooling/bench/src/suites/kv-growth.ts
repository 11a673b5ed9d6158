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
  growthProbeMs,
  runGrowthSuite,
  type GrowthChartSpec,
  type GrowthProbe,
  type GrowthSubject,
  type GrowthSuiteSystem,
  type GrowthSystemResult,
} from '../harness/growth-run.js';
import { HttpClients } from '../harness/http.js';
import type { ClosedLoopResult } from '../harness/load.js';
import {
  quickNote,
  wantedSystems,
  type SuiteOptions,
  type SuiteOutput,
} from '../harness/suite-report.js';
import type { BenchOptions } from '../options.js';
import { KV_SYSTEMS } from '../systems/kv-systems.js';
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

/** A KvSystem's cluster, ready, sized for `--keys`, as a growth run drives it. */
async function kvSubject(
  system: KvSystem,
  context: { bench: BenchOptions; log: (line: string) => void },
): Promise<GrowthSubject> {
  const { bench, log } = context;
  const value = 'g'.repeat(GROWTH_VALUE_BYTES);
  const probeMs = growthProbeMs(bench);
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
    probe: (keys) => probeLatency(active, { keys, probeMs, value, bench, log, name: system.name }),
    stop: async () => {
      await active.stop();
      await clients.close();
    },
  };
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

const KV_GROWTH_CHARTS: GrowthChartSpec = {
  unit: 'keys',
  probes: KV_GROWTH_PROBES,
  subject: 'kv',
  memorySubtitle: `${GROWTH_VALUE_BYTES}-byte values; mean over the nodes (lower is better)`,
  probeSubtitle: `${GROWTH_PROBE_CONCURRENCY} closed-loop clients over the whole key range (lower is better)`,
};

/** The kv-growth charts: RSS per node, put p99 and get p99 against keys held. */
export function kvGrowthCharts(results: readonly GrowthSystemResult[]): Chart[] {
  return growthCharts(results, KV_GROWTH_CHARTS);
}

export function runKvGrowthSuite(options: SuiteOptions): Promise<SuiteOutput> {
  const { bench, log } = options;
  const systems = wantedSystems(bench, KV_SYSTEMS).map((system): GrowthSuiteSystem => ({
    name: system.name,
    description: system.description,
    kind: system.kind ?? 'http',
    skip: () => system.unavailable(),
    launch: () => kvSubject(system, { bench, log }),
  }));
  return runGrowthSuite(options, {
    suite: 'kv-growth',
    title: 'kv-growth: memory and latency as the key count grows',
    systems,
    checkpoints: growthCheckpoints(bench.keys),
    batchSize: GROWTH_BATCH_SIZE,
    loadConcurrency: GROWTH_LOAD_CONCURRENCY,
    charts: KV_GROWTH_CHARTS,
    workload: () => [
      `workload: up to ${bench.keys} keys of ${GROWTH_VALUE_BYTES} bytes loaded in batches of ` +
        `${GROWTH_BATCH_SIZE} (${GROWTH_LOAD_CONCURRENCY} batches in flight), within ` +
        `${bench.growthBudgetMs} ms per system; at each checkpoint RSS per node, then puts ` +
        `(overwrites) and linearizable gets over the whole key range at ` +
        `${GROWTH_PROBE_CONCURRENCY} clients` +
        quickNote(bench),
      'Redis is one unreplicated node: its RSS is one copy of the data, ours and etcd hold ' +
        'three (one per node, each row is per node)',
    ],
  });
}
