// The coherence directory as a state machine: MESI transitions, pending invalidations and their
// acknowledgment or lease expiry, TTL, write-behind bookkeeping, session holders, every rejection
// code, and determinism (snapshots round-trip; replicas that apply the same log agree).
import fc from 'fast-check';
import type { ApplyContext } from '@distsync/raft';
import { describe, expect, it } from 'vitest';
import {
  createCacheDirectory,
  DirectoryCommandSchema,
  SessionHolderCommandSchema,
  type CacheDirectory,
  type CacheDirectoryOptions,
  type DirectoryCommand,
  type DirectoryEvent,
  type SessionLiveness,
} from './index.js';

class Harness {
  readonly machine: CacheDirectory;
  readonly events: DirectoryEvent[] = [];
  index = 0;
  timeMs = 10_000;

  constructor(options: CacheDirectoryOptions = { readLeaseMs: 1000, clockSkewMsMax: 0 }) {
    this.machine = createCacheDirectory(options);
    this.machine.onEvent((event) => this.events.push(event));
  }

  apply(command: DirectoryCommand): ReturnType<CacheDirectory['apply']> {
    this.index += 1;
    const context: ApplyContext = {
      index: this.index,
      term: 1,
      timeMs: this.timeMs,
      clientId: undefined,
    };
    return this.machine.apply(command, context);
  }

  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the answer's shape
  value<T>(command: DirectoryCommand): T {
    const result = this.apply(command);
    if (!result.ok) throw new Error(`${command.op} refused: ${JSON.stringify(result)}`);
    return result.value as T;
  }

  states(key: string): Record<string, string> {
    return Object.fromEntries(
      (this.machine.peek(key)?.holders ?? []).map((line) => [line.holder, line.state]),
    );
  }
}

const A = 'node:a';
const B = 'node:b';
const C = 'node:c';

