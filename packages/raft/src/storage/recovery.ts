// Opening a data directory: create or check it, load the newest valid snapshot, read the WAL
// segments in order, cut off a torn tail, and refuse to start when damage sits in the middle.
import path from 'node:path';
import type { Snapshot } from '../core/types.js';
import {
  decodeSnapshotFile,
  findValidRecord,
  parseSegmentName,
  parseSnapshotName,
  readRecord,
} from './codec.js';
import { StorageError, errnoCode } from './errors.js';
import type { StorageFs } from './fs.js';
import { readWholeFile } from './fs.js';
import type { LocatedRecord } from './replay.js';

/** A segment found on disk. */
export interface SegmentOnDisk {
  readonly sequence: number;
  readonly path: string;
  /** Valid bytes (after any torn tail was cut off). */
  readonly sizeBytes: number;
  /** The index of the first entry record in the segment, if it holds any. */
  readonly firstEntryIndex: number | undefined;
}

export interface WalScan {
  readonly segments: SegmentOnDisk[];
  readonly records: LocatedRecord[];
  /** Bytes of torn tail removed (un-synced writes cut short by a crash). */
  readonly truncatedBytes: number;
}

export const emptySnapshot: Snapshot = {
  metadata: { index: 0, term: 0, membership: { voters: [], learners: [] } },
  data: new Uint8Array(0),
};

function unavailable(dir: string, why: string, cause?: unknown): StorageError {
  return new StorageError('STORAGE_UNAVAILABLE', `data directory ${dir} ${why}`, {
    path: dir,
    cause,
  });
}

/** Makes sure `dir` is a usable directory, creating it (and making that durable) if missing. */
export async function ensureDirectory(fs: StorageFs, dir: string): Promise<void> {
  try {
    await fs.readdir(dir);
    return;
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ENOTDIR') throw unavailable(dir, 'is not a directory', error);
    if (code === 'EACCES' || code === 'EPERM')
      throw unavailable(dir, 'is not accessible (permission denied)', error);
    if (code !== 'ENOENT')
      throw unavailable(dir, `cannot be read (${code ?? String(error)})`, error);
  }
  try {
    await fs.mkdir(dir);
    await fs.fsyncDir(path.dirname(dir));
  } catch (error) {
    const code = errnoCode(error);
    if (code === 'ENOENT')
      throw unavailable(dir, 'does not exist and neither does its parent', error);
    if (code === 'EEXIST') return;
    throw unavailable(dir, `cannot be created (${code ?? String(error)})`, error);
  }
}

/** Loads the newest snapshot that decodes; removes temp files of interrupted snapshot writes. */
export async function loadSnapshot(
  fs: StorageFs,
  dir: string,
): Promise<{ snapshot: Snapshot; skipped: string[] }> {
  const names = await fs.readdir(dir);
  const temps = names.filter((name) => name.endsWith('.tmp'));
  for (const name of temps) await fs.unlink(path.join(dir, name));
  if (temps.length > 0) await fs.fsyncDir(dir);
  const candidates = names
    .map((name) => ({ name, parsed: parseSnapshotName(name) }))
    .filter(
      (c): c is { name: string; parsed: { index: number; term: number } } => c.parsed !== undefined,
    )
    .sort((a, b) => b.parsed.index - a.parsed.index);
  const skipped: string[] = [];
  for (const { name, parsed } of candidates) {
    const file = path.join(dir, name);
    const decoded = decodeSnapshotFile(await readWholeFile(fs, file));
    const matches =
      typeof decoded !== 'string' &&
      decoded.metadata.index === parsed.index &&
      decoded.metadata.term === parsed.term;
    if (matches) return { snapshot: decoded, skipped };
    skipped.push(
      `${file}: ${typeof decoded === 'string' ? decoded : 'metadata does not match the name'}`,
    );
  }
  return { snapshot: emptySnapshot, skipped };
}

