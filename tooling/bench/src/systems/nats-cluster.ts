// A three-node NATS JetStream cluster the bench owns, for streams with replication 3 (the
// machine's shared nats-server on 4222 is one node): three `nats-server -c <conf>` processes on
// free loopback ports (a client and a cluster port each), JetStream file storage in a temp dir,
// stopped and removed after the run.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as natsConnect, type NatsConnection } from 'nats';
import { ClusterProcesses, type NodeSpec } from '../harness/cluster.js';
import { freePorts } from '../harness/ports.js';
import { waitUntil } from '../harness/wait.js';
import type { Skip } from './types.js';

export const NATS_INSTALL_COMMAND = 'apt-get update && apt-get install -y nats-server';
export const NATS_CLUSTER_NAME = 'distsync-bench';

export interface NatsNodePorts {
  readonly client: number;
  readonly cluster: number;
}

/**
 * The config file of each node: its name, loopback client and cluster listeners, JetStream
 * storage under `<rootDir>/<name>`, and routes to the other nodes' cluster ports. Pure.
 */
export function natsClusterConfigs(input: {
  rootDir: string;
  nodes: readonly NatsNodePorts[];
}): { name: string; config: string }[] {
  if (input.nodes.length < 1) throw new RangeError('a NATS cluster needs at least one node');
  return input.nodes.map((ports, index) => {
    const name = `nats${index + 1}`;
    const routes = input.nodes
      .filter((_, other) => other !== index)
      .map((other) => `    "nats-route://127.0.0.1:${other.cluster}"`);
    const config = [
      `server_name: ${name}`,
      `listen: "127.0.0.1:${ports.client}"`,
      'jetstream {',
      `  store_dir: ${JSON.stringify(ClusterProcesses.dataDir(input.rootDir, name))}`,
      '  max_memory_store: 268435456',
      '  max_file_store: 8589934592',
      '}',
      'cluster {',
      `  name: ${NATS_CLUSTER_NAME}`,
      `  listen: "127.0.0.1:${ports.cluster}"`,
      '  routes: [',
      ...routes,
      '  ]',
      '}',
      '',
    ].join('\n');
    return { name, config };
  });
}

/** Undefined when `nats-server` runs here; else why not and how to install it. */
export function natsServerUnavailable(): Skip | undefined {
  const probe = spawnSync('nats-server', ['--version'], { encoding: 'utf8', timeout: 5000 });
  if (probe.status === 0) return undefined;
  return {
    reason: `nats-server is not installed (${probe.error?.message ?? probe.stderr.trim()})`,
    installCommand: NATS_INSTALL_COMMAND,
  };
}

export interface NatsCluster {
  /** `127.0.0.1:port` of each node's client listener. */
  readonly servers: readonly string[];
  pids(): (number | undefined)[];
  /** A connection that knows every node. */
  connect(): Promise<NatsConnection>;
  stop(): Promise<void>;
}

/** Starts the three nodes and waits until JetStream answers (its meta leader is elected). */
export async function startNatsCluster(): Promise<NatsCluster> {
  const skip = natsServerUnavailable();
  if (skip !== undefined) throw new Error(`${skip.reason}; install with: ${skip.installCommand}`);
  const rootDir = ClusterProcesses.makeRoot('nats');
  const ports = await freePorts(6);
  const nodes = [0, 1, 2].map((index) => ({
    client: ports[index * 2]!,
    cluster: ports[index * 2 + 1]!,
  }));
  const specs: NodeSpec[] = natsClusterConfigs({ rootDir, nodes }).map(({ name, config }, i) => {
    mkdirSync(ClusterProcesses.dataDir(rootDir, name), { recursive: true });
    const file = join(rootDir, `${name}.conf`);
    writeFileSync(file, config);
    return {
      id: name,
      origin: `nats://127.0.0.1:${nodes[i]!.client}`,
      command: 'nats-server',
      args: ['-c', file],
    };
  });
  const processes = new ClusterProcesses({ system: 'nats', specs, rootDir });
  const servers = nodes.map((node) => `127.0.0.1:${node.client}`);
  processes.startAll();
  const connectAll = (): Promise<NatsConnection> =>
    natsConnect({ servers: [...servers], timeout: 3000 });
  try {
    await waitUntil(
      async () => {
        const nc = await connectAll();
        try {
          const jsm = await nc.jetstreamManager({ timeout: 2000 });
          await jsm.getAccountInfo();
          return true;
        } finally {
          await nc.close();
        }
      },
      { what: 'NATS JetStream cluster ready', timeoutMs: 30_000, processes: processes.running() },
    );
  } catch (error) {
    await processes.stopAll({ removeData: true });
    throw error;
  }
  return {
    servers,
    pids: () => processes.pids(),
    connect: connectAll,
    stop: () => processes.stopAll({ removeData: true }),
  };
}
