// `pnpm bench cache`: the MESI cache next to Redis on the same machine, in the same run. A
// three-node distsync cluster (from source, Redis as the backing store under a run prefix) and
// the running Redis:
//   - hit reads: a near-cache hit in this process (CacheClient nearCache), a node-cache hit
//     through a client (CacheClient over WebSocket; the node answers from its cache, no Raft),
//     Redis GET through ioredis, and Redis client-side caching (CLIENT TRACKING + a local map);
//   - misses: keys the cache has never seen, loaded from Redis by the node (two Raft commands);
//   - writes with 0, 1 and 2 sharers (each write waits for its invalidations), next to Redis SET;
//   - the hit rate of a bounded near cache under a Zipf workload.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import {
  CacheClient,
  createCacheDirectory,
  MemoryStore,
  NodeCache,
  RedisStore,
  type DirectoryCommand,
} from '@distsync/cache-mesi';
import { connect, type ClusterConnection } from '@distsync/transport-ws';
import { ClusterProcesses, type NodeSpec } from '../harness/cluster.js';
import { LatencyHistogram, type LatencySummary } from '../harness/histogram.js';
import { HttpClients } from '../harness/http.js';
import { freePorts } from '../harness/ports.js';
import type { Row } from '../harness/report.js';
import {
  finishSuite,
  startSuite,
  type SuiteOptions,
  type SuiteOutput,
} from '../harness/suite-report.js';
import { waitUntil } from '../harness/wait.js';
import type { BenchOptions } from '../options.js';
import { workspaceRoot } from '../systems/distsync.js';

export const CACHE_CONCURRENCY = 16;
export const ZIPF_KEYS = 10_000;
export const ZIPF_EXPONENT = 0.99;
export const ZIPF_NEAR_CACHE_ENTRIES = 1000;
const MISS_KEYS_MAX = 400;
const WRITES_MAX = 300;
const ZIPF_READS_MAX = 100_000;

export interface CaseFigures {
  readonly opsPerSecond: number;
  readonly latency: LatencySummary;
  readonly operations: number;
  readonly errors: number;
  readonly firstError?: string;
}

type Measured = Partial<Record<string, CaseFigures>>;

interface Runner {
  readonly bench: BenchOptions;
  readonly log: (line: string) => void;
}

/** A closed loop of `concurrency` workers calling `op` for `durationMs` (or `maxOperations`). */
async function measure(
  runner: Runner,
  input: {
    name: string;
    concurrency: number;
    maxOperations?: number;
    op: (worker: number, i: number) => Promise<unknown>;
  },
): Promise<CaseFigures> {
  const { bench } = runner;
  const histogram = new LatencyHistogram();
  const maxOperations = Math.min(
    input.maxOperations ?? Number.POSITIVE_INFINITY,
    bench.maxOperationsPerRun,
  );
  const warmEnd = performance.now() + Math.min(bench.warmupMs, 500);
  let index = 0;
  await Promise.all(
    Array.from({ length: input.concurrency }, async (_, worker) => {
      while (performance.now() < warmEnd) await input.op(worker, index++).catch(() => undefined);
    }),
  );
  const startedAt = performance.now();
  const endAt = startedAt + bench.durationMs;
  let operations = 0;
  let errors = 0;
  let firstError: string | undefined;
  await Promise.all(
    Array.from({ length: input.concurrency }, async (_, worker) => {
      while (performance.now() < endAt && operations + errors < maxOperations && errors < 100) {
        const t0 = performance.now();
        try {
          await input.op(worker, index++);
          histogram.recordMs(performance.now() - t0);
          operations += 1;
        } catch (error) {
          errors += 1;
          firstError ??= error instanceof Error ? error.message : String(error);
        }
      }
    }),
  );
  const elapsedMs = performance.now() - startedAt;
  const figures: CaseFigures = {
    opsPerSecond: operations / (elapsedMs / 1000),
    latency: histogram.summary(),
    operations,
    errors,
    ...(firstError === undefined ? {} : { firstError }),
  };
  runner.log(
    `cache ${input.name}: ${figures.opsPerSecond.toFixed(0)} ops/s, p50 ${figures.latency.p50Ms.toFixed(3)} ms, p99 ${figures.latency.p99Ms.toFixed(3)} ms${errors > 0 ? `, ${errors} errors (${firstError ?? ''})` : ''}`,
  );
  return figures;
}

