// Proves startMonitorClock calls check(now()) on its interval, stops when told, and routes
// errors to onError; fake timers drive it, so no real time passes.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { HeartbeatMonitor, startMonitorClock } from '@distsync/failure-detector';

afterEach(() => {
  vi.useRealTimers();
});

describe('startMonitorClock', () => {
  it('calls check with the injected clock every interval until stopped', () => {
    vi.useFakeTimers();
    const check = vi.fn((_nowMs: number) => []);
    let clockMs = 1000;
    const stop = startMonitorClock({
      monitor: { check },
      intervalMs: 100,
      now: () => (clockMs += 7),
    });
    vi.advanceTimersByTime(350);
    expect(check.mock.calls).toEqual([[1007], [1014], [1021]]);
    stop();
    stop();
    vi.advanceTimersByTime(1000);
    expect(check).toHaveBeenCalledTimes(3);
  });

  it('drives a real monitor to emit suspect for a silent peer', () => {
    vi.useFakeTimers();
    const monitor = new HeartbeatMonitor();
    const suspects: string[] = [];
    monitor.on('suspect', (event) => suspects.push(event.peerId));
    let clockMs = 0;
    monitor.heartbeat('a', clockMs);
    const stop = startMonitorClock({ monitor, intervalMs: 1000, now: () => clockMs });
    for (let second = 0; second < 10; second += 1) {
      clockMs += 1000;
      vi.advanceTimersByTime(1000);
    }
    stop();
    expect(suspects).toEqual(['a']);
  });

  it('hands what check throws to onError', () => {
    vi.useFakeTimers();
    const failure = new Error('listener failed');
    const errors: unknown[] = [];
    const stop = startMonitorClock({
      monitor: {
        check: () => {
          throw failure;
        },
      },
      intervalMs: 10,
      onError: (error) => errors.push(error),
    });
    vi.advanceTimersByTime(25);
    stop();
    expect(errors).toEqual([failure, failure]);
  });
});
