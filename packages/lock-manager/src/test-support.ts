// Test helpers (not exported from the package): a sessions directory whose sessions a test ends
// by hand, a driver that applies commands at increasing log indexes and times, and random
// histories for snapshot properties.
import fc from 'fast-check';
import { z } from 'zod';
import type { ApplyContext, StateMachine } from '@distsync/raft';
import {
  createLockStateMachine,
  type LockEvent,
  type LockLimits,
  type LockSessions,
  type LockStateMachine,
} from './state-machine.js';
import type { LockClientCommand, LockMode } from './messages.js';
import type { LockResult } from './result.js';

type EndListener = Parameters<LockSessions['onEnded']>[0];

export class FakeSessions implements LockSessions {
  readonly live = new Set<string>();
  readonly #listeners = new Set<EndListener>();

  isLive(sessionId: string): boolean {
    return this.live.has(sessionId);
  }

  onEnded(listener: EndListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  end(sessionId: string, reason: 'expired' | 'deleted', context: ApplyContext): void {
    this.live.delete(sessionId);
    for (const listener of this.#listeners) listener(sessionId, reason, context);
  }
}

/** Applies commands to one machine at index 1, 2, 3... and a time the test moves. */
export class Driver {
  readonly sessions = new FakeSessions();
  readonly machine: LockStateMachine;
  readonly events: LockEvent[] = [];
  index = 0;
  timeMs = 1000;

  constructor(
    options: {
      sessions?: readonly string[];
      limits?: Partial<LockLimits>;
      snapshotSliceRows?: number;
    } = {},
  ) {
    for (const id of options.sessions ?? ['a', 'b', 'c', 'd', 'e']) this.sessions.live.add(id);
    this.machine = createLockStateMachine({
      sessions: this.sessions,
      ...(options.limits === undefined ? {} : { limits: options.limits }),
      ...(options.snapshotSliceRows === undefined
        ? {}
        : { snapshotSliceRows: options.snapshotSliceRows }),
    });
    this.machine.onEvent((event) => this.events.push(event));
  }

  context(): ApplyContext {
    this.index += 1;
    return { index: this.index, term: 1, timeMs: this.timeMs, clientId: undefined };
  }

  apply(command: LockClientCommand | { op: 'expire'; nowMs: number }): LockResult {
    return this.machine.apply(command, this.context());
  }

  acquire(
    name: string,
    sessionId: string,
    options: { mode?: LockMode; timeoutMs?: number; reentrant?: boolean } = {},
  ): LockResult {
    return this.apply({
      op: 'acquire',
      name,
      sessionId,
      mode: options.mode ?? 'exclusive',
      timeoutMs: options.timeoutMs ?? 10_000,
      ...(options.reentrant === undefined ? {} : { reentrant: options.reentrant }),
    });
  }

  release(name: string, sessionId: string): LockResult {
    return this.apply({ op: 'release', name, sessionId });
  }

  /** Moves time forward and applies the leader's timer command when one is due. */
  advance(ms: number): LockResult | undefined {
    this.timeMs += ms;
    const due = this.machine.nextDeadline?.();
    if (due === undefined || due > this.timeMs) return undefined;
    return this.apply({ op: 'expire', nowMs: this.timeMs });
  }

  endSession(sessionId: string, reason: 'expired' | 'deleted' = 'expired'): void {
    this.sessions.end(sessionId, reason, this.context());
  }

  /** Holders of a lock as `session:mode` strings, in grant order. */
  holders(name: string): string[] {
    const result = this.machine.query({ op: 'get', name });
    if (!result.ok) throw new Error(result.message);
    const view = result.value as { holders: { sessionId: string; mode: string }[] };
    return view.holders.map((holder) => `${holder.sessionId}:${holder.mode}`);
  }

  waiters(name: string): string[] {
    const result = this.machine.query({ op: 'get', name });
    if (!result.ok) throw new Error(result.message);
    const view = result.value as { waiters: { sessionId: string; mode: string }[] };
    return view.waiters.map((waiter) => `${waiter.sessionId}:${waiter.mode}`);
  }
}

export function codeOf(result: LockResult): string {
  return result.ok ? 'OK' : result.code;
}

export function tokenOf(result: LockResult): number {
  if (!result.ok) throw new Error(`${result.code}: ${result.message}`);
  const value = result.value as { token?: number };
  if (value.token === undefined) throw new Error(`not granted: ${JSON.stringify(value)}`);
  return value.token;
}

export function requestIdOf(result: LockResult): number {
  if (!result.ok) throw new Error(`${result.code}: ${result.message}`);
  const value = result.value as { requestId?: number };
  if (value.requestId === undefined) throw new Error(`not queued: ${JSON.stringify(value)}`);
  return value.requestId;
}

/**
 * A replicated sessions machine for cluster tests, shaped like apps/node's: create, keepalive and
 * delete, expiry through the leader's timer command, end listeners called inside apply.
 */
export function createTestSessionsMachine(): StateMachine<
  SessionCommand,
  { op: 'count' },
  LockResult
> &
  LockSessions {
  let sessions = new Map<string, { ttlMs: number; expiresAtMs: number }>();
  const listeners = new Set<EndListener>();
  const end = (id: string, reason: 'expired' | 'deleted', context: ApplyContext): void => {
    sessions.delete(id);
    for (const listener of listeners) listener(id, reason, context);
  };
  return {
    name: 'sessions',
    commandSchema: SessionCommandSchema,
    querySchema: z.object({ op: z.literal('count') }),
    apply(command, context) {
      switch (command.op) {
        case 'create': {
          const id = `s${context.index}`;
          sessions.set(id, { ttlMs: command.ttlMs, expiresAtMs: context.timeMs + command.ttlMs });
          return { ok: true, value: { sessionId: id, ttlMs: command.ttlMs } };
        }
        case 'keepalive': {
          const record = sessions.get(command.sessionId);
          if (record === undefined) return { ok: false, code: 'SESSION_EXPIRED', message: 'gone' };
          record.expiresAtMs = context.timeMs + record.ttlMs;
          return { ok: true, value: { expiresInMs: record.ttlMs } };
        }
        case 'delete':
          if (sessions.has(command.sessionId)) end(command.sessionId, 'deleted', context);
          return { ok: true, value: { deleted: true } };
        case 'expire': {
          const due = [...sessions].filter(([, record]) => record.expiresAtMs <= context.timeMs);
          for (const [id] of due) end(id, 'expired', context);
          return { ok: true, value: { expired: due.length } };
        }
      }
    },
    query: () => ({ ok: true, value: { sessions: sessions.size } }),
    nextDeadline: () => {
      let earliest: number | undefined;
      for (const record of sessions.values()) {
        if (earliest === undefined || record.expiresAtMs < earliest) earliest = record.expiresAtMs;
      }
      return earliest;
    },
    timerCommand: (nowMs) => ({ op: 'expire', nowMs }),
    snapshot: () => new TextEncoder().encode(JSON.stringify([...sessions])),
    restore: (bytes) => {
      sessions = new Map(
        JSON.parse(new TextDecoder().decode(bytes)) as [
          string,
          { ttlMs: number; expiresAtMs: number },
        ][],
      );
    },
    isLive: (id) => sessions.has(id),
    onEnded: (listener) => {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
  };
}

const SessionCommandSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('create'), ttlMs: z.number() }),
  z.object({ op: z.literal('keepalive'), sessionId: z.string() }),
  z.object({ op: z.literal('delete'), sessionId: z.string() }),
  z.object({ op: z.literal('expire'), nowMs: z.number() }),
]);
type SessionCommand = z.infer<typeof SessionCommandSchema>;

