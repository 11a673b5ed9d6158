// The `lock` state machine (DESIGN.md "Lock manager"): exclusive and shared locks owned by client
// sessions, FIFO wait queues, fencing tokens (the Raft index of each grant), wait timeouts through
// the leader's timer command, upgrades, and deadlock detection on the wait-for graph at every
// enqueue. Deterministic: no clock, no randomness, every order fixed, so every replica grants,
// refuses and picks deadlock victims identically at the same log index.
import type { ApplyContext, MapSnapshots, StateMachine } from '@distsync/raft';
import type { LockRefusalCode } from './errors.js';
import { LockTable, grantable, type Holder, type LockRecord, type Waiter } from './lock-table.js';
import {
  LOCK_LIST_LIMIT_MAX,
  LockCommandSchema,
  LockQuerySchema,
  type LockClientCommand,
  type LockCommand,
  type LockGrant,
  type LockMode,
  type LockQuery,
  type LockView,
} from './messages.js';
import { fail, ok, type LockResult } from './result.js';
import {
  DEFAULT_SNAPSHOT_SLICE_ROWS,
  createLockSnapshots,
  decodeLockSnapshot,
} from './snapshot.js';
import { findCycle, youngestRequest, type WaitEdge } from './wait-for.js';

/** What the lock machine needs of the sessions service (apps/node's `SessionDirectory` fits). */
export interface LockSessions {
  /** Whether the session exists in replicated state (deterministic: no clock is read). */
  isLive(sessionId: string): boolean;
  /** Called inside apply, on every replica, for each session that expired or was deleted. */
  onEnded(
    listener: (sessionId: string, reason: 'expired' | 'deleted', context: ApplyContext) => void,
  ): () => void;
}

export interface LockLimits {
  /** Queued requests per lock; more are refused with TOO_MANY_WAITERS. Default 1000. */
  readonly maxWaitersPerLock: number;
  /** Locks held or waited for at once; a new one beyond is LIMIT_REACHED. Default 100,000. */
  readonly maxLocks: number;
  /** How often a `reentrant` lock may be re-acquired. Default 1000. */
  readonly maxHoldCount: number;
  /** Outcomes of queued requests remembered locally for late waiters. Default 10,000. */
  readonly recentOutcomes: number;
}

export const DEFAULT_LOCK_LIMITS: LockLimits = {
  maxWaitersPerLock: 1000,
  maxLocks: 100_000,
  maxHoldCount: 1000,
  recentOutcomes: 10_000,
};

/** Local events of apply, on every replica (not replicated state: for waiters and metrics). */
export type LockEvent =
  | {
      readonly type: 'granted';
      readonly requestId: number;
      readonly name: string;
      readonly sessionId: string;
      readonly mode: LockMode;
      readonly token: number;
      readonly waitedMs: number;
    }
  | {
      readonly type: 'refused';
      readonly requestId: number;
      readonly name: string;
      readonly sessionId: string;
      readonly code: LockRefusalCode;
      readonly message: string;
    }
  | {
      /** A session ended while holding the lock: it is released (and maybe granted on). */
      readonly type: 'lost';
      readonly name: string;
      readonly sessionId: string;
      readonly token: number;
      readonly reason: 'expired' | 'deleted';
    }
  /** A snapshot was installed: re-check every local wait against `requestStatus`. */
  | { readonly type: 'restored' };

/** Where a queued request stands, as this replica knows it. */
export type LockRequestStatus =
  | { readonly state: 'waiting' }
  | { readonly state: 'done'; readonly result: LockResult<LockGrant> }
  | { readonly state: 'unknown' };

export interface LockStateMachine extends StateMachine<LockCommand, LockQuery, LockResult> {
  onEvent(listener: (event: LockEvent) => void): () => void;
  requestStatus(requestId: number): LockRequestStatus;
  heldCount(): number;
  waitingCount(): number;
  /** Deadlock victims refused since this process started. */
  deadlockCount(): number;
  /** Locks released because their session expired, since this process started. */
  sessionExpiryReleaseCount(): number;
}

