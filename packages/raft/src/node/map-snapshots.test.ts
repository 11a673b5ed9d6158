// MapSnapshots: a snapshot taken in slices equals the map as it was when it began, however the
// map is written between slices (fast-check drives random writes between random slices).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeJsonLines, encodeJsonLines, MapSnapshots } from '@distsync/raft';

type Op = { kind: 'set'; key: string; value: number } | { kind: 'delete'; key: string };

function rowsOf(bytes: Uint8Array): [string, number][] {
  const rows: [string, number][] = [];
  decodeJsonLines(bytes, (row) => rows.push(row as [string, number]));
  return rows;
}

function setup(options: { sliceRows: number; copyOnWrite?: boolean }) {
  let map = new Map<string, number>();
  const snapshots = new MapSnapshots(() => map, {
    encodeRows: encodeJsonLines,
    sliceRows: options.sliceRows,
  });
  const write = (op: Op): void => {
    if (options.copyOnWrite !== false) snapshots.beforeWrite(op.key);
    if (op.kind === 'set') map.set(op.key, op.value);
    else map.delete(op.key);
  };
  return {
    snapshots,
    write,
    get map() {
      return map;
    },
    replace(next: Map<string, number>) {
      map = next;
    },
  };
}

const key = fc.constantFrom(...Array.from({ length: 12 }, (_, i) => `k${i}`));
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), key, value: fc.integer() }),
  fc.record({ kind: fc.constant('delete' as const), key }),
);

describe('MapSnapshots', () => {
  it('captures the map as of begin() while it is written between slices', () => {
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 30 }),
        fc.array(fc.array(op, { maxLength: 4 }), { maxLength: 20 }),
        fc.integer({ min: 1, max: 5 }),
        (before, between, sliceRows) => {
          const state = setup({ sliceRows });
          for (const write of before) state.write(write);
          const expected = [...state.map.entries()];
          const job = state.snapshots.begin();
          let bytes: Uint8Array | undefined;
          for (let slice = 0; bytes === undefined; slice++) {
            for (const write of between[slice] ?? []) state.write(write);
            bytes = job.next();
          }
          expect(rowsOf(bytes)).toEqual(expected);
          expect(state.snapshots.running).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps overlapping jobs apart: each sees the map of its own begin()', () => {
    const state = setup({ sliceRows: 1 });
    state.write({ kind: 'set', key: 'a', value: 1 });
    state.write({ kind: 'set', key: 'b', value: 2 });
    const first = state.snapshots.begin();
    expect(first.next()).toBeUndefined();
    state.write({ kind: 'set', key: 'b', value: 20 });
    state.write({ kind: 'set', key: 'c', value: 3 });
    const second = state.snapshots.begin();
    state.write({ kind: 'delete', key: 'a' });
    state.write({ kind: 'delete', key: 'b' });
    expect(state.snapshots.running).toBe(2);
    expect(rowsOf(first.next()!)).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
    second.next();
    second.next();
    expect(rowsOf(second.next()!)).toEqual([
      ['a', 1],
      ['b', 20],
      ['c', 3],
    ]);
    expect(state.snapshots.now()).toEqual(encodeJsonLines([['c', 3]]));
  });

  it('without beforeWrite a slice sees later writes (the control that makes the property fail)', () => {
    const state = setup({ sliceRows: 1, copyOnWrite: false });
    state.write({ kind: 'set', key: 'a', value: 1 });
    state.write({ kind: 'set', key: 'b', value: 2 });
    const job = state.snapshots.begin();
    job.next();
    state.write({ kind: 'set', key: 'b', value: 99 });
    expect(rowsOf(job.next()!)).toEqual([
      ['a', 1],
      ['b', 99],
    ]);
    const deleting = state.snapshots.begin();
    state.write({ kind: 'delete', key: 'a' });
    expect(() => deleting.next()).toThrow(/deleted without beforeWrite/);
  });

  it('adds the prefix and suffix, stops saving values once cancelled, and refuses next() after', () => {
    const map = new Map([['x', 1]]);
    const snapshots = new MapSnapshots(() => map, {
      encodeRows: encodeJsonLines,
      prefix: encodeJsonLines([{ format: 'test' }]),
      suffix: encodeJsonLines(['end']),
    });
    expect(rowsOf(snapshots.now())).toEqual([{ format: 'test' }, ['x', 1], 'end']);
    const job = snapshots.begin();
    job.cancel();
    expect(snapshots.running).toBe(0);
    expect(() => job.next()).toThrow(/after the job finished or was cancelled/);
  });

  it('reads JSON lines back and reports a bad line', () => {
    const rows: unknown[] = [];
    decodeJsonLines(encodeJsonLines([1, 'two', { three: 3 }]), (row) => rows.push(row));
    expect(rows).toEqual([1, 'two', { three: 3 }]);
    expect(() => {
      decodeJsonLines(new TextEncoder().encode('1\n{oops\n'), () => undefined);
    }).toThrow(SyntaxError);
  });
});
