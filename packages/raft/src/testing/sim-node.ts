// One simulated node: a RaftCore plus the host loop that follows the Ready contract, a storage
// whose writes only become durable at sync, and a trivial deterministic state machine (the list
// of applied entries). Crashing drops the core and everything not yet synced; restarting builds a
// fresh core on a storage rebuilt from the durable copy and re-applies the log from index 1.
import type { Entry, EntryType, Membership, NodeId, RaftMessage } from '../messages.js';
import type { ConfChange, ConfChangeResult } from '../core/membership.js';
import { decodeConfigEntry } from '../core/membership.js';
import type {
  HardState,
  Snapshot,
  LogStorage,
  ProposeResult,
  RaftCoreOptions,
  ReadIndexResult,
  ReadState,
  Ready,
  Role,
  StepResult,
  TransferResult,
} from '../core/types.js';
import type { InvariantChecker, NodeView } from './invariants.js';
import { InvariantViolation } from './invariants.js';

/** The part of a Raft core the simulator drives (RaftCore satisfies it). */
export interface SimCore {
  tick(): void;
  step(message: RaftMessage): StepResult;
  propose(data: Uint8Array): ProposeResult;
  readIndex(context: string): ReadIndexResult;
  transferLeadership(to: NodeId): TransferResult;
  /** Optional so that fake cores without membership change still fit. */
  proposeConfChange?(change: ConfChange): ConfChangeResult;
  hasReady(): boolean;
  ready(): Ready;
  advance(ready: Ready): void;
}

/** What survives a crash: the last synced hard state and log. */
export interface DurableState {
  readonly hardState: HardState;
  readonly entries: readonly Entry[];
}

/** How the simulator builds cores and storages (the real ones by default; fakes in tests). */
export interface SimFactories {
  createCore(options: RaftCoreOptions): SimCore;
  /** A fresh storage holding `durable` (as if recovered from disk) for a cluster of `peers`. */
  createStorage(init: { peers: readonly NodeId[]; durable: DurableState }): LogStorage;
}

/** One write of a Ready (its hard state, its entries or an installed snapshot), not yet synced. */
interface UnsyncedWrite {
  readonly hardState?: HardState;
  readonly entries?: readonly Entry[];
  readonly snapshot?: Snapshot;
}

/**
 * The simulated state machine's snapshot: every applied entry up to the snapshot's index, as the
 * lab's applier keeps its whole command log. A node that installs one knows its log again from
 * index 1, so the simulator's own bookkeeping (and every invariant) still sees whole logs.
 */
export function encodeSimSnapshot(entries: readonly Entry[]): Uint8Array {
  const rows = entries.map((entry) => [
    entry.index,
    entry.term,
    entry.type,
    Array.from(entry.data),
  ]);
  return new TextEncoder().encode(JSON.stringify(rows));
}

export function decodeSimSnapshot(data: Uint8Array): Entry[] {
  const rows = JSON.parse(new TextDecoder().decode(data)) as [
    number,
    number,
    EntryType,
    number[],
  ][];
  return rows.map(([index, term, type, bytes]) => ({
    index,
    term,
    type,
    data: Uint8Array.from(bytes),
  }));
}

/**
 * What a sync returns: it succeeds now, succeeds after `delayMs` of virtual time (a slow fsync),
 * fails with ENOSPC (the Ready is held and retried later) or fails with EIO (fatal: the node stops).
 */
export type SyncOutcome =
  | { readonly kind: 'ok' }
  | { readonly kind: 'slow'; readonly delayMs: number }
  | { readonly kind: 'no-space' }
  | { readonly kind: 'io-error' };

/**
 * A deliberately wrong host, for negative controls only: `send-before-sync` sends a held Ready's
 * messages before its sync succeeded (the host's own Ready-contract check must catch it);
 * `send-before-sync-unchecked` does the same with that check off, so that the safety invariants
 * alone must catch what it leads to.
 */
export type FaultyHost = 'send-before-sync' | 'send-before-sync-unchecked';

/** A Ready whose sync has not succeeded yet (disk full or slow fsync): nothing of it went out. */
interface HeldReady {
  readonly ready: Ready;
  readonly installed: readonly Entry[];
}

