// Every Raft message, defined once as a zod schema with its inferred type (STYLE.md 13).
// Bytes that enter a node from the network are parsed with `RaftMessageSchema` at the edge
// (the transport or the host); the core only ever sees the inferred types.
import { z } from 'zod';

/** A node's identity: short, printable, stable for the node's lifetime. */
export const NodeIdSchema = z
  .string()
  .min(1, 'node id must not be empty')
  .max(64, 'node id must be at most 64 characters')
  .regex(/^[A-Za-z0-9._-]+$/, 'node id may contain only letters, digits, ".", "_" and "-"');
export type NodeId = z.infer<typeof NodeIdSchema>;

/** Terms and indexes are non-negative safe integers; anything larger is absurd and refused. */
export const TermSchema = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
export const IndexSchema = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

// `z.custom` rather than `z.instanceof` so the inferred type is plain `Uint8Array` (any backing
// buffer), which `Buffer` and views into shared buffers satisfy without copies.
const BytesSchema = z.custom<Uint8Array>((value) => value instanceof Uint8Array, {
  message: 'expected a Uint8Array',
});

/** Voters decide elections and commits; learners receive the log but never vote. */
export const MembershipSchema = z.object({
  voters: z.array(NodeIdSchema),
  learners: z.array(NodeIdSchema),
});
export type Membership = z.infer<typeof MembershipSchema>;

/**
 * `normal` carries an application command, `noop` is appended by every new leader so it can
 * commit entries of earlier terms (Raft paper, section 5.4.2), `config` carries a membership change.
 */
export const EntryTypeSchema = z.enum(['normal', 'noop', 'config']);
export type EntryType = z.infer<typeof EntryTypeSchema>;

export const EntrySchema = z.object({
  index: IndexSchema,
  term: TermSchema,
  type: EntryTypeSchema,
  data: BytesSchema,
});
export type Entry = z.infer<typeof EntrySchema>;

const base = {
  from: NodeIdSchema,
  to: NodeIdSchema,
  term: TermSchema,
};

/** A vote request. With `preVote` the sender's term is not changed by anyone (the pre-vote phase). */
export const RequestVoteSchema = z.object({
  type: z.literal('RequestVote'),
  ...base,
  preVote: z.boolean(),
  lastLogIndex: IndexSchema,
  lastLogTerm: TermSchema,
  /** Set when campaigning because of TimeoutNow: voters ignore their leader lease. */
  transfer: z.boolean(),
});

export const RequestVoteResponseSchema = z.object({
  type: z.literal('RequestVoteResponse'),
  ...base,
  preVote: z.boolean(),
  granted: z.boolean(),
});

export const AppendEntriesSchema = z.object({
  type: z.literal('AppendEntries'),
  ...base,
  prevLogIndex: IndexSchema,
  prevLogTerm: TermSchema,
  entries: z.array(EntrySchema),
  leaderCommit: IndexSchema,
});

/**
 * On success `matchIndex` is the last index the follower now holds from this request (0 on
 * rejection). On
 * rejection the follower gives hints for fast backtracking: `conflictTerm` is the term of its
 * entry at `prevLogIndex` (absent when its log is shorter) and `conflictIndex` the first index
 * of that term in its log (or its last index + 1 when the log is shorter).
 */
export const AppendEntriesResponseSchema = z.object({
  type: z.literal('AppendEntriesResponse'),
  ...base,
  success: z.boolean(),
  matchIndex: IndexSchema,
  /**
   * On rejection, the `prevLogIndex` of the request being refused, so the leader can tell a
   * stale rejection (of an earlier probe) from a current one and ignore the former.
   */
  rejectedIndex: IndexSchema.optional(),
  conflictIndex: IndexSchema.optional(),
  conflictTerm: TermSchema.optional(),
});

/** Leader liveness and commit propagation; `readContext` ties it to a pending ReadIndex round. */
export const HeartbeatSchema = z.object({
  type: z.literal('Heartbeat'),
  ...base,
  leaderCommit: IndexSchema,
  readContext: z.string().max(256).optional(),
});

