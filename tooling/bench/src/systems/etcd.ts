// The peer: a three-node etcd cluster (Debian's etcd-server) on free loopback ports and temp
// data dirs, reached through etcd's HTTP/JSON gRPC gateway (`/v3/kv/put`, `/v3/kv/range`) over
// the same keep-alive HTTP client as ours, so both pay the same client path.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { ClusterProcesses, type NodeSpec } from '../harness/cluster.js';
import { freePorts } from '../harness/ports.js';
import { waitUntil } from '../harness/wait.js';
import { BenchError } from '../errors.js';
import { Etcd3 } from 'etcd3';
import { ProcessKvCluster } from './process-cluster.js';
import type { KvClientPath, KvCluster, KvSystem, LaunchOptions, Skip } from './types.js';

export const ETCD_INSTALL_COMMAND = 'apt-get update && apt-get install -y etcd-server etcd-client';

/** etcd's defaults, kept: users get them, and the table says so. */
export const ETCD_HEARTBEAT_MS = 100;
export const ETCD_ELECTION_MS = 1000;

const base64 = (text: string): string => Buffer.from(text).toString('base64');

function etcdSpecs(options: { rootDir: string; ports: readonly number[] }): NodeSpec[] {
  const ids = ['e1', 'e2', 'e3'];
  const clientPort = (index: number): number => options.ports[index * 2]!;
  const peerPort = (index: number): number => options.ports[index * 2 + 1]!;
  const initialCluster = ids
    .map((id, index) => `${id}=http://127.0.0.1:${peerPort(index)}`)
    .join(',');
  const token = `distsync-bench-${randomBytes(4).toString('hex')}`;
  return ids.map((id, index) => {
    const client = `http://127.0.0.1:${clientPort(index)}`;
    const peer = `http://127.0.0.1:${peerPort(index)}`;
    return {
      id,
      origin: client,
      command: 'etcd',
      args: [
        ...['--name', id, '--data-dir', ClusterProcesses.dataDir(options.rootDir, id)],
        ...['--listen-client-urls', client, '--advertise-client-urls', client],
        ...['--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer],
        ...['--initial-cluster', initialCluster, '--initial-cluster-state', 'new'],
        ...['--initial-cluster-token', token],
        ...['--heartbeat-interval', String(ETCD_HEARTBEAT_MS)],
        ...['--election-timeout', String(ETCD_ELECTION_MS)],
        ...['--logger', 'zap', '--log-outputs', 'stderr', '--log-level', 'warn'],
      ],
    };
  });
}

class EtcdCluster extends ProcessKvCluster {
  async #post(node: number, path: string, body: unknown, timeoutMs?: number): Promise<unknown> {
    const origin = this.origin(node);
    const response = await this.clients.request({
      origin,
      method: 'POST',
      path,
      body: JSON.stringify(body),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    });
    if (response.status !== 200) {
      throw new BenchError(
        'REQUEST_FAILED',
        `etcd ${path} on node ${node}: HTTP ${response.status} ${response.body.slice(0, 200)}`,
      );
    }
    return JSON.parse(response.body) as unknown;
  }

  async put(request: { node: number; key: string; value: string; timeoutMs?: number }) {
    const body = { key: base64(request.key), value: base64(request.value) };
    await this.#post(request.node, '/v3/kv/put', body, request.timeoutMs);
  }

  /** One txn of puts (etcd allows 128 operations per txn by default; callers send fewer). */
  async putMany(entries: readonly { key: string; value: string }[]): Promise<void> {
    if (entries.length === 0) return;
    const success = entries.map(({ key, value }) => ({
      request_put: { key: base64(key), value: base64(value) },
    }));
    await this.#post(this.#nextNode(), '/v3/kv/txn', { success });
  }

  #turn = 0;
  #nextNode(): number {
    this.#turn = (this.#turn + 1) % this.nodeCount;
    return this.#turn;
  }

  async get(request: { node: number; key: string }): Promise<string | undefined> {
    // serializable: false (the default) is etcd's linearizable read (ReadIndex).
    const body = { key: base64(request.key), serializable: false };
    const result = (await this.#post(request.node, '/v3/kv/range', body)) as {
      kvs?: { value?: string }[];
    };
    const value = result.kvs?.[0]?.value;
    return value === undefined ? undefined : Buffer.from(value, 'base64').toString();
  }

  /**
   * etcd's native path: the `etcd3` npm client (gRPC over HTTP/2, protobuf), one client per
   * node, clients spread over them as over HTTP; requests are multiplexed over each channel.
   */
  openOtherPaths(): Promise<KvClientPath[]> {
    const hosts = this.processes.specs.map((spec) => spec.origin);
    return Promise.resolve([grpcPath(hosts.map((host) => new Etcd3({ hosts: host })))]);
  }

  async #status(node: number): Promise<{ member: string; leader: string }> {
    const status = (await this.#post(node, '/v3/maintenance/status', {}, 1000)) as {
      header?: { member_id?: string };
      leader?: string;
    };
    return { member: status.header?.member_id ?? '', leader: status.leader ?? '0' };
  }

  async leader(): Promise<number | undefined> {
    const statuses = await Promise.all(
      this.processes.specs.map(async (_, index) =>
        this.processes.alive(index) ? this.#status(index).catch(() => undefined) : undefined,
      ),
    );
    const leaderId = statuses.find((status) => status !== undefined)?.leader;
    const index = statuses.findIndex((status) => status?.member === leaderId);
    return index < 0 ? undefined : index;
  }

  async waitReady(timeoutMs: number): Promise<void> {
    await waitUntil(
      async () => {
        const alive = this.processes.specs.map((_, index) => index);
        const healthy = await Promise.all(
          alive
            .filter((index) => this.processes.alive(index))
            .map(async (index) => {
              const response = await this.clients.request({
                origin: this.processes.specs[index]!.origin,
                method: 'GET',
                path: '/health',
                timeoutMs: 1000,
              });
              return response.status === 200 && response.body.includes('"true"');
            }),
        );
        return healthy.every(Boolean) && (await this.leader()) !== undefined;
      },
      { what: 'etcd cluster healthy', timeoutMs, processes: this.processes.running() },
    );
  }
}

