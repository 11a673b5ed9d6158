import { HeartbeatHistory } from './history.js';
import { computePhi } from './phi.js';
import {
  MAX_DURATION_MS,
  durationRule,
  integerRule,
  numberOption,
  optionsObject,
} from './validate.js';

/** The largest `maxSampleSize` accepted: a full window then costs 800 KB per peer. */
export const MAX_SAMPLE_SIZE_LIMIT = 100_000;

/** Options of {@link PhiAccrualFailureDetector}; every one is optional and defaults to Akka's. */
export interface PhiAccrualOptions {
  /** Phi at or above which the peer counts as unavailable. Default 8. */
  readonly threshold?: number;
  /** How many inter-arrival times the window keeps. Default 1000. */
  readonly maxSampleSize?: number;
  /** Floor under the measured standard deviation, so a very regular peer is not hair-trigger. Default 100. */
  readonly minStdDeviationMs?: number;
  /** Silence tolerated on top of the mean interval (GC pauses, a lost heartbeat). Default 3000. */
  readonly acceptableHeartbeatPauseMs?: number;
  /** Interval assumed before there is any history (normally the heartbeat interval). Default 1000. */
  readonly firstHeartbeatEstimateMs?: number;
}

/** The options after defaults were applied and every rule was checked. */
export type ResolvedPhiAccrualOptions = { readonly [K in keyof PhiAccrualOptions]-?: number };

/** Akka's defaults (`akka.remote.watch-failure-detector` and `akka.cluster.failure-detector`). */
export const DEFAULT_PHI_ACCRUAL_OPTIONS: ResolvedPhiAccrualOptions = Object.freeze({
  threshold: 8,
  maxSampleSize: 1000,
  minStdDeviationMs: 100,
  acceptableHeartbeatPauseMs: 3000,
  firstHeartbeatEstimateMs: 1000,
});

/** The option names of {@link PhiAccrualOptions}, for unknown-key checks. */
export const PHI_ACCRUAL_OPTION_KEYS: readonly string[] = Object.freeze(
  Object.keys(DEFAULT_PHI_ACCRUAL_OPTIONS),
);

/**
 * Applies defaults and checks every rule, throwing `INVALID_OPTION` with a message that names
 * the option and its rule. Unknown keys are not checked here; the constructors do that.
 */
export function resolvePhiAccrualOptions(
  options: Readonly<Record<string, unknown>>,
): ResolvedPhiAccrualOptions {
  const defaults = DEFAULT_PHI_ACCRUAL_OPTIONS;
  return {
    threshold: numberOption(options.threshold, defaults.threshold, {
      name: 'threshold',
      rule: 'a finite number greater than 0',
      test: (value) => Number.isFinite(value) && value > 0,
    }),
    maxSampleSize: numberOption(
      options.maxSampleSize,
      defaults.maxSampleSize,
      integerRule('maxSampleSize', 1, MAX_SAMPLE_SIZE_LIMIT),
    ),
    minStdDeviationMs: numberOption(
      options.minStdDeviationMs,
      defaults.minStdDeviationMs,
      durationRule('minStdDeviationMs', false),
    ),
    acceptableHeartbeatPauseMs: numberOption(
      options.acceptableHeartbeatPauseMs,
      defaults.acceptableHeartbeatPauseMs,
      durationRule('acceptableHeartbeatPauseMs', true),
    ),
    firstHeartbeatEstimateMs: numberOption(
      options.firstHeartbeatEstimateMs,
      defaults.firstHeartbeatEstimateMs,
      durationRule('firstHeartbeatEstimateMs', false),
    ),
  };
}

/**
 * What {@link PhiAccrualFailureDetector.heartbeat} did with a heartbeat:
 * - `first`: monitoring started; the history was seeded from `firstHeartbeatEstimateMs`.
 * - `recorded`: the interval since the previous heartbeat joined the history.
 * - `skipped-after-pause`: the peer was unavailable (phi >= threshold) when it arrived, so the
 *   long gap is not recorded (it would skew the statistics), as Akka does; the clock restarts.
 * - `skipped-clock-went-backwards`: the time is before the previous heartbeat; the clock
 *   restarts from it, no interval is recorded.
 * - `ignored-invalid-time`: the time was NaN or infinite; nothing changed.
 */
export type HeartbeatOutcome =
  | 'first'
  | 'recorded'
  | 'skipped-after-pause'
  | 'skipped-clock-went-backwards'
  | 'ignored-invalid-time';

/** Measured statistics of the inter-arrival window (before the floor and the pause apply). */
export interface DetectorStats {
  readonly sampleCount: number;
  readonly intervalMeanMs: number;
  readonly intervalStdDeviationMs: number;
}