describe('MESI transitions in the directory', () => {
  it('gives the only reader E, downgrades it to S when a second reader comes, and the writer M', () => {
    const h = new Harness();
    expect(h.value({ op: 'read', key: 'k', holder: A })).toMatchObject({ status: 'load' });
    expect(h.value({ op: 'fill', key: 'k', holder: A, found: true, value: 1 })).toMatchObject({
      status: 'hit',
      state: 'E',
      value: 1,
    });
    expect(h.value({ op: 'read', key: 'k', holder: B })).toMatchObject({ state: 'S', value: 1 });
    expect(h.states('k')).toEqual({ [A]: 'S', [B]: 'S' });
    expect(h.events).toContainEqual({ type: 'downgrade', holder: A, key: 'k' });

    const written = h.value<{ version: number; pending: number; invalidated: number }>({
      op: 'write',
      key: 'k',
      holder: C,
      value: 2,
    });
    expect(written).toMatchObject({ pending: 2, invalidated: 2 });
    expect(h.states('k')).toEqual({ [C]: 'M' });
    expect(h.events).toContainEqual({
      type: 'invalidate',
      holder: A,
      key: 'k',
      version: written.version,
    });
    expect(h.events).toContainEqual({
      type: 'invalidate',
      holder: B,
      key: 'k',
      version: written.version,
    });
  });

  it('keeps a write pending (reads wait) until every copy acknowledged its invalidation', () => {
    const h = new Harness();
    h.value({ op: 'fill', key: 'k', holder: A, found: true, value: 1 });
    h.value({ op: 'read', key: 'k', holder: B });
    const { version } = h.value<{ version: number }>({
      op: 'write',
      key: 'k',
      holder: C,
      value: 2,
    });
    expect(h.value({ op: 'read', key: 'k', holder: A })).toMatchObject({ status: 'pending' });
    expect(h.machine.query({ op: 'settled', key: 'k', version })).toEqual({
      ok: true,
      value: { settled: false },
    });
    // A stale ack (an older version) does not count.
    expect(
      h.value({ op: 'ack', holder: A, items: [{ key: 'k', version: version - 1 }] }),
    ).toMatchObject({ acknowledged: 0 });
    h.value({ op: 'ack', holder: A, items: [{ key: 'k', version }] });
    expect(h.machine.peek('k')?.pending).toEqual([B]);
    h.value({ op: 'ack', holder: B, items: [{ key: 'k', version }] });
    expect(h.events).toContainEqual({ type: 'settled', key: 'k', version });
    expect(h.value({ op: 'read', key: 'k', holder: A })).toMatchObject({
      status: 'hit',
      value: 2,
      state: 'S',
    });
    expect(h.states('k')).toEqual({ [C]: 'S', [A]: 'S' });
  });

  it('settles a write without the ack of a holder whose lease ran out (at grant + lease*(1+drift) + skew)', () => {
    const h = new Harness({ readLeaseMs: 1000, clockDriftMax: 0.01, clockSkewMsMax: 50 });
    expect(h.machine.limits.directoryLeaseMs).toBe(1060);
    h.value({ op: 'fill', key: 'k', holder: A, found: true, value: 1 });
    const grantMs = h.timeMs;
    h.timeMs += 500;
    const { version } = h.value<{ version: number }>({
      op: 'write',
      key: 'k',
      holder: B,
      value: 2,
    });
    expect(h.machine.nextDeadline?.()).toBe(grantMs + 1060);
    h.timeMs = grantMs + 1059;
    h.apply({ op: 'tick', nowMs: h.timeMs });
    expect(h.machine.peek('k')?.pending).toEqual([A]);
    h.timeMs = grantMs + 1060;
    h.apply({ op: 'tick', nowMs: h.timeMs });
    expect(h.machine.peek('k')?.pending).toEqual([]);
    expect(h.events).toContainEqual({ type: 'settled', key: 'k', version });
    expect(h.events).toContainEqual({ type: 'dropped', holder: A, incarnation: 1 });
    // The dropped holder comes back under a new incarnation: its old lines are void.
    const renewed = h.value<{ lease: { incarnation: number } }>({ op: 'renew', holder: A });
    expect(renewed.lease.incarnation).toBeGreaterThan(1);
  });

  it('returns unacknowledged invalidations with a renew (a lost push is recovered)', () => {
    const h = new Harness();
    h.value({ op: 'fill', key: 'k', holder: A, found: true, value: 1 });
    const { version } = h.value<{ version: number }>({
      op: 'write',
      key: 'k',
      holder: B,
      value: 2,
    });
    expect(h.value({ op: 'renew', holder: A })).toMatchObject({
      invalidate: [{ key: 'k', version }],
    });
  });

  it("invalidates the writer's own copy when it was registered after the copy the writer dropped", () => {
    const h = new Harness();
    const read = h.value<{ registration: number }>({
      op: 'fill',
      key: 'k',
      holder: A,
      found: true,
      value: 1,
    });
    // basis = the registration A dropped: no invalidation of A.
    expect(
      h.value({ op: 'write', key: 'k', holder: A, value: 2, basis: read.registration }),
    ).toMatchObject({ pending: 0 });
    const again = h.value<{ registration: number }>({ op: 'read', key: 'k', holder: A });
    // A write sent before that read was answered (basis 0) must invalidate A's newer copy.
    expect(h.value({ op: 'write', key: 'k', holder: A, value: 3, basis: 0 })).toMatchObject({
      pending: 1,
    });
    expect(again.registration).toBeGreaterThan(0);
  });

  it('expires a key at its TTL: the value turns absent, copies are invalidated, the store learns it', () => {
    const h = new Harness();
    h.value({ op: 'write', key: 'k', holder: A, value: 'v', ttlMs: 500 });
    h.value({ op: 'written', items: [{ key: 'k', version: 1 }] });
    expect(h.machine.nextDeadline?.()).toBe(h.timeMs + 500);
    h.timeMs += 500;
    h.value({ op: 'ack', holder: A, items: [{ key: 'k', version: 0 }] });
    h.apply({ op: 'tick', nowMs: h.timeMs });
    expect(h.machine.peek('k')).toMatchObject({ found: false, dirty: true, pending: [A] });
    h.value({
      op: 'ack',
      holder: A,
      items: [{ key: 'k', version: h.machine.peek('k')?.version ?? 0 }],
    });
    expect(h.value({ op: 'read', key: 'k', holder: B })).toMatchObject({
      status: 'hit',
      found: false,
    });
  });

  it('lists dirty keys for write-behind and clears them only for the version written', () => {
    const h = new Harness();
    const first = h.value<{ version: number }>({ op: 'write', key: 'k', holder: A, value: 1 });
    const second = h.value<{ version: number }>({
      op: 'write',
      key: 'k',
      holder: A,
      value: 2,
      basis: first.version,
    });
    expect(h.machine.query({ op: 'dirty', limit: 10 })).toMatchObject({
      ok: true,
      value: { items: [{ key: 'k', version: second.version, value: 2, found: true }] },
    });
    expect(h.value({ op: 'written', items: [{ key: 'k', version: first.version }] })).toEqual({
      cleaned: 0,
    });
    expect(h.value({ op: 'written', items: [{ key: 'k', version: second.version }] })).toEqual({
      cleaned: 1,
    });
    expect(h.machine.dirtyCount()).toBe(0);
  });

  it('releases a line only for the registration named (a release that crossed a newer read does nothing)', () => {
    const h = new Harness();
    const first = h.value<{ registration: number }>({
      op: 'fill',
      key: 'k',
      holder: A,
      found: true,
      value: 1,
    });
    const second = h.value<{ registration: number }>({ op: 'read', key: 'k', holder: A });
    expect(
      h.value({
        op: 'release',
        holder: A,
        items: [{ key: 'k', registration: first.registration }],
      }),
    ).toEqual({
      released: 0,
    });
    expect(
      h.value({
        op: 'release',
        holder: A,
        items: [{ key: 'k', registration: second.registration }],
      }),
    ).toEqual({ released: 1 });
    expect(h.states('k')).toEqual({});
  });
});

