// FileStorage: the durable `LogStorage` of @distsync/raft and the only part of the package that
// touches the file system.
//
// Layout of `dataDir`:
//   wal/<sequence>-<first index>.wal   segments of the write-ahead log, in sequence order
//   snap/<index>-<term>.snap           snapshots, written atomically (temp, fsync, rename, fsync dir)
//
// The core reads the log synchronously, so the un-compacted log lives in memory (`EntryLog`) and
// every change is written through: `append`, `setHardState`, `applySnapshot` and `compact` change
// memory at once and queue bytes; `sync()` resolves once everything queued before it is durable.
// Writes queued in one turn of the event loop go out as one write and one fdatasync per segment
// (group commit), shared by every `sync()` caller of that turn.
//
// The hard state is a WAL record rather than a separate file: a file replaced atomically would cost
// a write, an fsync, a rename and a directory fsync on every term or vote change, where a record
// rides on the fdatasync the entries of the same Ready need anyway. Every new segment starts with
// the current hard state, so deleting old segments never loses it.
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { HardState, LogStorage, Snapshot } from '../core/types.js';
import type { Entry, Membership } from '../messages.js';
import { RaftError, invalidOption } from '../errors.js';
import {
  encodeEntryRecord,
  encodeHardStateRecord,
  encodeSnapshotFileHead,
  encodeSnapshotRecord,
  parseSnapshotName,
  segmentName,
  snapshotName,
} from './codec.js';
import { EntryLog } from './entry-log.js';
import { StorageError, errnoCode } from './errors.js';
import type { StorageFileHandle, StorageFs } from './fs.js';
import { nodeStorageFs, writeFully } from './fs.js';
import { ensureDirectory, loadSnapshot, scanWal } from './recovery.js';
import type { SegmentOnDisk } from './recovery.js';
import { replay } from './replay.js';
import type { SnapshotAnchor } from './replay.js';

export interface FileStorageOptions {
  /** The node's data directory; created when missing (its parent must exist). */
  readonly dataDir: string;
  /** A segment is closed and a new one started once it holds this many bytes. Default 64 MiB. */
  readonly segmentBytes?: number;
  /**
   * Bytes queued but not yet written (for example while the disk is full) beyond which `append`
   * throws `NO_SPACE` instead of growing memory without bound. Default 256 MiB.
   */
  readonly maxPendingBytes?: number;
  /** Snapshot files kept on disk (the newest ones). Default 2. */
  readonly snapshotsToKeep?: number;
  /**
   * While the disk is full, the unwritten bytes are retried this often even if nobody calls
   * `sync()`, so `health()` turns `ok` again once space is back. 0 turns it off. Default 1000.
   */
  readonly noSpaceRetryMs?: number;
  /** The file system; a fault-injecting one in tests (`FaultFs`). Default: node:fs. */
  readonly fs?: StorageFs;
}

/** Whether the storage can make writes durable right now. */
export type StorageHealth =
  | { readonly type: 'ok' }
  /** A write failed with ENOSPC at `since` (epoch ms); `sync()` retries the unwritten bytes. */
  | { readonly type: 'no-space'; readonly since: number }
  /** A fatal disk error; the storage is fenced until reopened. */
  | { readonly type: 'failed'; readonly error: StorageError };

export interface FileStorageStats {
  /** Group commits that reached the disk (one fdatasync per segment written). */
  readonly syncs: number;
  readonly fdatasyncCalls: number;
  readonly syncLatencyMsLast: number;
  readonly syncLatencyMsMax: number;
  readonly syncLatencyMsTotal: number;
  /** WAL bytes written since open. */
  readonly writtenBytes: number;
  /** WAL bytes queued and not yet written. */
  readonly pendingBytes: number;
  readonly segments: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  /** Entry data bytes held in memory. */
  readonly logDataBytes: number;
  /** Bytes of torn tail cut off at open. */
  readonly recoveredTruncatedBytes: number;
  /** Snapshot files that were ignored at open because they did not decode, with the reason. */
  readonly skippedSnapshots: readonly string[];
}

