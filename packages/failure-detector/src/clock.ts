import type { HeartbeatMonitor } from './monitor.js';
import { invalidOption } from './errors.js';
import { MAX_DURATION_MS, optionsObject } from './validate.js';

/** Options of {@link startMonitorClock}. */
export interface MonitorClockOptions {
  /** The monitor to drive; only its `check` is used. */
  readonly monitor: Pick<HeartbeatMonitor, 'check'>;
  /** How often to call `check`, in milliseconds (1 to 2^31 - 1). */
  readonly intervalMs: number;
  /** The clock passed to `check`; default `performance.now()`, which never goes backwards. */
  readonly now?: () => number;
  /**
   * Receives what `check` throws (only `LISTENER_FAILED`, from a throwing listener). By default
   * the error is rethrown from the timer, which crashes the process like any uncaught error.
   */
  readonly onError?: (error: unknown) => void;
}

/**
 * Calls `monitor.check(now())` every `intervalMs` on an unref'd interval (it never keeps the
 * process alive) and returns the function that stops it. The detector and monitor stay pure;
 * this is the only timer in the package, and it is optional.
 */
export function startMonitorClock(options: MonitorClockOptions): () => void {
  const raw = optionsObject(options, 'options', ['monitor', 'intervalMs', 'now', 'onError']);
  const monitor = raw.monitor as Partial<MonitorClockOptions['monitor']> | undefined;
  if (typeof monitor?.check !== 'function') {
    throw invalidOption('monitor', 'an object with a check(nowMs) method', monitor);
  }
  // intervalMs has no default: an explicit schedule is part of the host's design.
  const intervalRule = `a number of milliseconds from 1 to ${MAX_DURATION_MS}`;
  const intervalMs = raw.intervalMs;
  if (typeof intervalMs !== 'number' || !(intervalMs >= 1 && intervalMs <= MAX_DURATION_MS)) {
    throw invalidOption('intervalMs', intervalRule, intervalMs);
  }
  if (raw.now !== undefined && typeof raw.now !== 'function') {
    throw invalidOption('now', 'a function returning milliseconds', raw.now);
  }
  if (raw.onError !== undefined && typeof raw.onError !== 'function') {
    throw invalidOption('onError', 'a function', raw.onError);
  }
  const now = options.now ?? (() => performance.now());
  const { onError } = options;
  const timer = setInterval(() => {
    try {
      options.monitor.check(now());
    } catch (error: unknown) {
      if (onError === undefined) throw error;
      onError(error);
    }
  }, intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
  };
}
