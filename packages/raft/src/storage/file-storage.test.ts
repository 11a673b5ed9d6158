// FileStorage on the real file system: round trips, recovery after restart, torn tails, damage
// in the middle, rollover and compaction, snapshots, and group commit.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileStorage, RaftError, StorageError } from '@distsync/raft';
import type { Entry, HardState, Snapshot } from '@distsync/raft';

let root: string;
let dataDir: string;
const open: FileStorage[] = [];

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'distsync-filestorage-'));
  dataDir = path.join(root, 'data');
});

afterEach(async () => {
  for (const storage of open.splice(0)) await storage.close().catch(() => undefined);
  await fs.rm(root, { recursive: true, force: true });
});

async function openStorage(options: { segmentBytes?: number } = {}): Promise<FileStorage> {
  const storage = await FileStorage.open({ dataDir, ...options });
  open.push(storage);
  return storage;
}

async function reopen(
  storage: FileStorage,
  options: { segmentBytes?: number } = {},
): Promise<FileStorage> {
  await storage.close();
  return openStorage(options);
}

function entry(index: number, term = 1, size = 16): Entry {
  const data = new Uint8Array(size).map((_, i) => (index * 31 + i) & 0xff);
  return { index, term, type: 'normal', data };
}

function range(from: number, to: number, term = 1): Entry[] {
  const result: Entry[] = [];
  for (let index = from; index <= to; index++) result.push(entry(index, term));
  return result;
}

function allEntries(storage: FileStorage): Entry[] {
  return storage.entries({ low: storage.firstIndex(), high: storage.lastIndex() + 1 });
}

async function walFiles(): Promise<string[]> {
  return (await fs.readdir(path.join(dataDir, 'wal'))).sort();
}

async function expectCorrupt(promise: Promise<unknown>, code: string): Promise<StorageError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StorageError);
  expect(error).toBeInstanceOf(RaftError);
  expect((error as StorageError).code).toBe(code);
  return error as StorageError;
}

describe('FileStorage round trip', () => {
  it('returns appended entries and hard state at once, and again after a restart', async () => {
    const storage = await openStorage();
    expect(storage.firstIndex()).toBe(1);
    expect(storage.lastIndex()).toBe(0);
    expect(storage.term(0)).toBe(0);
    const hardState: HardState = { term: 3, vote: 'n2', commit: 2 };
    storage.append([
      ...range(1, 3, 2),
      { index: 4, term: 3, type: 'config', data: new Uint8Array(0) },
    ]);
    storage.setHardState(hardState);
    expect(storage.lastIndex()).toBe(4);
    await storage.sync();

    const reopened = await reopen(storage);
    expect(reopened.initialState().hardState).toEqual(hardState);
    expect(allEntries(reopened)).toEqual([
      ...range(1, 3, 2),
      { index: 4, term: 3, type: 'config', data: new Uint8Array(0) },
    ]);
    expect(reopened.term(4)).toBe(3);
    expect(reopened.term(5)).toBeUndefined();
    expect(reopened.health()).toEqual({ type: 'ok' });
  });

  it('stores entry data as raw bytes with a zlib CRC-32 per record', async () => {
    const storage = await openStorage();
    const data = new TextEncoder().encode('hello wal');
    storage.append([{ index: 1, term: 1, type: 'normal', data }]);
    await storage.sync();
    const [file] = await walFiles();
    const bytes = await fs.readFile(path.join(dataDir, 'wal', file!));
    expect(bytes.includes(Buffer.from('hello wal'))).toBe(true);
    // The first record is the segment's hard state; walk to the entry record and check its CRC.
    const first = bytes.readUInt32LE(0);
    const at = 8 + first;
    const length = bytes.readUInt32LE(at);
    expect(bytes.readUInt32LE(at + 4)).toBe(zlib.crc32(bytes.subarray(at + 8, at + 8 + length)));
  });

  it('limits entries() by maxBytes but returns at least one entry', async () => {
    const storage = await openStorage();
    storage.append(range(1, 10));
    expect(storage.entries({ low: 1, high: 11, maxBytes: 40 }).map((e) => e.index)).toEqual([1, 2]);
    expect(storage.entries({ low: 3, high: 11, maxBytes: 1 }).map((e) => e.index)).toEqual([3]);
    expect(() => storage.entries({ low: 0, high: 2 })).toThrow(RaftError);
  });

  it('refuses an append that leaves a gap', async () => {
    const storage = await openStorage();
    storage.append(range(1, 2));
    expect(() => {
      storage.append([entry(4)]);
    }).toThrow(/gap|follow on/);
  });
});

