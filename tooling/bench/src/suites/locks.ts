// `pnpm bench locks`: distributed locks side by side. Uncontended acquire+release cycles (one
// client, one lock: cycles/s, p50/p99 of a cycle) and contention (8 clients on one lock: grants/s
// and acquire latency) on a three-node distsync cluster (REST API and the LockClient over
// WebSocket), a three-node etcd (its v3 lock service through the HTTP/JSON gateway, each client
// with a lease) and Redlock on the running Redis (SET NX PX + compare-and-delete script, one
// instance). Every path is also checked for mutual exclusion while it is measured.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { connect, type ClusterConnection } from '@distsync/transport-ws';
import { LockClient, type LockHandle } from '@distsync/lock-manager';
import { BenchError } from '../errors.js';
import { LatencyHistogram, type LatencySummary } from '../harness/histogram.js';
import { HttpClients } from '../harness/http.js';
import type { Row } from '../harness/report.js';
import {
  finishSuite,
  quickNote,
  startSuite,
  suiteResults,
  type SuiteOptions,
  type SuiteOutput,
} from '../harness/suite-report.js';
import type { BenchOptions } from '../options.js';
import { distsyncSystem } from '../systems/distsync.js';
import { etcdSystem } from '../systems/etcd.js';
import { ProcessKvCluster } from '../systems/process-cluster.js';
import type { KvCluster } from '../systems/types.js';

export const LOCK_CONTENDERS = 8;
/** Redlock's retry while the lock is taken: this delay plus up to this much random jitter. */
export const REDLOCK_RETRY_DELAY_MS = 10;
export const REDLOCK_RETRY_JITTER_MS = 10;
const SESSION_TTL_MS = 60_000;
const ACQUIRE_TIMEOUT_MS = 10_000;

/** One client of a lock path: acquires and releases one lock, one cycle at a time. */
export interface LockWorker {
  acquire(lock: string): Promise<void>;
  release(lock: string): Promise<void>;
  close(): Promise<void>;
}

export interface LockPath {
  readonly name: string;
  readonly kind: 'http' | 'native';
  readonly description: string;
  open(contenders: number): Promise<LockWorker[]>;
}

export interface LockFigures {
  readonly cyclesPerSecond: number;
  readonly cycle: LatencySummary;
  readonly acquire: LatencySummary;
  readonly errors: number;
  readonly firstError?: string;
  /** Times two clients were inside the critical section at once (must be 0). */
  readonly exclusionViolations: number;
  /** Measured grants per client: how evenly the lock was shared (FIFO shares it evenly). */
  readonly grantsPerClient: readonly number[];
}

export interface LockPathResult {
  readonly name: string;
  readonly kind: 'http' | 'native';
  readonly description: string;
  readonly uncontended?: LockFigures;
  readonly contended?: LockFigures;
  readonly error?: string;
}

export const base64 = (text: string): string => Buffer.from(text).toString('base64');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function originOf(cluster: KvCluster, node: number): string {
  if (!(cluster instanceof ProcessKvCluster))
    throw new BenchError('BAD_OPTION', 'not a process cluster');
  return cluster.originOf(node);
}

export async function postJson(
  clients: HttpClients,
  input: { origin: string; path: string; body: unknown },
): Promise<unknown> {
  const response = await clients.request({
    origin: input.origin,
    method: 'POST',
    path: input.path,
    body: JSON.stringify(input.body),
    timeoutMs: ACQUIRE_TIMEOUT_MS + 5000,
  });
  if (response.status !== 200) {
    throw new BenchError(
      'REQUEST_FAILED',
      `${input.path}: HTTP ${response.status} ${response.body.slice(0, 200)}`,
    );
  }
  return JSON.parse(response.body) as unknown;
}

/** distsync's REST API: a session per client, the node answers an acquire once granted. */
function distsyncHttpPath(cluster: KvCluster, clients: HttpClients): LockPath {
  return {
    name: 'distsync',
    kind: 'http',
    description:
      'distsync REST API: POST /v1/locks/{name}/acquire (the node answers once granted) and /release, one session per client, clients spread over the three nodes',
    async open(contenders) {
      const leader = (await cluster.leader()) ?? 0;
      return Promise.all(
        Array.from({ length: contenders }, async (_, index) => {
          const origin = originOf(cluster, (leader + index) % cluster.nodeCount);
          const { sessionId } = (await postJson(clients, {
            origin,
            path: '/v1/sessions',
            body: { ttlMs: SESSION_TTL_MS },
          })) as { sessionId: string };
          return {
            acquire: async (lock) => {
              await postJson(clients, {
                origin,
                path: `/v1/locks/${encodeURIComponent(lock)}/acquire`,
                body: { sessionId, timeoutMs: ACQUIRE_TIMEOUT_MS },
              });
            },
            release: async (lock) => {
              await postJson(clients, {
                origin,
                path: `/v1/locks/${encodeURIComponent(lock)}/release`,
                body: { sessionId },
              });
            },
            close: async () => {
              await clients.request({
                origin,
                method: 'DELETE',
                path: `/v1/sessions/${sessionId}`,
              });
            },
          } satisfies LockWorker;
        }),
      );
    },
  };
}

