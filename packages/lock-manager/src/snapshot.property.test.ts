// Incremental snapshots of the lock machine (fast-check): a snapshot begun at any point of a
// random history and serialized a row per slice, with random commands applied between the slices
// (grants, releases, hold counts, upgrades and downgrades, queue changes, timeouts, session ends),
// is byte for byte the synchronous snapshot of the capture point, and restores to a machine whose
// own snapshot is the same bytes. snapshot.control.test.ts runs the same property without the
// copy-on-write and expects it to fail.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeJsonLines } from '@distsync/raft';
import { Driver, SNAPSHOT_PROPERTY_RUNS, snapshotProperty } from './test-support.js';

describe('incremental lock snapshots', () => {
  it('are the state at begin() whatever commands run between the slices (400 histories)', () => {
    fc.assert(snapshotProperty, SNAPSHOT_PROPERTY_RUNS);
  });

  it('write a header and one sorted row per lock', () => {
    const driver = new Driver({ snapshotSliceRows: 1 });
    driver.acquire('b', 'a');
    driver.acquire('a', 'b', { mode: 'shared' });
    driver.acquire('c', 'c');
    driver.acquire('b', 'd', { timeoutMs: 1000 });
    const rows: unknown[] = [];
    decodeJsonLines(driver.machine.snapshot(), (row) => rows.push(row));
    expect(rows[0]).toEqual({ format: 'lock-lines', version: 1 });
    expect(rows.slice(1).map((row) => (row as [string])[0])).toEqual(['a', 'b', 'c']);
    expect(rows[2]).toEqual([
      'b',
      {
        holders: [
          {
            sessionId: 'a',
            mode: 'exclusive',
            token: 1,
            sinceMs: 1000,
            holdCount: 1,
            reentrant: false,
            requestId: 1,
            viaUpgrade: false,
          },
        ],
        waiters: [
          {
            requestId: 4,
            sessionId: 'd',
            mode: 'exclusive',
            sinceMs: 1000,
            deadlineMs: 2000,
            reentrant: false,
            upgrade: false,
          },
        ],
      },
    ]);
  });
});
