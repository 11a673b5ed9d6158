// Small deterministic containers the queue machine is built from.
import type { StoredMessage } from './queue-state.js';

/**
 * A copy of a message that shares no mutable part with it (its history, its lease), for the
 * copy-on-write of incremental snapshots. Keys keep their order, so it serializes the same.
 */
export function copyMessage(message: StoredMessage): StoredMessage {
  const copy = { ...message, history: [...message.history] };
  if (message.lease !== undefined) copy.lease = { ...message.lease };
  return copy;
}

/**
 * Message sequence numbers in ascending order, taken from the front. New sends append (their seq
 * is the largest); a requeued message goes back to its place by seq, so redelivery keeps the
 * original order within a partition and priority.
 */
export class SeqList {
  #items: number[] = [];
  #head = 0;

  get size(): number {
    return this.#items.length - this.#head;
  }

  peek(): number | undefined {
    return this.#items[this.#head];
  }

  shift(): number | undefined {
    const value = this.#items[this.#head];
    if (value === undefined) return undefined;
    this.#head += 1;
    // Compact once the consumed prefix dominates, so memory stays proportional to the size.
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return value;
  }

  insert(seq: number): void {
    const last = this.#items[this.#items.length - 1];
    if (last === undefined || this.size === 0 || last < seq) {
      this.#items.push(seq);
      return;
    }
    let low = this.#head;
    let high = this.#items.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.#items[middle] ?? 0) < seq) low = middle + 1;
      else high = middle;
    }
    this.#items.splice(low, 0, seq);
  }

  remove(seq: number): boolean {
    const at = this.#items.indexOf(seq, this.#head);
    if (at === -1) return false;
    if (at === this.#head) this.#head += 1;
    else this.#items.splice(at, 1);
    return true;
  }

  values(): number[] {
    return this.#items.slice(this.#head);
  }
}

export interface Timer {
  readonly atMs: number;
  readonly queue: string;
  readonly seq: number;
  /** For a lease: the delivery number it belongs to (stale timers are skipped). 0 for a delay. */
  readonly delivery: number;
}

/** A binary min-heap of timers by (atMs, queue, seq): deterministic order on ties. */
export class TimerHeap {
  readonly #items: Timer[] = [];

  get size(): number {
    return this.#items.length;
  }

  peek(): Timer | undefined {
    return this.#items[0];
  }

  push(timer: Timer): void {
    const items = this.#items;
    items.push(timer);
    let at = items.length - 1;
    while (at > 0) {
      const parent = (at - 1) >>> 1;
      if (!before(items[at], items[parent])) break;
      swap(items, at, parent);
      at = parent;
    }
  }

  pop(): Timer | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    items[0] = last;
    let at = 0;
    for (;;) {
      const left = at * 2 + 1;
      const right = left + 1;
      let smallest = at;
      if (left < items.length && before(items[left], items[smallest])) smallest = left;
      if (right < items.length && before(items[right], items[smallest])) smallest = right;
      if (smallest === at) break;
      swap(items, at, smallest);
      at = smallest;
    }
    return top;
  }

  clear(): void {
    this.#items.length = 0;
  }
}

function before(a: Timer | undefined, b: Timer | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  if (a.atMs !== b.atMs) return a.atMs < b.atMs;
  if (a.queue !== b.queue) return a.queue < b.queue;
  return a.seq < b.seq;
}

function swap(items: Timer[], a: number, b: number): void {
  const first = items[a];
  const second = items[b];
  if (first === undefined || second === undefined) return;
  items[a] = second;
  items[b] = first;
}

/** Seconds of history a rate covers. */
export const RATE_WINDOW_SECONDS = 10;

/**
 * Counts per second of leader-stamped time over the last RATE_WINDOW_SECONDS: rates without a
 * clock read (the caller says what "now" is).
 */
export class RateWindow {
  #seconds: number[] = [];
  #counts: number[] = [];

  add(timeMs: number, count = 1): void {
    const second = Math.floor(timeMs / 1000);
    const last = this.#seconds.length - 1;
    if (this.#seconds[last] === second) {
      this.#counts[last] = (this.#counts[last] ?? 0) + count;
    } else {
      this.#seconds.push(second);
      this.#counts.push(count);
    }
    while ((this.#seconds[0] ?? second) <= second - RATE_WINDOW_SECONDS) {
      this.#seconds.shift();
      this.#counts.shift();
    }
  }

  /** Events per second over the window ending at `nowMs`. */
  perSecond(nowMs: number): number {
    const now = Math.floor(nowMs / 1000);
    let total = 0;
    this.#seconds.forEach((second, index) => {
      if (second > now - RATE_WINDOW_SECONDS && second <= now) total += this.#counts[index] ?? 0;
    });
    return total / RATE_WINDOW_SECONDS;
  }

  toJSON(): [number[], number[]] {
    return [this.#seconds, this.#counts];
  }

  static from(json: readonly [readonly number[], readonly number[]]): RateWindow {
    const window = new RateWindow();
    window.#seconds = [...json[0]];
    window.#counts = [...json[1]];
    return window;
  }
}
