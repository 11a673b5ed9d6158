// The MIT 6.5840 Raft lab's test harness (its config.go) on top of the simulator: the same
// operations (`one`, `checkOneLeader`, `nCommitted`, `wait`, `crash1`, `start1`, `connect`,
// `disconnect`) with the same timeouts, in virtual time. Lab tests ported to it read almost line
// for line like the originals in test_test.go.
import type { NodeId } from '../messages.js';
import type { Prng } from './prng.js';
import { createPrng } from './prng.js';
import { labUnreliableNetwork } from './sim-network.js';
import type { SimFactories } from './sim-node.js';
import { realFactories } from './real-factories.js';
import type { SimRaftOptions } from './simulator.js';
import { Simulator } from './simulator.js';

/** The lab's RaftElectionTimeout: the tester allows elections to take this long. */
export const labElectionTimeoutMs = 1000;

export interface LabClusterOptions {
  readonly servers: number;
  /** labrpc's unreliable mode: 10% loss each way and 0-26 ms delays. */
  readonly unreliable?: boolean;
  readonly seed: number;
  /** Printed on failure; typically `pnpm vitest run --project raft -t "<test name>"`. */
  readonly replayCommand?: string;
  readonly factories?: SimFactories;
  /** Trace lines shown on failure. Default 50. */
  readonly traceLinesOnFailure?: number;
  /** Core settings replacing the lab defaults (heartbeat 100 ms, election timeout 1-2 s). */
  readonly raft?: SimRaftOptions;
  /**
   * The lab's applierSnap (3D): every server snapshots every this many applied entries (the lab's
   * SnapShotInterval, 10) and compacts its log. Default: no snapshots (3A-3C).
   */
  readonly snapshotInterval?: number;
}

export interface LabStart {
  readonly index: number;
  readonly term: number;
  readonly isLeader: boolean;
}

/**
 * Heartbeats every 100 ms (the lab allows at most ten per second) and election timeouts drawn in
 * [1000, 2000) ms: well within the lab's five seconds for an election, and long enough that
 * pre-vote and vote rounds still complete when labrpc's long reordering holds replies back for
 * up to 2.2 s (with [500, 1000) ms, 2 of 1,500 Figure 8 (unreliable) seeds found no leader for 10 s).
 */
const tickMs = 50;
const raftOptions = { electionTicks: 20, heartbeatTicks: 2 } as const;
const reliableLinks = {
  dropRate: 0,
  duplicateRate: 0,
  delayMsMin: 0,
  delayMsMax: 1,
  longDelayRate: 0,
} as const;

export class LabCluster {
  readonly sim: Simulator;
  readonly servers: number;
  readonly random: Prng;
  private readonly connected: boolean[];
  private unreliable: boolean;

  constructor(options: LabClusterOptions) {
    this.servers = options.servers;
    this.unreliable = options.unreliable ?? false;
    this.random = createPrng(options.seed ^ 0x6584);
    this.sim = new Simulator({
      seed: options.seed,
      nodes: options.servers,
      factories: options.factories ?? realFactories,
      tickMs,
      clockDriftMax: 0.01,
      raft: { ...raftOptions, ...options.raft },
      network: this.unreliable ? labUnreliableNetwork : reliableLinks,
      ...(options.snapshotInterval === undefined
        ? {}
        : { snapshotEveryEntries: options.snapshotInterval }),
      ...(options.replayCommand === undefined ? {} : { replayCommand: options.replayCommand }),
      ...(options.traceLinesOnFailure === undefined
        ? {}
        : { traceLinesOnFailure: options.traceLinesOnFailure }),
    });
    this.connected = Array.from({ length: options.servers }, () => true);
  }

  id(i: number): NodeId {
    return this.sim.nodeIds[i] ?? `n${i + 1}`;
  }

  /** Lets virtual time pass (the lab's time.Sleep). */
  sleep(ms: number): void {
    this.sim.runFor(ms);
  }

  fail(message: string): never {
    throw this.sim.failure(new Error(message), 'LIVENESS');
  }

  isConnected(i: number): boolean {
    return this.connected[i] === true;
  }

  isUp(i: number): boolean {
    return this.sim.node(this.id(i)).alive;
  }

  connect(i: number): void {
    this.connected[i] = true;
    // A link works only when both ends are connected, as in labrpc.
    for (let j = 0; j < this.servers; j++) {
      if (j === i || !this.isConnected(j)) continue;
      this.sim.network.restoreOneWay(this.id(i), this.id(j));
      this.sim.network.restoreOneWay(this.id(j), this.id(i));
    }
    this.sim.trace.record(this.sim.now, '--', `connect ${this.id(i)}`);
  }

  disconnect(i: number): void {
    this.connected[i] = false;
    this.sim.disconnect(this.id(i));
  }

  /** Kills server i, keeping what it had persisted (the lab's crash1 also disconnects it). */
  crash1(i: number): void {
    this.disconnect(i);
    if (this.isUp(i)) this.sim.crash(this.id(i));
  }

  /** Restarts server i from what it had persisted; it stays disconnected until connect(i). */
  start1(i: number): void {
    this.crash1(i);
    this.sim.restart(this.id(i));
  }

  setUnreliable(unreliable: boolean): void {
    this.unreliable = unreliable;
    this.sim.configureNetwork(unreliable ? labUnreliableNetwork : reliableLinks);
  }

  /** labrpc's long reordering: two thirds of replies arrive 200 ms to 2.2 s late. */
  setLongReordering(on: boolean): void {
    this.sim.configureNetwork(
      on
        ? { longDelayRate: 2 / 3, longDelayMsMax: 2200, longDelayResponsesOnly: true }
        : { longDelayRate: 0 },
    );
  }

