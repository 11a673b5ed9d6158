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

  it('snapshots in slices while writes go on, restores that, reads the old array format, and rejects garbage', () => {
    const kv = createKvStateMachine({ maxKeys: 10_000 });
    for (let i = 0; i < 2500; i += 1)
      kv.apply({ op: 'put', key: `k${i}`, value: i }, context(i + 1));
    const expected = kv.snapshot();
    const job = kv.beginSnapshot!();
    let bytes: Uint8Array | undefined;
    for (let step = 0; bytes === undefined; step += 1) {
      // Overwrite, delete and add between slices: none of it may leak into the snapshot.
      kv.apply({ op: 'put', key: `k${step}`, value: 'later' }, context(6000 + step * 3));
      kv.apply({ op: 'delete', key: `k${2499 - step}` }, context(6001 + step * 3));
      kv.apply({ op: 'put', key: `new${step}`, value: step }, context(6002 + step * 3));
      bytes = job.next();
    }
    expect(bytes).toEqual(expected);
    const restored = createKvStateMachine({ maxKeys: 10_000 });
    restored.restore(bytes);
    expect(restored.size()).toBe(2500);
    expect(restored.query({ op: 'get', key: 'k0' })).toEqual({
      ok: true,
      value: { value: 0, version: 1 },
    });
    // Nodes before 0.x wrote one sorted JSON array; their data dirs must still start.
    const legacy = createKvStateMachine({ maxKeys: 10 });
    legacy.restore(new TextEncoder().encode(JSON.stringify([['a', { value: 1, version: 4 }]])));
    expect(legacy.query({ op: 'get', key: 'a' })).toEqual({
      ok: true,
      value: { value: 1, version: 4 },
    });
    const encode = (text: string) => new TextEncoder().encode(text);
    expect(() => {
      legacy.restore(encode('{"format":"other"}\n'));
    }).toThrow(/BAD_SNAPSHOT|unknown header/);
    expect(() => {
      legacy.restore(encode('{"format":"kv-lines","version":1}\n["k",{"value":1}]\n'));
    }).toThrow(/line 2 is not a \[key, \{value, version\}\] row/);
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
  it('gives every session a full TTL from the first command of a new term (a new leader may run ahead)', () => {
    const term = (index: number, timeMs: number, t: number): ApplyContext => ({
      index,
      term: t,
      timeMs,
      clientId: undefined,
    });
    const sessions = createSessionsStateMachine({ maxSessions: 10 });
    sessions.apply({ op: 'create', ttlMs: 1000 }, term(2, 10_000, 1));
    expect(sessions.nextDeadline?.()).toBe(11_000);
    // Term 2's leader stamps 2 s ahead: its first expire would have ended s2 at once.
    const copy = createSessionsStateMachine({ maxSessions: 10 });
    expect(sessions.apply({ op: 'expire', nowMs: 12_500 }, term(5, 12_500, 2))).toEqual({
      ok: true,
      value: { expired: 0 },
    });
    expect(sessions.isLive('s2')).toBe(true);
    expect(sessions.nextDeadline?.()).toBe(13_500);
    // The snapshot keeps the term, so a restored replica does not renew again in term 2.
    copy.restore(sessions.snapshot());
    for (const machine of [sessions, copy]) {
      expect(machine.apply({ op: 'expire', nowMs: 13_500 }, term(6, 13_500, 2))).toEqual({
        ok: true,
        value: { expired: 1 },
      });
    }
    // A snapshot from before the term was kept (a bare array) still restores.
    const legacy = createSessionsStateMachine({ maxSessions: 10 });
    legacy.restore(
      new TextEncoder().encode(JSON.stringify([['s9', { ttlMs: 100, expiresAtMs: 50 }]])),
    );
    expect(legacy.isLive('s9')).toBe(true);
  });

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

  it('snapshots in slices while sessions come, renew, end and get a new term, and reads the old formats', () => {
    const sessions = createSessionsStateMachine({ maxSessions: 10_000 });
    for (let i = 1; i <= 6000; i += 1) {
      sessions.apply({ op: 'create', ttlMs: 1000 + (i % 5) }, context(i, 1000 + i));
    }
    const expected = sessions.snapshot();
    const job = sessions.beginSnapshot!();
    let bytes: Uint8Array | undefined;
    let index = 10_000;
    let slices = 0;
    for (let step = 0; bytes === undefined; step += 1) {
      // Keep-alives, deletes, creates, an expiry and a new term (which renews every session)
      // between slices: none of it may leak into the snapshot.
      const at = (timeMs: number, term = 1): ApplyContext => ({
        index: (index += 1),
        term,
        timeMs,
        clientId: undefined,
      });
      sessions.apply({ op: 'keepalive', sessionId: `s${6000 - step}` }, at(3500));
      sessions.apply({ op: 'delete', sessionId: `s${1 + step * 7}` }, at(3500));
      sessions.apply({ op: 'create', ttlMs: 500 }, at(3500));
      if (step === 1) sessions.apply({ op: 'expire', nowMs: 3200 }, at(3200));
      if (step === 2) sessions.apply({ op: 'create', ttlMs: 500 }, at(9000, 2));
      bytes = job.next();
      slices += 1;
    }
    expect(slices).toBeGreaterThan(3);
    expect(bytes).toEqual(expected);
    const restored = createSessionsStateMachine({ maxSessions: 10_000 });
    restored.restore(bytes);
    expect(restored.size()).toBe(6000);
    expect(sessions.snapshot()).not.toEqual(expected);
    expect(restored.snapshot()).toEqual(expected);
    // What nodes wrote before JSON lines (bytes of commit da57ccd), with the term kept.
    const legacy = createSessionsStateMachine({ maxSessions: 10 });
    legacy.restore(
      new TextEncoder().encode(
        '{"term":3,"sessions":[["s12",{"ttlMs":1000,"expiresAtMs":6000}],' +
          '["s9",{"ttlMs":2000,"expiresAtMs":7100}]]}',
      ),
    );
    expect(legacy.query({ op: 'get', sessionId: 's9' })).toEqual({
      ok: true,
      value: { sessionId: 's9', ttlMs: 2000, expiresAtMs: 7100 },
    });
    // Term 3 was restored: a command of term 3 renews nothing.
    legacy.apply(
      { op: 'expire', nowMs: 6000 },
      { index: 13, term: 3, timeMs: 6000, clientId: undefined },
    );
    expect(legacy.isLive('s12')).toBe(false);
    const encode = (text: string) => new TextEncoder().encode(text);
    expect(() => {
      legacy.restore(encode('{"format":"sessions-lines","version":2,"term":1}\n'));
    }).toThrow(/unknown header/);
    expect(() => {
      legacy.restore(encode('{"format":"sessions-lines","version":1,"term":1}\n["s1",{}]\n'));
    }).toThrow(/line 2 is not a \[sessionId, \{ttlMs, expiresAtMs\}\] row/);
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