/** distsync's LockClient over @distsync/transport-ws: one connection and client per worker. */
export function distsyncWsPath(cluster: KvCluster): LockPath {
  return {
    name: 'distsync-ws',
    kind: 'native',
    description:
      '@distsync/lock-manager LockClient over transport-ws connect() (WebSocket, msgpack): acquire waits for the lock/session push, release by token; one connection per client',
    async open(contenders) {
      const leader = (await cluster.leader()) ?? 0;
      const endpoints = Array.from({ length: cluster.nodeCount }, (_, node) =>
        originOf(cluster, node).replace(/^http:/, 'ws:'),
      );
      return Promise.all(
        Array.from({ length: contenders }, async (_, index) => {
          const first = (leader + index) % endpoints.length;
          const connection: ClusterConnection = await connect([
            ...endpoints.slice(first),
            ...endpoints.slice(0, first),
          ]);
          const client = new LockClient({ connection, ttlMs: SESSION_TTL_MS });
          let handle: LockHandle | undefined;
          return {
            acquire: async (lock) => {
              handle = await client.acquire(lock, { timeoutMs: ACQUIRE_TIMEOUT_MS });
            },
            release: async () => {
              await handle?.release();
              handle = undefined;
            },
            close: async () => {
              await client.close();
              await connection.close();
            },
          } satisfies LockWorker;
        }),
      );
    },
  };
}

/** etcd's v3 lock service (v3lockpb) through its HTTP/JSON gateway, a lease per client. */
export function etcdPath(cluster: KvCluster, clients: HttpClients): LockPath {
  return {
    name: 'etcd',
    kind: 'http',
    description:
      'etcd v3 lock service through the HTTP/JSON gateway: POST /v3/lock/lock {name, lease} (blocks until held) and /v3/lock/unlock {key}, one lease (TTL 60 s) per client, clients spread over the three nodes',
    async open(contenders) {
      const leader = (await cluster.leader()) ?? 0;
      return Promise.all(
        Array.from({ length: contenders }, async (_, index) => {
          const origin = originOf(cluster, (leader + index) % cluster.nodeCount);
          const lease = (await postJson(clients, {
            origin,
            path: '/v3/lease/grant',
            body: { TTL: SESSION_TTL_MS / 1000 },
          })) as { ID: string };
          let key: string | undefined;
          return {
            acquire: async (lock) => {
              const held = (await postJson(clients, {
                origin,
                path: '/v3/lock/lock',
                body: { name: base64(lock), lease: lease.ID },
              })) as { key?: string };
              if (held.key === undefined)
                throw new BenchError('REQUEST_FAILED', 'etcd lock answered no key');
              key = held.key;
            },
            release: async () => {
              await postJson(clients, { origin, path: '/v3/lock/unlock', body: { key } });
              key = undefined;
            },
            close: async () => {
              await postJson(clients, {
                origin,
                path: '/v3/lease/revoke',
                body: { ID: lease.ID },
              }).catch(() => undefined);
            },
          } satisfies LockWorker;
        }),
      );
    },
  };
}

