// An in-memory LogStorage (etcd-io/raft `storage.go` MemoryStorage) for tests, the simulator and
// the demo. Like etcd's, `entries[0]` is a dummy holding the snapshot's index and term, so the
// term of the entry just before the first held one is always known.
import type { Entry, Membership } from '../messages.js';
import { RaftError } from '../errors.js';
import type { HardState, LogStorage, Snapshot } from './types.js';

const EMPTY: Uint8Array = new Uint8Array(0);

/**
 * Keeps the log, hard state and latest snapshot in memory. `sync()` resolves at once: nothing
 * here is durable beyond the process, which is exactly what tests and the simulator want.
 */
export class MemoryStorage implements LogStorage {
  private hardState: HardState = { term: 0, vote: null, commit: 0 };
  private membership: Membership;
  private latestSnapshot: Snapshot;
  /** `entries[0]` is the dummy at the snapshot index; real entries follow it. */
  private entriesHeld: Entry[];

  /** Starts empty, with `membership` as the bootstrap configuration (empty by default). */
  constructor(membership: Membership = { voters: [], learners: [] }) {
    this.membership = { voters: [...membership.voters], learners: [...membership.learners] };
    this.latestSnapshot = {
      metadata: { index: 0, term: 0, membership: this.membership },
      data: EMPTY,
    };
    this.entriesHeld = [{ index: 0, term: 0, type: 'noop', data: EMPTY }];
  }

  initialState(): { hardState: HardState; membership: Membership } {
    return { hardState: this.hardState, membership: this.membership };
  }

  private offset(): number {
    return this.dummy().index;
  }

  private dummy(): Entry {
    const dummy = this.entriesHeld[0];
    if (dummy === undefined)
      throw new RaftError('INVARIANT_VIOLATED', 'memory storage lost its dummy entry');
    return dummy;
  }

  entries(range: { low: number; high: number; maxBytes?: number }): Entry[] {
    const { low, high } = range;
    const offset = this.offset();
    if (low <= offset) {
      throw new RaftError(
        'INVALID_ARGUMENT',
        `entries from ${low} are compacted (first index ${offset + 1})`,
      );
    }
    if (high > this.lastIndex() + 1) {
      throw new RaftError(
        'INVALID_ARGUMENT',
        `entries up to ${high - 1} are beyond the last index ${this.lastIndex()}`,
      );
    }
    const selected = this.entriesHeld.slice(low - offset, high - offset);
    return range.maxBytes === undefined ? selected : limitBytes(selected, range.maxBytes);
  }

  term(index: number): number | undefined {
    const offset = this.offset();
    if (index < offset) return undefined;
    return this.entriesHeld[index - offset]?.term;
  }

  firstIndex(): number {
    return this.offset() + 1;
  }

  lastIndex(): number {
    return this.offset() + this.entriesHeld.length - 1;
  }

  snapshot(): Snapshot {
    return this.latestSnapshot;
  }

  append(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    const offset = this.offset();
    if (first.index > this.lastIndex() + 1) {
      throw new RaftError(
        'INVALID_ARGUMENT',
        `append at ${first.index} leaves a gap after ${this.lastIndex()}`,
      );
    }
    // Entries already covered by the snapshot are skipped; anything from the first new index
    // on is replaced.
    const skip = Math.max(0, offset + 1 - first.index);
    if (skip >= entries.length) return;
    const start = first.index + skip;
    this.entriesHeld.length = start - offset;
    for (let i = skip; i < entries.length; i++) {
      const entry = entries[i];
      if (entry !== undefined) this.entriesHeld.push(entry);
    }
  }

  setHardState(hardState: HardState): void {
    this.hardState = hardState;
  }

  applySnapshot(snapshot: Snapshot): void {
    if (snapshot.metadata.index <= this.latestSnapshot.metadata.index) return;
    this.latestSnapshot = snapshot;
    this.membership = snapshot.metadata.membership;
    this.entriesHeld = [
      { index: snapshot.metadata.index, term: snapshot.metadata.term, type: 'noop', data: EMPTY },
    ];
  }

  /**
   * Records a snapshot the host took of its state machines at `index` (which must be held),
   * then the host may `compact(index)`.
   */
  createSnapshot(snapshot: { index: number; data: Uint8Array; membership?: Membership }): Snapshot {
    const term = this.term(snapshot.index);
    if (term === undefined || snapshot.index > this.lastIndex()) {
      throw new RaftError('INVALID_ARGUMENT', `cannot snapshot at ${snapshot.index}: not held`);
    }
    const membership = snapshot.membership ?? this.membership;
    // A restart recovers the membership from the latest snapshot (config entries before it are
    // compacted away), as FileStorage does.
    this.membership = membership;
    this.latestSnapshot = {
      metadata: { index: snapshot.index, term, membership },
      data: snapshot.data,
    };
    return this.latestSnapshot;
  }

  compact(index: number): void {
    const offset = this.offset();
    if (index <= offset) return;
    if (index > this.lastIndex()) {
      throw new RaftError(
        'INVALID_ARGUMENT',
        `cannot compact to ${index}: beyond the last index ${this.lastIndex()}`,
      );
    }
    const kept = this.entriesHeld.slice(index - offset);
    const dummy = kept[0];
    if (dummy !== undefined)
      kept[0] = { index: dummy.index, term: dummy.term, type: 'noop', data: EMPTY };
    this.entriesHeld = kept;
  }

  sync(): Promise<void> {
    return Promise.resolve();
  }
}

function limitBytes(entries: Entry[], maxBytes: number): Entry[] {
  let total = 0;
  for (let i = 0; i < entries.length; i++) {
    total += entries[i]?.data.byteLength ?? 0;
    if (total > maxBytes && i > 0) return entries.slice(0, i);
  }
  return entries;
}
