// Properties over random inputs: phi is always finite and non-negative, it is monotone in the
// elapsed time for a fixed history, and the window stays bounded and matches a naive model.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { computePhi, PhiAccrualFailureDetector } from '@distsync/failure-detector';
import type { PhiAccrualOptions } from '@distsync/failure-detector';

const anyTime = fc.oneof(
  fc.double(),
  fc.double({ min: -1e7, max: 1e7, noNaN: true }),
  fc.integer({ min: 0, max: 10_000_000 }),
);

const validOptions: fc.Arbitrary<PhiAccrualOptions> = fc.record(
  {
    threshold: fc.double({ min: 0.01, max: 1e6, noNaN: true }),
    maxSampleSize: fc.integer({ min: 1, max: 50 }),
    minStdDeviationMs: fc.double({ min: 0.01, max: 10_000, noNaN: true }),
    acceptableHeartbeatPauseMs: fc.double({ min: 0, max: 100_000, noNaN: true }),
    firstHeartbeatEstimateMs: fc.double({ min: 0.01, max: 100_000, noNaN: true }),
  },
  { requiredKeys: [] },
);

describe('detector properties', () => {
  it('phi is finite and >= 0 for any options, heartbeat times and query time', () => {
    fc.assert(
      fc.property(
        validOptions,
        fc.array(anyTime, { maxLength: 60 }),
        anyTime,
        (options, beats, query) => {
          const detector = new PhiAccrualFailureDetector(options);
          for (const beat of beats) {
            detector.heartbeat(beat);
            const phi = detector.phi(beat);
            expect(Number.isFinite(phi) && phi >= 0).toBe(true);
          }
          const phi = detector.phi(query);
          expect(Number.isFinite(phi)).toBe(true);
          expect(phi).toBeGreaterThanOrEqual(0);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('phi is monotone non-decreasing in the query time for a fixed history', () => {
    fc.assert(
      fc.property(
        validOptions,
        fc.array(fc.integer({ min: 0, max: 5000 }), { minLength: 1, maxLength: 60 }),
        fc.double({ min: -1e9, max: 1e12, noNaN: true }),
        fc.double({ min: -1e9, max: 1e12, noNaN: true }),
        (options, gaps, a, b) => {
          const detector = new PhiAccrualFailureDetector(options);
          let nowMs = 0;
          for (const gap of gaps) detector.heartbeat((nowMs += gap));
          const [early, late] = a <= b ? [a, b] : [b, a];
          expect(detector.phi(late)).toBeGreaterThanOrEqual(detector.phi(early));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('computePhi is monotone in elapsed time for any mean and positive deviation', () => {
    fc.assert(
      fc.property(
        fc.double({ noNaN: true }),
        fc.double({ noNaN: true }),
        fc.double({ noNaN: true }),
        fc.double({ min: Number.MIN_VALUE, noNaN: true, noDefaultInfinity: true }),
        (a, b, mean, deviation) => {
          const [early, late] = a <= b ? [a, b] : [b, a];
          expect(computePhi(late, mean, deviation)).toBeGreaterThanOrEqual(
            computePhi(early, mean, deviation),
          );
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('the window never exceeds maxSampleSize and its mean and sd match a naive model', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.array(fc.integer({ min: 0, max: 3000 }), { maxLength: 200 }),
        (maxSampleSize, gaps) => {
          // A huge pause keeps every interval available, so each one is recorded.
          const detector = new PhiAccrualFailureDetector({
            maxSampleSize,
            acceptableHeartbeatPauseMs: 1_000_000,
          });
          const model: number[] = [];
          let nowMs = 0;
          detector.heartbeat(nowMs);
          model.push(750, 1250);
          for (const gap of gaps) {
            expect(detector.heartbeat((nowMs += gap))).toBe('recorded');
            model.push(gap);
          }
          const window = model.slice(-maxSampleSize);
          const mean = window.reduce((sum, x) => sum + x, 0) / window.length;
          const variance = window.reduce((sum, x) => sum + (x - mean) ** 2, 0) / window.length;
          const stats = detector.stats()!;
          expect(stats.sampleCount).toBe(window.length);
          expect(stats.sampleCount).toBeLessThanOrEqual(maxSampleSize);
          expect(stats.intervalMeanMs).toBeCloseTo(mean, 6);
          expect(stats.intervalStdDeviationMs).toBeCloseTo(Math.sqrt(variance), 4);
        },
      ),
      { numRuns: 300 },
    );
  });
});