export const REDLOCK_RELEASE =
  "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/**
 * Redlock (redis.io's algorithm) on one Redis instance: SET key token NX PX ttl, retried after a
 * short delay while taken; released by a script that deletes the key only if it holds our token.
 */
export function redlockPath(redisUrl: string, prefix: string): LockPath {
  return {
    name: 'redlock',
    kind: 'native',
    description:
      `Redlock on the running Redis (${redisUrl}, one instance, its own persistence settings): SET NX PX ${SESSION_TTL_MS} ms, ` +
      `retry every ${REDLOCK_RETRY_DELAY_MS} ms + up to ${REDLOCK_RETRY_JITTER_MS} ms jitter while taken, release by compare-and-delete script; ioredis, one connection per client`,
    open(contenders) {
      return Promise.resolve(
        Array.from({ length: contenders }, () => {
          const redis = new Redis(redisUrl, { maxRetriesPerRequest: 2 });
          let token = '';
          return {
            acquire: async (lock) => {
              const deadline = Date.now() + ACQUIRE_TIMEOUT_MS;
              token = randomBytes(12).toString('hex');
              while (
                (await redis.set(`${prefix}${lock}`, token, 'PX', SESSION_TTL_MS, 'NX')) !== 'OK'
              ) {
                if (Date.now() > deadline)
                  throw new BenchError('REQUEST_FAILED', 'redlock: no lock within the timeout');
                await sleep(REDLOCK_RETRY_DELAY_MS + Math.random() * REDLOCK_RETRY_JITTER_MS);
              }
            },
            release: async (lock) => {
              await redis.eval(REDLOCK_RELEASE, 1, `${prefix}${lock}`, token);
            },
            close: async () => {
              await redis.quit();
            },
          } satisfies LockWorker;
        }),
      );
    },
  };
}

/** Closed-loop acquire+release cycles on one lock by every worker, warm-up first. */
async function measure(input: {
  workers: readonly LockWorker[];
  lock: string;
  durationMs: number;
  warmupMs: number;
  maxOperations: number;
}): Promise<LockFigures> {
  const cycle = new LatencyHistogram();
  const acquire = new LatencyHistogram();
  const startAt = performance.now() + input.warmupMs;
  const endAt = startAt + input.durationMs;
  let cycles = 0;
  let errors = 0;
  let firstError: string | undefined;
  let inside = 0;
  let violations = 0;
  const grantsPerClient = input.workers.map(() => 0);
  await Promise.all(
    input.workers.map(async (worker, client) => {
      while (performance.now() < endAt && cycles < input.maxOperations && errors < 100) {
        const t0 = performance.now();
        try {
          await worker.acquire(input.lock);
          const t1 = performance.now();
          // The critical section spans one event-loop turn, so an overlapping holder would show.
          inside += 1;
          if (inside > 1) violations += 1;
          await new Promise((resolve) => setImmediate(resolve));
          inside -= 1;
          await worker.release(input.lock);
          const t2 = performance.now();
          if (t0 >= startAt && t2 <= endAt) {
            cycles += 1;
            grantsPerClient[client] = (grantsPerClient[client] ?? 0) + 1;
            acquire.recordMs(t1 - t0);
            cycle.recordMs(t2 - t0);
          }
        } catch (error) {
          errors += 1;
          firstError ??= error instanceof Error ? error.message : String(error);
        }
      }
    }),
  );
  return {
    cyclesPerSecond: cycles / (input.durationMs / 1000),
    cycle: cycle.summary(),
    acquire: acquire.summary(),
    errors,
    ...(firstError === undefined ? {} : { firstError }),
    exclusionViolations: violations,
    grantsPerClient,
  };
}

async function runPath(
  path: LockPath,
  options: { bench: BenchOptions; log: (line: string) => void; runId: string },
): Promise<LockPathResult> {
  const { bench, log } = options;
  const shape = { name: path.name, kind: path.kind, description: path.description };
  const phases: [key: 'uncontended' | 'contended', contenders: number][] = [
    ['uncontended', 1],
    ['contended', LOCK_CONTENDERS],
  ];
  const figures: Partial<Record<'uncontended' | 'contended', LockFigures>> = {};
  try {
    for (const [key, contenders] of phases) {
      const workers = await path.open(contenders);
      try {
        figures[key] = await measure({
          workers,
          lock: `bench-${options.runId}-${key}`,
          durationMs: bench.durationMs,
          warmupMs: bench.warmupMs,
          maxOperations: bench.maxOperationsPerRun,
        });
      } finally {
        await Promise.allSettled(workers.map((worker) => worker.close()));
      }
      const result = figures[key];
      log(
        `locks ${path.name} ${key}: ${result.cyclesPerSecond.toFixed(0)} cycles/s, acquire p50 ${result.acquire.p50Ms.toFixed(2)} ms, ${result.errors} errors`,
      );
    }
    return { ...shape, ...figures };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log(`locks ${path.name} failed: ${message}`);
    return { ...shape, ...figures, error: message };
  }
}

function lockRows(results: readonly LockPathResult[]): Row[] {
  const row = (
    metric: string,
    unit: Row['unit'],
    better: Row['better'],
    read: (r: LockPathResult) => number | undefined,
  ): Row => ({
    metric,
    unit,
    better,
    values: Object.fromEntries(results.map((result) => [result.name, read(result)])),
  });
  return [
    row(
      'uncontended acquire+release cycles/s, 1 client',
      'ops/s',
      'higher',
      (r) => r.uncontended?.cyclesPerSecond,
    ),
    row('uncontended cycle p50 ms', 'ms', 'lower', (r) => r.uncontended?.cycle.p50Ms),
    row('uncontended cycle p99 ms', 'ms', 'lower', (r) => r.uncontended?.cycle.p99Ms),
    row(
      `grants/s, ${LOCK_CONTENDERS} contenders on one lock`,
      'ops/s',
      'higher',
      (r) => r.contended?.cyclesPerSecond,
    ),
    row(
      `acquire wait p50 ms, ${LOCK_CONTENDERS} contenders`,
      'ms',
      'lower',
      (r) => r.contended?.acquire.p50Ms,
    ),
    row(
      `acquire wait p99 ms, ${LOCK_CONTENDERS} contenders`,
      'ms',
      'lower',
      (r) => r.contended?.acquire.p99Ms,
    ),
  ];
}

function lockNotes(results: readonly LockPathResult[]): string[] {
  return [
    '',
    ...results.map((result) => `- ${result.name} (${result.kind}): ${result.description}`),
    ...results.flatMap((result) => {
      const notes: string[] = [];
      if (result.error !== undefined) notes.push(`- ${result.name} failed: ${result.error}`);
      for (const [phase, figures] of [
        ['uncontended', result.uncontended],
        ['contended', result.contended],
      ] as const) {
        if (figures === undefined) continue;
        if (figures.errors > 0)
          notes.push(
            `- ${result.name} ${phase}: ${figures.errors} errors (first: ${figures.firstError ?? '?'})`,
          );
        if (phase === 'contended' && figures.grantsPerClient.length > 1) {
          const sorted = [...figures.grantsPerClient].sort((a, b) => a - b);
          notes.push(
            `- ${result.name} contended: grants per client ${sorted.join(', ')} (fewest ${sorted[0] ?? 0}, most ${sorted.at(-1) ?? 0})`,
          );
        }
        if (figures.exclusionViolations > 0)
          notes.push(
            `- ${result.name} ${phase}: ${figures.exclusionViolations} MUTUAL EXCLUSION VIOLATIONS`,
          );
      }
      return notes;
    }),
    '- ratios pair like with like: distsync / etcd (HTTP/JSON), distsync-ws / redlock (native clients). Redlock on one unreplicated Redis is not a consensus lock: no fencing, and a failover can grant it twice.',
  ];
}

export async function runLocksSuite(options: SuiteOptions): Promise<SuiteOutput> {
  // No machine-facts line on stderr: this suite has never printed one.
  const run = startSuite('locks', options, { announce: false });
  const { bench, log } = run;
  const runId = randomBytes(4).toString('hex');
  const clients = new HttpClients({ connectionsPerOrigin: LOCK_CONTENDERS * 2 });
  const wanted = (name: string): boolean => bench.systems?.includes(name) ?? true;
  const results: LockPathResult[] = [];
  const skipped: string[] = [];
  // One cluster at a time: they share the machine's cores and disk.
  for (const system of [distsyncSystem, etcdSystem]) {
    if (!wanted(system.name)) continue;
    const skip = system.unavailable();
    if (skip !== undefined) {
      skipped.push(`- ${system.name} skipped: ${skip.reason} (${skip.installCommand})`);
      continue;
    }
    const cluster = await system.launch({ clients });
    try {
      await cluster.waitReady(60_000);
      const paths =
        system.name === 'distsync'
          ? [distsyncHttpPath(cluster, clients), distsyncWsPath(cluster)]
          : [etcdPath(cluster, clients)];
      for (const path of paths) results.push(await runPath(path, { bench, log, runId }));
    } finally {
      await cluster.stop();
    }
  }
  if (wanted('redis') || wanted('redlock')) {
    const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
    results.push(
      await runPath(redlockPath(redisUrl, `distsync-bench:locks:${runId}:`), { bench, log, runId }),
    );
  }
  await clients.close();
  const rows = lockRows(results);
  return finishSuite(run, {
    title: 'locks: distsync side by side with etcd and Redlock',
    workload: [
      `workload: uncontended = 1 client taking and releasing one lock in a closed loop; contended = ${LOCK_CONTENDERS} clients on one lock, ` +
        `each releasing at once after its grant; ${bench.durationMs} ms per phase after ${bench.warmupMs} ms warm-up` +
        quickNote(bench),
    ],
    rows,
    columns: results.map((result) => ({ name: result.name, kind: result.kind })),
    notes: [...lockNotes(results), ...skipped],
    results: suiteResults(run, { paths: results, table: rows }, { contenders: LOCK_CONTENDERS }),
  });
}
