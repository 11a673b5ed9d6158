// `pnpm bench lock-growth`: cost as held locks pile up. Each system in turn (a fresh cluster) is
// made to hold `--growth-items` locks, each under its own name, owned by a few sessions that stay
// alive; at each checkpoint (1k, 10k, 100k held) the suite records RSS per node and probes the
// latency of an acquire+release of a fresh lock. distsync: LockClient over WebSocket (four
// sessions); etcd: its v3 lock service through the HTTP/JSON gateway (four leases); Redlock: a
// bench-owned redis-server (SET NX PX, pipelined). The lock APIs have no batch acquire except
// Redis pipelines: loading speeds are in the notes and are not comparable.
import { connect, type ClusterConnection } from '@distsync/transport-ws';
import { LockClient } from '@distsync/lock-manager';
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import type { Chart } from '../harness/charts.js';
import { growthCheckpoints } from '../harness/growth.js';
import {
  buildWarnings,
  growthCharts,
  growthProbeMs,
  runGrowthSuite,
  type GrowthChartSpec,
  type GrowthProbe,
  type GrowthSubject,
  type GrowthSystemResult,
} from '../harness/growth-run.js';
import { HttpClients } from '../harness/http.js';
import { runClosedLoop, type ClosedLoopResult } from '../harness/load.js';
import { quickNote, type SuiteOptions, type SuiteOutput } from '../harness/suite-report.js';
import type { BenchOptions } from '../options.js';
import { distsyncSystem } from '../systems/distsync.js';
import { etcdSystem } from '../systems/etcd.js';
import { redisSystem } from '../systems/redis.js';
import type { KvCluster, KvSystem } from '../systems/types.js';
import {
  base64,
  distsyncWsPath,
  etcdPath,
  originOf,
  postJson,
  redlockPath,
  type LockPath,
} from './locks.js';

/** Sessions (distsync), leases (etcd) or connections (Redis) the held locks are spread over. */
export const LOCK_GROWTH_OWNERS = 4;
export const LOCK_GROWTH_BATCH_SIZE = 100;
export const LOCK_GROWTH_LOAD_CONCURRENCY = 4;
export const LOCK_GROWTH_PROBE_CLIENTS = 4;
/** TTL of the owners of held locks: longer than any bounded run, renewed where the API says. */
export const LOCK_GROWTH_TTL_MS = 600_000;
const READY_TIMEOUT_MS = 60_000;

export const LOCK_GROWTH_PROBES: readonly GrowthProbe[] = [
  { id: 'cycle', label: 'acquire+release' },
];
const LOCK_GROWTH_CHARTS: GrowthChartSpec = {
  unit: 'held locks',
  probes: LOCK_GROWTH_PROBES,
  subject: 'locks',
  memorySubtitle: 'mean over the nodes (lower is better)',
  probeSubtitle: `${LOCK_GROWTH_PROBE_CLIENTS} closed-loop clients, each cycle on a never-used lock name (lower is better)`,
};

const heldName = (index: number): string => `bench-held-${index}`;

/** Closed-loop acquire+release cycles of never-used lock names, after an unmeasured warm-up. */
async function probeCycles(
  path: LockPath,
  input: { size: number; probeMs: number; bench: BenchOptions; log: (line: string) => void },
): Promise<Record<string, ClosedLoopResult>> {
  const workers = await path.open(LOCK_GROWTH_PROBE_CLIENTS);
  const tag = randomBytes(3).toString('hex');
  try {
    const operation = (phase: string) => async (client: number, sequence: number) => {
      const worker = workers[client]!;
      const lock = `bench-probe-${tag}-${phase}-${client}-${sequence}`;
      await worker.acquire(lock);
      await worker.release(lock);
    };
    await runClosedLoop({
      label: `${path.name} cycle @${input.size} (warm-up)`,
      concurrency: LOCK_GROWTH_PROBE_CLIENTS,
      durationMs: Math.round(input.probeMs / 4),
      maxOperations: input.bench.maxOperationsPerRun,
      operation: operation('w'),
    });
    const cycle = await runClosedLoop({
      label: `${path.name} cycle @${input.size}`,
      concurrency: LOCK_GROWTH_PROBE_CLIENTS,
      durationMs: input.probeMs,
      maxOperations: input.bench.maxOperationsPerRun,
      operation: operation('m'),
    });
    input.log(
      `${path.name} acquire+release @${input.size} held: ${Math.round(cycle.opsPerSecond)}/s, ` +
        `p50 ${cycle.latency.p50Ms.toFixed(2)} ms, p99 ${cycle.latency.p99Ms.toFixed(2)} ms` +
        (cycle.errors > 0 ? `, ${cycle.errors} errors (first: ${cycle.firstError})` : ''),
    );
    return { cycle };
  } finally {
    await Promise.allSettled(workers.map((worker) => worker.close()));
  }
}

