// The lock workload: clients with sessions take exclusive locks (`/v1/locks/{name}/acquire`),
// and while holding one write to a fenced resource: a kv key holding the highest token that
// wrote, updated by compare-and-set only when the writer's token is not older. Checked with
// the fenced mutex checker (one holder at a time within the leases clients confirmed, tokens
// increasing, no stale token accepted by the resource).
import {
  checkMutex,
  type AcquireOp,
  type Outcome,
  type ReleaseOp,
  type ResourceWrite,
} from '../checkers/mutex.js';
import { errorOf, outcomeOf, requestJson, type HttpOutcome } from '../http.js';
import type { Random } from '../random.js';
import {
  countOps,
  pause,
  unknownReturn,
  type CheckerReport,
  type Workload,
  type WorkloadContext,
  type WorkloadStats,
} from './types.js';

export interface LockWorkloadOptions {
  readonly locks?: number;
  readonly clients?: number;
  /** Session TTL; a client confirms its lease (keepalive) right before each acquire. */
  readonly sessionTtlMs?: number;
  readonly requestTimeoutMs?: number;
  /**
   * The share of holds in which the client stalls past its session TTL before its last write
   * (a GC pause, a swapped-out process): the lock may pass to another client meanwhile, and the
   * resource must refuse the late write by its token. Default 0.1.
   */
  readonly stallProbability?: number;
  /** How far past the session TTL a stall lasts; default 500 ms. */
  readonly stallPastTtlMs?: number;
  /**
   * A negative control: the resource skips its token check (a plain compare-and-set), so a
   * stalled client's late write goes through and the checker must report it. Its locks and
   * resource keys are its own (`ul*`), so it can run beside the real workload.
   */
  readonly unfenced?: boolean;
}

/**
 * The drift bound the lock service's leases assume (as the LockClient's `clockDriftMax`): a
 * leader whose clock runs at most 1% fast expires a session no sooner than TTL × 0.99 after the
 * keep-alive was sent, so that is how long a client may count on it.
 */
export const LOCK_LEASE_DRIFT_MAX = 0.01;

function leaseMs(ttlMs: number): number {
  return ttlMs * (1 - LOCK_LEASE_DRIFT_MAX);
}

interface Session {
  id: string;
  /** Until when the client knows its session is alive (keepalive call + TTL less drift). */
  validUntilMs: number;
}

export class LockWorkload implements Workload {
  readonly name: string;
  readonly #options: Required<LockWorkloadOptions>;
  readonly acquires: AcquireOp[] = [];
  readonly releases: ReleaseOp[] = [];
  readonly writes: ResourceWrite[] = [];
  readonly #other: { f: string; status: Outcome; error?: string }[] = [];
  #counter = 0;
  /** Holds in which the client stalled past its lease on purpose. */
  stalls = 0;