export interface LockStateMachineOptions {
  readonly sessions: LockSessions;
  readonly limits?: Partial<LockLimits>;
  /**
   * Locks serialized per slice of an incremental snapshot (`beginSnapshot`). Default 500 (a few
   * milliseconds); tests set 1 to interleave commands with every row.
   */
  readonly snapshotSliceRows?: number;
}

function validateLimits(limits: LockLimits): void {
  for (const [key, value] of Object.entries(limits)) {
    if (!Number.isInteger(value) || (value as number) < 1) {
      throw new RangeError(`limits.${key} must be a positive integer (got ${String(value)})`);
    }
  }
}

/** Creates the `lock` state machine; it subscribes to `sessions.onEnded` at once. */
export function createLockStateMachine(options: LockStateMachineOptions): LockStateMachine {
  const limits: LockLimits = { ...DEFAULT_LOCK_LIMITS, ...options.limits };
  validateLimits(limits);
  const sliceRows = options.snapshotSliceRows ?? DEFAULT_SNAPSHOT_SLICE_ROWS;
  if (!Number.isInteger(sliceRows) || sliceRows < 1) {
    throw new RangeError(`snapshotSliceRows must be a positive integer (got ${String(sliceRows)})`);
  }
  return new LockMachine(options.sessions, limits, sliceRows).api();
}

class LockMachine {
  // Snapshots are taken in slices while apply goes on: the table calls beforeWrite(name) before
  // each change of a lock's record, which copies the record for the running snapshot jobs.
  readonly #snapshots: MapSnapshots<string, LockRecord>;
  table: LockTable;
  readonly #listeners = new Set<(event: LockEvent) => void>();
  readonly #outcomes = new Map<number, LockResult<LockGrant>>();
  #deadlocks = 0;
  #expiryReleases = 0;

  constructor(
    readonly sessions: LockSessions,
    readonly limits: LockLimits,
    sliceRows: number,
  ) {
    this.#snapshots = createLockSnapshots(() => this.table.locks, sliceRows);
    this.table = this.newTable();
    sessions.onEnded((sessionId, reason, context) => {
      this.endSession(sessionId, reason, context);
    });
  }

  newTable(): LockTable {
    return new LockTable((name) => {
      this.#snapshots.beforeWrite(name);
    });
  }

