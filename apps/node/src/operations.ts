// Runs service operations through Raft and turns every outcome into an API result: Raft's own
// failures (no leader, timeout, stopped) and the services' domain errors (NOT_FOUND, CONFLICT)
// alike. HTTP routes and the /client handler both come through here, so they answer the same.
import type { CommandResult, QueryResult, RaftNode, RaftNodeFailure } from '@distsync/raft';
import { apiError, type NodeErrorCode, type OperationResult } from './errors.js';
import type { NodeMetrics } from './metrics.js';
import type { ServiceOperations } from './services/registry.js';

export interface OperationsOptions {
  readonly node: RaftNode;
  readonly metrics: NodeMetrics;
  readonly requestTimeoutMs: number;
  /** False while the node drains: new work is refused with UNAVAILABLE. */
  readonly accepting: () => boolean;
}

function raftFailure(
  node: RaftNode,
  failure: RaftNodeFailure,
  kind: 'command' | 'query',
): OperationResult {
  const codes: Record<RaftNodeFailure['code'], NodeErrorCode> = {
    NOT_LEADER: 'NO_LEADER',
    TIMEOUT: 'TIMEOUT',
    ABORTED: 'TIMEOUT',
    BAD_REQUEST: 'BAD_REQUEST',
    STOPPED: 'UNAVAILABLE',
    TOO_MANY_PENDING: 'UNAVAILABLE',
    STORAGE_STALLED: 'UNAVAILABLE',
    TOO_LARGE: 'TOO_LARGE',
  };
  // A read that timed out while no leader is known is an unavailable cluster, not a slow one.
  // A command stays TIMEOUT: it may already be in the log and still commit, and NO_LEADER means
  // "refused before it was ordered" (safe to send elsewhere without a duplicate).
  if (failure.code === 'TIMEOUT' && node.status().leaderId === null) {
    return kind === 'query'
      ? apiError('NO_LEADER', `no leader is known: ${failure.message}`)
      : apiError('TIMEOUT', `no leader is known; the command may still apply: ${failure.message}`);
  }
  return apiError(codes[failure.code], failure.message);
}

/** A state machine result (`ServiceResult`) as an OperationResult. */
function serviceOutcome(value: unknown): OperationResult {
  if (typeof value === 'object' && value !== null && 'ok' in value) {
    const result = value as {
      ok: boolean;
      value?: unknown;
      code?: NodeErrorCode;
      message?: string;
    };
    if (result.ok) return { ok: true, value: result.value };
    return apiError(result.code ?? 'INTERNAL', result.message ?? 'the service refused');
  }
  return { ok: true, value };
}

export class Operations {
  readonly #options: OperationsOptions;
  readonly #overrides = new Map<string, ServiceOperations>();
  #inFlight = 0;

  constructor(options: OperationsOptions) {
    this.#options = options;
  }

  /** Requests between arrival and answer (the drain waits for zero). */
  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * The operations of one service, as routes and the /client handler use them: the service's own
   * (`ServiceRuntime.operations`, which wait for grants or long-poll) when it brings them.
   */
  forService(service: string): ServiceOperations {
    return this.#overrides.get(service) ?? this.plain(service);
  }

  /** Installs a started service's operations in front of the plain ones. */
  override(service: string, operations: ServiceOperations): void {
    this.#overrides.set(service, operations);
  }

  /** A service's commands and queries straight through Raft. */
  plain(service: string): ServiceOperations {
    return {
      command: (payload, session) =>
        this.#run({ service, kind: 'command' }, (node, timeoutMs) =>
          node.command(service, payload, { ...session, timeoutMs }),
        ),
      query: (payload) =>
        this.#run({ service, kind: 'query' }, (node, timeoutMs) =>
          node.query(service, payload, { timeoutMs }),
        ),
    };
  }

  async #run(
    labels: { service: string; kind: 'command' | 'query' },
    call: (node: RaftNode, timeoutMs: number) => Promise<CommandResult | QueryResult>,
  ): Promise<OperationResult> {
    const { node, metrics, requestTimeoutMs } = this.#options;
    if (!this.#options.accepting()) {
      return apiError('UNAVAILABLE', 'the node is draining: send the request to another node');
    }
    const started = performance.now();
    this.#inFlight += 1;
    let outcome: OperationResult;
    try {
      const result = await call(node, requestTimeoutMs);
      outcome = result.ok ? serviceOutcome(result.value) : raftFailure(node, result, labels.kind);
    } finally {
      this.#inFlight -= 1;
    }
    metrics.observeOperation({
      ...labels,
      outcome: outcome.ok ? 'ok' : outcome.error.code,
      seconds: (performance.now() - started) / 1000,
    });
    return outcome;
  }
}
