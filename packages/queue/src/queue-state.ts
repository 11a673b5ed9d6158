// One queue's replicated state: its messages by sequence number, the ready lists per partition
// and priority, dedup memory and counters. Pure data plus small operations; the machine
// (state-machine.ts) owns timers, consumers and the cross-queue moves.
import { encodeJsonLines, MapSnapshots } from '@distsync/raft';
import { HashRing } from './hash.js';
import type { QueueOptions } from './options.js';
import { copyMessage, RateWindow, SeqList } from './structures.js';

export const PRIORITY_LEVELS = 10;

export interface DeliveryRecord {
  readonly delivery: number;
  readonly deliveredAtMs: number;
  readonly consumer?: string | undefined;
  /** How the delivery ended: lease ran out, nacked, its consumer's session ended, or rejected. */
  readonly outcome: 'expired' | 'nacked' | 'released' | 'rejected';
  readonly atMs: number;
}

export interface Lease {
  readonly delivery: number;
  readonly deliveredAtMs: number;
  expiresAtMs: number;
  readonly consumer?: string | undefined;
}

export interface DeadLetterInfo {
  readonly sourceQueue: string;
  readonly reason: 'maxDeliveries' | 'rejected';
  readonly atMs: number;
}

export interface StoredMessage {
  readonly seq: number;
  readonly id: string;
  readonly key?: string | undefined;
  readonly body: unknown;
  readonly headers: Readonly<Record<string, string>>;
  readonly priority: number;
  readonly partition: number;
  readonly bytes: number;
  readonly enqueuedAtMs: number;
  state: 'ready' | 'delayed' | 'inflight';
  availableAtMs: number;
  deliveries: number;
  history: DeliveryRecord[];
  lease?: Lease | undefined;
  deadLetter?: DeadLetterInfo | undefined;
}

export interface QueueCounters {
  enqueued: number;
  duplicates: number;
  delivered: number;
  acked: number;
  nacked: number;
  expired: number;
  deadLettered: number;
  redriven: number;
  purged: number;
}

export function zeroCounters(): QueueCounters {
  return {
    enqueued: 0,
    duplicates: 0,
    delivered: 0,
    acked: 0,
    nacked: 0,
    expired: 0,
    deadLettered: 0,
    redriven: 0,
    purged: 0,
  };
}

/** Messages per slice of a snapshot by default: a message row is a few hundred bytes. */
export const DEFAULT_SNAPSHOT_SLICE_ROWS = 500;

/**
 * Every change of a stored message or of the dedup memory goes through `willChange(message)`
 * (or a method here that calls it), so incremental snapshots (`messageSnapshots`,
 * `dedupSnapshots`) copy what they have not written yet first and keep the state of their capture.
 */
export class QueueState {
  readonly name: string;
  readonly options: QueueOptions;
  readonly createdAtMs: number;
  readonly ring: HashRing;
  readonly messages = new Map<number, StoredMessage>();
  /** Ids of stored messages (a stored id is a duplicate whatever the window says). */
  readonly ids = new Map<string, number>();
  /** Id -> time it leaves the dedup window, in insertion (= time) order. */
  dedup = new Map<string, number>();
  readonly ready: SeqList[][];
  readonly readyByPriority: number[] = new Array<number>(PRIORITY_LEVELS).fill(0);
  counters: QueueCounters = zeroCounters();
  enqueueRate = new RateWindow();
  dequeueRate = new RateWindow();
  ackRate = new RateWindow();
  /** Round robin for keyless messages and for fair receives across partitions. */
  spreadCursor = 0;
  receiveCursor = 0;
  inFlight = 0;
  delayed = 0;
  /** Snapshots of `messages` in seq order, a slice at a time (see snapshot.ts). */
  readonly messageSnapshots: MapSnapshots<number, StoredMessage>;
  /** Snapshots of `dedup` in its (expiry) order, a slice at a time. */
  readonly dedupSnapshots: MapSnapshots<string, number>;

  constructor(input: {
    name: string;
    options: QueueOptions;
    createdAtMs: number;
    /** Messages per slice of a snapshot (dedup ids: four times as many). */
    snapshotSliceRows?: number;
  }) {
    const sliceRows = input.snapshotSliceRows ?? DEFAULT_SNAPSHOT_SLICE_ROWS;
    this.messageSnapshots = new MapSnapshots(() => this.messages, {
      encodeRows: (rows) => encodeJsonLines(rows.map(([, message]) => message)),
      copyValue: copyMessage,
      compareKeys: (a, b) => a - b,
      sliceRows,
    });
    this.dedupSnapshots = new MapSnapshots(() => this.dedup, {
      encodeRows: encodeJsonLines,
      sliceRows: sliceRows * 4,
    });
    this.name = input.name;
    this.options = input.options;
    this.createdAtMs = input.createdAtMs;
    this.ring = new HashRing(input.options.partitions);
    this.ready = Array.from({ length: input.options.partitions }, () =>
      Array.from({ length: PRIORITY_LEVELS }, () => new SeqList()),
    );
  }