  emit(event: LockEvent): void {
    if (event.type === 'granted' || event.type === 'refused') {
      this.#outcomes.set(
        event.requestId,
        event.type === 'granted'
          ? ok({ token: event.token, mode: event.mode, holdCount: 1 })
          : fail(event.code, event.message),
      );
      // Oldest first out: a Map iterates in insertion order.
      for (const oldest of this.#outcomes.keys()) {
        if (this.#outcomes.size <= this.limits.recentOutcomes) break;
        this.#outcomes.delete(oldest);
      }
      if (event.type === 'refused' && event.code === 'DEADLOCK') this.#deadlocks += 1;
    }
    for (const listener of this.#listeners) listener(event);
  }

  apply(command: LockCommand, context: ApplyContext): LockResult {
    switch (command.op) {
      case 'acquire':
        return this.acquire(command, context);
      case 'upgrade':
        return this.upgrade(command, context);
      case 'release':
        return this.release(command, context);
      case 'cancel':
        return this.cancel(command, context);
      case 'expire':
        return ok({ expired: this.expireWaits(context) });
    }
  }

  acquire(
    command: Extract<LockClientCommand, { op: 'acquire' }>,
    context: ApplyContext,
  ): LockResult {
    const { name, sessionId, mode, timeoutMs } = command;
    if (!this.sessions.isLive(sessionId)) {
      return fail('SESSION_EXPIRED', `no session ${sessionId} (expired or deleted)`);
    }
    const record = this.table.record(name);
    const held = record?.holders.find((holder) => holder.sessionId === sessionId);
    if (held !== undefined) return this.reacquire(held, { name, mode });
    const waiting = record?.waiters.find((waiter) => waiter.sessionId === sessionId);
    if (waiting !== undefined) {
      return fail(
        'ALREADY_HELD',
        `session ${sessionId} already waits for ${name} (request ${waiting.requestId})`,
      );
    }
    const request = { requestId: context.index, sessionId, mode, upgrade: false };
    if ((record?.waiters.length ?? 0) === 0 && grantable(request, record?.holders ?? [])) {
      if (record === undefined && this.table.locks.size >= this.limits.maxLocks) {
        return fail('LIMIT_REACHED', `maxLocks (${this.limits.maxLocks}) reached`);
      }
      this.table.addHolder(name, {
        sessionId,
        mode,
        token: context.index,
        sinceMs: context.timeMs,
        holdCount: 1,
        reentrant: command.reentrant === true,
        requestId: context.index,
        viaUpgrade: false,
      });
      return ok({ token: context.index, mode, holdCount: 1 } satisfies LockGrant);
    }
    return this.wait(
      { name, record, timeoutMs },
      {
        ...request,
        sinceMs: context.timeMs,
        deadlineMs: context.timeMs + timeoutMs,
        reentrant: command.reentrant === true,
      },
    );
  }

  reacquire(held: Holder, request: { name: string; mode: LockMode }): LockResult {
    const covers = held.mode === 'exclusive' || request.mode === 'shared';
    if (!held.reentrant || !covers) {
      const hint =
        held.mode === 'shared' && request.mode === 'exclusive' ? ' (upgrade it instead)' : '';
      return fail(
        'ALREADY_HELD',
        `session ${held.sessionId} already holds ${request.name} ${held.mode}${hint}`,
      );
    }
    if (held.holdCount >= this.limits.maxHoldCount) {
      return fail(
        'LIMIT_REACHED',
        `maxHoldCount (${this.limits.maxHoldCount}) reached for ${request.name}`,
      );
    }
    this.table.updateHolder(request.name, held, { holdCount: held.holdCount + 1 });
    return ok({
      token: held.token,
      mode: held.mode,
      holdCount: held.holdCount,
    } satisfies LockGrant);
  }

  /** Queues a request that cannot be granted now, unless it is a try-lock or would deadlock. */
  wait(
    lock: { name: string; record: LockRecord | undefined; timeoutMs: number },
    waiter: Waiter,
  ): LockResult {
    const { name, record } = lock;
    if (lock.timeoutMs === 0) {
      const holders = (record?.holders ?? []).map(
        (holder) => `${holder.sessionId} (${holder.mode})`,
      );
      return fail(
        'TIMEOUT',
        `${name} is not free (held by ${holders.join(', ') || 'nobody'}, ${record?.waiters.length ?? 0} waiting)`,
      );
    }
    if ((record?.waiters.length ?? 0) >= this.limits.maxWaitersPerLock) {
      return fail(
        'TOO_MANY_WAITERS',
        `${name} has ${this.limits.maxWaitersPerLock} waiters (maxWaitersPerLock)`,
      );
    }
    if (record === undefined && this.table.locks.size >= this.limits.maxLocks) {
      return fail('LIMIT_REACHED', `maxLocks (${this.limits.maxLocks}) reached`);
    }
    this.table.enqueue(name, waiter);
    const refusal = this.breakDeadlocks(name, waiter);
    if (refusal !== undefined) return refusal;
    return ok({ queued: true, requestId: waiter.requestId });
  }

  /**
   * Refuses the youngest request of every cycle the new wait closed. Before it the graph had no
   * cycle, so each new cycle runs through the new request's session or, for an upgrade (which
   * jumps the queue), through a session queued behind it on that lock. Returns the new request's
   * refusal when it was the victim.
   */
  breakDeadlocks(name: string, added: Waiter): LockResult | undefined {
    const starts = [added.sessionId];
    if (added.upgrade) {
      for (const waiter of this.table.record(name)?.waiters ?? []) starts.push(waiter.sessionId);
    }
    let refusal: LockResult | undefined;
    // The linear check answers the usual case (no cycle); only a real deadlock pays for the
    // depth-first search, whose order decides the victim on every replica.
    const search = (start: string): WaitEdge[] | undefined =>
      this.table.hasCycleThrough(start) ? findCycle(this.table, start) : undefined;
    for (const start of starts) {
      for (let cycle = search(start); cycle !== undefined; cycle = search(start)) {
        const victim = youngestRequest(cycle);
        const sessions = cycle.map((edge) => edge.from).join(' -> ');
        const message = `request ${victim} would close the wait-for cycle ${sessions} -> ${cycle[0]?.from ?? ''}: refused as the youngest`;
        const removed = this.table.removeWaiter(victim);
        if (removed === undefined) break;
        this.table.tidy(removed.name);
        if (victim === added.requestId) {
          this.#deadlocks += 1;
          refusal = fail('DEADLOCK', message);
        } else {
          this.emit({
            type: 'refused',
            requestId: victim,
            name: removed.name,
            sessionId: removed.waiter.sessionId,
            code: 'DEADLOCK',
            message,
          });
        }
      }
    }
    return refusal;
  }

  upgrade(
    command: Extract<LockClientCommand, { op: 'upgrade' }>,
    context: ApplyContext,
  ): LockResult {
    const { name, sessionId, timeoutMs } = command;
    const record = this.table.record(name);
    const held = record?.holders.find((holder) => holder.sessionId === sessionId);
    if (record === undefined || held === undefined) {
      return fail('NOT_HELD', `session ${sessionId} does not hold ${name}`);
    }
    if (held.mode === 'exclusive') {
      return fail('ALREADY_HELD', `session ${sessionId} already holds ${name} exclusive`);
    }
    if (record.waiters.some((waiter) => waiter.sessionId === sessionId)) {
      return fail('ALREADY_HELD', `session ${sessionId} already waits to upgrade ${name}`);
    }
    const request = {
      requestId: context.index,
      sessionId,
      mode: 'exclusive' as const,
      upgrade: true,
    };
    if (grantable(request, record.holders)) {
      this.table.updateHolder(name, held, {
        mode: 'exclusive',
        token: context.index,
        sinceMs: context.timeMs,
        requestId: context.index,
        viaUpgrade: true,
      });
      return ok({
        token: context.index,
        mode: 'exclusive',
        holdCount: held.holdCount,
      } satisfies LockGrant);
    }
    return this.wait(
      { name, record, timeoutMs },
      {
        ...request,
        sinceMs: context.timeMs,
        deadlineMs: context.timeMs + timeoutMs,
        reentrant: held.reentrant,
      },
    );
  }

  release(
    command: Extract<LockClientCommand, { op: 'release' }>,
    context: ApplyContext,
  ): LockResult {
    const { name, sessionId } = command;
    const holder = this.table
      .record(name)
      ?.holders.find((candidate) => candidate.sessionId === sessionId);
    if (holder === undefined) return fail('NOT_HELD', `session ${sessionId} does not hold ${name}`);
    if (command.token !== undefined && command.token !== holder.token) {
      return fail(
        'NOT_HELD',
        `session ${sessionId} holds ${name} with token ${holder.token}, not ${command.token}`,
      );
    }
    if (holder.holdCount > 1) {
      this.table.updateHolder(name, holder, { holdCount: holder.holdCount - 1 });
      return ok({ released: true, holdCount: holder.holdCount });
    }
    this.dropHolder(name, sessionId);
    this.grantWaiters(name, context);
    return ok({ released: true, holdCount: 0 });
  }

  /** Removes a holder and any upgrade it was waiting for (a waiting upgrade needs its shared hold). */
  dropHolder(name: string, sessionId: string): Holder | undefined {
    const upgrade = this.table
      .record(name)
      ?.waiters.find((waiter) => waiter.upgrade && waiter.sessionId === sessionId);
    if (upgrade !== undefined) {
      this.table.removeWaiter(upgrade.requestId);
      this.emit({
        type: 'refused',
        requestId: upgrade.requestId,
        name,
        sessionId,
        code: 'NOT_HELD',
        message: `${name} was released while its upgrade waited`,
      });
    }
    return this.table.removeHolder(name, sessionId);
  }

  /**
   * Gives up a request: a waiting one leaves its queue; one granted meanwhile is released (an
   * upgrade granted meanwhile goes back to shared), so a grant nobody waits for never stays held.
   */
  cancel(command: Extract<LockClientCommand, { op: 'cancel' }>, context: ApplyContext): LockResult {
    const { requestId, sessionId } = command;
    const waiting = this.table.waiterOf(requestId);
    if (waiting !== undefined) {
      if (waiting.waiter.sessionId !== sessionId)
        return fail('NOT_HELD', `request ${requestId} belongs to another session`);
      this.table.removeWaiter(requestId);
      this.emit({
        type: 'refused',
        requestId,
        name: waiting.name,
        sessionId,
        code: 'TIMEOUT',
        message: `request ${requestId} was cancelled`,
      });
      this.grantWaiters(waiting.name, context);
      this.table.tidy(waiting.name);
      return ok({ cancelled: true, released: false });
    }
    for (const name of this.table.heldBy(sessionId)) {
      const holder = this.table
        .record(name)
        ?.holders.find((candidate) => candidate.sessionId === sessionId);
      if (holder?.requestId !== requestId) continue;
      if (holder.viaUpgrade) {
        // The upgrade was given up: back to the shared hold the session had before it.
        this.table.updateHolder(name, holder, { mode: 'shared', viaUpgrade: false });
        this.grantWaiters(name, context);
        return ok({ cancelled: false, released: false, downgraded: true });
      }
      this.dropHolder(name, sessionId);
      this.grantWaiters(name, context);
      this.table.tidy(name);
      return ok({ cancelled: false, released: true });
    }
    return ok({ cancelled: false, released: false });
  }

  /** Grants queued requests from the head while they fit next to the holders (FIFO). */
  grantWaiters(name: string, context: ApplyContext): void {
    const record = this.table.record(name);
    if (record === undefined) return;
    for (let head = record.waiters[0]; head !== undefined; head = record.waiters[0]) {
      if (!grantable(head, record.holders)) break;
      this.table.shiftWaiter(name);
      const waitedMs = context.timeMs - head.sinceMs;
      const current = head.upgrade
        ? record.holders.find((holder) => holder.sessionId === head.sessionId)
        : undefined;
      if (current !== undefined) {
        this.table.updateHolder(name, current, {
          mode: 'exclusive',
          token: context.index,
          sinceMs: context.timeMs,
          requestId: head.requestId,
          viaUpgrade: true,
        });
      } else {
        this.table.addHolder(name, {
          sessionId: head.sessionId,
          mode: head.mode,
          token: context.index,
          sinceMs: context.timeMs,
          holdCount: 1,
          reentrant: head.reentrant,
          requestId: head.requestId,
          viaUpgrade: false,
        });
      }
      this.emit({
        type: 'granted',
        requestId: head.requestId,
        name,
        sessionId: head.sessionId,
        mode: head.mode,
        token: context.index,
        waitedMs,
      });
    }
    this.table.tidy(name);
  }

  /** The leader's timer: refuses every wait whose deadline passed at this entry's time. */
  expireWaits(context: ApplyContext): number {
    const due: { name: string; waiter: Waiter }[] = [];
    for (const [name, record] of this.table.locks) {
      for (const waiter of record.waiters)
        if (waiter.deadlineMs <= context.timeMs) due.push({ name, waiter });
    }
    for (const { name, waiter } of due) {
      this.table.removeWaiter(waiter.requestId);
      this.emit({
        type: 'refused',
        requestId: waiter.requestId,
        name,
        sessionId: waiter.sessionId,
        code: 'TIMEOUT',
        message: `no grant of ${name} within ${waiter.deadlineMs - waiter.sinceMs} ms`,
      });
    }
    // A timed-out head may have blocked requests that fit now.
    for (const name of new Set(due.map((item) => item.name))) this.grantWaiters(name, context);
    return due.length;
  }

  /** A session ended: its locks are released (granted on at this index), its waits refused. */
  endSession(sessionId: string, reason: 'expired' | 'deleted', context: ApplyContext): void {
    const touched = new Set<string>();
    for (const requestId of this.table.waitingRequests(sessionId)) {
      const removed = this.table.removeWaiter(requestId);
      if (removed === undefined) continue;
      touched.add(removed.name);
      this.emit({
        type: 'refused',
        requestId,
        name: removed.name,
        sessionId,
        code: 'SESSION_EXPIRED',
        message: `session ${sessionId} ${reason} while waiting for ${removed.name}`,
      });
    }
    for (const name of this.table.heldBy(sessionId)) {
      const holder = this.table.removeHolder(name, sessionId);
      if (holder === undefined) continue;
      touched.add(name);
      if (reason === 'expired') this.#expiryReleases += 1;
      this.emit({ type: 'lost', name, sessionId, token: holder.token, reason });
    }
    for (const name of [...touched].sort()) {
      this.grantWaiters(name, context);
      this.table.tidy(name);
    }
  }

  nextDeadline(): number | undefined {
    let earliest: number | undefined;
    for (const record of this.table.locks.values()) {
      for (const waiter of record.waiters) {
        if (earliest === undefined || waiter.deadlineMs < earliest) earliest = waiter.deadlineMs;
      }
    }
    return earliest;
  }

  query(request: LockQuery): LockResult {
    switch (request.op) {
      case 'get':
        return ok(this.view(request.name, this.table.record(request.name)));
      case 'request': {
        const status = this.requestStatus(request.requestId);
        if (status.state !== 'done') return ok({ state: status.state });
        return ok(
          status.result.ok
            ? { state: 'granted', ...status.result.value }
            : { state: 'refused', code: status.result.code, message: status.result.message },
        );
      }
      case 'list': {
        const limit = request.limit ?? LOCK_LIST_LIMIT_MAX;
        const names = [...this.table.locks.keys()]
          .filter((name) => request.prefix === undefined || name.startsWith(request.prefix))
          .filter((name) => request.after === undefined || name > request.after)
          .sort();
        const page = names.slice(0, limit);
        const locks = page.map((name) => this.view(name, this.table.record(name)));
        const next = names.length > limit ? page.at(-1) : undefined;
        return ok({ locks, ...(next === undefined ? {} : { next }) });
      }
    }
  }

  view(name: string, record: LockRecord | undefined): LockView {
    return {
      name,
      holders: (record?.holders ?? []).map(({ sessionId, mode, token, sinceMs, holdCount }) => ({
        sessionId,
        mode,
        token,
        sinceMs,
        holdCount,
      })),
      waiters: (record?.waiters ?? []).map(
        ({ requestId, sessionId, mode, sinceMs, deadlineMs, upgrade }) => ({
          requestId,
          sessionId,
          mode,
          sinceMs,
          deadlineMs,
          upgrade,
        }),
      ),
    };
  }

  requestStatus(requestId: number): LockRequestStatus {
    if (this.table.waiterOf(requestId) !== undefined) return { state: 'waiting' };
    const outcome = this.#outcomes.get(requestId);
    if (outcome !== undefined) return { state: 'done', result: outcome };
    for (const record of this.table.locks.values()) {
      const holder = record.holders.find((candidate) => candidate.requestId === requestId);
      if (holder !== undefined) {
        return {
          state: 'done',
          result: ok({ token: holder.token, mode: holder.mode, holdCount: holder.holdCount }),
        };
      }
    }
    return { state: 'unknown' };
  }

  restore(bytes: Uint8Array): void {
    const locks = decodeLockSnapshot(bytes);
    const table = this.newTable();
    table.locks = locks;
    table.reindex();
    this.table = table;
    this.emit({ type: 'restored' });
  }

  api(): LockStateMachine {
    return {
      name: 'lock',
      commandSchema: LockCommandSchema,
      querySchema: LockQuerySchema,
      apply: (command, context) => this.apply(command, context),
      query: (request) => this.query(request),
      snapshot: () => this.#snapshots.now(),
      beginSnapshot: () => this.#snapshots.begin(),
      restore: (bytes) => {
        this.restore(bytes);
      },
      nextDeadline: () => this.nextDeadline(),
      timerCommand: (nowMs) => ({ op: 'expire', nowMs }),
      onEvent: (listener) => {
        this.#listeners.add(listener);
        return () => {
          this.#listeners.delete(listener);
        };
      },
      requestStatus: (requestId) => this.requestStatus(requestId),
      heldCount: () => this.table.heldCount(),
      waitingCount: () => this.table.waitingCount(),
      deadlockCount: () => this.#deadlocks,
      sessionExpiryReleaseCount: () => this.#expiryReleases,
    };
  }
}
