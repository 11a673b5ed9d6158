// Properties of the lock state machine over random histories (fast-check): no false deadlocks on
// acyclic wait patterns, and the safety invariants of every lock after every command.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { codeOf, Driver } from './test-support.js';

const SESSIONS = ['s0', 's1', 's2', 's3', 's4', 's5'];
const LOCKS = ['L0', 'L1', 'L2', 'L3'];

interface View {
  holders: { sessionId: string; mode: string; token: number }[];
  waiters: { sessionId: string; mode: string; upgrade: boolean }[];
}

function view(driver: Driver, name: string): View {
  const result = driver.machine.query({ op: 'get', name });
  if (!result.ok) throw new Error(result.message);
  return result.value as View;
}

const step = fc.record({
  session: fc.integer({ min: 0, max: SESSIONS.length - 1 }),
  lock: fc.integer({ min: 0, max: LOCKS.length - 1 }),
  shared: fc.boolean(),
});

describe('deadlock detection on random acyclic wait patterns', () => {
  it('never refuses a request with DEADLOCK when no cycle can form (1,000 patterns)', () => {
    // Proves zero false positives: a session may only wait for locks whose holders and waiters
    // all rank above it, so every wait-for edge points up the ranking and no cycle exists.
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 40 }), (steps) => {
        const driver = new Driver({ sessions: SESSIONS });
        let queued = 0;
        for (const { session, lock, shared } of steps) {
          const name = LOCKS[lock]!;
          const current = view(driver, name);
          const others = [...current.holders, ...current.waiters].map((entry) =>
            Number(entry.sessionId.slice(1)),
          );
          if (others.includes(session) || others.some((other) => other <= session)) continue;
          const result = driver.acquire(name, SESSIONS[session]!, {
            mode: shared ? 'shared' : 'exclusive',
          });
          expect(codeOf(result)).toBe('OK');
          if (result.ok && 'queued' in (result.value as object)) queued += 1;
        }
        expect(driver.machine.deadlockCount()).toBe(0);
        return queued >= 0;
      }),
      { numRuns: 1000, seed: 20_261_202 },
    );
  });
});

const operation = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('acquire' as const),
      step,
      timeoutMs: fc.constantFrom(0, 500, 5000),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('release' as const), step }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('upgrade' as const), step }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      ms: fc.integer({ min: 1, max: 300 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('end' as const), step }) },
);

describe('safety on random histories', () => {
  it('never lets conflicting holders coexist, grants in token order and leaves no grantable head', () => {
    // Proves, after every command of 500 random histories with timeouts, upgrades, releases and
    // session ends: holders are compatible, tokens of a lock only grow, the head of every queue
    // really is blocked (no lost wake-up), and the wait-for graph, rebuilt here from inspection
    // alone, has no cycle (no deadlock slips past detection).
    fc.assert(
      fc.property(fc.array(operation, { minLength: 1, maxLength: 100 }), (operations) => {
        const driver = new Driver({ sessions: SESSIONS });
        const lastToken = new Map<string, number>();
        for (const op of operations) {
          if (op.kind === 'advance') driver.advance(op.ms);
          else {
            const name = LOCKS[op.step.lock]!;
            const sessionId = SESSIONS[op.step.session]!;
            if (op.kind === 'acquire') {
              driver.acquire(name, sessionId, {
                mode: op.step.shared ? 'shared' : 'exclusive',
                timeoutMs: op.timeoutMs,
              });
            } else if (op.kind === 'release') driver.release(name, sessionId);
            else if (op.kind === 'upgrade') {
              driver.apply({ op: 'upgrade', name, sessionId, timeoutMs: 200 });
            } else if (driver.sessions.isLive(sessionId)) driver.endSession(sessionId);
          }
          for (const name of LOCKS) checkLock(name, view(driver, name), lastToken);
          expect(waitForCycle(driver), 'a deadlock went undetected').toBeUndefined();
        }
      }),
      { numRuns: 500, seed: 7 },
    );
  });
});

function checkLock(name: string, current: View, lastToken: Map<string, number>): void {
  const exclusive = current.holders.filter((holder) => holder.mode === 'exclusive');
  if (exclusive.length > 0) expect(current.holders).toHaveLength(1);
  for (const holder of current.holders) {
    if (holder.mode !== 'exclusive') continue;
    expect(holder.token).toBeGreaterThanOrEqual(lastToken.get(name) ?? 0);
    lastToken.set(name, holder.token);
  }
  const head = current.waiters[0];
  if (head === undefined) return;
  const blocked = head.upgrade
    ? current.holders.some((holder) => holder.sessionId !== head.sessionId)
    : current.holders.some((holder) => holder.mode === 'exclusive' || head.mode === 'exclusive');
  expect(blocked, `${name}: head ${head.sessionId} could be granted`).toBe(true);
}

/** The wait-for graph from the inspection views, and a cycle in it if there is one. */
function waitForCycle(driver: Driver): string[] | undefined {
  const edges = new Map<string, Set<string>>();
  const conflict = (a: string, b: string) => a === 'exclusive' || b === 'exclusive';
  for (const name of LOCKS) {
    const { holders, waiters } = view(driver, name);
    waiters.forEach((waiter, position) => {
      const mode = waiter.upgrade ? 'exclusive' : waiter.mode;
      const out = edges.get(waiter.sessionId) ?? new Set<string>();
      edges.set(waiter.sessionId, out);
      for (const holder of holders) {
        if (holder.sessionId !== waiter.sessionId && conflict(holder.mode, mode)) {
          out.add(holder.sessionId);
        }
      }
      for (const ahead of waiters.slice(0, position)) {
        const aheadMode = ahead.upgrade ? 'exclusive' : ahead.mode;
        if (ahead.sessionId !== waiter.sessionId && conflict(aheadMode, mode)) {
          out.add(ahead.sessionId);
        }
      }
    });
  }
  const state = new Map<string, 'open' | 'done'>();
  const visit = (session: string, path: string[]): string[] | undefined => {
    if (state.get(session) === 'open') return [...path, session];
    if (state.get(session) === 'done') return undefined;
    state.set(session, 'open');
    for (const next of edges.get(session) ?? []) {
      const cycle = visit(next, [...path, session]);
      if (cycle !== undefined) return cycle;
    }
    state.set(session, 'done');
    return undefined;
  };
  for (const session of edges.keys()) {
    const cycle = visit(session, []);
    if (cycle !== undefined) return cycle;
  }
  return undefined;
}
