// The sans-I/O Raft state machine (STYLE.md 17), a port of etcd-io/raft's `raft.go` driven the
// way its `rawnode.go` is: the host calls tick/step/propose/readIndex/transferLeadership, then
// takes a `Ready`, carries it out in the documented order and calls `advance`. Nothing in here
// reads a clock, touches I/O or draws randomness except through the injected `random`.
import type {
  AppendEntries,
  AppendEntriesResponse,
  Entry,
  Heartbeat,
  HeartbeatResponse,
  InstallSnapshot,
  InstallSnapshotResponse,
  Membership,
  NodeId,
  RaftMessage,
  ReadIndexResponse,
  RequestVote,
} from '../messages.js';
import { RaftError, invariant } from '../errors.js';
import { RaftLog } from './log.js';
import { applyChange, decodeConfigEntry, encodeConfigEntry, sameMembership } from './membership.js';
import type { ConfChange, ConfChangeResult } from './membership.js';
import { resolveOptions } from './options.js';
import type { ResolvedOptions } from './options.js';
import { Progress } from './progress.js';
import { SnapshotAssembler, snapshotChunk } from './snapshot-transfer.js';
import { ReadOnly } from './read-only.js';
import type { PendingRead } from './read-only.js';
import type {
  FollowerProgress,
  HardState,
  ProposeResult,
  RaftCoreOptions,
  RaftStatus,
  ReadIndexResult,
  ReadState,
  Ready,
  Role,
  Snapshot,
  SoftState,
  StepResult,
  TransferResult,
} from './types.js';
import { checkShape } from './validate-message.js';
import type { Rejection } from './validate-message.js';

/** A message without the fields `send` stamps on it (distributes over the union). */
type Outgoing = RaftMessage extends infer M
  ? M extends RaftMessage
    ? Omit<M, 'from' | 'term'>
    : never
  : never;

type CampaignKind = 'pre-vote' | 'election' | 'transfer';

const EMPTY_DATA = new Uint8Array(0);
const MAX_READ_CONTEXT_LENGTH = 256;
const OK: StepResult = { ok: true };
/** Entry bytes read per slice when scanning the log for config entries. */
const CONFIG_SCAN_BYTES = 1024 * 1024;

/**
 * Messages only a leader sends. They are accepted from nodes outside this node's membership: a
 * node that joins knows no one until it applied the config entries that name the cluster, and a
 * lagging member may not yet know a newly promoted leader. Accepting them is safe because only
 * a node that won an election in its term sends them; everything else (votes above all) from a
 * non-member is refused, which is what keeps a removed node from disturbing the cluster.
 */
const LEADER_MESSAGES: ReadonlySet<string> = new Set<RaftMessage['type']>([
  'AppendEntries',
  'Heartbeat',
  'InstallSnapshot',
  'TimeoutNow',
]);

const KNOWN_TYPES: ReadonlySet<string> = new Set<RaftMessage['type']>([
  'RequestVote',
  'RequestVoteResponse',
  'AppendEntries',
  'AppendEntriesResponse',
  'Heartbeat',
  'HeartbeatResponse',
  'TimeoutNow',
  'Propose',
  'ReadIndex',
  'ReadIndexResponse',
  'InstallSnapshot',
  'InstallSnapshotResponse',
]);

/**
 * A deterministic Raft node without I/O. Drive it with {@link RaftCore.tick},
 * {@link RaftCore.step} and the request methods, then drain it with {@link RaftCore.ready} and
 * {@link RaftCore.advance}, honouring the ordering contract documented on `Ready`.
 *
 * Implements leader election with pre-vote and check-quorum (leader lease), log replication
 * with batching, pipelining and flow control, fast conflict backtracking, commit by counting
 * replicas of current-term entries only (Raft paper, Figure 8), ReadIndex reads, leadership
 * transfer and InstallSnapshot in bounded chunks for followers behind a compacted log.
 *
 * Invariants (commit never beyond the last index, applied never beyond commit, terms never
 * decreasing) are checked after every call; a violation throws `RaftError('INVARIANT_VIOLATED')`.
 *
 * @example
 * ```ts
 * const storage = new MemoryStorage({ voters: ['a', 'b', 'c'], learners: [] });
 * const core = new RaftCore({ id: 'a', peers: ['a', 'b', 'c'], storage, random: Math.random });
 * // On every timer tick: core.tick(); on every message: core.step(message). Then:
 * while (core.hasReady()) {
 *   const ready = core.ready();
 *   if (ready.snapshot) storage.applySnapshot(ready.snapshot);
 *   storage.append(ready.entries);
 *   if (ready.hardState) storage.setHardState(ready.hardState);
 *   if (ready.mustSync) await storage.sync();
 *   transport.send(ready.messages);
 *   for (const entry of ready.committedEntries) apply(entry);
 *   core.advance(ready);
 * }
 * ```
 */
export class RaftCore {
  private readonly options: ResolvedOptions;
  private readonly id: NodeId;
  private readonly log: RaftLog;

  private term = 0;
  private vote: NodeId | null = null;
  private leaderId: NodeId | null = null;
  private role: Role = 'follower';
  /** The highest term ever held, to check that terms only grow. */
  private highestTerm = 0;

  private voters: readonly NodeId[] = [];
  private learners: readonly NodeId[] = [];
  private members: ReadonlySet<NodeId> = new Set();
  private progress = new Map<NodeId, Progress>();
  /**
   * The index of the latest config entry this leader may have appended or inherited: no new
   * change is accepted until the node applied it (one change at a time). Set to the no-op's
   * index on election, so a new leader also waits until it committed an entry of its term.
   */
  private pendingConfIndex = 0;
  /** The membership last reported in `Ready.membership`. */
  private reportedMembership: Membership = { voters: [], learners: [] };
  private readonly votes = new Map<NodeId, boolean>();
  /** Reused by `maybeCommit`, which runs on every acknowledgement. */
  private readonly matchScratch: number[] = [];

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private leadTransferee: NodeId | null = null;
  private readOnly = new ReadOnly();
  /** Follower side of chunked InstallSnapshot; bounded by `maxSnapshotBytes`. */
  private readonly incomingSnapshot: SnapshotAssembler;

  private messages: RaftMessage[] = [];
  private readStates: ReadState[] = [];
  /** Proposals appended since the last `ready()`: one broadcast covers them all. */
  private appendPending = false;
  /** ReadIndex requests added since the last `ready()`: one heartbeat round confirms them all. */
  private readHeartbeatPending = false;

  private previousSoftState: SoftState;
  private previousHardState: HardState;
  private outstandingReady: Ready | undefined = undefined;

  /**
   * Creates a node from its options and the state recovered by `options.storage`. Throws
   * `RaftError('INVALID_OPTION')` naming the option for any option that breaks its rule.
   */
  constructor(options: RaftCoreOptions) {
    this.options = resolveOptions(options);
    this.id = this.options.id;
    this.incomingSnapshot = new SnapshotAssembler(this.options.maxSnapshotBytes);
    const { hardState, membership } = this.options.storage.initialState();
    checkHardState(hardState);
    const appliedFloor = Math.max(hardState.commit, this.options.storage.firstIndex() - 1);
    if (this.options.appliedIndex > appliedFloor) {
      throw new RaftError(
        'INVALID_OPTION',
        `appliedIndex must be at most the stored commit index ${appliedFloor} (got ${this.options.appliedIndex})`,
      );
    }
    this.log = new RaftLog(this.options.storage, {
      committed: hardState.commit,
      applied: this.options.appliedIndex,
    });
    const empty = membership.voters.length === 0 && membership.learners.length === 0;
    this.setMembership(empty ? { voters: [...this.options.peers], learners: [] } : membership);
    this.rebuildMembership();
    this.reportedMembership = this.currentMembership();
    this.becomeFollower(hardState.term, null);
    this.vote = hardState.vote;
    this.previousSoftState = this.softState();
    this.previousHardState = this.hardState();
  }