  get readyCount(): number {
    return this.readyByPriority.reduce((sum, count) => sum + count, 0);
  }

  partitionFor(key: string | undefined): number {
    if (key !== undefined) return this.ring.partitionOf(key);
    const partition = this.spreadCursor % this.options.partitions;
    this.spreadCursor = (this.spreadCursor + 1) % this.options.partitions;
    return partition;
  }

  /** Whether `id` counts as a duplicate at `timeMs`. */
  isDuplicate(id: string, timeMs: number): boolean {
    if (this.ids.has(id)) return true;
    const until = this.dedup.get(id);
    return until !== undefined && until > timeMs;
  }

  /** Call before changing a stored message of this queue in place or removing it. */
  willChange(message: StoredMessage): void {
    this.messageSnapshots.beforeWrite(message.seq);
  }

  remember(id: string, input: { timeMs: number; maxIds: number }): void {
    if (this.options.dedupWindowMs === 0) return;
    this.dedupSnapshots.beforeWrite(id);
    this.dedup.delete(id);
    this.dedup.set(id, input.timeMs + this.options.dedupWindowMs);
    while (this.dedup.size > input.maxIds) {
      const oldest = this.dedup.keys().next();
      if (oldest.done === true) break;
      this.dedupSnapshots.beforeWrite(oldest.value);
      this.dedup.delete(oldest.value);
    }
  }

  /** Forgets ids whose window has passed (insertion order is expiry order: one window). */
  pruneDedup(timeMs: number): void {
    for (const [id, until] of this.dedup) {
      if (until > timeMs) break;
      this.dedupSnapshots.beforeWrite(id);
      this.dedup.delete(id);
    }
  }

  makeReady(message: StoredMessage): void {
    this.willChange(message);
    message.state = 'ready';
    message.lease = undefined;
    this.ready[message.partition]?.[message.priority]?.insert(message.seq);
    this.readyByPriority[message.priority] = (this.readyByPriority[message.priority] ?? 0) + 1;
  }

  /** Takes the next ready message: highest priority first, partitions in turn, FIFO in each. */
  takeReady(): StoredMessage | undefined {
    const partitions = this.options.partitions;
    for (let priority = PRIORITY_LEVELS - 1; priority >= 0; priority -= 1) {
      if ((this.readyByPriority[priority] ?? 0) === 0) continue;
      for (let step = 0; step < partitions; step += 1) {
        const partition = (this.receiveCursor + step) % partitions;
        const seq = this.ready[partition]?.[priority]?.shift();
        if (seq === undefined) continue;
        this.receiveCursor = (partition + 1) % partitions;
        this.readyByPriority[priority] = (this.readyByPriority[priority] ?? 1) - 1;
        const message = this.messages.get(seq);
        if (message === undefined) throw new Error(`queue ${this.name}: ready seq ${seq} missing`);
        return message;
      }
    }
    return undefined;
  }

  /** Removes a message wherever it is (ack, purge, a move to the dead-letter queue). */
  remove(message: StoredMessage): void {
    this.willChange(message);
    if (message.state === 'ready') {
      this.ready[message.partition]?.[message.priority]?.remove(message.seq);
      this.readyByPriority[message.priority] = (this.readyByPriority[message.priority] ?? 1) - 1;
    } else if (message.state === 'inflight') {
      this.inFlight -= 1;
    } else {
      this.delayed -= 1;
    }
    this.messages.delete(message.seq);
    if (this.ids.get(message.id) === message.seq) this.ids.delete(message.id);
  }

  depthByPartition(): number[] {
    return this.ready.map((levels) => levels.reduce((sum, list) => sum + list.size, 0));
  }

  /** The oldest ready message's enqueue time (heads of the lists: seq order is time order). */
  oldestReadyAtMs(): number | undefined {
    let oldest: number | undefined;
    for (const levels of this.ready) {
      for (const list of levels) {
        const seq = list.peek();
        const message = seq === undefined ? undefined : this.messages.get(seq);
        if (message !== undefined && (oldest === undefined || message.enqueuedAtMs < oldest)) {
          oldest = message.enqueuedAtMs;
        }
      }
    }
    return oldest;
  }
}
