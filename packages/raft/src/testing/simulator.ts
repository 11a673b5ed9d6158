// The deterministic simulator: a single-threaded cluster of Raft cores on a virtual clock. Every
// node ticks every `tickMs` of its own (drifting) clock; messages travel through a network that
// drops, duplicates, delays, reorders and partitions; nodes crash and restart from what they had
// synced. Events run in (time, sequence) order from a seeded generator, so a seed is a complete
// description of a run, and the invariants of Raft are checked after every event.
import type { Entry, NodeId, RaftMessage } from '../messages.js';
import type { ConfChange, ConfChangeResult } from '../core/membership.js';
import type {
  ProposeResult,
  RaftCoreOptions,
  ReadIndexResult,
  ReadState,
  TransferResult,
} from '../core/types.js';
import { EventQueue } from './event-queue.js';
import type { AcknowledgedProposal, NodeView } from './invariants.js';
import { InvariantChecker, InvariantViolation, entryKey } from './invariants.js';
import type { Prng } from './prng.js';
import { createPrng } from './prng.js';
import type { NetworkOptions } from './sim-network.js';
import { SimNetwork, reliableNetwork } from './sim-network.js';
import type { FaultyHost, SimFactories, SyncOutcome } from './sim-node.js';
import { SimNode } from './sim-node.js';
import { Trace } from './trace.js';

/** Core options the simulator passes through (everything but identity, peers and storage). */
export type SimRaftOptions = Omit<
  RaftCoreOptions,
  'id' | 'peers' | 'storage' | 'random' | 'appliedIndex'
>;

export interface SimulatorOptions {
  readonly seed: number;
  /** Cluster size (nodes are named n1..nN) or explicit ids. */
  readonly nodes: number | readonly NodeId[];
  readonly factories: SimFactories;
  /** Virtual milliseconds between two ticks of a node's clock. Default 10. */
  readonly tickMs?: number;
  /** Each node's clock runs fast or slow by up to this fraction. Default 0.02. */
  readonly clockDriftMax?: number;
  readonly network?: Partial<NetworkOptions>;
  readonly raft?: SimRaftOptions;
  /** Probability that a node crashes between writing a Ready and syncing it. Default 0. */
  readonly crashBeforeSyncRate?: number;
  /**
   * Probability that a crash keeps a random prefix of the node's unsynced writes (as a
   * write-ahead log whose tail was partly flushed). Default 0: all unsynced writes are lost.
   */
  readonly tornWriteRate?: number;
  /** How long a node stays down after a crash between write and sync. Default 200 ms. */
  readonly crashDowntimeMs?: number;
  /** The command that replays this run, printed on failure. */
  readonly replayCommand?: string;
  /** Trace lines shown on failure. Default 50. */
  readonly traceLinesOnFailure?: number;
  /** Upper bound on pending events (a runaway guard). Default 1,000,000. */
  readonly maxPendingEvents?: number;
  /**
   * Each node snapshots its applied entries every this many and compacts its log up to the
   * snapshot, so lagging nodes catch up through InstallSnapshot. Default: no snapshots.
   */
  readonly snapshotEveryEntries?: number;
  /** Probability that a sync is slow (resolves after a random extra delay). Default 0. */
  readonly slowSyncRate?: number;
  /** Upper bound of a slow sync's extra delay, in virtual ms. Default 50. */
  readonly slowSyncMsMax?: number;
  /** How often a node whose disk is full retries its held Ready's sync. Default 5 ms. */
  readonly diskRetryMs?: number;
  /** How long a node stopped by an fsync EIO stays down before it restarts. Default 300 ms. */
  readonly ioErrorDowntimeMs?: number;
  /** A deliberately wrong host loop (negative controls of the checkers only). */
  readonly faultyHost?: FaultyHost;
}

export type SimulationFailureCode = 'INVARIANT_VIOLATED' | 'CORE_THREW' | 'LIVENESS';

/** A failed run: names the seed, the replay command and the last lines of the trace. */
export class SimulationFailure extends Error {
  override readonly name = 'SimulationFailure' as const;
  readonly code: SimulationFailureCode;
  readonly seed: number;
  readonly replayCommand: string;
  readonly traceTail: readonly string[];