  // ---------------------------------------------------------------------------------------------
  // Public API
  // ---------------------------------------------------------------------------------------------

  /**
   * Advances the logical clock by one tick. Followers and candidates start an election once
   * their randomized election timeout passes; a leader sends heartbeats every `heartbeatTicks`
   * and, with check-quorum, steps down when it has not heard from a quorum within an election
   * timeout.
   */
  tick(): void {
    if (this.role === 'leader') this.tickHeartbeat();
    else this.tickElection();
    this.assertInvariants();
  }

  /**
   * Feeds one message from a peer into the node. A message that is malformed (a NaN, negative
   * or unsafe number: `ABSURD_VALUE`), not addressed to this node (`WRONG_RECIPIENT`), from a
   * node outside the membership (`UNKNOWN_PEER`), inconsistent with itself or with this node's
   * log (`INDEX_OUT_OF_RANGE`) or from an older term (`STALE_TERM`) is refused with a reason and
   * leaves the state unchanged (a stale leader is still told the newer term).
   */
  step(message: RaftMessage): StepResult {
    const rejection = this.checkMessage(message);
    if (rejection !== undefined) return { ok: false, ...rejection };
    const result = this.stepChecked(message);
    this.assertInvariants();
    return result;
  }

  /**
   * Proposes a command. On the leader it is appended and `{ ok: true, index, term }` returned:
   * the command is committed once that index appears in `Ready.committedEntries` with that
   * term. A follower forwards it to the leader when `forwardProposals` is set, or refuses it
   * with `NOT_LEADER` and a hint. The data is kept by reference, never copied.
   */
  propose(data: Uint8Array): ProposeResult {
    if (!(data instanceof Uint8Array)) {
      throw new RaftError('INVALID_ARGUMENT', 'propose(data) needs data to be a Uint8Array');
    }
    if (this.role !== 'leader') return this.forwardProposal(data);
    const refusal = this.refuseProposals(1);
    if (refusal !== undefined) return refusal;
    const entry = this.appendEntries('normal', [data]);
    this.assertInvariants();
    return { ok: true, index: entry.index, term: entry.term };
  }

  /**
   * Proposes one single-server membership change (Raft dissertation 4.1; see `ConfChange`).
   * On the leader the config entry is appended and `{ ok: true, index, term }` returned. Only
   * one change at a time (`CHANGE_IN_PROGRESS` until the previous one is applied and this
   * leader committed an entry of its term), a learner is promoted only when it is at most
   * `maxLearnerLagEntries` behind (`LEARNER_BEHIND`), and changes that make no sense are refused
   * with `INVALID_CHANGE` (or `LEARNER_REQUIRED` for `add-voter` of an unknown node).
   *
   * The new membership takes effect when its entry is applied (in `advance`), as in etcd-io/raft,
   * not when it is appended (the dissertation's rule). With one change at a time and the
   * leader's own-term commit first, both rules are safe; applying keeps the membership a
   * function of the applied prefix, so snapshots (taken at the applied index) record exactly the
   * membership in force, and a truncated uncommitted config entry never needs undoing.
   */
  proposeConfChange(change: ConfChange): ConfChangeResult {
    checkConfChange(change);
    if (this.role !== 'leader') return { ok: false, code: 'NOT_LEADER', leaderHint: this.leaderId };
    const busy = this.refuseConfChange();
    if (busy !== undefined) return busy;
    const next = applyChange(this.currentMembership(), change);
    if (!next.ok) return next;
    if (change.type === 'promote' || change.type === 'add-voter') {
      const lagEntries = this.log.lastIndex() - (this.progress.get(change.node)?.matchIndex ?? 0);
      if (lagEntries > this.options.maxLearnerLagEntries) {
        return {
          ok: false,
          code: 'LEARNER_BEHIND',
          lagEntries,
          reason: `${change.node} is ${lagEntries} entries behind (maxLearnerLagEntries ${this.options.maxLearnerLagEntries})`,
        };
      }
    }
    const entry = this.appendEntries('config', [
      encodeConfigEntry({ change, membership: next.membership }),
    ]);
    this.pendingConfIndex = entry.index;
    this.assertInvariants();
    return { ok: true, index: entry.index, term: entry.term };
  }

  /**
   * Requests a linearizable read tagged `context` (unique per request, 1-256 characters). When
   * `{ ok: true }` is returned, a `ReadState` with this context later appears in
   * `Ready.readStates`: serve the read once the applied index reaches its `index`. A read lost
   * to a leader change or a refusal by the leader produces no `ReadState`; retry on a timeout.
   */
  readIndex(context: string): ReadIndexResult {
    if (typeof context !== 'string' || context.length === 0) {
      throw new RaftError('INVALID_ARGUMENT', 'readIndex(context) needs a non-empty string');
    }
    if (context.length > MAX_READ_CONTEXT_LENGTH) {
      throw new RaftError('INVALID_ARGUMENT', 'readIndex context must be at most 256 characters');
    }
    if (this.role === 'leader') {
      if (!this.committedEntryInCurrentTerm()) {
        return { ok: false, code: 'LEADER_NOT_READY', leaderHint: this.id };
      }
      this.addRead({ context, from: this.id });
      return { ok: true };
    }
    if (this.leaderId === null) return { ok: false, code: 'NOT_LEADER', leaderHint: null };
    this.send({ type: 'ReadIndex', to: this.leaderId, context });
    return { ok: true };
  }

