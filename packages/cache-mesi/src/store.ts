// The backing store behind the caches: where write-behind puts committed values and where a miss
// on a key the directory does not know looks. Writes carry the directory version and the store
// keeps the newest one only, so two write-backs of the same key that race (a leader's batch and an
// eviction, an old leader and a new one) never let an older value win.
import type { JsonValue } from './messages.js';

export interface StoreWrite {
  readonly key: string;
  /** The directory version of this value; the store keeps the highest one it was given. */
  readonly version: number;
  /** False: the key was deleted (or its TTL ran out): the store drops it. */
  readonly found: boolean;
  readonly value?: JsonValue;
  /** What remains of the key's TTL, when it has one. */
  readonly ttlMs?: number;
}

export type StoreRead =
  | { readonly found: false }
  | { readonly found: true; readonly value: JsonValue; readonly ttlMs?: number };

export interface BackingStore {
  /** The stored value of a key; rejects when the store cannot be reached. */
  get(key: string): Promise<StoreRead>;
  /** Writes a batch (each item only if its version is newer); rejects when the store is down. */
  writeMany(items: readonly StoreWrite[]): Promise<void>;
  close?(): Promise<void>;
}

interface MemoryRecord {
  readonly version: number;
  readonly found: boolean;
  readonly value?: JsonValue;
  readonly expiresAtMs: number | undefined;
}

/** The embedded default: a process-local map (per node). `available` simulates an outage. */
export class MemoryStore implements BackingStore {
  readonly #records = new Map<string, MemoryRecord>();
  readonly #nowMs: () => number;
  /** While false every call rejects, as a store that is down would. */
  available = true;
  /** Successful writeMany calls and items, for tests and status. */
  readonly counters = { batches: 0, items: 0 };

  constructor(options: { nowMs?: () => number } = {}) {
    this.#nowMs = options.nowMs ?? (() => Date.now());
  }

  get(key: string): Promise<StoreRead> {
    if (!this.available) return Promise.reject(new Error('memory store is unavailable'));
    const record = this.#records.get(key);
    if (record === undefined || !record.found || record.value === undefined) {
      return Promise.resolve({ found: false });
    }
    if (record.expiresAtMs !== undefined) {
      const ttlMs = record.expiresAtMs - this.#nowMs();
      if (ttlMs <= 0) return Promise.resolve({ found: false });
      return Promise.resolve({ found: true, value: record.value, ttlMs });
    }
    return Promise.resolve({ found: true, value: record.value });
  }

  writeMany(items: readonly StoreWrite[]): Promise<void> {
    if (!this.available) return Promise.reject(new Error('memory store is unavailable'));
    for (const item of items) {
      const current = this.#records.get(item.key);
      if (current !== undefined && current.version >= item.version) continue;
      this.#records.set(item.key, {
        version: item.version,
        found: item.found,
        ...(item.value === undefined ? {} : { value: item.value }),
        expiresAtMs: item.ttlMs === undefined ? undefined : this.#nowMs() + item.ttlMs,
      });
    }
    this.counters.batches += 1;
    this.counters.items += items.length;
    return Promise.resolve();
  }

  /** The stored version of a key (0 when absent), for tests. */
  versionOf(key: string): number {
    return this.#records.get(key)?.version ?? 0;
  }

  /** Seeds a value as if another system wrote it (version 0: any cache write wins). */
  seed(key: string, value: JsonValue): void {
    this.#records.set(key, { version: 0, found: true, value, expiresAtMs: undefined });
  }
}