  constructor(init: {
    code: SimulationFailureCode;
    seed: number;
    replayCommand: string;
    traceTail: readonly string[];
    message: string;
    cause?: unknown;
  }) {
    const report = [
      `${init.code}: ${init.message}`,
      `seed ${init.seed}; replay with: ${init.replayCommand}`,
      `last ${init.traceTail.length} trace lines:`,
      ...init.traceTail,
    ].join('\n');
    super(report, { cause: init.cause });
    this.code = init.code;
    this.seed = init.seed;
    this.replayCommand = init.replayCommand;
    this.traceTail = init.traceTail;
  }
}

type SimEvent =
  | { readonly kind: 'tick'; readonly node: SimNode; readonly incarnation: number }
  | { readonly kind: 'deliver'; readonly message: RaftMessage }
  | { readonly kind: 'call'; readonly label: string; readonly run: () => void };

/** A client's proposal waiting to be seen applied at the node that accepted it. */
interface PendingProposal {
  readonly nodeId: NodeId;
  readonly incarnation: number;
  readonly index: number;
  readonly term: number;
  readonly payload: string;
}

const encoder = new TextEncoder();

function describeMessage(message: RaftMessage): string {
  const head = `${message.type} ${message.from}->${message.to} t${message.term}`;
  switch (message.type) {
    case 'AppendEntries':
      return `${head} prev=${message.prevLogIndex}/${message.prevLogTerm} n=${message.entries.length} commit=${message.leaderCommit}`;
    case 'AppendEntriesResponse':
      return `${head} ${message.success ? 'ok' : 'reject'} match=${message.matchIndex}${message.conflictIndex === undefined ? '' : ` conflict=${message.conflictIndex}/${String(message.conflictTerm)}`}`;
    case 'RequestVote':
      return `${head}${message.preVote ? ' pre' : ''} last=${message.lastLogIndex}/${message.lastLogTerm}`;
    case 'RequestVoteResponse':
      return `${head}${message.preVote ? ' pre' : ''} ${message.granted ? 'granted' : 'refused'}`;
    case 'Heartbeat':
      return `${head} commit=${message.leaderCommit}`;
    case 'HeartbeatResponse':
    case 'TimeoutNow':
    case 'Propose':
    case 'ReadIndex':
    case 'ReadIndexResponse':
    case 'InstallSnapshot':
    case 'InstallSnapshotResponse':
      return head;
  }
}

export class Simulator {
  readonly seed: number;
  readonly nodeIds: readonly NodeId[];
  readonly network: SimNetwork;
  readonly checker: InvariantChecker = new InvariantChecker();
  readonly trace: Trace;
  readonly replayCommand: string;
  private readonly nodes = new Map<NodeId, SimNode>();
  /** Nodes added after the start with `addNode` (not bootstrap voters). */
  private readonly joinedIds: NodeId[] = [];
  private readonly options: SimulatorOptions;
  private readonly queue: EventQueue<SimEvent>;
  private readonly random: Prng;
  private readonly faultRandom: Prng;
  private readonly tickPeriodMs = new Map<NodeId, number>();
  private crashBeforeSyncRate: number;
  private readonly crashDowntimeMs: number;
  private readonly tornWriteRate: number;
  /** Disk-fault randomness: its own stream, so that runs without disk faults replay as before. */
  private readonly diskRandom: Prng;
  private slowSyncRate: number;
  private slowSyncMsMax: number;
  private readonly diskFullUntil = new Map<NodeId, number>();
  private readonly ioErrorArmed = new Set<NodeId>();
  private syncStalls = 0;
  private ioErrors = 0;
  private slowSyncs = 0;
  private readonly traceLinesOnFailure: number;
  private readonly pending: PendingProposal[] = [];
  private readonly acknowledgedPayloads = new Set<string>();
  /** Read context -> the highest index acknowledged to any client when the read was issued. */
  private readonly pendingReads = new Map<string, { nodeId: NodeId; mustSee: number }>();
  private highestAcknowledgedIndex = 0;
  private readSequence = 0;
  private readsServed = 0;
  private nowMs = 0;
  private events = 0;