/** Reads every segment in order into records, cutting a torn tail off the last written one. */
export async function scanWal(fs: StorageFs, dir: string): Promise<WalScan> {
  const files = (await fs.readdir(dir))
    .map((name) => ({ name, parsed: parseSegmentName(name) }))
    .filter(
      (f): f is { name: string; parsed: { sequence: number; firstIndex: number } } =>
        f.parsed !== undefined,
    )
    .sort((a, b) => a.parsed.sequence - b.parsed.sequence)
    .map((f) => ({ sequence: f.parsed.sequence, path: path.join(dir, f.name) }));
  const segments: SegmentOnDisk[] = [];
  const records: LocatedRecord[] = [];
  for (const [position, file] of files.entries()) {
    const buffer = await readWholeFile(fs, file.path);
    const read = readSegment(buffer, file.path, records);
    if (read.damage === undefined) {
      segments.push({
        ...file,
        sizeBytes: buffer.byteLength,
        firstEntryIndex: read.firstEntryIndex,
      });
      continue;
    }
    const later = files.slice(position + 1).map((f) => f.path);
    await refuseMiddleDamage({
      fs,
      buffer,
      at: { path: file.path, offset: read.damage.offset },
      reason: read.damage.reason,
      later,
    });
    const truncatedBytes = await cutTornTail(fs, {
      path: file.path,
      offset: read.damage.offset,
      sizeBytes: buffer.byteLength,
      later,
    });
    segments.push({
      ...file,
      sizeBytes: read.damage.offset,
      firstEntryIndex: read.firstEntryIndex,
    });
    return { segments: await dropEmpty(fs, dir, segments), records, truncatedBytes };
  }
  return { segments: await dropEmpty(fs, dir, segments), records, truncatedBytes: 0 };
}

interface SegmentRead {
  readonly firstEntryIndex: number | undefined;
  readonly damage: { offset: number; reason: string } | undefined;
}

function readSegment(buffer: Buffer, file: string, records: LocatedRecord[]): SegmentRead {
  let firstEntryIndex: number | undefined;
  let offset = 0;
  for (;;) {
    const read = readRecord(buffer, offset);
    switch (read.kind) {
      case 'end':
        return { firstEntryIndex, damage: undefined };
      case 'damaged':
        return { firstEntryIndex, damage: { offset, reason: read.reason } };
      case 'undecodable':
        throw corrupt({ path: file, offset }, `${read.reason} (the checksum matches)`);
      case 'record':
        records.push({ record: read.record, path: file, offset });
        if (read.record.type === 'entry') firstEntryIndex ??= read.record.entry.index;
        offset = read.next;
        break;
    }
  }
}

function corrupt(at: { path: string; offset: number }, why: string): StorageError {
  return new StorageError(
    'WAL_CORRUPT',
    `WAL ${at.path} is damaged at byte offset ${at.offset}: ${why}`,
    at,
  );
}

/**
 * Damage followed by any valid record is not a torn tail: the writer only appends, and a later
 * segment is written only after the earlier one was synced, so a crash can only leave damage
 * at the very end. Anything else is corruption of acknowledged data and must stop the node.
 */
async function refuseMiddleDamage(scan: {
  fs: StorageFs;
  buffer: Buffer;
  at: { path: string; offset: number };
  reason: string;
  later: readonly string[];
}): Promise<void> {
  const sameFile = findValidRecord(scan.buffer, scan.at.offset + 1);
  if (sameFile !== undefined) {
    throw corrupt(scan.at, `${scan.reason}, and a valid record follows at byte offset ${sameFile}`);
  }
  for (const file of scan.later) {
    const found = findValidRecord(await readWholeFile(scan.fs, file), 0);
    if (found !== undefined) {
      throw corrupt(
        scan.at,
        `${scan.reason}, and a valid record follows in ${file} at byte offset ${found}`,
      );
    }
  }
}

/** Cuts the torn tail off and removes later segments (they hold no valid record). */
async function cutTornTail(
  fs: StorageFs,
  tail: { path: string; offset: number; sizeBytes: number; later: readonly string[] },
): Promise<number> {
  const handle = await fs.open(tail.path, 'write');
  let removed = tail.sizeBytes - tail.offset;
  try {
    await handle.truncate(tail.offset);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  for (const file of tail.later) {
    removed += (await readWholeFile(fs, file)).byteLength;
    await fs.unlink(file);
  }
  if (tail.later.length > 0) await fs.fsyncDir(path.dirname(tail.path));
  return removed;
}

/** Empty segments (created, then nothing synced into them) are removed so names stay unique. */
async function dropEmpty(
  fs: StorageFs,
  dir: string,
  segments: SegmentOnDisk[],
): Promise<SegmentOnDisk[]> {
  const empty = segments.filter((segment) => segment.sizeBytes === 0);
  for (const segment of empty) await fs.unlink(segment.path);
  if (empty.length > 0) await fs.fsyncDir(dir);
  return segments.filter((segment) => segment.sizeBytes > 0);
}
