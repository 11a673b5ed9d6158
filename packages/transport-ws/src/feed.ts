/** Each watcher keeps at most this many unread updates; older ones are dropped (latest wins). */
const WATCHER_BUFFER_MAX = 256;

interface Watcher<T> {
  readonly buffer: T[];
  wake: (() => void) | undefined;
}

/**
 * Fans status updates out to any number of async iterators. A slow watcher loses its oldest
 * unread updates rather than growing memory, which is right for status: the newest matters.
 * Every iterator ends when the feed is closed.
 */
export class StatusFeed<T> {
  private readonly watchers = new Set<Watcher<T>>();
  private closed = false;

  publish(update: T): void {
    for (const watcher of this.watchers) {
      watcher.buffer.push(update);
      if (watcher.buffer.length > WATCHER_BUFFER_MAX) watcher.buffer.shift();
      watcher.wake?.();
    }
  }

  close(): void {
    this.closed = true;
    for (const watcher of this.watchers) watcher.wake?.();
  }

  /** An iterator over updates published from now on; `return()` (or `break`) detaches it. */
  watch(): AsyncIterableIterator<T> {
    const watcher: Watcher<T> = { buffer: [], wake: undefined };
    this.watchers.add(watcher);
    const detach = (): IteratorResult<T> => {
      this.watchers.delete(watcher);
      watcher.wake?.();
      return { done: true, value: undefined };
    };
    const next = async (): Promise<IteratorResult<T>> => {
      while (watcher.buffer.length === 0) {
        if (this.closed || !this.watchers.has(watcher)) return detach();
        await new Promise<void>((resolve) => {
          watcher.wake = resolve;
        });
        watcher.wake = undefined;
      }
      return { done: false, value: watcher.buffer.shift() as T };
    };
    const iterator: AsyncIterableIterator<T> = {
      next,
      return: () => Promise.resolve(detach()),
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }
}