  constructor(options: SimulatorOptions) {
    this.seed = options.seed;
    this.options = options;
    this.random = createPrng(options.seed);
    const networkRandom = this.random.fork();
    const coreRandom = this.random.fork();
    this.faultRandom = this.random.fork();
    this.nodeIds =
      typeof options.nodes === 'number'
        ? Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`)
        : [...options.nodes];
    if (this.nodeIds.length < 1) throw new RangeError('nodes must name at least one node');
    this.replayCommand =
      options.replayCommand ??
      `pnpm --filter @distsync/raft sim --seed ${options.seed} --nodes ${this.nodeIds.length}`;
    this.traceLinesOnFailure = options.traceLinesOnFailure ?? 50;
    this.trace = new Trace({ capacity: Math.max(this.traceLinesOnFailure, 200) });
    this.queue = new EventQueue({ maxEvents: options.maxPendingEvents ?? 1_000_000 });
    this.network = new SimNetwork({
      options: { ...reliableNetwork, ...options.network },
      random: networkRandom,
    });
    this.crashBeforeSyncRate = options.crashBeforeSyncRate ?? 0;
    this.crashDowntimeMs = options.crashDowntimeMs ?? 200;
    this.tornWriteRate = options.tornWriteRate ?? 0;
    this.diskRandom = createPrng((options.seed ^ 0x0d15cf17) >>> 0);
    this.slowSyncRate = options.slowSyncRate ?? 0;
    this.slowSyncMsMax = options.slowSyncMsMax ?? 50;
    const tickMs = options.tickMs ?? 10;
    const drift = options.clockDriftMax ?? 0.02;
    if (!(tickMs > 0)) throw new RangeError('tickMs must be positive');
    if (!(drift >= 0 && drift < 0.5)) throw new RangeError('clockDriftMax must be within [0, 0.5)');
    for (const id of this.nodeIds) {
      this.tickPeriodMs.set(id, tickMs * (1 + (this.random.next() * 2 - 1) * drift));
      const nodeRandom = coreRandom.fork();
      const node = new SimNode({
        id,
        peers: this.nodeIds,
        factories: options.factories,
        coreOptions: { ...options.raft, random: () => nodeRandom.next() },
        host: this.hostFor(),
        snapshotEveryEntries: options.snapshotEveryEntries,
        faultyHost: options.faultyHost,
      });
      this.nodes.set(id, node);
    }
    this.trace.record(
      0,
      '--',
      `config raft=${JSON.stringify(options.raft ?? {})} network=${JSON.stringify(this.network.current)} tickMs=${tickMs}`,
    );
    this.guard(() => {
      for (const node of this.nodes.values()) this.startNode(node);
    });
  }

  private hostFor(): ConstructorParameters<typeof SimNode>[0]['host'] {
    return {
      checker: this.checker,
      crashBeforeSync: (id, unsyncedWrites) => {
        if (!this.faultRandom.chance(this.crashBeforeSyncRate)) return undefined;
        this.schedule(this.crashDowntimeMs, `restart ${id}`, () => {
          this.restart(id);
        });
        return { survivingWrites: this.survivingWrites(unsyncedWrites) };
      },
      syncOutcome: (id, init) => this.syncOutcome(id, init),
      send: (message) => {
        this.sendMessage(message);
      },
      applied: (id, entry) => {
        this.noteApplied(id, entry);
      },
      readState: (id, readState) => {
        this.noteRead(id, readState);
      },
      trace: (id, text) => {
        this.trace.record(this.nowMs, id, text);
      },
    };
  }

  /** Decides a sync's fate from the disk faults in force, and schedules what follows from it. */
  private syncOutcome(id: NodeId, init: { retry: boolean; incarnation: number }): SyncOutcome {
    const { retry, incarnation } = init;
    if (this.ioErrorArmed.delete(id)) {
      this.ioErrors++;
      this.forgetPendingAt(id);
      const downtimeMs = this.options.ioErrorDowntimeMs ?? 300;
      // An operator restarts the process from its durable state.
      this.schedule(downtimeMs, `restart ${id} after EIO`, () => {
        if (!this.node(id).alive) this.restart(id);
      });
      return { kind: 'io-error' };
    }
    const retryLater = (delayMs: number): void => {
      this.schedule(delayMs, `sync retry ${id}`, () => {
        this.node(id).retrySync(incarnation);
      });
    };
    if ((this.diskFullUntil.get(id) ?? 0) > this.nowMs) {
      if (!retry) this.syncStalls++;
      retryLater(this.options.diskRetryMs ?? 5);
      return { kind: 'no-space' };
    }
    if (!retry && this.slowSyncRate > 0 && this.diskRandom.chance(this.slowSyncRate)) {
      this.slowSyncs++;
      const delayMs = this.diskRandom.next() * this.slowSyncMsMax;
      retryLater(delayMs);
      return { kind: 'slow', delayMs };
    }
    return { kind: 'ok' };
  }

  /**
   * Fills node `id`'s disk for `durationMs`: a sync in that time fails with ENOSPC, and the Ready
   * it belongs to is held (nothing sent, nothing applied) and retried until space is back.
   */
  diskFull(id: NodeId, durationMs: number): void {
    this.node(id);
    this.diskFullUntil.set(id, Math.max(this.diskFullUntil.get(id) ?? 0, this.nowMs + durationMs));
    this.trace.record(this.nowMs, id, `disk full for ${durationMs} ms`);
  }

  /** Node `id`'s next sync fails with EIO: the node stops, and restarts later from its durable state. */
  fsyncFailure(id: NodeId): void {
    this.node(id);
    this.ioErrorArmed.add(id);
    this.trace.record(this.nowMs, id, 'next fsync fails with EIO');
  }

  /** Changes how often syncs are slow and by how much. */
  configureDisk(options: { slowSyncRate: number; slowSyncMsMax?: number }): void {
    if (!(options.slowSyncRate >= 0 && options.slowSyncRate <= 1)) {
      throw new RangeError('slowSyncRate must be within [0, 1]');
    }
    this.slowSyncRate = options.slowSyncRate;
    this.slowSyncMsMax = options.slowSyncMsMax ?? this.slowSyncMsMax;
    this.trace.record(this.nowMs, '--', `disk ${JSON.stringify(options)}`);
  }

  /** Ends every disk fault: space is back everywhere, no EIO armed, no slow syncs from now on. */
  endDiskFaults(): void {
    this.diskFullUntil.clear();
    this.ioErrorArmed.clear();
    this.slowSyncRate = 0;
    this.trace.record(this.nowMs, '--', 'disk faults end');
  }

  /** Syncs that hit a full disk, failed with EIO, or were slow, so far. */
  get diskFaultStats(): { stalls: number; ioErrors: number; slowSyncs: number } {
    return { stalls: this.syncStalls, ioErrors: this.ioErrors, slowSyncs: this.slowSyncs };
  }

  /** Virtual time in milliseconds since the start. */
  get now(): number {
    return this.nowMs;
  }

  /** Events processed so far. */
  get eventCount(): number {
    return this.events;
  }

  node(id: NodeId): SimNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new RangeError(`unknown node ${id}`);
    return node;
  }

  get allNodes(): readonly SimNode[] {
    return [...this.nodes.values()];
  }

  /** Nodes that are up and believe they lead, with their terms. */
  leaders(): SimNode[] {
    return this.allNodes.filter((node) => node.alive && node.role === 'leader');
  }

  /** Schedules `run` after `delayMs` of virtual time (a fault, a client action, a check). */
  schedule(delayMs: number, label: string, run: () => void): void {
    this.queue.push(this.nowMs + delayMs, { kind: 'call', label, run });
  }

  private startNode(node: SimNode): void {
    node.start();
    const incarnation = node.incarnation;
    // A random phase, so that nodes do not tick in lockstep.
    const period = this.tickPeriodMs.get(node.id) ?? 10;
    this.queue.push(this.nowMs + this.random.next() * period, { kind: 'tick', node, incarnation });
  }

  private sendMessage(message: RaftMessage): void {
    const delays = this.network.plan(message);
    if (delays.length === 0) {
      this.trace.record(this.nowMs, message.from, `lost ${describeMessage(message)}`);
    }
    for (const delay of delays) this.queue.push(this.nowMs + delay, { kind: 'deliver', message });
  }

  /** Runs one event and checks every invariant. Returns false when no event is left. */
  step(): boolean {
    const event = this.queue.pop();
    if (event === undefined) return false;
    this.nowMs = event.timeMs;
    this.events++;
    this.guard(() => {
      this.dispatch(event.value);
      this.checker.afterStep(this.allNodes);
    });
    return true;
  }

  private dispatch(event: SimEvent): void {
    switch (event.kind) {
      case 'tick': {
        const { node, incarnation } = event;
        if (!node.runs(incarnation)) return;
        node.tick();
        const period = this.tickPeriodMs.get(node.id) ?? 10;
        if (node.runs(incarnation)) {
          this.queue.push(this.nowMs + period, { kind: 'tick', node, incarnation });
        }
        return;
      }
      case 'deliver':
        this.deliver(event.message);
        return;
      case 'call':
        this.trace.record(this.nowMs, '--', event.label);
        event.run();
        return;
    }
  }

  private deliver(message: RaftMessage): void {
    const target = this.nodes.get(message.to);
    if (
      target === undefined ||
      !target.alive ||
      !this.network.canDeliver(message.from, message.to)
    ) {
      this.trace.record(this.nowMs, message.to, `drop ${describeMessage(message)}`);
      return;
    }
    this.network.stats.delivered++;
    this.trace.record(this.nowMs, message.to, `recv ${describeMessage(message)}`);
    const result = target.step(message);
    if (result !== undefined && !result.ok) {
      this.trace.record(this.nowMs, message.to, `refused ${result.code}: ${result.reason}`);
    }
  }

  /** Wraps anything thrown while running events into a SimulationFailure with seed and trace. */
  guard<T>(run: () => T): T {
    try {
      return run();
    } catch (error) {
      if (error instanceof SimulationFailure) throw error;
      throw this.failure(error);
    }
  }

  /** Builds the failure report for `cause` (an invariant violation, a core throw, a liveness miss). */
  failure(cause: unknown, code?: SimulationFailureCode): SimulationFailure {
    const message = cause instanceof Error ? cause.message : String(cause);
    return new SimulationFailure({
      code: code ?? (cause instanceof InvariantViolation ? 'INVARIANT_VIOLATED' : 'CORE_THREW'),
      seed: this.seed,
      replayCommand: this.replayCommand,
      traceTail: this.trace.tail(this.traceLinesOnFailure),
      message: `${message} (at ${this.nowMs.toFixed(3)} ms, event ${this.events})`,
      cause,
    });
  }

  /** Runs events until virtual time reaches `now + durationMs`. */
  runFor(durationMs: number): void {
    const until = this.nowMs + durationMs;
    for (;;) {
      const next = this.queue.peek();
      if (next === undefined || next.timeMs > until) break;
      this.step();
    }
    this.nowMs = Math.max(this.nowMs, until);
  }

  /**
   * Runs until `done()` holds (checked after every event) or `timeoutMs` of virtual time passed.
   * Returns whether `done()` held.
   */
  runUntil(done: () => boolean, timeoutMs: number): boolean {
    const until = this.nowMs + timeoutMs;
    if (done()) return true;
    for (;;) {
      const next = this.queue.peek();
      if (next === undefined || next.timeMs > until) break;
      this.step();
      if (done()) return true;
    }
    this.nowMs = Math.max(this.nowMs, until);
    return false;
  }

  /** How many of a crashing node's unsynced writes reach the disk anyway (a torn tail). */
  private survivingWrites(unsyncedWrites: number): number {
    if (unsyncedWrites === 0 || !this.faultRandom.chance(this.tornWriteRate)) return 0;
    return this.faultRandom.int(0, unsyncedWrites);
  }

  crash(id: NodeId): void {
    this.trace.record(this.nowMs, id, 'crash (fault)');
    const node = this.node(id);
    this.guard(() => {
      node.crash(this.survivingWrites(node.unsyncedWriteCount));
    });
    this.forgetPendingAt(id);
  }

  restart(id: NodeId): void {
    const node = this.node(id);
    if (node.alive) node.crash();
    this.forgetPendingAt(id);
    this.guard(() => {
      this.startNode(node);
    });
  }

  /** Only the listed groups talk among themselves (unlisted nodes are isolated). */
  partition(groups: readonly (readonly NodeId[])[]): void {
    this.network.partition(this.everyId(), groups);
    this.trace.record(
      this.nowMs,
      '--',
      `partition ${groups.map((group) => `[${group.join(',')}]`).join(' ')}`,
    );
  }

  cutOneWay(from: NodeId, to: NodeId): void {
    this.network.cutOneWay(from, to);
    this.trace.record(this.nowMs, '--', `cut ${from}->${to}`);
  }

  /** Disconnects a node from everyone (the lab's `disconnect`). */
  disconnect(id: NodeId): void {
    this.network.isolate(this.everyId(), id);
    this.trace.record(this.nowMs, '--', `disconnect ${id}`);
  }

  /** Reconnects a node to everyone (the lab's `connect`), leaving other cuts in place. */
  connect(id: NodeId): void {
    this.network.reconnect(this.everyId(), id);
    this.trace.record(this.nowMs, '--', `connect ${id}`);
  }

  heal(): void {
    this.network.heal();
    this.trace.record(this.nowMs, '--', 'heal');
  }

  /** Changes the probability of a crash between a Ready's writes and their sync (0 stops them). */
  configureCrashes(options: { crashBeforeSyncRate: number }): void {
    if (!(options.crashBeforeSyncRate >= 0 && options.crashBeforeSyncRate <= 1)) {
      throw new RangeError('crashBeforeSyncRate must be within [0, 1]');
    }
    this.crashBeforeSyncRate = options.crashBeforeSyncRate;
    this.trace.record(this.nowMs, '--', `crashBeforeSyncRate ${options.crashBeforeSyncRate}`);
  }

  configureNetwork(options: Partial<NetworkOptions>): void {
    this.network.configure(options);
    this.trace.record(this.nowMs, '--', `network ${JSON.stringify(options)}`);
  }

  /**
   * Offers `payload` to node `id` as a client would (the lab's `Start`). An accepted proposal is
   * tracked until the same node applies its index: then it counts as acknowledged.
   */
  propose(id: NodeId, payload: string): ProposeResult | undefined {
    const node = this.node(id);
    const result = this.guard(() => node.propose(encoder.encode(payload)));
    this.trace.record(
      this.nowMs,
      id,
      `propose ${payload.length > 24 ? `${payload.slice(0, 24)}...` : payload} -> ${result === undefined ? 'down' : JSON.stringify(result)}`,
    );
    if (result?.ok === true && 'index' in result) {
      this.pending.push({
        nodeId: id,
        incarnation: node.incarnation,
        index: result.index,
        term: result.term,
        payload,
      });
      // A single-node cluster commits and applies within propose() itself.
      const applied = node.applied[result.index - 1];
      if (applied !== undefined) this.noteApplied(id, applied);
    }
    this.guard(() => {
      this.checker.afterStep(this.allNodes);
    });
    return result;
  }

  /**
   * Starts a linearizable read at node `id` (ReadIndex). When the node serves it, the read index
   * must cover every proposal acknowledged before the read began, or the read is stale.
   */
  read(id: NodeId): ReadIndexResult | undefined {
    const context = `read-${++this.readSequence}`;
    // Registered first: a one-node cluster serves the read within readIndex() itself.
    this.pendingReads.set(context, { nodeId: id, mustSee: this.highestAcknowledgedIndex });
    const result = this.guard(() => this.node(id).readIndex(context));
    this.trace.record(
      this.nowMs,
      id,
      `read ${context} -> ${result === undefined ? 'down' : JSON.stringify(result)}`,
    );
    if (result?.ok !== true) this.pendingReads.delete(context);
    return result;
  }

  /** Reads served so far. */
  get readCount(): number {
    return this.readsServed;
  }

  private noteRead(id: NodeId, readState: ReadState): void {
    const pending = this.pendingReads.get(readState.context);
    if (pending === undefined) return;
    this.pendingReads.delete(readState.context);
    this.readsServed++;
    this.trace.record(
      this.nowMs,
      id,
      `read ${readState.context} served at index ${readState.index}`,
    );
    if (pending.nodeId !== id) {
      throw new InvariantViolation({
        invariant: 'STALE_READ',
        nodeId: id,
        message: `${readState.context} was issued at ${pending.nodeId}`,
      });
    }
    if (readState.index < pending.mustSee) {
      throw new InvariantViolation({
        invariant: 'STALE_READ',
        nodeId: id,
        message: `${readState.context} served at index ${readState.index}, but index ${pending.mustSee} was acknowledged before it began`,
      });
    }
  }

  /** The bootstrap nodes and every node added since. */
  private everyId(): NodeId[] {
    return [...this.nodeIds, ...this.joinedIds];
  }

  /**
   * Adds and starts a node that knows no cluster yet (empty storage, no bootstrap peers), as a
   * server about to be added by a membership change starts. It stays passive until the leader
   * adds it (`proposeConfChange`); `verifyAcknowledged` checks only the ids it is given for it.
   */
  addNode(id: NodeId): SimNode {
    if (this.nodes.has(id)) throw new RangeError(`node ${id} already exists`);
    const nodeRandom = this.random.fork();
    const tickMs = this.options.tickMs ?? 10;
    const drift = this.options.clockDriftMax ?? 0.02;
    this.tickPeriodMs.set(id, tickMs * (1 + (this.random.next() * 2 - 1) * drift));
    const node = new SimNode({
      id,
      peers: [],
      factories: this.options.factories,
      coreOptions: { ...this.options.raft, random: () => nodeRandom.next() },
      host: this.hostFor(),
      snapshotEveryEntries: this.options.snapshotEveryEntries,
      faultyHost: this.options.faultyHost,
    });
    this.nodes.set(id, node);
    this.joinedIds.push(id);
    this.trace.record(this.nowMs, id, 'joins (no membership yet)');
    this.guard(() => {
      this.startNode(node);
    });
    return node;
  }

  /** Proposes a membership change at node `id` (the leader, or it answers NOT_LEADER). */
  proposeConfChange(id: NodeId, change: ConfChange): ConfChangeResult | undefined {
    const result = this.guard(() => this.node(id).proposeConfChange(change));
    this.trace.record(
      this.nowMs,
      id,
      `conf change ${change.type} ${change.node} -> ${result === undefined ? 'down' : JSON.stringify(result)}`,
    );
    return result;
  }

  /** Asks the leader `from` to hand leadership to `to`. */
  transferLeadership(from: NodeId, to: NodeId): TransferResult | undefined {
    const result = this.guard(() => this.node(from).transferLeadership(to));
    this.trace.record(
      this.nowMs,
      from,
      `transfer to ${to} -> ${result === undefined ? 'down' : JSON.stringify(result)}`,
    );
    return result;
  }

  /** Whether the node that accepted `payload` has applied it (the client got its answer). */
  isAcknowledged(payload: string): boolean {
    return this.acknowledgedPayloads.has(payload);
  }

  /** The highest index acknowledged to any client so far. */
  get acknowledgedIndex(): number {
    return this.highestAcknowledgedIndex;
  }

  get acknowledgedCount(): number {
    return this.acknowledgedPayloads.size;
  }

  private noteApplied(id: NodeId, entry: Entry): void {
    for (let i = 0; i < this.pending.length; i++) {
      const pending = this.pending[i]!;
      if (pending.nodeId !== id || pending.index !== entry.index) continue;
      this.pending.splice(i, 1);
      i--;
      const proposal: AcknowledgedProposal = {
        index: pending.index,
        term: pending.term,
        payload: pending.payload,
      };
      if (entry.term === pending.term && entryKey(entry) === `normal:${pending.payload}`) {
        this.acknowledgedPayloads.add(pending.payload);
        this.highestAcknowledgedIndex = Math.max(this.highestAcknowledgedIndex, pending.index);
        this.checker.onAcknowledged(proposal);
        this.trace.record(
          this.nowMs,
          id,
          `ack ${pending.payload.slice(0, 24)} at ${pending.index}`,
        );
      }
    }
  }

  private forgetPendingAt(id: NodeId): void {
    // The client's connection to a crashed node breaks: the outcome of its proposals is unknown.
    for (let i = this.pending.length - 1; i >= 0; i--) {
      if (this.pending[i]?.nodeId === id) this.pending.splice(i, 1);
    }
    for (const [context, read] of this.pendingReads) {
      if (read.nodeId === id) this.pendingReads.delete(context);
    }
  }

  /** Every acknowledged proposal is applied, identically, at every node in `ids`. */
  verifyAcknowledged(ids: readonly NodeId[] = this.nodeIds): void {
    const views: NodeView[] = ids.map((id) => this.node(id));
    this.guard(() => {
      this.checker.verifyAcknowledged({
        views,
        appliedCount: (id) => this.node(id).applied.length,
      });
    });
  }

  /** The payload a node applied at `index`, if any (normal entries only). */
  appliedPayload(id: NodeId, index: number): string | undefined {
    const entry = this.node(id).applied[index - 1];
    if (entry?.type !== 'normal') return undefined;
    return entryKey(entry).slice('normal:'.length);
  }
}
