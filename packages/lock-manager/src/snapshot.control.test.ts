// The negative control of snapshot.property.test.ts: with the copy-on-write turned into "save the
// live record" (copyRecord returns its argument), a command between slices that changes a record
// the snapshot has not written yet leaks into it, and the same property finds that.
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import type * as LockTableModule from './lock-table.js';
import { SNAPSHOT_PROPERTY_RUNS, snapshotProperty } from './test-support.js';

vi.mock('./lock-table.js', async (importOriginal) => ({
  ...(await importOriginal<typeof LockTableModule>()),
  copyRecord: <T>(record: T): T => record,
}));

describe('incremental lock snapshots without copy-on-write (control)', () => {
  it('let commands between slices leak into the snapshot, and the property says so', () => {
    const result = fc.check(snapshotProperty, SNAPSHOT_PROPERTY_RUNS);
    expect(result.failed).toBe(true);
    expect(String(result.errorInstance)).toMatch(/snapshot differs from the capture point/);
  });
});
