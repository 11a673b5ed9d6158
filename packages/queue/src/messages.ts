// The queue machine's wire shapes, defined once as zod schemas: commands and queries as they
// leave the Raft log (validated by RaftNode before apply) and as clients send them.
import { z } from 'zod';

/** Letters, digits, `.`, `_`, `-`; 1-200 characters, starting with a letter or digit. */
export const QueueNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/, 'a queue name: 1-200 of A-Z a-z 0-9 . _ -');

export const MessageIdSchema = z.string().min(1).max(256);
export const PrioritySchema = z.number().int().min(0).max(9);
export const JsonValueSchema = z.json();
export const HeadersSchema = z.record(z.string().max(256), z.string().max(4096));

/** Milliseconds, 0 to 24 hours. */
const DurationMsSchema = z
  .number()
  .int()
  .min(0)
  .max(24 * 3_600_000);

export const QueueOptionsInputSchema = z.strictObject({
  partitions: z.number().int().min(1).max(1024).optional(),
  visibilityTimeoutMs: z
    .number()
    .int()
    .min(10)
    .max(12 * 3_600_000)
    .optional(),
  /** Deliveries before a message is dead-lettered; 0: never. */
  maxDeliveries: z.number().int().min(0).max(1000).optional(),
  maxMessageBytes: z
    .number()
    .int()
    .min(1)
    .max(16 * 1024 * 1024)
    .optional(),
  /** Messages held (ready, delayed and in flight); a send beyond it is refused with QUEUE_FULL. */
  maxLength: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
  dedupWindowMs: DurationMsSchema.optional(),
});
export type QueueOptionsInput = z.infer<typeof QueueOptionsInputSchema>;

export const MessageInputSchema = z.strictObject({
  /** Deduplication key within the queue's window; the machine assigns one when missing. */
  id: MessageIdSchema.optional(),
  /** Partition key: messages with the same key keep their order. */
  key: z.string().min(1).max(256).optional(),
  body: JsonValueSchema,
  headers: HeadersSchema.optional(),
  priority: PrioritySchema.optional(),
  delayMs: DurationMsSchema.optional(),
});
export type MessageInput = z.infer<typeof MessageInputSchema>;

export const ReceiptSchema = z.string().min(1).max(1024);

const SendCommand = z.strictObject({
  op: z.literal('send'),
  queue: QueueNameSchema,
  message: MessageInputSchema,
});
const SendBatchCommand = z.strictObject({
  op: z.literal('sendBatch'),
  queue: QueueNameSchema,
  messages: z.array(MessageInputSchema).min(1),
});
const AckCommand = z.strictObject({ op: z.literal('ack'), receipt: ReceiptSchema });
const NackCommand = z.strictObject({
  op: z.literal('nack'),
  receipt: ReceiptSchema,
  /** true (default): deliver again, after `delayMs`; false: dead-letter now. */
  requeue: z.boolean().optional(),
  delayMs: DurationMsSchema.optional(),
});
const ExtendCommand = z.strictObject({
  op: z.literal('extend'),
  receipt: ReceiptSchema,
  visibilityTimeoutMs: z
    .number()
    .int()
    .min(10)
    .max(12 * 3_600_000),
});

/** The operations a group commit packs into one entry (each gets its own result). */
export const BatchableCommandSchema = z.discriminatedUnion('op', [
  SendCommand,
  SendBatchCommand,
  AckCommand,
  NackCommand,
  ExtendCommand,
]);
export type BatchableCommand = z.infer<typeof BatchableCommandSchema>;

/** What clients may send. */
export const QueueClientCommandSchema = z.discriminatedUnion('op', [
  z.strictObject({
    op: z.literal('create'),
    queue: QueueNameSchema,
    options: QueueOptionsInputSchema.optional(),
  }),
  SendCommand,
  SendBatchCommand,
  z.strictObject({
    op: z.literal('receive'),
    queue: QueueNameSchema,
    max: z.number().int().min(1).max(10_000).optional(),
    visibilityTimeoutMs: z
      .number()
      .int()
      .min(10)
      .max(12 * 3_600_000)
      .optional(),
    /** The consumer's session: its leases are released when the session ends. */
    consumer: z.string().min(1).max(128).optional(),
    /** Long poll (service layer only): how long to wait for a message. The machine ignores it. */
    waitMs: z.number().int().min(0).max(60_000).optional(),
  }),
  AckCommand,
  NackCommand,
  ExtendCommand,
  z.strictObject({
    op: z.literal('redrive'),
    queue: QueueNameSchema,
    max: z.number().int().min(1).optional(),
  }),
  z.strictObject({ op: z.literal('purge'), queue: QueueNameSchema }),
  z.strictObject({ op: z.literal('delete'), queue: QueueNameSchema }),
  z.strictObject({ op: z.literal('batch'), ops: z.array(BatchableCommandSchema).min(1) }),
]);
export type QueueClientCommand = z.infer<typeof QueueClientCommandSchema>;

/** Everything the log may hold: client commands and the leader's timer command. */
export const QueueCommandSchema = z.union([
  QueueClientCommandSchema,
  z.strictObject({ op: z.literal('tick'), nowMs: z.number() }),
]);
export type QueueCommand = z.infer<typeof QueueCommandSchema>;

export const QueueQuerySchema = z.discriminatedUnion('op', [
  z.strictObject({
    op: z.literal('stats'),
    queue: QueueNameSchema,
    /** The time rates and ages are measured at; default the last applied entry's time. */
    nowMs: z.number().optional(),
  }),
  z.strictObject({ op: z.literal('list') }),
  z.strictObject({
    op: z.literal('peek'),
    queue: QueueNameSchema,
    max: z.number().int().min(1).max(1000).optional(),
  }),
]);
export type QueueQuery = z.infer<typeof QueueQuerySchema>;