/** Launches a KvSystem's cluster and waits for it; stops it again when that fails. */
async function launchCluster(
  system: KvSystem,
  clients: HttpClients,
  maxLocks?: number,
): Promise<KvCluster> {
  const cluster = await system.launch({ clients, ...(maxLocks === undefined ? {} : { maxLocks }) });
  try {
    await cluster.waitReady(READY_TIMEOUT_MS);
    return cluster;
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}

/** distsync: held locks owned by LOCK_GROWTH_OWNERS LockClients (one session each, kept alive). */
async function distsyncSubject(probe: ProbeContext): Promise<GrowthSubject> {
  const clients = new HttpClients({ connectionsPerOrigin: 64 });
  // Room for every held lock plus the probes' fresh names (the node's default is 100,000).
  const cluster = await launchCluster(distsyncSystem, clients, probe.bench.growthItems + 10_000);
  const endpoints = Array.from({ length: cluster.nodeCount }, (_, node) =>
    originOf(cluster, node).replace(/^http:/, 'ws:'),
  );
  const connections: ClusterConnection[] = [];
  const owners: LockClient[] = [];
  for (let index = 0; index < LOCK_GROWTH_OWNERS; index += 1) {
    const first = index % endpoints.length;
    const connection = await connect([...endpoints.slice(first), ...endpoints.slice(0, first)], {
      maxPendingRequests: 4096,
      requestTimeoutMs: 30_000,
    });
    connections.push(connection);
    // A try-lock is answered at once, but a busy cluster may take seconds to commit it: the
    // client's default 2 s of slack would cancel it (TIMEOUT) while it is on its way.
    owners.push(new LockClient({ connection, ttlMs: LOCK_GROWTH_TTL_MS, answerSlackMs: 30_000 }));
  }
  const isHeld = async (index: number): Promise<boolean> => {
    const answer = (await connections[0]!.query('lock', { op: 'get', name: heldName(index) })) as {
      holders?: unknown[];
    } | null;
    return (answer?.holders?.length ?? 0) > 0;
  };
  return {
    pids: () => cluster.pids(),
    load: async ({ from, to }) => {
      await Promise.all(
        Array.from({ length: to - from }, async (_, offset) => {
          try {
            await owners[(from + offset) % owners.length]!.acquire(heldName(from + offset), {
              timeoutMs: 0,
            });
          } catch (error) {
            // A retried batch: the locks its first try got are held by this owner already.
            if ((error as { code?: unknown }).code !== 'ALREADY_HELD') throw error;
          }
        }),
      );
    },
    probe: (size) => probeCycles(distsyncWsPath(cluster), { ...probe, size }),
    check: async (size) => heldCheck('distsync', size, isHeld),
    stop: async () => {
      // Ending the sessions releases every held lock in one command each.
      await Promise.allSettled(owners.map((owner) => owner.close()));
      await Promise.allSettled(connections.map((connection) => connection.close()));
      await cluster.stop();
      await clients.close();
    },
  };
}

/** etcd: held locks through /v3/lock/lock, owned by LOCK_GROWTH_OWNERS leases. */
async function etcdSubject(probe: ProbeContext): Promise<GrowthSubject> {
  const clients = new HttpClients({ connectionsPerOrigin: 256 });
  const cluster = await launchCluster(etcdSystem, clients);
  const leader = (await cluster.leader()) ?? 0;
  const origins = Array.from({ length: cluster.nodeCount }, (_, node) =>
    originOf(cluster, (leader + node) % cluster.nodeCount),
  );
  const leases: string[] = [];
  for (let index = 0; index < LOCK_GROWTH_OWNERS; index += 1) {
    const lease = (await postJson(clients, {
      origin: origins[index % origins.length]!,
      path: '/v3/lease/grant',
      body: { TTL: LOCK_GROWTH_TTL_MS / 1000 },
    })) as { ID: string };
    leases.push(lease.ID);
  }
  const isHeld = async (index: number): Promise<boolean> => {
    const prefix = `${heldName(index)}/`;
    const answer = (await postJson(clients, {
      origin: origins[0]!,
      path: '/v3/kv/range',
      body: {
        key: base64(prefix),
        // The end of the prefix range: '/' + 1 is '0'.
        range_end: base64(`${heldName(index)}0`),
        count_only: true,
      },
    })) as { count?: string };
    return Number(answer.count ?? 0) > 0;
  };
  return {
    pids: () => cluster.pids(),
    load: async ({ from, to }) => {
      await Promise.all(
        Array.from({ length: to - from }, async (_, offset) => {
          const index = from + offset;
          const held = (await postJson(clients, {
            origin: origins[index % origins.length]!,
            path: '/v3/lock/lock',
            body: { name: base64(heldName(index)), lease: leases[index % leases.length] },
          })) as { key?: string };
          if (held.key === undefined) throw new Error(`etcd lock ${index} answered no key`);
        }),
      );
    },
    probe: (size) => probeCycles(etcdPath(cluster, clients), { ...probe, size }),
    check: async (size) => heldCheck('etcd', size, isHeld),
    stop: async () => {
      for (const lease of leases) {
        await postJson(clients, {
          origin: origins[0]!,
          path: '/v3/lease/revoke',
          body: { ID: lease },
        }).catch(() => undefined);
      }
      await cluster.stop();
      await clients.close();
    },
  };
}

/** Redlock on a bench-owned redis-server: SET NX PX pipelined per batch, one connection each. */
async function redlockSubject(probe: ProbeContext): Promise<GrowthSubject> {
  const clients = new HttpClients({ connectionsPerOrigin: 4 });
  const cluster = await launchCluster(redisSystem, clients);
  const url = originOf(cluster, 0);
  const connections = Array.from({ length: LOCK_GROWTH_OWNERS }, () => {
    const redis = new Redis(url, { maxRetriesPerRequest: 2 });
    redis.on('error', () => undefined);
    return redis;
  });
  const token = randomBytes(12).toString('hex');
  return {
    pids: () => cluster.pids(),
    load: async ({ from, to }) => {
      const pipeline =
        connections[(from / LOCK_GROWTH_BATCH_SIZE) % connections.length]!.pipeline();
      for (let index = from; index < to; index += 1) {
        pipeline.set(heldName(index), token, 'PX', LOCK_GROWTH_TTL_MS, 'NX');
      }
      const answers = (await pipeline.exec()) ?? [];
      const refused = answers.filter(([error, answer]) => error !== null || answer !== 'OK');
      if (refused.length > 0) throw new Error(`${refused.length} SET NX refused in a batch`);
    },
    probe: (size) => probeCycles(redlockPath(url, ''), { ...probe, size }),
    check: async (size) =>
      heldCheck(
        'redlock',
        size,
        async (index) => (await connections[0]!.exists(heldName(index))) === 1,
      ),
    stop: async () => {
      for (const connection of connections) connection.disconnect();
      await cluster.stop();
      await clients.close();
    },
  };
}

interface ProbeContext {
  readonly probeMs: number;
  readonly bench: BenchOptions;
  readonly log: (line: string) => void;
}

/** Checks the first and the last held lock are still held; a note when one is not. */
async function heldCheck(
  name: string,
  size: number,
  isHeld: (index: number) => Promise<boolean>,
): Promise<string | undefined> {
  if (size === 0) return undefined;
  const lost = [];
  for (const index of new Set([0, size - 1])) {
    if (!(await isHeld(index).catch(() => false))) lost.push(index);
  }
  return lost.length === 0
    ? undefined
    : `${name}: held lock(s) ${lost.join(', ')} NOT held any more at ${size} held locks`;
}

const LOCK_SYSTEMS: readonly {
  name: string;
  kind: string;
  description: string;
  kv: KvSystem;
  subject: (probe: ProbeContext) => Promise<GrowthSubject>;
}[] = [
  {
    name: 'distsync',
    kind: 'lock',
    kv: distsyncSystem,
    description:
      `distsync three nodes (apps/node/dist, maxLocks raised to --growth-items + 10,000 with DISTSYNC_MAX_LOCKS); held locks taken with ` +
      `@distsync/lock-manager LockClient.acquire(name, { timeoutMs: 0 }) over transport-ws, spread over ` +
      `${LOCK_GROWTH_OWNERS} clients (one session each, TTL ${LOCK_GROWTH_TTL_MS / 1000} s, kept alive by the client), ` +
      `${LOCK_GROWTH_BATCH_SIZE} concurrent acquires per batch (the lock API has no batch acquire); probe: LockClient acquire+release`,
    subject: distsyncSubject,
  },
  {
    name: 'etcd',
    kind: 'lock',
    kv: etcdSystem,
    description:
      `etcd three nodes; held locks through the v3 lock service on the HTTP/JSON gateway (POST /v3/lock/lock, ` +
      `one key <name>/<lease> each), spread over ${LOCK_GROWTH_OWNERS} leases (TTL ${LOCK_GROWTH_TTL_MS / 1000} s, longer than the run), ` +
      `${LOCK_GROWTH_BATCH_SIZE} concurrent requests per batch; probe: /v3/lock/lock + /v3/lock/unlock with one lease per client`,
    subject: etcdSubject,
  },
  {
    name: 'redlock',
    kind: 'lock',
    kv: redisSystem,
    description:
      `Redlock on one bench-owned redis-server (appendfsync always, unreplicated); held locks: SET name token NX PX ` +
      `${LOCK_GROWTH_TTL_MS} pipelined ${LOCK_GROWTH_BATCH_SIZE} per batch over ${LOCK_GROWTH_OWNERS} connections; ` +
      'probe: SET NX PX + compare-and-delete script (ioredis)',
    subject: redlockSubject,
  },
];

/** The lock-growth charts: RSS per node and acquire+release p99 against held locks. */
export function lockGrowthCharts(results: readonly GrowthSystemResult[]): Chart[] {
  return growthCharts(results, LOCK_GROWTH_CHARTS);
}

export function runLockGrowthSuite(options: SuiteOptions): Promise<SuiteOutput> {
  const { bench, log } = options;
  const probe: ProbeContext = { probeMs: growthProbeMs(bench), bench, log };
  const wanted = (name: string): boolean =>
    bench.systems === undefined ||
    bench.systems.includes(name) ||
    (name === 'redlock' && bench.systems.includes('redis'));
  return runGrowthSuite(options, {
    suite: 'lock-growth',
    title: 'lock-growth: memory and lock latency as held locks pile up',
    systems: LOCK_SYSTEMS.filter((candidate) => wanted(candidate.name)).map((system) => ({
      name: system.name,
      description: system.description,
      kind: system.kind,
      skip: () => system.kv.unavailable(),
      launch: () => system.subject(probe),
    })),
    checkpoints: growthCheckpoints(bench.growthItems, { first: 1000 }),
    batchSize: LOCK_GROWTH_BATCH_SIZE,
    loadConcurrency: LOCK_GROWTH_LOAD_CONCURRENCY,
    charts: LOCK_GROWTH_CHARTS,
    workload: () => [
      `workload: up to ${bench.growthItems} locks held at once, each under its own name, taken in batches of ` +
        `${LOCK_GROWTH_BATCH_SIZE} (${LOCK_GROWTH_LOAD_CONCURRENCY} batches in flight) within ${bench.growthBudgetMs} ms ` +
        `per system and kept held; at each checkpoint RSS per node, then acquire+release cycles of fresh lock names ` +
        `at ${LOCK_GROWTH_PROBE_CLIENTS} closed-loop clients for ${probe.probeMs} ms` +
        quickNote(bench),
      'each system through its own lock client (distsync LockClient over WebSocket, etcd v3 lock service over its ' +
        'HTTP/JSON gateway, Redlock over ioredis): the ratios compare systems, client paths included',
      'Redis is one unreplicated node: its RSS is one copy of the locks, ours and etcd hold three (one per node, each row is per node)',
      ...buildWarnings(distsyncSystem),
    ],
  });
}
