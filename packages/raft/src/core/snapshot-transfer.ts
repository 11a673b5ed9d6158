// Chunked InstallSnapshot (Raft paper, figure 13). The leader sends a snapshot in chunks of at
// most `maxSnapshotChunkBytes`, one chunk in flight per follower, so a large snapshot never holds
// up heartbeats or fills a transport frame. The follower assembles the chunks in order, bounded by
// `maxSnapshotBytes`, and hands the snapshot out only once the chunk marked `done` arrived.
import type { InstallSnapshot } from '../messages.js';
import type { Snapshot } from './types.js';

/** What the follower makes of one chunk. */
export type ChunkOutcome =
  /** Accepted (or already held); the leader should send the chunk at `nextOffset`. */
  | { readonly type: 'partial'; readonly nextOffset: number }
  /** The last chunk arrived: the whole snapshot, ready to restore. */
  | { readonly type: 'complete'; readonly snapshot: Snapshot }
  /**
   * Refused: the chunk does not continue the snapshot being assembled (`OFFSET_MISMATCH`: the
   * leader restarts from offset 0), or the snapshot outgrew `maxSnapshotBytes` (`TOO_LARGE`:
   * every later chunk of the same snapshot is refused at once, so little is wasted on it).
   */
  | { readonly type: 'refused'; readonly reason: 'OFFSET_MISMATCH' | 'TOO_LARGE' };

interface Assembly {
  readonly key: string;
  readonly chunks: Uint8Array[];
  received: number;
}

/** Identifies one snapshot as one leader sends it: chunks of different ones never mix. */
function snapshotKey(message: InstallSnapshot): string {
  return `${message.from}/${message.term}/${message.lastIncludedIndex}/${message.lastIncludedTerm}`;
}

function concatenate(chunks: readonly Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1 && chunks[0]?.byteLength === size) return chunks[0];
  const data = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    data.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return data;
}

/** The follower's side: one snapshot being assembled at a time. */
export class SnapshotAssembler {
  private current: Assembly | undefined = undefined;
  private refusedKey: string | undefined = undefined;

  constructor(private readonly maxSnapshotBytes: number) {}

  /** Bytes held for the snapshot being assembled. */
  get bufferedBytes(): number {
    return this.current?.received ?? 0;
  }

  /** Drops any partly assembled snapshot (its memory is released). */
  reset(): void {
    this.current = undefined;
  }

  accept(message: InstallSnapshot): ChunkOutcome {
    const key = snapshotKey(message);
    if (key === this.refusedKey) return { type: 'refused', reason: 'TOO_LARGE' };
    if (this.current?.key !== key) {
      // A new snapshot (or a new leader's) must start at 0; anything else is a stray chunk.
      this.current = undefined;
      if (message.offset !== 0) return { type: 'refused', reason: 'OFFSET_MISMATCH' };
      this.current = { key, chunks: [], received: 0 };
    }
    const assembly = this.current;
    if (message.offset > assembly.received) {
      // A chunk went missing in between: start over rather than guess.
      this.current = undefined;
      return { type: 'refused', reason: 'OFFSET_MISMATCH' };
    }
    // A resent chunk may overlap what is held (its answer was lost): keep only the new bytes.
    const fresh = message.data.subarray(
      Math.min(assembly.received - message.offset, message.data.byteLength),
    );
    if (assembly.received + fresh.byteLength > this.maxSnapshotBytes) {
      this.current = undefined;
      this.refusedKey = key;
      return { type: 'refused', reason: 'TOO_LARGE' };
    }
    if (fresh.byteLength > 0) assembly.chunks.push(fresh);
    assembly.received += fresh.byteLength;
    const last = message.done && message.offset + message.data.byteLength === assembly.received;
    if (!last) return { type: 'partial', nextOffset: assembly.received };
    this.current = undefined;
    const metadata = {
      index: message.lastIncludedIndex,
      term: message.lastIncludedTerm,
      membership: message.membership,
    };
    return {
      type: 'complete',
      snapshot: { metadata, data: concatenate(assembly.chunks, assembly.received) },
    };
  }
}

/** The leader's side: the chunk of `snapshot` that starts at `offset`. */
export function snapshotChunk(options: {
  readonly snapshot: Snapshot;
  readonly offset: number;
  readonly maxChunkBytes: number;
}): { readonly data: Uint8Array; readonly done: boolean } {
  const { snapshot, offset, maxChunkBytes } = options;
  const size = snapshot.data.byteLength;
  const start = Math.min(offset, size);
  const end = Math.min(start + maxChunkBytes, size);
  return { data: snapshot.data.subarray(start, end), done: end === size };
}