  /**
   * Hands leadership to `to` (Raft dissertation 3.10): the leader stops accepting proposals,
   * brings `to` up to date and then tells it to start an election at once (TimeoutNow). If that
   * has not happened within an election timeout, the transfer is abandoned.
   */
  transferLeadership(to: NodeId): TransferResult {
    if (this.role !== 'leader') return { ok: false, code: 'NOT_LEADER', leaderHint: this.leaderId };
    if (to === this.id) {
      return { ok: false, code: 'ALREADY_LEADER', reason: `${to} is already the leader` };
    }
    const progress = this.progress.get(to);
    if (progress === undefined) {
      return { ok: false, code: 'UNKNOWN_PEER', reason: `${to} is not a member of the cluster` };
    }
    if (progress.isLearner) {
      return { ok: false, code: 'UNKNOWN_PEER', reason: `${to} is a learner and cannot lead` };
    }
    if (this.leadTransferee === to) return { ok: true };
    this.leadTransferee = to;
    // The transfer has one election timeout to finish, counted from now.
    this.electionElapsed = 0;
    if (progress.matchIndex === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppend(to);
    return { ok: true };
  }

  /** Starts an election now (with a pre-vote phase when enabled), as if the timeout passed. */
  campaign(): void {
    this.hup();
    this.assertInvariants();
  }

  /** Whether `ready()` has anything to hand out. False while a `Ready` awaits `advance()`. */
  hasReady(): boolean {
    if (this.outstandingReady !== undefined) return false;
    return (
      this.appendPending ||
      this.readHeartbeatPending ||
      this.messages.length > 0 ||
      this.readStates.length > 0 ||
      this.log.unstableEntries().length > 0 ||
      this.log.pendingSnapshot() !== undefined ||
      this.log.hasNextCommittedEntries() ||
      !sameMembership(this.reportedMembership, this.currentMembership()) ||
      this.role !== this.previousSoftState.role ||
      this.leaderId !== this.previousSoftState.leaderId ||
      this.term !== this.previousHardState.term ||
      this.vote !== this.previousHardState.vote ||
      this.log.committed !== this.previousHardState.commit
    );
  }

  /**
   * Takes everything the host must now persist, send and apply (see `Ready` for the order).
   * Throws `INVALID_CALL` if the previous `Ready` has not been passed to `advance()` yet.
   */
  ready(): Ready {
    if (this.outstandingReady !== undefined) {
      throw new RaftError(
        'INVALID_CALL',
        'ready() called again before advance() of the last Ready',
      );
    }
    this.flushPending();
    const softState = this.softState();
    const hardState = this.hardState();
    const entries = this.log.unstableEntries().slice();
    const snapshot = this.log.pendingSnapshot();
    const membership = this.currentMembership();
    const membershipChanged = !sameMembership(membership, this.reportedMembership);
    const ready: Ready = {
      ...(membershipChanged ? { membership } : {}),
      softState: sameSoftState(softState, this.previousSoftState) ? undefined : softState,
      hardState: sameHardState(hardState, this.previousHardState) ? undefined : hardState,
      entries,
      snapshot,
      messages: this.messages,
      committedEntries: this.log.nextCommittedEntries(this.options.maxCommittedBytesPerReady),
      readStates: this.readStates,
      mustSync:
        entries.length > 0 ||
        snapshot !== undefined ||
        hardState.term !== this.previousHardState.term ||
        hardState.vote !== this.previousHardState.vote,
    };
    this.messages = [];
    this.readStates = [];
    this.previousSoftState = softState;
    this.previousHardState = hardState;
    this.reportedMembership = membership;
    this.outstandingReady = ready;
    return ready;
  }

  /**
   * Tells the core the host carried out `ready` (persisted, sent, applied): its entries become
   * stable and its committed entries applied. Pass the same object `ready()` returned.
   */
  advance(ready: Ready): void {
    if (ready !== this.outstandingReady) {
      throw new RaftError(
        'INVALID_CALL',
        'advance() must be given the Ready last returned by ready()',
      );
    }
    this.outstandingReady = undefined;
    if (ready.snapshot !== undefined) {
      this.log.stableSnapshotTo(ready.snapshot.metadata.index);
      this.log.appliedTo(ready.snapshot.metadata.index);
    }
    for (const entry of ready.committedEntries) {
      if (entry.type === 'config') this.applyConfigEntry(entry);
    }
    const lastCommitted = ready.committedEntries[ready.committedEntries.length - 1];
    if (lastCommitted !== undefined) this.log.appliedTo(lastCommitted.index);
    const lastEntry = ready.entries[ready.entries.length - 1];
    if (lastEntry !== undefined) this.log.stableTo(lastEntry.index, lastEntry.term);
    this.assertInvariants();
  }

  /** A snapshot of the node's state for monitoring and tests. */
  status(): RaftStatus {
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      vote: this.vote,
      leaderId: this.leaderId,
      commitIndex: this.log.committed,
      appliedIndex: this.log.applied,
      firstIndex: this.log.firstIndex(),
      lastIndex: this.log.lastIndex(),
      membership: this.currentMembership(),
      progress: this.role === 'leader' ? this.progressStatus() : undefined,
      leadTransferee: this.leadTransferee,
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Roles and elections
  // ---------------------------------------------------------------------------------------------

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup();
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    for (const progress of this.progress.values()) {
      if (progress.id === this.id) continue;
      progress.inactiveTicks++;
      if (progress.state === 'snapshot') this.tickSnapshot(progress);
    }
    // Check-quorum, evaluated every tick: the leader steps down exactly one election timeout
    // after it last heard from a quorum, the same span for which followers honour its lease.
    if (this.options.checkQuorum && !this.quorumActive()) {
      this.becomeFollower(this.term, null);
      return;
    }
    if (this.electionElapsed >= this.options.electionTicks) {
      // A removed leader that could not hand over within an election timeout goes anyway.
      if (!this.promotable()) {
        this.becomeFollower(this.term, null);
        return;
      }
      this.electionElapsed = 0;
      // A transfer that did not finish within an election timeout is abandoned.
      this.leadTransferee = null;
    }
    if (this.heartbeatElapsed >= this.options.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.broadcastHeartbeat(this.readOnly.lastContext());
    }
  }

  private quorumActive(): boolean {
    let active = 0;
    for (const id of this.voters) {
      if (id === this.id || this.progress.get(id)?.recentActive === true) active++;
    }
    return active >= this.quorum();
  }

  private promotable(): boolean {
    return this.voters.includes(this.id);
  }

  private quorum(): number {
    return Math.floor(this.voters.length / 2) + 1;
  }

  private hup(): void {
    if (this.role === 'leader' || !this.promotable()) return;
    // A committed config entry not applied yet may change who votes: campaigning with the
    // older membership could count the wrong majority (etcd-io/raft does the same).
    if (this.hasUnappliedConfig()) return;
    this.startCampaign(this.options.preVote ? 'pre-vote' : 'election');
  }

  private startCampaign(kind: CampaignKind): void {
    let voteTerm: number;
    if (kind === 'pre-vote') {
      this.becomePreCandidate();
      // Pre-votes ask for the next term without moving to it (Raft dissertation 9.6).
      voteTerm = this.term + 1;
    } else {
      this.becomeCandidate();
      voteTerm = this.term;
    }
    if (this.poll(this.id, true) === 'won') {
      this.winCampaign(kind);
      return;
    }
    const lastLogIndex = this.log.lastIndex();
    const lastLogTerm = this.log.lastTerm();
    for (const to of [...this.voters].sort()) {
      if (to === this.id) continue;
      const request: RequestVote = {
        type: 'RequestVote',
        from: this.id,
        to,
        term: voteTerm,
        preVote: kind === 'pre-vote',
        lastLogIndex,
        lastLogTerm,
        transfer: kind === 'transfer',
      };
      this.messages.push(request);
    }
  }

  private winCampaign(kind: CampaignKind): void {
    if (kind === 'pre-vote') this.startCampaign('election');
    else this.becomeLeader();
  }

  /** Records a vote and tallies: won once a quorum granted, lost once a quorum refused. */
  private poll(id: NodeId, granted: boolean): 'won' | 'lost' | 'pending' {
    if (!this.votes.has(id)) this.votes.set(id, granted);
    let yes = 0;
    let no = 0;
    for (const voter of this.voters) {
      const vote = this.votes.get(voter);
      if (vote === true) yes++;
      else if (vote === false) no++;
    }
    if (yes >= this.quorum()) return 'won';
    if (no > this.voters.length - this.quorum()) return 'lost';
    return 'pending';
  }

  private reset(term: number): void {
    if (term !== this.term) {
      invariant(term > this.term, () => `term would go back from ${this.term} to ${term}`);
      this.term = term;
      this.vote = null;
    }
    this.leaderId = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.leadTransferee = null;
    this.votes.clear();
    this.resetProgress();
    this.readOnly = new ReadOnly();
    this.appendPending = false;
    this.readHeartbeatPending = false;
  }

  private resetProgress(): void {
    const lastIndex = this.log.lastIndex();
    const progress = new Map<NodeId, Progress>();
    const add = (id: NodeId, isLearner: boolean): void => {
      const entry = new Progress(id, {
        nextIndex: lastIndex + 1,
        maxInflight: this.options.maxInflightMessages,
        isLearner,
        activeWindowTicks: this.options.electionTicks,
      });
      if (id === this.id) entry.matchIndex = lastIndex;
      progress.set(id, entry);
    };
    for (const id of this.voters) add(id, false);
    for (const id of this.learners) add(id, true);
    this.progress = progress;
  }

  /** Draws the election timeout from [electionTicks, 2 * electionTicks) with the injected random. */
  private resetRandomizedElectionTimeout(): void {
    const ticks = this.options.electionTicks;
    const draw = this.options.random();
    // A source that strays outside [0, 1) must not break the range the paper relies on.
    const fraction = Number.isFinite(draw) ? Math.min(Math.max(draw, 0), 1 - Number.EPSILON) : 0;
    this.randomizedElectionTimeout = ticks + Math.floor(fraction * ticks);
  }

  private becomeFollower(term: number, leaderId: NodeId | null): void {
    this.reset(term);
    this.leaderId = leaderId;
    this.role = 'follower';
  }

  private becomePreCandidate(): void {
    invariant(this.role !== 'leader', () => 'a leader cannot become a pre-candidate');
    // Neither the term nor the vote changes: a failed pre-vote leaves no trace.
    this.votes.clear();
    this.leaderId = null;
    this.role = 'pre-candidate';
  }

  private becomeCandidate(): void {
    invariant(this.role !== 'leader', () => 'a leader cannot become a candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = 'candidate';
  }

  private becomeLeader(): void {
    invariant(this.role !== 'follower', () => 'a follower cannot become leader without a vote');
    this.reset(this.term);
    this.leaderId = this.id;
    this.role = 'leader';
    // A leader never receives snapshots: release any partly assembled one.
    this.incomingSnapshot.reset();
    const self = this.progress.get(this.id);
    self?.becomeReplicate();
    // The no-op lets the new leader commit entries of earlier terms (Raft paper, 5.4.2) and
    // marks the point from which it may serve ReadIndex requests.
    const noop = this.appendEntries('noop', [EMPTY_DATA]);
    // Any entry before the no-op may be a config change not applied yet: none is accepted
    // until the no-op is applied (the dissertation's fix for single-server changes, 4.1).
    this.pendingConfIndex = noop.index;
  }

  // ---------------------------------------------------------------------------------------------
  // Step: validation and term handling
  // ---------------------------------------------------------------------------------------------

  private checkMessage(message: RaftMessage): Rejection | undefined {
    const value: unknown = message;
    if (typeof value !== 'object' || value === null || !KNOWN_TYPES.has(message.type)) {
      return { code: 'ABSURD_VALUE', reason: 'not a Raft message: unknown type' };
    }
    const shape = checkShape(message);
    if (shape !== undefined) return shape;
    if (message.to !== this.id) {
      return {
        code: 'WRONG_RECIPIENT',
        reason: `addressed to ${message.to}, this node is ${this.id}`,
      };
    }
    if (
      message.from === this.id ||
      (!this.members.has(message.from) && !this.acceptsStranger(message))
    ) {
      return { code: 'UNKNOWN_PEER', reason: `${message.from} is not a peer of ${this.id}` };
    }
    return this.checkAgainstLog(message);
  }

  /**
   * Whether a message from a node outside this node's configuration is still taken. Leader
   * messages always are (see LEADER_MESSAGES). A vote request is ignored while this node has a
   * live leader (heard from within an election timeout, or is the leader): that is what keeps a
   * removed node from disturbing the cluster. Without a live leader it is answered on its merits,
   * because this node's configuration may be older than the candidate's (a lagging or just-joined
   * node that does not know a newly promoted voter), and refusing could leave no electable node.
   */
  private acceptsStranger(message: RaftMessage): boolean {
    if (LEADER_MESSAGES.has(message.type)) return true;
    if (message.type !== 'RequestVote') return false;
    const liveLeader = this.leaderId !== null && this.electionElapsed < this.options.electionTicks;
    return !liveLeader;
  }

  /** Checks that need this node's state: indexes no honest peer could send. */
  private checkAgainstLog(message: RaftMessage): Rejection | undefined {
    const lastIndex = this.log.lastIndex();
    if (message.type === 'Heartbeat' && message.leaderCommit > lastIndex) {
      // A leader only sends commit = min(match, commit), which this node acknowledged holding.
      return {
        code: 'INDEX_OUT_OF_RANGE',
        reason: `heartbeat commit ${message.leaderCommit} is beyond the last index ${lastIndex}`,
      };
    }
    if (
      message.type === 'AppendEntriesResponse' &&
      message.success &&
      message.term === this.term &&
      message.matchIndex > lastIndex
    ) {
      return {
        code: 'INDEX_OUT_OF_RANGE',
        reason: `acknowledged index ${message.matchIndex} is beyond the last index ${lastIndex}`,
      };
    }
    return undefined;
  }

  private stepChecked(message: RaftMessage): StepResult {
    // A follower's term must not depose a leader through a forwarded proposal or read (etcd
    // sends them with term 0). A proposal's term only says which leader it was meant for.
    if (message.type === 'Propose' || message.type === 'ReadIndex') {
      return this.stepByRole(message);
    }
    if (message.term > this.term) {
      if (this.ignoreHigherTerm(message)) return OK;
    } else if (message.term < this.term) {
      this.answerStaleTerm(message);
      return {
        ok: false,
        code: 'STALE_TERM',
        reason: `${message.type} from ${message.from} has term ${message.term} < ${this.term}`,
      };
    }
    if (message.type === 'RequestVote') {
      this.handleVoteRequest(message);
      return OK;
    }
    return this.stepByRole(message);
  }

  /** Handles a message from a newer term; returns true when it must be ignored entirely. */
  private ignoreHigherTerm(message: RaftMessage): boolean {
    if (message.type === 'RequestVote') {
      const inLease =
        this.options.checkQuorum &&
        this.leaderId !== null &&
        this.electionElapsed < this.options.electionTicks;
      // Leader lease: within an election timeout of hearing from a leader, a (pre)vote request
      // is a disruptive node, unless the leader itself asked for the election (transfer).
      if (inLease && !message.transfer) return true;
      // Never change term because of a pre-vote.
      if (message.preVote) return false;
    }
    if (message.type === 'RequestVoteResponse' && message.preVote && message.granted) {
      // Granted pre-votes carry the term we are about to campaign in: not a reason to follow.
      return false;
    }
    const fromLeader =
      message.type === 'AppendEntries' ||
      message.type === 'Heartbeat' ||
      message.type === 'InstallSnapshot';
    if (fromLeader) {
      this.becomeFollower(message.term, message.from);
      return false;
    }
    // A newer term learnt from a candidate or a response is no sign of a live leader, so the
    // election timer keeps running: otherwise hopeless candidates (with stale logs) would keep
    // resetting the timer of the one node that could win, and no election would ever finish.
    const elapsed = this.electionElapsed;
    const timeout = this.randomizedElectionTimeout;
    this.becomeFollower(message.term, null);
    this.electionElapsed = elapsed;
    this.randomizedElectionTimeout = timeout;
    return false;
  }

  /** Tells a stale leader or pre-candidate about the newer term so it can catch up. */
  private answerStaleTerm(message: RaftMessage): void {
    const checksLiveness = this.options.checkQuorum || this.options.preVote;
    if (checksLiveness && (message.type === 'AppendEntries' || message.type === 'Heartbeat')) {
      // A partitioned node may have moved to a higher term it cannot win with; its responses
      // at that term are the only way the current leader learns to step down and let it back.
      this.send({
        type: 'AppendEntriesResponse',
        to: message.from,
        success: false,
        matchIndex: 0,
      });
    } else if (message.type === 'RequestVote' && message.preVote) {
      this.send({
        type: 'RequestVoteResponse',
        to: message.from,
        preVote: true,
        granted: false,
      });
    }
  }

  private handleVoteRequest(request: RequestVote): void {
    const canVote =
      this.vote === request.from ||
      (this.vote === null && this.leaderId === null) ||
      (request.preVote && request.term > this.term);
    const granted = canVote && this.log.isUpToDate(request.lastLogIndex, request.lastLogTerm);
    // A granted pre-vote answers with the term the candidate asked for; a refusal with ours, so
    // a candidate from an older term learns it.
    this.messages.push({
      type: 'RequestVoteResponse',
      from: this.id,
      to: request.from,
      term: granted ? request.term : this.term,
      preVote: request.preVote,
      granted,
    });
    if (granted && !request.preVote) {
      this.electionElapsed = 0;
      this.vote = request.from;
    }
  }

  private stepByRole(message: RaftMessage): StepResult {
    switch (this.role) {
      case 'leader':
        this.stepLeader(message);
        break;
      case 'candidate':
      case 'pre-candidate':
        this.stepCandidate(message);
        break;
      case 'follower':
        this.stepFollower(message);
        break;
    }
    return OK;
  }

  // ---------------------------------------------------------------------------------------------
  // Step by role
  // ---------------------------------------------------------------------------------------------

  private stepFollower(message: RaftMessage): void {
    switch (message.type) {
      case 'AppendEntries':
        this.heardFromLeader(message.from);
        this.handleAppendEntries(message);
        break;
      case 'Heartbeat':
        this.heardFromLeader(message.from);
        this.handleHeartbeat(message);
        break;
      case 'InstallSnapshot':
        this.heardFromLeader(message.from);
        this.handleSnapshot(message);
        break;
      case 'TimeoutNow':
        // The leader chose us: campaign now, skipping pre-vote, overriding leases.
        if (this.promotable()) this.startCampaign('transfer');
        break;
      case 'ReadIndexResponse':
        if (message.index !== undefined) {
          this.readStates.push({ context: message.context, index: message.index });
        }
        break;
      default:
        // Proposals and reads that reach a follower were misrouted; dropping them avoids
        // forwarding loops (the sender retries on its own timeout).
        break;
    }
  }

  private heardFromLeader(leaderId: NodeId): void {
    this.electionElapsed = 0;
    this.leaderId = leaderId;
  }

  private stepCandidate(message: RaftMessage): void {
    switch (message.type) {
      case 'AppendEntries':
      case 'Heartbeat':
      case 'InstallSnapshot':
        // Someone won this term: follow it and handle the message as a follower.
        this.becomeFollower(message.term, message.from);
        this.stepFollower(message);
        break;
      case 'RequestVoteResponse':
        this.handleVoteResponse(message.from, message);
        break;
      default:
        break;
    }
  }

  private handleVoteResponse(from: NodeId, response: { preVote: boolean; granted: boolean }): void {
    // Only answers to the phase we are in count.
    if (response.preVote !== (this.role === 'pre-candidate')) return;
    const result = this.poll(from, response.granted);
    if (result === 'won') this.winCampaign(this.role === 'pre-candidate' ? 'pre-vote' : 'election');
    else if (result === 'lost') this.becomeFollower(this.term, null);
  }

  private stepLeader(message: RaftMessage): void {
    const progress = this.progress.get(message.from);
    if (progress === undefined) return;
    progress.markActive();
    switch (message.type) {
      case 'AppendEntriesResponse':
        if (message.success) this.handleAppendSuccess(progress, message.matchIndex);
        else this.handleAppendRejection(progress, message);
        break;
      case 'HeartbeatResponse':
        this.handleHeartbeatResponse(progress, message);
        break;
      case 'InstallSnapshotResponse':
        this.handleSnapshotResponse(progress, message);
        break;
      case 'Propose':
        // Only proposals forwarded in this term: one that a follower sent to this node as the
        // leader of an earlier term was meant for that term. Its sender takes it as lost once it
        // applies an entry of a later term, so appending it now could apply it after all.
        if (message.term !== this.term) break;
        if (this.refuseProposals(message.entries.length) === undefined) {
          this.appendEntries('normal', message.entries);
        }
        break;
      case 'ReadIndex':
        this.handleForwardedRead(message.from, message.context);
        break;
      default:
        break;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Replication: follower side
  // ---------------------------------------------------------------------------------------------

  private handleAppendEntries(request: AppendEntries): void {
    if (request.prevLogIndex < this.log.committed) {
      // Everything up to our commit index matches the leader's log already.
      this.sendAppendResponse(request.from, { success: true, matchIndex: this.log.committed });
      return;
    }
    const lastNew = this.log.maybeAppend(request);
    if (lastNew !== undefined) {
      this.log.commitTo(Math.min(request.leaderCommit, lastNew));
      this.sendAppendResponse(request.from, { success: true, matchIndex: lastNew });
      return;
    }
    this.sendAppendResponse(request.from, this.rejectionHints(request.prevLogIndex));
  }

  /**
   * Hints for fast backtracking: when our log is shorter, where it ends; otherwise the term we
   * hold at `prevLogIndex` and the first index of that term, so the leader can skip the whole
   * term in one round trip instead of one entry per round trip.
   */
  private rejectionHints(prevLogIndex: number): Partial<AppendEntriesResponse> {
    const lastIndex = this.log.lastIndex();
    if (prevLogIndex > lastIndex) {
      return {
        success: false,
        matchIndex: 0,
        rejectedIndex: prevLogIndex,
        conflictIndex: lastIndex + 1,
      };
    }
    const conflictTerm = this.log.term(prevLogIndex);
    // Entries up to the commit index match the leader's, so the search stops there.
    const low = Math.max(this.log.committed + 1, this.log.firstIndex());
    const conflictIndex = this.log.firstIndexOfTermEndingAt(
      Math.min(low, prevLogIndex),
      prevLogIndex,
    );
    const hints = { success: false, matchIndex: 0, rejectedIndex: prevLogIndex, conflictIndex };
    return conflictTerm === undefined ? hints : { ...hints, conflictTerm };
  }

  private sendAppendResponse(to: NodeId, fields: Partial<AppendEntriesResponse>): void {
    this.messages.push({
      type: 'AppendEntriesResponse',
      from: this.id,
      to,
      term: this.term,
      success: fields.success ?? false,
      matchIndex: fields.matchIndex ?? 0,
      ...(fields.rejectedIndex === undefined ? {} : { rejectedIndex: fields.rejectedIndex }),
      ...(fields.conflictIndex === undefined ? {} : { conflictIndex: fields.conflictIndex }),
      ...(fields.conflictTerm === undefined ? {} : { conflictTerm: fields.conflictTerm }),
    });
  }

  private handleHeartbeat(heartbeat: Heartbeat): void {
    this.log.commitTo(heartbeat.leaderCommit);
    const response: HeartbeatResponse = {
      type: 'HeartbeatResponse',
      from: this.id,
      to: heartbeat.from,
      term: this.term,
    };
    this.messages.push(
      heartbeat.readContext === undefined
        ? response
        : { ...response, readContext: heartbeat.readContext },
    );
  }

  /** One chunk of a leader's snapshot; only the last one restores (see `snapshot-transfer.ts`). */
  private handleSnapshot(message: InstallSnapshot): void {
    const respond = (success: boolean, nextOffset: number): void => {
      this.send({
        type: 'InstallSnapshotResponse',
        to: message.from,
        lastIncludedIndex: message.lastIncludedIndex,
        nextOffset,
        success,
      });
    };
    if (message.lastIncludedIndex <= this.log.committed) {
      // Everything the snapshot covers is committed here already, so it matches the leader's
      // log: say so the way a successful append would, and the leader resumes appending.
      this.incomingSnapshot.reset();
      this.sendAppendResponse(message.from, { success: true, matchIndex: this.log.committed });
      return;
    }
    const outcome = this.incomingSnapshot.accept(message);
    switch (outcome.type) {
      case 'partial':
        respond(true, outcome.nextOffset);
        return;
      case 'refused':
        respond(false, 0);
        return;
      case 'complete':
        this.restore(outcome.snapshot);
        respond(true, outcome.snapshot.data.byteLength);
        return;
    }
  }

  /** Installs a leader's snapshot unless our log already covers it (etcd-io/raft `restore`). */
  private restore(snapshot: Snapshot): void {
    const { index, term } = snapshot.metadata;
    if (index <= this.log.committed) return;
    if (this.log.matchTerm(index, term)) {
      // Our log holds the snapshot's last entry, so everything up to it matches: just commit.
      this.log.commitTo(index);
      return;
    }
    this.log.restore(snapshot);
    this.setMembership(snapshot.metadata.membership);
    this.resetProgress();
  }

  // ---------------------------------------------------------------------------------------------
  // Replication: leader side
  // ---------------------------------------------------------------------------------------------

  /** Appends entries of this term at the end of the leader's log; returns the last one. */
  private appendEntries(type: Entry['type'], data: readonly Uint8Array[]): Entry {
    let index = this.log.lastIndex();
    const entries: Entry[] = new Array<Entry>(data.length);
    for (let i = 0; i < data.length; i++) {
      index++;
      entries[i] = { index, term: this.term, type, data: data[i] ?? EMPTY_DATA };
    }
    this.log.append(entries);
    const self = this.progress.get(this.id);
    if (self !== undefined) self.maybeUpdate(index);
    // Only a quorum of one can commit on the leader's own append; everyone else acks later.
    if (this.quorum() === 1) this.maybeCommit();
    // One broadcast at `ready()` covers every proposal appended until then.
    this.appendPending = true;
    const last = entries[entries.length - 1];
    invariant(last !== undefined, () => 'appendEntries needs at least one entry');
    return last;
  }

  private refuseProposals(count: number): ProposeResult | undefined {
    if (this.leadTransferee !== null) {
      return { ok: false, code: 'TRANSFER_IN_PROGRESS', leaderHint: this.id };
    }
    const uncommitted = this.log.lastIndex() - this.log.committed;
    if (uncommitted + count > this.options.maxUncommittedEntries) {
      return { ok: false, code: 'TOO_MANY_UNCOMMITTED', leaderHint: this.id };
    }
    return undefined;
  }

  private forwardProposal(data: Uint8Array): ProposeResult {
    const leader = this.leaderId;
    if (leader === null || !this.options.forwardProposals) {
      return { ok: false, code: 'NOT_LEADER', leaderHint: leader };
    }
    // Proposals forwarded in the same turn and term share one message.
    const last = this.messages[this.messages.length - 1];
    if (last?.type === 'Propose' && last.to === leader && last.term === this.term) {
      last.entries.push(data);
    } else {
      this.send({ type: 'Propose', to: leader, entries: [data] });
    }
    return { ok: true, forwardedTo: leader, term: this.term };
  }

  /** Commits the highest index a quorum holds, but only if it is from this term (Figure 8). */
  private maybeCommit(): boolean {
    const matches = this.matchScratch;
    matches.length = 0;
    for (const id of this.voters) matches.push(this.progress.get(id)?.matchIndex ?? 0);
    matches.sort(descending);
    const quorumIndex = matches[this.quorum() - 1] ?? 0;
    if (quorumIndex <= this.log.committed) return false;
    if (this.log.term(quorumIndex) !== this.term) return false;
    return this.log.commitTo(quorumIndex);
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  /** Sends every follower what it lacks (or an empty append carrying the new commit index). */
  private broadcastAppend(): void {
    for (const id of this.progress.keys()) {
      if (id === this.id) continue;
      this.sendAppend(id);
      // Pipeline: keep filling the window while there are entries to send.
      while (this.maybeSendAppend(id, false));
    }
  }

  private sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  /**
   * Sends the next batch of entries to `to` unless its progress is paused (probe sent, window
   * full, snapshot pending). With `sendIfEmpty` false nothing is sent when there are no new
   * entries. Returns whether a message went out.
   */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const progress = this.progress.get(to);
    if (progress === undefined || progress.isPaused()) return false;
    const prevLogIndex = progress.nextIndex - 1;
    const prevLogTerm = this.log.term(prevLogIndex);
    const high = Math.min(
      progress.nextIndex + this.options.maxEntriesPerMessage,
      this.log.lastIndex() + 1,
    );
    const entries = this.log.slice({
      low: progress.nextIndex,
      high,
      maxBytes: this.options.maxBytesPerMessage,
    });
    if (prevLogTerm === undefined || entries === undefined) return this.sendSnapshot(progress);
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.messages.push({
      type: 'AppendEntries',
      from: this.id,
      to,
      term: this.term,
      prevLogIndex,
      prevLogTerm,
      entries,
      leaderCommit: this.log.committed,
    });
    progress.sentEntries(entries.length, prevLogIndex + entries.length);
    return true;
  }

  /** The follower needs entries that were compacted away: start sending the latest snapshot. */
  private sendSnapshot(progress: Progress): boolean {
    // A follower we have not heard from recently may be down; a snapshot would be wasted.
    if (!progress.recentActive) return false;
    const snapshot = this.log.snapshot();
    const index = snapshot.metadata.index;
    invariant(
      index > 0,
      () => `entries before ${this.log.firstIndex()} are gone but there is no snapshot`,
    );
    progress.becomeSnapshot(index);
    progress.outgoingSnapshot = snapshot;
    this.sendSnapshotChunk(progress, 0);
    return true;
  }

  /** Sends the chunk at `offset` of the snapshot in flight; one chunk is in flight at a time. */
  private sendSnapshotChunk(progress: Progress, offset: number): void {
    const snapshot = progress.outgoingSnapshot;
    invariant(snapshot !== undefined, () => `no snapshot is being sent to ${progress.id}`);
    const { index, term, membership } = snapshot.metadata;
    const chunk = snapshotChunk({
      snapshot,
      offset,
      maxChunkBytes: this.options.maxSnapshotChunkBytes,
    });
    const message: InstallSnapshot = {
      type: 'InstallSnapshot',
      from: this.id,
      to: progress.id,
      term: this.term,
      lastIncludedIndex: index,
      lastIncludedTerm: term,
      membership,
      offset,
      data: chunk.data,
      done: chunk.done,
    };
    this.messages.push(message);
    progress.snapshotOffset = offset;
    progress.snapshotTicks = 0;
  }

  /**
   * A leader tick for a follower in snapshot state. A follower that went quiet is given up on
   * (probing resumes when it answers again, with a fresh snapshot from offset 0); a chunk or its
   * answer that was lost is sent again after half an election timeout.
   */
  private tickSnapshot(progress: Progress): void {
    progress.snapshotTicks++;
    if (!progress.recentActive) {
      progress.pendingSnapshot = 0;
      progress.becomeProbe();
      return;
    }
    const resendTicks = Math.max(
      2 * this.options.heartbeatTicks,
      Math.ceil(this.options.electionTicks / 2),
    );
    if (progress.snapshotTicks >= resendTicks) {
      this.sendSnapshotChunk(progress, progress.snapshotOffset);
    }
  }

  private handleAppendSuccess(progress: Progress, matchIndex: number): void {
    const wasPaused = progress.isPaused();
    const updated = progress.maybeUpdate(matchIndex);
    // A probe answered at the known match index also proves the logs agree up to it.
    const probeConfirmed = progress.state === 'probe' && matchIndex === progress.matchIndex;
    // The follower already holds all the snapshot in flight covers (it caught up otherwise, or
    // our log was compacted further meanwhile): sending the rest of it would gain nothing.
    const snapshotCovered =
      progress.state === 'snapshot' && progress.matchIndex >= progress.pendingSnapshot;
    if (!updated && !probeConfirmed && !snapshotCovered) return;
    if (progress.state === 'probe') {
      progress.becomeReplicate();
    } else if (progress.state === 'snapshot') {
      // Only once the follower holds everything before our first entry can appends resume;
      // otherwise probing finds it needs a newer snapshot and sends that one.
      if (progress.matchIndex + 1 >= this.log.firstIndex()) {
        progress.becomeProbe();
        progress.becomeReplicate();
      } else if (snapshotCovered) {
        progress.becomeProbe();
      }
    } else {
      progress.inflights.freeLE(matchIndex);
    }
    if (updated && this.maybeCommit()) this.broadcastAppend();
    else if (wasPaused) this.sendAppend(progress.id);
    // Fill the window: bounded by maxInflightMessages and by the entries there are.
    while (this.maybeSendAppend(progress.id, false));
    if (progress.id === this.leadTransferee && progress.matchIndex === this.log.lastIndex()) {
      this.sendTimeoutNow(progress.id);
    }
  }

  private handleAppendRejection(progress: Progress, response: AppendEntriesResponse): void {
    const rejected = response.rejectedIndex;
    // Without the rejected index a rejection cannot be told apart from a stale one.
    if (rejected === undefined) return;
    const next = this.nextIndexFromHints(progress, { ...response, rejectedIndex: rejected });
    if (!progress.maybeDecreaseTo(rejected, next)) return;
    if (progress.state === 'replicate') progress.becomeProbe();
    this.sendAppend(progress.id);
  }

  /**
   * Where to probe next after a rejection: past our last entry of the follower's conflicting
   * term if we hold that term, else the first index of that term in the follower's log.
   */
  private nextIndexFromHints(
    progress: Progress,
    response: AppendEntriesResponse & { rejectedIndex: number },
  ): number {
    const fallback = response.conflictIndex ?? response.rejectedIndex;
    if (response.conflictTerm === undefined) return fallback;
    const low = Math.max(progress.matchIndex, this.log.firstIndex() - 1);
    const high = Math.min(response.rejectedIndex, this.log.lastIndex());
    const found = this.log.lastIndexWithTermAtMost({ low, high, term: response.conflictTerm });
    if (found !== undefined && this.log.term(found) === response.conflictTerm) return found + 1;
    return fallback;
  }

  private handleSnapshotResponse(progress: Progress, response: InstallSnapshotResponse): void {
    const snapshot = progress.outgoingSnapshot;
    if (progress.state !== 'snapshot' || snapshot === undefined) return;
    // An answer about another snapshot (an earlier attempt) says nothing about this one.
    if (response.lastIncludedIndex !== snapshot.metadata.index) return;
    if (!response.success) {
      // The follower lost track (a chunk missing, a different snapshot) or refused the size:
      // start over from offset 0 with the latest snapshot, paced by the next heartbeat answer.
      progress.pendingSnapshot = 0;
      progress.becomeProbe();
      progress.probeSent = true;
      return;
    }
    if (response.nextOffset >= snapshot.data.byteLength) {
      // Installed: the follower holds everything up to the snapshot's index.
      progress.maybeUpdate(response.lastIncludedIndex);
      progress.becomeProbe();
      progress.becomeReplicate();
      this.sendAppend(progress.id);
      return;
    }
    // Only an answer that moves forward sends the next chunk; a duplicate answer is ignored.
    if (response.nextOffset > progress.snapshotOffset) {
      this.sendSnapshotChunk(progress, response.nextOffset);
    }
  }

  private handleHeartbeatResponse(progress: Progress, response: HeartbeatResponse): void {
    progress.probeSent = false;
    // A full window whose acknowledgements were lost would block this follower forever: the
    // heartbeat answer proves it is reachable, so free a slot and resend (etcd does the same).
    if (progress.state === 'replicate' && progress.inflights.full()) {
      progress.inflights.freeFirstOne();
    }
    if (progress.matchIndex < this.log.lastIndex()) this.sendAppend(progress.id);
    if (response.readContext !== undefined) this.confirmReads(progress.id, response.readContext);
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send({ type: 'TimeoutNow', to });
  }

  private broadcastHeartbeat(readContext: string | undefined): void {
    for (const progress of this.progress.values()) {
      if (progress.id === this.id) continue;
      const heartbeat: Heartbeat = {
        type: 'Heartbeat',
        from: this.id,
        to: progress.id,
        term: this.term,
        // Never tell a follower to commit beyond what it is known to hold.
        leaderCommit: Math.min(progress.matchIndex, this.log.committed),
      };
      this.messages.push(readContext === undefined ? heartbeat : { ...heartbeat, readContext });
    }
  }

  /** Sends what `propose` and `readIndex` deferred, so one turn's requests share messages. */
  private flushPending(): void {
    if (this.role !== 'leader') {
      this.appendPending = false;
      this.readHeartbeatPending = false;
      return;
    }
    if (this.appendPending) {
      this.appendPending = false;
      this.broadcastAppend();
    }
    if (this.readHeartbeatPending) {
      this.readHeartbeatPending = false;
      this.broadcastHeartbeat(this.readOnly.lastContext());
    }
  }

  // ---------------------------------------------------------------------------------------------
  // ReadIndex
  // ---------------------------------------------------------------------------------------------

  private handleForwardedRead(from: NodeId, context: string): void {
    if (!this.committedEntryInCurrentTerm()) {
      const refusal: ReadIndexResponse = {
        type: 'ReadIndexResponse',
        from: this.id,
        to: from,
        term: this.term,
        context,
      };
      this.messages.push(refusal);
      return;
    }
    this.addRead({ context, from });
  }

  /** Records a read at the current commit index; a single voter answers it at once. */
  private addRead(read: { context: string; from: NodeId }): void {
    const pending: PendingRead = {
      context: read.context,
      index: this.log.committed,
      from: read.from,
      acks: new Set(),
    };
    if (this.voters.length === 1 && this.promotable()) {
      this.answerRead(pending);
      return;
    }
    if (!this.readOnly.add(pending)) return;
    this.readOnly.recordAck(this.id, read.context);
    this.readHeartbeatPending = true;
  }

  private confirmReads(from: NodeId, context: string): void {
    const acks = this.readOnly.recordAck(from, context);
    if (acks === undefined) return;
    let votes = 0;
    for (const id of this.voters) if (acks.has(id)) votes++;
    if (votes < this.quorum()) return;
    for (const read of this.readOnly.release(context)) this.answerRead(read);
  }

  private answerRead(read: PendingRead): void {
    if (read.from === this.id) {
      this.readStates.push({ context: read.context, index: read.index });
      return;
    }
    this.send({
      type: 'ReadIndexResponse',
      to: read.from,
      context: read.context,
      index: read.index,
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Helpers
  // ---------------------------------------------------------------------------------------------

  /** Queues a message stamped with this node's id and current term. */
  private send(fields: Outgoing): void {
    this.messages.push({ ...fields, from: this.id, term: this.term });
  }

  private setMembership(membership: Membership): void {
    this.voters = [...membership.voters];
    this.learners = [...membership.learners];
    this.members = new Set([...this.voters, ...this.learners]);
  }

  private currentMembership(): Membership {
    return { voters: [...this.voters], learners: [...this.learners] };
  }

  private refuseConfChange(): ConfChangeResult | undefined {
    if (this.leadTransferee !== null) {
      const reason = `leadership is being transferred to ${this.leadTransferee}`;
      return { ok: false, code: 'TRANSFER_IN_PROGRESS', leaderHint: this.id, reason };
    }
    if (this.pendingConfIndex > this.log.applied) {
      const reason = `entry ${this.pendingConfIndex} (an earlier change or this leader's first entry) is not applied yet (applied ${this.log.applied})`;
      return { ok: false, code: 'CHANGE_IN_PROGRESS', leaderHint: this.id, reason };
    }
    return undefined;
  }

  /** Calls `visit` for every config entry in `[low, high]` of the log, in order. */
  private forEachConfigEntry(
    range: { low: number; high: number },
    visit: (e: Entry) => void,
  ): void {
    let low = Math.max(range.low, this.log.firstIndex());
    while (low <= range.high) {
      const entries = this.log.slice({ low, high: range.high + 1, maxBytes: CONFIG_SCAN_BYTES });
      if (entries === undefined || entries.length === 0) return;
      for (const entry of entries) if (entry.type === 'config') visit(entry);
      low += entries.length;
    }
  }

  /**
   * After a restart: the stored membership is the snapshot's; config entries after it that were
   * applied before the restart (up to `appliedIndex`) are in force again. Later committed ones
   * take effect when they are applied again.
   */
  private rebuildMembership(): void {
    this.forEachConfigEntry({ low: 1, high: this.log.applied }, (entry) => {
      this.setMembership(decodeConfigEntry(entry.data).membership);
    });
  }

  private hasUnappliedConfig(): boolean {
    let found = false;
    this.forEachConfigEntry({ low: this.log.applied + 1, high: this.log.committed }, () => {
      found = true;
    });
    return found;
  }

  /** A config entry was applied: its membership is now in force on this node. */
  private applyConfigEntry(entry: Entry): void {
    this.setMembership(decodeConfigEntry(entry.data).membership);
    if (this.role !== 'leader') {
      // A (pre-)candidate that is no longer a voter gives up its campaign.
      if (this.role !== 'follower' && !this.promotable()) this.becomeFollower(this.term, null);
      return;
    }
    this.syncProgress();
    // Removing a voter can shrink the quorum enough to commit more.
    if (this.maybeCommit()) this.broadcastAppend();
    else this.appendPending = true;
    if (!this.promotable()) this.handOffAfterRemoval();
  }

  /** Adds progress for new members, drops it for removed ones, and marks promotions. */
  private syncProgress(): void {
    const lastIndex = this.log.lastIndex();
    for (const id of this.progress.keys()) {
      if (!this.members.has(id)) this.progress.delete(id);
    }
    if (this.leadTransferee !== null && !this.voters.includes(this.leadTransferee)) {
      this.leadTransferee = null;
    }
    for (const id of this.members) {
      const isLearner = !this.voters.includes(id);
      const existing = this.progress.get(id);
      if (existing !== undefined) {
        existing.isLearner = isLearner;
        continue;
      }
      const entry = new Progress(id, {
        nextIndex: lastIndex + 1,
        maxInflight: this.options.maxInflightMessages,
        isLearner,
        activeWindowTicks: this.options.electionTicks,
      });
      // A new member was just added, so it counts as recently heard from (as in etcd).
      entry.markActive();
      this.progress.set(id, entry);
    }
  }

  /**
   * This leader applied its own removal: the change is committed and it no longer counts itself
   * anywhere. It does not vanish at once: the others may not know yet that the change committed
   * (they would keep the old configuration, in which this node's vote may be the one they lack),
   * and its log may hold entries no one else has. So it goes on replicating (heartbeats carry the
   * commit index), refuses new proposals, and hands leadership to the most caught-up voter of the
   * new configuration with TimeoutNow, as a transfer. It steps down when the new leader shows up,
   * or after an election timeout in any case (see `tickHeartbeat`).
   */
  private handOffAfterRemoval(): void {
    let best: Progress | undefined;
    for (const id of this.voters) {
      const progress = this.progress.get(id);
      if (progress === undefined) continue;
      if (best === undefined || progress.matchIndex > best.matchIndex) best = progress;
    }
    if (best === undefined) {
      this.becomeFollower(this.term, null);
      return;
    }
    this.leadTransferee = best.id;
    this.electionElapsed = 0;
    if (best.matchIndex === this.log.lastIndex()) this.sendTimeoutNow(best.id);
    else this.sendAppend(best.id);
  }

  private softState(): SoftState {
    return { role: this.role, leaderId: this.leaderId };
  }

  private hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  private progressStatus(): FollowerProgress[] {
    return [...this.progress.values()].map((progress) => ({
      id: progress.id,
      matchIndex: progress.matchIndex,
      nextIndex: progress.nextIndex,
      state: progress.state,
      inflight: progress.inflights.size,
      recentActive: progress.recentActive,
    }));
  }

  private assertInvariants(): void {
    const { committed, applied } = this.log;
    const lastIndex = this.log.lastIndex();
    invariant(committed <= lastIndex, () => `commit ${committed} > last index ${lastIndex}`);
    invariant(applied <= committed, () => `applied ${applied} > commit ${committed}`);
    invariant(this.term >= this.highestTerm, () => `term went back to ${this.term}`);
    this.highestTerm = this.term;
  }
}

function checkHardState(hardState: HardState): void {
  for (const [field, value] of [
    ['term', hardState.term],
    ['commit', hardState.commit],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RaftError(
        'INVARIANT_VIOLATED',
        `stored hard state ${field} is not a non-negative integer: ${value}`,
      );
    }
  }
}

function checkConfChange(change: ConfChange): void {
  const value: unknown = change;
  const record = (typeof value === 'object' && value !== null ? value : {}) as Record<
    string,
    unknown
  >;
  const type = record.type;
  const node = record.node;
  const types = ['add-learner', 'promote', 'add-voter', 'remove'];
  if (typeof type !== 'string' || !types.includes(type)) {
    throw new RaftError(
      'INVALID_ARGUMENT',
      `proposeConfChange(change) needs change.type to be one of ${types.join(', ')}`,
    );
  }
  if (typeof node !== 'string' || node.length === 0) {
    throw new RaftError(
      'INVALID_ARGUMENT',
      'proposeConfChange(change) needs change.node, a node id',
    );
  }
}

function descending(a: number, b: number): number {
  return b - a;
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.role === b.role && a.leaderId === b.leaderId;
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