/** What a host turn asks of the simulator around it. */
export interface NodeHost {
  readonly checker: InvariantChecker;
  /**
   * Whether a crash strikes between this Ready's writes and their sync, and if so how many of the
   * `unsyncedWrites` still reach the disk.
   */
  crashBeforeSync(id: NodeId, unsyncedWrites: number): { survivingWrites: number } | undefined;
  /**
   * The outcome of a sync (of a Ready's first attempt, or of a retry of a held one). For `slow`
   * and `no-space` the host arranges a later `retrySync`; for `io-error` it arranges a restart.
   */
  syncOutcome?(id: NodeId, init: { retry: boolean; incarnation: number }): SyncOutcome;
  send(message: RaftMessage): void;
  applied(id: NodeId, entry: Entry): void;
  /** A read became servable: the node's state machine has applied `readState.index`. */
  readState(id: NodeId, readState: ReadState): void;
  trace(id: NodeId, text: string): void;
}

const emptyHardState: HardState = { term: 0, vote: null, commit: 0 };
/** A host turn that does not settle after this many Ready rounds is a livelock in the core. */
const maxReadyRoundsPerTurn = 10_000;

function sameVote(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote;
}

export class SimNode implements NodeView {
  readonly id: NodeId;
  private readonly peers: readonly NodeId[];
  private readonly factories: SimFactories;
  private readonly coreOptions: Omit<RaftCoreOptions, 'id' | 'peers' | 'storage'>;
  private readonly host: NodeHost;
  /** Take a snapshot (and compact the log up to it) every this many applied entries; off when undefined. */
  private readonly snapshotEveryEntries: number | undefined;
  /** The latest snapshot that reached the disk (taken here, or installed and synced). */
  private durableSnapshot: Snapshot | undefined = undefined;
  /** Snapshots this node took, and snapshots it installed from a leader, over all its lives. */
  snapshotsTaken = 0;
  snapshotsInstalled = 0;
  private core: SimCore | undefined;
  private storage: LogStorage | undefined;
  private durableHardState: HardState = emptyHardState;
  private readonly durableEntries: Entry[] = [];
  /** Writes since the last sync, in order: a crash may keep any prefix of them (a torn tail). */
  private unsyncedWrites: UnsyncedWrite[] = [];
  private written: HardState = emptyHardState;
  private writtenLog: Entry[] = [];
  private appliedEntries: Entry[] = [];
  private pendingReads: ReadState[] = [];
  /** The Ready whose sync failed with ENOSPC or is slow: the host loop waits on it. */
  private held: HeldReady | undefined = undefined;
  private readonly faultyHost: FaultyHost | undefined;
  role: Role = 'follower';
  leaderId: NodeId | null = null;
  /** Bumped at every crash so that timers of an earlier life are ignored. */
  incarnation = 0;

  constructor(init: {
    id: NodeId;
    peers: readonly NodeId[];
    factories: SimFactories;
    coreOptions: Omit<RaftCoreOptions, 'id' | 'peers' | 'storage'>;
    host: NodeHost;
    snapshotEveryEntries?: number | undefined;
    faultyHost?: FaultyHost | undefined;
  }) {
    this.snapshotEveryEntries = init.snapshotEveryEntries;
    this.faultyHost = init.faultyHost;
    this.id = init.id;
    this.peers = init.peers;
    this.factories = init.factories;
    this.coreOptions = init.coreOptions;
    this.host = init.host;
  }

  get alive(): boolean {
    return this.core !== undefined;
  }
  /** Whether the node is up in the given life (a crash or restart ends a life). */
  runs(incarnation: number): boolean {
    return this.core !== undefined && this.incarnation === incarnation;
  }
  get term(): number {
    return this.written.term;
  }
  /**
   * The commit index the node knows for sure: its written commit, but never past its own durable
   * log. A leader counts its own entries toward a quorum as soon as it wrote them (not synced);
   * while their Ready is held that commit is not yet true (a crash may lose the entries), and
   * nothing reveals it (no message, no apply) until the sync succeeded.
   */
  get commit(): number {
    return Math.min(this.written.commit, this.durableEntries.length);
  }
  get log(): readonly Entry[] {
    return this.writtenLog;
  }
  /** Entries this incarnation's state machine has applied, in order. */
  get applied(): readonly Entry[] {
    return this.appliedEntries;
  }
  get durableState(): DurableState {
    return { hardState: this.durableHardState, entries: this.durableEntries };
  }