  /** The lab's rf.Start(command); undefined when server i is down. */
  start(i: number, command: string | number): LabStart | undefined {
    const result = this.sim.propose(this.id(i), String(command));
    if (result === undefined) return undefined;
    const node = this.sim.node(this.id(i));
    if (result.ok && 'index' in result)
      return { index: result.index, term: result.term, isLeader: true };
    return { index: -1, term: node.term, isLeader: false };
  }

  /** The lab's GetState: term and whether server i believes it leads (undefined when down). */
  getState(i: number): { term: number; isLeader: boolean } | undefined {
    const node = this.sim.node(this.id(i));
    return node.alive ? { term: node.term, isLeader: node.role === 'leader' } : undefined;
  }

  checkOneLeader(): number {
    for (let iteration = 0; iteration < 10; iteration++) {
      this.sleep(450 + this.random.int(0, 99));
      const leaders = new Map<number, number[]>();
      for (let i = 0; i < this.servers; i++) {
        const state = this.getState(i);
        if (!this.isConnected(i) || state?.isLeader !== true) continue;
        leaders.set(state.term, [...(leaders.get(state.term) ?? []), i]);
      }
      let lastTermWithLeader = -1;
      for (const [term, ids] of leaders) {
        if (ids.length > 1) this.fail(`term ${term} has ${ids.length} (>1) leaders`);
        lastTermWithLeader = Math.max(lastTermWithLeader, term);
      }
      const leader = leaders.get(lastTermWithLeader)?.[0];
      if (leader !== undefined) return leader;
    }
    return this.fail('expected one leader, got none');
  }

  checkTerms(): number {
    let term = -1;
    for (let i = 0; i < this.servers; i++) {
      const state = this.getState(i);
      if (!this.isConnected(i) || state === undefined) continue;
      if (term === -1) term = state.term;
      else if (term !== state.term) this.fail('servers disagree on term');
    }
    return term;
  }

  checkNoLeader(): void {
    for (let i = 0; i < this.servers; i++) {
      if (this.isConnected(i) && this.getState(i)?.isLeader === true) {
        this.fail(
          `expected no leader among connected servers, but ${this.id(i)} claims to be leader`,
        );
      }
    }
  }

  /** How many servers have applied `index`, and the command there (they agree, or the checker threw). */
  nCommitted(index: number): { count: number; command: string | undefined } {
    let count = 0;
    let command: string | undefined;
    for (let i = 0; i < this.servers; i++) {
      const entry = this.sim.node(this.id(i)).applied[index - 1];
      if (entry === undefined) continue;
      const payload = this.sim.appliedPayload(this.id(i), index);
      if (count > 0 && payload !== command) this.fail(`committed values at ${index} do not match`);
      command = payload;
      count++;
    }
    return { count, command };
  }

  /**
   * Submits `command` to whichever connected server accepts it and waits (2 s per try, 10 s in
   * all) until `expectedServers` have applied it at the returned index.
   */
  one(command: string | number, expectedServers: number, retry: boolean): number {
    const wanted = String(command);
    const deadline = this.sim.now + 10_000;
    let starts = 0;
    while (this.sim.now < deadline) {
      let index = -1;
      for (let tries = 0; tries < this.servers; tries++) {
        starts = (starts + 1) % this.servers;
        if (!this.isConnected(starts)) continue;
        const started = this.start(starts, wanted);
        if (started?.isLeader === true) {
          index = started.index;
          break;
        }
      }
      if (index !== -1) {
        const agreed = this.sim.runUntil(() => {
          const { count, command: applied } = this.nCommitted(index);
          return count > 0 && count >= expectedServers && applied === wanted;
        }, 2000);
        if (agreed) return index;
        if (!retry) this.fail(`one(${wanted}) failed to reach agreement`);
      } else {
        this.sleep(50);
      }
    }
    return this.fail(`one(${wanted}) failed to reach agreement`);
  }

  /** Waits for `n` servers to apply `index`; undefined when some server moved past `startTerm`. */
  wait(index: number, n: number, startTerm: number): string | undefined {
    const movedOn = (): boolean =>
      startTerm > -1 && this.sim.allNodes.some((node) => node.alive && node.term > startTerm);
    this.sim.runUntil(() => this.nCommitted(index).count >= n || movedOn(), 25_000);
    const { count, command } = this.nCommitted(index);
    if (count >= n) return command;
    if (movedOn()) return undefined;
    return this.fail(`only ${count} decided for index ${index}; wanted ${n}`);
  }

  /** The largest log any server keeps beyond its snapshot, in bytes (the lab's LogSize). */
  logSize(): number {
    let largest = 0;
    for (let i = 0; i < this.servers; i++) {
      largest = Math.max(largest, this.sim.node(this.id(i)).logBytes);
    }
    return largest;
  }

  /** RPCs (request messages) sent so far, the lab's rpcTotal. */
  rpcTotal(): number {
    return this.sim.network.stats.requests;
  }

  /** Bytes of commands carried by AppendEntries so far (the lab counts whole RPCs). */
  bytesTotal(): number {
    return this.sim.network.stats.entryBytes;
  }

  /** How many application commands the log of server i holds up to `index` (no-ops excluded). */
  commandCount(i: number, index: number): number {
    let count = 0;
    const log = this.sim.node(this.id(i)).log;
    for (let k = 0; k < index && k < log.length; k++) if (log[k]?.type === 'normal') count++;
    return count;
  }
}
