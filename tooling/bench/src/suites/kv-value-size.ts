// `pnpm bench kv-value-size`: kv put and linearizable get throughput and latency per value size
// (100 B to 64 KiB by default), at a fixed number of closed-loop clients, on each system and
// each of its client paths, one system after the other.
import { forEachBounded } from '../harness/attempts.js';
import { seriesChart, valueSizeChart, type Chart } from '../harness/charts.js';
import { HttpClients } from '../harness/http.js';
import type { ClosedLoopResult } from '../harness/load.js';
import type { Row } from '../harness/report.js';
import {
  finishSuite,
  quickNote,
  startSuite,
  suiteResults,
  wantedSystems,
  type SuiteOptions,
  type SuiteOutput,
} from '../harness/suite-report.js';
import type { BenchOptions } from '../options.js';
import { KV_SYSTEMS } from '../systems/kv-systems.js';
import { redisSystem } from '../systems/redis.js';
import type { KvCluster, KvSystem, Skip } from '../systems/types.js';
import { loadLevel, type KvSuiteOptions } from './kv.js';

export const VALUE_SIZE_CONCURRENCY = 16;
/** Keys per size: every get reads a key written at that size. */
export const VALUE_SIZE_KEY_SPACE = 256;
const READY_TIMEOUT_MS = 60_000;

export interface SizeFigures {
  readonly valueBytes: number;
  put?: ClosedLoopResult;
  get?: ClosedLoopResult;
  /** Why this size has no figures (or only the put's); the other sizes still run. */
  error?: string;
}

/** Tries per preload put: on a loaded machine a single put may time out. */
const PRELOAD_ATTEMPTS = 3;

async function withRetries(attempts: number, task: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await task();
      return;
    } catch (error) {
      if (attempt >= attempts) throw error;
    }
  }
}

export interface ValueSizeColumn {
  readonly name: string;
  readonly description: string;
  readonly kind: string;
  status: 'ran' | 'skipped' | 'failed';
  skip?: Skip;
  error?: string;
  sizes: SizeFigures[];
}

interface SizePath {
  put(client: number, key: string, value: string): Promise<void>;
  get(client: number, key: string): Promise<string | undefined>;
}

/** Fills `figures` size by size, so what was measured stays when a later size fails. */
async function measurePath(
  path: SizePath,
  context: {
    label: string;
    bench: BenchOptions;
    log: (line: string) => void;
    figures: SizeFigures[];
  },
): Promise<void> {
  const { bench, log } = context;
  const options: KvSuiteOptions = {
    concurrency: [VALUE_SIZE_CONCURRENCY],
    durationMs: bench.durationMs,
    warmupMs: bench.warmupMs,
    maxOperationsPerRun: bench.maxOperationsPerRun,
    failoverRounds: 0,
    valueBytes: 0,
    keySpace: VALUE_SIZE_KEY_SPACE,
    idleSettleMs: 0,
    log,
  };
  for (const valueBytes of bench.valueSizes) {
    const figures: SizeFigures = { valueBytes };
    context.figures.push(figures);
    try {
      await measureSize(path, { ...context, options, valueBytes, figures });
    } catch (error) {
      figures.error = error instanceof Error ? error.message : String(error);
      log(`${context.label} ${valueBytes} B: FAILED: ${figures.error}`);
    }
  }
}