/** Ranks 0..n-1 drawn with probability proportional to 1 / (rank + 1)^s (inverse CDF). */
export function zipfSampler(n: number, exponent: number, random: () => number): () => number {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let rank = 0; rank < n; rank += 1) {
    total += 1 / (rank + 1) ** exponent;
    cdf[rank] = total;
  }
  return () => {
    const target = random() * total;
    let low = 0;
    let high = n - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((cdf[middle] ?? 0) < target) low = middle + 1;
      else high = middle;
    }
    return low;
  };
}

function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface CacheCluster {
  readonly processes: ClusterProcesses;
  readonly origins: readonly string[];
  readonly endpoints: readonly string[];
}

async function startCluster(input: {
  redisUrl: string;
  prefix: string;
  clients: HttpClients;
}): Promise<CacheCluster> {
  const root = workspaceRoot();
  const rootDir = ClusterProcesses.makeRoot('distsync-cache');
  const ports = await freePorts(3);
  const ids = ['n1', 'n2', 'n3'];
  const secret = randomBytes(24).toString('hex');
  const specs: NodeSpec[] = ids.map((id, index) => ({
    id,
    origin: `http://127.0.0.1:${String(ports[index])}`,
    command: process.execPath,
    cwd: join(root, 'apps', 'node'),
    env: { ...process.env, DISTSYNC_SECRET: secret },
    args: [
      ...[
        '--import',
        'tsx',
        '--conditions',
        '@distsync/source',
        join(root, 'apps', 'node', 'src', 'cli.ts'),
        'node',
      ],
      ...[
        '--id',
        id,
        '--port',
        String(ports[index]),
        '--data-dir',
        ClusterProcesses.dataDir(rootDir, id),
      ],
      ...[
        '--peers',
        ids
          .flatMap((peer, at) => (at === index ? [] : [`${peer}=127.0.0.1:${String(ports[at])}`]))
          .join(','),
      ],
      ...['--redis-url', input.redisUrl, '--redis-key-prefix', input.prefix],
      ...['--cache-max-entries', '100000', '--log-level', 'warn', '--log-format', 'json'],
    ],
  }));
  const processes = new ClusterProcesses({ system: 'distsync-cache', specs, rootDir });
  processes.startAll();
  const origins = specs.map((spec) => spec.origin);
  await waitUntil(
    async () => {
      const answers = await Promise.all(
        origins.map((origin) =>
          input.clients.request({ origin, method: 'GET', path: '/ready', timeoutMs: 1000 }),
        ),
      );
      return answers.every((answer) => answer.status === 200);
    },
    { what: 'distsync cache cluster ready', timeoutMs: 120_000, processes: processes.running() },
  );
  return { processes, origins, endpoints: ports.map((port) => `ws://127.0.0.1:${String(port)}`) };
}

/** Redis client-side caching: CLIENT TRACKING redirected to a subscriber, a local map of values. */
async function trackingClient(
  redisUrl: string,
): Promise<{ get(key: string): Promise<string | null>; close(): Promise<void> }> {
  const data = new Redis(redisUrl);
  const invalidations = new Redis(redisUrl);
  const local = new Map<string, string | null>();
  const subscriberId = await invalidations.client('ID');
  await invalidations.subscribe('__redis__:invalidate');
  invalidations.on('message', (_channel: string, message: unknown) => {
    const keys = Array.isArray(message) ? (message as string[]) : [String(message)];
    for (const key of keys) local.delete(key);
  });
  await data.call('CLIENT', 'TRACKING', 'on', 'REDIRECT', String(subscriberId));
  return {
    async get(key) {
      if (local.has(key)) return local.get(key) ?? null;
      const value = await data.get(key);
      local.set(key, value);
      return value;
    },
    async close() {
      data.disconnect();
      invalidations.disconnect();
      return Promise.resolve();
    },
  };
}

/**
 * The hit rate of a NodeCache's LRU (ZIPF_NEAR_CACHE_ENTRIES lines) under Zipf reads over
 * ZIPF_KEYS keys, after a warm-up. The policy alone decides it, so it runs in process against an
 * in-memory directory (no network), which allows enough reads for a stable figure.
 */
