// The negative control of snapshot.property.test.ts: with the copy-on-write of messages turned
// into "save the live message" (copyMessage returns its argument), a receive, nack or extend
// between slices changes a message the snapshot has not written yet, and the property finds it.
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import type * as Structures from './structures.js';
import { SNAPSHOT_PROPERTY_RUNS, snapshotProperty } from './test-support.js';

vi.mock('./structures.js', async (importOriginal) => ({
  ...(await importOriginal<typeof Structures>()),
  copyMessage: <T>(message: T): T => message,
}));

describe('incremental queue snapshots without copy-on-write (control)', () => {
  it('let commands between slices leak into the snapshot, and the property says so', () => {
    const result = fc.check(snapshotProperty, SNAPSHOT_PROPERTY_RUNS);
    expect(result.failed).toBe(true);
    expect(String(result.errorInstance)).toMatch(/snapshot differs from the capture point/);
  });
});
