// The un-compacted log FileStorage keeps in memory: the core reads it synchronously, the WAL on
// disk is only read at start. `baseIndex`/`baseTerm` describe the entry just before the first one
// held (the snapshot or compaction point), as etcd-io/raft's MemoryStorage does with its dummy entry.
import type { Entry } from '../messages.js';
import { RaftError } from '../errors.js';

export class EntryLog {
  baseIndex: number;
  baseTerm: number;
  #entries: Entry[];
  #dataBytes: number;

  constructor(base: { index: number; term: number; entries: Entry[] }) {
    this.baseIndex = base.index;
    this.baseTerm = base.term;
    this.#entries = base.entries;
    this.#dataBytes = base.entries.reduce((sum, entry) => sum + entry.data.byteLength, 0);
  }

  firstIndex(): number {
    return this.baseIndex + 1;
  }

  lastIndex(): number {
    return this.baseIndex + this.#entries.length;
  }

  /** Bytes of entry data held in memory. */
  dataBytes(): number {
    return this.#dataBytes;
  }

  term(index: number): number | undefined {
    if (index === this.baseIndex) return this.baseTerm;
    return this.#entries[index - this.baseIndex - 1]?.term;
  }

  /** Entries in `[low, high)` within `maxBytes` of data, but at least one. */
  slice(range: { low: number; high: number; maxBytes?: number }): Entry[] {
    const { low, high } = range;
    if (low < this.firstIndex() || high > this.lastIndex() + 1 || low > high) {
      throw new RaftError(
        'INVALID_ARGUMENT',
        `entries [${low}, ${high}) are outside the stored range [${this.firstIndex()}, ${this.lastIndex() + 1})`,
      );
    }
    const maxBytes = range.maxBytes ?? Number.POSITIVE_INFINITY;
    const result: Entry[] = [];
    let total = 0;
    for (let index = low; index < high; index++) {
      const entry = this.#entries[index - this.baseIndex - 1];
      if (entry === undefined) break;
      total += entry.data.byteLength;
      if (total > maxBytes && result.length > 0) break;
      result.push(entry);
    }
    return result;
  }

  /** Appends entries starting at `entries[0].index`, replacing any held at or after it. */
  append(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    this.truncateFrom(first.index);
    for (const entry of entries) {
      this.#entries.push(entry);
      this.#dataBytes += entry.data.byteLength;
    }
  }

  /** Drops the entries at `index` and after. */
  truncateFrom(index: number): void {
    const keep = Math.max(0, index - this.baseIndex - 1);
    if (keep >= this.#entries.length) return;
    for (const entry of this.#entries.slice(keep)) this.#dataBytes -= entry.data.byteLength;
    this.#entries.length = keep;
  }

  /** Drops the entries up to and including `index`, which must be held. */
  compactTo(index: number): void {
    const term = this.term(index);
    if (term === undefined || index <= this.baseIndex) return;
    const removed = this.#entries.splice(0, index - this.baseIndex);
    for (const entry of removed) this.#dataBytes -= entry.data.byteLength;
    this.baseIndex = index;
    this.baseTerm = term;
  }

  /** Replaces the whole log with a snapshot's base (an installed snapshot). */
  reset(base: { index: number; term: number }): void {
    this.#entries = [];
    this.#dataBytes = 0;
    this.baseIndex = base.index;
    this.baseTerm = base.term;
  }
}