  /** Starts (or restarts) the node from its durable state. */
  start(): void {
    if (this.core !== undefined) throw new Error(`${this.id} is already running`);
    this.written = this.durableHardState;
    this.writtenLog = [...this.durableEntries];
    this.unsyncedWrites = [];
    this.held = undefined;
    this.appliedEntries = [];
    this.pendingReads = [];
    this.role = 'follower';
    this.leaderId = null;
    this.storage = this.factories.createStorage({ peers: this.peers, durable: this.durableState });
    this.host.checker.onRestart(this.id);
    const appliedIndex = this.restoreSnapshot(this.storage);
    this.core = this.factories.createCore({
      ...this.coreOptions,
      id: this.id,
      peers: this.peers,
      storage: this.storage,
      appliedIndex,
    });
    this.host.trace(
      this.id,
      `start term=${this.written.term} vote=${String(this.written.vote)} commit=${this.written.commit} last=${this.writtenLog.length}`,
    );
    this.drain();
  }

  /**
   * After a restart: the storage gets the durable snapshot and drops the log it covers, and the
   * state machine starts from it (the core replays only the log after it). Returns its index.
   */
  private restoreSnapshot(storage: LogStorage): number {
    const snapshot = this.durableSnapshot;
    if (snapshot === undefined) return 0;
    const index = snapshot.metadata.index;
    storage.createSnapshot({
      index,
      data: snapshot.data,
      membership: snapshot.metadata.membership,
    });
    storage.compact(index);
    // The snapshot proves everything up to its index committed, even if that commit index was
    // never synced in a hard state.
    this.written = { ...this.written, commit: Math.max(this.written.commit, index) };
    for (const entry of decodeSimSnapshot(snapshot.data)) this.apply(entry);
    return index;
  }

  /** Bytes of log this node keeps beyond its snapshot (the lab's RaftStateSize, roughly). */
  get logBytes(): number {
    const base =
      this.storage === undefined
        ? (this.durableSnapshot?.metadata.index ?? 0)
        : this.storage.firstIndex() - 1;
    let bytes = 0;
    for (const entry of this.writtenLog.slice(base)) bytes += entry.data.byteLength + 24;
    return bytes;
  }

  /** Writes made since the last sync (what a crash may lose). */
  get unsyncedWriteCount(): number {
    return this.unsyncedWrites.length;
  }

  /**
   * Stops the node: the core and every write not yet synced are lost, except the first
   * `survivingWrites` of them (a write-ahead log keeps a prefix of what reached the disk).
   */
  crash(survivingWrites = 0): void {
    if (this.core === undefined) return;
    const kept = Math.min(survivingWrites, this.unsyncedWrites.length);
    const lost = this.unsyncedWrites.length - kept;
    this.persist(this.unsyncedWrites.slice(0, kept));
    this.unsyncedWrites = [];
    this.held = undefined;
    this.core = undefined;
    this.storage = undefined;
    this.incarnation++;
    this.role = 'follower';
    this.leaderId = null;
    this.host.trace(
      this.id,
      `crash durable term=${this.durableHardState.term} last=${this.durableEntries.length} (${kept} unsynced writes kept, ${lost} lost)`,
    );
  }

  tick(): void {
    if (this.core === undefined) return;
    this.core.tick();
    this.drain();
  }

  step(message: RaftMessage): StepResult | undefined {
    if (this.core === undefined) return undefined;
    const result = this.core.step(message);
    this.drain();
    return result;
  }

  propose(data: Uint8Array): ProposeResult | undefined {
    if (this.core === undefined) return undefined;
    const result = this.core.propose(data);
    this.drain();
    return result;
  }

  readIndex(context: string): ReadIndexResult | undefined {
    if (this.core === undefined) return undefined;
    const result = this.core.readIndex(context);
    this.drain();
    return result;
  }

