// FileStorage under injected disk faults (FaultFs): crashes that lose un-synced data, torn
// writes, EIO on fsync, ENOSPC, and crashes in the middle of writing a snapshot.
import { describe, expect, it, vi } from 'vitest';
import { FileStorage, StorageError } from '@distsync/raft';
import type { Entry } from '@distsync/raft';
import { FaultFs } from '@distsync/raft/testing';

const dataDir = '/disk/node1';

function entry(index: number, term = 1): Entry {
  return { index, term, type: 'normal', data: new Uint8Array([index & 0xff, 1, 2, 3]) };
}

function range(from: number, to: number, term = 1): Entry[] {
  const result: Entry[] = [];
  for (let index = from; index <= to; index++) result.push(entry(index, term));
  return result;
}

function disk(): FaultFs {
  const fs = new FaultFs();
  fs.mkdirp('/disk');
  return fs;
}

function indexes(storage: FileStorage): number[] {
  return storage
    .entries({ low: storage.firstIndex(), high: storage.lastIndex() + 1 })
    .map((e) => e.index);
}

async function rejection(promise: Promise<unknown>): Promise<StorageError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StorageError);
  return error as StorageError;
}

describe('crash', () => {
  it('keeps every synced entry and drops what was never synced', async () => {
    let fs = disk();
    const storage = await FileStorage.open({ dataDir, fs });
    storage.append(range(1, 3));
    storage.setHardState({ term: 1, vote: 'n1', commit: 3 });
    await storage.sync();
    storage.append(range(4, 6));
    storage.setHardState({ term: 2, vote: null, commit: 3 });
    fs = fs.crash();

    const recovered = await FileStorage.open({ dataDir, fs });
    expect(indexes(recovered)).toEqual([1, 2, 3]);
    expect(recovered.initialState().hardState).toEqual({ term: 1, vote: 'n1', commit: 3 });
  });

  it('truncates a torn write (a crash during the fdatasync) down to whole records', async () => {
    let fs = disk();
    const storage = await FileStorage.open({ dataDir, fs });
    storage.append(range(1, 2));
    await storage.sync();
    storage.append(range(3, 8));
    fs.holdSyncs();
    const pending = storage.sync();
    await fs.whenSyncHeld();
    fs = fs.crash({ tearBytes: 50 }); // one whole 30-byte record and part of the next survive
    expect((await rejection(pending)).code).toBe('FSYNC_FAILED');

    const recovered = await FileStorage.open({ dataDir, fs });
    expect(indexes(recovered)).toEqual([1, 2, 3]);
    expect(recovered.stats().recoveredTruncatedBytes).toBe(20);
  });

  it('loses a new segment whose directory entry was never synced, and the old one is intact', async () => {
    let fs = disk();
    const storage = await FileStorage.open({ dataDir, fs, segmentBytes: 1024 });
    storage.append(range(1, 20));
    await storage.sync();
    const before = fs.list(`${dataDir}/wal`);
    fs.failSync({ path: '/wal', count: 1 }); // the fsync of the wal directory fails
    storage.append(range(21, 80));
    expect((await rejection(storage.sync())).code).toBe('FSYNC_FAILED');
    fs = fs.crash();
    const recovered = await FileStorage.open({ dataDir, fs, segmentBytes: 1024 });
    // The first segment was filled and synced; the segment after it never became durable.
    expect(fs.list(`${dataDir}/wal`)).toEqual(before);
    const last = recovered.lastIndex();
    expect(last).toBeGreaterThan(20);
    expect(last).toBeLessThan(80);
    expect(indexes(recovered)).toEqual(range(1, last).map((e) => e.index));
  });

  it('flags a bit flip in the middle of the durable log with WAL_CORRUPT, file and offset', async () => {
    let fs = disk();
    const storage = await FileStorage.open({ dataDir, fs });
    storage.append(range(1, 5));
    await storage.sync();
    fs = fs.crash();
    const [segment] = fs.list(`${dataDir}/wal`);
    const file = `${dataDir}/wal/${segment!}`;
    // Record 0 is the hard state (8 + 18 bytes), then 30-byte entry records; hit entry 2.
    const entry2 = 26 + 30;
    fs.flipBit({ path: file, offset: entry2 + 20, bit: 3 });
    const error = await rejection(FileStorage.open({ dataDir, fs }));
    expect(error.code).toBe('WAL_CORRUPT');
    expect(error.path).toBe(file);
    expect(error.offset).toBe(entry2);
  });

  it('gives STORAGE_UNAVAILABLE with the path for a data dir it may not read', async () => {
    const fs = disk();
    fs.mkdirp(dataDir);
    fs.denyAccess(dataDir);
    const error = await rejection(FileStorage.open({ dataDir, fs }));
    expect(error.code).toBe('STORAGE_UNAVAILABLE');
    expect(error.path).toBe(dataDir);
    expect(error.message).toContain('permission denied');
  });
});

