// What a replicated service implements to live inside a Raft group (DESIGN.md "Raft").
// State machines are deterministic: the same commands in the same order give the same state and
// the same results on every replica. They never read clocks; `ApplyContext.timeMs` is the time the
// leader stamped on the entry, monotonic across leaders.
import type { z } from 'zod';

export interface ApplyContext {
  /** The Raft index of the entry being applied (a fencing token source: strictly increasing). */
  readonly index: number;
  readonly term: number;
  /** Leader-stamped time in milliseconds, never smaller than any earlier entry's. */
  readonly timeMs: number;
  /** The client session that proposed the command, when there is one. */
  readonly clientId: string | undefined;
}

export interface StateMachine<Command = unknown, Query = unknown, Result = unknown> {
  /** The registry name commands are addressed to (`kv`, `lock`, `queue`, `cache`). */
  readonly name: string;
  /** Validates commands as they leave the log; a command that fails is answered BAD_REQUEST. */
  readonly commandSchema: z.ZodType<Command>;
  /** Validates queries before they run. */
  readonly querySchema: z.ZodType<Query>;
  apply(command: Command, context: ApplyContext): Result;
  query(query: Query): Result;
  /** The full state, serialized; must round-trip through `restore`. */
  snapshot(): Uint8Array;
  restore(bytes: Uint8Array): void;
  /**
   * The leader-stamped time at which this machine wants a timer command applied (lease expiry,
   * visibility timeout), or undefined. When due, the leader proposes `timerCommand(nowMs)`.
   */
  nextDeadline?(): number | undefined;
  timerCommand?(nowMs: number): Command;
}
