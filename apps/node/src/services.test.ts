// The kv and sessions state machines on their own: results, determinism, snapshots, expiry.
import { describe, expect, it } from 'vitest';
import type { ApplyContext } from '@distsync/raft';
import { createKvStateMachine, createSessionsStateMachine, type KvCommand } from '@distsync/node';

function context(index: number, timeMs = 1000): ApplyContext {
  return { index, term: 1, timeMs, clientId: undefined };
}

describe('kv state machine', () => {
  it('versions a key with the index of its last write and refuses a stale compare-and-set', () => {
    const kv = createKvStateMachine({ maxKeys: 10 });
    expect(kv.apply({ op: 'put', key: 'a', value: { x: 1 } }, context(3))).toEqual({
      ok: true,
      value: { version: 3, index: 3 },
    });
    expect(kv.query({ op: 'get', key: 'a' })).toEqual({
      ok: true,
      value: { value: { x: 1 }, version: 3 },
    });
    expect(
      kv.apply({ op: 'cas', key: 'a', expectedVersion: 2, value: 9 }, context(4)),
    ).toMatchObject({ ok: false, code: 'CONFLICT' });
    expect(kv.apply({ op: 'cas', key: 'a', expectedVersion: 3, value: 9 }, context(5))).toEqual({
      ok: true,
      value: { version: 5, index: 5 },
    });
    // Version 0 means "absent": create-if-missing works once.
    expect(kv.apply({ op: 'cas', key: 'b', expectedVersion: 0, value: 1 }, context(6)).ok).toBe(
      true,
    );
    expect(kv.apply({ op: 'cas', key: 'b', expectedVersion: 0, value: 2 }, context(7)).ok).toBe(
      false,
    );
    expect(kv.apply({ op: 'delete', key: 'a' }, context(8))).toEqual({
      ok: true,
      value: { deleted: true },
    });
    expect(kv.query({ op: 'get', key: 'a' })).toMatchObject({ ok: false, code: 'NOT_FOUND' });
  });

  it('gives identical snapshots for identical histories, and restores them', () => {
    const commands: KvCommand[] = [
      { op: 'put', key: 'z', value: 1 },
      { op: 'put', key: 'a', value: [1, 2] },
      { op: 'delete', key: 'z' },
      { op: 'put', key: 'm', value: null },
    ];
    const one = createKvStateMachine({ maxKeys: 10 });
    const two = createKvStateMachine({ maxKeys: 10 });
    commands.forEach((command, index) => {
      expect(one.apply(command, context(index + 1))).toEqual(
        two.apply(command, context(index + 1)),
      );
    });
    expect(one.snapshot()).toEqual(two.snapshot());
    const restored = createKvStateMachine({ maxKeys: 10 });
    restored.restore(one.snapshot());
    expect(restored.query({ op: 'get', key: 'a' })).toEqual(one.query({ op: 'get', key: 'a' }));
    expect(restored.size()).toBe(2);
  });

  it('refuses a new key beyond maxKeys but still updates existing ones', () => {
    const kv = createKvStateMachine({ maxKeys: 1 });
    expect(kv.apply({ op: 'put', key: 'a', value: 1 }, context(1)).ok).toBe(true);
    expect(kv.apply({ op: 'put', key: 'b', value: 1 }, context(2))).toMatchObject({
      ok: false,
      code: 'LIMIT_REACHED',
    });
    expect(kv.apply({ op: 'put', key: 'a', value: 2 }, context(3)).ok).toBe(true);
  });
});

describe('sessions state machine', () => {
  it('expires a session through the timer command once its deadline passes', () => {
    const ended: string[] = [];
    const sessions = createSessionsStateMachine({ maxSessions: 10 });
    sessions.onEnded((id, reason, applied) => ended.push(`${id}:${reason}@${applied.index}`));
    const created = sessions.apply({ op: 'create', ttlMs: 500 }, context(2, 1000));
    expect(created).toEqual({ ok: true, value: { sessionId: 's2', ttlMs: 500 } });
    expect(sessions.isLive('s2')).toBe(true);
    expect(sessions.nextDeadline?.()).toBe(1500);
    expect(sessions.apply({ op: 'keepalive', sessionId: 's2' }, context(3, 1400))).toEqual({
      ok: true,
      value: { expiresInMs: 500 },
    });
    expect(sessions.nextDeadline?.()).toBe(1900);
    const timer = sessions.timerCommand?.(1900);
    expect(timer).toEqual({ op: 'expire', nowMs: 1900 });
    sessions.apply(timer!, context(4, 1900));
    expect(ended).toEqual(['s2:expired@4']);
    expect(sessions.isLive('s2')).toBe(false);
    expect(sessions.nextDeadline?.()).toBeUndefined();
    expect(sessions.apply({ op: 'keepalive', sessionId: 's2' }, context(5, 1950))).toMatchObject({
      ok: false,
      code: 'NOT_FOUND',
    });
  });

  it('round-trips its state through a snapshot', () => {
    const sessions = createSessionsStateMachine({ maxSessions: 10 });
    sessions.apply({ op: 'create', ttlMs: 1000 }, context(7, 50));
    const copy = createSessionsStateMachine({ maxSessions: 10 });
    copy.restore(sessions.snapshot());
    expect(copy.query({ op: 'get', sessionId: 's7' })).toEqual({
      ok: true,
      value: { sessionId: 's7', ttlMs: 1000, expiresAtMs: 1050 },
    });
  });
});
