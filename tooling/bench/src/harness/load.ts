// Closed-loop load: N clients, each issuing its next operation as soon as the previous one
// answered. Every run is bounded twice, by a duration and by an operation count, and stops
// early when errors pile up.
import { LatencyHistogram, type LatencySummary } from './histogram.js';

export interface ClosedLoopOptions {
  /** For progress lines (`kv put distsync`). */
  readonly label: string;
  readonly concurrency: number;
  readonly durationMs: number;
  readonly maxOperations: number;
  /** Stop when more operations than this have failed (default 100). */
  readonly maxErrors?: number;
  /** One operation of client `client`; its `sequence` is that client's counter. */
  readonly operation: (client: number, sequence: number) => Promise<void>;
  /** Where progress lines go (every `progressEveryMs`); omit for silence. */
  readonly progress?: (line: string) => void;
  readonly progressEveryMs?: number;
}

export interface ClosedLoopResult {
  readonly concurrency: number;
  readonly operations: number;
  readonly errors: number;
  readonly firstError?: string;
  readonly elapsedMs: number;
  readonly opsPerSecond: number;
  readonly latency: LatencySummary;
  /** Why the run ended. */
  readonly stoppedBy: 'duration' | 'count' | 'errors';
}

interface RunState {
  issued: number;
  completed: number;
  errors: number;
  firstError: string | undefined;
  stoppedBy: ClosedLoopResult['stoppedBy'] | undefined;
}

function validate(options: ClosedLoopOptions): void {
  if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
    throw new RangeError(`concurrency must be an integer >= 1 (got ${options.concurrency})`);
  }
  if (!(options.durationMs > 0)) {
    throw new RangeError(`durationMs must be > 0 (got ${options.durationMs})`);
  }
  if (!Number.isInteger(options.maxOperations) || options.maxOperations < 1) {
    throw new RangeError(`maxOperations must be an integer >= 1 (got ${options.maxOperations})`);
  }
}

export async function runClosedLoop(options: ClosedLoopOptions): Promise<ClosedLoopResult> {
  validate(options);
  const histogram = new LatencyHistogram();
  const state: RunState = {
    issued: 0,
    completed: 0,
    errors: 0,
    firstError: undefined,
    stoppedBy: undefined,
  };
  const maxErrors = options.maxErrors ?? 100;
  const startedMs = performance.now();
  const deadlineMs = startedMs + options.durationMs;

  const client = async (index: number): Promise<void> => {
    for (let sequence = 0; state.stoppedBy === undefined; sequence += 1) {
      if (performance.now() >= deadlineMs) state.stoppedBy = 'duration';
      else if (state.issued >= options.maxOperations) state.stoppedBy = 'count';
      if (state.stoppedBy !== undefined) break;
      state.issued += 1;
      const beginMs = performance.now();
      try {
        await options.operation(index, sequence);
        histogram.recordMs(performance.now() - beginMs);
        state.completed += 1;
      } catch (error) {
        state.errors += 1;
        state.firstError ??= error instanceof Error ? error.message : String(error);
        if (state.errors > maxErrors) state.stoppedBy = 'errors';
      }
    }
  };

  const progress = startProgress(options, state, startedMs);
  await Promise.all(Array.from({ length: options.concurrency }, (_, index) => client(index)));
  progress.stop();
  const elapsedMs = performance.now() - startedMs;
  return {
    concurrency: options.concurrency,
    operations: state.completed,
    errors: state.errors,
    ...(state.firstError === undefined ? {} : { firstError: state.firstError }),
    elapsedMs,
    opsPerSecond: state.completed / (elapsedMs / 1000),
    latency: histogram.summary(),
    stoppedBy: state.stoppedBy ?? 'duration',
  };
}

function startProgress(
  options: ClosedLoopOptions,
  state: RunState,
  startedMs: number,
): { stop: () => void } {
  const report = options.progress;
  if (report === undefined) return { stop: () => undefined };
  let lastCompleted = 0;
  let lastMs = startedMs;
  const timer = setInterval(() => {
    const nowMs = performance.now();
    const rate = ((state.completed - lastCompleted) * 1000) / (nowMs - lastMs);
    lastCompleted = state.completed;
    lastMs = nowMs;
    report(
      `  ${options.label} c=${options.concurrency} ${((nowMs - startedMs) / 1000).toFixed(1)}s ` +
        `${state.completed} ops, ${Math.round(rate)} ops/s now, ${state.errors} errors`,
    );
  }, options.progressEveryMs ?? 1000);
  return {
    stop: () => {
      clearInterval(timer);
    },
  };
}
