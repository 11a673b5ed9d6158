// LockClient: distributed locks for an application over a ClusterConnection. It creates the
// client sessions that own its locks and keeps them alive, waits for grants through the node's
// `lock/session/<id>` pushes, gives up waits it abandons (cancel, so a late grant never stays
// held), and tells each holder when its lock is lost.
import { LockError, isLockErrorCode } from './errors.js';
import { LockModeSchema, type LockMode } from './messages.js';

/**
 * What the lock client needs of a connection (consumer-owned: `@distsync/transport-ws`'s
 * `connect()` satisfies it). Failed requests reject with an error that carries a string `code`.
 */
export interface ClusterConnection {
  query(
    service: string,
    payload: unknown,
    options?: { timeoutMs?: number; signal?: AbortSignal },
  ): Promise<unknown>;
  command(
    service: string,
    payload: unknown,
    options?: { timeoutMs?: number; signal?: AbortSignal },
  ): Promise<unknown>;
  subscribe(
    topic: string,
    handler: (payload: unknown) => void,
  ): (() => void) & { readonly ready: Promise<void> };
}

export const DEFAULT_SESSION_TTL_MS = 10_000;
export const DEFAULT_ACQUIRE_TIMEOUT_MS = 10_000;
/** How much longer than a wait the client gives the cluster to answer before it cancels. */
export const DEFAULT_ANSWER_SLACK_MS = 2000;
/** The clock drift the client allows for between itself and the cluster's leader (1%). */
export const DEFAULT_CLOCK_DRIFT_MAX = 0.01;

export interface LockClientOptions {
  readonly connection: ClusterConnection;
  /** TTL of the sessions that own the locks. Default 10 s. */
  readonly ttlMs?: number;
  /** Keep-alive period. Default a third of the TTL. */
  readonly keepaliveIntervalMs?: number;
  /** Wait of `acquire` without `timeoutMs`. Default 10 s. */
  readonly defaultTimeoutMs?: number;
  /** Extra time for answers beyond a wait before the client cancels it. Default 2 s. */
  readonly answerSlackMs?: number;
  /**
   * How much faster than this client's clock the leader's may run (a fraction, in [0, 0.5)):
   * the session counts as lost once TTL × (1 − clockDriftMax) passed since the last keep-alive
   * the cluster acknowledged was sent, never later than the cluster can expire it. Default 0.01.
   */
  readonly clockDriftMax?: number;
}

export interface AcquireOptions {
  /** Default `exclusive`. */
  readonly mode?: LockMode;
  /** How long to wait for the grant; 0 is a try-lock. Default `defaultTimeoutMs`. */
  readonly timeoutMs?: number;
  /** Aborting gives the wait up (`ABORTED`); a grant that raced it is released. */
  readonly signal?: AbortSignal;
  /** TTL of the owning session: locks with another TTL than the client's get their own session. */
  readonly ttlMs?: number;
  /** Acquiring it again from this client counts instead of failing with ALREADY_HELD. */
  readonly reentrant?: boolean;
}

/** Why a lock was lost: its session expired or was deleted, or keep-alives stopped working. */
export type LockLossReason = 'expired' | 'deleted' | 'keepalive-failed' | 'closed';

