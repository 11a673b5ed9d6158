// Bookkeeping of a data-growth run: where the checkpoints are, and a bounded loader that
// writes keys [from, to) in batches, a few batches at a time, until the range is done, the
// deadline passes or a batch keeps failing.

/**
 * Checkpoints at every power of ten from `first` (10k by default: 10k, 100k, 1M, 10M) below
 * `keys`, then `keys` itself; ascending, no repeats.
 */
export function growthCheckpoints(keys: number, options: { first?: number } = {}): number[] {
  if (!Number.isInteger(keys) || keys < 1) {
    throw new RangeError(`keys must be an integer >= 1 (got ${keys})`);
  }
  const first = options.first ?? 10_000;
  let power = 1;
  while (power < first) power *= 10;
  if (!Number.isInteger(first) || power !== first) {
    throw new RangeError(`first must be a power of ten (got ${first})`);
  }
  const decades: number[] = [];
  for (let decade = first; decade < keys && decade <= 10_000_000; decade *= 10) {
    decades.push(decade);
  }
  return [...decades, keys];
}

export interface LoadKeysOptions {
  /** First key index to write. */
  readonly from: number;
  /** One past the last key index to write. */
  readonly to: number;
  readonly batchSize: number;
  /** Batches in flight at once. */
  readonly concurrency: number;
  /** No batch starts at or after this instant (`now()` clock); batches in flight finish. */
  readonly deadlineMs: number;
  /** Writes keys [from, to) (one txn, one MSET, or concurrent puts); throws on failure. */
  readonly putBatch: (batch: { from: number; to: number }) => Promise<void>;
  /** Tries per batch before the load stops with `errors` (default 3). */
  readonly maxAttempts?: number;
  readonly now?: () => number;
  /** Called after each batch with the keys written so far in this call. */
  readonly progress?: (written: number) => void;
}

export interface LoadKeysResult {
  /** Keys written by this call (a failed batch counts none of its keys). */
  readonly written: number;
  /** The next key index not handed to a batch: where the next call starts. */
  readonly next: number;
  readonly stoppedBy: 'done' | 'deadline' | 'errors';
  readonly batches: number;
  /** Failed attempts, including those a retry made good. */
  readonly failedAttempts: number;
  readonly firstError?: string;
  readonly elapsedMs: number;
}

export async function loadKeys(options: LoadKeysOptions): Promise<LoadKeysResult> {
  const { from, to, batchSize, concurrency } = options;
  if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || to < from) {
    throw new RangeError(`need integers 0 <= from <= to (got ${from}, ${to})`);
  }
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`batchSize must be an integer >= 1 (got ${batchSize})`);
  }
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`concurrency must be an integer >= 1 (got ${concurrency})`);
  }
  const now = options.now ?? (() => performance.now());
  const maxAttempts = options.maxAttempts ?? 3;
  const startedMs = now();
  const state = {
    next: from,
    written: 0,
    batches: 0,
    failedAttempts: 0,
    firstError: undefined as string | undefined,
    stoppedBy: undefined as LoadKeysResult['stoppedBy'] | undefined,
  };

  const worker = async (): Promise<void> => {
    while (state.stoppedBy === undefined) {
      if (state.next >= to) return;
      if (now() >= options.deadlineMs) {
        state.stoppedBy = 'deadline';
        return;
      }
      const batch = { from: state.next, to: Math.min(to, state.next + batchSize) };
      state.next = batch.to;
      for (let attempt = 1; ; attempt += 1) {
        try {
          await options.putBatch(batch);
          state.written += batch.to - batch.from;
          state.batches += 1;
          options.progress?.(state.written);
          break;
        } catch (error) {
          state.failedAttempts += 1;
          state.firstError ??= error instanceof Error ? error.message : String(error);
          if (attempt >= maxAttempts) {
            state.stoppedBy = 'errors';
            return;
          }
        }
      }
    }
  };

  await Promise.all(Array.from({ length: concurrency }, () => worker()));
  return {
    written: state.written,
    next: state.next,
    stoppedBy: state.stoppedBy ?? 'done',
    batches: state.batches,
    failedAttempts: state.failedAttempts,
    ...(state.firstError === undefined ? {} : { firstError: state.firstError }),
    elapsedMs: now() - startedMs,
  };
}
