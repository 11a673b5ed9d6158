// RaftNode: the host loop around a RaftCore (DESIGN.md "Raft", etcd-io/raft `node.go`). It owns
// the tick timer, the storage, the transport and the registry of state machines, and it follows
// the Ready contract of `core/types.ts` to the letter: persist, sync once, send, apply, answer
// reads, advance. Ready processing is serialised and coalesced per event-loop turn, which is
// what makes group commit happen: every proposal of one turn shares one Ready and one sync.
import { RaftError } from '../errors.js';
import type { Entry, Membership, NodeId, RaftMessage } from '../messages.js';
import type {
  LogStorage,
  ProposeResult,
  Ready,
  Role,
  Snapshot,
  TransferResult,
} from '../core/types.js';
import type { SnapshotJob } from '../state-machine.js';
import type { Transport } from '../transport.js';
import { jsonEnvelopeCodec } from './codec.js';
import type { CommandEnvelope, EnvelopeCodec } from './codec.js';
import { defaultCoreFactory } from './core-factory.js';
import type { CoreFactory, CorePort } from './core-port.js';
import type { ConfChange } from '../core/membership.js';
import { PendingConfChanges } from './membership-changes.js';
import type { MembershipChangeResult } from './membership-changes.js';
import { EventHub, roleStream } from './events.js';
import type { RaftNodeEventMap, RoleState, StorageState } from './events.js';
import {
  checkTimeout,
  isLeaderUnknown,
  parseQuery,
  proposeFailure,
  readIndexFailure,
  roleStateOf,
  runQuery,
  watchAbort,
} from './helpers.js';
import { resolveLimits, resolveSnapshotPolicy, validateOptions } from './options.js';
import type { RaftNodeLimits, RaftNodeOptions, ResolvedTiming, SnapshotPolicy } from './options.js';
import { PendingCommands, PendingQueries } from './pending.js';
import type { CommandWaiter, QueryWaiter } from './pending.js';
import { refKey, sessionKey, StateMachineRegistry } from './registry.js';
import type { AnyStateMachine } from './registry.js';
import { failure } from './results.js';
import type { CommandResult, QueryResult, RaftNodeFailure } from './results.js';
import { realScheduler, seededRandom } from './scheduler.js';
import type { Scheduler } from './scheduler.js';

export interface CommandOptions {
  /** The client session; give `seq` too. Retries with the same pair apply exactly once. */
  readonly clientId?: string;
  /** Unique per client and increasing; one command per `seq`. */
  readonly seq?: number;
  /**
   * The lowest seq this client still awaits an answer for (Raft dissertation 6.3). Results below
   * it are forgotten and a command below it is refused as stale. Defaults to `seq`: one command
   * in flight at a time. A client that multiplexes passes its oldest outstanding seq.
   */
  readonly lowestUnackedSeq?: number;
  /** Overrides `limits.commandTimeoutMs`. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface QueryOptions {
  /** `linearizable` (default) goes through ReadIndex; `local` reads this replica's state now. */
  readonly consistency?: 'linearizable' | 'local';
  /** Overrides `limits.queryTimeoutMs`. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** `created` until `start()`, `running`, then `stopped` or `failed` (storage error) for good. */
export type RaftNodeState = 'created' | 'running' | 'stopped' | 'failed';

export interface RaftNodeStatus {
  readonly id: NodeId;
  readonly state: RaftNodeState;
  readonly role: Role;
  readonly term: number;
  readonly leaderId: NodeId | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastIndex: number;
  readonly membership: Membership;
  readonly pendingCommands: number;
  readonly pendingQueries: number;
  readonly sessions: number;
  /** Storage syncs done so far (one per Ready that needed one). */
  readonly syncs: number;
  /** Inbound messages the core refused (unknown peer, stale term, absurd values). */
  readonly rejectedMessages: number;
  /** Snapshots this node took of its state machines (thresholds reached). */
  readonly snapshots: number;
  /** Times this node dropped log entries behind one of its snapshots. */
  readonly compactions: number;
  /** Snapshots received from a leader and restored. */
  readonly snapshotsInstalled: number;
  /** The index of the latest snapshot held in storage (0 before any). */
  readonly snapshotIndex: number;
  /**
   * Why the node failed (a rejected sync, a write error or a broken invariant), or why its
   * storage is stalled (disk full); the node acknowledges nothing meanwhile.
   */
  readonly storageError: string | undefined;
  /** `ok`, `no-space` (stalled: goes on by itself once space is back) or `failed` (for good). */
  readonly storage: StorageState;
}

/** The registry's state at an applied index, for compaction and for seeding a new node. */
export interface RegistrySnapshot {
  readonly index: number;
  readonly term: number;
  /**
   * The configuration to record with the snapshot (`storage.createSnapshot`): without it a
   * follower that installs the snapshot would not know its peers.
   */
  readonly membership: Membership;
  readonly data: Uint8Array;
}

/** Readies handled in one turn before yielding to I/O, so a busy node still reads its sockets. */
const maxReadiesPerTurn = 16;
/** What a leader may send before its own log is on disk (see `#sendLeaderMessagesEarly`). */
const leaderMessageTypes: ReadonlySet<RaftMessage['type']> = new Set([
  'AppendEntries',
  'Heartbeat',
  'InstallSnapshot',
  'TimeoutNow',
]);

export interface RaftNodeInit extends RaftNodeOptions {
  /** Builds the core; tests and benchmarks wrap it to observe calls. Default: `new RaftCore()`. */
  readonly createCore?: CoreFactory;
  /**
   * Called with the membership in force whenever it changes on this node (a config entry
   * applied, a snapshot restored), so the transport can dial new peers and drop removed ones.
   * It runs inside the Ready loop: keep it short, and do not throw (a throw is ignored).
   */
  readonly onMembershipChange?: (membership: Membership) => void;
}

/** Options of `RaftNode.changeMembership`. */
export interface MembershipChangeOptions {
  /** How long to keep trying and waiting for the change to apply. Default `limits.commandTimeoutMs`. */
  readonly timeoutMs?: number;
}

/** Options of `RaftNode.stop`. */
export interface StopOptions {
  /** Commands and queries already accepted get this long to finish first. Default 0. */
  readonly drainTimeoutMs?: number;
  /**
   * When this node leads, first hand leadership to the most caught-up voter and wait (up to
   * two election timeouts) until it lost the lead, so the cluster does not wait for an election
   * timeout after this node disappears. Default false.
   */
  readonly transferLeadership?: boolean;
}

/** Errors from the core, storage or a state machine, as the node's fatal error. */
function asRaftError(error: unknown): RaftError {
  if (error instanceof RaftError) return error;
  return new RaftError('INVARIANT_VIOLATED', `ready processing failed: ${String(error)}`, {
    cause: error,
  });
}

export class RaftNode {
  readonly id: NodeId;
  readonly #core: CorePort;
  readonly #storage: LogStorage;
  readonly #transport: Transport;
  readonly #scheduler: Scheduler;
  readonly #codec: EnvelopeCodec;
  readonly #limits: RaftNodeLimits;
  readonly #timing: ResolvedTiming;
  readonly #snapshotPolicy: SnapshotPolicy;
  readonly #registry: StateMachineRegistry;
  readonly #timedMachines: readonly AnyStateMachine[];
  readonly #commands = new PendingCommands();
  readonly #queries = new PendingQueries();
  readonly #hub = new EventHub();
  readonly #confChanges = new PendingConfChanges();
  readonly #onMembershipChange: ((membership: Membership) => void) | undefined;
  /** Reads the leader could not take yet (no commit in its term); retried after each Ready. */
  #unissuedReads: QueryWaiter[] = [];
  /** Commands proposed while no leader was known, waiting for one (bounded by the pending limit). */
  #parked: { waiter: CommandWaiter; bytes: Uint8Array }[] = [];
  readonly #forwarding: boolean;
  /** Machines with a timer command in flight: at most one each. */
  readonly #timersInFlight = new Set<string>();
  readonly #refPrefix: string;
  #refCounter = 0;
  #state: RaftNodeState = 'created';
  #role: RoleState;
  #appliedIndex = 0;
  #appliedTerm = 0;
  #syncs = 0;
  #rejectedMessages = 0;
  #snapshots = 0;
  #compactions = 0;
  #snapshotsInstalled = 0;
  /** The index of the last snapshot taken or installed, and entry bytes applied after it. */
  #lastSnapshotIndex = 0;
  #bytesSinceSnapshot = 0;
  /** The size of the last snapshot taken, for the log-to-state ratio of `#snapshotDue`. */
  #lastSnapshotBytes = 0;
  /** A snapshot being serialized in slices, and one finished but not yet stored. */
  #snapshotJob:
    | { index: number; term: number; membership: Membership; job: SnapshotJob; startedMs: number }
    | undefined;
  #finishedSnapshot: { snapshot: RegistrySnapshot; startedMs: number } | undefined;
  #fatal: RaftError | undefined;
  /** Set while the disk is full: a Ready waits for its sync and nothing is acknowledged. */
  #stalled: { sinceMs: number; message: string } | undefined;
  #cancelTick: (() => void) | undefined;
  #unregister: (() => void) | undefined;
  #scheduled = false;
  /** Set by `stop({ drainTimeoutMs })`: refuse new work while accepted work finishes. */
  #stopping = false;
  /** While draining: resolves the drain once nothing is pending (checked after each Ready and tick). */
  #checkDrained: (() => void) | undefined;
  #processing: Promise<void> | undefined;

