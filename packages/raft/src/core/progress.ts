// The leader's view of one follower (etcd-io/raft `tracker/progress.go` and `inflights.go`).
// In `probe` the leader sends one AppendEntries per heartbeat until it learns where the logs
// match; in `replicate` it streams optimistically, bounded by a window of in-flight messages;
// in `snapshot` it waits for the follower to install a snapshot.
import type { NodeId } from '../messages.js';
import type { Snapshot } from './types.js';

/**
 * A ring buffer of the last index of each AppendEntries in flight. Acknowledging index i frees
 * every message whose last index is at most i, so the window slides without copying.
 */
export class Inflights {
  private readonly buffer: number[];
  private start = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    this.buffer = new Array<number>(capacity).fill(0);
  }

  get size(): number {
    return this.count;
  }

  full(): boolean {
    return this.count >= this.capacity;
  }

  add(lastIndex: number): void {
    this.buffer[(this.start + this.count) % this.capacity] = lastIndex;
    this.count++;
  }

  /** Frees every in-flight message whose last index is at most `index`. */
  freeLE(index: number): void {
    while (this.count > 0 && (this.buffer[this.start] ?? 0) <= index) {
      this.start = (this.start + 1) % this.capacity;
      this.count--;
    }
  }

  /** Frees the oldest in-flight message, whatever its index. */
  freeFirstOne(): void {
    if (this.count === 0) return;
    this.start = (this.start + 1) % this.capacity;
    this.count--;
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
  }
}

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  matchIndex = 0;
  nextIndex: number;
  state: ProgressState = 'probe';
  /** In probe state: an AppendEntries went out and its answer (or a heartbeat reply) is awaited. */
  probeSent = false;
  /** The snapshot index being installed, in snapshot state. */
  pendingSnapshot = 0;
  /** Leader ticks since the snapshot chunk in flight was sent, to resend a lost one. */
  snapshotTicks = 0;
  /** In snapshot state: the snapshot being sent (fixed until it is installed or abandoned). */
  outgoingSnapshot: Snapshot | undefined = undefined;
  /** In snapshot state: the offset of the chunk in flight. */
  snapshotOffset = 0;
  /** Leader ticks since this follower last sent anything (check-quorum, snapshot decisions). */
  inactiveTicks = 0;
  readonly inflights: Inflights;
  /** Changes when a learner is promoted; learners never count for commit or quorum. */
  isLearner: boolean;
  private readonly activeWindowTicks: number;

  constructor(
    readonly id: NodeId,
    options: {
      nextIndex: number;
      maxInflight: number;
      isLearner: boolean;
      activeWindowTicks: number;
    },
  ) {
    this.nextIndex = options.nextIndex;
    this.inflights = new Inflights(options.maxInflight);
    this.isLearner = options.isLearner;
    this.activeWindowTicks = options.activeWindowTicks;
  }

  /** Heard from within the last election timeout. */
  get recentActive(): boolean {
    return this.inactiveTicks < this.activeWindowTicks;
  }

  markActive(): void {
    this.inactiveTicks = 0;
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.snapshotTicks = 0;
    this.outgoingSnapshot = undefined;
    this.snapshotOffset = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // After a snapshot the follower holds at least the snapshot index.
    const snapshotNext = this.state === 'snapshot' ? this.pendingSnapshot + 1 : 0;
    this.resetState('probe');
    this.nextIndex = Math.max(this.matchIndex + 1, snapshotNext);
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.nextIndex = this.matchIndex + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  /** Records an AppendEntries carrying `entryCount` entries after `nextIndex - 1` was sent. */
  sentEntries(entryCount: number, lastIndex: number): void {
    if (this.state === 'replicate') {
      if (entryCount > 0) {
        this.nextIndex = lastIndex + 1;
        this.inflights.add(lastIndex);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }

  /** A follower acknowledged `index`; returns whether that is news. */
  maybeUpdate(index: number): boolean {
    if (index <= this.matchIndex) {
      this.nextIndex = Math.max(this.nextIndex, index + 1);
      return false;
    }
    this.matchIndex = index;
    this.nextIndex = Math.max(this.nextIndex, index + 1);
    this.probeSent = false;
    return true;
  }

  /**
   * A follower refused the AppendEntries after `rejected`; `next` is where the hints say to try.
   * Returns false for a stale rejection (of an earlier message), which changes nothing.
   */
  maybeDecreaseTo(rejected: number, next: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.matchIndex) return false;
      this.nextIndex = this.matchIndex + 1;
      return true;
    }
    if (this.nextIndex - 1 !== rejected) return false;
    this.nextIndex = Math.max(Math.min(rejected, next), this.matchIndex + 1);
    this.probeSent = false;
    return true;
  }

  /** Whether the leader must hold back AppendEntries to this follower for now. */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }
}
