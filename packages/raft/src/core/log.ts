// The Raft log as the core sees it (etcd-io/raft `log.go` and `log_unstable.go`): a stable prefix
// read through `Storage`, an unstable suffix held in memory until the host reports it persisted,
// and the `committed` / `applied` indexes. Entries are kept by reference: nothing here copies or
// re-encodes entry data.
import type { Entry } from '../messages.js';
import { invariant } from '../errors.js';
import type { Snapshot, Storage } from './types.js';

/** Sums the data bytes of entries, the unit every byte limit is measured in. */
export function entryBytes(entry: Entry): number {
  return entry.data.byteLength;
}

/**
 * Entries (and possibly a snapshot) not yet handed to stable storage. `offset` is the index of
 * `entries[0]`; with no entries it is the index the next entry will take.
 */
class Unstable {
  snapshot: Snapshot | undefined = undefined;
  entries: Entry[] = [];
  offset: number;

  constructor(offset: number) {
    this.offset = offset;
  }

  /** The index of the first entry the snapshot implies, if a snapshot is pending. */
  maybeFirstIndex(): number | undefined {
    return this.snapshot === undefined ? undefined : this.snapshot.metadata.index + 1;
  }

  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot?.metadata.index;
  }

  maybeTerm(index: number): number | undefined {
    if (index < this.offset) {
      return this.snapshot?.metadata.index === index ? this.snapshot.metadata.term : undefined;
    }
    return this.entries[index - this.offset]?.term;
  }

  /** Entries up to `index` (with `term`) reached stable storage: drop them from memory. */
  stableTo(index: number, term: number): void {
    if (index < this.offset || this.maybeTerm(index) !== term) return;
    const count = index + 1 - this.offset;
    this.entries = count >= this.entries.length ? [] : this.entries.slice(count);
    this.offset = index + 1;
  }

  stableSnapshotTo(index: number): void {
    if (this.snapshot?.metadata.index === index) this.snapshot = undefined;
  }

  restore(snapshot: Snapshot): void {
    this.offset = snapshot.metadata.index + 1;
    this.entries = [];
    this.snapshot = snapshot;
  }

  /** Appends entries that follow on from index `entries[0].index - 1`, truncating any conflict. */
  truncateAndAppend(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    const after = first.index;
    if (after === this.offset + this.entries.length) {
      for (const entry of entries) this.entries.push(entry);
    } else if (after <= this.offset) {
      // The new entries replace everything unstable (and the host replaces stored ones too).
      this.offset = after;
      this.entries = entries.slice();
    } else {
      this.entries.length = after - this.offset;
      for (const entry of entries) this.entries.push(entry);
    }
  }

  slice(low: number, high: number): Entry[] {
    return this.entries.slice(low - this.offset, high - this.offset);
  }
}

/** The core's view of the log. All indexes are safe integers; 0 is the empty log's last index. */
export class RaftLog {
  readonly storage: Storage;
  private readonly unstable: Unstable;
  committed: number;
  applied: number;