export interface LockHandle {
  readonly name: string;
  /** The fencing token: pass it to the resource you protect and let it refuse older tokens. */
  readonly token: number;
  readonly mode: LockMode;
  readonly sessionId: string;
  /** True once the lock is lost (session ended) or released. */
  readonly lost: boolean;
  /** Aborted when the lock is lost: hand it to work that must stop without the lock. */
  readonly signal: AbortSignal;
  on(event: 'lost', listener: (reason: LockLossReason) => void): () => void;
  /** Releases the lock (once; later calls do nothing). */
  release(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export type LockClientEvent = 'sessionLost';

interface SessionState {
  readonly sessionId: string;
  readonly ttlMs: number;
  readonly handles: Set<Handle>;
  /** Outcomes of queued requests, by requestId, from pushes. */
  readonly pending: Map<number, { since: number; settle: (push: RequestPush) => void }>;
  /** Pushes that came before their request was registered (bounded). */
  readonly early: Map<number, RequestPush>;
  lastKeepaliveMs: number;
  /** Set once the session is known to be gone; the next acquire makes a new one. */
  lost: boolean;
  timer: ReturnType<typeof setInterval> | undefined;
  unsubscribe: () => void;
}

type RequestPush =
  | { type: 'granted'; requestId: number; token: number; mode: LockMode }
  | { type: 'refused'; requestId: number; code: string; message: string };

const EARLY_PUSHES_MAX = 1024;

/** A function, so a check after an await is not narrowed away by the one before it. */
function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

function codeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  const code = error.code;
  return typeof code === 'string' ? code : undefined;
}

/** A connection error as a LockError when its code is one of ours; others are rethrown as is. */
function toLockError(error: unknown): unknown {
  const code = codeOf(error);
  if (!isLockErrorCode(code)) return error;
  return new LockError(code, error instanceof Error ? error.message : code, { cause: error });
}

function parsePush(
  payload: unknown,
): RequestPush | { type: 'lost'; name: string; reason: string } | undefined {
  if (typeof payload !== 'object' || payload === null) return undefined;
  const push = payload as Record<string, unknown>;
  if (push.type === 'lost' && typeof push.name === 'string') {
    return { type: 'lost', name: push.name, reason: String(push.reason) };
  }
  if (typeof push.requestId !== 'number') return undefined;
  if (push.type === 'granted' && typeof push.token === 'number') {
    const mode = LockModeSchema.safeParse(push.mode);
    return {
      type: 'granted',
      requestId: push.requestId,
      token: push.token,
      mode: mode.success ? mode.data : 'exclusive',
    };
  }
  if (push.type === 'refused') {
    return {
      type: 'refused',
      requestId: push.requestId,
      code: String(push.code),
      message: String(push.message),
    };
  }
  return undefined;
}

class Handle implements LockHandle {
  readonly #controller = new AbortController();
  readonly #listeners = new Set<(reason: LockLossReason) => void>();
  #released: Promise<void> | undefined;

  constructor(
    readonly client: LockClient,
    readonly grant: { name: string; token: number; mode: LockMode; session: SessionState },
  ) {}

