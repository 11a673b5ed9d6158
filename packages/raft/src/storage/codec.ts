// The on-disk formats: WAL records, segment and snapshot file names, snapshot files.
//
// A WAL record is `length:u32le crc:u32le body`, where `body` is `type:u8 payload` and `length`
// counts the body. The CRC covers the body, so a record is valid only when its length fits the
// file and the checksum matches. Integers wider than 32 bits (indexes, terms) are stored as two
// u32 halves: they are safe integers, at most 2^53 - 1.
import type { HardState, Snapshot, SnapshotMetadata } from '../core/types.js';
import type { Entry, EntryType } from '../messages.js';
import { IndexSchema, MembershipSchema, TermSchema } from '../messages.js';
import { z } from 'zod';
import { crc32 } from './crc32.js';

export const RECORD_HEADER_BYTES = 8;
/** Records larger than this are never written, so a larger length field marks damage. */
export const RECORD_BODY_BYTES_MAX = 1024 * 1024 * 1024;

export const RecordType = { entry: 1, hardState: 2, snapshot: 3 } as const;

const entryTypeCodes: Record<EntryType, number> = { normal: 0, noop: 1, config: 2 };
const entryTypesByCode: readonly EntryType[] = ['normal', 'noop', 'config'];

/** A replay step: an entry, a hard state, or a snapshot marker (see FileStorage.applySnapshot). */
export type WalRecord =
  | { readonly type: 'entry'; readonly entry: Entry }
  | { readonly type: 'hard-state'; readonly hardState: HardState }
  | {
      readonly type: 'snapshot';
      readonly index: number;
      readonly term: number;
      /** True when the log after the snapshot was dropped (it did not match the snapshot). */
      readonly dropSuffix: boolean;
    };

const TWO_32 = 0x1_0000_0000;

function writeU64(buffer: Buffer, value: number, offset: number): void {
  buffer.writeUInt32LE(Math.floor(value / TWO_32), offset);
  buffer.writeUInt32LE(value >>> 0, offset + 4);
}

function readU64(buffer: Buffer, offset: number): number {
  return buffer.readUInt32LE(offset) * TWO_32 + buffer.readUInt32LE(offset + 4);
}

function frame(body: Buffer): Buffer {
  const record = Buffer.allocUnsafe(RECORD_HEADER_BYTES + body.byteLength);
  record.writeUInt32LE(body.byteLength, 0);
  record.writeUInt32LE(crc32(body), 4);
  body.copy(record, RECORD_HEADER_BYTES);
  return record;
}

/** An entry record: type, index, term, entry type, then the data bytes as they are. */
export function encodeEntryRecord(entry: Entry): Buffer {
  const dataBytes = entry.data.byteLength;
  const record = Buffer.allocUnsafe(RECORD_HEADER_BYTES + 18 + dataBytes);
  const body = record.subarray(RECORD_HEADER_BYTES);
  body.writeUInt8(RecordType.entry, 0);
  writeU64(body, entry.index, 1);
  writeU64(body, entry.term, 9);
  body.writeUInt8(entryTypeCodes[entry.type], 17);
  body.set(entry.data, 18);
  record.writeUInt32LE(body.byteLength, 0);
  record.writeUInt32LE(crc32(body), 4);
  return record;
}

export function encodeHardStateRecord(hardState: HardState): Buffer {
  const vote = Buffer.from(hardState.vote ?? '', 'utf8');
  const body = Buffer.allocUnsafe(18 + vote.byteLength);
  body.writeUInt8(RecordType.hardState, 0);
  writeU64(body, hardState.term, 1);
  writeU64(body, hardState.commit, 9);
  body.writeUInt8(vote.byteLength, 17);
  vote.copy(body, 18);
  return frame(body);
}

export function encodeSnapshotRecord(marker: {
  index: number;
  term: number;
  dropSuffix: boolean;
}): Buffer {
  const body = Buffer.allocUnsafe(18);
  body.writeUInt8(RecordType.snapshot, 0);
  writeU64(body, marker.index, 1);
  writeU64(body, marker.term, 9);
  body.writeUInt8(marker.dropSuffix ? 1 : 0, 17);
  return frame(body);
}