describe('session holders', () => {
  function sessions(live: Set<string>): SessionLiveness & { end(id: string): void } {
    const listeners: Parameters<SessionLiveness['onEnded']>[0][] = [];
    return {
      isLive: (id) => live.has(id),
      onEnded: (listener) => {
        listeners.push(listener);
        return () => undefined;
      },
      end: (id) => {
        live.delete(id);
        for (const listener of listeners) {
          listener(id, 'expired', { index: 0, term: 1, timeMs: 0, clientId: undefined });
        }
      },
    };
  }

  it("refuses a holder whose session is not live, and keeps an ended session's lines until its lease ends", () => {
    const live = sessions(new Set(['s1']));
    const h = new Harness({ sessions: live, readLeaseMs: 1000, clockSkewMsMax: 0 });
    expect(h.apply({ op: 'read', key: 'k', holder: 'session:nope' })).toMatchObject({
      ok: false,
      code: 'NOT_FOUND',
    });
    h.value({ op: 'fill', key: 'k', holder: 'session:s1', found: true, value: 1 });
    live.end('s1');
    expect(h.apply({ op: 'renew', holder: 'session:s1' })).toMatchObject({
      ok: false,
      code: 'NOT_FOUND',
    });
    // A write still waits for it: the near cache may serve until its lease runs out.
    expect(h.value({ op: 'write', key: 'k', holder: A, value: 2 })).toMatchObject({ pending: 1 });
    h.timeMs += 1010;
    h.apply({ op: 'tick', nowMs: h.timeMs });
    expect(h.machine.peek('k')?.pending).toEqual([]);
    expect(h.machine.query({ op: 'holder', holder: 'session:s1' })).toMatchObject({
      ok: false,
      code: 'NOT_FOUND',
    });
  });

  it('lets a near cache send holder commands only as a session holder over /client', () => {
    expect(
      SessionHolderCommandSchema.safeParse({ op: 'read', key: 'k', holder: 'session:s1' }).success,
    ).toBe(true);
    expect(
      SessionHolderCommandSchema.safeParse({ op: 'read', key: 'k', holder: 'node:n1' }).success,
    ).toBe(false);
    expect(
      SessionHolderCommandSchema.safeParse({ op: 'written', items: [{ key: 'k', version: 1 }] })
        .success,
    ).toBe(false);
  });
});