  constructor(options: RaftNodeInit) {
    this.#timing = validateOptions(options);
    this.#onMembershipChange = options.onMembershipChange;
    this.#limits = resolveLimits(options.limits);
    this.#snapshotPolicy = resolveSnapshotPolicy(options);
    this.id = options.id;
    this.#storage = options.storage;
    this.#transport = options.transport;
    this.#scheduler = options.scheduler ?? realScheduler;
    this.#codec = options.codec ?? jsonEnvelopeCodec;
    this.#registry = new StateMachineRegistry({
      machines: options.stateMachines,
      maxSessions: this.#limits.maxSessions,
      codec: this.#codec,
    });
    this.#timedMachines = options.stateMachines.filter((m) => m.nextDeadline !== undefined);
    const random = options.random ?? seededRandom(options.seed ?? this.#scheduler.nowMs());
    // Refs and read contexts must be unique across restarts too, so the clock is part of them.
    this.#refPrefix = `${options.id}.${this.#scheduler.nowMs().toString(36)}${Math.floor(random() * 1e9).toString(36)}`;
    this.#forwarding = options.core?.forwardProposals ?? true;
    this.#restoreFromStorage();
    this.#core = (options.createCore ?? defaultCoreFactory)({
      forwardProposals: true,
      ...options.core,
      id: options.id,
      peers: options.peers,
      storage: options.storage,
      random,
      electionTicks: this.#timing.electionTicks,
      heartbeatTicks: this.#timing.heartbeatTicks,
      appliedIndex: this.#appliedIndex,
    });
    this.#role = { type: 'follower', term: this.#core.status().term, leaderId: null };
  }

  /** State machines resume from the stored snapshot; the core replays the log after it. */
  #restoreFromStorage(): void {
    const snapshot = this.#storage.snapshot();
    if (snapshot.metadata.index === 0) return;
    this.#registry.restore(snapshot.data);
    this.#appliedIndex = snapshot.metadata.index;
    this.#appliedTerm = snapshot.metadata.term;
    this.#lastSnapshotIndex = snapshot.metadata.index;
  }

  /** Registers with the transport and starts ticking. */
  start(): void {
    if (this.#state !== 'created') {
      throw new RaftError(
        'INVALID_STATE',
        `start() needs a created node (this one is ${this.#state})`,
      );
    }
    this.#state = 'running';
    this.#unregister = this.#transport.onMessage(this.#onMessage);
    this.#cancelTick = this.#scheduler.setInterval(this.#onTick, this.#timing.tickIntervalMs);
    this.#schedule();
  }

  /**
   * Refuses new work, answers everything pending with STOPPED, cancels the timer, leaves the
   * transport, and resolves once any Ready being processed has finished touching storage. With
   * `drainTimeoutMs`, commands and queries already accepted get that long to finish first (a
   * graceful shutdown: new work is refused with STOPPED meanwhile).
   */
  async stop(options: StopOptions = {}): Promise<void> {
    const drainTimeoutMs = options.drainTimeoutMs ?? 0;
    if (options.transferLeadership === true) await this.#handOffLeadership();
    if (this.#state === 'running' && drainTimeoutMs > 0) await this.#drainPending(drainTimeoutMs);
    if (this.#state === 'running' || this.#state === 'created') {
      this.#state = 'stopped';
      this.#shutdown(failure('STOPPED', 'the node is stopped'));
      this.#setRole({ type: 'stopped' });
    }
    await this.#processing;
  }

  /** Stops accepting work and resolves when nothing is pending or the time is up. */
  #drainPending(timeoutMs: number): Promise<void> {
    this.#stopping = true;
    const deadlineMs = this.#scheduler.nowMs() + timeoutMs;
    return new Promise<void>((resolve) => {
      this.#checkDrained = () => {
        const idle =
          this.#commands.size === 0 && this.#queries.size + this.#unissuedReads.length === 0;
        if (!idle && this.#running() && this.#scheduler.nowMs() < deadlineMs) return;
        this.#checkDrained = undefined;
        resolve();
      };
      this.#checkDrained();
    });
  }

  #shutdown(result: RaftNodeFailure): void {
    this.#cancelTick?.();
    this.#cancelTick = undefined;
    this.#unregister?.();
    this.#unregister = undefined;
    this.#commands.settleAll(result);
    this.#queries.settleAll(result);
    this.#confChanges.settleAll(result);
    this.#unissuedReads = [];
    this.#parked = [];
    this.#checkDrained?.();
  }

  #storageState(): StorageState {
    if (this.#fatal !== undefined) return { type: 'failed', message: this.#fatal.message };
    if (this.#stalled !== undefined) return { type: 'no-space', ...this.#stalled };
    return { type: 'ok' };
  }

  #fail(error: RaftError): void {
    if (this.#state !== 'running') return;
    this.#state = 'failed';
    this.#fatal = error;
    this.#shutdown(failure('STOPPED', `the node failed: ${error.message}`));
    this.#hub.emit('fatal', error);
    this.#setRole({ type: 'failed', error });
  }

  /** Running and not draining: new commands and queries are welcome. */
  #accepting(): boolean {
    return this.#state === 'running' && !this.#stopping;
  }

  #refusal(): string {
    return this.#stopping && this.#state === 'running'
      ? 'the node is stopping'
      : `the node is ${this.#state}`;
  }

  /** A method, not a field read, so narrowing does not survive an await that may change it. */
  #running(): boolean {
    return this.#state === 'running';
  }

  #setRole(role: RoleState): void {
    this.#role = role;
    this.#hub.emit('role', role);
  }

  /** Listens to role changes (`role`) or the fatal storage error (`fatal`). */
  on<K extends keyof RaftNodeEventMap>(
    type: K,
    listener: (value: RaftNodeEventMap[K]) => void,
  ): () => void {
    return this.#hub.on(type, listener);
  }

  /** The current role, then every change, until the node stops or `signal` aborts. */
  roles(signal?: AbortSignal): AsyncGenerator<RoleState, void, undefined> {
    return roleStream({ hub: this.#hub, current: this.#role, signal });
  }

  get role(): RoleState {
    return this.#role;
  }

  status(): RaftNodeStatus {
    const core = this.#core.status();
    return {
      id: this.id,
      state: this.#state,
      role: core.role,
      term: core.term,
      leaderId: core.leaderId,
      commitIndex: core.commitIndex,
      appliedIndex: this.#appliedIndex,
      lastIndex: core.lastIndex,
      membership: core.membership,
      pendingCommands: this.#commands.size,
      pendingQueries: this.#queries.size + this.#unissuedReads.length,
      sessions: this.#registry.sessions.size,
      syncs: this.#syncs,
      rejectedMessages: this.#rejectedMessages,
      snapshots: this.#snapshots,
      compactions: this.#compactions,
      snapshotsInstalled: this.#snapshotsInstalled,
      snapshotIndex: this.#storage.snapshot().metadata.index,
      storageError: this.#fatal?.message ?? this.#stalled?.message,
      storage: this.#storageState(),
    };
  }

  /**
   * Changes the membership by one server (Raft dissertation 4.1) and resolves once the change is
   * committed and applied on this node, with the membership now in force. Call it on the leader
   * (a follower answers NOT_LEADER with a hint). `add-voter` adds the node as a learner, waits
   * until it caught up, then promotes it. A change refused for a passing reason (an earlier
   * change still applying: CHANGE_IN_PROGRESS; a learner still behind: LEARNER_BEHIND; a
   * transfer) is retried on every tick until `timeoutMs`, then that code is returned.
   */
  async changeMembership(
    change: ConfChange,
    options: MembershipChangeOptions = {},
  ): Promise<MembershipChangeResult> {
    if (!this.#accepting()) return failure('STOPPED', this.#refusal());
    const badTimeout = checkTimeout(options.timeoutMs);
    if (badTimeout !== undefined) return badTimeout;
    const timeoutMs = options.timeoutMs ?? this.#limits.commandTimeoutMs;
    const deadlineMs = this.#scheduler.nowMs() + timeoutMs;
    if (change.type !== 'add-voter') return this.#changeOnce(change, deadlineMs);
    const { voters, learners } = this.#core.status().membership;
    if (!voters.includes(change.node) && !learners.includes(change.node)) {
      const added = await this.#changeOnce({ type: 'add-learner', node: change.node }, deadlineMs);
      if (!added.ok) return added;
    }
    return this.#changeOnce({ type: 'promote', node: change.node }, deadlineMs);
  }

  async #changeOnce(change: ConfChange, deadlineMs: number): Promise<MembershipChangeResult> {
    for (;;) {
      if (!this.#running()) return failure('STOPPED', this.#refusal());
      const result = this.#core.proposeConfChange(change);
      this.#schedule();
      if (result.ok) return this.#confChanges.wait({ ...result, deadlineMs });
      if (result.code === 'NOT_LEADER') {
        return failure(
          'NOT_LEADER',
          'membership changes are made on the leader',
          result.leaderHint,
        );
      }
      const passing =
        result.code === 'CHANGE_IN_PROGRESS' ||
        result.code === 'LEARNER_BEHIND' ||
        result.code === 'TRANSFER_IN_PROGRESS';
      if (!passing || this.#scheduler.nowMs() >= deadlineMs) {
        return { ok: false, code: result.code, message: result.reason };
      }
      await this.#confChanges.nextTick();
    }
  }

  /** `stop({ transferLeadership })`: hands the lead to the most caught-up voter and waits. */
  async #handOffLeadership(): Promise<void> {
    const status = this.#core.status();
    if (!this.#running() || status.role !== 'leader') return;
    let target: { id: NodeId; matchIndex: number } | undefined;
    for (const progress of status.progress ?? []) {
      if (progress.id === this.id || !status.membership.voters.includes(progress.id)) continue;
      if (target === undefined || progress.matchIndex > target.matchIndex) target = progress;
    }
    if (target === undefined || !this.#core.transferLeadership(target.id).ok) return;
    this.#schedule();
    const deadlineMs =
      this.#scheduler.nowMs() + 2 * this.#timing.electionTicks * this.#timing.tickIntervalMs;
    while (this.#running() && this.#scheduler.nowMs() < deadlineMs) {
      if (this.#core.status().role !== 'leader') return;
      await this.#confChanges.nextTick();
    }
  }

  /** Asks the core to hand leadership to `to` (it must be a caught-up voter). */
  transferLeadership(to: NodeId): TransferResult {
    this.#assertRunning('transferLeadership');
    const result = this.#core.transferLeadership(to);
    this.#schedule();
    return result;
  }

  #assertRunning(method: string): void {
    if (this.#state !== 'running') {
      throw new RaftError(
        'INVALID_STATE',
        `${method}() needs a running node (this one is ${this.#state})`,
      );
    }
  }

  /** Serializes every state machine and the session table at the applied index. */
  snapshot(): RegistrySnapshot {
    return {
      index: this.#appliedIndex,
      term: this.#appliedTerm,
      membership: this.#core.status().membership,
      data: this.#registry.snapshot(),
    };
  }

  /** Loads a registry snapshot into a node that has not started (seeding or recovery). */
  restore(snapshot: Pick<RegistrySnapshot, 'index' | 'term' | 'data'>): void {
    if (this.#state !== 'created') {
      throw new RaftError(
        'INVALID_STATE',
        `restore() needs a created node (this one is ${this.#state})`,
      );
    }
    this.#registry.restore(snapshot.data);
    this.#appliedIndex = snapshot.index;
    this.#appliedTerm = snapshot.term;
  }

  // ---- commands -------------------------------------------------------------------------------

  /**
   * Proposes `command` to the state machine `sm` and resolves when its entry has applied on this
   * node, with that machine's (deterministic) result. Never throws for expected outcomes.
   */
  command<Value = unknown>(
    sm: string,
    command: unknown,
    options: CommandOptions = {},
  ): Promise<CommandResult<Value>> {
    const checked = this.#checkCommand(sm, options);
    if (checked !== undefined) return Promise.resolve(checked as CommandResult<Value>);
    const { envelope, key } = this.#envelope(sm, command, options);
    const timeoutMs = options.timeoutMs ?? this.#limits.commandTimeoutMs;
    return this.#propose({ envelope, key, timeoutMs, signal: options.signal }) as Promise<
      CommandResult<Value>
    >;
  }

  /** Stamps the command; a session command is keyed by (clientId, seq), any other by a ref. */
  #envelope(
    sm: string,
    command: unknown,
    options: CommandOptions,
  ): { envelope: CommandEnvelope; key: string } {
    const timeMs = this.#scheduler.nowMs();
    const { clientId, seq } = options;
    if (clientId !== undefined && seq !== undefined) {
      const { lowestUnackedSeq } = options;
      const envelope: CommandEnvelope =
        lowestUnackedSeq === undefined || lowestUnackedSeq >= seq
          ? { sm, clientId, seq, timeMs, command }
          : { sm, clientId, seq, lowestUnackedSeq, timeMs, command };
      return { envelope, key: sessionKey(clientId, seq) };
    }
    const ref = this.#nextRef();
    return { envelope: { sm, ref, timeMs, command }, key: refKey(ref) };
  }

  /** Everything that can refuse a command before it is proposed; undefined when it may go. */
  #checkCommand(sm: string, options: CommandOptions): CommandResult | undefined {
    if (!this.#accepting()) return failure('STOPPED', this.#refusal());
    if (this.#stalled !== undefined) return failure('STORAGE_STALLED', this.#stalled.message);
    if (this.#registry.get(sm) === undefined) {
      return failure('BAD_REQUEST', `no state machine named ${JSON.stringify(sm)}`);
    }
    const { clientId, seq } = options;
    if ((clientId === undefined) !== (seq === undefined)) {
      return failure('BAD_REQUEST', 'clientId and seq must be given together');
    }
    if (seq !== undefined && (!Number.isSafeInteger(seq) || seq < 0)) {
      return failure('BAD_REQUEST', `seq must be a non-negative integer (got ${seq})`);
    }
    const { lowestUnackedSeq } = options;
    if (
      lowestUnackedSeq !== undefined &&
      (seq === undefined || !Number.isSafeInteger(lowestUnackedSeq) || lowestUnackedSeq < 0)
    ) {
      return failure(
        'BAD_REQUEST',
        `lowestUnackedSeq must be a non-negative integer given with seq (got ${lowestUnackedSeq})`,
      );
    }
    const timeout = checkTimeout(options.timeoutMs);
    if (timeout !== undefined) return timeout;
    if (options.signal?.aborted === true) return failure('ABORTED', 'the signal was aborted');
    if (clientId !== undefined && seq !== undefined) {
      // A retry of a command this replica already applied is answered from the session table.
      const seen = this.#registry.sessions.lookup(clientId, seq);
      if (seen.kind === 'duplicate') return seen.result;
      if (seen.kind === 'stale') {
        return failure(
          'BAD_REQUEST',
          `seq ${seq} is below client ${clientId}'s lowest unacknowledged seq ${seen.floor}`,
        );
      }
    }
    if (this.#commands.size >= this.#limits.maxPendingCommands) {
      return failure(
        'TOO_MANY_PENDING',
        `maxPendingCommands (${this.#limits.maxPendingCommands}) reached`,
      );
    }
    return undefined;
  }

  #nextRef(): string {
    this.#refCounter += 1;
    return `${this.#refPrefix}.${this.#refCounter.toString(36)}`;
  }

  /** Encodes, checks the size, proposes and registers the waiter. */
  #propose(request: {
    envelope: CommandEnvelope;
    key: string;
    timeoutMs: number;
    signal: AbortSignal | undefined;
    internal?: () => void;
  }): Promise<CommandResult> {
    let bytes: Uint8Array;
    try {
      bytes = this.#codec.encode(request.envelope);
    } catch (error) {
      return Promise.resolve(
        failure('BAD_REQUEST', `the command cannot be encoded: ${String(error)}`),
      );
    }
    if (bytes.byteLength > this.#limits.maxCommandBytes) {
      const rule = `maxCommandBytes (${this.#limits.maxCommandBytes})`;
      return Promise.resolve(
        failure('TOO_LARGE', `the command is ${bytes.byteLength} bytes, over ${rule}`),
      );
    }
    const proposed = this.#core.propose(bytes);
    // During an election nobody can take the proposal yet; with forwarding on, the command
    // waits (within its timeout) for a leader instead of failing at once.
    const park = !proposed.ok && this.#forwarding && isLeaderUnknown(proposed);
    if (!proposed.ok && !park) return Promise.resolve(proposeFailure(proposed));
    return new Promise<CommandResult>((resolve) => {
      const waiter: CommandWaiter = {
        key: request.key,
        deadlineMs: this.#scheduler.nowMs() + request.timeoutMs,
        internal: request.internal !== undefined,
        resolve,
        proposedIndex: undefined,
        proposedTerm: undefined,
        detach: undefined,
      };
      waiter.detach = watchAbort(request.signal, () => {
        this.#commands.settle(
          waiter,
          failure('ABORTED', 'the signal was aborted; the command may still apply'),
        );
      });
      this.#commands.add(waiter);
      if (!proposed.ok) this.#parked.push({ waiter, bytes });
      else this.#track(waiter, proposed);
      this.#schedule();
    });
  }

  /** Remembers where an accepted proposal went, so that its loss can be answered early. */
  #track(waiter: CommandWaiter, proposed: ProposeResult & { ok: true }): void {
    if ('index' in proposed) this.#commands.placed(waiter, proposed);
    else this.#commands.forwarded(waiter, proposed.term);
  }

  /** Proposes parked commands again once a leader is known. */
  #retryParked(): void {
    if (this.#parked.length === 0 || this.#core.status().leaderId === null) return;
    const parked = this.#parked;
    this.#parked = [];
    for (const { waiter, bytes } of parked) {
      if (!this.#commands.has(waiter)) continue;
      const proposed = this.#core.propose(bytes);
      if (proposed.ok) {
        this.#track(waiter, proposed);
      } else if (isLeaderUnknown(proposed)) {
        this.#parked.push({ waiter, bytes });
      } else {
        this.#commands.settle(waiter, proposeFailure(proposed));
      }
    }
    this.#schedule();
  }

  // ---- queries --------------------------------------------------------------------------------

  /**
   * Runs a read-only query. `linearizable` (the default) confirms leadership through ReadIndex
   * and waits until this replica has applied the read index, so it works on followers too.
   */
  query<Value = unknown>(
    sm: string,
    query: unknown,
    options: QueryOptions = {},
  ): Promise<QueryResult<Value>> {
    if (!this.#accepting()) return Promise.resolve(failure('STOPPED', this.#refusal()));
    if (this.#stalled !== undefined) {
      return Promise.resolve(failure('STORAGE_STALLED', this.#stalled.message));
    }
    const machine = this.#registry.get(sm);
    if (machine === undefined) {
      return Promise.resolve(
        failure('BAD_REQUEST', `no state machine named ${JSON.stringify(sm)}`),
      );
    }
    const parsed = parseQuery(machine, query);
    if (!parsed.ok) return Promise.resolve(parsed);
    const timeout = checkTimeout(options.timeoutMs);
    if (timeout !== undefined) return Promise.resolve(timeout);
    const run = (): QueryResult => runQuery(machine, parsed.query, this.#appliedIndex);
    if (options.consistency === 'local') return Promise.resolve(run() as QueryResult<Value>);
    if (options.signal?.aborted === true)
      return Promise.resolve(failure('ABORTED', 'the signal was aborted'));
    if (this.#queries.size + this.#unissuedReads.length >= this.#limits.maxPendingQueries) {
      const rule = `maxPendingQueries (${this.#limits.maxPendingQueries})`;
      return Promise.resolve(failure('TOO_MANY_PENDING', `${rule} reached`));
    }
    const timeoutMs = options.timeoutMs ?? this.#limits.queryTimeoutMs;
    return this.#read({ run, timeoutMs, signal: options.signal }) as Promise<QueryResult<Value>>;
  }

  #read(request: {
    run: () => QueryResult;
    timeoutMs: number;
    signal: AbortSignal | undefined;
  }): Promise<QueryResult> {
    return new Promise<QueryResult>((resolve) => {
      const waiter: QueryWaiter = {
        context: this.#nextRef(),
        deadlineMs: this.#scheduler.nowMs() + request.timeoutMs,
        readIndex: undefined,
        issuedAtMs: 0,
        run: request.run,
        resolve,
        detach: undefined,
      };
      waiter.detach = watchAbort(request.signal, () => {
        this.#unissuedReads = this.#unissuedReads.filter((other) => other !== waiter);
        this.#queries.settle(waiter, failure('ABORTED', 'the signal was aborted'));
        resolve(failure('ABORTED', 'the signal was aborted'));
      });
      this.#issueRead(waiter);
    });
  }

  /** Asks the core for a read index; a leader without a commit in its term is asked again later. */
  #issueRead(waiter: QueryWaiter): void {
    const result = this.#core.readIndex(waiter.context);
    if (result.ok) {
      waiter.issuedAtMs = this.#scheduler.nowMs();
      this.#queries.add(waiter);
      this.#schedule();
      return;
    }
    const refused = readIndexFailure(result, this.#forwarding);
    if (refused === undefined) {
      this.#unissuedReads.push(waiter);
      return;
    }
    waiter.detach?.();
    waiter.resolve(refused);
  }

  /**
   * Issues again every read still without a read index after two heartbeat intervals: a
   * forwarded ReadIndex may be lost, or refused by a leader not ready yet, and the follower's
   * core drops such a refusal, so the host is the one that must retry. The leader answers a
   * context only once, so a retry never doubles a read.
   */
  #reissueStaleReads(nowMs: number): void {
    const retryMs = 2 * this.#timing.heartbeatTicks * this.#timing.tickIntervalMs;
    for (const waiter of this.#queries.unconfirmedSince(nowMs - retryMs)) {
      waiter.issuedAtMs = nowMs;
      this.#core.readIndex(waiter.context);
    }
  }

  #retryReads(): void {
    if (this.#unissuedReads.length === 0) return;
    const nowMs = this.#scheduler.nowMs();
    const waiting = this.#unissuedReads;
    this.#unissuedReads = [];
    for (const waiter of waiting) {
      if (waiter.deadlineMs <= nowMs) {
        waiter.detach?.();
        waiter.resolve(failure('TIMEOUT', 'no read index within the timeout'));
      } else {
        this.#issueRead(waiter);
      }
    }
  }

  // ---- the loop -------------------------------------------------------------------------------

  readonly #onMessage = (message: RaftMessage): void => {
    if (this.#state !== 'running') return;
    const stamped = message.type === 'Propose' ? this.#restamp(message) : message;
    const result = this.#guard(() => this.#core.step(stamped));
    if (result?.ok === false) this.#rejectedMessages += 1;
    this.#schedule();
  };

  /**
   * Applied time is the leader's: a proposal a follower forwarded carries that follower's clock,
   * which may run ahead and would move every replica's applied time (and expire leases early).
   * The leader stamps forwarded commands again with its own clock before it appends them; an
   * entry it cannot read is left as it is (apply answers it BAD_REQUEST on every replica).
   */
  #restamp(message: RaftMessage & { type: 'Propose' }): RaftMessage {
    if (this.#core.status().role !== 'leader') return message;
    const nowMs = this.#scheduler.nowMs();
    const entries = message.entries.map((bytes) => {
      let envelope: CommandEnvelope;
      try {
        envelope = this.#codec.decode(bytes);
      } catch {
        return bytes;
      }
      return this.#codec.encode({ ...envelope, timeMs: nowMs });
    });
    return { ...message, entries };
  }

  /**
   * Runs a core call from a timer or transport callback. The core throws only for broken
   * invariants; that must fail this node loudly (fatal event, failed role), not crash the process
   * from inside someone else's socket callback.
   */
  #guard<T>(call: () => T): T | undefined {
    try {
      return call();
    } catch (error) {
      this.#fail(asRaftError(error));
      return undefined;
    }
  }

  readonly #onTick = (): void => {
    if (this.#state !== 'running') return;
    this.#guard(() => {
      this.#core.tick();
    });
    if (!this.#running()) return;
    const nowMs = this.#scheduler.nowMs();
    this.#commands.expire(nowMs, () =>
      failure('TIMEOUT', 'not applied within the timeout; retry with the same seq'),
    );
    this.#queries.expire(nowMs, failure('TIMEOUT', 'no read index within the timeout'));
    this.#confChanges.tick(nowMs);
    this.#retryParked();
    this.#retryReads();
    this.#reissueStaleReads(nowMs);
    this.#proposeTimers(nowMs);
    this.#checkDrained?.();
    this.#schedule();
  };

  /** Coalesces every event of this turn into one pass over the core's Ready. */
  #schedule(): void {
    if (this.#scheduled || this.#state !== 'running') return;
    this.#scheduled = true;
    setImmediate(this.#runScheduled);
  }

  readonly #runScheduled = (): void => {
    this.#scheduled = false;
    // A pass already running picks up new work itself after its advance(); never re-enter.
    if (this.#processing !== undefined) return;
    this.#processing = this.#drain().finally(() => {
      this.#processing = undefined;
    });
  };

  async #drain(): Promise<void> {
    try {
      this.#storeFinishedSnapshot();
      for (let pass = 0; this.#state === 'running' && this.#core.hasReady(); pass += 1) {
        if (pass === maxReadiesPerTurn) {
          this.#schedule();
          return;
        }
        const ready = this.#core.ready();
        const syncing = this.#persist(ready);
        // A leader replicates while it writes its own log (Raft thesis §10.2.1): its appends and
        // heartbeats claim nothing about its own disk, and the commit they lead to is neither
        // applied nor sent before this sync returns, because the next Ready waits for it.
        const sentEarly = syncing !== undefined && this.#sendLeaderMessagesEarly(ready);
        if (syncing !== undefined && !(await this.#awaitSync(syncing, ready.entries.length))) {
          return;
        }
        // stop() may have run while the sync was in flight; a stopped node acknowledges nothing.
        if (!this.#running()) return;
        this.#deliver(ready, sentEarly);
        this.#core.advance(ready);
        this.#maybeSnapshot();
        this.#afterReady();
      }
    } catch (error) {
      this.#fail(asRaftError(error));
    }
  }

  /** Step 1 of the Ready contract: write the snapshot, entries and hard state; sync once if asked. */
  #persist(ready: Ready): Promise<void> | undefined {
    if (ready.softState !== undefined) {
      this.#setRole(
        roleStateOf(ready.softState, ready.hardState?.term ?? this.#core.status().term),
      );
    }
    if (ready.snapshot !== undefined) this.#storage.applySnapshot(ready.snapshot);
    if (ready.entries.length > 0) this.#storage.append(ready.entries);
    if (ready.hardState !== undefined) this.#storage.setHardState(ready.hardState);
    if (!ready.mustSync) return undefined;
    this.#syncs += 1;
    return this.#storage.sync();
  }

  /** True when the sync succeeded; a rejection is fatal, since nothing may be acknowledged. */
  async #awaitSync(syncing: Promise<void>, entries: number): Promise<boolean> {
    const startMs = performance.now();
    try {
      await syncing;
      this.#hub.emit('sync', { durationMs: performance.now() - startMs, entries });
      return true;
    } catch (error) {
      if (isNoSpace(error)) return this.#waitForSpace(error);
      this.#fail(
        new RaftError('STORAGE_FAILED', `storage sync failed: ${String(error)}`, { cause: error }),
      );
      return false;
    }
  }

  /**
   * The disk is full (issue: ENOSPC must not kill the node). Nothing of this Ready was made
   * durable, so nothing of it is sent or applied: the Ready waits here and the sync is retried
   * every `storageRetryMs` until it succeeds. Meanwhile the node refuses new work with
   * STORAGE_STALLED and sends nothing, so its followers stop hearing from it and elect another
   * leader; its own core keeps ticking, so check-quorum steps it down within an election timeout
   * and a newer term from the new leader makes it a follower. Once space is back the Ready goes
   * on exactly where it stopped. Any other storage error is fatal, as before.
   */
  async #waitForSpace(error: unknown): Promise<boolean> {
    this.#stalled = { sinceMs: this.#scheduler.nowMs(), message: `disk full: ${String(error)}` };
    this.#hub.emit('storage', this.#storageState());
    while (this.#running()) {
      await this.#delay(this.#limits.storageRetryMs);
      if (!this.#running()) return false;
      try {
        await this.#storage.sync();
        this.#stalled = undefined;
        this.#hub.emit('storage', this.#storageState());
        return true;
      } catch (retryError) {
        if (isNoSpace(retryError)) continue;
        this.#stalled = undefined;
        this.#fail(
          new RaftError('STORAGE_FAILED', `storage sync failed: ${String(retryError)}`, {
            cause: retryError,
          }),
        );
        return false;
      }
    }
    return false;
  }

  /** Waits on the injected scheduler, so fake clocks drive the retry too. */
  #delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const cancel = this.#scheduler.setInterval(() => {
        cancel();
        resolve();
      }, ms);
    });
  }

  /**
   * Sends the Ready's messages before its sync when every one of them is a leader's replication
   * message of the current term (AppendEntries, Heartbeat, InstallSnapshot, TimeoutNow). Anything
   * else, such as a vote or an acknowledgement of entries, must wait until the disk has them.
   */
  #sendLeaderMessagesEarly(ready: Ready): boolean {
    if (ready.messages.length === 0 || ready.snapshot !== undefined) return false;
    const status = this.#core.status();
    if (status.role !== 'leader') return false;
    for (const message of ready.messages) {
      if (message.term !== status.term || !leaderMessageTypes.has(message.type)) return false;
    }
    this.#transport.send(ready.messages);
    return true;
  }

  /** Steps 2-4: send, apply committed entries, answer reads. */
  #deliver(ready: Ready, sentEarly = false): void {
    if (ready.snapshot !== undefined) this.#installSnapshot(ready.snapshot);
    if (ready.messages.length > 0 && !sentEarly) this.#transport.send(ready.messages);
    if (ready.membership !== undefined) this.#membershipChanged(ready.membership);
    for (const entry of ready.committedEntries) this.#applyEntry(entry);
    for (const read of ready.readStates) this.#queries.confirmed(read.context, read.index);
    this.#queries.serve(this.#appliedIndex);
  }

  #membershipChanged(membership: Membership): void {
    try {
      this.#onMembershipChange?.(membership);
    } catch {
      // The hook belongs to the host; its failure must not stop the Raft loop.
    }
  }

  #installSnapshot(snapshot: Snapshot): void {
    if (snapshot.metadata.index <= this.#appliedIndex) return;
    // A snapshot of our own still being serialized captured state that restore() replaces.
    this.#cancelSnapshotJob();
    const startMs = performance.now();
    this.#registry.restore(snapshot.data);
    this.#commands.forgetForwards();
    this.#hub.emit('snapshot', {
      kind: 'installed',
      index: snapshot.metadata.index,
      bytes: snapshot.data.byteLength,
      durationMs: performance.now() - startMs,
    });
    this.#lastSnapshotBytes = snapshot.data.byteLength;
    this.#appliedIndex = snapshot.metadata.index;
    this.#appliedTerm = snapshot.metadata.term;
    this.#lastSnapshotIndex = snapshot.metadata.index;
    this.#bytesSinceSnapshot = 0;
    this.#snapshotsInstalled += 1;
  }

  /**
   * Takes a snapshot once it is due (see `#snapshotDue`), then drops the log behind it except a
   * tail of `snapshotKeepEntries`. The state is captured at the applied index at once; machines
   * with `beginSnapshot` then serialize in slices of at most `snapshotSliceMs` on later turns
   * while entries keep applying, so even a state of millions of keys never stalls heartbeats.
   */
  #maybeSnapshot(): void {
    this.#storeFinishedSnapshot();
    if (this.#snapshotJob !== undefined || !this.#snapshotDue()) return;
    // The applied entry must still be in storage (it always is unless a snapshot replaced it).
    if (this.#storage.term(this.#appliedIndex) === undefined) return;
    if (this.#appliedIndex <= this.#storage.snapshot().metadata.index) return;
    const capture = {
      index: this.#appliedIndex,
      term: this.#appliedTerm,
      membership: this.#core.status().membership,
    };
    const startedMs = performance.now();
    const job = this.#registry.beginSnapshot();
    this.#lastSnapshotIndex = capture.index;
    this.#bytesSinceSnapshot = 0;
    const bytes = job.next();
    if (bytes !== undefined) {
      this.#storeSnapshot({ ...capture, data: bytes }, startedMs);
      return;
    }
    this.#snapshotJob = { ...capture, job, startedMs };
    setImmediate(this.#stepSnapshot);
  }

  /**
   * Due after `snapshotEveryEntries` entries or `snapshotEveryBytes` bytes of them, but not before
   * the log since the last snapshot is `snapshotLogRatio` times that snapshot's size: a snapshot
   * costs in proportion to the state, so a big state snapshots less often (amortized cost per
   * write stays constant) while `snapshotEveryBytes` still bounds the log.
   */
  #snapshotDue(): boolean {
    const policy = this.#snapshotPolicy;
    const entries = this.#appliedIndex - this.#lastSnapshotIndex;
    if (entries <= 0) return false;
    if (this.#bytesSinceSnapshot >= policy.everyBytes) return true;
    return (
      entries >= policy.everyEntries &&
      this.#bytesSinceSnapshot >= this.#lastSnapshotBytes * policy.logRatio
    );
  }

  /** One slice of the snapshot in progress, then yields to the event loop. */
  readonly #stepSnapshot = (): void => {
    const running = this.#snapshotJob;
    if (running === undefined) return;
    if (!this.#running()) {
      this.#cancelSnapshotJob();
      return;
    }
    const deadline = performance.now() + this.#snapshotPolicy.sliceMs;
    let bytes: Uint8Array | undefined;
    try {
      do bytes = running.job.next();
      while (bytes === undefined && performance.now() < deadline);
    } catch (error) {
      this.#cancelSnapshotJob();
      this.#fail(asRaftError(error));
      return;
    }
    if (bytes === undefined) {
      setImmediate(this.#stepSnapshot);
      return;
    }
    const finished = {
      snapshot: {
        index: running.index,
        term: running.term,
        membership: running.membership,
        data: bytes,
      },
      startedMs: running.startedMs,
    };
    const done = (): void => {
      if (this.#snapshotJob !== running) return;
      this.#snapshotJob = undefined;
      this.#finishedSnapshot = finished;
      this.#schedule();
    };
    if (this.#storage.prepareSnapshot === undefined) {
      done();
      return;
    }
    // A large file is made durable beside the WAL, so new entries' fsyncs do not queue behind it.
    this.#storage.prepareSnapshot({ ...finished.snapshot, term: running.term }).then(done, () => {
      // Not stored this time (the disk refused, or the node stopped): the next one is due later.
      if (this.#snapshotJob === running) this.#snapshotJob = undefined;
    });
  };

  #cancelSnapshotJob(): void {
    const running = this.#snapshotJob;
    this.#snapshotJob = undefined;
    running?.job.cancel();
  }

  /** Stores a snapshot finished in slices, unless a newer one (from the leader) replaced it. */
  #storeFinishedSnapshot(): void {
    const finished = this.#finishedSnapshot;
    if (finished === undefined) return;
    this.#finishedSnapshot = undefined;
    const { snapshot, startedMs } = finished;
    if (snapshot.index <= this.#storage.snapshot().metadata.index) return;
    if (this.#storage.term(snapshot.index) !== snapshot.term) return;
    this.#storeSnapshot(snapshot, startedMs);
  }

  #storeSnapshot(snapshot: RegistrySnapshot, startedMs: number): void {
    const policy = this.#snapshotPolicy;
    this.#storage.createSnapshot(snapshot);
    this.#snapshots += 1;
    this.#lastSnapshotBytes = snapshot.data.byteLength;
    const compactTo = snapshot.index - policy.keepEntries;
    if (compactTo >= this.#storage.firstIndex()) {
      this.#storage.compact(compactTo);
      this.#compactions += 1;
    }
    // Make the snapshot durable now rather than with the next write, which may be far away.
    this.#storage.sync().catch((error: unknown) => {
      // A full disk keeps the snapshot queued in storage; the next Ready's sync stalls on it.
      if (isNoSpace(error)) return;
      this.#fail(
        new RaftError('STORAGE_FAILED', `snapshot sync failed: ${String(error)}`, { cause: error }),
      );
    });
    this.#hub.emit('snapshot', {
      kind: 'taken',
      index: snapshot.index,
      bytes: snapshot.data.byteLength,
      durationMs: performance.now() - startedMs,
    });
  }

  #applyEntry(entry: Entry): void {
    if (entry.index <= this.#appliedIndex) return;
    if (entry.index !== this.#appliedIndex + 1) {
      throw new RaftError(
        'INVARIANT_VIOLATED',
        `committed entry ${entry.index} does not follow applied index ${this.#appliedIndex}`,
      );
    }
    if (entry.type === 'normal') {
      const outcome = this.#registry.apply(entry);
      if (outcome.key !== undefined) this.#commands.settleKey(outcome.key, outcome.result);
    }
    const lost = this.#commands.lostAt(entry.index);
    if (lost !== undefined) {
      const leaderHint = this.#core.status().leaderId;
      this.#commands.settle(
        lost,
        failure('NOT_LEADER', 'the proposal was overwritten by a new leader; retry', leaderHint),
      );
    }
    const lostForwards = this.#commands.lostForwards(entry.term);
    const hint = lostForwards.length > 0 ? this.#core.status().leaderId : null;
    for (const waiter of lostForwards) {
      this.#commands.settle(
        waiter,
        failure(
          'NOT_LEADER',
          `the forwarded proposal was lost when term ${entry.term} began: it was not applied; retry`,
          hint,
        ),
      );
    }
    this.#appliedIndex = entry.index;
    this.#appliedTerm = entry.term;
    this.#bytesSinceSnapshot += entry.data.byteLength;
    if (this.#confChanges.size > 0) this.#confChanges.applied(entry, this.#core.status().leaderId);
  }

  #afterReady(): void {
    this.#checkDrained?.();
    this.#retryParked();
    this.#retryReads();
    this.#proposeTimers(this.#scheduler.nowMs());
  }

  /** On the leader, proposes each due machine's timer command, at most one in flight per machine. */
  #proposeTimers(nowMs: number): void {
    if (this.#role.type !== 'leader' || this.#timedMachines.length === 0) return;
    for (const machine of this.#timedMachines) {
      if (this.#timersInFlight.has(machine.name)) continue;
      const deadline = machine.nextDeadline?.();
      if (deadline === undefined || deadline > nowMs || machine.timerCommand === undefined)
        continue;
      const ref = this.#nextRef();
      const command: unknown = machine.timerCommand(nowMs);
      const envelope = { sm: machine.name, ref, timeMs: nowMs, command };
      const done = (): void => {
        this.#timersInFlight.delete(machine.name);
      };
      this.#timersInFlight.add(machine.name);
      void this.#propose({
        envelope,
        key: refKey(ref),
        timeoutMs: this.#limits.commandTimeoutMs,
        signal: undefined,
        internal: done,
      }).then(done);
    }
  }
}

/** True for a storage error saying the disk is full (`FileStorage`'s NO_SPACE, or a raw ENOSPC). */
function isNoSpace(error: unknown): boolean {
  if (typeof error !== 'object' || error === null || !('code' in error)) return false;
  return error.code === 'NO_SPACE' || error.code === 'ENOSPC';
}
