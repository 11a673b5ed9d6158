// The contract between the sans-I/O Raft core and its host (STYLE.md 17-19). The core is driven
// entirely by the host: `tick()`, `step()`, `propose()`, `readIndex()`, `transferLeadership()`,
// then `ready()` / `advance()`. Nothing here touches timers, sockets, files or clocks.
import type { Entry, Membership, NodeId, RaftMessage } from '../messages.js';

/** State that must be durable before any message that depends on it is sent. */
export interface HardState {
  readonly term: number;
  /** The candidate voted for in `term`, or null. */
  readonly vote: NodeId | null;
  readonly commit: number;
}

export interface SnapshotMetadata {
  readonly index: number;
  readonly term: number;
  readonly membership: Membership;
}

export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  /** The state machines' serialized state at `metadata.index` (opaque to the core). */
  readonly data: Uint8Array;
}

export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

/** Volatile state a user watches; changes are reported in `Ready.softState`. */
export interface SoftState {
  readonly role: Role;
  readonly leaderId: NodeId | null;
}

/** A linearizable read may be served once the state machine has applied `index`. */
export interface ReadState {
  readonly context: string;
  readonly index: number;
}

/**
 * Everything the host must do after driving the core, in this order:
 *
 * 1. `snapshot` (when present), then `entries` (when non-empty), then `hardState` (when
 *    present) are written to stable storage, in that order; entries replace any stored entries at
 *    the same or higher index. The order matters when a crash keeps only some unsynced writes:
 *    `hardState.commit` may cover entries of this same Ready, so it must never survive without
 *    them (write it last, or in the same atomic record). When `mustSync` is true the writes are
 *    fsync'ed before step 2. `snapshot` is restored into the state machines before
 *    `committedEntries` are applied.
 * 2. Only then are `messages` sent (a vote or an acknowledgment must never precede the durable
 *    state it reports). Sending is best effort: the core retries through its own timers.
 * 3. `committedEntries` are applied to the state machines in order. They are committed: applying
 *    them is safe even before step 1 finished for other entries, but never out of order.
 * 4. `readStates` are answered once the applied index reaches each one's `index`.
 * 5. `advance(ready)` is called with this same object; only then may `ready()` be called again.
 */
export interface Ready {
  readonly softState: SoftState | undefined;
  readonly hardState: HardState | undefined;
  readonly entries: readonly Entry[];
  readonly snapshot: Snapshot | undefined;
  readonly messages: readonly RaftMessage[];
  readonly committedEntries: readonly Entry[];
  readonly readStates: readonly ReadState[];
  /**
   * The membership in force, present only when it changed since the previous `Ready` (a config
   * entry was applied in the last `advance`, or a snapshot was restored). A host that dials
   * peers connects to new members and drops removed ones when it sees this.
   */
  readonly membership?: Membership;
  /**
   * True when `hardState`, `entries` or `snapshot` changed in a way that must be fsync'ed (term,
   * vote, log, snapshot). A commit-index change alone need not be synced: it can be recovered.
   */
  readonly mustSync: boolean;
}

/**
 * The narrow read interface the core uses to see the stable log (etcd-io/raft `storage.go`).
 * The host writes through the concrete storage (`MemoryStorage`, `FileStorage`).
 */
export interface Storage {
  /** Hard state and membership recovered at start. */
  initialState(): { hardState: HardState; membership: Membership };
  /** Entries in `[low, high)`, stopping early once `maxBytes` of entry data is reached (at least one entry). */
  entries(range: { low: number; high: number; maxBytes?: number }): Entry[];
  /** The term of the entry at `index`, or undefined when it is compacted away or not present. */
  term(index: number): number | undefined;
  /** The first index still held (snapshot index + 1). */
  firstIndex(): number;
  /** The last index held (the snapshot index when the log is empty). */
  lastIndex(): number;
  /** The latest snapshot (an empty one at index 0 before any snapshot). */
  snapshot(): Snapshot;
}

/**
 * The write side every concrete storage offers the host (`MemoryStorage`, `FileStorage`). The host
 * calls `append` / `setHardState` / `applySnapshot` for one `Ready`, then one `sync()` when
 * `mustSync` (group commit), and only after `sync()` resolved does it send the Ready's messages.
 */
export interface LogStorage extends Storage {
  /** Appends entries; an entry at an index already held replaces it and everything after it. */
  append(entries: readonly Entry[]): void;
  setHardState(hardState: HardState): void;
  /** Replaces the log with a snapshot: entries up to its index are dropped. */
  applySnapshot(snapshot: Snapshot): void;
  /**
   * Records the host's snapshot of its state machines at `index` (an entry still held, newer than
   * the latest snapshot); the log is unchanged until `compact`. Durable after the next `sync()`.
   */
  createSnapshot(snapshot: { index: number; data: Uint8Array; membership?: Membership }): Snapshot;
  /**
   * Optional: makes a snapshot's bytes durable before `createSnapshot` records it, outside the
   * log's group commit, so writing a snapshot of hundreds of megabytes never holds up the fsyncs
   * of new entries. `createSnapshot` with the same index and term then only records it.
   */
  prepareSnapshot?(snapshot: {
    index: number;
    term: number;
    data: Uint8Array;
    membership: Membership;
  }): Promise<void>;
  /** Drops entries up to and including `index` after a snapshot covering it was saved. */
  compact(index: number): void;
  /** Resolves once everything written so far is durable. A rejection is fatal for the node. */
  sync(): Promise<void>;
}

