// The client session table (Raft dissertation 6.3): per client, the last sequence number applied
// and its result, so a retried command is answered from here instead of being applied twice. It is
// replicated state: every replica changes it the same way while applying, and it is part of the
// snapshot.
import type { AppliedResult } from './results.js';

export interface SessionRecord {
  readonly clientId: string;
  readonly seq: number;
  readonly result: AppliedResult;
  /** The applied (leader-stamped, monotonic) time of the client's last command. */
  readonly timeMs: number;
}

export type SessionLookup =
  | { readonly kind: 'new' }
  | { readonly kind: 'duplicate'; readonly result: AppliedResult }
  | { readonly kind: 'stale'; readonly lastSeq: number };

/**
 * A bounded table. The Map keeps records in order of their last update, and updates happen in
 * log order with monotonic time, so the first record is always the one with the oldest time:
 * evicting it is deterministic on every replica without any sorting.
 */
export class SessionTable {
  readonly #records = new Map<string, SessionRecord>();
  readonly #maxSessions: number;

  constructor(maxSessions: number) {
    this.#maxSessions = maxSessions;
  }

  get size(): number {
    return this.#records.size;
  }

  /** Classifies `(clientId, seq)`: never seen, a retry of the last command, or older than that. */
  lookup(clientId: string, seq: number): SessionLookup {
    const record = this.#records.get(clientId);
    if (record === undefined || seq > record.seq) return { kind: 'new' };
    if (seq === record.seq) return { kind: 'duplicate', result: record.result };
    return { kind: 'stale', lastSeq: record.seq };
  }

  /** Records an applied command, moving the client to the young end and evicting the oldest. */
  record(entry: SessionRecord): void {
    this.#records.delete(entry.clientId);
    this.#records.set(entry.clientId, entry);
    while (this.#records.size > this.#maxSessions) {
      const oldest = this.#records.keys().next();
      if (oldest.done === true) break;
      this.#records.delete(oldest.value);
    }
  }

  /** The records oldest first, as stored in snapshots. */
  list(): SessionRecord[] {
    return [...this.#records.values()];
  }

  /** Replaces the table with records from a snapshot, keeping their order. */
  replace(records: readonly SessionRecord[]): void {
    this.#records.clear();
    for (const record of records) this.record(record);
  }
}