describe('fsync failure', () => {
  it('rejects sync() with FSYNC_FAILED, never retries, and fences the storage until reopened', async () => {
    const fs = disk();
    const storage = await FileStorage.open({ dataDir, fs });
    storage.append(range(1, 2));
    await storage.sync();
    fs.failSync({ path: '.wal' });
    storage.append(range(3, 4));
    const first = storage.sync();
    const second = storage.sync();
    expect((await rejection(first)).code).toBe('FSYNC_FAILED');
    expect((await rejection(second)).code).toBe('FSYNC_FAILED');
    const syncsAfterFailure = fs.syncCount;

    expect(storage.health().type).toBe('failed');
    expect(() => {
      storage.append([entry(5)]);
    }).toThrow(StorageError);
    expect(() => {
      storage.setHardState({ term: 2, vote: null, commit: 0 });
    }).toThrow(/fsync/);
    expect((await rejection(storage.sync())).code).toBe('FSYNC_FAILED');
    expect(fs.syncCount).toBe(syncsAfterFailure); // nothing was retried

    // The un-synced entries may or may not be on disk; the synced ones are.
    const reopened = await FileStorage.open({ dataDir, fs });
    expect(indexes(reopened).slice(0, 2)).toEqual([1, 2]);
    reopened.append([entry(reopened.lastIndex() + 1)]);
    await reopened.sync();
    expect(reopened.health()).toEqual({ type: 'ok' });
  });

  it('fences on a write error other than ENOSPC (WRITE_FAILED)', async () => {
    const fs = disk();
    const storage = await FileStorage.open({ dataDir, fs });
    fs.failWrites({ code: 'EIO' });
    storage.append(range(1, 2));
    expect((await rejection(storage.sync())).code).toBe('WRITE_FAILED');
    expect(storage.health().type).toBe('failed');
  });
});

