// Proves the detector's behaviour over time: growth with silence, the acceptable pause, jitter,
// clocks that go backwards, hostile inputs, and Akka's rule for the heartbeat after a failure.
import { describe, expect, it } from 'vitest';
import { computePhi, PhiAccrualFailureDetector } from '@distsync/failure-detector';

/** Sends `count` heartbeats `intervalMs` apart starting at 0; returns the last time. */
function steady(detector: PhiAccrualFailureDetector, count: number, intervalMs = 1000): number {
  for (let index = 0; index < count; index += 1) detector.heartbeat(index * intervalMs);
  return (count - 1) * intervalMs;
}

/** A small deterministic generator (xorshift32), so jitter is the same on every run. */
function jitterSource(seed: number): () => number {
  let state = seed;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 0x1_0000_0000;
  };
}

describe('phi over silence', () => {
  it('grows strictly with silence after the mean and crosses the threshold once', () => {
    const detector = new PhiAccrualFailureDetector();
    const last = steady(detector, 20);
    let previous = detector.phi(last);
    let crossings = 0;
    for (let silenceMs = 100; silenceMs <= 20_000; silenceMs += 100) {
      const phi = detector.phi(last + silenceMs);
      if (silenceMs > 3000) expect(phi).toBeGreaterThan(previous);
      else expect(phi).toBeGreaterThanOrEqual(previous);
      if (previous < 8 && phi >= 8) crossings += 1;
      previous = phi;
    }
    expect(crossings).toBe(1);
    expect(detector.isAvailable(last + 20_000)).toBe(false);
  });

  it('is available right after a heartbeat and unavailable after long silence', () => {
    const detector = new PhiAccrualFailureDetector();
    const last = steady(detector, 10);
    expect(detector.isAvailable(last + 1000)).toBe(true);
    expect(detector.isAvailable(last + 60_000)).toBe(false);
  });
});

describe('acceptable heartbeat pause', () => {
  it('shifts the whole curve right by exactly the pause', () => {
    const withPause = new PhiAccrualFailureDetector({ acceptableHeartbeatPauseMs: 3000 });
    const without = new PhiAccrualFailureDetector({ acceptableHeartbeatPauseMs: 0 });
    steady(withPause, 50);
    const last = steady(without, 50);
    for (const elapsedMs of [0, 500, 1000, 1500, 2000, 2500]) {
      expect(withPause.phi(last + elapsedMs + 3000)).toBeCloseTo(without.phi(last + elapsedMs), 12);
    }
  });

  it('tolerates a 4 s silence with the default 3 s pause but not without a pause', () => {
    const withPause = new PhiAccrualFailureDetector();
    const without = new PhiAccrualFailureDetector({ acceptableHeartbeatPauseMs: 0 });
    steady(withPause, 50);
    const last = steady(without, 50);
    expect(withPause.isAvailable(last + 4000)).toBe(true);
    expect(without.isAvailable(last + 4000)).toBe(false);
  });

  it('leaves the gap after an unavailable period out of the history (Akka)', () => {
    const detector = new PhiAccrualFailureDetector();
    const last = steady(detector, 50);
    const before = detector.stats();
    expect(detector.heartbeat(last + 60_000)).toBe('skipped-after-pause');
    expect(detector.stats()).toEqual(before);
    expect(detector.lastHeartbeatMs).toBe(last + 60_000);
    expect(detector.phi(last + 60_000)).toBeLessThan(1);
  });
});

describe('bounded window', () => {
  it('a huge interval leaves no rounding residue in mean and sd once it is evicted', () => {
    // The pause is so long that even a 2^31 - 1 ms gap counts as available and is recorded.
    const detector = new PhiAccrualFailureDetector({
      maxSampleSize: 10,
      acceptableHeartbeatPauseMs: 2 ** 31 - 1,
    });
    let nowMs = 0;
    detector.heartbeat(nowMs);
    expect(detector.heartbeat((nowMs += 2 ** 31 - 1))).toBe('recorded');
    // Then intervals of 990 and 1010 in turn: the last 10 have mean 1000 and sd exactly 10.
    // Running sums alone would keep ~1e3 of rounding from the 4.6e18 square and report sd 0.
    for (let index = 0; index < 30; index += 1) {
      detector.heartbeat((nowMs += index % 2 === 0 ? 990 : 1010));
    }
    expect(detector.stats()).toEqual({
      sampleCount: 10,
      intervalMeanMs: 1000,
      intervalStdDeviationMs: 10,
    });
  });
});

