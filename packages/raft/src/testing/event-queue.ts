// A binary min-heap of events ordered by (time, sequence). The sequence number is assigned at
// insertion, so two events due at the same virtual time always run in the order they were
// scheduled: the simulator never depends on the heap's internal layout for its order.

export interface QueuedEvent<T> {
  readonly timeMs: number;
  readonly sequence: number;
  readonly value: T;
}

export class EventQueue<T> {
  private readonly heap: QueuedEvent<T>[] = [];
  private nextSequence = 0;
  private readonly maxEvents: number;

  constructor(options: { maxEvents: number }) {
    if (!Number.isSafeInteger(options.maxEvents) || options.maxEvents < 1) {
      throw new RangeError('maxEvents must be a positive integer');
    }
    this.maxEvents = options.maxEvents;
  }

  get size(): number {
    return this.heap.length;
  }

  push(timeMs: number, value: T): void {
    if (this.heap.length >= this.maxEvents) {
      throw new RangeError(
        `event queue exceeded maxEvents (${this.maxEvents}): a runaway schedule`,
      );
    }
    const event = { timeMs, sequence: this.nextSequence++, value };
    this.heap.push(event);
    this.siftUp(this.heap.length - 1);
  }

  peek(): QueuedEvent<T> | undefined {
    return this.heap[0];
  }

  pop(): QueuedEvent<T> | undefined {
    const top = this.heap[0];
    const last = this.heap.pop();
    if (top === undefined || last === undefined) return undefined;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  private less(i: number, j: number): boolean {
    const a = this.heap[i]!;
    const b = this.heap[j]!;
    return a.timeMs < b.timeMs || (a.timeMs === b.timeMs && a.sequence < b.sequence);
  }

  private swap(i: number, j: number): void {
    const held = this.heap[i]!;
    this.heap[i] = this.heap[j]!;
    this.heap[j] = held;
  }

  private siftUp(start: number): void {
    let i = start;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private siftDown(start: number): void {
    let i = start;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < this.heap.length && this.less(left, smallest)) smallest = left;
      if (right < this.heap.length && this.less(right, smallest)) smallest = right;
      if (smallest === i) return;
      this.swap(i, smallest);
      i = smallest;
    }
  }
}
