// An in-process cluster of RaftNodes over the in-memory network: the quickest way to run a state
// machine through real consensus in a test, an example or a benchmark.
import { MemoryStorage } from '../core/memory-storage.js';
import type { LogStorage } from '../core/types.js';
import type { NodeId } from '../messages.js';
import { RaftNode } from '../node/raft-node.js';
import type { RaftNodeInit } from '../node/raft-node.js';
import type { AnyStateMachine } from '../node/registry.js';
import { createMemoryNetwork } from './memory-network.js';
import type { MemoryNetwork } from './memory-network.js';

export interface MemoryClusterOptions {
  /** Node ids; default `['n1', 'n2', 'n3']`. */
  readonly ids?: readonly NodeId[];
  /** A fresh set of state machines per node (replicas must not share objects). */
  readonly stateMachines: (id: NodeId) => readonly AnyStateMachine[];
  /** Storage per node; default a new `MemoryStorage`. */
  readonly storage?: (id: NodeId) => LogStorage;
  /** Default 10 ms: elections within about 100-200 ms of real time. */
  readonly tickIntervalMs?: number;
  /** Everything else RaftNode takes, applied to every node. */
  readonly node?: Partial<
    Omit<RaftNodeInit, 'id' | 'peers' | 'storage' | 'transport' | 'stateMachines'>
  >;
  /** Start the nodes at once. Default true. */
  readonly start?: boolean;
}

export interface MemoryCluster {
  readonly network: MemoryNetwork;
  readonly nodes: readonly RaftNode[];
  node(id: NodeId): RaftNode;
  /**
   * Resolves with the leader once a running node (not in `exclude`) leads; rejects after
   * `timeoutMs` (default 5000) so a broken cluster fails a test instead of hanging it.
   */
  waitForLeader(options?: { exclude?: readonly NodeId[]; timeoutMs?: number }): Promise<RaftNode>;
  stop(): Promise<void>;
}

/** Builds (and by default starts) a cluster. */
export function createMemoryCluster(options: MemoryClusterOptions): MemoryCluster {
  const ids = options.ids ?? ['n1', 'n2', 'n3'];
  const network = createMemoryNetwork();
  const nodes = ids.map(
    (id, position) =>
      new RaftNode({
        seed: position + 1,
        tickIntervalMs: options.tickIntervalMs ?? 10,
        ...options.node,
        id,
        peers: ids,
        storage: options.storage?.(id) ?? new MemoryStorage(),
        transport: network.transport(id),
        stateMachines: options.stateMachines(id),
      }),
  );
  if (options.start !== false) for (const node of nodes) node.start();
  return {
    network,
    nodes,
    node(id) {
      const found = nodes.find((node) => node.id === id);
      if (found === undefined) throw new Error(`no node ${id} in this cluster`);
      return found;
    },
    waitForLeader: (wait) => waitForLeader(nodes, wait),
    async stop() {
      await Promise.all(nodes.map((node) => node.stop()));
    },
  };
}

function currentLeader(
  nodes: readonly RaftNode[],
  exclude: readonly NodeId[],
): RaftNode | undefined {
  const candidates = nodes.filter(
    (node) =>
      !exclude.includes(node.id) &&
      node.status().state === 'running' &&
      node.role.type === 'leader',
  );
  // Two nodes may both think they lead for a moment; the higher term is the real one.
  return candidates.sort((a, b) => b.status().term - a.status().term)[0];
}

function waitForLeader(
  nodes: readonly RaftNode[],
  options: { exclude?: readonly NodeId[]; timeoutMs?: number } = {},
): Promise<RaftNode> {
  const exclude = options.exclude ?? [];
  const found = currentLeader(nodes, exclude);
  if (found !== undefined) return Promise.resolve(found);
  return new Promise<RaftNode>((resolve, reject) => {
    const unsubscribe = nodes.map((node) =>
      node.on('role', () => {
        const leader = currentLeader(nodes, exclude);
        if (leader === undefined) return;
        finish();
        resolve(leader);
      }),
    );
    const timer = setTimeout(() => {
      finish();
      reject(new Error(`no leader within ${options.timeoutMs ?? 5000} ms`));
    }, options.timeoutMs ?? 5000);
    const finish = (): void => {
      clearTimeout(timer);
      for (const off of unsubscribe) off();
    };
  });
}
