// RaftNode snapshots and log compaction: thresholds, the kept tail, recovery after a restart from
// the latest snapshot plus the log after it, on MemoryStorage and on FileStorage.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  decodeJsonLines,
  encodeJsonLines,
  FileStorage,
  MapSnapshots,
  MemoryStorage,
  RaftNode,
} from '@distsync/raft';
import type {
  ApplyContext,
  InstallSnapshot,
  LogStorage,
  SnapshotJob,
  StateMachine,
} from '@distsync/raft';
import { createMemoryCluster, createMemoryNetwork } from '@distsync/raft/testing';
import type { MemoryCluster } from '@distsync/raft/testing';

const AddCommand = z.object({ add: z.number().int(), pad: z.string().optional() });
type AddCommand = z.infer<typeof AddCommand>;

/** A running sum that counts restores, so a test can tell a snapshot restore from a replay. */
class Sum implements StateMachine<AddCommand, unknown, number> {
  readonly name = 'sum';
  readonly commandSchema = AddCommand;
  readonly querySchema = z.unknown();
  total = 0;
  applies = 0;
  restores = 0;
  apply(command: AddCommand): number {
    this.applies += 1;
    this.total += command.add;
    return this.total;
  }
  query(): number {
    return this.total;
  }
  snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify({ total: this.total }));
  }
  restore(bytes: Uint8Array): void {
    this.restores += 1;
    this.total = (JSON.parse(new TextDecoder().decode(bytes)) as { total: number }).total;
  }
}

/** A Sum whose snapshot carries 10 KB of padding: a state large next to its entries. */
class PaddedSum extends Sum {
  override snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify({ total: this.total, pad: 'p'.repeat(10_000) }));
  }
}

let cluster: MemoryCluster | undefined;
let root: string | undefined;
const fileStorages: FileStorage[] = [];

afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
  await Promise.all(fileStorages.splice(0).map((storage) => storage.close()));
  if (root !== undefined) await rm(root, { recursive: true, force: true });
  root = undefined;
});

async function addAll(node: RaftNode, count: number, pad = ''): Promise<void> {
  for (let i = 0; i < count; i += 1) {
    const result = await node.command('sum', { add: 1, pad });
    expect(result).toMatchObject({ ok: true });
  }
}

describe('RaftNode snapshot thresholds', () => {
  it('takes a snapshot every snapshotEveryEntries applied entries and compacts all but the kept tail', async () => {
    const storages = new Map<string, MemoryStorage>();
    const taken: number[] = [];
    cluster = createMemoryCluster({
      stateMachines: () => [new Sum()],
      storage: (id) => {
        const storage = new MemoryStorage();
        storages.set(id, storage);
        return storage;
      },
      node: { snapshotEveryEntries: 10, snapshotKeepEntries: 3 },
    });
    const leader = await cluster.waitForLeader();
    leader.on('snapshot', (event) => taken.push(event.index));
    await addAll(leader, 25);
    const status = leader.status();
    expect(status.snapshots).toBeGreaterThanOrEqual(2);
    expect(status.compactions).toBe(status.snapshots);
    expect(taken.length).toBeGreaterThanOrEqual(1);
    const storage = storages.get(leader.id)!;
    const snapshotIndex = storage.snapshot().metadata.index;
    expect(status.snapshotIndex).toBe(snapshotIndex);
    expect(snapshotIndex).toBeGreaterThanOrEqual(20);
    // Compacted up to snapshot index - 3: the three entries before the snapshot stay.
    expect(storage.firstIndex()).toBe(snapshotIndex - 3 + 1);
    expect(storage.snapshot().data.byteLength).toBeGreaterThan(0);
  });

  it('takes a snapshot once snapshotEveryBytes of entry data applied, before the entry threshold', async () => {
    cluster = createMemoryCluster({
      stateMachines: () => [new Sum()],
      node: { snapshotEveryBytes: 2000, snapshotKeepEntries: 0 },
    });
    const leader = await cluster.waitForLeader();
    expect(leader.status().snapshots).toBe(0);
    await addAll(leader, 6, 'x'.repeat(500));
    expect(leader.status().snapshots).toBeGreaterThanOrEqual(1);
    expect(leader.status().snapshots).toBeLessThanOrEqual(3);
  });

  it('snapshots a large state less often: the log must reach snapshotLogRatio of the last snapshot', async () => {
    const counts: number[] = [];
    for (const ratio of [0, 0.5]) {
      cluster = createMemoryCluster({
        ids: ['solo'],
        stateMachines: () => [new PaddedSum()],
        node: { snapshotEveryEntries: 5, snapshotLogRatio: ratio },
      });
      const leader = await cluster.waitForLeader();
      await addAll(leader, 40);
      counts.push(leader.status().snapshots);
      await cluster.stop();
      cluster = undefined;
    }
    // Without the ratio: one every 5 entries. With it: the first, then the 10 KB state needs
    // 5 KB of log (about 80 entries of ~60 bytes) before the next.
    expect(counts[0]).toBeGreaterThanOrEqual(7);
    expect(counts[1]).toBe(1);
  });

  it('refuses snapshot options that break their rules, naming the option', () => {
    const base = { stateMachines: () => [new Sum()], start: false } as const;
    expect(() => createMemoryCluster({ ...base, node: { snapshotEveryEntries: 0 } })).toThrow(
      /snapshotEveryEntries must be a positive integer/,
    );
    expect(() => createMemoryCluster({ ...base, node: { snapshotEveryBytes: 1.5 } })).toThrow(
      /snapshotEveryBytes must be a positive integer/,
    );
    expect(() => createMemoryCluster({ ...base, node: { snapshotKeepEntries: -1 } })).toThrow(
      /snapshotKeepEntries must be a non-negative integer/,
    );
    expect(() => createMemoryCluster({ ...base, node: { snapshotLogRatio: -1 } })).toThrow(
      /snapshotLogRatio must be a finite number of at least 0/,
    );
    expect(() => createMemoryCluster({ ...base, node: { snapshotSliceMs: Number.NaN } })).toThrow(
      /snapshotSliceMs must be a finite number of at least 0/,
    );
  });
});

