// Proves phi follows Akka's logistic formula: reference values derived by hand below.
import { describe, expect, it } from 'vitest';
import { computePhi, PhiAccrualFailureDetector } from '@distsync/failure-detector';

/*
 * Reference values, derived from the formula by hand.
 *
 * phi = -log10(e / (1 + e)), e = exp(-z), z = y * (1.5976 + 0.070566 * y^2), y = (t - mean) / sd.
 * Since e / (1 + e) = 1 / (1 + exp(z)), phi = log10(1 + exp(z)).
 *
 *   y = -2: z = -2 * (1.5976 + 0.070566 * 4)  = -3.759728, exp(z) = 0.0232901, phi = log10(1.0232901) = 0.0099988
 *   y =  0: z = 0,                                exp(z) = 1,         phi = log10(2)          = 0.3010300
 *   y =  1: z = 1.5976 + 0.070566              =  1.668166, exp(z) = 5.302434,  phi = log10(6.302434)  = 0.7995083
 *   y =  2: z =  2 * (1.5976 + 0.070566 * 4)   =  3.759728, exp(z) = 42.93675,  phi = log10(43.93675)  = 1.6428279
 *   y =  4: z =  4 * (1.5976 + 0.070566 * 16)  = 10.906624, exp(z) = 54536.42,  phi = log10(54537.42)  = 4.7366946
 *   y =  5: z =  5 * (1.5976 + 0.070566 * 25)  = 16.808750, exp(z) = 1.9950205e7, phi = 7.2999474
 *   y =  6: z =  6 * (1.5976 + 0.070566 * 36)  = 24.827856, exp(z) = 6.0617896e10, phi = 10.7826009
 *
 * After one heartbeat at t = 0 with Akka's defaults the history is seeded with 750 and 1250:
 * mean 1000, variance ((-250)^2 + 250^2) / 2 = 62500, sd 250 (above the 100 ms floor), and the
 * 3000 ms acceptable pause moves the mean phi uses to 4000. So t = 4000 + 250 * y.
 */
const reference: readonly (readonly [y: number, phi: number])[] = [
  [-2, 0.0099988],
  [0, 0.30103],
  [1, 0.7995083],
  [2, 1.6428279],
  [4, 4.7366946],
  [5, 7.2999474],
  [6, 10.7826009],
];

/** Akka's own expression, branch for branch, to compare where it is finite. */
function akkaPhi(elapsedMs: number, meanMs: number, stdDeviationMs: number): number {
  const y = (elapsedMs - meanMs) / stdDeviationMs;
  const e = Math.exp(-y * (1.5976 + 0.070566 * y * y));
  return elapsedMs > meanMs ? -Math.log10(e / (1 + e)) : -Math.log10(1 - 1 / (1 + e));
}

describe('computePhi', () => {
  it.each(reference)('matches the hand-derived value at y = %d', (y, expected) => {
    expect(computePhi(1000 + 100 * y, 1000, 100)).toBeCloseTo(expected, 6);
  });

  it('agrees with Akka branch-for-branch expression wherever that one is finite', () => {
    for (let y = -30; y <= 21; y += 0.25) {
      const akka = akkaPhi(4000 + 250 * y, 4000, 250);
      expect(Number.isFinite(akka)).toBe(true);
      expect(Math.abs(computePhi(4000 + 250 * y, 4000, 250) - akka)).toBeLessThan(
        1e-9 * (1 + akka),
      );
    }
  });

  it('stays finite where the Akka expression overflows to Infinity (y = 30)', () => {
    expect(akkaPhi(30, 0, 1)).toBe(Infinity);
    // z = 30 * (1.5976 + 0.070566 * 900) = 30 * 65.107 = 1953.21; exp(-z) underflows to 0, so
    // phi = z / ln 10 = 1953.21 / 2.302585 = 848.2683.
    expect(computePhi(30, 0, 1)).toBeCloseTo(848.2683, 3);
  });
});

describe('PhiAccrualFailureDetector reference values', () => {
  it.each(reference)('after one heartbeat with defaults, phi at y = %d', (y, expected) => {
    const detector = new PhiAccrualFailureDetector();
    expect(detector.heartbeat(0)).toBe('first');
    expect(detector.phi(4000 + 250 * y)).toBeCloseTo(expected, 6);
  });

  it('is 0 before the first heartbeat (an unmonitored peer is healthy, as in Akka)', () => {
    const detector = new PhiAccrualFailureDetector();
    expect(detector.phi(1_000_000)).toBe(0);
    expect(detector.isAvailable(1_000_000)).toBe(true);
    expect(detector.isMonitoring).toBe(false);
  });

  it('seeds the history with mean = estimate and sd = estimate / 4', () => {
    const detector = new PhiAccrualFailureDetector({ firstHeartbeatEstimateMs: 2000 });
    detector.heartbeat(10);
    expect(detector.stats()).toEqual({
      sampleCount: 2,
      intervalMeanMs: 2000,
      intervalStdDeviationMs: 500,
    });
  });

  it('uses the 100 ms floor once steady heartbeats evicted the seeds (y = 4 at 4400 ms)', () => {
    // 1001 heartbeats 1000 ms apart: 1000 recorded intervals of exactly 1000 fill the window
    // and push out both seeds, so sd = 0 -> 100 (floor), mean = 1000 + 3000 pause.
    const detector = new PhiAccrualFailureDetector();
    for (let index = 0; index <= 1000; index += 1) detector.heartbeat(index * 1000);
    expect(detector.stats()).toEqual({
      sampleCount: 1000,
      intervalMeanMs: 1000,
      intervalStdDeviationMs: 0,
    });
    expect(detector.phi(1_000_000 + 4400)).toBeCloseTo(4.7366946, 6);
  });
});

/** The double right after `value` (for finite, non-negative `value`). */
function nextUp(value: number): number {
  const bits = new BigUint64Array(new Float64Array([value]).buffer);
  bits[0] = bits[0]! + 1n;
  return new Float64Array(bits.buffer)[0]!;
}

describe('computePhi monotonicity at the last bit', () => {
  it('never decreases from one double to the next, including at the z = 36 seam', () => {
    // Find y where z = y * (1.5976 + 0.070566 y^2) = 36 (about 6.99), then step ulp by ulp.
    let low = 0;
    let high = 10;
    for (let step = 0; step < 200; step += 1) {
      const mid = (low + high) / 2;
      if (mid * (1.5976 + 0.070566 * mid * mid) < 36) low = mid;
      else high = mid;
    }
    const decreases: number[] = [];
    for (const start of [low - 1e-12, 0, 1e-3, 0.5, 1, 3.16]) {
      let elapsed = Math.max(0, start);
      let previous = computePhi(elapsed, 0, 1);
      for (let step = 0; step < 20_000; step += 1) {
        elapsed = nextUp(elapsed);
        const phi = computePhi(elapsed, 0, 1);
        if (phi < previous) decreases.push(elapsed);
        previous = phi;
      }
    }
    expect(decreases).toEqual([]);
  });

  it('never decreases over a fine grid from deep below the mean to far above it', () => {
    const decreases: number[] = [];
    let previous = 0;
    for (let elapsed = -50_000; elapsed <= 50_000; elapsed += 0.37) {
      const phi = computePhi(elapsed, 1000, 700);
      if (phi < previous) decreases.push(elapsed);
      previous = phi;
    }
    expect(decreases).toEqual([]);
  });
});
