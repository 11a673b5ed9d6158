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
    const value = map.get(key) as V;
    for (const saved of this.#saved) if (!saved.has(key)) saved.set(key, value);
  }

  /** The whole snapshot now, in one go (small states, `StateMachine.snapshot`). */
  now(): Uint8Array {
    const job = this.begin();
    for (;;) {
      const bytes = job.next();
      if (bytes !== undefined) return bytes;
    }
  }

  begin(): SnapshotJob {
    const map = this.#map();
    const keys = [...map.keys()];
    const saved = new Map<K, V>();
    this.#saved.add(saved);
    const sliceRows = this.#options.sliceRows ?? 2000;
    const chunks: Uint8Array[] = [];
    if (this.#options.prefix !== undefined) chunks.push(this.#options.prefix);
    let position = 0;
    let done = false;
    const finish = (): Uint8Array => {
      done = true;
      this.#saved.delete(saved);
      if (this.#options.suffix !== undefined) chunks.push(this.#options.suffix);
      return concat(chunks);
    };
    return {
      next: () => {
        if (done) throw new Error('MapSnapshots: next() after the job finished or was cancelled');
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
        return position < keys.length ? undefined : finish();
      },
      cancel: () => {
        done = true;
        this.#saved.delete(saved);
      },
    };
  }
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const total = chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