describe('rejections', () => {
  it('answers TOO_LARGE for a value above maxValueBytes (write and fill)', () => {
    const h = new Harness({ maxValueBytes: 16 });
    expect(h.apply({ op: 'write', key: 'k', holder: A, value: 'x'.repeat(20) })).toMatchObject({
      ok: false,
      code: 'TOO_LARGE',
    });
    expect(
      h.apply({ op: 'fill', key: 'k', holder: A, found: true, value: 'x'.repeat(20) }),
    ).toMatchObject({
      ok: false,
      code: 'TOO_LARGE',
    });
  });

  it('answers LIMIT_REACHED when maxKeys are all dirty or held, and when maxHolders are taken', () => {
    const h = new Harness({ maxKeys: 2, maxHolders: 2 });
    h.value({ op: 'write', key: 'a', holder: A, value: 1 });
    h.value({ op: 'write', key: 'b', holder: A, value: 1 });
    expect(h.apply({ op: 'write', key: 'c', holder: A, value: 1 })).toMatchObject({
      ok: false,
      code: 'LIMIT_REACHED',
    });
    // Once clean and unheld, the least recently touched key makes room.
    h.value({ op: 'written', items: [{ key: 'a', version: 1 }] });
    h.value({ op: 'release', holder: A, items: [{ key: 'a', registration: 1 }] });
    expect(h.apply({ op: 'write', key: 'c', holder: A, value: 1 })).toMatchObject({ ok: true });
    expect(h.machine.peek('a')).toBeUndefined();

    h.value({ op: 'renew', holder: B });
    expect(h.apply({ op: 'renew', holder: C })).toMatchObject({ ok: false, code: 'LIMIT_REACHED' });
  });

  it('answers NOT_FOUND for an entry or holder it does not know', () => {
    const h = new Harness();
    expect(h.machine.query({ op: 'entry', key: 'nope' })).toMatchObject({
      ok: false,
      code: 'NOT_FOUND',
    });
    expect(h.machine.query({ op: 'holder', holder: A })).toMatchObject({
      ok: false,
      code: 'NOT_FOUND',
    });
  });

  it('rejects malformed commands by schema (the node answers BAD_REQUEST)', () => {
    const bad = [
      { op: 'read', key: '', holder: A },
      { op: 'read', key: 'x'.repeat(513), holder: A },
      { op: 'read', key: 'k', holder: 'somebody' },
      { op: 'write', key: 'k', holder: A, value: 1, ttlMs: 0 },
      { op: 'ack', holder: A, items: [] },
      { op: 'explode' },
    ];
    for (const command of bad)
      expect(DirectoryCommandSchema.safeParse(command).success, JSON.stringify(command)).toBe(
        false,
      );
  });

  it('refuses bad options with INVALID_OPTION', () => {
    expect(() => createCacheDirectory({ readLeaseMs: 0 })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    );
    expect(() => createCacheDirectory({ clockDriftMax: 0.7 })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    );
    expect(() => createCacheDirectory({ maxKeys: 1.5 })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    );
  });
});

describe('determinism', () => {
  const holders = [A, B, C];
  const keys = ['k1', 'k2', 'k3'];
  const commandArb: fc.Arbitrary<DirectoryCommand> = fc.oneof(
    fc.record({
      op: fc.constant('read' as const),
      key: fc.constantFrom(...keys),
      holder: fc.constantFrom(...holders),
    }),
    fc.record({
      op: fc.constant('fill' as const),
      key: fc.constantFrom(...keys),
      holder: fc.constantFrom(...holders),
      found: fc.boolean(),
      value: fc.integer(),
    }),
    fc.record({
      op: fc.constant('write' as const),
      key: fc.constantFrom(...keys),
      holder: fc.constantFrom(...holders),
      value: fc.integer(),
      ttlMs: fc.constantFrom(100, 5000),
    }),
    fc.record({
      op: fc.constant('remove' as const),
      key: fc.constantFrom(...keys),
      holder: fc.constantFrom(...holders),
    }),
    fc.record({
      op: fc.constant('ack' as const),
      holder: fc.constantFrom(...holders),
      items: fc.array(fc.record({ key: fc.constantFrom(...keys), version: fc.nat(60) }), {
        minLength: 1,
        maxLength: 3,
      }),
    }),
    fc.record({ op: fc.constant('renew' as const), holder: fc.constantFrom(...holders) }),
    fc.record({
      op: fc.constant('written' as const),
      items: fc.array(fc.record({ key: fc.constantFrom(...keys), version: fc.nat(60) }), {
        minLength: 1,
        maxLength: 3,
      }),
    }),
    fc.record({ op: fc.constant('tick' as const), nowMs: fc.constant(0) }),
  );

  it('gives the same state and answers on replicas that apply the same log, and snapshots round-trip', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(commandArb, fc.nat(400)), { maxLength: 60 }),
        fc.nat(60),
        (log, cut) => {
          const first = new Harness();
          const second = new Harness();
          const answers: unknown[][] = [[], []];
          log.forEach(([command, advanceMs], position) => {
            for (const [slot, replica] of [first, second].entries()) {
              replica.timeMs += advanceMs;
              answers[slot]?.push(replica.apply(command));
            }
            if (position === cut) {
              // The second replica restarts from a snapshot of itself.
              const restored = new Harness();
              restored.machine.restore(second.machine.snapshot());
              restored.index = second.index;
              restored.timeMs = second.timeMs;
              second.machine.restore(restored.machine.snapshot());
            }
          });
          expect(answers[1]).toEqual(answers[0]);
          expect(new TextDecoder().decode(second.machine.snapshot())).toEqual(
            new TextDecoder().decode(first.machine.snapshot()),
          );
          expect(second.machine.nextDeadline?.()).toEqual(first.machine.nextDeadline?.());
        },
      ),
      { numRuns: 300 },
    );
  });
});
