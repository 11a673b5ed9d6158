// The client session table (Raft dissertation 6.3): per client, the results of its recent
// commands, so a retried command is answered from here instead of being applied twice. It is
// replicated state: every replica changes it the same way while applying, and it is part of the
// snapshot.
//
// A client may have many commands in flight (the WebSocket client multiplexes). Each command
// carries the lowest seq the client still awaits an answer for (`lowestUnackedSeq`); results
// below it are forgotten, and a command below it is refused as stale rather than applied again.
import type { AppliedResult } from './results.js';

/** Results kept per client when it never acknowledges: the window's bound (STYLE.md 23). */
export const DEFAULT_MAX_RESULTS_PER_SESSION = 1024;

export interface SessionRecord {
  readonly clientId: string;
  /** Seqs below this are forgotten: a command carrying one is stale. */
  readonly floor: number;
  /** Results of applied seqs at or above `floor`, in ascending seq order. */
  readonly results: [seq: number, result: AppliedResult][];
  /** The applied (leader-stamped, monotonic) time of the client's last command. */
  readonly timeMs: number;
}

export type SessionLookup =
  | { readonly kind: 'new' }
  | { readonly kind: 'duplicate'; readonly result: AppliedResult }
  | { readonly kind: 'stale'; readonly floor: number };

interface MutableRecord {
  floor: number;
  readonly results: Map<number, AppliedResult>;
  timeMs: number;
}

export interface RecordInput {
  readonly clientId: string;
  readonly seq: number;
  readonly result: AppliedResult;
  readonly timeMs: number;
  /** The lowest seq the client still awaits; defaults to `seq` (one command in flight). */
  readonly lowestUnackedSeq?: number | undefined;
}

/**
 * A bounded table. The Map keeps clients in order of their last update, and updates happen in
 * log order with monotonic time, so the first client is always the one with the oldest time:
 * evicting it is deterministic on every replica without any sorting.
 */
export class SessionTable {
  readonly #records = new Map<string, MutableRecord>();
  readonly #maxSessions: number;
  readonly #maxResultsPerSession: number;

  constructor(maxSessions: number, maxResultsPerSession = DEFAULT_MAX_RESULTS_PER_SESSION) {
    this.#maxSessions = maxSessions;
    this.#maxResultsPerSession = maxResultsPerSession;
  }

  get size(): number {
    return this.#records.size;
  }

  /** Classifies `(clientId, seq)`: never applied, a retry of an applied one, or forgotten. */
  lookup(clientId: string, seq: number): SessionLookup {
    const record = this.#records.get(clientId);
    if (record === undefined) return { kind: 'new' };
    if (seq < record.floor) return { kind: 'stale', floor: record.floor };
    const result = record.results.get(seq);
    return result === undefined ? { kind: 'new' } : { kind: 'duplicate', result };
  }

  /** Records an applied command, moving the client to the young end and evicting the oldest. */
  record(input: RecordInput): void {
    const record = this.#records.get(input.clientId) ?? {
      floor: 0,
      results: new Map<number, AppliedResult>(),
      timeMs: input.timeMs,
    };
    this.#records.delete(input.clientId);
    this.#records.set(input.clientId, record);
    record.timeMs = input.timeMs;
    record.results.set(input.seq, input.result);
    raiseFloor(record, Math.min(input.lowestUnackedSeq ?? input.seq, input.seq));
    // A client that never acknowledges cannot grow the window without bound: forgetting the
    // oldest result raises the floor past it, so its retry is refused as stale, never re-applied.
    while (record.results.size > this.#maxResultsPerSession) {
      const oldest = Math.min(...record.results.keys());
      raiseFloor(record, oldest + 1);
    }
    while (this.#records.size > this.#maxSessions) {
      const oldest = this.#records.keys().next();
      if (oldest.done === true) break;
      this.#records.delete(oldest.value);
    }
  }

  /** The records oldest first, as stored in snapshots. */
  list(): SessionRecord[] {
    return [...this.#records].map(([clientId, record]) => ({
      clientId,
      floor: record.floor,
      results: [...record.results].sort((a, b) => a[0] - b[0]),
      timeMs: record.timeMs,
    }));
  }

  /** Replaces the table with records from a snapshot, keeping their order. */
  replace(records: readonly SessionRecord[]): void {
    this.#records.clear();
    for (const record of records) {
      this.#records.set(record.clientId, {
        floor: record.floor,
        results: new Map(record.results),
        timeMs: record.timeMs,
      });
    }
  }
}

/** Forgets every result below `floor`; the floor never moves down. */
function raiseFloor(record: MutableRecord, floor: number): void {
  if (floor <= record.floor) return;
  record.floor = floor;
  for (const seq of record.results.keys()) {
    if (seq < floor) record.results.delete(seq);
  }
}
