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

/**
 * What a service machine returns from apply and query: a JSON value, or a refusal with one of the
 * service's stable codes. The same on every replica, so Raft's session table can answer a retried
 * command with it. Each service narrows `Code` to its own codes.
 */
export type MachineResult<Code extends string = string, Value = unknown> =
  | { readonly ok: true; readonly value: Value }
  | { readonly ok: false; readonly code: Code; readonly message: string };

/** The success side of a MachineResult. */
export function ok<Value>(value: Value): { ok: true; value: Value } {
  return { ok: true, value };
}

/** The refusal side of a MachineResult. */
export function refusal<Code extends string>(
  code: Code,
  message: string,
): { ok: false; code: Code; message: string } {
  return { ok: false, code, message };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** JSON in UTF-8: what the service machines' snapshots are. */
export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

export function decodeJson(bytes: Uint8Array): unknown {
  return JSON.parse(decoder.decode(bytes)) as unknown;
}

/** The UTF-8 length of a string: what byte limits on names and values count. */
export function utf8Length(text: string): number {
  return encoder.encode(text).length;
}
