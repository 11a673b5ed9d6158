/** The first allocation of a history's ring; it doubles up to `maxSampleSize` as samples arrive. */
const INITIAL_CAPACITY = 16;

/**
 * A bounded window of heartbeat inter-arrival times with O(1) mean and standard deviation.
 *
 * Samples live in a ring of at most `maxSampleSize` doubles, allocated lazily so ten thousand
 * quiet peers do not each hold a full window. Running sums are kept of `interval - offset`, with
 * the offset near the expected mean, so `sumSquares / n - mean^2` does not lose its digits to
 * cancellation; and after every `maxSampleSize` evictions the sums are recomputed from the ring,
 * so rounding left behind by evicted samples cannot accumulate.
 */
export class HeartbeatHistory {
  private samples: Float64Array = new Float64Array(0);
  private oldest = 0;
  private count = 0;
  private sum = 0;
  private sumSquares = 0;
  private evictionsSinceRecompute = 0;
  private readonly maxSampleSize: number;
  private readonly offset: number;

  constructor(maxSampleSize: number, offset: number) {
    this.maxSampleSize = maxSampleSize;
    this.offset = offset;
  }

  get size(): number {
    return this.count;
  }

  /** Adds one interval, evicting the oldest when the window is full. */
  push(intervalMs: number): void {
    const shifted = intervalMs - this.offset;
    if (this.count < this.maxSampleSize) {
      // The ring never wraps before it is full, so the next free slot is at `count`.
      if (this.count === this.samples.length) this.grow();
      this.samples[this.count] = intervalMs;
      this.count += 1;
      this.sum += shifted;
      this.sumSquares += shifted * shifted;
      return;
    }
    const evicted = (this.samples[this.oldest] ?? this.offset) - this.offset;
    this.samples[this.oldest] = intervalMs;
    this.oldest = (this.oldest + 1) % this.maxSampleSize;
    this.sum += shifted - evicted;
    this.sumSquares += shifted * shifted - evicted * evicted;
    this.evictionsSinceRecompute += 1;
    if (this.evictionsSinceRecompute >= this.maxSampleSize) this.recompute();
  }

  /** Mean interval; 0 for an empty history (the detector never asks before seeding it). */
  mean(): number {
    return this.count === 0 ? 0 : this.offset + this.sum / this.count;
  }

  /** Population standard deviation, as Akka computes it; never negative, never NaN. */
  stdDeviation(): number {
    if (this.count === 0) return 0;
    const shiftedMean = this.sum / this.count;
    const variance = this.sumSquares / this.count - shiftedMean * shiftedMean;
    return variance > 0 ? Math.sqrt(variance) : 0;
  }

  clear(): void {
    this.oldest = 0;
    this.count = 0;
    this.sum = 0;
    this.sumSquares = 0;
    this.evictionsSinceRecompute = 0;
  }

  private grow(): void {
    const capacity = Math.min(
      this.maxSampleSize,
      Math.max(INITIAL_CAPACITY, this.samples.length * 2),
    );
    const next = new Float64Array(capacity);
    next.set(this.samples.subarray(0, this.count));
    this.samples = next;
  }

  private recompute(): void {
    let sum = 0;
    let sumSquares = 0;
    for (let index = 0; index < this.count; index += 1) {
      const shifted = (this.samples[index] ?? this.offset) - this.offset;
      sum += shifted;
      sumSquares += shifted * shifted;
    }
    this.sum = sum;
    this.sumSquares = sumSquares;
    this.evictionsSinceRecompute = 0;
  }
}