async function measureSize(
  path: SizePath,
  context: {
    label: string;
    options: KvSuiteOptions;
    valueBytes: number;
    figures: SizeFigures;
  },
): Promise<void> {
  const { options, valueBytes, figures } = context;
  const value = 's'.repeat(valueBytes);
  const keyOf = (index: number): string => `bench-size-${valueBytes}-${index}`;
  figures.put = await loadLevel({
    name: `${context.label} put ${valueBytes} B`,
    concurrency: VALUE_SIZE_CONCURRENCY,
    operation: (client, sequence) =>
      path.put(client, keyOf((client * 7919 + sequence) % VALUE_SIZE_KEY_SPACE), value),
    options,
  });
  await forEachBounded({
    count: VALUE_SIZE_KEY_SPACE,
    concurrency: 16,
    task: (index) => withRetries(PRELOAD_ATTEMPTS, () => path.put(index, keyOf(index), value)),
  });
  figures.get = await loadLevel({
    name: `${context.label} get ${valueBytes} B`,
    concurrency: VALUE_SIZE_CONCURRENCY,
    operation: async (client, sequence) => {
      const key = keyOf((client * 7919 + sequence * 31) % VALUE_SIZE_KEY_SPACE);
      const read = await path.get(client, key);
      if (read?.length !== valueBytes) {
        throw new Error(`${key}: read ${read?.length ?? 'nothing'}, wrote ${valueBytes} bytes`);
      }
    },
    options,
  });
}

async function runValueSizeSystem(
  system: KvSystem,
  context: { bench: BenchOptions; log: (line: string) => void },
): Promise<ValueSizeColumn[]> {
  const main: ValueSizeColumn = {
    name: system.name,
    description: system.description,
    kind: system.kind ?? 'http',
    status: 'ran',
    sizes: [],
  };
  const skip = system.unavailable();
  if (skip !== undefined) {
    context.log(`${system.name}: skipped (${skip.reason}); install with: ${skip.installCommand}`);
    return [{ ...main, status: 'skipped', skip }];
  }
  const clients = new HttpClients({ connectionsPerOrigin: 64 });
  let cluster: KvCluster | undefined;
  const columns: ValueSizeColumn[] = [main];
  try {
    context.log(`${system.name}: launching`);
    cluster = await system.launch({ clients });
    await cluster.waitReady(READY_TIMEOUT_MS);
    const active = cluster;
    await measurePath(
      {
        put: (client, key, value) => active.put({ node: client % active.nodeCount, key, value }),
        get: (client, key) => active.get({ node: client % active.nodeCount, key }),
      },
      { label: system.name, ...context, figures: main.sizes },
    );
    for (const other of (await active.openOtherPaths?.()) ?? []) {
      const column: ValueSizeColumn = {
        name: other.name,
        description: other.description,
        kind: other.kind,
        status: 'ran',
        sizes: [],
      };
      columns.push(column);
      try {
        await measurePath(
          {
            put: (client, key, value) => other.put({ client, key, value }),
            get: (client, key) => other.get({ client, key }),
          },
          { label: other.name, ...context, figures: column.sizes },
        );
      } catch (error) {
        column.status = 'failed';
        column.error = error instanceof Error ? error.message : String(error);
      } finally {
        await other.close();
      }
    }
  } catch (error) {
    main.status = 'failed';
    main.error = error instanceof Error ? error.message : String(error);
    context.log(`${system.name}: FAILED: ${main.error}`);
  } finally {
    await cluster?.stop();
    await clients.close();
  }
  return columns;
}

