// Incremental snapshots of a Map-held state (StateMachine.beginSnapshot): the keys are captured
// at once, the values are serialized a slice at a time while apply keeps writing, and a write to
// a key the snapshot has not passed yet first saves the key's captured value (copy-on-write).
import type { SnapshotJob } from '../state-machine.js';

/** Turns a slice of rows into bytes; the job concatenates the slices in order. */
export type RowEncoder<K, V> = (rows: readonly (readonly [K, V])[]) => Uint8Array;

export interface MapSnapshotOptions<K, V> {
  /** Encodes the rows of one slice; slices are concatenated, so the format must allow that. */
  readonly encodeRows: RowEncoder<K, V>;
  /** Bytes before the first row and after the last (a format header, say). Default none. */
  readonly prefix?: Uint8Array;
  readonly suffix?: Uint8Array;
  /** Rows per `next()`. Default 2000. */
  readonly sliceRows?: number;
  /**
   * For maps whose values are mutated in place (records, arrays): `beforeWrite` saves
   * `copyValue(value)` instead of the value itself, so a later mutation of the live object cannot
   * reach the snapshot. Call `beforeWrite` before every mutation of a value, not only `set`.
   * Default: values are saved as they are (immutable values replaced by `set`).
   */
  readonly copyValue?: (value: V) => V;
  /**
   * Rows in this key order instead of the map's iteration order (a state whose bytes must not
   * depend on insertion history). The captured keys are sorted in slices too (a merge sort, a
   * bounded number of comparisons per `next()`), so sorting a large map never stalls either.
   */
  readonly compareKeys?: (a: K, b: K) => number;
}

/**
 * Copy-on-write snapshots of a `Map` that a state machine owns. Call `beforeWrite(key)` before
 * every `set` or `delete` on the map; `begin()` returns a `SnapshotJob` whose bytes are the map as
 * it was when `begin()` ran, in the map's iteration order at that moment, however the map changes
 * between slices. Jobs may overlap. Replace the map only after cancelling the jobs (the node
 * cancels its job before it restores a snapshot).
 *
 * @example
 * ```ts
 * const rows = new Map<string, number>();
 * const snapshots = new MapSnapshots(() => rows, { encodeRows: (slice) => encodeLines(slice) });
 * // in apply: snapshots.beforeWrite(key); rows.set(key, value);
 * // in the machine: beginSnapshot: () => snapshots.begin(), snapshot: () => snapshots.now()
 * ```
 */
export class MapSnapshots<K, V> {
  readonly #map: () => Map<K, V>;
  readonly #options: MapSnapshotOptions<K, V>;
  /** For each running job, the captured values of keys written since it began. */
  readonly #saved = new Set<Map<K, V>>();

  constructor(map: () => Map<K, V>, options: MapSnapshotOptions<K, V>) {
    this.#map = map;
    this.#options = options;
  }

  /** Jobs running now (for tests and status). */
  get running(): number {
    return this.#saved.size;
  }

