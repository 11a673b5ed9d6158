// Bounded polling for readiness: every wait has a deadline and gives up early when a process
// it depends on has exited, with that process's log tail in the error.
import { setTimeout as sleep } from 'node:timers/promises';
import { BenchError } from '../errors.js';
import { logTail, type ManagedProcess } from './processes.js';

export interface WaitOptions {
  /** What is awaited, for the error message (`etcd e1 healthy`). */
  readonly what: string;
  readonly timeoutMs: number;
  readonly intervalMs?: number;
  /** Processes that must stay alive while waiting. */
  readonly processes?: readonly ManagedProcess[];
}

/** Polls `check` until it returns true; a check that throws counts as not yet. */
export async function waitUntil(
  check: () => Promise<boolean>,
  options: WaitOptions,
): Promise<number> {
  const startedMs = performance.now();
  const deadlineMs = startedMs + options.timeoutMs;
  let lastError: unknown;
  while (performance.now() < deadlineMs) {
    const dead = options.processes?.find((process) => !process.isAlive());
    if (dead !== undefined) {
      throw new BenchError(
        'PROCESS_EXITED',
        `${dead.name} exited while waiting for ${options.what}; log tail:\n${logTail(dead)}`,
      );
    }
    try {
      if (await check()) return performance.now() - startedMs;
    } catch (error) {
      lastError = error;
    }
    await sleep(options.intervalMs ?? 50);
  }
  const tails = (options.processes ?? []).map((p) => `--- ${p.name}\n${logTail(p, 8)}`).join('\n');
  throw new BenchError(
    'START_TIMEOUT',
    `timed out after ${options.timeoutMs} ms waiting for ${options.what}` +
      (lastError === undefined
        ? ''
        : ` (last error: ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)})`) +
      (tails === '' ? '' : `\n${tails}`),
    { cause: lastError },
  );
}