/** A seeded random source in [0, 1): the only randomness the core may use. */
export type RandomSource = () => number;

export interface RaftCoreOptions {
  readonly id: NodeId;
  /** Voters at bootstrap when storage holds no membership yet. */
  readonly peers: readonly NodeId[];
  readonly storage: Storage;
  readonly random: RandomSource;
  /** Election timeout in ticks; each follower draws its timeout in [electionTicks, 2*electionTicks). Default 10. */
  readonly electionTicks?: number;
  /** Heartbeat interval in ticks. Default 1. Must be less than electionTicks. */
  readonly heartbeatTicks?: number;
  /** Pre-vote phase before a real election (Raft dissertation 9.6). Default true. */
  readonly preVote?: boolean;
  /** A leader that has not heard from a quorum within an election timeout steps down. Default true. */
  readonly checkQuorum?: boolean;
  /** Followers forward proposals to the known leader instead of refusing them. Default false. */
  readonly forwardProposals?: boolean;
  /** Maximum entries in one AppendEntries. Default 256. */
  readonly maxEntriesPerMessage?: number;
  /** Maximum entry data bytes in one AppendEntries. Default 1 MiB. */
  readonly maxBytesPerMessage?: number;
  /** Maximum AppendEntries in flight per follower in replicate state. Default 256. */
  readonly maxInflightMessages?: number;
  /** Maximum uncommitted proposals held by a leader; beyond it proposals are refused. Default 10000. */
  readonly maxUncommittedEntries?: number;
  /**
   * Maximum entry data bytes handed out in one `Ready.committedEntries` (at least one entry is
   * always handed out). Bounds the memory one apply batch holds. Default 64 MiB.
   */
  readonly maxCommittedBytesPerReady?: number;
  /**
   * A learner is promoted only when its match index is at most this many entries behind the
   * leader's last index; otherwise `proposeConfChange` answers `LEARNER_BEHIND`. Default 256.
   */
  readonly maxLearnerLagEntries?: number;
  /**
   * Largest chunk of a snapshot in one InstallSnapshot; one chunk is in flight per follower, so
   * heartbeats keep flowing while a large snapshot is sent. Default 1 MiB.
   */
  readonly maxSnapshotChunkBytes?: number;
  /** Largest snapshot a follower accepts from a leader; a larger one is refused. Default 1 GiB. */
  readonly maxSnapshotBytes?: number;
  /** Applied index to resume from after restart (entries up to it are not returned again). */
  readonly appliedIndex?: number;
}

export type ProposeResult =
  | { readonly ok: true; readonly index: number; readonly term: number }
  /**
   * Sent to the leader of `term`, which appends it only while it leads that term. Nothing
   * reports back: the entry commits, or it is lost (the leader dropped it or was deposed).
   */
  | { readonly ok: true; readonly forwardedTo: NodeId; readonly term: number }
  | { readonly ok: false; readonly code: 'NOT_LEADER'; readonly leaderHint: NodeId | null }
  | { readonly ok: false; readonly code: 'TRANSFER_IN_PROGRESS'; readonly leaderHint: NodeId }
  | { readonly ok: false; readonly code: 'TOO_MANY_UNCOMMITTED'; readonly leaderHint: NodeId };

export type ReadIndexResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly code: 'NOT_LEADER'; readonly leaderHint: NodeId | null }
  /**
   * This node is the leader but has not yet committed an entry of its own term (its no-op), so
   * it cannot know the latest commit index (Raft dissertation 6.4). Retry shortly.
   */
  | { readonly ok: false; readonly code: 'LEADER_NOT_READY'; readonly leaderHint: NodeId };

export type TransferResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly code: 'NOT_LEADER'; readonly leaderHint: NodeId | null }
  | {
      readonly ok: false;
      readonly code: 'UNKNOWN_PEER' | 'ALREADY_LEADER';
      readonly reason: string;
    };

/** Why `step` ignored a message; the core's state is unchanged in every such case. */
export type StepRejection =
  'UNKNOWN_PEER' | 'WRONG_RECIPIENT' | 'STALE_TERM' | 'ABSURD_VALUE' | 'INDEX_OUT_OF_RANGE';

export type StepResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly code: StepRejection; readonly reason: string };

export interface FollowerProgress {
  readonly id: NodeId;
  readonly matchIndex: number;
  readonly nextIndex: number;
  readonly state: 'probe' | 'replicate' | 'snapshot';
  readonly inflight: number;
  readonly recentActive: boolean;
}

export interface RaftStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: number;
  readonly vote: NodeId | null;
  readonly leaderId: NodeId | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly membership: Membership;
  /** Present on the leader only. */
  readonly progress: readonly FollowerProgress[] | undefined;
  readonly leadTransferee: NodeId | null;
}
