// Rebuilds the in-memory log from WAL records (pure: no I/O). The WAL may begin in the middle of
// the log (old segments are deleted after compaction), so the replayed log starts wherever the
// first entry record is, and the newest snapshot on disk covers everything before it.
//
// Rules, applied record by record:
// - an entry at index i with i inside or right after the log replaces the entries from i on
//   (a conflicting append); one before the log's first index starts the log afresh at i (the
//   write that made it also truncated everything from i, the part before is compacted); one
//   beyond the end is a gap, which is corruption unless the newest snapshot covers it;
// - a hard state record replaces the hard state;
// - a snapshot marker drops entries up to its index, and all of them when it says so.
import type { HardState, SnapshotMetadata } from '../core/types.js';
import type { Entry } from '../messages.js';
import type { WalRecord } from './codec.js';
import { StorageError } from './errors.js';

export interface LocatedRecord {
  readonly record: WalRecord;
  readonly path: string;
  readonly offset: number;
}

export interface ReplayResult {
  readonly hardState: HardState;
  /** The entries after the snapshot, contiguous from snapshot index + 1. */
  readonly entries: Entry[];
  /** A snapshot marker to append first, when the WAL does not name the snapshot on disk. */
  readonly anchor: SnapshotAnchor | undefined;
}

export interface SnapshotAnchor {
  readonly index: number;
  readonly term: number;
  readonly dropSuffix: boolean;
}

const initialHardState: HardState = { term: 0, vote: null, commit: 0 };

class Replay {
  hardState: HardState = initialHardState;
  entries: Entry[] = [];
  /** The index of entries[0]; meaningful while entries is non-empty. */
  first = 0;
  /** The newest snapshot marker seen. */
  marker: { index: number; term: number } | undefined;

  constructor(private readonly snapshotIndex: number) {}

  entry(entry: Entry, at: LocatedRecord): void {
    const index = entry.index;
    if (this.marker !== undefined && index <= this.marker.index) return;
    const next = this.next();
    if (next !== undefined && index > next) {
      // A jump is fine only inside the snapshot: a crash can keep a new snapshot file and lose
      // the WAL marker written after it, and the entries after the snapshot follow on from it.
      if (index > this.snapshotIndex + 1) throw gap(at, next, index);
      this.start(entry);
      return;
    }
    if (this.entries.length === 0 || index < this.first) {
      this.start(entry);
      return;
    }
    this.entries.length = index - this.first;
    this.entries.push(entry);
  }

  /** The index the next entry continues at, if known. */
  next(): number | undefined {
    if (this.entries.length > 0) return this.first + this.entries.length;
    return this.marker === undefined ? undefined : this.marker.index + 1;
  }

  start(entry: Entry): void {
    this.entries = [entry];
    this.first = entry.index;
  }

  snapshot(marker: { index: number; term: number; dropSuffix: boolean }): void {
    if (this.marker !== undefined && marker.index < this.marker.index) return;
    this.marker = { index: marker.index, term: marker.term };
    const drop = marker.dropSuffix
      ? this.entries.length
      : Math.max(0, Math.min(this.entries.length, marker.index + 1 - this.first));
    this.entries = this.entries.slice(drop);
    this.first = this.entries.length === 0 ? marker.index + 1 : this.first + drop;
  }
}

function gap(at: LocatedRecord, expected: number, found: number): StorageError {
  return new StorageError(
    'WAL_CORRUPT',
    `WAL record at ${at.path} byte offset ${at.offset} holds entry ${found} but the log continues at ${expected}: entries are missing`,
    { path: at.path, offset: at.offset },
  );
}

/** Replays `records` on top of the newest snapshot on disk. */
export function replay(
  records: readonly LocatedRecord[],
  snapshot: SnapshotMetadata,
): ReplayResult {
  const state = new Replay(snapshot.index);
  for (const at of records) {
    const record = at.record;
    switch (record.type) {
      case 'entry':
        state.entry(record.entry, at);
        break;
      case 'hard-state':
        state.hardState = record.hardState;
        break;
      case 'snapshot':
        state.snapshot(record);
        break;
    }
  }
  const entries = onTopOf(state, snapshot);
  return { hardState: state.hardState, entries, anchor: anchorFor(state, snapshot, entries) };
}

/**
 * A snapshot file can be durable while the WAL marker written after it is not (a crash between
 * the two). Then the WAL does not say where the snapshot sits in it, and entries appended after
 * recovery could not be told apart from the older ones before it; so recovery writes the marker
 * (with what it decided about the suffix) before anything else.
 */
function anchorFor(
  state: Replay,
  snapshot: SnapshotMetadata,
  entries: readonly Entry[],
): SnapshotAnchor | undefined {
  if (snapshot.index === 0 || state.marker?.index === snapshot.index) return undefined;
  const kept = entries.length > 0;
  return { index: snapshot.index, term: snapshot.term, dropSuffix: !kept };
}
/** The replayed entries after the snapshot, checked to continue it without a gap. */
function onTopOf(state: Replay, snapshot: SnapshotMetadata): Entry[] {
  if (state.marker !== undefined && state.marker.index > snapshot.index) {
    throw new StorageError(
      'SNAPSHOT_CORRUPT',
      `the WAL refers to a snapshot at index ${state.marker.index}, but the newest valid snapshot file is at index ${snapshot.index}`,
    );
  }
  const { entries, first } = state;
  if (entries.length === 0) return [];
  // The log holds the snapshot's last entry with another term: the snapshot (which only holds
  // committed state) wins, as when it was installed; this happens when the marker was not synced.
  const atSnapshot = entries[snapshot.index - first];
  if (atSnapshot !== undefined && atSnapshot.term !== snapshot.term) return [];
  if (first > snapshot.index + 1) {
    throw new StorageError(
      'WAL_CORRUPT',
      `the WAL starts at entry ${first} but the newest snapshot ends at index ${snapshot.index}: entries ${snapshot.index + 1} to ${first - 1} are missing`,
    );
  }
  return entries.slice(snapshot.index + 1 - first);
}
