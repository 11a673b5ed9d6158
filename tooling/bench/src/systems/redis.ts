// The Redis peer: one bench-owned `redis-server` on a free loopback port with a temp data dir
// (never the machine's shared Redis), reached through ioredis. Redis is a single, unreplicated
// node: it is what people use for a fast shared map, not a consensus store, and the tables say
// so. For the closest durability to a Raft commit it runs with `appendonly yes` and
// `appendfsync always` (a write is in the fsynced AOF before its reply).
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { Redis } from 'ioredis';
import { ClusterProcesses, type NodeSpec } from '../harness/cluster.js';
import type { HttpClients } from '../harness/http.js';
import { freePorts } from '../harness/ports.js';
import { waitUntil } from '../harness/wait.js';
import { ProcessKvCluster } from './process-cluster.js';
import type { KvClientPath, KvCluster, KvSystem, LaunchOptions, Skip } from './types.js';

export const REDIS_INSTALL_COMMAND = 'apt-get update && apt-get install -y redis-server';

/** Connections the load spreads over (as distsync-ws has one per node). */
export const REDIS_CONNECTIONS = 3;

function redisSpec(options: { rootDir: string; port: number }): NodeSpec {
  return {
    id: 'r1',
    origin: `redis://127.0.0.1:${options.port}`,
    command: 'redis-server',
    args: [
      ...['--port', String(options.port), '--bind', '127.0.0.1'],
      ...['--dir', ClusterProcesses.dataDir(options.rootDir, 'r1')],
      ...['--appendonly', 'yes', '--appendfsync', 'always', '--save', ''],
      ...['--daemonize', 'no', '--protected-mode', 'yes', '--loglevel', 'warning'],
    ],
  };
}

const withTimeout = async <T>(promise: Promise<T>, timeoutMs: number | undefined): Promise<T> => {
  if (timeoutMs === undefined) return promise;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          reject(new Error(`no answer within ${timeoutMs} ms`));
        }, timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
};

class RedisKvCluster extends ProcessKvCluster {
  override readonly nodeCount: number = 1;
  #connections: Redis[];
  readonly #port: number;

  constructor(options: { processes: ClusterProcesses; clients: HttpClients; port: number }) {
    super(options.processes, options.clients);
    this.#port = options.port;
    this.#connections = RedisKvCluster.#open(options.port);
  }

  static #open(port: number): Redis[] {
    return Array.from({ length: REDIS_CONNECTIONS }, () => {
      const connection = new Redis({
        host: '127.0.0.1',
        port,
        // Reconnect every 20 ms while the server starts: first-write timing stays precise.
        retryStrategy: () => 20,
        maxRetriesPerRequest: 50,
        lazyConnect: false,
      });
      // Refused connects while the server starts (or after a kill) are retried; the commands
      // waiting on them fail on their own, so the connection's error events need no handling.
      connection.on('error', () => undefined);
      return connection;
    });
  }

  #connection(client: number): Redis {
    return this.#connections[client % this.#connections.length]!;
  }

  async put(request: { node: number; key: string; value: string; timeoutMs?: number }) {
    await withTimeout(
      this.#connection(request.node).set(request.key, request.value),
      request.timeoutMs,
    );
  }

  async putMany(entries: readonly { key: string; value: string }[]): Promise<void> {
    if (entries.length === 0) return;
    await this.#connection(0).mset(entries.flatMap(({ key, value }) => [key, value]));
  }

  async get(request: { node: number; key: string }): Promise<string | undefined> {
    return (await this.#connection(request.node).get(request.key)) ?? undefined;
  }

  leader(): Promise<number | undefined> {
    return Promise.resolve(this.processes.alive(0) ? 0 : undefined);
  }

  async waitReady(timeoutMs: number): Promise<void> {
    await waitUntil(
      async () => {
        await this.#connection(0).ping();
        return true;
      },
      {
        what: 'redis-server ready',
        timeoutMs,
        processes: this.processes.running(),
      },
    );
  }

  /** Redis has one client path (its own protocol), already the main one. */
  openOtherPaths(): Promise<KvClientPath[]> {
    return Promise.resolve([]);
  }

  override async kill(node: number): Promise<void> {
    await this.processes.kill(node);
  }

  override async stop(): Promise<void> {
    for (const connection of this.#connections) connection.disconnect();
    this.#connections = [];
    await super.stop();
  }

  /** The port, for tests and notes. */
  get port(): number {
    return this.#port;
  }
}

export function redisVersion(): string | undefined {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8', timeout: 5000 });
  if (probe.error !== undefined || probe.status !== 0) return undefined;
  return /v=(\S+)/.exec(probe.stdout)?.[1] ?? probe.stdout.trim();
}

export const redisSystem: KvSystem = {
  name: 'redis',
  kind: 'native',
  description:
    'Redis, ONE unreplicated node (no failover, no quorum: not a like-for-like peer of a ' +
    'three-node consensus store), bench-owned `redis-server` on a free port, appendonly yes, ' +
    'appendfsync always (fsync before the reply); client: ioredis, 3 connections, SET and GET',
  unavailable(): Skip | undefined {
    if (redisVersion() !== undefined) return undefined;
    return { reason: 'no `redis-server` binary on PATH', installCommand: REDIS_INSTALL_COMMAND };
  },
  async launch(options: LaunchOptions): Promise<KvCluster> {
    const rootDir = ClusterProcesses.makeRoot('redis');
    const [port] = await freePorts(1);
    if (port === undefined) throw new Error('no free port for redis-server');
    mkdirSync(ClusterProcesses.dataDir(rootDir, 'r1'), { recursive: true });
    const processes = new ClusterProcesses({
      system: 'redis',
      specs: [redisSpec({ rootDir, port })],
      rootDir,
    });
    processes.startAll();
    return new RedisKvCluster({ processes, clients: options.clients, port });
  },
};
