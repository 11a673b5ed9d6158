// cache as a node service: the coherence directory (`cache` state machine), this node's cache
// (holder `node:<id>`, registered through the directory with the node's own operations), the
// REST routes of DESIGN.md "REST API v1", /client operations for CacheClient and near caches,
// status and metrics. Near caches hear their invalidations on `cache/session/<sessionId>`.
import {
  CacheError,
  createCacheDirectory,
  DirectoryQuerySchema,
  JsonValueSchema,
  MemoryStore,
  NodeCache,
  NodeCommandSchema,
  NodeQuerySchema,
  RedisStore,
  SessionHolderCommandSchema,
  TtlMsSchema,
  type BackingStore,
  type CacheDirectory,
  type DirectoryCommand,
  type DirectoryPort,
  type DirectoryQuery,
  type EntryView,
  type NodeCommand,
  type NodeQuery,
} from '@distsync/cache-mesi';
import { Gauge, type Registry } from 'prom-client';
import { z } from 'zod';
import { apiError, type NodeErrorCode, type OperationResult } from '../errors.js';
import type {
  RouteSpec,
  ServiceContext,
  ServiceDefinition,
  ServiceOperations,
  ServiceRuntime,
  SessionDirectory,
} from './registry.js';

export interface CacheServiceOptions {
  readonly sessions: SessionDirectory;
  /** This node's cache: lines at most. */
  readonly maxEntries: number;
  /** This node's cache: value bytes at most. */
  readonly maxBytes: number;
  /** The backing store; the node's own memory store when absent. */
  readonly redisUrl?: string | undefined;
  readonly redisKeyPrefix: string;
  /** The directory's read lease (the same on every node). Default 2000. */
  readonly readLeaseMs?: number;
}

const VersionSchema = z.number().int().min(0).meta({
  description: 'The Raft index of the write that produced the value.',
});
const StateSchema = z.enum(['M', 'E', 'S', 'I']);

export const CachePutBodySchema = z.strictObject({
  value: JsonValueSchema,
  ttlMs: TtlMsSchema.optional(),
});

const nodeOps = new Set(['set', 'delete', 'setMany', 'get', 'getMany', 'states', 'stats']);

function key(params: Readonly<Record<string, string>>): string {
  return params.key ?? '';
}

function cacheRoutes(): RouteSpec[] {
  return [
    {
      method: 'get',
      path: '/v1/cache/stats',
      summary: "This node's cache statistics (hits, misses, invalidations, write-backs, states)",
      response: z.record(z.string(), z.unknown()),
      errors: [],
      handle: ({ operations }) => operations.query({ op: 'stats' }),
    },
    {
      method: 'get',
      path: '/v1/cache/{key}',
      summary: "Read a key through this node's cache (a hit in M, E or S costs no network)",
      response: z.object({ value: JsonValueSchema, state: StateSchema, version: VersionSchema }),
      errors: ['NOT_FOUND', 'STORE_UNAVAILABLE', 'TIMEOUT'],
      handle: async ({ params, operations }) => {
        const result = await operations.query({ op: 'get', key: key(params) });
        if (!result.ok) return result;
        const read = result.value as {
          found: boolean;
          value?: unknown;
          state: string;
          version: number;
        };
        return read.found
          ? { ok: true, value: { value: read.value, state: read.state, version: read.version } }
          : apiError('NOT_FOUND', `no key ${key(params)}`);
      },
    },
    {
      method: 'put',
      path: '/v1/cache/{key}',
      summary: 'Write a key; answered once every other cached copy is invalidated',
      body: CachePutBodySchema,
      response: z.object({ version: VersionSchema }),
      errors: ['TOO_LARGE', 'LIMIT_REACHED', 'TIMEOUT'],
      handle: ({ params, body, operations }) => {
        const { value, ttlMs } = body as z.infer<typeof CachePutBodySchema>;
        return operations.command({
          op: 'set',
          key: key(params),
          value,
          ...(ttlMs === undefined ? {} : { ttlMs }),
        });
      },
    },
    {
      method: 'delete',
      path: '/v1/cache/{key}',
      summary: 'Delete a key (every cached copy is invalidated first)',
      response: z.object({ deleted: z.boolean(), version: VersionSchema }),
      errors: ['LIMIT_REACHED', 'TIMEOUT'],
      handle: ({ params, operations }) => operations.command({ op: 'delete', key: key(params) }),
    },
    {
      method: 'get',
      path: '/v1/cache/{key}/states',
      summary: "Each node's (and near cache's) MESI state for a key, from the directory",
      response: z.object({
        key: z.string(),
        version: VersionSchema,
        nodes: z.array(z.object({ id: z.string(), state: StateSchema, version: VersionSchema })),
      }),
      errors: [],
      handle: ({ params, operations }) => operations.query({ op: 'states', key: key(params) }),
    },
  ];
}