export const FILE_STORAGE_DEFAULTS: {
  readonly segmentBytes: number;
  readonly maxPendingBytes: number;
  readonly snapshotsToKeep: number;
  readonly noSpaceRetryMs: number;
} = {
  segmentBytes: 64 * 1024 * 1024,
  maxPendingBytes: 256 * 1024 * 1024,
  snapshotsToKeep: 2,
  noSpaceRetryMs: 1000,
};

interface Segment {
  readonly sequence: number;
  readonly path: string;
  handle: StorageFileHandle | undefined;
  /** The file exists and its directory entry is durable. */
  onDisk: boolean;
  /** Bytes in the file: where the next write goes (a failed write is retried here). */
  writtenBytes: number;
  /** writtenBytes plus queued bytes: decides when to roll over. */
  logicalBytes: number;
  /** Records queued for this segment, each with the write sequence number it got. */
  pending: { readonly sequence: number; readonly bytes: Buffer }[];
  firstEntryIndex: number | undefined;
}

interface Waiter {
  readonly target: number;
  readonly resolve: () => void;
  readonly reject: (error: StorageError) => void;
}

interface Resolved {
  readonly fs: StorageFs;
  readonly dataDir: string;
  readonly segmentBytes: number;
  readonly maxPendingBytes: number;
  readonly snapshotsToKeep: number;
  readonly noSpaceRetryMs: number;
}

function resolveOptions(options: FileStorageOptions): Resolved {
  const segmentBytes = options.segmentBytes ?? FILE_STORAGE_DEFAULTS.segmentBytes;
  const maxPendingBytes = options.maxPendingBytes ?? FILE_STORAGE_DEFAULTS.maxPendingBytes;
  const snapshotsToKeep = options.snapshotsToKeep ?? FILE_STORAGE_DEFAULTS.snapshotsToKeep;
  if (typeof options.dataDir !== 'string' || options.dataDir.length === 0) {
    throw invalidOption('dataDir', 'a non-empty path', options.dataDir);
  }
  if (!Number.isSafeInteger(segmentBytes) || segmentBytes < 1024 || segmentBytes > 2 ** 30) {
    throw invalidOption('segmentBytes', 'an integer from 1024 to 2^30', segmentBytes);
  }
  if (!Number.isSafeInteger(maxPendingBytes) || maxPendingBytes < 1024) {
    throw invalidOption('maxPendingBytes', 'an integer of at least 1024', maxPendingBytes);
  }
  if (!Number.isSafeInteger(snapshotsToKeep) || snapshotsToKeep < 1) {
    throw invalidOption('snapshotsToKeep', 'an integer of at least 1', snapshotsToKeep);
  }
  const noSpaceRetryMs = options.noSpaceRetryMs ?? FILE_STORAGE_DEFAULTS.noSpaceRetryMs;
  if (!Number.isSafeInteger(noSpaceRetryMs) || noSpaceRetryMs < 0) {
    throw invalidOption('noSpaceRetryMs', 'a non-negative integer', noSpaceRetryMs);
  }
  const dataDir = path.resolve(options.dataDir);
  return {
    fs: options.fs ?? nodeStorageFs,
    dataDir,
    segmentBytes,
    maxPendingBytes,
    snapshotsToKeep,
    noSpaceRetryMs,
  };
}

interface Recovered {
  readonly options: Resolved;
  readonly snapshot: Snapshot;
  readonly hardState: HardState;
  readonly entries: Entry[];
  readonly anchor: SnapshotAnchor | undefined;
  readonly segments: readonly SegmentOnDisk[];
  readonly truncatedBytes: number;
  readonly skippedSnapshots: string[];
}

