// The host's only view of time. Injecting it keeps RaftNode testable with fake clocks and lets a
// simulator or benchmark drive ticks itself; the core never sees it at all.

/** A clock and a repeating timer; `setInterval` returns a function that cancels the timer. */
export interface Scheduler {
  /**
   * Epoch milliseconds that never step while the process runs (the real one reads the monotonic
   * clock from the wall-clock time at start); stamped on entries by the leader.
   */
  nowMs(): number;
  setInterval(callback: () => void, intervalMs: number): () => void;
}

/**
 * Real timers. The tick timer is left referenced on purpose: a started node is a server, and an
 * unreferenced tick would let a process exit while a command still waits for an election.
 */
export const realScheduler: Scheduler = {
  // Wall-clock time at process start plus the monotonic clock since: an NTP step or an operator's
  // `date -s` cannot move a running leader's stamps (which time leases), only a restart can.
  nowMs: () => performance.timeOrigin + performance.now(),
  setInterval: (callback, intervalMs) => {
    const handle = setInterval(callback, intervalMs);
    return () => {
      clearInterval(handle);
    };
  },
};

/** A small seeded PRNG (mulberry32) so election jitter is reproducible given a seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