  constructor(storage: Storage, options: { committed: number; applied: number }) {
    this.storage = storage;
    this.unstable = new Unstable(storage.lastIndex() + 1);
    const first = storage.firstIndex();
    // Everything before the first stored index is inside the snapshot, so it was committed and
    // applied before the snapshot was taken.
    this.committed = Math.max(options.committed, first - 1);
    this.applied = Math.max(options.applied, first - 1);
    invariant(this.committed <= this.lastIndex(), () => {
      return `hard state commit ${this.committed} is beyond the last stored index ${this.lastIndex()}: storage lost entries`;
    });
    invariant(this.applied <= this.committed, () => {
      return `appliedIndex ${this.applied} is beyond the commit index ${this.committed}`;
    });
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  lastTerm(): number {
    const term = this.term(this.lastIndex());
    invariant(term !== undefined, () => `no term for the last index ${this.lastIndex()}`);
    return term;
  }

  /**
   * The term of the entry at `index`, or undefined when it is compacted away (before the
   * snapshot index) or beyond the last index.
   */
  term(index: number): number | undefined {
    const dummyIndex = this.firstIndex() - 1;
    if (index < dummyIndex || index > this.lastIndex()) return undefined;
    return this.unstable.maybeTerm(index) ?? this.storage.term(index);
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Section 5.4.1: a candidate's log is at least as up to date as ours. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** Appends entries at `entries[0].index`, replacing any conflicting suffix. Returns the last index. */
  append(entries: readonly Entry[]): number {
    const first = entries[0];
    if (first === undefined) return this.lastIndex();
    invariant(first.index > this.committed, () => {
      return `appending at ${first.index} would overwrite committed entries up to ${this.committed}`;
    });
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  /**
   * The follower side of AppendEntries: if our log holds `prevIndex` with `prevTerm`, append the
   * entries that are new or conflicting and return the last index the request covers.
   */
  maybeAppend(request: {
    prevLogIndex: number;
    prevLogTerm: number;
    entries: readonly Entry[];
  }): number | undefined {
    if (!this.matchTerm(request.prevLogIndex, request.prevLogTerm)) return undefined;
    const lastNew = request.prevLogIndex + request.entries.length;
    const conflict = this.findConflict(request.entries);
    if (conflict !== undefined) {
      invariant(conflict > this.committed, () => {
        return `entry ${conflict} conflicts with a committed entry (commit ${this.committed})`;
      });
      const start = conflict - (request.prevLogIndex + 1);
      this.append(start === 0 ? request.entries : request.entries.slice(start));
    }
    return lastNew;
  }

  /** The index of the first entry that is new or differs in term from ours, if any. */
  private findConflict(entries: readonly Entry[]): number | undefined {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return undefined;
  }

  /**
   * The last index in `[low, high]` whose term is at most `term`. Terms never decrease along a
   * Raft log, so a binary search finds it with O(log n) term lookups.
   */
  lastIndexWithTermAtMost(query: { low: number; high: number; term: number }): number | undefined {
    let low = query.low;
    let high = query.high;
    let found: number | undefined;
    while (low <= high) {
      const middle = low + Math.floor((high - low) / 2);
      const term = this.term(middle);
      if (term !== undefined && term <= query.term) {
        found = middle;
        low = middle + 1;
      } else {
        high = middle - 1;
      }
    }
    return found;
  }

  /** The first index in `[low, high]` whose term equals the term at `high` (binary search). */
  firstIndexOfTermEndingAt(low: number, high: number): number {
    const term = this.term(high);
    let lo = low;
    let hi = high;
    while (lo < hi) {
      const middle = lo + Math.floor((hi - lo) / 2);
      if (this.term(middle) === term) hi = middle;
      else lo = middle + 1;
    }
    return lo;
  }

  commitTo(index: number): boolean {
    if (index <= this.committed) return false;
    invariant(index <= this.lastIndex(), () => {
      return `commit ${index} is beyond the last index ${this.lastIndex()}`;
    });
    this.committed = index;
    return true;
  }

  appliedTo(index: number): void {
    if (index <= this.applied) return;
    invariant(index <= this.committed, () => {
      return `applied ${index} is beyond the commit index ${this.committed}`;
    });
    this.applied = index;
  }

  /**
   * Entries in `[low, high)`, at most `maxBytes` of data (but at least one entry), read from
   * storage for the stable part and from memory for the unstable part. Returns undefined when
   * `low` is compacted away, so the caller sends a snapshot instead.
   */
  slice(range: { low: number; high: number; maxBytes: number }): Entry[] | undefined {
    const { low, high, maxBytes } = range;
    if (low < this.firstIndex()) return undefined;
    if (low >= high) return [];
    const offset = this.unstable.offset;
    let result: Entry[] = [];
    if (low < offset) {
      result = this.storage.entries({ low, high: Math.min(high, offset), maxBytes });
      if (result.length < Math.min(high, offset) - low) return result;
    }
    if (high > offset) {
      const unstable = this.unstable.slice(Math.max(low, offset), high);
      result = result.length === 0 ? unstable : result.concat(unstable);
    }
    return limitBytes(result, maxBytes);
  }

  /** Committed entries the host has not applied yet. */
  nextCommittedEntries(maxBytes: number): Entry[] {
    const low = Math.max(this.applied + 1, this.firstIndex());
    if (this.committed + 1 <= low) return [];
    return this.slice({ low, high: this.committed + 1, maxBytes }) ?? [];
  }

  hasNextCommittedEntries(): boolean {
    return this.committed > Math.max(this.applied, this.firstIndex() - 1);
  }

  unstableEntries(): readonly Entry[] {
    return this.unstable.entries;
  }

  pendingSnapshot(): Snapshot | undefined {
    return this.unstable.snapshot;
  }

  /** The host persisted entries up to `index` with `term` (a later truncation makes it a no-op). */
  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term);
  }

  stableSnapshotTo(index: number): void {
    this.unstable.stableSnapshotTo(index);
  }

  /** Replaces the log with a snapshot the leader sent (the follower's log is behind it). */
  restore(snapshot: Snapshot): void {
    this.committed = snapshot.metadata.index;
    this.unstable.restore(snapshot);
  }

  /** The snapshot to send a follower that needs compacted entries. */
  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }
}

/** Keeps a prefix of `entries` within `maxBytes` of data, but always at least one entry. */
function limitBytes(entries: Entry[], maxBytes: number): Entry[] {
  let total = 0;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i];
    if (entry === undefined) break;
    total += entryBytes(entry);
    if (total > maxBytes && i > 0) return entries.slice(0, i);
  }
  return entries;
}