  transferLeadership(to: NodeId): TransferResult | undefined {
    if (this.core === undefined) return undefined;
    const result = this.core.transferLeadership(to);
    this.drain();
    return result;
  }

  proposeConfChange(change: ConfChange): ConfChangeResult | undefined {
    if (this.core?.proposeConfChange === undefined) return undefined;
    const result = this.core.proposeConfChange(change);
    this.drain();
    return result;
  }

  /** The membership this incarnation applied last (its bootstrap peers before any change). */
  get membership(): Membership {
    for (let i = this.appliedEntries.length - 1; i >= 0; i--) {
      const entry = this.appliedEntries[i];
      if (entry?.type === 'config') return decodeConfigEntry(entry.data).membership;
    }
    return { voters: [...this.peers], learners: [] };
  }

  /** Runs the host loop until the core has nothing more to do (or the node crashed). */
  private drain(): void {
    for (let round = 0; round < maxReadyRoundsPerTurn; round++) {
      const core = this.core;
      // A held Ready blocks the host loop (the core still ticks and steps), as in RaftNode.
      if (this.held !== undefined || !core?.hasReady()) return;
      const ready = core.ready();
      if (!this.handle(ready)) return;
      core.advance(ready);
      this.maybeSnapshot();
    }
    throw new Error(`${this.id}: ready() still pending after ${maxReadyRoundsPerTurn} rounds`);
  }

  private contract(condition: boolean, message: string): void {
    if (!condition)
      throw new InvariantViolation({ invariant: 'READY_CONTRACT', nodeId: this.id, message });
  }

  /** Whether a Ready waits on a failed (ENOSPC) or slow sync. */
  get stalled(): boolean {
    return this.held !== undefined;
  }

  /**
   * Retries the held Ready's sync (called by the simulator after a stall or a slow fsync). On
   * success the Ready goes on where it stopped: its messages are sent, its entries applied, and
   * the host loop drains what the core accumulated meanwhile.
   */
  retrySync(incarnation: number): void {
    const held = this.held;
    const core = this.core;
    if (held === undefined || core === undefined || !this.runs(incarnation)) return;
    const outcome = this.host.syncOutcome?.(this.id, { retry: true, incarnation }) ?? {
      kind: 'ok',
    };
    if (outcome.kind === 'io-error') {
      this.failSync();
      return;
    }
    if (outcome.kind !== 'ok') return;
    this.held = undefined;
    this.sync();
    this.host.trace(this.id, 'sync succeeded, held Ready goes on');
    // The faulty host sent these messages already, when the sync failed.
    const sentEarly = this.faultyHost !== undefined;
    this.finish(sentEarly ? { ...held.ready, messages: [] } : held.ready, held.installed);
    core.advance(held.ready);
    this.maybeSnapshot();
    this.drain();
  }

  /** fsync returned EIO: fatal; the node stops as if it crashed (the host restarts it later). */
  private failSync(): void {
    this.host.trace(this.id, 'sync failed with EIO: the node stops');
    this.crash(0);
  }

  /**
   * The sync of a Ready that must sync: true when it succeeded now; false when the Ready is held
   * (disk full, slow fsync) or the node stopped (EIO).
   */
  private syncReady(ready: Ready, installed: readonly Entry[]): boolean {
    const outcome = this.host.syncOutcome?.(this.id, {
      retry: false,
      incarnation: this.incarnation,
    }) ?? { kind: 'ok' };
    switch (outcome.kind) {
      case 'ok':
        this.sync();
        return true;
      case 'io-error':
        this.failSync();
        return false;
      case 'slow':
      case 'no-space':
        this.held = { ready, installed };
        this.host.trace(
          this.id,
          `${outcome.kind === 'slow' ? `slow sync +${outcome.delayMs.toFixed(1)} ms` : 'sync failed with ENOSPC'}: Ready held (${ready.messages.length} messages, ${ready.committedEntries.length} entries to apply)`,
        );
        // The negative control: a wrong host that sends before the sync succeeded.
        if (this.faultyHost !== undefined) {
          for (const message of ready.messages) this.send(message);
        }
        return false;
    }
  }

