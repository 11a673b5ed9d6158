// Incremental lock snapshots at scale: with LOCK_SNAPSHOT_SCALE held locks (default 20,000; the
// README's numbers are at 100,000) a snapshot taken in slices while locks are released and
// acquired between slices is the bytes of a synchronous snapshot at the capture point. No timing
// assertions; with LOCK_SNAPSHOT_TIMING=1 it prints the CPU cost of the synchronous part (begin and
// the first slice, what the node does in the applying turn), the slices and restore.
import { describe, expect, it } from 'vitest';
import { Driver } from './test-support.js';

/** CPU time of this process (wall time is meaningless on a loaded machine). */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

const LOCKS = Number(process.env.LOCK_SNAPSHOT_SCALE ?? 20_000);
const SESSIONS = Array.from({ length: 1000 }, (_, index) => `session-${index}`);

describe(`lock snapshots with ${LOCKS} held locks`, () => {
  it('are the capture-point bytes however locks change between slices', () => {
    const driver = new Driver({ sessions: SESSIONS, limits: { maxLocks: LOCKS + 1000 } });
    const name = (index: number): string => `lock/${(index * 7919) % LOCKS}`;
    const holderOf = (index: number): string => SESSIONS[index % SESSIONS.length] ?? '';
    for (let index = 0; index < LOCKS; index++) {
      driver.acquire(name(index), holderOf(index), {
        mode: index % 3 === 0 ? 'shared' : 'exclusive',
        reentrant: index % 5 === 0,
      });
    }
    // Some queues too, so that a release grants a record the snapshot has not reached yet (few:
    // every enqueue runs deadlock detection over the wait-for graph).
    for (let index = 0; index < 200; index++) {
      driver.acquire(name(index), holderOf(index + 1), { mode: 'exclusive', timeoutMs: 60_000 });
    }
    const expected = driver.machine.snapshot();

    const startedMs = cpuMs();
    const job = driver.machine.beginSnapshot?.();
    if (job === undefined) throw new Error('the lock machine has no beginSnapshot');
    let bytes = job.next();
    const syncMs = cpuMs() - startedMs;
    let slices = 1;
    let sliceMs = syncMs;
    let maxSliceMs = syncMs;
    let writes = 0;
    while (bytes === undefined) {
      // Between slices: releases (granting queued requests), re-acquires of reentrant locks (a
      // hold count changes in place) and new locks.
      for (let step = 0; step < 20; step++, writes++) {
        driver.release(name(writes), holderOf(writes));
        const reentrant = writes * 5 + 5;
        driver.acquire(name(reentrant), holderOf(reentrant), { reentrant: true });
        driver.acquire(`new/${writes}`, holderOf(writes));
      }
      const sliceStartedMs = cpuMs();
      bytes = job.next();
      const elapsedMs = cpuMs() - sliceStartedMs;
      slices += 1;
      sliceMs += elapsedMs;
      maxSliceMs = Math.max(maxSliceMs, elapsedMs);
    }
    expect(writes).toBeGreaterThan(0);
    expect(Buffer.from(bytes).equals(Buffer.from(expected))).toBe(true);
    expect(Buffer.from(driver.machine.snapshot()).equals(Buffer.from(expected))).toBe(false);

    const copy = new Driver({ sessions: SESSIONS, limits: { maxLocks: LOCKS + 1000 } });
    const restoreStartedMs = cpuMs();
    copy.machine.restore(bytes);
    const restoreMs = cpuMs() - restoreStartedMs;
    const syncStartedMs = cpuMs();
    const again = copy.machine.snapshot();
    const wholeMs = cpuMs() - syncStartedMs;
    expect(Buffer.from(again).equals(Buffer.from(expected))).toBe(true);
    if (process.env.LOCK_SNAPSHOT_TIMING === '1') {
      const mb = (expected.byteLength / 1e6).toFixed(1);
      console.log(
        `${LOCKS} locks, ${mb} MB: synchronous part ${syncMs.toFixed(1)} ms; ${slices} slices, ` +
          `${sliceMs.toFixed(1)} ms in all, longest ${maxSliceMs.toFixed(1)} ms; ` +
          `snapshot() in one go ${wholeMs.toFixed(1)} ms; restore ${restoreMs.toFixed(1)} ms`,
      );
    }
  });
});