/** One step of a random history for snapshot properties (indexes into the lists below). */
export type HistoryStep =
  | {
      kind: 'acquire';
      session: number;
      lock: number;
      shared: boolean;
      reentrant: boolean;
      timeoutMs: number;
    }
  | { kind: 'release' | 'upgrade' | 'end' | 'revive'; session: number; lock: number }
  | { kind: 'cancel'; session: number; back: number }
  | { kind: 'advance'; ms: number };

export const HISTORY_SESSIONS = ['s0', 's1', 's2', 's3', 's4'];
export const HISTORY_LOCKS = ['L0', 'L1', 'L2', 'L3', 'L4', 'L5', 'L6', 'L7'];

/** Random steps: acquires (shared, reentrant, queued or try), releases, upgrades, cancels,
 * timeouts, session ends and new sessions of the same name, so records change every way. */
export const historyStep: fc.Arbitrary<HistoryStep> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('acquire' as const),
      session: fc.nat(HISTORY_SESSIONS.length - 1),
      lock: fc.nat(HISTORY_LOCKS.length - 1),
      shared: fc.boolean(),
      reentrant: fc.boolean(),
      timeoutMs: fc.constantFrom(0, 500, 5000),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constantFrom(
        'release' as const,
        'upgrade' as const,
        'end' as const,
        'revive' as const,
      ),
      session: fc.nat(HISTORY_SESSIONS.length - 1),
      lock: fc.nat(HISTORY_LOCKS.length - 1),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('cancel' as const),
      session: fc.nat(HISTORY_SESSIONS.length - 1),
      back: fc.nat(10),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      ms: fc.integer({ min: 1, max: 800 }),
    }),
  },
);