describe('jittery heartbeats', () => {
  it('never suspects a peer whose heartbeats jitter by +-300 ms around 1 s', () => {
    const random = jitterSource(12345);
    const detector = new PhiAccrualFailureDetector();
    let nowMs = 0;
    let maxPhi = 0;
    for (let index = 0; index < 5000; index += 1) {
      nowMs += 700 + 600 * random();
      maxPhi = Math.max(maxPhi, detector.phi(nowMs));
      expect(detector.heartbeat(nowMs)).toBe(index === 0 ? 'first' : 'recorded');
    }
    expect(maxPhi).toBeLessThan(1);
    const stats = detector.stats()!;
    expect(stats.sampleCount).toBe(1000);
    expect(stats.intervalMeanMs).toBeGreaterThan(950);
    expect(stats.intervalMeanMs).toBeLessThan(1050);
    // A uniform spread of 600 ms has sd 600 / sqrt(12) = 173 ms.
    expect(stats.intervalStdDeviationMs).toBeGreaterThan(150);
    expect(stats.intervalStdDeviationMs).toBeLessThan(200);
    expect(detector.isAvailable(nowMs + 30_000)).toBe(false);
  });

  it('suspects a jittery peer later than a regular one (a wider sd flattens the curve)', () => {
    const random = jitterSource(99);
    const jittery = new PhiAccrualFailureDetector();
    const regular = new PhiAccrualFailureDetector();
    let nowMs = 0;
    for (let index = 0; index < 1000; index += 1) {
      jittery.heartbeat(nowMs + (random() - 0.5) * 800);
      regular.heartbeat(nowMs);
      nowMs += 1000;
    }
    const last = nowMs - 1000;
    expect(jittery.phi(last + 4800)).toBeLessThan(regular.phi(last + 4800));
  });
});

describe('clock going backwards', () => {
  it('does not throw, records no negative interval and keeps phi finite', () => {
    const detector = new PhiAccrualFailureDetector();
    const last = steady(detector, 10);
    const before = detector.stats();
    expect(detector.heartbeat(last - 50_000)).toBe('skipped-clock-went-backwards');
    expect(detector.stats()).toEqual(before);
    for (const nowMs of [last - 100_000, last - 50_000, last, last + 1000]) {
      const phi = detector.phi(nowMs);
      expect(Number.isFinite(phi)).toBe(true);
      expect(phi).toBeGreaterThanOrEqual(0);
    }
    // The clock restarts from the earlier time: the next heartbeat 1 s later is recorded.
    expect(detector.heartbeat(last - 49_000)).toBe('recorded');
  });

  it('gives phi near 0 when asked about a time before the last heartbeat', () => {
    const detector = new PhiAccrualFailureDetector();
    const last = steady(detector, 10);
    expect(detector.phi(last - 10_000)).toBeLessThan(1e-6);
  });
});

describe('hostile inputs', () => {
  const weird = [
    Number.NaN,
    Infinity,
    -Infinity,
    -1,
    0,
    -0,
    1e308,
    -1e308,
    Number.MAX_VALUE,
    -Number.MAX_VALUE,
    Number.MIN_VALUE,
    Number.MAX_SAFE_INTEGER,
    2 ** 53 + 2,
  ];

  it('never yields NaN or Infinity from phi, whatever heartbeat and query times it gets', () => {
    for (const first of weird) {
      for (const second of weird) {
        const detector = new PhiAccrualFailureDetector();
        detector.heartbeat(first);
        detector.heartbeat(second);
        for (const query of weird) {
          const phi = detector.phi(query);
          expect(Number.isFinite(phi), `${first}, ${second} -> phi(${query}) = ${phi}`).toBe(true);
          expect(phi).toBeGreaterThanOrEqual(0);
          expect(typeof detector.isAvailable(query)).toBe('boolean');
        }
        const stats = detector.stats();
        if (stats !== undefined) {
          expect(Number.isFinite(stats.intervalMeanMs)).toBe(true);
          expect(Number.isFinite(stats.intervalStdDeviationMs)).toBe(true);
        }
      }
    }
  });

  it('ignores heartbeats at NaN or infinite times', () => {
    const detector = new PhiAccrualFailureDetector();
    expect(detector.heartbeat(Number.NaN)).toBe('ignored-invalid-time');
    expect(detector.heartbeat(Infinity)).toBe('ignored-invalid-time');
    expect(detector.isMonitoring).toBe(false);
  });

  it('computePhi stays finite for any mean and deviation, including 0, negative and NaN', () => {
    for (const elapsed of weird) {
      for (const mean of weird) {
        for (const deviation of weird) {
          const phi = computePhi(elapsed, mean, deviation);
          expect(Number.isFinite(phi), `computePhi(${elapsed}, ${mean}, ${deviation})`).toBe(true);
          expect(phi).toBeGreaterThanOrEqual(0);
        }
      }
    }
  });

  it('reset() returns the detector to its unmonitored state', () => {
    const detector = new PhiAccrualFailureDetector();
    const last = steady(detector, 10);
    detector.reset();
    expect(detector.isMonitoring).toBe(false);
    expect(detector.phi(last + 100_000)).toBe(0);
    expect(detector.stats()).toBeUndefined();
    expect(detector.heartbeat(5)).toBe('first');
  });
});
