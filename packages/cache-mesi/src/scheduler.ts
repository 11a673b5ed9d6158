// Time and timers for NodeCache and CacheClient, injectable so a simulator can drive them on a
// virtual clock. `nowMs` is monotonic (leases are measured on it); `wallMs` only turns a TTL into
// what remains of it when a value is written back.

export interface CacheScheduler {
  /** A monotonic clock in milliseconds. */
  nowMs(): number;
  /** The wall clock in milliseconds since the epoch. */
  wallMs(): number;
  /** Runs `run` after `delayMs`; the returned function cancels it. */
  setTimeout(run: () => void, delayMs: number): () => void;
}

export const realScheduler: CacheScheduler = {
  nowMs: () => performance.now(),
  wallMs: () => Date.now(),
  setTimeout: (run, delayMs) => {
    const timer = setTimeout(run, delayMs);
    timer.unref();
    return () => {
      clearTimeout(timer);
    };
  },
};

export function sleep(scheduler: CacheScheduler, delayMs: number): Promise<void> {
  return new Promise((resolve) => {
    scheduler.setTimeout(resolve, delayMs);
  });
}