describe('RaftNode followers behind a compacted log', () => {
  function snapshotCluster(sums: Map<string, Sum>): MemoryCluster {
    return createMemoryCluster({
      stateMachines: (id) => {
        const sum = new Sum();
        sums.set(id, sum);
        return [sum];
      },
      node: {
        snapshotEveryEntries: 10,
        snapshotKeepEntries: 2,
        core: { maxSnapshotChunkBytes: 16 },
      },
    });
  }

  it('catches a follower far behind up through a chunked InstallSnapshot', async () => {
    const sums = new Map<string, Sum>();
    cluster = snapshotCluster(sums);
    const leader = await cluster.waitForLeader();
    const lagging = cluster.nodes.find((node) => node.id !== leader.id)!;
    cluster.network.isolate(lagging.id);
    await addAll(leader, 30);
    expect(leader.status().compactions).toBeGreaterThanOrEqual(1);
    cluster.network.heal();
    // Observes (and keeps) every message from now on.
    const chunks: InstallSnapshot[] = [];
    cluster.network.setFilter((message) => {
      if (message.type === 'InstallSnapshot') chunks.push(message);
      return true;
    });
    expect(await lagging.query('sum', {}, { timeoutMs: 3000 })).toMatchObject({
      ok: true,
      value: 30,
    });
    const sent = chunks.filter((message) => message.to === lagging.id);
    expect(sent.length).toBeGreaterThan(1);
    expect(sent.every((message) => message.data.byteLength <= 16)).toBe(true);
    expect(lagging.status().snapshotsInstalled).toBeGreaterThanOrEqual(1);
    expect(sums.get(lagging.id)!.restores).toBeGreaterThanOrEqual(1);
  });

  it('catches up a follower that was cut off while the leader took many snapshots', async () => {
    const sums = new Map<string, Sum>();
    cluster = snapshotCluster(sums);
    const leader = await cluster.waitForLeader();
    const lagging = cluster.nodes.find((node) => node.id !== leader.id)!;
    cluster.network.isolate(lagging.id);
    await addAll(leader, 55);
    expect(leader.status().snapshots).toBeGreaterThanOrEqual(5);
    cluster.network.heal();
    expect(await lagging.query('sum', {}, { timeoutMs: 3000 })).toMatchObject({
      ok: true,
      value: 55,
    });
    // Replication goes on from the snapshot's index + 1, entry by entry.
    await addAll(leader, 3);
    expect(await lagging.query('sum', {}, { timeoutMs: 3000 })).toMatchObject({
      ok: true,
      value: 58,
    });
    expect(lagging.status().appliedIndex).toBe(leader.status().appliedIndex);
  });
});