/** What a position in a segment holds: a record, the clean end, or damage. */
export type RecordRead =
  | { readonly kind: 'record'; readonly record: WalRecord; readonly next: number }
  | { readonly kind: 'end' }
  | { readonly kind: 'damaged'; readonly reason: string }
  /** The checksum matched but the body makes no sense: corruption or a newer format. */
  | { readonly kind: 'undecodable'; readonly reason: string };

/** Checks framing and checksum at `offset`; returns the body's bounds when they hold. */
export function checkFrame(
  buffer: Buffer,
  offset: number,
): { ok: true; bodyEnd: number } | { ok: false; reason: string } {
  const remaining = buffer.byteLength - offset;
  if (remaining < RECORD_HEADER_BYTES) {
    return { ok: false, reason: `incomplete record header (${remaining} bytes)` };
  }
  const length = buffer.readUInt32LE(offset);
  if (length === 0 || length > RECORD_BODY_BYTES_MAX) {
    return { ok: false, reason: `impossible record length ${length}` };
  }
  const bodyEnd = offset + RECORD_HEADER_BYTES + length;
  if (bodyEnd > buffer.byteLength) {
    return { ok: false, reason: `record of ${length} bytes runs past the end of the file` };
  }
  const expected = buffer.readUInt32LE(offset + 4);
  const actual = crc32(buffer.subarray(offset + RECORD_HEADER_BYTES, bodyEnd));
  if (expected !== actual) return { ok: false, reason: 'record checksum mismatch' };
  return { ok: true, bodyEnd };
}

/** Reads the record at `offset`. */
export function readRecord(buffer: Buffer, offset: number): RecordRead {
  if (offset === buffer.byteLength) return { kind: 'end' };
  const framed = checkFrame(buffer, offset);
  if (!framed.ok) return { kind: 'damaged', reason: framed.reason };
  const body = buffer.subarray(offset + RECORD_HEADER_BYTES, framed.bodyEnd);
  const record = decodeBody(body);
  if (typeof record === 'string') return { kind: 'undecodable', reason: record };
  return { kind: 'record', record, next: framed.bodyEnd };
}

function decodeBody(body: Buffer): WalRecord | string {
  const type = body.readUInt8(0);
  switch (type) {
    case RecordType.entry: {
      if (body.byteLength < 18) return 'entry record too short';
      const entryType = entryTypesByCode[body.readUInt8(17)];
      if (entryType === undefined) return `unknown entry type ${body.readUInt8(17)}`;
      // Copy the data out so entries never pin a whole segment buffer in memory.
      const data = new Uint8Array(body.subarray(18));
      const entry = { index: readU64(body, 1), term: readU64(body, 9), type: entryType, data };
      return { type: 'entry', entry };
    }
    case RecordType.hardState: {
      if (body.byteLength < 18) return 'hard state record too short';
      const voteBytes = body.readUInt8(17);
      if (body.byteLength !== 18 + voteBytes) return 'hard state record has a bad vote length';
      const vote = voteBytes === 0 ? null : body.toString('utf8', 18, 18 + voteBytes);
      const hardState = { term: readU64(body, 1), commit: readU64(body, 9), vote };
      return { type: 'hard-state', hardState };
    }
    case RecordType.snapshot: {
      if (body.byteLength !== 18) return 'snapshot marker has a bad length';
      const index = readU64(body, 1);
      return { type: 'snapshot', index, term: readU64(body, 9), dropSuffix: body[17] === 1 };
    }
    default:
      return `unknown record type ${type}`;
  }
}

/** The first offset at or after `from` where a whole, valid record starts, or undefined. */
export function findValidRecord(buffer: Buffer, from: number): number | undefined {
  for (let offset = from; offset + RECORD_HEADER_BYTES < buffer.byteLength; offset++) {
    if (checkFrame(buffer, offset).ok) return offset;
  }
  return undefined;
}

