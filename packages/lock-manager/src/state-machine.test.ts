// The lock state machine applied directly: modes, FIFO fairness, fencing tokens, timeouts,
// session ends, upgrades, reentrancy, cancel, deadlock victims, limits and snapshots.
import { describe, expect, it } from 'vitest';
import {
  createLockStateMachine,
  LockClientCommandSchema,
  LockQuerySchema,
  type LockMode,
} from '@distsync/lock-manager';
import { codeOf, Driver, requestIdOf, tokenOf } from './test-support.js';

describe('compatibility matrix', () => {
  const cases: [LockMode, LockMode, boolean][] = [
    ['shared', 'shared', true],
    ['shared', 'exclusive', false],
    ['exclusive', 'shared', false],
    ['exclusive', 'exclusive', false],
  ];
  it.each(cases)('held %s, requested %s: granted now = %s', (held, requested, granted) => {
    // Proves shared/shared is the only compatible pair; the others queue (or TIMEOUT as try-lock).
    const driver = new Driver();
    tokenOf(driver.acquire('L', 'a', { mode: held }));
    const tryLock = driver.acquire('L', 'b', { mode: requested, timeoutMs: 0 });
    expect(codeOf(tryLock)).toBe(granted ? 'OK' : 'TIMEOUT');
    const waiting = driver.acquire('L', 'c', { mode: requested });
    if (granted) expect(tokenOf(waiting)).toBe(driver.index);
    else expect(requestIdOf(waiting)).toBe(driver.index);
  });
});

describe('FIFO fairness and fencing tokens', () => {
  it('grants in arrival order; a shared request behind a queued exclusive one waits', () => {
    // Proves writers never starve: b (shared) waits behind a queued exclusive request although
    // the holder is shared, and grants follow the queue with tokens equal to the grant's index.
    const driver = new Driver();
    const first = tokenOf(driver.acquire('L', 'a', { mode: 'shared' }));
    const writer = requestIdOf(driver.acquire('L', 'c', { mode: 'exclusive' }));
    const reader = requestIdOf(driver.acquire('L', 'b', { mode: 'shared' }));
    const reader2 = requestIdOf(driver.acquire('L', 'd', { mode: 'shared' }));
    expect(driver.waiters('L')).toEqual(['c:exclusive', 'b:shared', 'd:shared']);
    driver.release('L', 'a');
    const writerGrant = driver.events.find((e) => e.type === 'granted' && e.requestId === writer);
    expect(writerGrant).toMatchObject({ token: driver.index, sessionId: 'c' });
    expect(driver.holders('L')).toEqual(['c:exclusive']);
    driver.release('L', 'c');
    // Both readers are granted by the same entry: they share its index as token.
    expect(driver.holders('L')).toEqual(['b:shared', 'd:shared']);
    const granted = driver.events.flatMap((e) => (e.type === 'granted' ? [e] : []));
    expect(granted.map((e) => e.requestId)).toEqual([writer, reader, reader2]);
    const tokens = granted.map((e) => e.token);
    expect(first).toBeLessThan(tokens[0]!);
    expect(tokens[0]!).toBeLessThan(tokens[1]!);
  });

  it('gives every exclusive grant of a lock a strictly larger token', () => {
    // Proves the fencing property across releases, timeouts and session ends.
    const driver = new Driver();
    const tokens = [tokenOf(driver.acquire('L', 'a'))];
    driver.release('L', 'a');
    tokens.push(tokenOf(driver.acquire('L', 'b')));
    driver.acquire('L', 'c');
    driver.endSession('b');
    const granted = driver.events.find((e) => e.type === 'granted');
    tokens.push(granted?.type === 'granted' ? granted.token : 0);
    for (let i = 1; i < tokens.length; i += 1) expect(tokens[i]!).toBeGreaterThan(tokens[i - 1]!);
  });
});

