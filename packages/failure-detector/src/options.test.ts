// Proves every option is validated at construction with code INVALID_OPTION and a message that
// names the option and its rule, and that the defaults are Akka's.
import { describe, expect, it, vi } from 'vitest';
import {
  DEFAULT_PHI_ACCRUAL_OPTIONS,
  FailureDetectorError,
  HeartbeatMonitor,
  PhiAccrualFailureDetector,
  startMonitorClock,
} from '@distsync/failure-detector';

/** Runs `fn`, expects a FailureDetectorError with `code`, and returns its message. */
function failure(fn: () => unknown, code = 'INVALID_OPTION'): string {
  try {
    fn();
  } catch (error: unknown) {
    expect(error).toBeInstanceOf(FailureDetectorError);
    expect((error as FailureDetectorError).code).toBe(code);
    expect((error as FailureDetectorError).name).toBe('FailureDetectorError');
    return (error as FailureDetectorError).message;
  }
  expect.unreachable(`expected ${code}`);
  return '';
}

const badDetectorOptions: readonly (readonly [option: string, values: readonly unknown[]])[] = [
  ['threshold', [0, -1, Number.NaN, Infinity, '8', null]],
  ['maxSampleSize', [0, -5, 1.5, Number.NaN, 100_001, Infinity, '1000']],
  ['minStdDeviationMs', [0, -100, Number.NaN, Infinity, 2 ** 31, '100']],
  ['acceptableHeartbeatPauseMs', [-1, Number.NaN, Infinity, 2 ** 31, true]],
  ['firstHeartbeatEstimateMs', [0, -1000, Number.NaN, -Infinity, 2 ** 31, {}]],
];

describe('PhiAccrualFailureDetector options', () => {
  it('defaults to Akka: threshold 8, window 1000, sd floor 100 ms, pause 3 s, estimate 1 s', () => {
    expect(new PhiAccrualFailureDetector().options).toEqual({
      threshold: 8,
      maxSampleSize: 1000,
      minStdDeviationMs: 100,
      acceptableHeartbeatPauseMs: 3000,
      firstHeartbeatEstimateMs: 1000,
    });
    expect(DEFAULT_PHI_ACCRUAL_OPTIONS.threshold).toBe(8);
  });

  for (const [option, values] of badDetectorOptions) {
    it.each(values.map((value) => [value]))(`rejects ${option} = %s, naming it`, (value) => {
      const message = failure(() => new PhiAccrualFailureDetector({ [option]: value }));
      expect(message).toContain(option);
      expect(message).toMatch(/must be/);
    });
  }

  it('accepts the edges of every rule', () => {
    const detector = new PhiAccrualFailureDetector({
      threshold: 0.001,
      maxSampleSize: 1,
      minStdDeviationMs: 0.5,
      acceptableHeartbeatPauseMs: 0,
      firstHeartbeatEstimateMs: 2 ** 31 - 1,
    });
    expect(detector.options.maxSampleSize).toBe(1);
  });

  it('rejects an unknown (misspelt) option, naming it and the known ones', () => {
    const message = failure(() => new PhiAccrualFailureDetector({ treshold: 8 } as never));
    expect(message).toContain('treshold');
    expect(message).toContain('threshold');
  });

  it('rejects options that are not an object', () => {
    expect(failure(() => new PhiAccrualFailureDetector(42 as never))).toContain('options');
    expect(failure(() => new PhiAccrualFailureDetector(null as never))).toContain('options');
  });
});

describe('HeartbeatMonitor options', () => {
  it('defaults recoveryThreshold to threshold / 2 and validates its own limits', () => {
    const monitor = new HeartbeatMonitor({ threshold: 10 });
    expect(monitor.options.recoveryThreshold).toBe(5);
    expect(monitor.options.maxBufferedEvents).toBe(1024);
    expect(monitor.options.maxPeers).toBe(10_000);
    expect(monitor.options.autoAddPeers).toBe(true);
  });

  it.each([
    ['recoveryThreshold', 9],
    ['recoveryThreshold', 0],
    ['recoveryThreshold', Number.NaN],
    ['maxBufferedEvents', 0],
    ['maxBufferedEvents', 2.5],
    ['maxPeers', 0],
    ['maxPeers', 1e7],
    ['autoAddPeers', 'yes'],
    ['threshold', -2],
    ['maxSampleSize', 0],
  ] as const)('rejects %s = %s, naming it', (option, value) => {
    expect(failure(() => new HeartbeatMonitor({ [option]: value }))).toContain(option);
  });

  it('says which threshold a too-high recoveryThreshold must stay under', () => {
    expect(failure(() => new HeartbeatMonitor({ recoveryThreshold: 9 }))).toContain(
      'at most threshold (8)',
    );
  });
});

describe('startMonitorClock options', () => {
  const monitor = { check: vi.fn(() => []) };

  it.each([0, -1, Number.NaN, Infinity, 2 ** 31, undefined, '100'])(
    'rejects intervalMs = %s, naming it',
    (intervalMs) => {
      expect(failure(() => startMonitorClock({ monitor, intervalMs } as never))).toContain(
        'intervalMs',
      );
    },
  );

  it('rejects a missing monitor, a non-function now and a non-function onError', () => {
    expect(failure(() => startMonitorClock({ intervalMs: 10 } as never))).toContain('monitor');
    expect(
      failure(() => startMonitorClock({ monitor, intervalMs: 10, now: 5 } as never)),
    ).toContain('now');
    expect(
      failure(() => startMonitorClock({ monitor, intervalMs: 10, onError: 'x' } as never)),
    ).toContain('onError');
  });
});