const DIGITS = 16;
const pad = (value: number): string => String(value).padStart(DIGITS, '0');
const segmentPattern = /^(\d{16})-(\d{16})\.wal$/;
const snapshotPattern = /^(\d{16})-(\d{16})\.snap$/;

/** `<sequence>-<first index>.wal`: names sort in log order, and say where the segment starts. */
export function segmentName(segment: { sequence: number; firstIndex: number }): string {
  return `${pad(segment.sequence)}-${pad(segment.firstIndex)}.wal`;
}

export function parseSegmentName(
  name: string,
): { sequence: number; firstIndex: number } | undefined {
  const match = segmentPattern.exec(name);
  if (match === null) return undefined;
  return { sequence: Number(match[1]), firstIndex: Number(match[2]) };
}

/** `<index>-<term>.snap`, zero-padded so names sort by index. */
export function snapshotName(metadata: { index: number; term: number }): string {
  return `${pad(metadata.index)}-${pad(metadata.term)}.snap`;
}

export function parseSnapshotName(name: string): { index: number; term: number } | undefined {
  const match = snapshotPattern.exec(name);
  if (match === null) return undefined;
  return { index: Number(match[1]), term: Number(match[2]) };
}

const SnapshotMetadataSchema = z.object({
  index: IndexSchema,
  term: TermSchema,
  membership: MembershipSchema,
});

const SNAPSHOT_MAGIC = 0x50_4e_53_44; // "DSNP" read as u32le
const SNAPSHOT_VERSION = 1;
const SNAPSHOT_HEADER_BYTES = 16;

/**
 * A snapshot file: `magic:u32 version:u32 crc:u32 metadataLength:u32 metadata data`. The
 * metadata (index, term, membership) is small JSON; the state machines' bytes follow as they are.
 * The CRC covers everything after the header.
 *
 * This is the header and metadata of such a file, to be followed by `snapshot.data` unchanged: a
 * large snapshot is written without first being copied into one buffer. The checksum covers
 * the metadata and the data (`decodeSnapshotFile` checks it).
 */
export function encodeSnapshotFileHead(snapshot: Snapshot): Buffer {
  const metadata = Buffer.from(JSON.stringify(snapshot.metadata), 'utf8');
  const head = Buffer.alloc(SNAPSHOT_HEADER_BYTES + metadata.byteLength);
  head.writeUInt32LE(SNAPSHOT_MAGIC, 0);
  head.writeUInt32LE(SNAPSHOT_VERSION, 4);
  head.writeUInt32LE(metadata.byteLength, 12);
  metadata.copy(head, SNAPSHOT_HEADER_BYTES);
  head.writeUInt32LE(crc32(snapshot.data, crc32(metadata)), 8);
  return head;
}

/** Decodes a snapshot file, or says what is wrong with it. */
export function decodeSnapshotFile(file: Buffer): Snapshot | string {
  if (file.byteLength < SNAPSHOT_HEADER_BYTES) return 'file shorter than its header';
  if (file.readUInt32LE(0) !== SNAPSHOT_MAGIC) return 'not a snapshot file (bad magic)';
  if (file.readUInt32LE(4) !== SNAPSHOT_VERSION) return `unknown version ${file.readUInt32LE(4)}`;
  if (crc32(file.subarray(SNAPSHOT_HEADER_BYTES)) !== file.readUInt32LE(8)) {
    return 'checksum mismatch';
  }
  const metadataEnd = SNAPSHOT_HEADER_BYTES + file.readUInt32LE(12);
  if (metadataEnd > file.byteLength) return 'metadata runs past the end of the file';
  let json: unknown;
  try {
    json = JSON.parse(file.toString('utf8', SNAPSHOT_HEADER_BYTES, metadataEnd));
  } catch (error) {
    return `metadata is not JSON (${String(error)})`;
  }
  const parsed = SnapshotMetadataSchema.safeParse(json);
  if (!parsed.success) return `bad metadata: ${z.prettifyError(parsed.error)}`;
  const metadata: SnapshotMetadata = parsed.data;
  return { metadata, data: new Uint8Array(file.subarray(metadataEnd)) };
}
