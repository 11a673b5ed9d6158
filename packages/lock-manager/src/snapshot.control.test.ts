// The negative control of snapshot.property.test.ts: with the copy-on-write turned into "save the
// live record" (copyRecord returns its argument), a command between slices that changes a record
// the snapshot has not written yet leaks into it, and the same property finds that.
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import type * as LockTableModule from './lock-table.js';
import { checkSnapshotDuringHistory, historyStep } from './test-support.js';

vi.mock('./lock-table.js', async (importOriginal) => ({
  ...(await importOriginal<typeof LockTableModule>()),
  copyRecord: <T>(record: T): T => record,
}));

describe('incremental lock snapshots without copy-on-write (control)', () => {
  it('let commands between slices leak into the snapshot, and the property says so', () => {
    const result = fc.check(
      fc.property(
        fc.array(historyStep, { maxLength: 60 }),
        fc.array(fc.array(historyStep, { maxLength: 5 }), { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 1, max: 3 }),
        checkSnapshotDuringHistory,
      ),
      { numRuns: 400, seed: 20_261_202 },
    );
    expect(result.failed).toBe(true);
    expect(String(result.errorInstance)).toMatch(/snapshot differs from the capture point/);
  });
});