  /** One Ready, in contract order. Returns false when the node crashed or the Ready is held. */
  private handle(ready: Ready): boolean {
    if (ready.softState !== undefined) {
      const term = ready.hardState?.term ?? this.written.term;
      this.noteSoftState({ role: ready.softState.role, leaderId: ready.softState.leaderId, term });
    }
    this.contract(
      ready.snapshot === undefined || this.snapshotEveryEntries !== undefined,
      'a snapshot arrived but this simulation takes none',
    );
    // Snapshot, then entries, then the hard state, as a write-ahead log does (RaftNode too): a
    // torn tail may then lose a commit index, never keep one past the entries it covers.
    const installed = this.writeSnapshot(ready);
    this.write(ready);
    this.writeHardState(ready);
    if (ready.mustSync) {
      const crash = this.host.crashBeforeSync(this.id, this.unsyncedWrites.length);
      if (crash !== undefined) {
        this.host.trace(this.id, 'crash between write and sync');
        this.crash(crash.survivingWrites);
        return false;
      }
      if (!this.syncReady(ready, installed)) return false;
    }
    this.finish(ready, installed);
    return true;
  }

  /** Steps 2 to 4 of the contract, once the Ready's writes are durable: send, apply, serve reads. */
  private finish(ready: Ready, installed: readonly Entry[]): void {
    for (const message of ready.messages) this.send(message);
    // The state machine restores the snapshot before it applies anything after it.
    for (const entry of installed.slice(this.appliedEntries.length)) this.apply(entry);
    for (const entry of ready.committedEntries) this.apply(entry);
    const first = ready.committedEntries[0];
    const last = ready.committedEntries[ready.committedEntries.length - 1];
    if (first !== undefined && last !== undefined) {
      this.host.trace(this.id, `apply ${first.index}..${last.index}`);
    }
    // Step 4 of the contract: a read is served once the applied index reaches its index.
    for (const readState of ready.readStates) this.pendingReads.push(readState);
    this.serveReads();
  }

  private noteSoftState(init: { role: Role; leaderId: NodeId | null; term: number }): void {
    const { role, leaderId, term } = init;
    if (role !== this.role || leaderId !== this.leaderId) {
      this.host.trace(this.id, `role ${role} term=${term} leader=${String(leaderId)}`);
    }
    this.role = role;
    this.leaderId = leaderId;
  }

  private writeHardState(ready: Ready): void {
    const hardState = ready.hardState;
    if (hardState === undefined || this.storage === undefined) return;
    this.contract(
      ready.mustSync || sameVote(hardState, this.written),
      `term/vote changed to ${hardState.term}/${String(hardState.vote)} without mustSync`,
    );
    this.storage.setHardState(hardState);
    this.written = hardState;
    this.unsyncedWrites.push({ hardState });
    const { term, vote, commit } = hardState;
    this.host.trace(this.id, `hard state term=${term} vote=${String(vote)} commit=${commit}`);
  }

  /** Installs a leader's snapshot: the log is replaced by the entries it holds. */
  private writeSnapshot(ready: Ready): readonly Entry[] {
    const snapshot = ready.snapshot;
    const storage = this.storage;
    if (snapshot === undefined || storage === undefined) return [];
    this.contract(ready.mustSync, `snapshot at ${snapshot.metadata.index} without mustSync`);
    const entries = decodeSimSnapshot(snapshot.data);
    const previousLastIndex = this.writtenLog.length;
    storage.applySnapshot(snapshot);
    this.writtenLog = [...entries];
    this.unsyncedWrites.push({ entries, snapshot });
    this.host.checker.onAppend(this, { entries, previousLastIndex });
    this.snapshotsInstalled++;
    this.host.trace(this.id, `install snapshot at ${snapshot.metadata.index}`);
    return entries;
  }