describe('timeouts', () => {
  it('refuses a wait with TIMEOUT at its deadline through the timer command', () => {
    // Proves nextDeadline drives the expiry and a timed-out head unblocks shared requests behind.
    const driver = new Driver();
    driver.acquire('L', 'a', { mode: 'shared' });
    const writer = requestIdOf(driver.acquire('L', 'b', { mode: 'exclusive', timeoutMs: 500 }));
    const reader = requestIdOf(driver.acquire('L', 'c', { mode: 'shared', timeoutMs: 5000 }));
    expect(driver.machine.nextDeadline?.()).toBe(driver.timeMs + 500);
    expect(driver.advance(499)).toBeUndefined();
    expect(driver.advance(1)).toEqual({ ok: true, value: { expired: 1 } });
    expect(driver.events).toContainEqual(
      expect.objectContaining({ type: 'refused', requestId: writer, code: 'TIMEOUT' }),
    );
    expect(driver.events).toContainEqual(
      expect.objectContaining({ type: 'granted', requestId: reader, token: driver.index }),
    );
    expect(driver.holders('L')).toEqual(['a:shared', 'c:shared']);
    expect(driver.machine.nextDeadline?.()).toBeUndefined();
  });

  it('answers a try-lock (timeout 0) at once and never queues it', () => {
    // Proves timeoutMs 0 is a try-lock.
    const driver = new Driver();
    driver.acquire('L', 'a');
    expect(codeOf(driver.acquire('L', 'b', { timeoutMs: 0 }))).toBe('TIMEOUT');
    expect(driver.waiters('L')).toEqual([]);
  });
});

describe('session ends', () => {
  it('releases the locks of an expired session and grants on with that entry as token', () => {
    // Proves expiry releases holds, refuses the session's waits and grants the next in line.
    const driver = new Driver();
    driver.acquire('L', 'a');
    driver.acquire('M', 'b');
    const waitA = requestIdOf(driver.acquire('M', 'a'));
    const waitC = requestIdOf(driver.acquire('L', 'c'));
    driver.endSession('a');
    const endIndex = driver.index;
    expect(driver.events).toContainEqual(
      expect.objectContaining({ type: 'lost', name: 'L', sessionId: 'a', reason: 'expired' }),
    );
    expect(driver.events).toContainEqual(
      expect.objectContaining({ type: 'refused', requestId: waitA, code: 'SESSION_EXPIRED' }),
    );
    expect(driver.events).toContainEqual(
      expect.objectContaining({ type: 'granted', requestId: waitC, token: endIndex }),
    );
    expect(driver.machine.sessionExpiryReleaseCount()).toBe(1);
    expect(driver.waiters('M')).toEqual([]);
  });

  it('refuses an acquire by a session that is not live with SESSION_EXPIRED', () => {
    // Proves a dead or unknown session cannot take a lock.
    const driver = new Driver();
    expect(codeOf(driver.acquire('L', 'nobody'))).toBe('SESSION_EXPIRED');
    driver.endSession('a', 'deleted');
    expect(codeOf(driver.acquire('L', 'a'))).toBe('SESSION_EXPIRED');
  });
});

describe('upgrades', () => {
  it('upgrades a sole shared holder at once with a new token', () => {
    // Proves the immediate path of an upgrade and that the new token is larger.
    const driver = new Driver();
    const shared = tokenOf(driver.acquire('L', 'a', { mode: 'shared' }));
    const upgraded = driver.apply({ op: 'upgrade', name: 'L', sessionId: 'a', timeoutMs: 1000 });
    expect(tokenOf(upgraded)).toBeGreaterThan(shared);
    expect(driver.holders('L')).toEqual(['a:exclusive']);
  });

  it('queues an upgrade ahead of waiting writers until the other readers leave', () => {
    // Proves an upgrade waits first in line and is granted when its session holds alone.
    const driver = new Driver();
    driver.acquire('L', 'a', { mode: 'shared' });
    driver.acquire('L', 'b', { mode: 'shared' });
    driver.acquire('L', 'c', { mode: 'exclusive' });
    const upgrade = requestIdOf(
      driver.apply({ op: 'upgrade', name: 'L', sessionId: 'a', timeoutMs: 1000 }),
    );
    expect(driver.waiters('L')).toEqual(['a:exclusive', 'c:exclusive']);
    driver.release('L', 'b');
    expect(driver.events).toContainEqual(
      expect.objectContaining({ type: 'granted', requestId: upgrade, token: driver.index }),
    );
    expect(driver.holders('L')).toEqual(['a:exclusive']);
  });

  it('refuses the younger of two concurrent upgraders with DEADLOCK', () => {
    // Proves concurrent upgrades are a deadlock with exactly one victim, the youngest.
    const driver = new Driver();
    driver.acquire('L', 'a', { mode: 'shared' });
    driver.acquire('L', 'b', { mode: 'shared' });
    const first = requestIdOf(
      driver.apply({ op: 'upgrade', name: 'L', sessionId: 'a', timeoutMs: 1000 }),
    );
    const second = driver.apply({ op: 'upgrade', name: 'L', sessionId: 'b', timeoutMs: 1000 });
    expect(codeOf(second)).toBe('DEADLOCK');
    expect(driver.machine.deadlockCount()).toBe(1);
    driver.release('L', 'b');
    expect(driver.events).toContainEqual(
      expect.objectContaining({ type: 'granted', requestId: first }),
    );
  });

  it('refuses upgrades of locks not held shared', () => {
    // Proves the NOT_HELD and ALREADY_HELD answers of upgrade.
    const driver = new Driver();
    driver.acquire('L', 'a');
    const upgrade = (sessionId: string) =>
      driver.apply({ op: 'upgrade', name: 'L', sessionId, timeoutMs: 1000 });
    expect(codeOf(upgrade('b'))).toBe('NOT_HELD');
    expect(codeOf(upgrade('a'))).toBe('ALREADY_HELD');
  });
});

