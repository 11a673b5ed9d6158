// Queue options and machine limits: every one has a named default with its unit last.
import type { QueueOptionsInput } from './messages.js';

export interface QueueOptions {
  /** Partitions the consistent-hash ring spreads keys over. */
  readonly partitions: number;
  /** How long a received message stays invisible before it is delivered again. */
  readonly visibilityTimeoutMs: number;
  /** Deliveries after which an unacknowledged message moves to `<name>.dlq`; 0: never. */
  readonly maxDeliveries: number;
  /** Body and headers, as UTF-8 JSON. */
  readonly maxMessageBytes: number;
  /** Messages held (ready, delayed, in flight). Overflow policy: the send is refused, QUEUE_FULL. */
  readonly maxLength: number;
  /** A message id seen within this window is not enqueued again (the send answers duplicate). */
  readonly dedupWindowMs: number;
}

export const DEFAULT_QUEUE_OPTIONS: QueueOptions = {
  partitions: 16,
  visibilityTimeoutMs: 30_000,
  maxDeliveries: 5,
  maxMessageBytes: 256 * 1024,
  maxLength: 100_000,
  dedupWindowMs: 300_000,
};

export interface QueueLimits {
  /** Queues per machine, dead-letter queues included. */
  readonly maxQueues: number;
  /** Messages held across all queues; a send beyond it is refused with LIMIT_REACHED. */
  readonly maxMessages: number;
  /** Messages in one sendBatch, and operations in one group-commit batch. */
  readonly maxBatch: number;
  /** Messages one receive may lease. */
  readonly maxReceive: number;
  /** Remembered ids per queue for deduplication; beyond it the oldest are forgotten early. */
  readonly maxDedupIds: number;
  /** Delivery records kept per message (the newest). */
  readonly maxHistoryEntries: number;
}

export const DEFAULT_QUEUE_LIMITS: QueueLimits = {
  maxQueues: 1000,
  maxMessages: 1_000_000,
  maxBatch: 1000,
  maxReceive: 1000,
  maxDedupIds: 100_000,
  maxHistoryEntries: 20,
};

export function resolveQueueOptions(
  base: QueueOptions,
  input: QueueOptionsInput | undefined,
): QueueOptions {
  return {
    partitions: input?.partitions ?? base.partitions,
    visibilityTimeoutMs: input?.visibilityTimeoutMs ?? base.visibilityTimeoutMs,
    maxDeliveries: input?.maxDeliveries ?? base.maxDeliveries,
    maxMessageBytes: input?.maxMessageBytes ?? base.maxMessageBytes,
    maxLength: input?.maxLength ?? base.maxLength,
    dedupWindowMs: input?.dedupWindowMs ?? base.dedupWindowMs,
  };
}

export function sameOptions(a: QueueOptions, b: QueueOptions): boolean {
  return (
    a.partitions === b.partitions &&
    a.visibilityTimeoutMs === b.visibilityTimeoutMs &&
    a.maxDeliveries === b.maxDeliveries &&
    a.maxMessageBytes === b.maxMessageBytes &&
    a.maxLength === b.maxLength &&
    a.dedupWindowMs === b.dedupWindowMs
  );
}

export const DEAD_LETTER_SUFFIX = '.dlq';

export function isDeadLetterName(name: string): boolean {
  return name.endsWith(DEAD_LETTER_SUFFIX);
}
