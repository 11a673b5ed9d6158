// Ours: three `distsync node` processes from the built CLI (apps/node/dist/cli.js) with
// FileStorage data dirs in a temp folder, reached through the REST API v1 over the same
// keep-alive HTTP client as the peers.
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClusterProcesses, type NodeSpec } from '../harness/cluster.js';
import { freePorts } from '../harness/ports.js';
import { waitUntil } from '../harness/wait.js';
import { BenchError } from '../errors.js';
import { connect, type ClusterConnection } from '@distsync/transport-ws';
import { ProcessKvCluster } from './process-cluster.js';
import type { KvClientPath, KvCluster, KvSystem, LaunchOptions, Skip } from './types.js';

export const DISTSYNC_BUILD_COMMAND = 'pnpm --filter @distsync/node... build';

/** The workspace root: the nearest folder above this file that holds pnpm-workspace.yaml. */
export function workspaceRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (let depth = 0; depth < 10; depth += 1) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new BenchError('BAD_OPTION', `no pnpm-workspace.yaml above ${from}`);
}

function cliPath(): string {
  return join(workspaceRoot(), 'apps', 'node', 'dist', 'cli.js');
}

/** The newest modification time of the non-test .ts files under `dir`, in ms. */
function newestSourceMs(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    if (!entry.endsWith('.ts') || entry.endsWith('.test.ts')) continue;
    newest = Math.max(newest, statSync(join(dir, entry)).mtimeMs);
  }
  return newest;
}

/** Sources of the node and the packages it runs that changed after apps/node was built. */
export function staleBuildWarnings(): string[] {
  const root = workspaceRoot();
  const builtMs = statSync(cliPath()).mtimeMs;
  const sources = ['apps/node/src', 'packages/raft/src', 'packages/transport-ws/src'];
  return sources
    .filter((dir) => existsSync(join(root, dir)) && newestSourceMs(join(root, dir)) > builtMs)
    .map(
      (dir) => `${dir} changed after apps/node/dist was built: run \`${DISTSYNC_BUILD_COMMAND}\``,
    );
}

/** The node's default limit of kv keys; kv-growth raises it with DISTSYNC_MAX_KEYS. */
export const DISTSYNC_DEFAULT_MAX_KEYS = 1_000_000;
/** The node's default limit of locks; lock-growth raises it with DISTSYNC_MAX_LOCKS. */
export const DISTSYNC_DEFAULT_MAX_LOCKS = 100_000;

function distsyncSpecs(options: {
  rootDir: string;
  ports: readonly number[];
  maxKeys?: number;
  maxLocks?: number;
}): NodeSpec[] {
  const ids = ['n1', 'n2', 'n3'];
  const secret = randomBytes(24).toString('hex');
  const address = (index: number): string => `127.0.0.1:${options.ports[index]!}`;
  return ids.map((id, index) => ({
    id,
    origin: `http://${address(index)}`,
    command: process.execPath,
    args: [
      cliPath(),
      'node',
      ...['--id', id, '--port', String(options.ports[index]!)],
      ...[
        '--peers',
        ids
          .map((peer, peerIndex) => `${peer}=${address(peerIndex)}`)
          .filter((_, peerIndex) => peerIndex !== index)
          .join(','),
      ],
      ...['--data-dir', ClusterProcesses.dataDir(options.rootDir, id)],
      ...['--cluster-id', 'distsync-bench', '--secret', secret],
      ...['--log-level', 'warn', '--log-format', 'json'],
    ],
    env: {
      ...process.env,
      NODE_ENV: 'production',
      ...(options.maxKeys === undefined || options.maxKeys <= DISTSYNC_DEFAULT_MAX_KEYS
        ? {}
        : { DISTSYNC_MAX_KEYS: String(options.maxKeys) }),
      ...(options.maxLocks === undefined || options.maxLocks <= DISTSYNC_DEFAULT_MAX_LOCKS
        ? {}
        : { DISTSYNC_MAX_LOCKS: String(options.maxLocks) }),
    },
  }));
}

class DistsyncCluster extends ProcessKvCluster {
  async put(request: { node: number; key: string; value: string; timeoutMs?: number }) {
    const response = await this.clients.request({
      origin: this.origin(request.node),
      method: 'PUT',
      path: `/v1/kv/${encodeURIComponent(request.key)}`,
      body: JSON.stringify({ value: request.value }),
      ...(request.timeoutMs === undefined ? {} : { timeoutMs: request.timeoutMs }),
    });
    if (response.status !== 200) {
      throw new BenchError(
        'REQUEST_FAILED',
        `PUT on node ${request.node + 1}: HTTP ${response.status} ${response.body.slice(0, 200)}`,
      );
    }
  }

  #loader: Promise<ClusterConnection[]> | undefined;

  /**
   * Concurrent single puts (the kv API has no batch write) over WebSocket connections opened
   * for loading, one per node, requests multiplexed: the cheapest path to load many keys.
   */
  async putMany(entries: readonly { key: string; value: string }[]): Promise<void> {
    this.#loader ??= this.#connectAll();
    const connections = await this.#loader;
    await Promise.all(
      entries.map(({ key, value }, index) =>
        connections[index % connections.length]!.command('kv', { op: 'put', key, value }),
      ),
    );
  }