describe('reentrancy and re-acquisition', () => {
  it('counts a reentrant lock and releases it after as many releases', () => {
    // Proves reentrant acquires keep the token and need matching releases.
    const driver = new Driver();
    const token = tokenOf(driver.acquire('L', 'a', { reentrant: true }));
    expect(driver.acquire('L', 'a', { reentrant: true })).toEqual({
      ok: true,
      value: { token, mode: 'exclusive', holdCount: 2 },
    });
    expect(driver.release('L', 'a')).toEqual({ ok: true, value: { released: true, holdCount: 1 } });
    expect(driver.holders('L')).toEqual(['a:exclusive']);
    expect(driver.release('L', 'a')).toEqual({ ok: true, value: { released: true, holdCount: 0 } });
    expect(driver.holders('L')).toEqual([]);
  });

  it('refuses re-acquiring a non-reentrant lock or one waited for with ALREADY_HELD', () => {
    // Proves ALREADY_HELD for a held lock and for a second wait on the same lock.
    const driver = new Driver();
    driver.acquire('L', 'a');
    expect(codeOf(driver.acquire('L', 'a'))).toBe('ALREADY_HELD');
    requestIdOf(driver.acquire('L', 'b'));
    expect(codeOf(driver.acquire('L', 'b'))).toBe('ALREADY_HELD');
  });

  it('refuses a release by a non-holder with NOT_HELD', () => {
    // Proves NOT_HELD for a stranger and for a waiter.
    const driver = new Driver();
    driver.acquire('L', 'a');
    driver.acquire('L', 'b');
    expect(codeOf(driver.release('L', 'b'))).toBe('NOT_HELD');
    expect(codeOf(driver.release('nothing', 'a'))).toBe('NOT_HELD');
    // With a token, only that hold: a stale handle never releases a later hold.
    const stale = driver.apply({ op: 'release', name: 'L', sessionId: 'a', token: 999 });
    expect(codeOf(stale)).toBe('NOT_HELD');
  });
});

