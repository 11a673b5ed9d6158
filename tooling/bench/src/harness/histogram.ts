// Latencies through HdrHistogram (hdr-histogram-js, the pure JS build): values are recorded in
// microseconds with three significant digits, so percentiles are exact to 0.1 %.
import * as hdr from 'hdr-histogram-js';

/** The longest latency the histogram tracks; longer samples are clamped and counted. */
export const LATENCY_MAX_MICROSECONDS = 120_000_000;

export interface LatencySummary {
  readonly count: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  /** Samples above LATENCY_MAX_MICROSECONDS, recorded as that maximum. */
  readonly clamped: number;
}

export class LatencyHistogram {
  readonly #histogram: hdr.Histogram = hdr.build({
    bitBucketSize: 64,
    lowestDiscernibleValue: 1,
    highestTrackableValue: LATENCY_MAX_MICROSECONDS,
    numberOfSignificantValueDigits: 3,
    useWebAssembly: false,
  });
  #clamped = 0;

  /** Records one latency given in milliseconds (fractions kept down to the microsecond). */
  recordMs(latencyMs: number): void {
    if (!Number.isFinite(latencyMs) || latencyMs < 0) {
      throw new RangeError(`latencyMs must be a finite number >= 0 (got ${latencyMs})`);
    }
    let microseconds = Math.max(1, Math.round(latencyMs * 1000));
    if (microseconds > LATENCY_MAX_MICROSECONDS) {
      microseconds = LATENCY_MAX_MICROSECONDS;
      this.#clamped += 1;
    }
    this.#histogram.recordValue(microseconds);
  }

  get count(): number {
    return this.#histogram.totalCount;
  }

  /** The latency at `percentile` (0-100) in milliseconds; 0 when nothing was recorded. */
  percentileMs(percentile: number): number {
    if (this.count === 0) return 0;
    return this.#histogram.getValueAtPercentile(percentile) / 1000;
  }

  summary(): LatencySummary {
    const empty = this.count === 0;
    return {
      count: this.count,
      meanMs: empty ? 0 : this.#histogram.mean / 1000,
      p50Ms: this.percentileMs(50),
      p90Ms: this.percentileMs(90),
      p99Ms: this.percentileMs(99),
      p999Ms: this.percentileMs(99.9),
      maxMs: empty ? 0 : this.#histogram.maxValue / 1000,
      clamped: this.#clamped,
    };
  }
}