  #connectAll(): Promise<ClusterConnection[]> {
    const endpoints = this.processes.specs.map((spec) => spec.origin.replace(/^http:/, 'ws:'));
    return Promise.all(
      endpoints.map((_, index) =>
        connect([...endpoints.slice(index), ...endpoints.slice(0, index)], {
          maxPendingRequests: 4096,
        }),
      ),
    );
  }

  override async stop(): Promise<void> {
    const loader = this.#loader;
    this.#loader = undefined;
    if (loader !== undefined) {
      const connections = await loader.catch(() => [] as ClusterConnection[]);
      await Promise.all(connections.map((connection) => connection.close()));
    }
    await super.stop();
  }

  async get(request: { node: number; key: string }): Promise<string | undefined> {
    const response = await this.clients.request({
      origin: this.origin(request.node),
      method: 'GET',
      path: `/v1/kv/${encodeURIComponent(request.key)}`,
    });
    if (response.status === 404) return undefined;
    if (response.status !== 200) {
      throw new BenchError(
        'REQUEST_FAILED',
        `GET on node ${request.node + 1}: HTTP ${response.status} ${response.body.slice(0, 200)}`,
      );
    }
    const parsed = JSON.parse(response.body) as { value?: unknown };
    return typeof parsed.value === 'string' ? parsed.value : JSON.stringify(parsed.value);
  }

  /**
   * The WebSocket client path: one `connect()` per node given that node as its first endpoint
   * (the client follows NOT_LEADER redirects itself), clients spread over them as over HTTP;
   * requests are multiplexed over each connection.
   */
  async openOtherPaths(): Promise<KvClientPath[]> {
    return [wsPath(await this.#connectAll())];
  }

  async #status(node: number): Promise<{ id?: string; role?: string; leader?: string | null }> {
    const response = await this.clients.request({
      origin: this.origin(node),
      method: 'GET',
      path: '/status',
      timeoutMs: 1000,
    });
    if (response.status !== 200)
      throw new BenchError('REQUEST_FAILED', `/status: HTTP ${response.status}`);
    return JSON.parse(response.body) as { id?: string; role?: string; leader?: string | null };
  }

  async leader(): Promise<number | undefined> {
    const statuses = await Promise.all(
      this.processes.specs.map(async (_, index) =>
        this.processes.alive(index) ? this.#status(index).catch(() => undefined) : undefined,
      ),
    );
    const index = statuses.findIndex((status) => status?.role === 'leader');
    return index < 0 ? undefined : index;
  }

  async waitReady(timeoutMs: number): Promise<void> {
    await waitUntil(
      async () => {
        const running = this.processes.specs
          .map((_, index) => index)
          .filter((index) => this.processes.alive(index));
        const ready = await Promise.all(
          running.map(async (index) => {
            const response = await this.clients.request({
              origin: this.origin(index),
              method: 'GET',
              path: '/ready',
              timeoutMs: 1000,
            });
            return response.status === 200;
          }),
        );
        return ready.every(Boolean) && (await this.leader()) !== undefined;
      },
      { what: 'distsync cluster ready', timeoutMs, processes: this.processes.running() },
    );
  }
}

function wsPath(connections: readonly ClusterConnection[]): KvClientPath {
  const pick = (client: number): ClusterConnection => connections[client % connections.length]!;
  return {
    name: 'distsync-ws',
    kind: 'native',
    description:
      'the same distsync cluster through @distsync/transport-ws `connect()` (WebSocket, ' +
      'msgpack frames, requests multiplexed over one connection per node): kv command put, ' +
      'kv query get (linearizable)',
    async put(request) {
      await pick(request.client).command('kv', {
        op: 'put',
        key: request.key,
        value: request.value,
      });
    },
    async get(request) {
      const result = (await pick(request.client).query('kv', { op: 'get', key: request.key })) as {
        value?: unknown;
      } | null;
      const value = result?.value;
      return value === undefined
        ? undefined
        : typeof value === 'string'
          ? value
          : JSON.stringify(value);
    },
    async close() {
      await Promise.all(connections.map((connection) => connection.close()));
    },
  };
}

export const distsyncSystem: KvSystem = {
  name: 'distsync',
  description:
    'distsync three nodes from apps/node/dist/cli.js, defaults (tick 50 ms, election timeout 10 ticks drawn in [10, 20): 500-1000 ms), ' +
    'FileStorage (fdatasync before acknowledging); client: HTTP/1.1 keep-alive JSON to the ' +
    'REST API v1 (PUT and GET /v1/kv/{key}, GET linearizable)',
  unavailable(): Skip | undefined {
    if (existsSync(cliPath())) return undefined;
    return { reason: `${cliPath()} is not built`, installCommand: DISTSYNC_BUILD_COMMAND };
  },
  warnings: staleBuildWarnings,
  async launch(options: LaunchOptions): Promise<KvCluster> {
    const rootDir = ClusterProcesses.makeRoot('distsync');
    const specs = distsyncSpecs({
      rootDir,
      ports: await freePorts(3),
      ...(options.maxKeys === undefined ? {} : { maxKeys: options.maxKeys }),
      ...(options.maxLocks === undefined ? {} : { maxLocks: options.maxLocks }),
    });
    const processes = new ClusterProcesses({ system: 'distsync', specs, rootDir });
    processes.startAll();
    return new DistsyncCluster(processes, options.clients);
  },
};