describe('cancel', () => {
  it('takes a waiting request out of its queue and grants on', () => {
    // Proves cancel of a wait, idempotence, and that the request behind moves up.
    const driver = new Driver();
    driver.acquire('L', 'a', { mode: 'shared' });
    const writer = requestIdOf(driver.acquire('L', 'b'));
    const reader = requestIdOf(driver.acquire('L', 'c', { mode: 'shared' }));
    expect(driver.apply({ op: 'cancel', requestId: writer, sessionId: 'b' })).toEqual({
      ok: true,
      value: { cancelled: true, released: false },
    });
    expect(driver.events).toContainEqual(
      expect.objectContaining({ type: 'granted', requestId: reader }),
    );
    expect(driver.apply({ op: 'cancel', requestId: writer, sessionId: 'b' })).toEqual({
      ok: true,
      value: { cancelled: false, released: false },
    });
  });

  it('releases a lock granted to a request that was given up meanwhile', () => {
    // Proves a late grant nobody waits for never stays held.
    const driver = new Driver();
    driver.acquire('L', 'a');
    const waiting = requestIdOf(driver.acquire('L', 'b'));
    driver.release('L', 'a');
    expect(driver.holders('L')).toEqual(['b:exclusive']);
    expect(codeOf(driver.apply({ op: 'cancel', requestId: waiting, sessionId: 'c' }))).toBe('OK');
    expect(driver.holders('L')).toEqual(['b:exclusive']);
    expect(driver.apply({ op: 'cancel', requestId: waiting, sessionId: 'b' })).toEqual({
      ok: true,
      value: { cancelled: false, released: true },
    });
    expect(driver.holders('L')).toEqual([]);
  });

  it('refuses to cancel another session’s waiting request', () => {
    // Proves cancel checks the owner.
    const driver = new Driver();
    driver.acquire('L', 'a');
    const waiting = requestIdOf(driver.acquire('L', 'b'));
    expect(codeOf(driver.apply({ op: 'cancel', requestId: waiting, sessionId: 'c' }))).toBe(
      'NOT_HELD',
    );
  });

  it('turns a granted upgrade that was given up back into a shared hold', () => {
    // Proves cancel of an upgrade granted meanwhile keeps the shared hold it came from.
    const driver = new Driver();
    driver.acquire('L', 'a', { mode: 'shared' });
    driver.acquire('L', 'b', { mode: 'shared' });
    const upgrade = requestIdOf(
      driver.apply({ op: 'upgrade', name: 'L', sessionId: 'a', timeoutMs: 1000 }),
    );
    driver.release('L', 'b');
    expect(driver.holders('L')).toEqual(['a:exclusive']);
    expect(driver.apply({ op: 'cancel', requestId: upgrade, sessionId: 'a' })).toEqual({
      ok: true,
      value: { cancelled: false, released: false, downgraded: true },
    });
    expect(driver.holders('L')).toEqual(['a:shared']);
  });
});

describe('deadlock detection', () => {
  it.each([2, 3, 5])('a cycle of %i sessions has exactly one victim, the youngest', (length) => {
    // Proves the request closing the cycle (the youngest) is refused, the others keep waiting
    // and proceed once the victim's session releases what it held.
    const sessions = Array.from({ length }, (_, i) => `s${i}`);
    const driver = new Driver({ sessions });
    sessions.forEach((session, i) => tokenOf(driver.acquire(`L${i}`, session)));
    const waits = sessions
      .slice(0, -1)
      .map((session, i) => requestIdOf(driver.acquire(`L${i + 1}`, session)));
    const closing = driver.acquire('L0', sessions.at(-1)!);
    expect(codeOf(closing)).toBe('DEADLOCK');
    expect(driver.machine.deadlockCount()).toBe(1);
    expect(driver.events.filter((e) => e.type === 'refused')).toEqual([]);
    expect(driver.machine.waitingCount()).toBe(length - 1);
    // The victim's session gives up its lock: the chain unwinds from the end.
    driver.release(`L${length - 1}`, sessions.at(-1)!);
    expect(driver.events).toContainEqual(
      expect.objectContaining({ type: 'granted', requestId: waits.at(-1) }),
    );
  });

  it('sees cycles through queued requests, not only holders', () => {
    // Proves the FIFO edge: c waits behind b's queued exclusive request, b waits for c.
    const driver = new Driver();
    driver.acquire('L', 'a', { mode: 'shared' });
    driver.acquire('M', 'c');
    requestIdOf(driver.acquire('L', 'b', { mode: 'exclusive' }));
    requestIdOf(driver.acquire('M', 'b'));
    expect(codeOf(driver.acquire('L', 'c', { mode: 'shared' }))).toBe('DEADLOCK');
  });

  it('sees no cycle between shared requests granted together', () => {
    // Proves no false edge between compatible requests: shared behind shared is not a wait.
    const driver = new Driver();
    driver.acquire('L', 'a');
    driver.acquire('M', 'c');
    requestIdOf(driver.acquire('L', 'b', { mode: 'shared' }));
    requestIdOf(driver.acquire('M', 'b', { mode: 'shared' }));
    expect(codeOf(driver.acquire('L', 'c', { mode: 'shared' }))).toBe('OK');
  });
});