function cacheCode(error: unknown): NodeErrorCode {
  if (!(error instanceof CacheError)) return 'INTERNAL';
  switch (error.code) {
    case 'INVALID_OPTION':
      return 'BAD_REQUEST';
    case 'BAD_REQUEST':
    case 'NOT_FOUND':
    case 'TOO_LARGE':
    case 'LIMIT_REACHED':
    case 'STORE_UNAVAILABLE':
    case 'TIMEOUT':
    case 'UNAVAILABLE':
      return error.code;
  }
}

async function attempt(run: () => Promise<unknown>): Promise<OperationResult> {
  try {
    return { ok: true, value: await run() };
  } catch (error) {
    return apiError(cacheCode(error), error instanceof Error ? error.message : String(error));
  }
}

/** The node's plain Raft operations as the DirectoryPort a NodeCache talks to. */
function directoryPort(operations: ServiceOperations): DirectoryPort {
  const unwrap = (result: OperationResult): unknown => {
    if (result.ok) return result.value;
    throw Object.assign(new Error(result.error.message), { code: result.error.code });
  };
  return {
    command: async (payload: DirectoryCommand) => unwrap(await operations.command(payload)),
    query: async (payload: DirectoryQuery) => unwrap(await operations.query(payload)),
  };
}

function statesOf(input: {
  key: string;
  entry: EntryView | undefined;
  members: readonly string[];
}): { key: string; version: number; nodes: { id: string; state: string; version: number }[] } {
  const { key: name, entry, members } = input;
  const held = new Map((entry?.holders ?? []).map((line) => [line.holder, line.state]));
  const version = entry?.version ?? 0;
  const nodes = members.map((id) => ({ id, state: held.get(`node:${id}`) ?? 'I', version }));
  for (const [holder, state] of held) {
    if (holder.startsWith('session:')) nodes.push({ id: holder, state, version });
  }
  return { key: name, version, nodes };
}

interface Started {
  readonly cache: NodeCache;
  readonly store: BackingStore;
  readonly context: ServiceContext;
  readonly redis: boolean;
}

function runtimeOf(machine: CacheDirectory, started: Started): ServiceRuntime {
  const { cache, context } = started;
  const membersOf = (): string[] => {
    const membership = context.raft.status().membership as unknown as {
      voters?: readonly string[];
      learners?: readonly string[];
    };
    const members = [...(membership.voters ?? []), ...(membership.learners ?? [])];
    return members.length > 0 ? members : [context.nodeId];
  };
  const nodeCommand = (command: NodeCommand): Promise<OperationResult> => {
    switch (command.op) {
      case 'set':
        return attempt(() =>
          cache.set(
            command.key,
            command.value,
            command.ttlMs === undefined ? {} : { ttlMs: command.ttlMs },
          ),
        );
      case 'delete':
        return attempt(() => cache.delete(command.key));
      case 'setMany':
        return attempt(() =>
          cache.setMany(
            command.entries.map((entry) =>
              entry.ttlMs === undefined
                ? { key: entry.key, value: entry.value }
                : { key: entry.key, value: entry.value, ttlMs: entry.ttlMs },
            ),
          ),
        );
    }
  };
  const nodeQuery = async (request: NodeQuery): Promise<OperationResult> => {
    switch (request.op) {
      case 'get':
        return attempt(() => cache.get(request.key));
      case 'getMany':
        return attempt(async () => ({ items: await cache.getMany(request.keys) }));
      case 'states': {
        const result = await context.operations.query({ op: 'entry', key: request.key });
        const entry = result.ok ? (result.value as EntryView) : undefined;
        if (!result.ok && result.error.code !== 'NOT_FOUND') return result;
        return { ok: true, value: statesOf({ key: request.key, entry, members: membersOf() }) };
      }
      case 'stats':
        return { ok: true, value: statusOf(machine, started) };
    }
  };
  return {
    operations: {
      command: (payload, session) => {
        const op = (payload as { op?: unknown } | null)?.op;
        if (typeof op === 'string' && nodeOps.has(op)) {
          const parsed = NodeCommandSchema.safeParse(payload);
          if (!parsed.success)
            return Promise.resolve(apiError('BAD_REQUEST', parsed.error.message));
          return nodeCommand(parsed.data);
        }
        return context.operations.command(payload, session);
      },
      query: (payload) => {
        const op = (payload as { op?: unknown } | null)?.op;
        if (typeof op === 'string' && nodeOps.has(op)) {
          const parsed = NodeQuerySchema.safeParse(payload);
          if (!parsed.success)
            return Promise.resolve(apiError('BAD_REQUEST', parsed.error.message));
          return nodeQuery(parsed.data);
        }
        return context.operations.query(payload);
      },
    },
    status: () => statusOf(machine, started),
    stop: async () => {
      await cache.stop({ flush: true, timeoutMs: 3000 });
      await started.store.close?.();
    },
  };
}