describe('RaftNode snapshots on FileStorage', () => {
  it('a follower far behind installs the chunked snapshot on disk and restarts from it', async () => {
    root = await mkdtemp(join(tmpdir(), 'distsync-raft-install-'));
    const ids = ['d1', 'd2', 'd3'];
    const open = async (): Promise<FileStorage[]> => {
      const opened = await Promise.all(
        ids.map((id) => FileStorage.open({ dataDir: join(root!, id) })),
      );
      fileStorages.push(...opened);
      return opened;
    };
    const start = (storages: FileStorage[], sums: Map<string, Sum>): MemoryCluster =>
      createMemoryCluster({
        ids,
        stateMachines: (id) => {
          const sum = new Sum();
          sums.set(id, sum);
          return [sum];
        },
        storage: (id) => storages[ids.indexOf(id)]!,
        node: {
          snapshotEveryEntries: 10,
          snapshotKeepEntries: 2,
          core: { maxSnapshotChunkBytes: 16 },
        },
      });
    const firstSums = new Map<string, Sum>();
    cluster = start(await open(), firstSums);
    const leader = await cluster.waitForLeader();
    const lagging = cluster.nodes.find((node) => node.id !== leader.id)!;
    cluster.network.isolate(lagging.id);
    await addAll(leader, 30);
    cluster.network.heal();
    expect(await lagging.query('sum', {}, { timeoutMs: 3000 })).toMatchObject({ value: 30 });
    expect(lagging.status().snapshotsInstalled).toBeGreaterThanOrEqual(1);
    const laggingId = lagging.id;
    await cluster.stop();
    cluster = undefined;
    await Promise.all(fileStorages.splice(0).map((storage) => storage.close()));

    const sums = new Map<string, Sum>();
    const reopened = await open();
    expect(reopened[ids.indexOf(laggingId)]!.snapshot().metadata.index).toBeGreaterThan(1);
    cluster = start(reopened, sums);
    const follower = cluster.node(laggingId);
    expect(await follower.query('sum', {}, { timeoutMs: 3000 })).toMatchObject({ value: 30 });
    // It came back from the installed snapshot, not from a replay of the whole log.
    expect(sums.get(laggingId)!.restores).toBe(1);
  });
});

describe('RaftNode restart from a snapshot', () => {
  /** One node on `storage`, restarted as a fresh process would be: new state machines. */
  async function runSolo(storage: LogStorage, commands: number): Promise<Sum> {
    const sum = new Sum();
    cluster = createMemoryCluster({
      ids: ['solo'],
      stateMachines: () => [sum],
      storage: () => storage,
      node: { snapshotEveryEntries: 10, snapshotKeepEntries: 2 },
    });
    const leader = await cluster.waitForLeader();
    await addAll(leader, commands);
    const read = await leader.query('sum', {});
    expect(read).toMatchObject({ ok: true });
    await cluster.stop();
    cluster = undefined;
    return sum;
  }

  async function expectRecovered(storage: LogStorage, expected: number): Promise<Sum> {
    const sum = new Sum();
    cluster = createMemoryCluster({
      ids: ['solo'],
      stateMachines: () => [sum],
      storage: () => storage,
      node: { snapshotEveryEntries: 10, snapshotKeepEntries: 2 },
    });
    const leader = await cluster.waitForLeader();
    expect(await leader.query('sum', {})).toMatchObject({ ok: true, value: expected });
    // Restored from the snapshot once, then only the tail after it was applied again.
    expect(sum.restores).toBe(1);
    expect(sum.applies).toBeLessThan(expected);
    expect(sum.applies).toBeGreaterThan(0);
    return sum;
  }

  it('on MemoryStorage a restarted node restores the latest snapshot and replays the tail after it', async () => {
    const storage = new MemoryStorage();
    await runSolo(storage, 25);
    expect(storage.snapshot().metadata.index).toBeGreaterThan(1);
    expect(storage.firstIndex()).toBeGreaterThan(1);
    await expectRecovered(storage, 25);
  });

  it('on FileStorage a restarted node restores the snapshot file and replays the WAL after it', async () => {
    root = await mkdtemp(join(tmpdir(), 'distsync-raft-snapshot-'));
    const first = await FileStorage.open({ dataDir: root });
    fileStorages.push(first);
    await runSolo(first, 25);
    await first.close();
    fileStorages.splice(0);
    const second = await FileStorage.open({ dataDir: root });
    fileStorages.push(second);
    expect(second.snapshot().metadata.index).toBeGreaterThan(1);
    expect(second.firstIndex()).toBeGreaterThan(1);
    await expectRecovered(second, 25);
  });
});