describe('limits and bad input', () => {
  it('refuses waiters beyond maxWaitersPerLock with TOO_MANY_WAITERS', () => {
    // Proves the wait queue is bounded.
    const driver = new Driver({ limits: { maxWaitersPerLock: 2 } });
    driver.acquire('L', 'a');
    requestIdOf(driver.acquire('L', 'b'));
    requestIdOf(driver.acquire('L', 'c'));
    expect(codeOf(driver.acquire('L', 'd'))).toBe('TOO_MANY_WAITERS');
  });

  it('refuses new locks beyond maxLocks and holds beyond maxHoldCount with LIMIT_REACHED', () => {
    // Proves the lock table and reentrant counts are bounded.
    const driver = new Driver({ limits: { maxLocks: 1, maxHoldCount: 2 } });
    driver.acquire('L', 'a', { reentrant: true });
    expect(codeOf(driver.acquire('M', 'a'))).toBe('LIMIT_REACHED');
    driver.acquire('L', 'a', { reentrant: true });
    expect(codeOf(driver.acquire('L', 'a', { reentrant: true }))).toBe('LIMIT_REACHED');
  });

  it('rejects malformed commands and queries in its schemas', () => {
    // Proves names are 1-256 UTF-8 bytes and timeouts, modes and ops are checked.
    const base = { op: 'acquire', sessionId: 's', mode: 'exclusive', timeoutMs: 0 };
    const valid = (payload: unknown) => LockClientCommandSchema.safeParse(payload).success;
    expect(valid({ ...base, name: 'é'.repeat(128) })).toBe(true);
    expect(valid({ ...base, name: 'é'.repeat(129) })).toBe(false);
    expect(valid({ ...base, name: '' })).toBe(false);
    expect(valid({ ...base, name: 'L', timeoutMs: -1 })).toBe(false);
    expect(valid({ ...base, name: 'L', timeoutMs: 1.5 })).toBe(false);
    expect(valid({ ...base, name: 'L', mode: 'read' })).toBe(false);
    expect(valid({ ...base, name: 'L', extra: 1 })).toBe(false);
    expect(valid({ op: 'expire', nowMs: 1 })).toBe(false);
    expect(LockQuerySchema.safeParse({ op: 'list', limit: 0 }).success).toBe(false);
  });

  it('rejects bad limits when it is created', () => {
    // Proves limits are validated with a plain message.
    expect(() =>
      createLockStateMachine({
        sessions: { isLive: () => true, onEnded: () => () => undefined },
        limits: { maxWaitersPerLock: 0 },
      }),
    ).toThrow('limits.maxWaitersPerLock must be a positive integer');
  });
});

describe('inspection', () => {
  it('lists locks by name with holders, waiters, modes, tokens and since', () => {
    // Proves the list and get queries, paging with next.
    const driver = new Driver();
    const token = tokenOf(driver.acquire('b/1', 'a', { mode: 'shared' }));
    driver.acquire('b/1', 'b');
    driver.acquire('a/1', 'c');
    driver.acquire('b/2', 'd');
    const page = driver.machine.query({ op: 'list', prefix: 'b/', limit: 1 });
    expect(page).toEqual({
      ok: true,
      value: {
        locks: [
          {
            name: 'b/1',
            holders: [{ sessionId: 'a', mode: 'shared', token, sinceMs: 1000, holdCount: 1 }],
            waiters: [
              {
                requestId: token + 1,
                sessionId: 'b',
                mode: 'exclusive',
                sinceMs: 1000,
                deadlineMs: 11_000,
                upgrade: false,
              },
            ],
          },
        ],
        next: 'b/1',
      },
    });
    const rest = driver.machine.query({ op: 'list', prefix: 'b/', after: 'b/1' });
    expect(
      rest.ok && (rest.value as { locks: { name: string }[] }).locks.map((l) => l.name),
    ).toEqual(['b/2']);
    expect(driver.machine.query({ op: 'get', name: 'free' })).toEqual({
      ok: true,
      value: { name: 'free', holders: [], waiters: [] },
    });
  });
});