describe('FileStorage recovery', () => {
  it('replays a conflicting append so the restarted log equals the in-memory one', async () => {
    const storage = await openStorage();
    storage.append(range(1, 6, 1));
    await storage.sync();
    storage.append(range(4, 5, 2)); // replaces 4..6 with 4..5 of term 2
    storage.append(range(6, 7, 3));
    storage.append(range(3, 3, 4)); // and again from 3: the log is 1, 2, 3(t4)
    await storage.sync();
    const expected = allEntries(storage);
    expect(expected.map((e) => [e.index, e.term])).toEqual([
      [1, 1],
      [2, 1],
      [3, 4],
    ]);
    const reopened = await reopen(storage);
    expect(allEntries(reopened)).toEqual(expected);
  });

  it('cuts off a torn tail (a partly written last record) and keeps appending after it', async () => {
    const storage = await openStorage();
    storage.append(range(1, 5));
    await storage.sync();
    await storage.close();
    const [file] = await walFiles();
    const walPath = path.join(dataDir, 'wal', file!);
    const full = await fs.readFile(walPath);
    await fs.truncate(walPath, full.byteLength - 7); // the last record lost its last 7 bytes

    const reopened = await openStorage();
    expect(reopened.lastIndex()).toBe(4);
    expect(reopened.stats().recoveredTruncatedBytes).toBe(8 + 18 + 16 - 7);
    reopened.append(range(5, 6));
    await reopened.sync();
    const again = await reopen(reopened);
    expect(allEntries(again).map((e) => e.index)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('treats garbage after the last record (zeros of an extended file) as a torn tail', async () => {
    const storage = await openStorage();
    storage.append(range(1, 3));
    await storage.sync();
    await storage.close();
    const [file] = await walFiles();
    await fs.appendFile(path.join(dataDir, 'wal', file!), Buffer.alloc(4096));
    const reopened = await openStorage();
    expect(reopened.lastIndex()).toBe(3);
    expect(reopened.stats().recoveredTruncatedBytes).toBe(4096);
  });

  it('truncates a bit flip in the final record, but refuses a bit flip in the middle with WAL_CORRUPT, file and offset', async () => {
    const storage = await openStorage();
    storage.append(range(1, 5));
    await storage.sync();
    await storage.close();
    const [file] = await walFiles();
    const walPath = path.join(dataDir, 'wal', file!);
    const pristine = await fs.readFile(walPath);
    const recordBytes = 8 + 18 + 16;
    const lastRecord = pristine.byteLength - recordBytes;

    const tail = Buffer.from(pristine);
    tail[lastRecord + 30] = tail[lastRecord + 30]! ^ 0x04;
    await fs.writeFile(walPath, tail);
    const recovered = await openStorage();
    expect(recovered.lastIndex()).toBe(4);
    await recovered.close();

    const middleRecord = pristine.byteLength - 3 * recordBytes; // entry 3
    const middle = Buffer.from(pristine);
    middle[middleRecord + 30] = middle[middleRecord + 30]! ^ 0x04;
    await fs.writeFile(walPath, middle);
    const error = await expectCorrupt(FileStorage.open({ dataDir }), 'WAL_CORRUPT');
    expect(error.path).toBe(walPath);
    expect(error.offset).toBe(middleRecord);
    expect(error.message).toContain(walPath);
    expect(error.message).toContain(`byte offset ${middleRecord}`);
  });

  it('refuses damage at the end of an older segment when a later segment holds valid records', async () => {
    const storage = await openStorage({ segmentBytes: 1024 });
    storage.append(range(1, 60));
    await storage.sync();
    await storage.close();
    const files = await walFiles();
    expect(files.length).toBeGreaterThan(2);
    const firstPath = path.join(dataDir, 'wal', files[0]!);
    const size = (await fs.stat(firstPath)).size;
    await fs.truncate(firstPath, size - 3);
    const error = await expectCorrupt(
      FileStorage.open({ dataDir, segmentBytes: 1024 }),
      'WAL_CORRUPT',
    );
    expect(error.path).toBe(firstPath);
    expect(error.message).toContain(files[1]!);
  });

  it('creates a missing data directory when its parent exists', async () => {
    const storage = await openStorage();
    expect((await fs.stat(path.join(dataDir, 'wal'))).isDirectory()).toBe(true);
    expect((await fs.stat(path.join(dataDir, 'snap'))).isDirectory()).toBe(true);
    await storage.close();
  });

  it('gives STORAGE_UNAVAILABLE with the path for a data dir that is a file or has no parent', async () => {
    await fs.writeFile(dataDir, 'not a directory');
    const notDir = await expectCorrupt(FileStorage.open({ dataDir }), 'STORAGE_UNAVAILABLE');
    expect(notDir.path).toBe(dataDir);
    expect(notDir.message).toContain('not a directory');

    const orphan = path.join(root, 'missing', 'data');
    const noParent = await expectCorrupt(
      FileStorage.open({ dataDir: orphan }),
      'STORAGE_UNAVAILABLE',
    );
    expect(noParent.path).toBe(orphan);
    expect(noParent.message).toContain('parent');
  });

  it('validates its options and names the option', async () => {
    await expect(FileStorage.open({ dataDir, segmentBytes: 10 })).rejects.toThrow(/segmentBytes/);
    await expect(FileStorage.open({ dataDir: '' })).rejects.toThrow(/dataDir/);
  });
});

describe('FileStorage segments and snapshots', () => {
  it('rolls segments over at segmentBytes and compaction deletes only whole segments below the index', async () => {
    const storage = await openStorage({ segmentBytes: 1024 });
    storage.append(range(1, 100));
    storage.setHardState({ term: 1, vote: 'n1', commit: 100 });
    await storage.sync();
    const before = await walFiles();
    expect(before.length).toBeGreaterThanOrEqual(4);
    expect(before[0]).toMatch(/^0{15}1-0{15}1\.wal$/);

    storage.createSnapshot({ index: 60, data: new Uint8Array([1, 2, 3]) });
    storage.compact(60);
    expect(storage.firstIndex()).toBe(61);
    expect(storage.term(60)).toBe(1);
    await storage.sync();
    const after = await walFiles();
    expect(after.length).toBeLessThan(before.length);
    // The oldest segment left starts at or before entry 61: nothing after the snapshot is lost.
    const firstLeft = Number(after[0]!.split('-')[1]!.replace('.wal', ''));
    expect(firstLeft).toBeLessThanOrEqual(61);
    expect(before.slice(-after.length)).toEqual(after);

    const reopened = await reopen(storage, { segmentBytes: 1024 });
    expect(reopened.firstIndex()).toBe(61);
    expect(reopened.lastIndex()).toBe(100);
    expect(allEntries(reopened)).toEqual(range(61, 100));
    expect(reopened.snapshot().metadata.index).toBe(60);
    expect(Array.from(reopened.snapshot().data)).toEqual([1, 2, 3]);
    expect(reopened.initialState().hardState).toEqual({ term: 1, vote: 'n1', commit: 100 });
  });

  it('writes an installed snapshot as <index>-<term>.snap, replaces the log, and loads it on open', async () => {
    const storage = await openStorage();
    storage.append(range(1, 5));
    const snapshot: Snapshot = {
      metadata: {
        index: 20,
        term: 4,
        membership: { voters: ['n1', 'n2', 'n3'], learners: ['n4'] },
      },
      data: new Uint8Array([9, 8, 7]),
    };
    storage.applySnapshot(snapshot);
    expect(storage.firstIndex()).toBe(21);
    expect(storage.lastIndex()).toBe(20);
    expect(storage.term(20)).toBe(4);
    storage.append([entry(21, 4)]);
    await storage.sync();
    expect(await fs.readdir(path.join(dataDir, 'snap'))).toEqual([
      '0000000000000020-0000000000000004.snap',
    ]);

    const reopened = await reopen(storage);
    expect(reopened.snapshot()).toEqual(snapshot);
    expect(reopened.initialState().membership).toEqual(snapshot.metadata.membership);
    expect(reopened.firstIndex()).toBe(21);
    expect(allEntries(reopened)).toEqual([entry(21, 4)]);
  });

  it('prepares a snapshot file beside the WAL: durable before createSnapshot, loaded on open with or without its marker', async () => {
    const membership = { voters: ['n1'], learners: [] };
    const storage = await openStorage();
    storage.append(range(1, 10));
    storage.setHardState({ term: 1, vote: 'n1', commit: 10 });
    await storage.sync();
    const data = new Uint8Array(64 * 1024).map((_, i) => i & 0xff);
    // The file is complete on disk before the WAL hears of it.
    await storage.prepareSnapshot({ index: 6, term: 1, data, membership });
    expect(await fs.readdir(path.join(dataDir, 'snap'))).toEqual([
      '0000000000000006-0000000000000001.snap',
    ]);
    // A restart here (no marker in the WAL) recovers from the prepared file and keeps 7-10.
    const recovered = await reopen(storage);
    expect(recovered.snapshot().metadata.index).toBe(6);
    expect(recovered.snapshot().data).toEqual(data);
    expect(allEntries(recovered)).toEqual(range(7, 10));
    // Prepared, then recorded: createSnapshot writes only the marker.
    recovered.append(range(11, 12));
    await recovered.prepareSnapshot({ index: 11, term: 1, data: new Uint8Array([11]), membership });
    recovered.createSnapshot({ index: 11, data: new Uint8Array([11]), membership });
    recovered.compact(11);
    await recovered.sync();
    const reopened = await reopen(recovered);
    expect(reopened.snapshot().metadata).toEqual({ index: 11, term: 1, membership });
    expect(Array.from(reopened.snapshot().data)).toEqual([11]);
    expect(allEntries(reopened)).toEqual(range(12, 12));
  });

  it('reports SNAPSHOT_CORRUPT when the newest snapshot file is damaged and the WAL names it', async () => {
    const storage = await openStorage();
    storage.append(range(1, 10));
    storage.createSnapshot({ index: 4, data: new Uint8Array([4]) });
    await storage.sync();
    storage.createSnapshot({ index: 8, data: new Uint8Array([8]) });
    await storage.sync();
    await storage.close();
    const newest = path.join(dataDir, 'snap', '0000000000000008-0000000000000001.snap');
    const bytes = await fs.readFile(newest);
    bytes[bytes.byteLength - 1] = bytes[bytes.byteLength - 1]! ^ 1;
    await fs.writeFile(newest, bytes);
    // The WAL names the snapshot at 8, which no longer decodes: that is reported, not hidden.
    const error = await expectCorrupt(FileStorage.open({ dataDir }), 'SNAPSHOT_CORRUPT');
    expect(error.message).toContain('index 8');
  });
});

describe('FileStorage group commit', () => {
  it('shares one fdatasync between all sync() callers of one turn', async () => {
    const storage = await openStorage();
    const syncsBefore = storage.stats().syncs;
    const waits: Promise<void>[] = [];
    for (let index = 1; index <= 50; index++) {
      storage.append([entry(index)]);
      waits.push(storage.sync());
    }
    await Promise.all(waits);
    const stats = storage.stats();
    expect(stats.syncs - syncsBefore).toBe(1);
    expect(stats.fdatasyncCalls).toBe(1);
    expect(stats.pendingBytes).toBe(0);
    expect(stats.syncLatencyMsMax).toBeGreaterThan(0);
  });

  it('resolves sync() at once when nothing was written since the last one', async () => {
    const storage = await openStorage();
    storage.append([entry(1)]);
    await storage.sync();
    const syncs = storage.stats().syncs;
    await storage.sync();
    expect(storage.stats().syncs).toBe(syncs);
  });

  it('rejects writes and sync after close with STORAGE_CLOSED', async () => {
    const storage = await openStorage();
    await storage.close();
    expect(() => {
      storage.append([entry(1)]);
    }).toThrow(/closed/);
    await expectCorrupt(storage.sync(), 'STORAGE_CLOSED');
  });
});
