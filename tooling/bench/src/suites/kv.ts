// The kv suite: the same workload on our three-node cluster and on each peer, one system after
// the other, never at once. Per system: time from launch to the first committed write, RSS
// idle, puts and linearizable gets at each concurrency (RSS peaks sampled meanwhile), then
// leader failover after kill -9, `failoverRounds` times.
import { setTimeout as sleep } from 'node:timers/promises';
import { forEachBounded, timeToFirstSuccess } from '../harness/attempts.js';
import { HttpClients } from '../harness/http.js';
import { runClosedLoop, type ClosedLoopResult } from '../harness/load.js';
import { median } from '../harness/report.js';
import { sampleRssPeaks, treeRssMiB } from '../harness/rss.js';
import type { ClientKind, KvClientPath, KvCluster, KvSystem, Skip } from '../systems/types.js';

export interface KvSuiteOptions {
  readonly concurrency: readonly number[];
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly maxOperationsPerRun: number;
  readonly failoverRounds: number;
  readonly valueBytes: number;
  /** Keys written and read are drawn from this many. */
  readonly keySpace: number;
  readonly idleSettleMs: number;
  readonly log: (line: string) => void;
}

export interface KvSystemResult {
  readonly name: string;
  readonly description: string;
  readonly kind: ClientKind;
  status: 'ran' | 'skipped' | 'failed';
  skip?: Skip;
  error?: string;
  firstWriteMs?: number;
  idleRssMiB?: (number | undefined)[];
  loadRssMiB?: (number | undefined)[];
  puts: ClosedLoopResult[];
  gets: ClosedLoopResult[];
  failoverMs: number[];
  failoverErrors: string[];
  /** Other client paths to the same cluster (puts and gets only). */
  otherPaths: KvPathResult[];
  warnings: string[];
}

export interface KvPathResult {
  readonly name: string;
  readonly description: string;
  readonly kind: ClientKind;
  puts: ClosedLoopResult[];
  gets: ClosedLoopResult[];
  error?: string;
}

const START_TIMEOUT_MS = 60_000;
const READY_TIMEOUT_MS = 30_000;
const FAILOVER_TIMEOUT_MS = 30_000;
// A write stuck on the killed leader is abandoned after this; newer attempts keep starting.
const FAILOVER_ATTEMPT_TIMEOUT_MS = 2000;
// Attempts in flight at once; each node's connection pool is at least this large, so attempts
// stuck on a dead leader never make later ones queue behind them.
const FAILOVER_MAX_IN_FLIGHT = 256;

const keyOf = (index: number): string => `bench-kv-${index}`;

export async function runKvSystem(
  system: KvSystem,
  options: KvSuiteOptions,
): Promise<KvSystemResult> {
  const result: KvSystemResult = {
    name: system.name,
    description: system.description,
    kind: system.kind ?? 'http',
    status: 'ran',
    puts: [],
    gets: [],
    failoverMs: [],
    failoverErrors: [],
    otherPaths: [],
    warnings: [],
  };
  const skip = system.unavailable();
  if (skip !== undefined) {
    options.log(`${system.name}: skipped (${skip.reason}); install with: ${skip.installCommand}`);
    return { ...result, status: 'skipped', skip };
  }
  result.warnings = system.warnings?.() ?? [];
  for (const warning of result.warnings) options.log(`${system.name}: WARNING: ${warning}`);
  const clients = new HttpClients({
    connectionsPerOrigin: Math.max(...options.concurrency, FAILOVER_MAX_IN_FLIGHT),
  });
  let cluster: KvCluster | undefined;
  try {
    options.log(`${system.name}: launching three nodes`);
    const launchedMs = performance.now();
    cluster = await system.launch({ clients });
    result.firstWriteMs = await firstCommittedWrite(cluster, { launchedMs, options });
    options.log(
      `${system.name}: first committed write ${result.firstWriteMs.toFixed(0)} ms after launch`,
    );
    await cluster.waitReady(READY_TIMEOUT_MS);
    await sleep(options.idleSettleMs);
    result.idleRssMiB = cluster
      .pids()
      .map((pid) => (pid === undefined ? undefined : treeRssMiB(pid)));
    await measureLoad(cluster, { result, options, name: system.name });
    await measureFailover(cluster, { result, options, name: system.name });
  } catch (error) {
    result.status = 'failed';
    result.error = error instanceof Error ? error.message : String(error);
    options.log(`${system.name}: FAILED: ${result.error}`);
  } finally {
    await cluster?.stop();
    await clients.close();
  }
  return result;
}

async function firstCommittedWrite(
  cluster: KvCluster,
  context: { launchedMs: number; options: KvSuiteOptions },
): Promise<number> {
  const value = 'x'.repeat(context.options.valueBytes);
  return timeToFirstSuccess({
    what: 'first write after launch',
    startedMs: context.launchedMs,
    timeoutMs: START_TIMEOUT_MS,
    attempt: (attempt) =>
      cluster.put({
        node: attempt % cluster.nodeCount,
        key: keyOf(attempt % context.options.keySpace),
        value,
        timeoutMs: 2000,
      }),
  });
}

async function measureLoad(
  cluster: KvCluster,
  context: { result: KvSystemResult; options: KvSuiteOptions; name: string },
): Promise<void> {
  const { options, result, name } = context;
  const value = 'v'.repeat(options.valueBytes);
  const peaks = sampleRssPeaks(cluster.pids().filter((pid) => pid !== undefined));
  try {
    const main: LoadPath = {
      put: (client, key) => cluster.put({ node: client % cluster.nodeCount, key, value }),
      get: (client, key) => cluster.get({ node: client % cluster.nodeCount, key }),
    };
    const runs = await putsThenGets({ path: main, label: name, options, preload: true });
    result.puts = runs.puts;
    result.gets = runs.gets;
    const others = (await cluster.openOtherPaths?.()) ?? [];
    for (const other of others) result.otherPaths.push(await measureOtherPath(other, options));
  } finally {
    result.loadRssMiB = peaks.stop();
  }
}