describe('snapshots and request status', () => {
  it('round-trips its state and behaves the same after a restore', () => {
    // Proves snapshot/restore keep holders, queues, tokens and deadlines, byte for byte.
    const driver = new Driver();
    driver.acquire('L', 'a', { mode: 'shared', reentrant: true });
    driver.acquire('L', 'a', { mode: 'shared', reentrant: true });
    driver.acquire('L', 'b');
    driver.acquire('L', 'c', { mode: 'shared' });
    driver.acquire('M', 'd');
    const bytes = driver.machine.snapshot();
    const copy = new Driver();
    copy.index = driver.index;
    copy.machine.restore(bytes);
    expect(copy.events).toEqual([{ type: 'restored' }]);
    expect(copy.machine.snapshot()).toEqual(bytes);
    for (const target of [driver, copy]) {
      target.release('L', 'a');
      target.release('L', 'a');
      target.advance(20_000);
    }
    expect(copy.machine.snapshot()).toEqual(driver.machine.snapshot());
  });

  it('restores a snapshot of the earlier format (one JSON object) and goes on from it', () => {
    // Proves a node upgraded from an old snapshot starts: the format written before JSON lines,
    // as the earlier code wrote it for this state, restores to the same table.
    const driver = new Driver();
    driver.acquire('L', 'a', { mode: 'shared', reentrant: true });
    driver.acquire('L', 'b', { mode: 'shared' });
    driver.acquire('L', 'c', { timeoutMs: 5000 });
    driver.acquire('K', 'd');
    // The bytes the earlier code's snapshot() wrote for this state (commit da57ccd).
    const legacy =
      '{"locks":[["K",{"holders":[{"sessionId":"d","mode":"exclusive","token":4,"sinceMs":1000,' +
      '"holdCount":1,"reentrant":false,"requestId":4,"viaUpgrade":false}],"waiters":[]}],["L",' +
      '{"holders":[{"sessionId":"a","mode":"shared","token":1,"sinceMs":1000,"holdCount":1,' +
      '"reentrant":true,"requestId":1,"viaUpgrade":false},{"sessionId":"b","mode":"shared",' +
      '"token":2,"sinceMs":1000,"holdCount":1,"reentrant":false,"requestId":2,' +
      '"viaUpgrade":false}],"waiters":[{"requestId":3,"sessionId":"c","mode":"exclusive",' +
      '"sinceMs":1000,"deadlineMs":6000,"reentrant":false,"upgrade":false}]}]]}';
    const copy = new Driver();
    copy.index = driver.index;
    copy.machine.restore(new TextEncoder().encode(legacy));
    expect(copy.machine.snapshot()).toEqual(driver.machine.snapshot());
    for (const target of [driver, copy]) {
      target.release('L', 'a');
      target.release('L', 'b');
    }
    expect(copy.holders('L')).toEqual(['c:exclusive']);
    expect(copy.machine.snapshot()).toEqual(driver.machine.snapshot());
  });

  it('refuses a snapshot with an unknown header or a bad row as BAD_SNAPSHOT', () => {
    const machine = new Driver().machine;
    const bytes = (...lines: string[]) => new TextEncoder().encode(lines.join('\n') + '\n');
    expect(() => {
      machine.restore(bytes('{"format":"lock-lines","version":2}'));
    }).toThrow(expect.objectContaining({ code: 'BAD_SNAPSHOT' }));
    expect(() => {
      machine.restore(bytes('{"format":"lock-lines","version":1}', '["L",{"holders":[{}]}]'));
    }).toThrow(/line 2 is not a \[name, \{holders, waiters\}\] row/);
    expect(() => {
      machine.restore(
        bytes(
          '{"format":"lock-lines","version":1}',
          '["L",{"holders":[],"waiters":[]}]',
          '["L",{"holders":[],"waiters":[]}]',
        ),
      );
    }).toThrow(/repeats lock "L"/);
  });

  it('tells a late waiter the outcome of its request and forgets the oldest beyond the bound', () => {
    // Proves requestStatus: waiting, done (granted or refused), unknown after eviction.
    const driver = new Driver({ limits: { recentOutcomes: 1 } });
    driver.acquire('L', 'a');
    const b = requestIdOf(driver.acquire('L', 'b', { timeoutMs: 100 }));
    const c = requestIdOf(driver.acquire('L', 'c', { timeoutMs: 100_000 }));
    expect(driver.machine.requestStatus(b)).toEqual({ state: 'waiting' });
    driver.advance(100);
    expect(driver.machine.requestStatus(b)).toMatchObject({
      state: 'done',
      result: { ok: false, code: 'TIMEOUT' },
    });
    driver.release('L', 'a');
    expect(driver.machine.requestStatus(c)).toMatchObject({ state: 'done', result: { ok: true } });
    expect(driver.machine.requestStatus(b)).toEqual({ state: 'unknown' });
    expect(driver.machine.query({ op: 'request', requestId: c })).toEqual({
      ok: true,
      value: { state: 'granted', token: driver.index, mode: 'exclusive', holdCount: 1 },
    });
    expect(driver.machine.query({ op: 'request', requestId: b })).toEqual({
      ok: true,
      value: { state: 'unknown' },
    });
  });
});
