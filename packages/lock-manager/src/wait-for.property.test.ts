// The linear cycle check (`LockTable.hasCycleThrough`) against the depth-first search it guards
// (`findCycle`): on random lock tables, cycles included, they agree for every session. The
// tables are built directly, so nothing breaks the cycles before the check sees them.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LockTable } from './lock-table.js';
import { findCycle } from './wait-for.js';

const SESSIONS = ['s0', 's1', 's2', 's3', 's4', 's5', 's6'];
const LOCKS = ['L0', 'L1', 'L2', 'L3'];

interface Entry {
  session: number;
  lock: number;
  shared: boolean;
  hold: boolean;
  upgrade: boolean;
}

const entry: fc.Arbitrary<Entry> = fc.record({
  session: fc.integer({ min: 0, max: SESSIONS.length - 1 }),
  lock: fc.integer({ min: 0, max: LOCKS.length - 1 }),
  shared: fc.boolean(),
  hold: fc.boolean(),
  upgrade: fc.boolean(),
});

function build(entries: readonly Entry[]): LockTable {
  const table = new LockTable();
  let requestId = 0;
  for (const { session, lock, shared, hold, upgrade } of entries) {
    const name = LOCKS[lock]!;
    const sessionId = SESSIONS[session]!;
    requestId += 1;
    const record = table.record(name);
    const holds = record?.holders.some((holder) => holder.sessionId === sessionId) ?? false;
    if (hold && !holds) {
      table.addHolder(name, {
        sessionId,
        mode: shared ? 'shared' : 'exclusive',
        token: requestId,
        sinceMs: 0,
        holdCount: 1,
        reentrant: false,
        requestId,
        viaUpgrade: false,
      });
      continue;
    }
    table.enqueue(name, {
      requestId,
      sessionId,
      // An upgrade is a shared holder asking to hold exclusively.
      mode: upgrade && holds ? 'exclusive' : shared ? 'shared' : 'exclusive',
      sinceMs: 0,
      deadlineMs: 1000,
      reentrant: false,
      upgrade: upgrade && holds,
    });
  }
  return table;
}

describe('the linear cycle check', () => {
  it('agrees with the depth-first search for every session of random tables (2,000 tables)', () => {
    let cyclic = 0;
    let acyclic = 0;
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 30 }), (entries) => {
        const table = build(entries);
        for (const session of SESSIONS) {
          const expected = findCycle(table, session) !== undefined;
          expect(table.hasCycleThrough(session)).toBe(expected);
          if (expected) cyclic += 1;
          else acyclic += 1;
        }
      }),
      { numRuns: 2000, seed: 20_261_202 },
    );
    // Both answers must have been tested many times, or agreement proves little.
    expect(cyclic).toBeGreaterThan(500);
    expect(acyclic).toBeGreaterThan(1000);
  });

  it('finds the two sessions of a cycle, and not a third that only waits into it', () => {
    // s0 holds A and waits for B; s1 holds B and waits for A behind s2, who waits for A too.
    const table = build([
      { session: 0, lock: 0, shared: false, hold: true, upgrade: false },
      { session: 1, lock: 1, shared: false, hold: true, upgrade: false },
      { session: 0, lock: 1, shared: false, hold: false, upgrade: false },
      { session: 2, lock: 0, shared: true, hold: false, upgrade: false },
      { session: 1, lock: 0, shared: true, hold: false, upgrade: false },
    ]);
    for (const session of ['s0', 's1']) expect(table.hasCycleThrough(session)).toBe(true);
    expect(table.hasCycleThrough('s2')).toBe(false);
  });
});