async function recover(options: Resolved): Promise<Recovered> {
  const { fs, dataDir } = options;
  try {
    await ensureDirectory(fs, dataDir);
    await ensureDirectory(fs, path.join(dataDir, 'wal'));
    await ensureDirectory(fs, path.join(dataDir, 'snap'));
    const { snapshot, skipped } = await loadSnapshot(fs, path.join(dataDir, 'snap'));
    const scan = await scanWal(fs, path.join(dataDir, 'wal'));
    const { hardState, entries, anchor } = replay(scan.records, snapshot.metadata);
    return {
      options,
      snapshot,
      hardState,
      entries,
      anchor,
      segments: scan.segments,
      truncatedBytes: scan.truncatedBytes,
      skippedSnapshots: skipped,
    };
  } catch (error) {
    if (error instanceof RaftError) throw error;
    const at = (error as { path?: unknown }).path;
    const where = typeof at === 'string' ? at : dataDir;
    throw new StorageError(
      'STORAGE_UNAVAILABLE',
      `cannot open storage in ${dataDir}: ${String(error)}`,
      { path: where, cause: error },
    );
  }
}

export class FileStorage implements LogStorage {
  readonly #fs: StorageFs;
  readonly #walDir: string;
  readonly #snapDir: string;
  readonly #options: Resolved;
  readonly #log: EntryLog;
  #hardState: HardState;
  #snapshot: Snapshot;
  /**
   * Snapshot files to write, each after the WAL records queued before it (`barrier`: the write
   * sequence just before its marker), so what is durable after a crash is always a prefix of
   * what was written, in the order it was written.
   */
  readonly #pendingSnapshots: { readonly snapshot: Snapshot; readonly barrier: number }[] = [];
  /** Snapshot files `prepareSnapshot` made durable, by `index:term`, awaiting `createSnapshot`. */
  readonly #preparedSnapshots = new Set<string>();
  readonly #segments: Segment[];
  readonly #deletions: Segment[] = [];
  #pendingBytes = 0;
  #writeSequence = 0;
  #durableSequence = 0;
  #waiters: Waiter[] = [];
  #flushing: Promise<void> | undefined;
  #flushAgain = false;
  #flushTimer = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #health: StorageHealth = { type: 'ok' };
  #failure: StorageError | undefined;
  #closed = false;
  readonly #stats = {
    syncs: 0,
    fdatasyncCalls: 0,
    syncLatencyMsLast: 0,
    syncLatencyMsMax: 0,
    syncLatencyMsTotal: 0,
    writtenBytes: 0,
    recoveredTruncatedBytes: 0,
    skippedSnapshots: [] as readonly string[],
  };

  private constructor(recovered: Recovered) {
    this.#options = recovered.options;
    this.#fs = recovered.options.fs;
    this.#walDir = path.join(recovered.options.dataDir, 'wal');
    this.#snapDir = path.join(recovered.options.dataDir, 'snap');
    const { index, term } = recovered.snapshot.metadata;
    this.#log = new EntryLog({ index, term, entries: recovered.entries });
    this.#snapshot = recovered.snapshot;
    this.#hardState = recovered.hardState;
    this.#segments = recovered.segments.map((segment) => ({
      sequence: segment.sequence,
      path: segment.path,
      handle: undefined,
      onDisk: true,
      writtenBytes: segment.sizeBytes,
      logicalBytes: segment.sizeBytes,
      pending: [],
      firstEntryIndex: segment.firstEntryIndex,
    }));
    this.#stats.recoveredTruncatedBytes = recovered.truncatedBytes;
    this.#stats.skippedSnapshots = recovered.skippedSnapshots;
    if (recovered.anchor !== undefined) {
      this.#enqueue(encodeSnapshotRecord(recovered.anchor), undefined);
    }
  }

  /**
   * Opens (or creates) the storage in `dataDir` and recovers its state. Rejects with
   * `STORAGE_UNAVAILABLE` when the directory cannot be used, `WAL_CORRUPT` or `SNAPSHOT_CORRUPT`
   * when acknowledged data is damaged (a torn tail of un-synced writes is cut off silently).
   */
  static async open(options: FileStorageOptions): Promise<FileStorage> {
    return new FileStorage(await recover(resolveOptions(options)));
  }

  // --- Storage (read side, synchronous) ---

  initialState(): { hardState: HardState; membership: Membership } {
    return { hardState: this.#hardState, membership: this.#snapshot.metadata.membership };
  }

  entries(range: { low: number; high: number; maxBytes?: number }): Entry[] {
    return this.#log.slice(range);
  }

  term(index: number): number | undefined {
    return this.#log.term(index);
  }

  firstIndex(): number {
    return this.#log.firstIndex();
  }

  lastIndex(): number {
    return this.#log.lastIndex();
  }

  snapshot(): Snapshot {
    return this.#snapshot;
  }

  /** The hard state last set (durable once `sync()` resolved after it). */
  hardState(): HardState {
    return this.#hardState;
  }

  health(): StorageHealth {
    return this.#health;
  }

  stats(): FileStorageStats {
    return {
      ...this.#stats,
      pendingBytes: this.#pendingBytes,
      segments: this.#segments.length,
      firstIndex: this.#log.firstIndex(),
      lastIndex: this.#log.lastIndex(),
      logDataBytes: this.#log.dataBytes(),
    };
  }

  // --- LogStorage (write side) ---

  /**
   * Appends entries; an entry at an index already held replaces it and everything after it (the
   * WAL replays the same replacement). Entries at or below the snapshot index are ignored: they
   * are committed and already covered (as in `MemoryStorage`). Throws the fencing error after a fatal disk error.
   */
  append(entries: readonly Entry[]): void {
    this.#assertWritable();
    const covered = Math.max(this.#log.baseIndex, this.#snapshot.metadata.index);
    const fresh = entries.filter((entry) => entry.index > covered);
    const first = fresh[0];
    if (first === undefined) return;
    checkContiguous(fresh, this.#log.lastIndex());
    const records = fresh.map((entry) => encodeEntryRecord(entry));
    this.#reserve(records.reduce((sum, record) => sum + record.byteLength, 0));
    this.#log.append(fresh);
    for (const [position, record] of records.entries()) {
      this.#enqueue(record, fresh[position]?.index);
    }
  }

  setHardState(hardState: HardState): void {
    this.#assertWritable();
    if (hardState.vote !== null && Buffer.byteLength(hardState.vote) > 255) {
      throw new RaftError('INVALID_ARGUMENT', 'hard state vote must be at most 255 bytes');
    }
    const record = encodeHardStateRecord(hardState);
    this.#reserve(record.byteLength);
    this.#hardState = hardState;
    this.#enqueue(record, undefined);
  }

  /**
   * Installs a snapshot received from the leader (`Ready.snapshot`), as `MemoryStorage` does: the
   * whole log is replaced by it. A snapshot not newer than the stored one is ignored. Its file is
   * written atomically by the next `sync()`, before the WAL records that follow it.
   */
  applySnapshot(snapshot: Snapshot): void {
    this.#assertWritable();
    const { index, term } = snapshot.metadata;
    if (index <= this.#snapshot.metadata.index) return;
    this.#log.reset({ index, term });
    this.#snapshot = snapshot;
    this.#pendingSnapshots.push({ snapshot, barrier: this.#writeSequence });
    this.#enqueue(encodeSnapshotRecord({ index, term, dropSuffix: true }), undefined);
  }

  /**
   * Records a snapshot the host took of its state machines at `index` (which must be held); the
   * log is unchanged, and the host may then `compact(index)`. Same contract as
   * `MemoryStorage.createSnapshot`; the file is written by the next `sync()`.
   */
  createSnapshot(snapshot: { index: number; data: Uint8Array; membership?: Membership }): Snapshot {
    this.#assertWritable();
    const term = this.#log.term(snapshot.index);
    if (term === undefined || snapshot.index <= this.#snapshot.metadata.index) {
      throw new RaftError(
        'INVALID_ARGUMENT',
        `cannot snapshot at ${snapshot.index}: not held, or not newer than the snapshot at ${this.#snapshot.metadata.index}`,
      );
    }
    const membership = snapshot.membership ?? this.#snapshot.metadata.membership;
    this.#snapshot = { metadata: { index: snapshot.index, term, membership }, data: snapshot.data };
    // A prepared file is already durable: only the WAL marker below is left to write.
    if (!this.#preparedSnapshots.delete(`${snapshot.index}:${term}`)) {
      this.#pendingSnapshots.push({ snapshot: this.#snapshot, barrier: this.#writeSequence });
    }
    // A marker that keeps the log orders the snapshot file before later records, so a WAL that
    // names a snapshot whose file is missing is reported instead of silently losing entries.
    this.#enqueue(
      encodeSnapshotRecord({ index: snapshot.index, term, dropSuffix: false }),
      undefined,
    );
    return this.#snapshot;
  }

  /**
   * Writes a snapshot's file durably now, beside the WAL's group commit instead of in it (see
   * `LogStorage.prepareSnapshot`); `createSnapshot` for the same index and term then appends only
   * its WAL marker. A crash between the two leaves a snapshot file newer than the WAL names,
   * which recovery already handles (it writes the marker first). Rejects on a write error; the
   * storage itself is not fenced by that, since the WAL never named the file.
   */
  async prepareSnapshot(snapshot: {
    index: number;
    term: number;
    data: Uint8Array;
    membership: Membership;
  }): Promise<void> {
    this.#assertWritable();
    const { index, term, membership, data } = snapshot;
    await this.#writeSnapshot({ metadata: { index, term, membership }, data });
    this.#preparedSnapshots.add(`${index}:${term}`);
  }

  /**
   * Drops entries up to and including `index` from memory, and deletes the WAL segments that
   * hold only entries at or below both `index` and the snapshot index (the segment holding the
   * next entry is kept). Deleting files happens with the next sync.
   */
  compact(index: number): void {
    this.#assertWritable();
    if (index <= this.#log.baseIndex) return;
    if (!Number.isSafeInteger(index) || index > this.#log.lastIndex()) {
      throw new RaftError(
        'INVALID_ARGUMENT',
        `cannot compact to ${index}: the last index is ${this.#log.lastIndex()}`,
      );
    }
    this.#log.compactTo(index);
    this.#planSegmentDeletion(Math.min(index, this.#snapshot.metadata.index));
  }

  /**
   * Resolves once every write made before the call is durable (after its fdatasync returned).
   * Rejects with `NO_SPACE` when the disk is full (nothing is lost from memory: a later `sync()`
   * retries the same bytes), with `FSYNC_FAILED` / `WRITE_FAILED` after a fatal disk error (the
   * storage is then fenced: every later write throws and every `sync()` rejects).
   */
  sync(): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (this.#closed) return Promise.reject(closedError());
    const target = this.#writeSequence;
    if (target <= this.#durableSequence && this.#pendingSnapshots.length === 0) {
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      this.#waiters.push({ target, resolve, reject });
      this.#scheduleFlush();
    });
  }

  /** Syncs what is queued (when healthy) and closes every file. Later calls reject or throw. */
  async close(): Promise<void> {
    if (this.#closed) return;
    let error: Error | undefined;
    if (this.#failure === undefined) {
      await this.sync().catch((e: unknown) => {
        error = e instanceof Error ? e : new Error(String(e));
      });
    }
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    await this.#flushing;
    for (const segment of [...this.#segments, ...this.#deletions]) await closeQuietly(segment);
    if (error !== undefined) throw error;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // --- internals ---

  #assertWritable(): void {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#closed) throw closedError();
  }

  #reserve(bytes: number): void {
    if (this.#pendingBytes + bytes > this.#options.maxPendingBytes) {
      throw new StorageError(
        'NO_SPACE',
        `${this.#pendingBytes} bytes are waiting to be written; adding ${bytes} would pass maxPendingBytes (${this.#options.maxPendingBytes})`,
      );
    }
  }

  #enqueue(record: Buffer, entryIndex: number | undefined): void {
    let segment = this.#segments.at(-1);
    if (segment === undefined || segment.logicalBytes >= this.#options.segmentBytes) {
      segment = this.#roll(entryIndex ?? this.#log.lastIndex() + 1);
    }
    this.#push(segment, record);
    if (entryIndex !== undefined) segment.firstEntryIndex ??= entryIndex;
  }

  #push(segment: Segment, record: Buffer): void {
    this.#writeSequence++;
    segment.pending.push({ sequence: this.#writeSequence, bytes: record });
    segment.logicalBytes += record.byteLength;
    this.#pendingBytes += record.byteLength;
  }

  /** Starts a new segment; it begins with the current hard state (see the file comment). */
  #roll(firstIndex: number): Segment {
    const sequence = (this.#segments.at(-1)?.sequence ?? 0) + 1;
    const segment: Segment = {
      sequence,
      path: path.join(this.#walDir, segmentName({ sequence, firstIndex })),
      handle: undefined,
      onDisk: false,
      writtenBytes: 0,
      logicalBytes: 0,
      pending: [],
      firstEntryIndex: undefined,
    };
    this.#segments.push(segment);
    this.#push(segment, encodeHardStateRecord(this.#hardState));
    return segment;
  }

  /**
   * Whole segments can go when replaying from the next one still rebuilds every entry after
   * `upTo`: that holds when the next entry record on disk is at most `upTo + 1` (a later write
   * at that index or below replaces everything after it in memory and at replay alike).
   */
  #planSegmentDeletion(upTo: number): void {
    while (this.#segments.length > 1) {
      const head = this.#segments[0];
      if (head === undefined || head.pending.length > 0 || !head.onDisk) break;
      const next = this.#segments.slice(1).find((s) => s.firstEntryIndex !== undefined);
      const covered =
        next?.firstEntryIndex === undefined
          ? this.#log.lastIndex() <= upTo
          : next.firstEntryIndex <= upTo + 1;
      if (!covered) break;
      this.#segments.shift();
      this.#deletions.push(head);
    }
    if (this.#deletions.length > 0) this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushing !== undefined) {
      this.#flushAgain = true;
      return;
    }
    if (this.#flushTimer) return;
    this.#flushTimer = true;
    // setImmediate, not a microtask: every appender of this turn (and the continuations the last
    // sync released) gets to queue its bytes before the batch is cut.
    setImmediate(() => {
      this.#flushTimer = false;
      this.#flushing = this.#flush().finally(() => {
        this.#flushing = undefined;
        if (this.#flushAgain) {
          this.#flushAgain = false;
          this.#scheduleFlush();
        }
      });
    });
  }

  async #flush(): Promise<void> {
    if (this.#failure !== undefined || this.#closed) return;
    const target = this.#writeSequence;
    const snapshots = this.#pendingSnapshots.length;
    const deletions = this.#deletions.splice(0);
    const started = performance.now();
    let wrote = false;
    try {
      for (let i = 0; i < snapshots; i++) {
        const next = this.#pendingSnapshots[0];
        if (next === undefined) break;
        wrote = (await this.#writeWal(next.barrier)) || wrote;
        await this.#writeSnapshot(next.snapshot);
        this.#pendingSnapshots.shift();
        wrote = true;
      }
      wrote = (await this.#writeWal(target)) || wrote;
    } catch (error) {
      this.#deletions.unshift(...deletions);
      this.#failed(error);
      return;
    }
    this.#recordSync(wrote, performance.now() - started);
    // Compacted files go before the waiters are released, so a caller that awaited sync() after
    // compact() finds them gone; this only delays the rare syncs that follow a compaction.
    await this.#cleanUp(deletions, snapshots > 0);
    this.#durableSequence = Math.max(this.#durableSequence, target);
    this.#health = { type: 'ok' };
    this.#releaseWaiters();
  }

  /** Writes and syncs, segment by segment in order, every queued record up to `upTo`. */
  async #writeWal(upTo: number): Promise<boolean> {
    let wrote = false;
    for (const segment of this.#segments.slice()) {
      let count = 0;
      while (count < segment.pending.length && (segment.pending[count]?.sequence ?? 0) <= upTo) {
        count++;
      }
      if (count === 0) continue;
      await this.#writeSegment(segment, count);
      wrote = true;
    }
    return wrote;
  }

  #recordSync(synced: boolean, elapsedMs: number): void {
    if (!synced) return;
    this.#stats.syncs++;
    this.#stats.syncLatencyMsLast = elapsedMs;
    this.#stats.syncLatencyMsTotal += elapsedMs;
    this.#stats.syncLatencyMsMax = Math.max(this.#stats.syncLatencyMsMax, elapsedMs);
  }

  #releaseWaiters(): void {
    const still: Waiter[] = [];
    for (const waiter of this.#waiters) {
      if (waiter.target <= this.#durableSequence) waiter.resolve();
      else still.push(waiter);
    }
    this.#waiters = still;
    if (still.length > 0) this.#flushAgain = true;
  }

  async #writeSegment(segment: Segment, count: number): Promise<void> {
    if (!segment.onDisk) {
      segment.handle = await io('write', segment.path, () => this.#fs.open(segment.path, 'create'));
      segment.onDisk = true;
      await io('sync', this.#walDir, () => this.#fs.fsyncDir(this.#walDir));
    }
    const handle = (segment.handle ??= await io('write', segment.path, () =>
      this.#fs.open(segment.path, 'write'),
    ));
    const chunks = segment.pending.slice(0, count).map((chunk) => chunk.bytes);
    const data = chunks.length === 1 && chunks[0] !== undefined ? chunks[0] : Buffer.concat(chunks);
    await io('write', segment.path, () => writeFully(handle, data, segment.writtenBytes));
    segment.pending.splice(0, count);
    segment.writtenBytes += data.byteLength;
    this.#pendingBytes -= data.byteLength;
    this.#stats.writtenBytes += data.byteLength;
    this.#stats.fdatasyncCalls++;
    await io('sync', segment.path, () => handle.datasync());
  }

  /** Temp file, fdatasync, rename, fsync of the directory: a crash leaves the old or the new. */
  async #writeSnapshot(snapshot: Snapshot): Promise<void> {
    const final = path.join(this.#snapDir, snapshotName(snapshot.metadata));
    const temp = `${final}.tmp`;
    await this.#fs.unlink(temp).catch(() => undefined);
    const handle = await io('write', temp, () => this.#fs.open(temp, 'create'));
    try {
      const head = encodeSnapshotFileHead(snapshot);
      await io('write', temp, () => writeFully(handle, head, 0));
      await io('write', temp, () => writeFully(handle, snapshot.data, head.byteLength));
      this.#stats.fdatasyncCalls++;
      await io('sync', temp, () => handle.datasync());
    } catch (error) {
      await handle.close().catch(() => undefined);
      if (error instanceof StorageError && error.code === 'NO_SPACE') {
        await this.#fs.unlink(temp).catch(() => undefined);
      }
      throw error;
    }
    await handle.close().catch(() => undefined);
    await io('write', final, () => this.#fs.rename(temp, final));
    await io('sync', this.#snapDir, () => this.#fs.fsyncDir(this.#snapDir));
  }

  /** Deletes compacted segments and old snapshots; a failure here loses nothing, so it is retried later. */
  async #cleanUp(deletions: readonly Segment[], newSnapshot: boolean): Promise<void> {
    const failed: Segment[] = [];
    for (const segment of deletions) {
      await closeQuietly(segment);
      await this.#fs.unlink(segment.path).catch((error: unknown) => {
        if (errnoCode(error) !== 'ENOENT') failed.push(segment);
      });
    }
    this.#deletions.push(...failed);
    if (newSnapshot) await this.#deleteOldSnapshots().catch(() => undefined);
    for (const segment of this.#segments.slice(0, -1)) {
      if (segment.pending.length === 0) await closeQuietly(segment);
    }
  }

  async #deleteOldSnapshots(): Promise<void> {
    const names = (await this.#fs.readdir(this.#snapDir))
      .map((name) => ({ name, parsed: parseSnapshotName(name) }))
      .filter((entry) => entry.parsed !== undefined)
      .sort((a, b) => (b.parsed?.index ?? 0) - (a.parsed?.index ?? 0));
    for (const { name } of names.slice(this.#options.snapshotsToKeep)) {
      await this.#fs.unlink(path.join(this.#snapDir, name));
    }
  }

  /** One timer at a time, unref'd so a full disk never keeps the process alive. */
  #scheduleRetry(): void {
    const delayMs = this.#options.noSpaceRetryMs;
    if (delayMs === 0 || this.#retryTimer !== undefined) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (this.#health.type === 'no-space' && !this.#closed) this.#scheduleFlush();
    }, delayMs);
    this.#retryTimer.unref();
  }

  #failed(error: unknown): void {
    const failure =
      error instanceof StorageError
        ? error
        : new StorageError('WRITE_FAILED', `storage write failed: ${String(error)}`, {
            cause: error,
          });
    const waiters = this.#waiters;
    this.#waiters = [];
    if (failure.code === 'NO_SPACE') {
      // Nothing was acknowledged, and the unwritten bytes stay queued: the next sync() writes
      // them again at the same file offsets once there is space.
      if (this.#health.type !== 'no-space') this.#health = { type: 'no-space', since: Date.now() };
      this.#flushAgain = false;
      this.#scheduleRetry();
    } else {
      this.#failure = failure;
      this.#health = { type: 'failed', error: failure };
    }
    for (const waiter of waiters) waiter.reject(failure);
  }
}

function closedError(): StorageError {
  return new StorageError('STORAGE_CLOSED', 'the storage was closed');
}

async function closeQuietly(segment: Segment): Promise<void> {
  const handle = segment.handle;
  segment.handle = undefined;
  await handle?.close().catch(() => undefined);
}

/**
 * Runs one file operation and classifies its failure: a write that fails with ENOSPC is
 * retryable (`NO_SPACE`); any other write failure, and every fsync failure, is fatal, because
 * after a failed fsync the kernel may have dropped the dirty pages (retrying would report
 * durability that is not there).
 */
async function io<T>(
  kind: 'write' | 'sync',
  file: string,
  operation: () => Promise<T>,
): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    const code = errnoCode(error) ?? String(error);
    if (kind === 'sync') {
      return Promise.reject(
        new StorageError(
          'FSYNC_FAILED',
          `fsync of ${file} failed (${code}); the storage is fenced`,
          {
            path: file,
            cause: error,
          },
        ),
      );
    }
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      return Promise.reject(
        new StorageError('NO_SPACE', `no space left to write ${file} (${code})`, {
          path: file,
          cause: error,
        }),
      );
    }
    return Promise.reject(
      new StorageError('WRITE_FAILED', `write to ${file} failed (${code}); the storage is fenced`, {
        path: file,
        cause: error,
      }),
    );
  }
}

function checkContiguous(entries: readonly Entry[], lastIndex: number): void {
  const first = entries[0];
  if (first === undefined) return;
  if (first.index > lastIndex + 1) {
    throw new RaftError(
      'INVALID_ARGUMENT',
      `cannot append entry ${first.index}: the log ends at ${lastIndex}, entries must follow on`,
    );
  }
  for (let position = 1; position < entries.length; position++) {
    const entry = entries[position];
    if (entry !== undefined && entry.index !== first.index + position) {
      throw new RaftError(
        'INVALID_ARGUMENT',
        `entries must have consecutive indexes (got ${entry.index} after ${first.index + position - 1})`,
      );
    }
  }
}