async function zipfHitRate(
  log: (line: string) => void,
): Promise<{ hitRate: number; reads: number }> {
  const directory = createCacheDirectory({ maxKeys: ZIPF_KEYS * 2 });
  let index = 0;
  const apply = (payload: DirectoryCommand): unknown => {
    index += 1;
    const result = directory.apply(payload, { index, term: 1, timeMs: 0, clientId: undefined });
    if (!result.ok) throw new Error(result.message);
    return result.value;
  };
  const store = new MemoryStore();
  await store.writeMany(
    Array.from({ length: ZIPF_KEYS }, (_, i) => ({
      key: `z:${i}`,
      version: 1,
      found: true,
      value: i,
    })),
  );
  const cache = new NodeCache({
    holder: 'node:zipf',
    directory: {
      command: (payload) => Promise.resolve(apply(payload)),
      query: (payload) => {
        const result = directory.query(payload);
        return result.ok
          ? Promise.resolve(result.value)
          : Promise.reject(new Error(result.message));
      },
    },
    store,
    maxEntries: ZIPF_NEAR_CACHE_ENTRIES,
    readLeaseMs: 3_600_000,
  });
  directory.onEvent((event) => {
    cache.handleEvent(event);
  });
  const draw = zipfSampler(ZIPF_KEYS, ZIPF_EXPONENT, prng(42));
  for (let i = 0; i < ZIPF_READS_MAX / 3; i += 1) await cache.get(`z:${draw()}`);
  const before = cache.stats();
  for (let i = 0; i < ZIPF_READS_MAX; i += 1) await cache.get(`z:${draw()}`);
  const after = cache.stats();
  const hits = after.hits - before.hits;
  const reads = hits + after.misses - before.misses;
  await cache.stop({ flush: false });
  const hitRate = reads === 0 ? 0 : hits / reads;
  log(`cache zipf: LRU hit rate ${(hitRate * 100).toFixed(1)} % over ${reads} reads after warm-up`);
  return { hitRate, reads };
}

