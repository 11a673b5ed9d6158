// Property: after any crash, FileStorage holds every synced entry and hard state, and nothing
// that was never written. Random append / setHardState / sync / local snapshot + compact /
// installed snapshot / disk full and space back / crash (at any point of a group commit, with a
// torn tail) / reopen sequences are checked against a model: the recovered state must equal the
// synced state plus some prefix of the records written after it.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FileStorage, StorageError } from '@distsync/raft';
import type { Entry, HardState } from '@distsync/raft';
import { FaultFs } from '@distsync/raft/testing';

const dataDir = '/disk/node';
const segmentBytes = 1024;

type Op =
  | { kind: 'append'; back: number; count: number; term: number; size: number }
  | { kind: 'hard-state'; term: number; vote: string | null; commit: number }
  | { kind: 'sync' }
  | { kind: 'snapshot'; fraction: number }
  | { kind: 'install'; ahead: number; term: number }
  | { kind: 'disk-full'; freeBytes: number }
  | { kind: 'disk-space' }
  | { kind: 'crash'; syncsBeforeCrash: number; tear: number; midSync: boolean }
  | { kind: 'reopen' };

const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      back: fc.nat({ max: 4 }),
      count: fc.integer({ min: 1, max: 8 }),
      term: fc.integer({ min: 1, max: 9 }),
      size: fc.nat({ max: 120 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('hard-state' as const),
      term: fc.nat({ max: 9 }),
      vote: fc.constantFrom(null, 'n1', 'n2', 'node-three'),
      commit: fc.nat({ max: 200 }),
    }),
  },
  { weight: 3, arbitrary: fc.constant({ kind: 'sync' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('snapshot' as const),
      fraction: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('install' as const),
      ahead: fc.integer({ min: -3, max: 6 }),
      term: fc.integer({ min: 1, max: 9 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('crash' as const),
      syncsBeforeCrash: fc.nat({ max: 4 }),
      tear: fc.nat({ max: 400 }),
      midSync: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('disk-full' as const),
      freeBytes: fc.nat({ max: 400 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'disk-space' as const }) },
);

interface ModelState {
  /** The whole log from index 1 (the model never compacts). */
  readonly log: readonly Entry[];
  readonly hardState: HardState;
}

type ModelRecord = (state: ModelState) => ModelState;

const initial: ModelState = { log: [], hardState: { term: 0, vote: null, commit: 0 } };

function applyAll(state: ModelState, records: readonly ModelRecord[]): ModelState {
  return records.reduce((current, record) => record(current), state);
}

function makeEntry(spec: { index: number; term: number; size: number; salt: number }): Entry {
  const data = new Uint8Array(spec.size).map(
    (_, i) => (spec.index * 7 + spec.salt * 13 + i) & 0xff,
  );
  return {
    index: spec.index,
    term: spec.term,
    type: spec.size % 5 === 0 ? 'noop' : 'normal',
    data,
  };
}

class Harness {
  fs = new FaultFs();
  storage!: FileStorage;
  durable: ModelState = initial;
  pending: ModelRecord[] = [];
  /** Snapshots (index to term) that may be on disk: the synced one and any written since. */
  snapshotCandidates = new Map<number, number>([[0, 0]]);
  salt = 0;

  async open(): Promise<void> {
    this.storage = await FileStorage.open({
      dataDir,
      fs: this.fs,
      segmentBytes,
      noSpaceRetryMs: 0,
    });
  }

  current(): ModelState {
    return applyAll(this.durable, this.pending);
  }

  append(op: Extract<Op, { kind: 'append' }>): void {
    const last = this.storage.lastIndex();
    const floor = this.storage.snapshot().metadata.index + 1;
    const start = Math.max(floor, last + 1 - op.back);
    const entries: Entry[] = [];
    for (let i = 0; i < op.count; i++) {
      entries.push(
        makeEntry({ index: start + i, term: op.term, size: op.size, salt: this.salt++ }),
      );
    }
    this.storage.append(entries);
    for (const entry of entries) {
      this.pending.push((state) => ({
        ...state,
        log: [...state.log.slice(0, entry.index - 1), entry],
      }));
    }
  }

  setHardState(hardState: HardState): void {
    this.storage.setHardState(hardState);
    this.pending.push((state) => ({ ...state, hardState }));
  }

  /** True when synced; a full disk (NO_SPACE) leaves everything pending, as it must. */
  async sync(): Promise<boolean> {
    try {
      await this.storage.sync();
    } catch (error) {
      if (error instanceof StorageError && error.code === 'NO_SPACE') return false;
      throw error;
    }
    this.markSynced();
    return true;
  }

  markSynced(): void {
    this.durable = this.current();
    this.pending = [];
    this.snapshotCandidates = current(this.storage);
  }

  async snapshot(fraction: number): Promise<void> {
    if (!(await this.sync())) return;
    const base = this.storage.snapshot().metadata.index;
    const index = Math.floor(fraction * this.storage.lastIndex());
    if (index <= base) return;
    const created = this.storage.createSnapshot({ index, data: new Uint8Array([index & 0xff]) });
    this.storage.compact(index);
    this.snapshotCandidates.set(index, created.metadata.term);
    this.pending.push((state) => state);
  }

  /** A snapshot from the leader replaces the whole log (entries up to it are in the snapshot). */
  install(op: Extract<Op, { kind: 'install' }>): void {
    const base = this.storage.snapshot().metadata.index;
    const index = Math.max(base + 1, this.storage.lastIndex() + op.ahead);
    this.storage.applySnapshot({
      metadata: { index, term: op.term, membership: { voters: ['n1'], learners: [] } },
      data: new Uint8Array([op.term]),
    });
    this.snapshotCandidates.set(index, op.term);
    const covered: Entry[] = [];
    for (let i = 1; i <= index; i++)
      covered.push(makeEntry({ index: i, term: op.term, size: 0, salt: 0 }));
    this.pending.push((state) => ({ ...state, log: covered }));
  }

  async crash(op: Extract<Op, { kind: 'crash' }>): Promise<void> {
    if (op.midSync && this.pending.length > 0) {
      this.fs.holdSyncs({ after: op.syncsBeforeCrash });
      const outcome = { completed: false };
      const sync = this.storage.sync().then(
        () => {
          outcome.completed = true;
        },
        () => undefined,
      );
      await Promise.race([this.fs.whenSyncHeld(), sync]);
      if (outcome.completed) this.markSynced();
      this.fs = this.fs.crash({ tearBytes: ({ unsyncedBytes }) => op.tear % (unsyncedBytes + 1) });
      await sync;
    } else {
      this.fs = this.fs.crash({ tearBytes: op.tear });
    }
    await this.open();
    this.checkRecovered();
  }

  async reopen(): Promise<void> {
    this.fs.restoreSpace();
    await this.storage.close();
    this.markSynced();
    await this.open();
    this.checkRecovered();
  }

  /** The recovered state is the synced state plus a prefix of the records written after it. */
  checkRecovered(): void {
    const storage = this.storage;
    const snapshotIndex = storage.snapshot().metadata.index;
    expect(this.snapshotCandidates.get(snapshotIndex)).toBe(storage.term(snapshotIndex));
    expect(storage.firstIndex()).toBe(snapshotIndex + 1);
    const recovered = storage.entries({ low: storage.firstIndex(), high: storage.lastIndex() + 1 });
    const hardState = storage.initialState().hardState;
    let state = this.durable;
    const candidates: ModelState[] = [state];
    for (const record of this.pending) {
      state = record(state);
      candidates.push(state);
    }
    const match = candidates.find(
      (candidate) =>
        sameEntries(candidate.log.slice(snapshotIndex), recovered) &&
        sameHardState(candidate.hardState, hardState),
    );
    if (match === undefined) {
      expect.fail(
        `recovered log ${show(recovered)} with ${JSON.stringify(hardState)} matches none of ` +
          candidates
            .map((c) => `${show(c.log.slice(snapshotIndex))} ${JSON.stringify(c.hardState)}`)
            .join(' | '),
      );
    }
    // The snapshot file may be newer than the WAL prefix that survived: the log then continues
    // from the snapshot (the model keeps placeholders for what the snapshot covers).
    const log = [...match.log];
    for (let index = log.length + 1; index <= snapshotIndex; index++) {
      log.push(makeEntry({ index, term: storage.term(snapshotIndex) ?? 0, size: 0, salt: 0 }));
    }
    this.durable = { ...match, log };
    this.pending = [];
    this.snapshotCandidates = current(storage);
  }
}

function current(storage: FileStorage): Map<number, number> {
  const { index, term } = storage.snapshot().metadata;
  return new Map([[index, term]]);
}

function sameEntries(expected: readonly Entry[], actual: readonly Entry[]): boolean {
  if (expected.length !== actual.length) return false;
  return expected.every((entry, i) => {
    const other = actual[i];
    return (
      other?.index === entry.index &&
      other.term === entry.term &&
      other.type === entry.type &&
      Buffer.from(other.data).equals(Buffer.from(entry.data))
    );
  });
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function show(entries: readonly Entry[]): string {
  return `[${entries.map((e) => `${e.index}@${e.term}`).join(' ')}]`;
}

async function run(ops: readonly Op[]): Promise<void> {
  const harness = new Harness();
  harness.fs.mkdirp('/disk');
  await harness.open();
  for (const op of ops) {
    switch (op.kind) {
      case 'append':
        harness.append(op);
        break;
      case 'hard-state':
        harness.setHardState({ term: op.term, vote: op.vote, commit: op.commit });
        break;
      case 'sync':
        await harness.sync();
        break;
      case 'snapshot':
        await harness.snapshot(op.fraction);
        break;
      case 'install':
        harness.install(op);
        break;
      case 'crash':
        await harness.crash(op);
        break;
      case 'disk-full':
        harness.fs.setFreeBytes(op.freeBytes);
        break;
      case 'disk-space':
        harness.fs.restoreSpace();
        break;
      case 'reopen':
        await harness.reopen();
        break;
    }
    expect(harness.storage.lastIndex()).toBe(
      Math.max(harness.current().log.length, harness.storage.snapshot().metadata.index),
    );
  }
  await harness.crash({ kind: 'crash', syncsBeforeCrash: 0, tear: 0, midSync: false });
}

describe('FileStorage crash property', () => {
  it('after any crash every synced entry and hard state is there and nothing is invented', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArbitrary, { minLength: 1, maxLength: 80, size: 'max' }), run),
      { numRuns: 200 },
    );
    // In-memory and CPU-bound (about 2 s alone); the limit leaves room for a loaded machine.
  }, 60_000);
});
