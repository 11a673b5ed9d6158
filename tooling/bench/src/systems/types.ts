// What a kv suite needs from a system under test (ours or a peer), whatever its client path.
import type { HttpClients } from '../harness/http.js';

/** A system that cannot run here, with the command that would install it. */
export interface Skip {
  readonly reason: string;
  readonly installCommand: string;
}

export interface KvSystem {
  /** Column name in the tables: `distsync`, `etcd`. */
  readonly name: string;
  /** The client path and the settings that matter for the figures, printed with the table. */
  readonly description: string;
  /** The main path's kind (ratios pair columns of one kind); `http` when left out. */
  readonly kind?: ClientKind;
  /** Undefined when the system can run on this machine. */
  unavailable(): Skip | undefined;
  /** Warnings about this run's setup (a build older than its sources), printed with the table. */
  warnings?(): string[];
  /** Spawns the nodes and returns at once; the suite times the first committed write. */
  launch(options: LaunchOptions): Promise<KvCluster>;
}

export interface LaunchOptions {
  readonly clients: HttpClients;
  /** Keys the cluster must be able to hold (kv-growth raises distsync's maxKeys to this). */
  readonly maxKeys?: number;
  /** Locks the cluster must be able to hold (lock-growth raises distsync's maxLocks to this). */
  readonly maxLocks?: number;
}

/** `http`: HTTP/1.1 JSON (every system's main path); `native`: the system's own client protocol. */
export type ClientKind = 'http' | 'native';

/**
 * A second way to reach the same cluster (distsync's WebSocket client next to its REST API),
 * measured with the same put and get load but not for failover, start time or memory.
 */
export interface KvClientPath {
  /** Column name: `distsync-ws`. */
  readonly name: string;
  /** Ratios pair columns of the same kind: HTTP/JSON with HTTP/JSON, native with native. */
  readonly kind: ClientKind;
  readonly description: string;
  put(request: { client: number; key: string; value: string }): Promise<void>;
  get(request: { client: number; key: string }): Promise<string | undefined>;
  close(): Promise<void>;
}

export interface KvCluster {
  readonly nodeCount: number;
  /** Opens the other client paths, if the system has any; called once the cluster is ready. */
  openOtherPaths?(): Promise<KvClientPath[]>;
  /** Pid per node, undefined while a node is down. */
  pids(): (number | undefined)[];
  /** Resolves once committed; throws on any failure (the load loop counts it). */
  put(request: { node: number; key: string; value: string; timeoutMs?: number }): Promise<void>;
  /**
   * Writes many keys in as few requests as the system allows (etcd: one txn; Redis: one MSET;
   * distsync: concurrent commands over the WebSocket client), for loading data, not measured.
   */
  putMany?(entries: readonly { key: string; value: string }[]): Promise<void>;
  /** A linearizable read; undefined when the key does not exist. */
  get(request: { node: number; key: string }): Promise<string | undefined>;
  /** The index of the node that leads now, if the nodes agree on one. */
  leader(): Promise<number | undefined>;
  /** Waits until every running node is ready (has a leader and serves requests). */
  waitReady(timeoutMs: number): Promise<void>;
  kill(node: number): Promise<void>;
  /** Starts a killed node again on its data dir and ports. */
  restart(node: number): Promise<void>;
  stop(): Promise<void>;
}