function grpcPath(clients: readonly Etcd3[]): KvClientPath {
  const pick = (client: number): Etcd3 => clients[client % clients.length]!;
  return {
    name: 'etcd-grpc',
    kind: 'native',
    description:
      'the same etcd cluster through the `etcd3` npm client (gRPC over HTTP/2, one channel per ' +
      'node): put, and get with the default linearizable range',
    async put(request) {
      await pick(request.client).put(request.key).value(request.value);
    },
    async get(request) {
      return (await pick(request.client).get(request.key).string()) ?? undefined;
    },
    close() {
      for (const client of clients) client.close();
      return Promise.resolve();
    },
  };
}

export const etcdSystem: KvSystem = {
  name: 'etcd',
  description:
    `etcd three nodes, defaults (heartbeat ${ETCD_HEARTBEAT_MS} ms, election timeout ${ETCD_ELECTION_MS} ms drawn in [1x, 2x), ` +
    'fsync per commit); client: HTTP/1.1 keep-alive JSON to the gRPC gateway ' +
    '(/v3/kv/put, /v3/kv/range serializable=false), values base64 in JSON',
  unavailable(): Skip | undefined {
    const probe = spawnSync('etcd', ['--version'], { encoding: 'utf8', timeout: 5000 });
    if (probe.error === undefined && probe.status === 0) return undefined;
    return { reason: 'no `etcd` binary on PATH', installCommand: ETCD_INSTALL_COMMAND };
  },
  async launch(options: LaunchOptions): Promise<KvCluster> {
    const rootDir = ClusterProcesses.makeRoot('etcd');
    const specs = etcdSpecs({ rootDir, ports: await freePorts(6) });
    const processes = new ClusterProcesses({ system: 'etcd', specs, rootDir });
    processes.startAll();
    return new EtcdCluster(processes, options.clients);
  },
};