  /**
   * The lab's applier: a snapshot every `snapshotEveryEntries` applied entries, then the log up
   * to it is compacted away. A snapshot file is written atomically, so it is durable at once.
   */
  private maybeSnapshot(): void {
    const every = this.snapshotEveryEntries;
    const storage = this.storage;
    if (every === undefined || storage === undefined) return;
    const applied = this.appliedEntries.length;
    if (applied - storage.snapshot().metadata.index < every) return;
    const data = encodeSimSnapshot(this.appliedEntries);
    // The membership in force at the applied index (config entries take effect when applied).
    this.durableSnapshot = storage.createSnapshot({
      index: applied,
      data,
      membership: this.membership,
    });
    storage.compact(applied);
    this.snapshotsTaken++;
    this.host.trace(this.id, `snapshot at ${applied}, log compacted`);
  }

  private write(ready: Ready): void {
    const storage = this.storage;
    if (storage === undefined) return;
    const first = ready.entries[0];
    if (first !== undefined) {
      this.contract(ready.mustSync, `entries from ${first.index} without mustSync`);
      const previousLastIndex = this.writtenLog.length;
      storage.append(ready.entries);
      this.writtenLog.length = Math.min(this.writtenLog.length, first.index - 1);
      this.writtenLog.push(...ready.entries);
      this.unsyncedWrites.push({ entries: ready.entries });
      this.host.checker.onAppend(this, { entries: ready.entries, previousLastIndex });
      const last = ready.entries[ready.entries.length - 1]!;
      this.host.trace(
        this.id,
        `append ${first.index}..${last.index} (term ${last.term}) over last=${previousLastIndex}`,
      );
    }
  }

  private sync(): void {
    if (this.unsyncedWrites.length === 0) return;
    this.persist(this.unsyncedWrites);
    this.unsyncedWrites = [];
  }

  /** Replays writes, in order, onto the durable copy. */
  private persist(writes: readonly UnsyncedWrite[]): void {
    for (const write of writes) {
      if (write.hardState !== undefined) {
        this.durableHardState = write.hardState;
        this.host.checker.onDurableHardState(this.id, write.hardState);
      }
      if (write.snapshot !== undefined) this.durableSnapshot = write.snapshot;
      const first = write.entries?.[0];
      if (write.entries !== undefined && first !== undefined) {
        this.durableEntries.length = Math.min(this.durableEntries.length, first.index - 1);
        this.durableEntries.push(...write.entries);
      }
    }
  }

  private send(message: RaftMessage): void {
    if (this.faultyHost !== 'send-before-sync-unchecked') this.checkDurableBeforeSend(message);
    this.host.checker.onSend(message);
    this.host.send(message);
  }

  /** The Ready contract seen from the wire: nothing acknowledged or voted before it is durable. */
  private checkDurableBeforeSend(message: RaftMessage): void {
    if (message.type === 'AppendEntriesResponse' && message.success) {
      const held = this.durableEntries[message.matchIndex - 1];
      // While a Ready is held the core keeps stepping: it may acknowledge entries of an older
      // term's leader that a newer leader then replaces before they are ever written. Only a
      // leader of that older term can count such an answer, and no quorum of it can commit them
      // (every voter of the newer leader refused it or left the older term first), so an answer
      // from a term older than the durable one is not checked against the durable log.
      const stale = message.term < this.durableHardState.term;
      this.contract(
        message.matchIndex === 0 || held !== undefined || stale,
        `acknowledged index ${message.matchIndex} before it was durable`,
      );
    }
    if (message.type === 'RequestVoteResponse' && message.granted && !message.preVote) {
      const durable = this.durableHardState;
      // A newer durable term also covers the grant: after a held Ready the core may send a grant
      // from an older term whose vote was superseded in memory before it was ever written, and a
      // node durably in a later term can never vote in that older term again.
      this.contract(
        durable.term > message.term ||
          (durable.term === message.term && durable.vote === message.to),
        `granted a vote to ${message.to} in term ${message.term} before it was durable`,
      );
    }
  }

  private serveReads(): void {
    const applied = this.appliedEntries.length;
    const ready = this.pendingReads.filter((read) => read.index <= applied);
    if (ready.length === 0) return;
    this.pendingReads = this.pendingReads.filter((read) => read.index > applied);
    for (const read of ready) this.host.readState(this.id, read);
  }

  private apply(entry: Entry): void {
    this.host.checker.onApply(this, entry);
    this.appliedEntries.push(entry);
    this.host.applied(this.id, entry);
  }
}