const SetCommand = z.object({ key: z.string(), value: z.number().int() });
type SetCommand = z.infer<typeof SetCommand>;

/** Registers held in a Map and snapshotted in slices of one row (MapSnapshots). */
class Registers implements StateMachine<SetCommand, unknown, number> {
  readonly name = 'registers';
  readonly commandSchema = SetCommand;
  readonly querySchema = z.unknown();
  map = new Map<string, number>();
  /** Every applied write with its index, to rebuild the state at any index. */
  readonly applied: { index: number; key: string; value: number }[] = [];
  appliesDuringSnapshot = 0;
  readonly #snapshots = new MapSnapshots(() => this.map, {
    encodeRows: encodeJsonLines,
    sliceRows: 1,
  });
  apply(command: SetCommand, context: ApplyContext): number {
    if (this.#snapshots.running > 0) this.appliesDuringSnapshot += 1;
    this.#snapshots.beforeWrite(command.key);
    this.map.set(command.key, command.value);
    this.applied.push({ index: context.index, ...command });
    return command.value;
  }
  query(): number {
    return this.map.size;
  }
  snapshot(): Uint8Array {
    return this.#snapshots.now();
  }
  beginSnapshot(): SnapshotJob {
    return this.#snapshots.begin();
  }
  restore(bytes: Uint8Array): void {
    this.map = new Map();
    decodeJsonLines(bytes, (row) => {
      const [key, value] = row as [string, number];
      this.map.set(key, value);
    });
  }
  stateAt(index: number): Map<string, number> {
    const state = new Map<string, number>();
    for (const write of this.applied) if (write.index <= index) state.set(write.key, write.value);
    return state;
  }
}

describe('RaftNode incremental snapshots', () => {
  it('serializes a large state in slices while entries keep applying, and stores it as of its index', async () => {
    const storage = new MemoryStorage();
    const registers = new Registers();
    cluster = createMemoryCluster({
      ids: ['solo'],
      stateMachines: () => [registers],
      storage: () => storage,
      node: { snapshotEveryEntries: 120, snapshotKeepEntries: 0, snapshotSliceMs: 0 },
    });
    const leader = await cluster.waitForLeader();
    const snapshotted = new Promise<number>((resolve) =>
      leader.on('snapshot', (e) => {
        resolve(e.index);
      }),
    );
    // 100 keys first, then rounds of concurrent overwrites: the snapshot due at about entry 120
    // takes 100+ turns (one row each) while the later rounds apply.
    for (let i = 0; i < 100; i += 1) {
      expect(await leader.command('registers', { key: `k${i}`, value: i })).toMatchObject({
        ok: true,
      });
    }
    for (let round = 1; round <= 6; round += 1) {
      const writes = Array.from({ length: 40 }, (_, i) =>
        leader.command('registers', { key: `k${(i * 7 + round) % 130}`, value: round * 1000 + i }),
      );
      expect((await Promise.all(writes)).every((result) => result.ok)).toBe(true);
    }
    const index = await snapshotted;
    expect(registers.appliesDuringSnapshot).toBeGreaterThan(0);
    const stored = storage.snapshot();
    expect(stored.metadata.index).toBe(index);
    // The stored bytes hold exactly the state at the snapshot's index, not the live one.
    const fresh = new Registers();
    const probe = new RaftNode({
      id: 'probe',
      peers: ['probe'],
      storage: new MemoryStorage(),
      transport: createMemoryNetwork().transport('probe'),
      stateMachines: [fresh],
    });
    probe.restore({ index, term: stored.metadata.term, data: stored.data });
    expect(fresh.map).toEqual(registers.stateAt(index));
    expect(fresh.map).not.toEqual(registers.map);
  });
});