interface LoadPath {
  put(client: number, key: string): Promise<void>;
  get(client: number, key: string): Promise<string | undefined>;
}

async function measureOtherPath(
  other: KvClientPath,
  options: KvSuiteOptions,
): Promise<KvPathResult> {
  const value = 'w'.repeat(options.valueBytes);
  const path: LoadPath = {
    put: (client, key) => other.put({ client, key, value }),
    get: (client, key) => other.get({ client, key }),
  };
  try {
    const runs = await putsThenGets({ path, label: other.name, options, preload: false });
    return { name: other.name, description: other.description, kind: other.kind, ...runs };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    options.log(`${other.name}: FAILED: ${message}`);
    return {
      name: other.name,
      description: other.description,
      kind: other.kind,
      puts: [],
      gets: [],
      error: message,
    };
  } finally {
    await other.close();
  }
}

async function putsThenGets(input: {
  path: LoadPath;
  label: string;
  options: KvSuiteOptions;
  preload: boolean;
}): Promise<{ puts: ClosedLoopResult[]; gets: ClosedLoopResult[] }> {
  const { path, label, options } = input;
  const put = (client: number, sequence: number): Promise<void> =>
    path.put(client, keyOf((client * 7919 + sequence) % options.keySpace));
  const get = async (client: number, sequence: number): Promise<void> => {
    const key = keyOf((client * 7919 + sequence * 31) % options.keySpace);
    if ((await path.get(client, key)) === undefined)
      throw new Error(`${key} missing after the preload`);
  };
  const puts: ClosedLoopResult[] = [];
  const gets: ClosedLoopResult[] = [];
  for (const concurrency of options.concurrency) {
    puts.push(await loadLevel({ name: `${label} put`, concurrency, operation: put, options }));
  }
  if (input.preload) {
    // Every key of the key space exists before the reads, so each get returns a value.
    await forEachBounded({
      count: options.keySpace,
      concurrency: 16,
      task: (index) => path.put(index, keyOf(index)),
    });
  }
  for (const concurrency of options.concurrency) {
    gets.push(await loadLevel({ name: `${label} get`, concurrency, operation: get, options }));
  }
  return { puts, gets };
}

/** One measured closed-loop level (after its warm-up), with a progress and a summary line. */
export async function loadLevel(level: {
  name: string;
  concurrency: number;
  operation: (client: number, sequence: number) => Promise<void>;
  options: KvSuiteOptions;
}): Promise<ClosedLoopResult> {
  const { options } = level;
  if (options.warmupMs > 0) {
    await runClosedLoop({
      label: `${level.name} (warm-up)`,
      concurrency: level.concurrency,
      durationMs: options.warmupMs,
      maxOperations: options.maxOperationsPerRun,
      operation: level.operation,
    });
  }
  const measured = await runClosedLoop({
    label: level.name,
    concurrency: level.concurrency,
    durationMs: options.durationMs,
    maxOperations: options.maxOperationsPerRun,
    operation: level.operation,
    progress: options.log,
  });
  options.log(
    `${level.name} c=${level.concurrency}: ${Math.round(measured.opsPerSecond)} ops/s, ` +
      `p50 ${measured.latency.p50Ms.toFixed(2)} ms, p99 ${measured.latency.p99Ms.toFixed(2)} ms` +
      (measured.errors > 0 ? `, ${measured.errors} errors (first: ${measured.firstError})` : ''),
  );
  return measured;
}

async function measureFailover(
  cluster: KvCluster,
  context: { result: KvSystemResult; options: KvSuiteOptions; name: string },
): Promise<void> {
  const { options, result, name } = context;
  const value = 'f'.repeat(options.valueBytes);
  if (cluster.nodeCount < 2) {
    result.warnings.push(
      'failover: not applicable, a single unreplicated node has no one to fail over to',
    );
    return;
  }
  for (let round = 0; round < options.failoverRounds; round += 1) {
    await cluster.waitReady(READY_TIMEOUT_MS);
    const leader = await cluster.leader();
    if (leader === undefined) {
      result.failoverErrors.push(`round ${round + 1}: no leader before the kill`);
      continue;
    }
    const survivor = (leader + 1) % cluster.nodeCount;
    const killedMs = performance.now();
    await cluster.kill(leader);
    try {
      const elapsedMs = await timeToFirstSuccess({
        what: `write through node ${survivor + 1} after kill -9 of node ${leader + 1}`,
        startedMs: killedMs,
        timeoutMs: FAILOVER_TIMEOUT_MS,
        maxInFlight: FAILOVER_MAX_IN_FLIGHT,
        attempt: (attempt) =>
          cluster.put({
            node: survivor,
            key: `bench-failover-${round}-${attempt}`,
            value,
            timeoutMs: FAILOVER_ATTEMPT_TIMEOUT_MS,
          }),
      });
      result.failoverMs.push(elapsedMs);
      options.log(
        `${name} failover ${round + 1}/${options.failoverRounds}: kill -9 of node ${leader + 1}, first write ${elapsedMs.toFixed(0)} ms later`,
      );
    } catch (error) {
      result.failoverErrors.push(`round ${round + 1}: ${String(error)}`);
    }
    await cluster.restart(leader);
  }
}

/** The median failover, for the table. */
export function failoverMedianMs(result: KvSystemResult): number | undefined {
  return median(result.failoverMs);
}
