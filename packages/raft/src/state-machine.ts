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
  /**
   * Optional, for machines whose state can grow large (a million keys): captures the state as of
   * this call, cheaply, and returns a job that serializes it one slice per `next()` while
   * `apply` goes on between slices (the machine keeps its captured view intact, for example by
   * copy-on-write). The node calls `next()` across event-loop turns, so a big snapshot never
   * stalls heartbeats. The bytes must equal what `snapshot()` would have returned at capture.
   */
  beginSnapshot?(): SnapshotJob;
  restore(bytes: Uint8Array): void;
  /**
   * The leader-stamped time at which this machine wants a timer command applied (lease expiry,
   * visibility timeout), or undefined. When due, the leader proposes `timerCommand(nowMs)`.
   */
  nextDeadline?(): number | undefined;
  timerCommand?(nowMs: number): Command;
}

/** A snapshot taken in slices (see `StateMachine.beginSnapshot`). */
export interface SnapshotJob {
  /** Serializes the next slice: the snapshot's bytes once the last slice is done, else undefined. */
  next(): Uint8Array | undefined;
  /** Abandons the job and releases what it captured; `next()` must not be called afterwards. */
  cancel(): void;
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

const NEWLINE = 0x0a;

/**
 * Rows as JSON lines (one JSON value per line, UTF-8): a snapshot format that can be written a
 * slice at a time (`MapSnapshots`) and read without one giant string, whatever the state's size.
 */
export function encodeJsonLines(rows: readonly unknown[]): Uint8Array {
  let text = '';
  for (const row of rows) text += JSON.stringify(row) + '\n';
  return encoder.encode(text);
}

/** Calls `onRow` with each line of `encodeJsonLines` output, parsed; throws on a bad line. */
export function decodeJsonLines(
  bytes: Uint8Array,
  onRow: (row: unknown, line: number) => void,
): void {
  let start = 0;
  let line = 0;
  while (start < bytes.byteLength) {
    let end = bytes.indexOf(NEWLINE, start);
    if (end === -1) end = bytes.byteLength;
    line += 1;
    if (end > start) onRow(JSON.parse(decoder.decode(bytes.subarray(start, end))) as unknown, line);
    start = end + 1;
  }
}
