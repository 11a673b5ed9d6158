// Pending ReadIndex requests on the leader (etcd-io/raft `read_only.go`, Raft dissertation 6.4).
// A read recorded at commit index c may be served once a quorum acknowledged a heartbeat sent
// after the read arrived: that proves no newer leader had been elected when the read began.
import type { NodeId } from '../messages.js';

export interface PendingRead {
  readonly context: string;
  /** The commit index when the read arrived: the index the reader must wait to apply. */
  readonly index: number;
  /** Who asked: this node (answered through `Ready.readStates`) or a follower (a message). */
  readonly from: NodeId;
  readonly acks: Set<NodeId>;
}

/**
 * The queue is bounded by time rather than by count: every heartbeat round answered by a quorum
 * empties it, and a leader that cannot reach a quorum steps down (check-quorum) within an
 * election timeout, which drops it. Hosts bound the request rate on their side.
 */
export class ReadOnly {
  private readonly pending = new Map<string, PendingRead>();
  /** Contexts in arrival order: an ack for one read confirms every read that came before it. */
  private queue: string[] = [];

  get size(): number {
    return this.queue.length;
  }

  /** Adds a read unless one with the same context is already waiting. */
  add(read: { context: string; index: number; from: NodeId }): boolean {
    if (this.pending.has(read.context)) return false;
    this.pending.set(read.context, { ...read, acks: new Set() });
    this.queue.push(read.context);
    return true;
  }

  /** Records that `from` acknowledged the heartbeat for `context`; returns the acks so far. */
  recordAck(from: NodeId, context: string): ReadonlySet<NodeId> | undefined {
    const read = this.pending.get(context);
    if (read === undefined) return undefined;
    read.acks.add(from);
    return read.acks;
  }

  /** Removes and returns every read up to and including `context`, in arrival order. */
  release(context: string): PendingRead[] {
    const position = this.queue.indexOf(context);
    if (position < 0) return [];
    const released: PendingRead[] = [];
    for (const key of this.queue.slice(0, position + 1)) {
      const read = this.pending.get(key);
      this.pending.delete(key);
      if (read !== undefined) released.push(read);
    }
    this.queue = this.queue.slice(position + 1);
    return released;
  }

  /** The newest pending context: one heartbeat carrying it confirms all of them. */
  lastContext(): string | undefined {
    return this.queue[this.queue.length - 1];
  }
}
