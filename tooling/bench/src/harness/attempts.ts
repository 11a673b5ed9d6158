// "How long until the first write succeeds?": used for the time from launch to the first
// committed write and for failover after kill -9. A new attempt starts every `attemptEveryMs`
// while earlier ones may still hang on a dead connection, so the answer is not rounded up to a
// request timeout; the first attempt to succeed ends the wait.
import { BenchError } from '../errors.js';

export interface FirstSuccessOptions {
  /** One attempt; `attempt` counts from 0. Resolves on success, rejects on failure. */
  readonly attempt: (attempt: number) => Promise<void>;
  /** The moment the measured interval started (performance.now()). */
  readonly startedMs: number;
  readonly timeoutMs: number;
  readonly attemptEveryMs?: number;
  readonly maxInFlight?: number;
  /** For the error message. */
  readonly what: string;
}

/** Milliseconds from `startedMs` to the first successful attempt's answer. */
export function timeToFirstSuccess(options: FirstSuccessOptions): Promise<number> {
  const maxInFlight = options.maxInFlight ?? 256;
  return new Promise((resolve, reject) => {
    let done = false;
    let inFlight = 0;
    let attempts = 0;
    let lastError: unknown;
    const finish = (outcome: () => void): void => {
      done = true;
      clearInterval(timer);
      outcome();
    };
    const fire = (): void => {
      if (done || inFlight >= maxInFlight) return;
      if (performance.now() - options.startedMs > options.timeoutMs) {
        const message = `no successful ${options.what} within ${options.timeoutMs} ms (${attempts} attempts)`;
        finish(() => {
          reject(new BenchError('START_TIMEOUT', message, { cause: lastError }));
        });
        return;
      }
      inFlight += 1;
      const attempt = attempts;
      attempts += 1;
      options.attempt(attempt).then(
        () => {
          inFlight -= 1;
          if (!done)
            finish(() => {
              resolve(performance.now() - options.startedMs);
            });
        },
        (error: unknown) => {
          inFlight -= 1;
          lastError = error;
        },
      );
    };
    const timer = setInterval(fire, options.attemptEveryMs ?? 20);
    fire();
  });
}

/** Runs `task` for indexes 0..count-1 with at most `concurrency` at once. */
export async function forEachBounded(options: {
  count: number;
  concurrency: number;
  task: (index: number) => Promise<void>;
}): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < options.count) {
      const index = next;
      next += 1;
      await options.task(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, options.count) }, worker));
}
