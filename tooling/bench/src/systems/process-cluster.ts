// What every benchmarked cluster of local processes shares: the processes, the HTTP clients to
// them, and kill -9 / restart / stop of a node. Each system adds its own put, get, leader and
// readiness checks.
import type { ClusterProcesses } from '../harness/cluster.js';
import type { HttpClients } from '../harness/http.js';
import type { KvClientPath, KvCluster } from './types.js';

export abstract class ProcessKvCluster implements KvCluster {
  readonly nodeCount: number = 3;
  protected readonly processes: ClusterProcesses;
  protected readonly clients: HttpClients;

  constructor(processes: ClusterProcesses, clients: HttpClients) {
    this.processes = processes;
    this.clients = clients;
  }

  abstract put(request: {
    node: number;
    key: string;
    value: string;
    timeoutMs?: number;
  }): Promise<void>;
  abstract get(request: { node: number; key: string }): Promise<string | undefined>;
  abstract leader(): Promise<number | undefined>;
  abstract waitReady(timeoutMs: number): Promise<void>;
  abstract openOtherPaths(): Promise<KvClientPath[]>;

  pids(): (number | undefined)[] {
    return this.processes.pids();
  }

  /** Where node `node`'s HTTP API answers. */
  /** The base URL of a node, for suites that speak a system's own API (locks). */
  originOf(node: number): string {
    return this.origin(node);
  }

  protected origin(node: number): string {
    return this.processes.specs[node]!.origin;
  }

  async kill(node: number): Promise<void> {
    await this.processes.kill(node);
    await this.clients.forget(this.origin(node));
  }

  restart(node: number): Promise<void> {
    this.processes.start(node);
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    await this.processes.stopAll({ removeData: true });
  }
}