function statusOf(machine: CacheDirectory, started: Started): unknown {
  const stats = started.cache.stats();
  return {
    ...stats,
    backingStore: {
      kind: started.redis ? 'redis' : 'memory',
      ...stats.store,
      ...(started.store instanceof RedisStore
        ? { connection: started.store.connectionStatus }
        : {}),
    },
    directory: {
      keys: machine.size(),
      holders: machine.holderCount(),
      dirty: machine.dirtyCount(),
    },
    readLeaseMs: machine.limits.readLeaseMs,
    clockDriftMax: machine.limits.clockDriftMax,
  };
}

function registerCacheMetrics(registry: Registry, cacheOf: () => NodeCache | undefined): void {
  const counters: [string, string, (stats: ReturnType<NodeCache['stats']>) => number][] = [
    ['distsync_cache_hits', "Reads this node's cache served from memory", (s) => s.hits],
    ['distsync_cache_misses', 'Reads that went to the directory', (s) => s.misses],
    [
      'distsync_cache_invalidations_sent',
      'Copies invalidated by writes through this node',
      (s) => s.invalidationsSent,
    ],
    [
      'distsync_cache_invalidations_received',
      "Copies of this node's cache invalidated",
      (s) => s.invalidationsReceived,
    ],
    [
      'distsync_cache_write_backs',
      'Values written back to the backing store by this node',
      (s) => s.writeBacks,
    ],
    [
      'distsync_cache_write_back_failures',
      'Write-back batches the backing store refused',
      (s) => s.writeBackFailures,
    ],
    ['distsync_cache_evictions', "Lines this node's LRU evicted", (s) => s.evictions],
    [
      'distsync_cache_store_healthy',
      'The backing store took the last write-back (1) or not (0)',
      (s) => (s.store.healthy ? 1 : 0),
    ],
  ];
  for (const [name, help, read] of counters) {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const cache = cacheOf();
        if (cache !== undefined) this.set(read(cache.stats()));
      },
    });
  }
  new Gauge({
    name: 'distsync_cache_lines',
    help: "Lines in this node's cache by MESI state",
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const cache = cacheOf();
      if (cache === undefined) return;
      const { lines } = cache.stats();
      for (const state of ['M', 'E', 'S'] as const) this.set({ state }, lines[state]);
    },
  });
}

export function cacheService(options: CacheServiceOptions): ServiceDefinition {
  const machine = createCacheDirectory({
    sessions: options.sessions,
    ...(options.readLeaseMs === undefined ? {} : { readLeaseMs: options.readLeaseMs }),
  });
  let started: Started | undefined;
  return {
    name: 'cache',
    stateMachine: machine,
    clientCommandSchema: z.union([NodeCommandSchema, SessionHolderCommandSchema]),
    clientQuerySchema: z.union([NodeQuerySchema, DirectoryQuerySchema]),
    routes: cacheRoutes(),
    registerMetrics: (registry) => {
      registerCacheMetrics(registry, () => started?.cache);
    },
    start: (context) => {
      const redis = options.redisUrl !== undefined;
      const store: BackingStore = redis
        ? new RedisStore({ url: options.redisUrl ?? '', keyPrefix: options.redisKeyPrefix })
        : new MemoryStore();
      const cache = new NodeCache({
        holder: `node:${context.nodeId}`,
        directory: directoryPort(context.operations),
        store,
        maxEntries: options.maxEntries,
        maxBytes: options.maxBytes,
        readLeaseMs: machine.limits.readLeaseMs,
        clockDriftMax: machine.limits.clockDriftMax,
        // Write-behind runs from committed state on the leader (any node could; one is enough).
        writeBack: { enabled: () => context.raft.status().role === 'leader' },
        // Read leases run on the node's clock (a fault-injecting one in tests).
        ...(context.clock === undefined ? {} : { scheduler: context.clock }),
      });
      machine.onEvent((event) => {
        if (event.type === 'settled') {
          cache.handleEvent(event);
          return;
        }
        if (event.holder === cache.holder) {
          cache.handleEvent(event);
        } else if (event.holder.startsWith('session:')) {
          context.publish(`cache/session/${event.holder.slice('session:'.length)}`, event);
        }
      });
      cache.start();
      started = { cache, store, context, redis };
      return runtimeOf(machine, started);
    },
  };
}
