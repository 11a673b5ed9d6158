// What every workload gives the campaign: client loops that record a history while the
// nemesis runs, a final phase after the cluster healed, and the checkers' verdicts.
import type { Cluster } from '../cluster/cluster.js';
import type { Random } from '../random.js';

export type OpStatus = 'ok' | 'fail' | 'unknown';

/** One checker's verdict as the report shows it. */
export interface CheckerReport {
  readonly checker: string;
  /** 'unknown': the checker could not decide (search budget spent). */
  readonly valid: boolean | 'unknown';
  readonly summary: string;
  /** Counts, and on failure the smallest window of the history that shows it. */
  readonly details: unknown;
}

export interface WorkloadContext {
  readonly cluster: Cluster;
  readonly random: Random;
  /** Milliseconds since the campaign started. */
  readonly now: () => number;
  /** The client loops stop when this aborts. */
  readonly signal: AbortSignal;
  /** A progress or diagnostic line. */
  readonly log: (line: string) => void;
}

export interface WorkloadStats {
  readonly operations: number;
  readonly ok: number;
  readonly fail: number;
  readonly unknown: number;
  /** Per operation type, e.g. { read: { ok, fail, unknown } }. */
  readonly byType: Record<string, { ok: number; fail: number; unknown: number }>;
}

export interface Workload {
  readonly name: string;
  /** Runs the client loops until `context.signal` aborts. */
  run(context: WorkloadContext): Promise<void>;
  /** After the nemesis healed everything and the cluster is ready: final reads, the drain. */
  finish(context: WorkloadContext): Promise<void>;
  check(): CheckerReport[];
  stats(): WorkloadStats;
  /** The raw history, as written to history.json. */
  history(): unknown;
  /** Replaces the history with one read back from history.json (to check it again). */
  load(history: unknown): void;
}

/** Counts of a list of recorded operations by type and status. */
export function countOps(
  ops: readonly { readonly f: string; readonly status: OpStatus }[],
): WorkloadStats {
  const byType: Record<string, { ok: number; fail: number; unknown: number }> = {};
  const totals = { ok: 0, fail: 0, unknown: 0 };
  for (const op of ops) {
    const counts = (byType[op.f] ??= { ok: 0, fail: 0, unknown: 0 });
    counts[op.status] += 1;
    totals[op.status] += 1;
  }
  return { operations: ops.length, ...totals, byType };
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** JSON writes Infinity as null: an unknown return time read back from history.json. */
export function unknownReturn<T extends { readonly returnMs: number }>(op: T): T {
  return typeof op.returnMs === 'number' ? op : { ...op, returnMs: Infinity };
}
