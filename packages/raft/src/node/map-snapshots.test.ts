// MapSnapshots: a snapshot taken in slices equals the map as it was when it began, however the
// map is written between slices (fast-check drives random writes between random slices).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeJsonLines, encodeJsonLines, MapSnapshots } from '@distsync/raft';
import { SortJob } from './map-snapshots.js';

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

describe('MapSnapshots with mutable values and a key order', () => {
  interface Box {
    items: number[];
  }
  const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  type Mutation =
    | { kind: 'push'; key: string; value: number }
    | { kind: 'create'; key: string }
    | { kind: 'delete'; key: string };
  const mutation: fc.Arbitrary<Mutation> = fc.oneof(
    fc.record({ kind: fc.constant('push' as const), key, value: fc.integer() }),
    fc.record({ kind: fc.constant('create' as const), key }),
    fc.record({ kind: fc.constant('delete' as const), key }),
  );

  function boxes(options: { copy: boolean }) {
    const map = new Map<string, Box>();
    const snapshots = new MapSnapshots(() => map, {
      encodeRows: encodeJsonLines,
      sliceRows: 2,
      compareKeys: compare,
      ...(options.copy ? { copyValue: (box: Box) => ({ items: [...box.items] }) } : {}),
    });
    const mutate = (change: Mutation): void => {
      snapshots.beforeWrite(change.key);
      if (change.kind === 'delete') map.delete(change.key);
      else if (change.kind === 'create') map.set(change.key, { items: [] });
      else map.get(change.key)?.items.push(change.value);
    };
    return { map, snapshots, mutate };
  }

  it('captures values mutated in place after begin(), in key order, however written between slices', () => {
    fc.assert(
      fc.property(
        fc.array(mutation, { maxLength: 40 }),
        fc.array(fc.array(mutation, { maxLength: 4 }), { maxLength: 20 }),
        (before, between) => {
          const state = boxes({ copy: true });
          for (const change of before) state.mutate(change);
          const expected: unknown = JSON.parse(
            JSON.stringify([...state.map].sort(([a], [b]) => compare(a, b))),
          );
          const job = state.snapshots.begin();
          let bytes: Uint8Array | undefined;
          for (let slice = 0; bytes === undefined; slice++) {
            for (const change of between[slice] ?? []) state.mutate(change);
            bytes = job.next();
          }
          const rows: unknown[] = [];
          decodeJsonLines(bytes, (row) => rows.push(row));
          expect(rows).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('without copyValue an in-place mutation leaks into the snapshot (the control)', () => {
    const state = boxes({ copy: false });
    state.mutate({ kind: 'create', key: 'a' });
    state.mutate({ kind: 'push', key: 'a', value: 1 });
    const job = state.snapshots.begin();
    state.mutate({ kind: 'push', key: 'a', value: 2 });
    expect(rowsOf(runTo(job))).toEqual([['a', { items: [1, 2] }]]);
    const copying = boxes({ copy: true });
    copying.mutate({ kind: 'create', key: 'a' });
    copying.mutate({ kind: 'push', key: 'a', value: 1 });
    const copied = copying.snapshots.begin();
    copying.mutate({ kind: 'push', key: 'a', value: 2 });
    expect(rowsOf(runTo(copied))).toEqual([['a', { items: [1] }]]);
  });

  it('SortJob sorts as Array.prototype.sort does, whatever the budget per next()', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5000 }),
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.integer({ min: 1, max: 5000 }),
        (length, seed, budget) => {
          // Distinct keys in a seeded shuffle (lengths above the 1024-key runs exercise merges).
          const keys = Array.from({ length }, (_, index) => `k${index}`);
          let random = seed;
          for (let index = keys.length - 1; index > 0; index--) {
            random = (random * 48_271) % 2_147_483_647;
            const other = random % (index + 1);
            [keys[index], keys[other]] = [keys[other]!, keys[index]!];
          }
          // Also keys in order already, or in order but for one pair (the scan's two ends).
          if (seed % 3 === 0) keys.sort(compare);
          if (seed % 3 === 1 && length > 1) {
            keys.sort(compare);
            const at = seed % (length - 1);
            [keys[at], keys[at + 1]] = [keys[at + 1]!, keys[at]!];
          }
          const job = new SortJob([...keys], compare);
          let sorted: string[] | undefined;
          let calls = 0;
          while (sorted === undefined) {
            sorted = job.next(budget);
            calls += 1;
          }
          expect(sorted).toEqual([...keys].sort(compare));
          if (length > 1024 && budget < 1000 && seed % 3 !== 0) expect(calls).toBeGreaterThan(1);
        },
      ),
      { numRuns: 60 },
    );
  });
});

function runTo(job: { next(): Uint8Array | undefined }): Uint8Array {
  for (;;) {
    const bytes = job.next();
    if (bytes !== undefined) return bytes;
  }
}