describe('ENOSPC', () => {
  it('rejects with NO_SPACE, reports it in health(), and goes on once space is back', async () => {
    let fs = disk();
    const storage = await FileStorage.open({ dataDir, fs });
    storage.append(range(1, 2));
    await storage.sync();
    fs.setFreeBytes(40); // the next write gets cut short after 40 bytes
    storage.append(range(3, 6));
    storage.setHardState({ term: 1, vote: null, commit: 2 });
    const error = await rejection(storage.sync());
    expect(error.code).toBe('NO_SPACE');
    const health = storage.health();
    expect(health.type).toBe('no-space');
    // The entries are still in memory (the core already saw them) but nothing was acknowledged.
    expect(storage.lastIndex()).toBe(6);
    expect((await rejection(storage.sync())).code).toBe('NO_SPACE');

    fs.restoreSpace();
    storage.append([entry(7)]);
    await storage.sync();
    expect(storage.health()).toEqual({ type: 'ok' });
    fs = fs.crash();
    const recovered = await FileStorage.open({ dataDir, fs });
    expect(indexes(recovered)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(recovered.initialState().hardState.commit).toBe(2);
  });

  it('retries by itself while the disk is full, so health() turns ok once space is back', async () => {
    let fs = disk();
    const storage = await FileStorage.open({ dataDir, fs, noSpaceRetryMs: 5 });
    fs.setFreeBytes(0);
    storage.append(range(1, 3));
    expect((await rejection(storage.sync())).code).toBe('NO_SPACE');
    expect(storage.health().type).toBe('no-space');
    fs.restoreSpace();
    // Nobody calls sync(): the retry timer writes the queued bytes.
    await vi.waitFor(() => {
      expect(storage.health()).toEqual({ type: 'ok' });
    });
    fs = fs.crash();
    expect(indexes(await FileStorage.open({ dataDir, fs }))).toEqual([1, 2, 3]);
  });

  it('keeps an interrupted snapshot out: NO_SPACE, then the snapshot is written when space is back', async () => {
    const fs = disk();
    const storage = await FileStorage.open({ dataDir, fs });
    storage.append(range(1, 10));
    await storage.sync();
    fs.setFreeBytes(10);
    storage.createSnapshot({ index: 5, data: new Uint8Array(100) });
    expect((await rejection(storage.sync())).code).toBe('NO_SPACE');
    expect(fs.list(`${dataDir}/snap`)).toEqual([]);
    fs.restoreSpace();
    await storage.sync();
    expect(fs.list(`${dataDir}/snap`)).toEqual(['0000000000000005-0000000000000001.snap']);
  });

  it('bounds what waits in memory with maxPendingBytes', async () => {
    const fs = disk();
    const storage = await FileStorage.open({ dataDir, fs, maxPendingBytes: 1024 });
    fs.setFreeBytes(0);
    storage.append(range(1, 20));
    expect((await rejection(storage.sync())).code).toBe('NO_SPACE');
    expect(() => {
      storage.append(range(21, 60));
    }).toThrow(/maxPendingBytes/);
    expect(storage.lastIndex()).toBe(20);
  });
});

describe('snapshot atomicity', () => {
  it('a crash between the temp file write and the rename leaves the old snapshot', async () => {
    let fs = disk();
    const storage = await FileStorage.open({ dataDir, fs });
    storage.append(range(1, 10));
    storage.createSnapshot({ index: 4, data: new Uint8Array([4]) });
    await storage.sync();

    storage.createSnapshot({ index: 8, data: new Uint8Array([8]) });
    fs.holdSyncs();
    const pending = storage.sync();
    await fs.whenSyncHeld(); // the temp file is written and its fdatasync is in progress
    expect(fs.list(`${dataDir}/snap`)).toContain('0000000000000008-0000000000000001.snap.tmp');
    fs = fs.crash({ tearBytes: 1_000_000 }); // even if all of the temp file reached the disk
    await rejection(pending);

    const recovered = await FileStorage.open({ dataDir, fs });
    expect(recovered.snapshot().metadata.index).toBe(4);
    expect(Array.from(recovered.snapshot().data)).toEqual([4]);
    expect(fs.list(`${dataDir}/snap`)).toEqual(['0000000000000004-0000000000000001.snap']);
    expect(indexes(recovered)).toEqual([5, 6, 7, 8, 9, 10]);
  });

  it('a crash after the rename but before the directory fsync keeps a consistent pair', async () => {
    let fs = disk();
    const storage = await FileStorage.open({ dataDir, fs });
    storage.append(range(1, 10));
    storage.createSnapshot({ index: 4, data: new Uint8Array([4]) });
    await storage.sync();
    storage.createSnapshot({ index: 8, data: new Uint8Array([8]) });
    fs.failSync({ path: '/snap' }); // the directory fsync after the rename fails
    await rejection(storage.sync());
    fs = fs.crash();
    const recovered = await FileStorage.open({ dataDir, fs });
    expect(recovered.snapshot().metadata.index).toBe(4);
    expect(indexes(recovered)).toEqual([5, 6, 7, 8, 9, 10]);
  });
});

describe('snapshot file and WAL marker', () => {
  it('after a crash that kept an installed snapshot but lost its WAL marker, later appends survive', async () => {
    let fs = disk();
    const storage = await FileStorage.open({ dataDir, fs });
    storage.append(range(1, 3, 1));
    await storage.sync();
    // A snapshot from a leader of term 2 at index 2: the local entry 2 has term 1, so it conflicts.
    storage.applySnapshot({
      metadata: { index: 2, term: 2, membership: { voters: ['n1'], learners: [] } },
      data: new Uint8Array([2]),
    });
    fs.holdSyncs({ after: 2 }); // the snapshot file and its directory are synced, the WAL is not
    const pending = storage.sync();
    await fs.whenSyncHeld();
    fs = fs.crash();
    await rejection(pending);

    const recovered = await FileStorage.open({ dataDir, fs });
    expect(recovered.snapshot().metadata.index).toBe(2);
    expect(indexes(recovered)).toEqual([]); // entry 3 of the old term-1 log went with the conflict
    recovered.append([entry(3, 2), entry(4, 2)]);
    await recovered.sync();
    await recovered.close();
    const again = await FileStorage.open({ dataDir, fs });
    expect(indexes(again)).toEqual([3, 4]);
    expect(again.term(3)).toBe(2);
  });
});

describe('slow disks', () => {
  it('group-commits appends that arrive while an fsync is in progress into the next one', async () => {
    const fs = disk();
    const storage = await FileStorage.open({ dataDir, fs });
    fs.holdSyncs();
    storage.append([entry(1)]);
    const waits: Promise<void>[] = [storage.sync()];
    await fs.whenSyncHeld(); // the first fdatasync is in progress
    for (let index = 2; index <= 40; index++) {
      await Promise.resolve();
      storage.append([entry(index)]);
      waits.push(storage.sync());
    }
    fs.releaseSyncs();
    await Promise.all(waits);
    expect(storage.stats().syncs).toBe(2);
    expect(indexes(await FileStorage.open({ dataDir, fs }))).toHaveLength(40);
  });

  it('waits for a slow fsync before resolving', async () => {
    const fs = disk();
    fs.syncDelayMs = 30;
    const storage = await FileStorage.open({ dataDir, fs });
    storage.append([entry(1)]);
    let resolved = false;
    const wait = storage.sync().then(() => {
      resolved = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(resolved).toBe(false);
    await wait;
    expect(fs.syncCount).toBeGreaterThan(0);
    expect(storage.stats().syncLatencyMsLast).toBeGreaterThanOrEqual(25);
  });
});