  /** Saves `key`'s current value for every running job that has not saved it yet. */
  beforeWrite(key: K): void {
    if (this.#saved.size === 0) return;
    const map = this.#map();
    if (!map.has(key)) return;
    let value = map.get(key) as V;
    let copied = false;
    for (const saved of this.#saved) {
      if (saved.has(key)) continue;
      // One copy serves every job that lacks the key: a saved value is never mutated.
      if (!copied && this.#options.copyValue !== undefined) value = this.#options.copyValue(value);
      copied = true;
      saved.set(key, value);
    }
  }

  /** The whole snapshot now, in one go (small states, `StateMachine.snapshot`). */
  now(): Uint8Array {
    return runToEnd(this.begin());
  }

  begin(): SnapshotJob {
    const map = this.#map();
    let keys = [...map.keys()];
    const compare = this.#options.compareKeys;
    let sorting = compare === undefined ? undefined : new SortJob(keys, compare);
    const saved = new Map<K, V>();
    this.#saved.add(saved);
    const sliceRows = this.#options.sliceRows ?? 2000;
    const chunks: Uint8Array[] = [];
    if (this.#options.prefix !== undefined) chunks.push(this.#options.prefix);
    let position = 0;
    let done = false;
    // After the last row the chunks are joined, a few megabytes per `next()` as well.
    let joining: ConcatJob | undefined;
    return {
      next: () => {
        if (done) throw new Error('MapSnapshots: next() after the job finished or was cancelled');
        if (joining !== undefined) {
          const bytes = joining.next();
          if (bytes !== undefined) done = true;
          return bytes;
        }
        if (sorting !== undefined) {
          const sorted = sorting.next(sliceRows * SORT_MOVES_PER_ROW);
          if (sorted === undefined) return undefined;
          keys = sorted;
          sorting = undefined;
        }
        const end = Math.min(keys.length, position + sliceRows);
        const rows: (readonly [K, V])[] = [];
        for (; position < end; position++) {
          const key = keys[position] as K;
          if (saved.has(key)) rows.push([key, saved.get(key) as V]);
          else if (map.has(key)) rows.push([key, map.get(key) as V]);
          else {
            throw new Error(
              `MapSnapshots: key ${String(key)} was deleted without beforeWrite() while a snapshot ran`,
            );
          }
        }
        if (rows.length > 0) chunks.push(this.#options.encodeRows(rows));
        if (position < keys.length) return undefined;
        // Every row is out: the captured values are no longer needed.
        this.#saved.delete(saved);
        if (this.#options.suffix !== undefined) chunks.push(this.#options.suffix);
        joining = new ConcatJob(chunks);
        const bytes = joining.next();
        if (bytes !== undefined) done = true;
        return bytes;
      },
      cancel: () => {
        done = true;
        this.#saved.delete(saved);
      },
    };
  }
}

/** Element moves of the merge sort per `next()`, per row of `sliceRows` (a move is cheap). */
const SORT_MOVES_PER_ROW = 10;

/** Runs sorted with `Array.prototype.sort` before the merges (one run per slice at most). */
const SORT_RUN = 1024;

/**
 * A stable bottom-up merge sort done a bounded number of element moves per `next()`: a scan that
 * stops at once for keys already in order (a map filled in key order, as queue messages by seq),
 * else sorted runs of `SORT_RUN`, then merge passes of doubling width between two buffers. The
 * result is the same as a full sort with `compare` (for distinct keys), however it was sliced.
 */
export class SortJob<K> {
  #from: K[];
  /** The second buffer, allocated at the first merge (not during the capture's turn). */
  #to: K[] | undefined;
  /** Keys known to be in order from the start (the scan), or -1 once a pair was out of order. */
  #ordered = 0;
  readonly #compare: (a: K, b: K) => number;
  readonly #length: number;
  #runStart = 0;
  #width = SORT_RUN;
  /** The pair being merged: [start, middle) and [middle, end), cursors i, j into it, k out. */
  #pair: { middle: number; end: number; i: number; j: number; k: number } | undefined;
  #pairStart = 0;

  constructor(keys: K[], compare: (a: K, b: K) => number) {
    this.#from = keys;
    this.#compare = compare;
    this.#length = keys.length;
  }

  /** Moves up to about `budget` elements; the sorted keys once done, else undefined. */
  next(budget: number): K[] | undefined {
    let left = Math.max(1, budget);
    while (this.#ordered >= 0 && this.#ordered < this.#length - 1) {
      if (left <= 0) return undefined;
      const stop = Math.min(this.#length - 1, this.#ordered + left);
      left -= stop - this.#ordered;
      for (; this.#ordered < stop; this.#ordered++) {
        const at = this.#ordered;
        if (this.#compare(this.#from[at] as K, this.#from[at + 1] as K) > 0) {
          this.#ordered = -1;
          break;
        }
      }
    }
    if (this.#ordered >= 0) return this.#from;
    while (this.#runStart < this.#length) {
      if (left <= 0) return undefined;
      const end = Math.min(this.#length, this.#runStart + SORT_RUN);
      const run = this.#from.slice(this.#runStart, end).sort(this.#compare);
      for (let index = 0; index < run.length; index++) {
        this.#from[this.#runStart + index] = run[index] as K;
      }
      // A run costs about log2(SORT_RUN) comparisons per element.
      left -= run.length * 4;
      this.#runStart = end;
    }
    while (this.#width < this.#length) {
      this.#to ??= new Array<K>(this.#length);
      if (this.#pairStart >= this.#length) {
        [this.#from, this.#to] = [this.#to, this.#from];
        this.#width *= 2;
        this.#pairStart = 0;
        continue;
      }
      if (left <= 0) return undefined;
      const start = this.#pairStart;
      const pair = (this.#pair ??= {
        middle: Math.min(this.#length, start + this.#width),
        end: Math.min(this.#length, start + 2 * this.#width),
        i: start,
        j: Math.min(this.#length, start + this.#width),
        k: start,
      });
      const source = this.#from;
      const target = this.#to;
      const { middle, end } = pair;
      let { i, j, k } = pair;
      for (; k < end && left > 0; k++, left--) {
        if (j >= end || (i < middle && this.#compare(source[i] as K, source[j] as K) <= 0)) {
          target[k] = source[i++] as K;
        } else {
          target[k] = source[j++] as K;
        }
      }
      Object.assign(pair, { i, j, k });
      if (k === end) {
        this.#pair = undefined;
        this.#pairStart = end;
      }
    }
    return this.#from;
  }
}

/** Calls `next()` until a sliced job (a `SnapshotJob`, a `ConcatJob`) hands out its bytes. */
export function runToEnd(job: { next(): Uint8Array | undefined }): Uint8Array {
  for (;;) {
    const bytes = job.next();
    if (bytes !== undefined) return bytes;
  }
}

/** Bytes one `ConcatJob.next()` copies: a few milliseconds, page faults included. */
const CONCAT_SLICE_BYTES = 4 * 1024 * 1024;

/**
 * Joins chunks into one buffer a slice per `next()`, so a snapshot of hundreds of megabytes is
 * never copied (and its pages faulted in) in one event-loop turn. `prefix` bytes are left free
 * at the start for the caller.
 */
export class ConcatJob {
  readonly #chunks: readonly Uint8Array[];
  readonly #out: Uint8Array;
  #chunk = 0;
  #offsetInChunk = 0;
  #written: number;

  constructor(chunks: readonly Uint8Array[], prefix = 0) {
    this.#chunks = chunks;
    const total = chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0);
    this.#out = new Uint8Array(prefix + total);
    this.#written = prefix;
  }

  /** The output buffer (its prefix is the caller's to fill). */
  get output(): Uint8Array {
    return this.#out;
  }

  /** Copies the next slice; the whole buffer once everything is copied, else undefined. */
  next(): Uint8Array | undefined {
    let budget = CONCAT_SLICE_BYTES;
    while (this.#chunk < this.#chunks.length && budget > 0) {
      const chunk = this.#chunks[this.#chunk];
      if (chunk === undefined) break;
      const take = Math.min(budget, chunk.byteLength - this.#offsetInChunk);
      this.#out.set(chunk.subarray(this.#offsetInChunk, this.#offsetInChunk + take), this.#written);
      this.#written += take;
      this.#offsetInChunk += take;
      budget -= take;
      if (this.#offsetInChunk === chunk.byteLength) {
        this.#chunk += 1;
        this.#offsetInChunk = 0;
      }
    }
    return this.#chunk < this.#chunks.length ? undefined : this.#out;
  }
}
