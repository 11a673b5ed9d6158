// `pnpm bench kv`: runs every system, prints the side-by-side table, writes the JSON results.
import { latencyPercentileChart, throughputChart, type Chart } from '../harness/charts.js';
import {
  finishSuite,
  quickNote,
  startSuite,
  suiteResults,
  wantedSystems,
  type SuiteOptions,
  type SuiteOutput,
} from '../harness/suite-report.js';
import { KV_SYSTEMS } from '../systems/kv-systems.js';
import { redisSystem } from '../systems/redis.js';
import { runKvSystem, type KvSuiteOptions, type KvSystemResult } from './kv.js';
import { kvNotes, kvRows } from './kv-report.js';

export const KV_VALUE_BYTES = 100;
export const KV_KEY_SPACE = 1000;

/** Each other client path of a system becomes a column of its own (puts and gets only). */
function withOtherPaths(results: readonly KvSystemResult[]): KvSystemResult[] {
  return results.flatMap((result) => [
    result,
    ...result.otherPaths.map((path): KvSystemResult => ({
      name: path.name,
      description: path.description,
      kind: path.kind,
      status: path.error === undefined ? 'ran' : 'failed',
      ...(path.error === undefined ? {} : { error: path.error }),
      puts: path.puts,
      gets: path.gets,
      failoverMs: [],
      failoverErrors: [],
      otherPaths: [],
      warnings: [],
    })),
  ]);
}

export type { SuiteOutput } from '../harness/suite-report.js';

/** The level the latency-percentile charts show: 16 clients when measured, else the middle one. */
export function referenceConcurrency(levels: readonly number[]): number | undefined {
  return levels.includes(16) ? 16 : levels[Math.floor(levels.length / 2)];
}

/** Throughput against concurrency and latency percentiles, puts and gets, every column. */
export function kvCharts(
  columns: readonly KvSystemResult[],
  options: { concurrency: readonly number[]; valueBytes: number },
): Chart[] {
  const reference = referenceConcurrency(options.concurrency);
  const charts: Chart[] = [];
  for (const kind of ['put', 'get'] as const) {
    const label = kind === 'put' ? 'put' : 'linearizable get';
    const runs = (column: KvSystemResult) => (kind === 'put' ? column.puts : column.gets);
    charts.push(
      throughputChart({
        id: `${kind}-throughput`,
        title: `kv ${label}: throughput against concurrent clients`,
        subtitle: `${options.valueBytes}-byte values, closed loop, three nodes (higher is better)`,
        series: Object.fromEntries(columns.map((column) => [column.name, runs(column)])),
      }),
      latencyPercentileChart({
        id: `${kind}-latency`,
        title: `kv ${label}: latency percentiles at ${reference ?? '-'} clients`,
        subtitle: `${options.valueBytes}-byte values, HdrHistogram (lower is better)`,
        series: Object.fromEntries(
          columns.map((column) => [
            column.name,
            runs(column).find((run) => run.concurrency === reference)?.latency,
          ]),
        ),
      }),
    );
  }
  return charts;
}

export async function runKvSuite(options: SuiteOptions): Promise<SuiteOutput> {
  const run = startSuite('kv', options);
  const { bench, log } = run;
  const systems = wantedSystems(bench, KV_SYSTEMS);
  const suiteOptions: KvSuiteOptions = {
    concurrency: bench.concurrency,
    durationMs: bench.durationMs,
    warmupMs: bench.warmupMs,
    maxOperationsPerRun: bench.maxOperationsPerRun,
    failoverRounds: bench.failoverRounds,
    valueBytes: KV_VALUE_BYTES,
    keySpace: KV_KEY_SPACE,
    idleSettleMs: bench.quick ? 500 : 2000,
    log,
  };
  const results: KvSystemResult[] = [];
  // One system at a time: they share the machine's cores and disk.
  for (const system of systems) results.push(await runKvSystem(system, suiteOptions));

  const columns = withOtherPaths(results);
  const rows = kvRows(columns, bench.concurrency);
  const peers = columns.map((column) => column.name).filter((name) => !name.startsWith('distsync'));
  // Ratios compare like with like: HTTP/JSON against HTTP/JSON, native client against native.
  return finishSuite(run, {
    title: `kv: distsync side by side with ${peers.join(', ') || 'no peer'}`,
    workload: [
      `workload: ${KV_VALUE_BYTES}-byte values over ${KV_KEY_SPACE} keys, closed-loop clients spread ` +
        `round-robin over the three nodes, ${bench.durationMs} ms per level after ${bench.warmupMs} ms warm-up` +
        quickNote(bench),
      ...(systems.includes(redisSystem)
        ? [
            'redis is ONE unreplicated node (appendfsync always): a write is acknowledged by one ' +
              'fsync on one machine, not by a quorum of three; no failover row',
          ]
        : []),
    ],
    rows,
    columns,
    notes: kvNotes(columns),
    results: suiteResults(
      run,
      { systems: results, table: rows },
      { valueBytes: KV_VALUE_BYTES, keySpace: KV_KEY_SPACE },
    ),
    charts: kvCharts(columns, { concurrency: bench.concurrency, valueBytes: KV_VALUE_BYTES }),
  });
}