  constructor(options: LockWorkloadOptions = {}) {
    this.name = options.unfenced === true ? 'lock-unfenced' : 'lock';
    this.#options = {
      unfenced: options.unfenced ?? false,
      locks: options.locks ?? 2,
      clients: options.clients ?? 4,
      sessionTtlMs: options.sessionTtlMs ?? 3000,
      requestTimeoutMs: options.requestTimeoutMs ?? 4000,
      stallProbability: options.stallProbability ?? 0.1,
      stallPastTtlMs: options.stallPastTtlMs ?? 500,
    };
  }

  #id(): number {
    this.#counter += 1;
    return this.#counter;
  }

  async #post(
    context: WorkloadContext,
    at: { node: number; path: string; body?: unknown },
  ): Promise<HttpOutcome> {
    return requestJson({
      url: `${context.cluster.url(at.node)}${at.path}`,
      method: 'POST',
      body: at.body ?? {},
      timeoutMs: this.#options.requestTimeoutMs,
    });
  }

  async run(context: WorkloadContext): Promise<void> {
    await Promise.all(
      Array.from({ length: this.#options.clients }, (_, index) => this.#client(context, index)),
    );
  }

  async #session(
    context: WorkloadContext,
    node: number,
    current: Session | undefined,
  ): Promise<Session | undefined> {
    if (current !== undefined) {
      const callMs = context.now();
      const kept = await this.#post(context, {
        node,
        path: `/v1/sessions/${encodeURIComponent(current.id)}/keepalive`,
      });
      const status = outcomeOf(kept);
      this.#other.push({ f: 'keepalive', status });
      if (status === 'ok')
        return { id: current.id, validUntilMs: callMs + leaseMs(this.#options.sessionTtlMs) };
      if (status === 'unknown') return undefined;
    }
    const callMs = context.now();
    const created = await this.#post(context, {
      node,
      path: '/v1/sessions',
      body: { ttlMs: this.#options.sessionTtlMs },
    });
    const status = outcomeOf(created);
    this.#other.push({ f: 'session', status });
    if (created.kind !== 'answer' || status !== 'ok') return undefined;
    const id = (created.body as { sessionId?: unknown }).sessionId;
    return typeof id === 'string'
      ? { id, validUntilMs: callMs + leaseMs(this.#options.sessionTtlMs) }
      : undefined;
  }

  async #client(context: WorkloadContext, process: number): Promise<void> {
    const random = context.random.fork();
    let session: Session | undefined;
    while (!context.signal.aborted) {
      const nodes = context.cluster.available();
      if (nodes.length === 0) {
        await pause(50, context.signal);
        continue;
      }
      const node = random.pick(nodes);
      session = await this.#session(context, node, session);
      if (session === undefined) {
        await pause(100, context.signal);
        continue;
      }
      const prefix = this.#options.unfenced ? 'ul' : 'lk';
      const lock = `${prefix}${random.int(0, this.#options.locks - 1)}`;
      const kept = await this.#holdOnce(context, { process, node, lock, session, random });
      if (!kept) session = undefined; // an unknown acquire or release: let that session expire
      await pause(random.int(5, 30), context.signal);
    }
  }

  /** One acquire, a few fenced writes, one release; false when the session must be dropped. */
  async #holdOnce(
    context: WorkloadContext,
    at: { process: number; node: number; lock: string; session: Session; random: Random },
  ): Promise<boolean> {
    const callMs = context.now();
    const answer = await this.#post(context, {
      node: at.node,
      path: `/v1/locks/${at.lock}/acquire`,
      body: { sessionId: at.session.id, mode: 'exclusive', timeoutMs: 1000 },
    });
    const outcome = outcomeOf(answer);
    const token = answer.kind === 'answer' ? (answer.body as { token?: unknown }).token : undefined;
    const acquire: AcquireOp = {
      id: this.#id(),
      process: at.process,
      lock: at.lock,
      callMs,
      returnMs: outcome === 'unknown' ? Infinity : context.now(),
      outcome,
      ...(outcome === 'ok' && typeof token === 'number' ? { token } : {}),
      leaseValidUntilMs: at.session.validUntilMs,
    };
    this.acquires.push(acquire);
    if (outcome !== 'ok' || acquire.token === undefined) return outcome !== 'unknown';
    const writes = at.random.int(1, 2);
    const stall = at.random.next() < this.#options.stallProbability;
    for (let i = 0; i < writes; i += 1) {
      if (stall && i === writes - 1) {
        this.stalls += 1;
        await pause(this.#options.sessionTtlMs + this.#options.stallPastTtlMs);
      }
      await this.#fencedWrite(context, {
        process: at.process,
        node: at.node,
        lock: at.lock,
        token: acquire.token,
      });
    }
    const releaseCallMs = context.now();
    const released = await this.#post(context, {
      node: at.node,
      path: `/v1/locks/${at.lock}/release`,
      body: { sessionId: at.session.id, token: acquire.token },
    });
    const releaseOutcome = outcomeOf(released);
    this.releases.push({
      id: this.#id(),
      process: at.process,
      lock: at.lock,
      callMs: releaseCallMs,
      returnMs: releaseOutcome === 'unknown' ? Infinity : context.now(),
      outcome: releaseOutcome,
    });
    return releaseOutcome !== 'unknown';
  }

  /**
   * The protected resource: kv key `fenced-<lock>` holds `{ token, writer }`. A write reads it,
   * refuses when the stored token is newer, else swaps by version (so check and write are one
   * atomic step). The order of accepted writes is their kv version (the Raft index).
   */
  async #fencedWrite(
    context: WorkloadContext,
    at: { process: number; node: number; lock: string; token: number },
  ): Promise<void> {
    const url = `${context.cluster.url(at.node)}/v1/kv/fenced-${at.lock}`;
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const read = await requestJson({ url, timeoutMs: this.#options.requestTimeoutMs });
      if (read.kind !== 'answer' || (read.status !== 200 && read.status !== 404)) return;
      const body = read.body as { value?: { token?: number }; version?: number };
      const stored = read.status === 404 ? 0 : (body.value?.token ?? 0);
      const version = read.status === 404 ? 0 : (body.version ?? 0);
      if (stored > at.token && !this.#options.unfenced) {
        this.writes.push({
          id: this.#id(),
          process: at.process,
          lock: at.lock,
          token: at.token,
          order: version,
          accepted: false,
        });
        return;
      }
      const swapped = await requestJson({
        url: `${url}/cas`,
        method: 'POST',
        body: { expectedVersion: version, value: { token: at.token, writer: at.process } },
        timeoutMs: this.#options.requestTimeoutMs,
      });
      if (swapped.kind === 'answer' && swapped.status === 200) {
        const written = (swapped.body as { version?: number }).version ?? 0;
        this.writes.push({
          id: this.#id(),
          process: at.process,
          lock: at.lock,
          token: at.token,
          order: written,
          accepted: true,
        });
        return;
      }
      if (swapped.kind !== 'answer' || errorOf(swapped.body)?.code !== 'CONFLICT') return;
    }
  }

  finish(): Promise<void> {
    return Promise.resolve();
  }

  check(): CheckerReport[] {
    const verdict = checkMutex({
      acquires: this.acquires,
      releases: this.releases,
      writes: this.writes,
    });
    return [
      {
        checker: 'fenced-mutex',
        valid: verdict.valid,
        summary: verdict.valid
          ? `${verdict.grants} grants, one holder at a time, tokens increasing; resource accepted ${verdict.writesAccepted}, refused ${verdict.writesRejected} stale (${this.stalls} holds stalled past their lease)`
          : `${verdict.violations.length} violations: ${[...new Set(verdict.violations.map((v) => v.kind))].join(', ')}`,
        details: { ...verdict, violations: verdict.violations.slice(0, 10) },
      },
    ];
  }

  stats(): WorkloadStats {
    return countOps([
      ...this.acquires.map((op) => ({ f: 'acquire', status: op.outcome })),
      ...this.releases.map((op) => ({ f: 'release', status: op.outcome })),
      ...this.writes.map((op) => ({
        f: op.accepted ? 'write-accepted' : 'write-refused',
        status: 'ok' as const,
      })),
      ...this.#other.map((op) => ({ f: op.f, status: op.status })),
    ]);
  }

  history(): unknown {
    return { acquires: this.acquires, releases: this.releases, writes: this.writes };
  }

  load(history: unknown): void {
    const loaded = history as {
      acquires: AcquireOp[];
      releases: ReleaseOp[];
      writes: ResourceWrite[];
    };
    this.acquires.splice(0, this.acquires.length, ...loaded.acquires.map(unknownReturn));
    this.releases.splice(0, this.releases.length, ...loaded.releases.map(unknownReturn));
    this.writes.splice(0, this.writes.length, ...loaded.writes);
  }
}
