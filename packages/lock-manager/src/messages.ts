// The lock state machine's commands and queries, defined once as zod schemas (STYLE.md 13). The
// schemas validate commands as they leave the Raft log and what clients may send.
import { z } from 'zod';
import { utf8Bytes } from './result.js';

export const LOCK_NAME_BYTES_MAX = 256;
/** The longest wait a request may ask for (one hour). */
export const LOCK_TIMEOUT_MS_MAX = 3_600_000;

/** Lock names are 1-256 bytes of UTF-8. */
export const LockNameSchema = z
  .string()
  .min(1, { error: 'lock names are 1-256 bytes of UTF-8' })
  .refine((name) => utf8Bytes(name) <= LOCK_NAME_BYTES_MAX, {
    error: 'lock names are 1-256 bytes of UTF-8',
  });
export const LockSessionIdSchema = z.string().min(1).max(128);
export const LockModeSchema = z.enum(['exclusive', 'shared']);
export type LockMode = z.infer<typeof LockModeSchema>;
/** 0 is a try-lock: granted now or refused with TIMEOUT, never queued. */
export const LockTimeoutMsSchema = z.number().int().min(0).max(LOCK_TIMEOUT_MS_MAX);

/** What clients may send. */
export const LockClientCommandSchema = z.discriminatedUnion('op', [
  z.strictObject({
    op: z.literal('acquire'),
    name: LockNameSchema,
    sessionId: LockSessionIdSchema,
    mode: LockModeSchema,
    timeoutMs: LockTimeoutMsSchema,
    reentrant: z.boolean().optional(),
    /**
     * For the node's lock service, not the state machine: false answers a queued request at once
     * with its requestId (the lock client then waits for the `lock/session/<id>` push); true or
     * absent makes the node wait for the grant before it answers.
     */
    wait: z.boolean().optional(),
  }),
  z.strictObject({
    op: z.literal('release'),
    name: LockNameSchema,
    sessionId: LockSessionIdSchema,
    /** Release only the hold with this fencing token (a handle's own); NOT_HELD otherwise. */
    token: z.number().int().min(1).optional(),
  }),
  z.strictObject({
    op: z.literal('upgrade'),
    name: LockNameSchema,
    sessionId: LockSessionIdSchema,
    timeoutMs: LockTimeoutMsSchema,
  }),
  z.strictObject({
    op: z.literal('cancel'),
    requestId: z.number().int().min(1),
    sessionId: LockSessionIdSchema,
  }),
]);
export type LockClientCommand = z.infer<typeof LockClientCommandSchema>;

/** Everything the log may hold: the client commands and the leader's timer command. */
export const LockCommandSchema = z.union([
  LockClientCommandSchema,
  z.strictObject({ op: z.literal('expire'), nowMs: z.number() }),
]);
export type LockCommand = z.infer<typeof LockCommandSchema>;

export const LOCK_LIST_LIMIT_MAX = 1000;

export const LockQuerySchema = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('get'), name: LockNameSchema }),
  z.strictObject({
    op: z.literal('list'),
    prefix: z.string().max(LOCK_NAME_BYTES_MAX).optional(),
    /** Names after this one (the previous page's `next`). */
    after: z.string().max(1024).optional(),
    limit: z.number().int().min(1).max(LOCK_LIST_LIMIT_MAX).optional(),
  }),
  /** Where a queued request stands (a client that may have missed its push asks this). */
  z.strictObject({ op: z.literal('request'), requestId: z.number().int().min(1) }),
]);
export type LockQuery = z.infer<typeof LockQuerySchema>;

/** One holder of a lock, as inspection shows it. */
export interface LockHolderView {
  readonly sessionId: string;
  readonly mode: LockMode;
  /** The fencing token: the Raft index of the grant. */
  readonly token: number;
  /** Leader-stamped time of the grant. */
  readonly sinceMs: number;
  /** More than 1 when a `reentrant` lock was acquired again. */
  readonly holdCount: number;
}

/** One queued request, in queue order. */
export interface LockWaiterView {
  readonly requestId: number;
  readonly sessionId: string;
  readonly mode: LockMode;
  readonly sinceMs: number;
  readonly deadlineMs: number;
  /** A holder of a shared lock waiting to hold it exclusively. */
  readonly upgrade: boolean;
}

export interface LockView {
  readonly name: string;
  readonly holders: readonly LockHolderView[];
  readonly waiters: readonly LockWaiterView[];
}

/** A granted acquire or upgrade. */
export interface LockGrant {
  readonly token: number;
  readonly mode: LockMode;
  readonly holdCount: number;
}

/** An acquire that waits: its outcome arrives later (`onEvent`, `requestStatus`). */
export interface LockQueued {
  readonly queued: true;
  /** The Raft index of the entry that enqueued it. */
  readonly requestId: number;
}
