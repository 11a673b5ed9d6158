// Group commit for the queue service: sends, acks, nacks and extends that arrive in the same
// event-loop turn are packed into one `batch` command, so one Raft entry (one fsync, one round of
// replication) carries many of them; each caller still gets its own result. A lone operation
// goes as itself, keeping its client id and seq (exactly-once for retries).
import type { BatchableCommand } from '@distsync/queue';
import { apiError, type OperationResult } from '../errors.js';
import type { CommandSession, ServiceOperations } from './registry.js';

export interface QueueBatcherOptions {
  /** Operations per entry. */
  readonly maxOps: number;
  /** Estimated JSON bytes per entry (kept under the Raft command limit). */
  readonly maxBytes: number;
}

interface Pending {
  readonly op: BatchableCommand;
  readonly bytes: number;
  readonly session: CommandSession | undefined;
  readonly resolve: (result: OperationResult) => void;
}

export class QueueBatcher {
  readonly #operations: ServiceOperations;
  readonly #options: QueueBatcherOptions;
  #pending: Pending[] = [];
  #pendingBytes = 0;
  #scheduled = false;
  /** Entries proposed and operations carried (status and metrics). */
  entries = 0;
  operations = 0;

  constructor(operations: ServiceOperations, options: QueueBatcherOptions) {
    this.#operations = operations;
    this.#options = options;
  }

  submit(op: BatchableCommand, session: CommandSession | undefined): Promise<OperationResult> {
    const bytes = JSON.stringify(op).length + 16;
    return new Promise((resolve) => {
      if (this.#pendingBytes + bytes > this.#options.maxBytes) this.#flush();
      this.#pending.push({ op, bytes, session, resolve });
      this.#pendingBytes += bytes;
      if (this.#pending.length >= this.#options.maxOps) {
        this.#flush();
      } else if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => {
          this.#scheduled = false;
          this.#flush();
        });
      }
    });
  }

  #flush(): void {
    const batch = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    if (batch.length === 0) return;
    this.entries += 1;
    this.operations += batch.length;
    void this.#run(batch);
  }

  async #run(batch: readonly Pending[]): Promise<void> {
    const [only] = batch;
    if (batch.length === 1 && only !== undefined) {
      only.resolve(await this.#operations.command(only.op, only.session));
      return;
    }
    const outcome = await this.#operations.command({ op: 'batch', ops: batch.map((p) => p.op) });
    if (!outcome.ok) {
      for (const pending of batch) pending.resolve(outcome);
      return;
    }
    const results = (outcome.value as { results?: unknown }).results;
    batch.forEach((pending, index) => {
      const result = Array.isArray(results) ? (results[index] as unknown) : undefined;
      pending.resolve(asOperationResult(result));
    });
  }
}

function asOperationResult(result: unknown): OperationResult {
  if (typeof result !== 'object' || result === null || !('ok' in result)) {
    return apiError('INTERNAL', 'the queue batch returned no result for an operation');
  }
  const typed = result as { ok: boolean; value?: unknown; code?: string; message?: string };
  if (typed.ok) return { ok: true, value: typed.value };
  return apiError(
    (typed.code ?? 'INTERNAL') as Parameters<typeof apiError>[0],
    typed.message ?? 'the queue refused',
  );
}