/** Applies one history step (a step that makes no sense now is refused by the machine, as a
 * client's would be). */
export function applyStep(driver: Driver, step: HistoryStep): void {
  if (step.kind === 'advance') {
    driver.advance(step.ms);
    return;
  }
  const sessionId = HISTORY_SESSIONS[step.session] ?? '';
  switch (step.kind) {
    case 'acquire':
      driver.acquire(HISTORY_LOCKS[step.lock] ?? '', sessionId, {
        mode: step.shared ? 'shared' : 'exclusive',
        reentrant: step.reentrant,
        timeoutMs: step.timeoutMs,
      });
      return;
    case 'release':
      driver.release(HISTORY_LOCKS[step.lock] ?? '', sessionId);
      return;
    case 'upgrade':
      driver.apply({
        op: 'upgrade',
        name: HISTORY_LOCKS[step.lock] ?? '',
        sessionId,
        timeoutMs: 300,
      });
      return;
    case 'cancel':
      // A recent request of this session (the index of a recent entry), waiting or granted.
      driver.apply({ op: 'cancel', requestId: Math.max(1, driver.index - step.back), sessionId });
      return;
    case 'end':
      if (driver.sessions.isLive(sessionId)) driver.endSession(sessionId);
      return;
    case 'revive':
      driver.sessions.live.add(sessionId);
      return;
  }
}

/**
 * The snapshot property: after `before`, a snapshot begun with `sliceRows` rows per slice while
 * the steps of `between[i]` run before slice i+1 is the synchronous snapshot of the capture point
 * and restores to a machine with the same snapshot. Throws (an expect) when it does not hold.
 */
export function checkSnapshotDuringHistory(
  before: readonly HistoryStep[],
  between: readonly (readonly HistoryStep[])[],
  sliceRows: number,
): void {
  const driver = new Driver({ sessions: HISTORY_SESSIONS, snapshotSliceRows: sliceRows });
  for (const step of before) applyStep(driver, step);
  const expected = driver.machine.snapshot();
  const job = driver.machine.beginSnapshot?.();
  if (job === undefined) throw new Error('no beginSnapshot');
  let bytes: Uint8Array | undefined;
  for (let slice = 0; bytes === undefined; slice++) {
    for (const step of between[slice % between.length] ?? []) applyStep(driver, step);
    bytes = job.next();
  }
  const decoder = new TextDecoder();
  if (decoder.decode(bytes) !== decoder.decode(expected)) {
    throw new Error(
      `snapshot differs from the capture point:\n${decoder.decode(bytes)}\n---\n${decoder.decode(expected)}`,
    );
  }
  const copy = new Driver({ sessions: HISTORY_SESSIONS });
  copy.machine.restore(bytes);
  if (decoder.decode(copy.machine.snapshot()) !== decoder.decode(expected)) {
    throw new Error('a restored machine snapshots other bytes');
  }
}

/**
 * The property snapshot.property.test.ts asserts and snapshot.control.test.ts expects to fail
 * without the copy-on-write, with the runs both use: one definition, so the control keeps
 * testing what the property tests.
 */
export const snapshotProperty = fc.property(
  fc.array(historyStep, { maxLength: 60 }),
  fc.array(fc.array(historyStep, { maxLength: 5 }), { minLength: 1, maxLength: 12 }),
  fc.integer({ min: 1, max: 3 }),
  checkSnapshotDuringHistory,
);

export const SNAPSHOT_PROPERTY_RUNS = { numRuns: 400, seed: 20_261_202 } as const;