export async function runCacheSuite(options: SuiteOptions): Promise<SuiteOutput> {
  // No machine-facts line on stderr: this suite has never printed one.
  const run = startSuite('cache', options, { announce: false });
  const { bench, log } = run;
  const runner: Runner = { bench, log };
  const runId = randomBytes(4).toString('hex');
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const prefix = `distsync-bench:cache:${runId}:`;
  const clients = new HttpClients({ connectionsPerOrigin: 4 });
  const redis = new Redis(redisUrl);
  const nearFigures: Measured = {};
  const nodeFigures: Measured = {};
  const redisFigures: Measured = {};
  const cscFigures: Measured = {};
  const measured: Record<string, Measured> = {
    'distsync-near': nearFigures,
    'distsync-node': nodeFigures,
    redis: redisFigures,
    'redis-csc': cscFigures,
  };
  const notes: string[] = [];
  const zipf = await zipfHitRate(log);
  log('cache: starting three nodes from source (tsx) with Redis as the backing store');
  const cluster = await startCluster({ redisUrl, prefix, clients });
  const connections: ClusterConnection[] = [];
  const cacheClients: CacheClient[] = [];
  try {
    for (const endpoint of cluster.endpoints)
      connections.push(await connect(endpoint, { requestTimeoutMs: 15_000 }));
    const [c1, c2, c3] = connections as [ClusterConnection, ClusterConnection, ClusterConnection];
    const near = new CacheClient({
      connection: c1,
      nearCache: { maxEntries: 10_000, maxBytes: 64 << 20 },
    });
    const node1 = new CacheClient({ connection: c1 });
    const node2 = new CacheClient({ connection: c2 });
    const node3 = new CacheClient({ connection: c3 });
    cacheClients.push(near, node1, node2, node3);
    const value = { payload: 'x'.repeat(100) };
    const text = JSON.stringify(value);

    // Hits.
    await node1.set('hot', value);
    await near.get('hot');
    await node2.get('hot');
    await redis.set(`${prefix}redis:hot`, text);
    nearFigures.hit1 = await measure(runner, {
      name: 'near-cache hit',
      concurrency: 1,
      op: () => near.get('hot'),
    });
    nodeFigures.hit1 = await measure(runner, {
      name: 'node-cache hit via client',
      concurrency: 1,
      op: () => node2.get('hot'),
    });
    nodeFigures.hit16 = await measure(runner, {
      name: `node-cache hit via client x${CACHE_CONCURRENCY}`,
      concurrency: CACHE_CONCURRENCY,
      op: () => node2.get('hot'),
    });
    redisFigures.hit1 = await measure(runner, {
      name: 'redis GET',
      concurrency: 1,
      op: () => redis.get(`${prefix}redis:hot`),
    });
    redisFigures.hit16 = await measure(runner, {
      name: `redis GET x${CACHE_CONCURRENCY}`,
      concurrency: CACHE_CONCURRENCY,
      op: () => redis.get(`${prefix}redis:hot`),
    });
    try {
      const tracking = await trackingClient(redisUrl);
      await tracking.get(`${prefix}redis:hot`);
      cscFigures.hit1 = await measure(runner, {
        name: 'redis client-side caching hit',
        concurrency: 1,
        op: () => tracking.get(`${prefix}redis:hot`),
      });
      await tracking.close();
    } catch (error) {
      notes.push(
        `- redis client-side caching skipped: ${error instanceof Error ? error.message : String(error)}`,
      );
    }

    // Misses: keys only Redis has; the node loads each (read, load, fill).
    const seed = new RedisStore({ url: redisUrl, keyPrefix: prefix });
    await seed.writeMany(
      Array.from({ length: MISS_KEYS_MAX }, (_, i) => ({
        key: `cold:${i}`,
        version: 1,
        found: true,
        value,
      })),
    );
    nodeFigures.miss = await measure(runner, {
      name: 'node-cache miss (load from Redis)',
      concurrency: 1,
      maxOperations: MISS_KEYS_MAX,
      op: (_, i) => node3.get(`cold:${i}`),
    });

    // Writes with 0, 1 and 2 sharers: the sharers read the key again before each (untimed) write.
    for (const sharers of [0, 1, 2] as const) {
      const key = `w${sharers}`;
      await node1.set(key, value);
      const readers = [node2, node3].slice(0, sharers);
      let i = 0;
      const histogram = new LatencyHistogram();
      const endAt = performance.now() + bench.durationMs;
      let writes = 0;
      let busyMs = 0;
      while (performance.now() < endAt && writes < WRITES_MAX) {
        for (const reader of readers) await reader.get(key);
        const t0 = performance.now();
        await node1.set(key, { ...value, i: i++ });
        const took = performance.now() - t0;
        histogram.recordMs(took);
        busyMs += took;
        writes += 1;
      }
      nodeFigures[`write${sharers}`] = {
        opsPerSecond: writes / (busyMs / 1000),
        latency: histogram.summary(),
        operations: writes,
        errors: 0,
      };
      log(
        `cache write with ${sharers} sharers: p50 ${histogram.summary().p50Ms.toFixed(2)} ms, p99 ${histogram.summary().p99Ms.toFixed(2)} ms`,
      );
    }
    redisFigures.write0 = await measure(runner, {
      name: 'redis SET',
      concurrency: 1,
      maxOperations: WRITES_MAX * 10,
      op: (_, i) => redis.set(`${prefix}redis:w`, `${text}${i}`),
    });

    await seed.close();
  } finally {
    await Promise.allSettled(cacheClients.map((client) => client.close()));
    await Promise.allSettled(connections.map((connection) => connection.close()));
    await cluster.processes.stopAll({ removeData: true });
    const keys = await redis.keys(`${prefix}*`).catch(() => [] as string[]);
    for (let start = 0; start < keys.length; start += 1000)
      await redis.del(...keys.slice(start, start + 1000));
    redis.disconnect();
    await clients.close();
  }

  const row = (
    metric: string,
    unit: Row['unit'],
    better: Row['better'],
    read: (m: Measured) => number | undefined,
  ): Row => ({
    metric,
    unit,
    better,
    values: Object.fromEntries(Object.entries(measured).map(([name, m]) => [name, read(m)])),
  });
  const rows: Row[] = [
    row('hit reads/s, 1 client', 'ops/s', 'higher', (m) => m.hit1?.opsPerSecond),
    row('hit read p50 ms, 1 client', 'ms', 'lower', (m) => m.hit1?.latency.p50Ms),
    row('hit read p99 ms, 1 client', 'ms', 'lower', (m) => m.hit1?.latency.p99Ms),
    row(
      `hit reads/s, ${CACHE_CONCURRENCY} concurrent`,
      'ops/s',
      'higher',
      (m) => m.hit16?.opsPerSecond,
    ),
    row(
      `hit read p99 ms, ${CACHE_CONCURRENCY} concurrent`,
      'ms',
      'lower',
      (m) => m.hit16?.latency.p99Ms,
    ),
    row(
      'miss reads/s (distsync-node: the node loads from Redis; redis: GET)',
      'ops/s',
      'higher',
      (m) => (m === redisFigures ? m.hit1?.opsPerSecond : m.miss?.opsPerSecond),
    ),
    row('miss p50 ms', 'ms', 'lower', (m) =>
      m === redisFigures ? m.hit1?.latency.p50Ms : m.miss?.latency.p50Ms,
    ),
    row('write p50 ms, 0 sharers (redis: SET)', 'ms', 'lower', (m) => m.write0?.latency.p50Ms),
    row('write p99 ms, 0 sharers (redis: SET)', 'ms', 'lower', (m) => m.write0?.latency.p99Ms),
    row('write p50 ms, 1 sharer', 'ms', 'lower', (m) => m.write1?.latency.p50Ms),
    row('write p50 ms, 2 sharers', 'ms', 'lower', (m) => m.write2?.latency.p50Ms),
    row('write p99 ms, 2 sharers', 'ms', 'lower', (m) => m.write2?.latency.p99Ms),
    row('writes/s, 1 writer, 2 sharers', 'ops/s', 'higher', (m) => m.write2?.opsPerSecond),
  ];
  const columns = [
    { name: 'distsync-near', kind: 'native' },
    { name: 'distsync-node', kind: 'native' },
    { name: 'redis', kind: 'native' },
    { name: 'redis-csc', kind: 'native' },
  ];
  const hitRateLine = `- Zipf hit rate of the cache's LRU (${ZIPF_NEAR_CACHE_ENTRIES} lines over ${ZIPF_KEYS} keys, s = ${ZIPF_EXPONENT}, ${zipf.reads} reads after a warm-up of a third as many; in process against an in-memory directory, since the policy alone decides it): **${(zipf.hitRate * 100).toFixed(1)} %**, beside the 73-85 % that simple LRU caches of this kind typically report`;
  notes.push(
    '',
    hitRateLine,
    '- distsync-near: CacheClient with a near cache in this process (a hit is a memory read under a read lease); distsync-node: CacheClient without one over WebSocket (the node answers from its cache, no Raft); nodes run from source with tsx',
    '- redis: ioredis GET/SET on the running Redis (one instance, no replication); redis-csc: Redis client-side caching (CLIENT TRACKING with REDIRECT to a subscriber, a local map invalidated by __redis__:invalidate), which only invalidates and does not wait for it on writes',
    '- a distsync write is a Raft commit (fsync on a majority) that returns only after every other copy acknowledged its invalidation; a Redis SET is one unreplicated round trip',
  );
  for (const [name, m] of Object.entries(measured)) {
    for (const [caseName, figures] of Object.entries(m)) {
      if (figures !== undefined && figures.errors > 0)
        notes.push(
          `- ${name} ${caseName}: ${figures.errors} errors (first: ${figures.firstError ?? '?'})`,
        );
    }
  }
  const workload = [
    `values of ${JSON.stringify({ payload: 'x'.repeat(100) }).length} bytes of JSON; ${bench.durationMs} ms per case (warm-up up to 500 ms); misses: up to ${MISS_KEYS_MAX} keys; writes: up to ${WRITES_MAX} per sharer count`,
  ];
  return finishSuite(run, {
    title: 'cache: MESI near and node caches vs Redis',
    workload,
    rows,
    columns,
    notes,
    // Its own layout (no finish time, the table as `rows`), as the published cache.json has it.
    results: {
      suite: 'cache',
      startedAt: run.startedAt.toISOString(),
      machine: run.machine,
      options: bench,
      measured,
      zipf,
      rows,
    },
  });
}