const sizeLabel = (bytes: number): string =>
  bytes >= 1024 && bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} B`;

export function valueSizeRows(
  columns: readonly ValueSizeColumn[],
  sizes: readonly number[],
): Row[] {
  const rows: Row[] = [];
  const at = (column: ValueSizeColumn, size: number) =>
    column.sizes.find((figures) => figures.valueBytes === size);
  const values = (pick: (column: ValueSizeColumn) => number | undefined) =>
    Object.fromEntries(columns.map((column) => [column.name, pick(column)]));
  for (const size of sizes) {
    for (const kind of ['put', 'get'] as const) {
      const label = `${kind === 'put' ? 'put' : 'linearizable get'} ${sizeLabel(size)}`;
      rows.push(
        {
          metric: `${label} ops/s`,
          unit: 'ops/s',
          better: 'higher',
          values: values((column) => at(column, size)?.[kind]?.opsPerSecond),
        },
        {
          metric: `${label} p50 ms`,
          unit: 'ms',
          better: 'lower',
          values: values((column) => at(column, size)?.[kind]?.latency.p50Ms),
        },
        {
          metric: `${label} p99 ms`,
          unit: 'ms',
          better: 'lower',
          values: values((column) => at(column, size)?.[kind]?.latency.p99Ms),
        },
      );
    }
  }
  return rows;
}

export function valueSizeCharts(columns: readonly ValueSizeColumn[]): Chart[] {
  return (['put', 'get'] as const).flatMap((kind) => {
    const label = kind === 'put' ? 'put' : 'linearizable get';
    return [
      valueSizeChart({
        id: `${kind}-throughput`,
        title: `kv ${label}: throughput against value size`,
        subtitle: `${VALUE_SIZE_CONCURRENCY} closed-loop clients (higher is better)`,
        series: Object.fromEntries(
          columns.map((column) => [
            column.name,
            column.sizes.map((f) => ({
              valueBytes: f.valueBytes,
              opsPerSecond: f[kind]?.opsPerSecond,
            })),
          ]),
        ),
      }),
      seriesChart({
        id: `${kind}-p99`,
        title: `kv ${label}: p99 latency against value size`,
        subtitle: `${VALUE_SIZE_CONCURRENCY} closed-loop clients (lower is better)`,
        x: { title: 'value size, bytes', scale: 'log', base: 2 },
        y: { title: 'p99 latency ms (lower is better)', scale: 'log' },
        series: Object.fromEntries(
          columns.map((column) => [
            column.name,
            column.sizes.map((f) => ({ x: f.valueBytes, y: f[kind]?.latency.p99Ms })),
          ]),
        ),
      }),
    ];
  });
}

function valueSizeNotes(columns: readonly ValueSizeColumn[]): string[] {
  const notes: string[] = [];
  for (const column of columns) {
    notes.push(`- ${column.name}: ${column.description}`);
    if (column.status === 'skipped' && column.skip !== undefined) {
      notes.push(
        `  - SKIPPED: ${column.skip.reason}; install with \`${column.skip.installCommand}\``,
      );
    }
    if (column.status === 'failed') notes.push(`  - FAILED: ${column.error ?? 'unknown error'}`);
    for (const figures of column.sizes) {
      if (figures.error !== undefined) {
        notes.push(`  - FAILED at ${sizeLabel(figures.valueBytes)}: ${figures.error}`);
      }
      for (const run of [figures.put, figures.get]) {
        if (run !== undefined && run.errors > 0) {
          notes.push(
            `  - ${run.errors} failed operations at ${sizeLabel(figures.valueBytes)} (first: ${run.firstError})`,
          );
        }
      }
    }
  }
  return notes;
}

export async function runKvValueSizeSuite(options: SuiteOptions): Promise<SuiteOutput> {
  const run = startSuite('kv-value-size', options);
  const { bench, log } = run;
  const systems = wantedSystems(bench, KV_SYSTEMS);
  const columns: ValueSizeColumn[] = [];
  for (const system of systems) columns.push(...(await runValueSizeSystem(system, { bench, log })));
  const rows = valueSizeRows(columns, bench.valueSizes);
  return finishSuite(run, {
    title: 'kv-value-size: throughput and latency against value size',
    workload: [
      `workload: values of ${bench.valueSizes.map(sizeLabel).join(', ')}; ` +
        `${VALUE_SIZE_CONCURRENCY} closed-loop clients over ${VALUE_SIZE_KEY_SPACE} keys per size, ` +
        `${bench.durationMs} ms per size after ${bench.warmupMs} ms warm-up` +
        quickNote(bench),
      ...(systems.includes(redisSystem)
        ? [
            'redis is ONE unreplicated node (appendfsync always): a write is acknowledged by one ' +
              'fsync on one machine, not by a quorum of three',
          ]
        : []),
    ],
    rows,
    columns,
    notes: valueSizeNotes(columns),
    results: suiteResults(run, { systems: columns, table: rows }),
    charts: valueSizeCharts(columns),
  });
}
