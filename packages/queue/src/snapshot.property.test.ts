// Incremental snapshots of the queue machine (fast-check): a snapshot begun at any point of a
// random history and written a message per slice, with random commands applied between the
// slices (receives, acks, nacks, extends, lease and delay expiry, dead-letter moves, redrives,
// purges, deleted queues, consumer sessions ending, dedup ids remembered and forgotten), is byte
// for byte the synchronous snapshot of the capture point, and restores to a machine whose own
// snapshot is the same bytes. snapshot.control.test.ts runs it without the copy-on-write.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeJsonLines } from '@distsync/raft';
import { QueueDriver, SNAPSHOT_PROPERTY_RUNS, snapshotProperty } from './test-support.js';

describe('incremental queue snapshots', () => {
  it('are the state at begin() whatever commands run between the slices (400 histories)', () => {
    fc.assert(snapshotProperty, SNAPSHOT_PROPERTY_RUNS);
  });

  it('write a header, then per queue by name its line, dedup ids and messages by seq', () => {
    const driver = new QueueDriver(1);
    driver.step({ kind: 'send', queue: 1, id: 1, priority: 0, delayMs: 0, keyed: false });
    driver.step({ kind: 'send', queue: 0, id: 2, priority: 0, delayMs: 0, keyed: false });
    driver.step({ kind: 'send', queue: 0, id: 3, priority: 0, delayMs: 30, keyed: false });
    const rows: unknown[] = [];
    decodeJsonLines(driver.machine.snapshot(), (row) => rows.push(row));
    expect(rows[0]).toEqual({ format: 'queue-lines', version: 1, nextSeq: 4, lastTimeMs: 1000 });
    expect(rows[1]).toMatchObject({ name: 'q0', dedup: 2, messages: 2 });
    expect(rows.slice(2, 4)).toEqual([
      ['m2', 1250],
      ['m3', 1250],
    ]);
    expect(rows.slice(4, 6)).toMatchObject([
      { seq: 2, id: 'm2', state: 'ready' },
      { seq: 3, id: 'm3', state: 'delayed' },
    ]);
    expect(rows[6]).toMatchObject({ name: 'q1', dedup: 1, messages: 1 });
    expect(rows).toHaveLength(9);
  });
});