export const HeartbeatResponseSchema = z.object({
  type: z.literal('HeartbeatResponse'),
  ...base,
  readContext: z.string().max(256).optional(),
});

/** Leadership transfer: the target starts an election at once (Raft dissertation, 3.10). */
export const TimeoutNowSchema = z.object({
  type: z.literal('TimeoutNow'),
  ...base,
});

/** A follower forwards client proposals to the leader it knows. */
export const ProposeSchema = z.object({
  type: z.literal('Propose'),
  ...base,
  entries: z.array(BytesSchema),
});

/** A follower forwards a ReadIndex request; the leader answers with the read index. */
export const ReadIndexSchema = z.object({
  type: z.literal('ReadIndex'),
  ...base,
  context: z.string().min(1).max(256),
});

export const ReadIndexResponseSchema = z.object({
  type: z.literal('ReadIndexResponse'),
  ...base,
  context: z.string().min(1).max(256),
  /** The index to wait for before serving the read; absent when the leader refused. */
  index: IndexSchema.optional(),
});

/** One chunk of a snapshot (raft-durability); chunks are bounded so heartbeats keep flowing. */
export const InstallSnapshotSchema = z.object({
  type: z.literal('InstallSnapshot'),
  ...base,
  lastIncludedIndex: IndexSchema,
  lastIncludedTerm: TermSchema,
  membership: MembershipSchema,
  offset: z.number().int().nonnegative(),
  data: BytesSchema,
  done: z.boolean(),
});

export const InstallSnapshotResponseSchema = z.object({
  type: z.literal('InstallSnapshotResponse'),
  ...base,
  lastIncludedIndex: IndexSchema,
  /** The byte offset the follower expects next; equals the snapshot size when `done`. */
  nextOffset: z.number().int().nonnegative(),
  success: z.boolean(),
});

export const RaftMessageSchema = z.discriminatedUnion('type', [
  RequestVoteSchema,
  RequestVoteResponseSchema,
  AppendEntriesSchema,
  AppendEntriesResponseSchema,
  HeartbeatSchema,
  HeartbeatResponseSchema,
  TimeoutNowSchema,
  ProposeSchema,
  ReadIndexSchema,
  ReadIndexResponseSchema,
  InstallSnapshotSchema,
  InstallSnapshotResponseSchema,
]);

export type RequestVote = z.infer<typeof RequestVoteSchema>;
export type RequestVoteResponse = z.infer<typeof RequestVoteResponseSchema>;
export type AppendEntries = z.infer<typeof AppendEntriesSchema>;
export type AppendEntriesResponse = z.infer<typeof AppendEntriesResponseSchema>;
export type Heartbeat = z.infer<typeof HeartbeatSchema>;
export type HeartbeatResponse = z.infer<typeof HeartbeatResponseSchema>;
export type TimeoutNow = z.infer<typeof TimeoutNowSchema>;
export type Propose = z.infer<typeof ProposeSchema>;
export type ReadIndex = z.infer<typeof ReadIndexSchema>;
export type ReadIndexResponse = z.infer<typeof ReadIndexResponseSchema>;
export type InstallSnapshot = z.infer<typeof InstallSnapshotSchema>;
export type InstallSnapshotResponse = z.infer<typeof InstallSnapshotResponseSchema>;
export type RaftMessage = z.infer<typeof RaftMessageSchema>;
export type RaftMessageType = RaftMessage['type'];

/** Parses an untrusted value into a message, or says why it is not one. */
export function parseRaftMessage(
  value: unknown,
): { ok: true; message: RaftMessage } | { ok: false; reason: string } {
  const parsed = RaftMessageSchema.safeParse(value);
  if (parsed.success) return { ok: true, message: parsed.data };
  return { ok: false, reason: z.prettifyError(parsed.error) };
}