/**
 * The phi accrual failure detector of Hayashibara et al., with Akka's behaviour and defaults.
 *
 * It is pure and time-injected: it never reads a clock, the caller passes `nowMs` from any
 * monotonic millisecond clock (`performance.now()` is a good one). Before the first heartbeat
 * phi is 0 (an unmonitored peer counts as healthy, as in Akka).
 */
export class PhiAccrualFailureDetector {
  /** The options in force, defaults applied. */
  readonly options: ResolvedPhiAccrualOptions;
  private readonly history: HeartbeatHistory;
  private lastMs: number | undefined = undefined;
  private meanMs = 0;
  private deviationMs = 0;

  constructor(options?: PhiAccrualOptions) {
    this.options = Object.freeze(
      resolvePhiAccrualOptions(optionsObject(options, 'options', PHI_ACCRUAL_OPTION_KEYS)),
    );
    this.history = new HeartbeatHistory(
      this.options.maxSampleSize,
      this.options.firstHeartbeatEstimateMs,
    );
  }

  /** True once a heartbeat arrived: only then can phi rise above 0. */
  get isMonitoring(): boolean {
    return this.lastMs !== undefined;
  }

  /** The time of the latest accepted heartbeat, or undefined before the first. */
  get lastHeartbeatMs(): number | undefined {
    return this.lastMs;
  }

  /** Records a heartbeat that arrived at `nowMs`; see {@link HeartbeatOutcome}. */
  heartbeat(nowMs: number): HeartbeatOutcome {
    if (!Number.isFinite(nowMs)) return 'ignored-invalid-time';
    const lastMs = this.lastMs;
    if (lastMs === undefined) {
      this.seed();
      this.lastMs = nowMs;
      return 'first';
    }
    const intervalMs = nowMs - lastMs;
    if (intervalMs < 0) {
      this.lastMs = nowMs;
      return 'skipped-clock-went-backwards';
    }
    // Akka leaves the first heartbeat after a failure out of the history: a long pause would
    // skew the statistics and make the next failure slow to detect.
    if (!this.isAvailable(nowMs)) {
      this.lastMs = nowMs;
      return 'skipped-after-pause';
    }
    this.history.push(Math.min(intervalMs, MAX_DURATION_MS));
    this.updateStatistics();
    this.lastMs = nowMs;
    return 'recorded';
  }

  /**
   * The suspicion level at `nowMs`: `-log10` of the probability that a heartbeat still arrives
   * this late if the peer is alive. Always finite and >= 0; 0 before the first heartbeat. A NaN
   * time counts as the time of the last heartbeat; a time before it gives a phi near 0.
   */
  phi(nowMs: number): number {
    const lastMs = this.lastMs;
    if (lastMs === undefined) return 0;
    const elapsedMs = Number.isNaN(nowMs) ? 0 : nowMs - lastMs;
    return computePhi(elapsedMs, this.meanMs, this.deviationMs);
  }

  /** True while phi is below the threshold. */
  isAvailable(nowMs: number): boolean {
    return this.phi(nowMs) < this.options.threshold;
  }

  /** The measured window, or undefined before the first heartbeat. */
  stats(): DetectorStats | undefined {
    if (this.lastMs === undefined) return undefined;
    return {
      sampleCount: this.history.size,
      intervalMeanMs: this.history.mean(),
      intervalStdDeviationMs: this.history.stdDeviation(),
    };
  }

  /** Forgets every heartbeat: the detector is as new (phi 0, not monitoring). */
  reset(): void {
    this.history.clear();
    this.lastMs = undefined;
    this.meanMs = 0;
    this.deviationMs = 0;
  }

  /**
   * Seeds the history as Akka does, with two intervals `estimate -+ estimate / 4`: mean
   * `estimate`, standard deviation `estimate / 4`, rather wide because nothing is known yet.
   * A peer that sends exactly one heartbeat therefore still becomes unavailable.
   */
  private seed(): void {
    const estimateMs = this.options.firstHeartbeatEstimateMs;
    const deviationMs = estimateMs / 4;
    this.history.clear();
    this.history.push(estimateMs - deviationMs);
    this.history.push(estimateMs + deviationMs);
    this.updateStatistics();
  }

  /** Caches the distribution phi uses, so `phi()` is O(1) with no square root. */
  private updateStatistics(): void {
    this.meanMs = this.history.mean() + this.options.acceptableHeartbeatPauseMs;
    this.deviationMs = Math.max(this.history.stdDeviation(), this.options.minStdDeviationMs);
  }
}
