import { describe, expect, it } from 'vitest';
import { checkMutex, type AcquireOp, type ReleaseOp, type ResourceWrite } from '@distsync/testkit';

let nextId = 0;
function acquire(
  process: number,
  token: number,
  [callMs, returnMs]: [number, number],
  extra: Partial<AcquireOp> = {},
): AcquireOp {
  nextId += 1;
  return { id: nextId, process, lock: 'L', callMs, returnMs, outcome: 'ok', token, ...extra };
}
function release(process: number, [callMs, returnMs]: [number, number]): ReleaseOp {
  nextId += 1;
  return { id: nextId, process, lock: 'L', callMs, returnMs, outcome: 'ok' };
}
function write(process: number, token: number, order: number, accepted = true): ResourceWrite {
  nextId += 1;
  return { id: nextId, process, lock: 'L', token, order, accepted };
}

describe('fenced mutex checker', () => {
  it('accepts holders one after another with increasing tokens and fenced writes', () => {
    const verdict = checkMutex({
      acquires: [acquire(1, 10, [0, 1]), acquire(2, 12, [1.5, 6])],
      releases: [release(1, [4, 5]), release(2, [8, 9])],
      writes: [write(1, 10, 1), write(2, 12, 2), write(1, 10, 3, false)],
    });
    expect(verdict).toMatchObject({ valid: true, grants: 2, writesAccepted: 2, writesRejected: 1 });
  });

  it('rejects two clients holding the lock at once, showing both grants', () => {
    const first = acquire(1, 10, [0, 1]);
    const second = acquire(2, 12, [2, 3]);
    const verdict = checkMutex({
      acquires: [first, second],
      releases: [release(1, [5, 6])],
      writes: [],
    });
    expect(verdict.valid).toBe(false);
    expect(verdict.violations[0]?.kind).toBe('two-holders');
    expect(verdict.violations[0]?.window.map((op) => op.id)).toContain(first.id);
    expect(verdict.violations[0]?.window.map((op) => op.id)).toContain(second.id);
  });

  it('does not count a holder past the session lease it last confirmed', () => {
    // Process 1 was paused past its lease: the lock rightly went to process 2.
    const verdict = checkMutex({
      acquires: [acquire(1, 10, [0, 1], { leaseValidUntilMs: 3 }), acquire(2, 12, [2, 4])],
      releases: [release(1, [20, 21]), release(2, [5, 6])],
      writes: [],
    });
    expect(verdict.valid).toBe(true);
  });

  it('rejects a token that does not increase after an earlier grant returned', () => {
    const verdict = checkMutex({
      acquires: [acquire(1, 10, [0, 1]), acquire(2, 9, [3, 4])],
      releases: [release(1, [2, 2.5]), release(2, [5, 6])],
      writes: [],
    });
    expect(verdict.violations.map((v) => v.kind)).toEqual(['token-order']);
  });

  it('rejects the same token granted twice', () => {
    const verdict = checkMutex({
      acquires: [acquire(1, 10, [0, 1]), acquire(2, 10, [3, 4])],
      releases: [release(1, [2, 2.5]), release(2, [5, 6])],
      writes: [],
    });
    expect(verdict.violations.some((v) => v.message.includes('granted twice'))).toBe(true);
  });

  it('rejects a stale-token write the resource accepted after a newer token wrote', () => {
    const verdict = checkMutex({
      acquires: [acquire(1, 10, [0, 1], { leaseValidUntilMs: 2 }), acquire(2, 12, [3, 4])],
      releases: [release(2, [6, 7])],
      writes: [write(2, 12, 1), write(1, 10, 2)],
    });
    expect(verdict.valid).toBe(false);
    expect(verdict.violations[0]).toMatchObject({ kind: 'stale-write-accepted' });
    expect(verdict.violations[0]?.window.map((w) => (w as ResourceWrite).token)).toEqual([12, 10]);
  });

  it('rejects an accepted write with a token its writer was never granted', () => {
    const verdict = checkMutex({
      acquires: [acquire(1, 10, [0, 1])],
      releases: [],
      writes: [write(2, 10, 1)],
    });
    expect(verdict.violations.map((v) => v.kind)).toEqual(['unknown-token-write']);
  });

  it('ignores failed acquires and lets unknown ones own the token they wrote with', () => {
    const verdict = checkMutex({
      acquires: [
        acquire(1, 10, [0, 1]),
        { id: 900, process: 2, lock: 'L', callMs: 1, returnMs: 2, outcome: 'fail' },
        { ...acquire(3, 11, [2, Infinity]), outcome: 'unknown' },
      ],
      releases: [release(1, [1.5, 1.8])],
      writes: [write(1, 10, 1), write(3, 11, 2)],
    });
    expect(verdict).toMatchObject({ valid: true, grants: 1 });
  });
});