  get name(): string {
    return this.grant.name;
  }
  get token(): number {
    return this.grant.token;
  }
  get mode(): LockMode {
    return this.grant.mode;
  }
  get sessionId(): string {
    return this.grant.session.sessionId;
  }
  get lost(): boolean {
    return this.#controller.signal.aborted;
  }
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  on(_event: 'lost', listener: (reason: LockLossReason) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  markLost(reason: LockLossReason): void {
    if (this.lost) return;
    this.grant.session.handles.delete(this);
    this.#controller.abort(new LockError('SESSION_LOST', `lock ${this.name} lost (${reason})`));
    for (const listener of this.#listeners) listener(reason);
  }

  release(): Promise<void> {
    this.#released ??= this.#release();
    return this.#released;
  }

  async #release(): Promise<void> {
    if (this.lost) return;
    this.grant.session.handles.delete(this);
    this.#controller.abort(new LockError('NOT_HELD', `lock ${this.name} was released`));
    await this.client.sendRelease(this.grant);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}

export class LockClient {
  readonly #options: Required<Omit<LockClientOptions, 'keepaliveIntervalMs'>> & {
    keepaliveIntervalMs: number | undefined;
  };
  readonly #sessions = new Map<number, Promise<SessionState>>();
  readonly #listeners = new Set<(sessionId: string, reason: LockLossReason) => void>();
  #closed = false;

  constructor(options: LockClientOptions) {
    this.#options = {
      connection: options.connection,
      ttlMs: options.ttlMs ?? DEFAULT_SESSION_TTL_MS,
      keepaliveIntervalMs: options.keepaliveIntervalMs,
      defaultTimeoutMs: options.defaultTimeoutMs ?? DEFAULT_ACQUIRE_TIMEOUT_MS,
      answerSlackMs: options.answerSlackMs ?? DEFAULT_ANSWER_SLACK_MS,
      clockDriftMax: options.clockDriftMax ?? DEFAULT_CLOCK_DRIFT_MAX,
    };
    for (const [key, value] of Object.entries(this.#options)) {
      if (typeof value === 'number' && (!Number.isFinite(value) || value < 0)) {
        throw new LockError('BAD_REQUEST', `${key} must be a non-negative number (got ${value})`);
      }
    }
    if (this.#options.clockDriftMax >= 0.5) {
      throw new LockError(
        'BAD_REQUEST',
        `clockDriftMax must be below 0.5 (got ${this.#options.clockDriftMax})`,
      );
    }
  }

  /** `sessionLost`: a session of this client ended; every lock it held is gone. */
  on(
    _event: LockClientEvent,
    listener: (sessionId: string, reason: LockLossReason) => void,
  ): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /**
   * Waits for the lock and returns its handle, or throws LockError: TIMEOUT, DEADLOCK,
   * ALREADY_HELD, TOO_MANY_WAITERS, ABORTED, SESSION_LOST, CLOSED (or the connection's error).
   */
  async acquire(name: string, options: AcquireOptions = {}): Promise<LockHandle> {
    try {
      return await this.#acquire(name, options);
    } catch (error) {
      // The session expired between two keep-alives: its locks are gone already; a new session
      // takes this request (once).
      if (!(error instanceof LockError) || error.code !== 'SESSION_EXPIRED') throw error;
      const stale = await this.#sessions
        .get(options.ttlMs ?? this.#options.ttlMs)
        ?.catch(() => undefined);
      if (stale !== undefined) this.#loseSession(stale, 'expired');
      return this.#acquire(name, options);
    }
  }

  async #acquire(name: string, options: AcquireOptions): Promise<LockHandle> {
    this.#checkOpen();
    const timeoutMs = options.timeoutMs ?? this.#options.defaultTimeoutMs;
    const mode = options.mode ?? 'exclusive';
    if (aborted(options.signal)) {
      throw new LockError('ABORTED', `acquire of ${name} was aborted`, {
        cause: options.signal?.reason,
      });
    }
    const session = await this.#session(options.ttlMs ?? this.#options.ttlMs);
    const payload = {
      op: 'acquire',
      name,
      sessionId: session.sessionId,
      mode,
      timeoutMs,
      wait: false,
      ...(options.reentrant === undefined ? {} : { reentrant: options.reentrant }),
    };
    // No signal on the command itself: its answer names the request, which an abort must cancel.
    const answer = (await this.#options.connection
      .command('lock', payload)
      .catch((error: unknown) => {
        throw toLockError(error);
      })) as { token?: number; mode?: LockMode; queued?: boolean; requestId?: number };
    if (typeof answer.token === 'number') {
      const handle = this.#handle(session, {
        name,
        token: answer.token,
        mode: answer.mode ?? mode,
      });
      if (aborted(options.signal)) {
        await handle.release();
        throw new LockError('ABORTED', `acquire of ${name} was aborted`, {
          cause: options.signal?.reason,
        });
      }
      return handle;
    }
    if (answer.queued !== true || typeof answer.requestId !== 'number') {
      throw new LockError('BAD_REQUEST', `unexpected acquire answer ${JSON.stringify(answer)}`);
    }
    const push = await this.#awaitOutcome(session, {
      requestId: answer.requestId,
      timeoutMs,
      signal: options.signal,
    });
    if (push.type === 'refused') {
      throw new LockError(isLockErrorCode(push.code) ? push.code : 'TIMEOUT', push.message);
    }
    return this.#handle(session, { name, token: push.token, mode: push.mode });
  }

  /** Runs `fn` while holding the lock and releases it afterwards, whatever `fn` does. */
  async withLock<T>(
    name: string,
    fn: (handle: LockHandle) => Promise<T> | T,
    options: AcquireOptions = {},
  ): Promise<T> {
    const handle = await this.acquire(name, options);
    try {
      return await fn(handle);
    } finally {
      await handle.release();
    }
  }

  /** Releases every held lock, ends the sessions and stops the keep-alives. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const sessions = await Promise.allSettled([...this.#sessions.values()]);
    this.#sessions.clear();
    await Promise.allSettled(
      sessions.map(async (settled) => {
        if (settled.status !== 'fulfilled') return;
        const session = settled.value;
        clearInterval(session.timer);
        session.unsubscribe();
        for (const handle of [...session.handles]) handle.markLost('closed');
        for (const { settle } of session.pending.values()) {
          settle({
            type: 'refused',
            requestId: 0,
            code: 'CLOSED',
            message: 'the lock client was closed',
          });
        }
        // Ending the session releases its locks on the cluster at once.
        await this.#options.connection.command('sessions', {
          op: 'delete',
          sessionId: session.sessionId,
        });
      }),
    );
  }

  #checkOpen(): void {
    if (this.#closed) throw new LockError('CLOSED', 'the lock client was closed');
  }

  #handle(
    session: SessionState,
    grant: { name: string; token: number; mode: LockMode },
  ): LockHandle {
    const handle = new Handle(this, { ...grant, session });
    session.handles.add(handle);
    return handle;
  }

  /** Sends the release of a handle's hold (by its token: never someone else's later hold). */
  async sendRelease(grant: { name: string; token: number; session: SessionState }): Promise<void> {
    await this.#options.connection
      .command('lock', {
        op: 'release',
        name: grant.name,
        sessionId: grant.session.sessionId,
        token: grant.token,
      })
      .catch((error: unknown) => {
        // The hold is gone already (the session ended meanwhile): nothing left to release.
        if (codeOf(error) === 'NOT_HELD') return;
        throw toLockError(error);
      });
  }

  #awaitOutcome(
    session: SessionState,
    wait: { requestId: number; timeoutMs: number; signal: AbortSignal | undefined },
  ): Promise<RequestPush> {
    const { requestId, signal } = wait;
    const early = session.early.get(requestId);
    if (early !== undefined) {
      session.early.delete(requestId);
      return Promise.resolve(early);
    }
    return new Promise<RequestPush>((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        session.pending.delete(requestId);
      };
      const giveUp = (error: LockError): void => {
        finish();
        // The cancel releases a grant that raced the give-up, so nobody holds it unknowingly;
        // the caller hears of the give-up once it applied, so its next acquire starts clean.
        void this.#cancel(session, requestId).then(() => {
          reject(error);
        });
      };
      if (signal?.aborted === true) {
        queueMicrotask(() => {
          onAbort();
        });
      }
      const onAbort = (): void => {
        giveUp(
          new LockError('ABORTED', `acquire of request ${requestId} was aborted`, {
            cause: signal?.reason,
          }),
        );
      };
      const timer = setTimeout(() => {
        giveUp(
          new LockError(
            'TIMEOUT',
            `no answer for request ${requestId} within ${wait.timeoutMs} ms`,
          ),
        );
      }, wait.timeoutMs + this.#options.answerSlackMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      session.pending.set(requestId, {
        since: Date.now(),
        settle: (push) => {
          finish();
          resolve(push);
        },
      });
    });
  }

  async #cancel(session: SessionState, requestId: number): Promise<void> {
    await this.#options.connection
      .command('lock', { op: 'cancel', requestId, sessionId: session.sessionId })
      .catch(() => undefined);
  }

  /** The live session of this TTL, created on first use and again after a loss. */
  async #session(ttlMs: number): Promise<SessionState> {
    const cached = this.#sessions.get(ttlMs);
    if (cached !== undefined) {
      const session = await cached.catch(() => undefined);
      if (session !== undefined && !session.lost) return session;
      if (this.#sessions.get(ttlMs) !== cached) return this.#session(ttlMs);
    }
    const created = this.#createSession(ttlMs);
    this.#sessions.set(ttlMs, created);
    return created;
  }

  async #createSession(ttlMs: number): Promise<SessionState> {
    const sentMs = performance.now();
    const created = (await this.#options.connection.command('sessions', {
      op: 'create',
      ttlMs,
    })) as { sessionId: string };
    const session: SessionState = {
      sessionId: created.sessionId,
      ttlMs,
      handles: new Set(),
      pending: new Map(),
      early: new Map(),
      lastKeepaliveMs: sentMs,
      lost: false,
      timer: undefined,
      unsubscribe: () => undefined,
    };
    const unsubscribe = this.#options.connection.subscribe(
      `lock/session/${session.sessionId}`,
      (payload) => {
        this.#onPush(session, payload);
      },
    );
    session.unsubscribe = unsubscribe;
    await unsubscribe.ready;
    const intervalMs = this.#options.keepaliveIntervalMs ?? Math.max(1, Math.floor(ttlMs / 3));
    session.timer = setInterval(() => {
      void this.#keepalive(session);
    }, intervalMs);
    // Keep-alives never keep a process alive on their own.
    session.timer.unref();
    return session;
  }

  #onPush(session: SessionState, payload: unknown): void {
    const push = parsePush(payload);
    if (push === undefined) return;
    if (push.type === 'lost') {
      const reason: LockLossReason = push.reason === 'deleted' ? 'deleted' : 'expired';
      for (const handle of [...session.handles])
        if (handle.name === push.name) handle.markLost(reason);
      return;
    }
    const waiter = session.pending.get(push.requestId);
    if (waiter !== undefined) {
      waiter.settle(push);
      return;
    }
    // A push ahead of its command's answer waits here; one nobody claims in time belongs to an
    // acquire whose answer was lost (a timeout, a reconnection): cancel it, so a grant nobody
    // knows of never stays held.
    session.early.set(push.requestId, push);
    const claimBy = setTimeout(() => {
      if (session.early.get(push.requestId) !== push) return;
      session.early.delete(push.requestId);
      if (push.type === 'granted') void this.#cancel(session, push.requestId);
    }, this.#options.answerSlackMs);
    claimBy.unref();
    for (const oldest of session.early.keys()) {
      if (session.early.size <= EARLY_PUSHES_MAX) break;
      session.early.delete(oldest);
    }
  }

  async #keepalive(session: SessionState): Promise<void> {
    // The cluster renewed the session at some moment between sending and the answer: count the
    // TTL from the send, on the monotonic clock, so neither a slow answer nor a wall-clock step
    // makes this client believe in a session the cluster has already expired.
    const sentMs = performance.now();
    try {
      await this.#options.connection.command(
        'sessions',
        { op: 'keepalive', sessionId: session.sessionId },
        { timeoutMs: session.ttlMs },
      );
      session.lastKeepaliveMs = Math.max(session.lastKeepaliveMs, sentMs);
      await this.#recheckPending(session);
    } catch (error) {
      const code = codeOf(error);
      if (code === 'NOT_FOUND') this.#loseSession(session, 'expired');
      // Without a renewal for a whole TTL the cluster has expired the session: assume the worst.
      else if (
        performance.now() - session.lastKeepaliveMs >=
        session.ttlMs * (1 - this.#options.clockDriftMax)
      )
        this.#loseSession(session, 'keepalive-failed');
    }
  }

  /**
   * Pushes sent while the connection was away (a node restart, a failover) are lost: every
   * keep-alive asks the cluster about requests that have waited a while.
   */
  async #recheckPending(session: SessionState): Promise<void> {
    const now = Date.now();
    const stale = [...session.pending].filter(([, wait]) => now - wait.since >= 1000);
    for (const [requestId, wait] of stale) {
      const status = (await this.#options.connection.query('lock', {
        op: 'request',
        requestId,
      })) as {
        state?: string;
        token?: number;
        mode?: LockMode;
        code?: string;
        message?: string;
      };
      if (status.state === 'granted' && typeof status.token === 'number') {
        wait.settle({
          type: 'granted',
          requestId,
          token: status.token,
          mode: status.mode ?? 'exclusive',
        });
      } else if (status.state === 'refused') {
        wait.settle({
          type: 'refused',
          requestId,
          code: status.code ?? 'TIMEOUT',
          message: status.message ?? 'refused',
        });
      } else if (status.state === 'unknown') {
        void this.#cancel(session, requestId);
        wait.settle({
          type: 'refused',
          requestId,
          code: 'TIMEOUT',
          message: `request ${requestId} is unknown to the cluster`,
        });
      }
    }
  }

  #loseSession(session: SessionState, reason: LockLossReason): void {
    if (session.lost) return;
    session.lost = true;
    clearInterval(session.timer);
    session.unsubscribe();
    for (const handle of [...session.handles]) handle.markLost(reason);
    for (const [requestId, { settle }] of session.pending) {
      settle({
        type: 'refused',
        requestId,
        code: 'SESSION_LOST',
        message: `session ${session.sessionId} was lost (${reason})`,
      });
    }
    for (const listener of this.#listeners) listener(session.sessionId, reason);
  }
}
