// FaultClock: the node's time when fault injection is on (test only). Everything in the node that
// reads time through an injected clock reads this one: the RaftNode scheduler (tick timer,
// leader-stamped entry times that drive lock leases, session TTLs and queue visibility timeouts,
// request deadlines), the cache's NodeCache scheduler (read leases, on the monotonic clock) and
// the queue service's stats time. A test shifts it by an offset (this node's clock away from the
// others'; raft's real scheduler reads the monotonic clock, so a running node never sees an NTP
// step: the testkit changes offsets only on followers) and/or runs it at a rate (a drifting
// oscillator): `rate` 1.01 runs 1% fast.
// An offset moves only the wall clock; the monotonic clock only sees the rate, as
// `performance.now()` ignores clock steps on a real machine.
import type { Scheduler } from '@distsync/raft';
import type { CacheScheduler } from '@distsync/cache-mesi';

/** Bounds the admin route enforces (a test bound, not a production one). */
export const CLOCK_OFFSET_MS_MAX = 600_000;
export const CLOCK_RATE_MIN = 0.5;
export const CLOCK_RATE_MAX = 2;

/** Where the clock stands against the real one. */
export interface ClockFaults {
  readonly offsetMs: number;
  readonly rate: number;
}

/** A linear map real -> faulty: `base + (real - anchor) * rate`, re-anchored on every change. */
class SkewedTime {
  #anchorRealMs: number;
  #anchorFaultyMs: number;
  #rate = 1;
  readonly #real: () => number;

  constructor(real: () => number) {
    this.#real = real;
    this.#anchorRealMs = real();
    this.#anchorFaultyMs = this.#anchorRealMs;
  }

  get rate(): number {
    return this.#rate;
  }

  now(): number {
    return this.#anchorFaultyMs + (this.#real() - this.#anchorRealMs) * this.#rate;
  }

  /** Keeps time continuous at the change (a rate change is not a step). */
  set(change: { rate?: number; stepMs?: number }): void {
    const now = this.now();
    this.#anchorRealMs = this.#real();
    this.#anchorFaultyMs = now + (change.stepMs ?? 0);
    if (change.rate !== undefined) this.#rate = change.rate;
  }
}

export class FaultClock {
  readonly #wall = new SkewedTime(() => Date.now());
  readonly #monotonic = new SkewedTime(() => performance.now());
  #offsetMs = 0;

  /** The faulty wall clock (epoch ms). */
  wallMs(): number {
    return this.#wall.now();
  }

  /** The faulty monotonic clock (ms, only the rate applies). */
  monotonicMs(): number {
    return this.#monotonic.now();
  }

  faults(): ClockFaults {
    return { offsetMs: this.#offsetMs, rate: this.#wall.rate };
  }

  /**
   * Sets the offset of the wall clock from the real one (a step by the difference) and/or the
   * rate of both clocks. Throws RangeError outside the bounds (the route validates first).
   */
  set(faults: { offsetMs?: number; rate?: number }): void {
    const { offsetMs, rate } = faults;
    if (offsetMs !== undefined && !(Math.abs(offsetMs) <= CLOCK_OFFSET_MS_MAX)) {
      throw new RangeError(`offsetMs must be within ±${CLOCK_OFFSET_MS_MAX}, got ${offsetMs}`);
    }
    if (rate !== undefined && !(rate >= CLOCK_RATE_MIN && rate <= CLOCK_RATE_MAX)) {
      throw new RangeError(`rate must be in [${CLOCK_RATE_MIN}, ${CLOCK_RATE_MAX}], got ${rate}`);
    }
    // The offset is measured against real time: drift accumulated so far is dropped with it.
    const stepMs = offsetMs === undefined ? 0 : Date.now() + offsetMs - this.#wall.now();
    this.#wall.set({ ...(rate === undefined ? {} : { rate }), stepMs });
    if (rate !== undefined) this.#monotonic.set({ rate });
    if (offsetMs !== undefined) this.#offsetMs = offsetMs;
  }

  /** Real time again (a step back by the offset and whatever drift accumulated). */
  reset(): void {
    this.set({ offsetMs: 0, rate: 1 });
  }

  /** Real delays scaled by the rate: a clock running 2x fast fires its timers twice as often. */
  #realDelayMs(delayMs: number): number {
    return Math.max(0, delayMs / this.#wall.rate);
  }

  /** For RaftNode: the faulty wall clock, and a tick timer paced by the rate (read every tick). */
  raftScheduler(): Scheduler {
    return {
      nowMs: () => this.wallMs(),
      setInterval: (callback, intervalMs) => {
        let timer: NodeJS.Timeout | undefined;
        let cancelled = false;
        const arm = (): void => {
          // Referenced on purpose, as raft's realScheduler: a started node is a server.
          timer = setTimeout(() => {
            if (cancelled) return;
            arm();
            callback();
          }, this.#realDelayMs(intervalMs));
        };
        arm();
        return () => {
          cancelled = true;
          clearTimeout(timer);
        };
      },
    };
  }

  /** For NodeCache: leases on the faulty monotonic clock, TTLs on the faulty wall clock. */
  cacheScheduler(): CacheScheduler {
    return {
      nowMs: () => this.monotonicMs(),
      wallMs: () => this.wallMs(),
      setTimeout: (run, delayMs) => {
        const timer = setTimeout(run, this.#realDelayMs(delayMs));
        timer.unref();
        return () => {
          clearTimeout(timer);
        };
      },
    };
  }
}
