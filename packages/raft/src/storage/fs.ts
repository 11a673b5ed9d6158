// The minimal file system FileStorage needs, as an interface so tests can put a fault-injecting
// layer underneath (`FaultFs` in `@distsync/raft/testing`). Errors are Node.js system errors with
// a `code` (`ENOENT`, `ENOSPC`, `EIO`, ...); FileStorage classifies them by that code.
import fsp from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';

/**
 * How a file is opened: `read` (must exist), `write` (must exist, read and write at positions)
 * or `create` (must not exist yet, read and write).
 */
export type StorageOpenMode = 'read' | 'write' | 'create';

/** An open file. Every write and read names its position, so no handle keeps a cursor. */
export interface StorageFileHandle {
  /** Writes `data` at `position`; may write fewer bytes (returns how many), as write(2) may. */
  write(data: Uint8Array, position: number): Promise<number>;
  /** Reads into `buffer` from `position`; returns the bytes read (0 at end of file). */
  read(buffer: Uint8Array, position: number): Promise<number>;
  /** The file's size in bytes. */
  size(): Promise<number>;
  truncate(length: number): Promise<void>;
  /** fdatasync(2): the file's data (and the size needed to read it) is on stable storage. */
  datasync(): Promise<void>;
  close(): Promise<void>;
}

/** The file system operations FileStorage uses, and nothing else. */
export interface StorageFs {
  open(path: string, mode: StorageOpenMode): Promise<StorageFileHandle>;
  /** Names in a directory (no `.` or `..`). */
  readdir(path: string): Promise<string[]>;
  /** Creates one directory; its parent must exist. */
  mkdir(path: string): Promise<void>;
  /** Atomically replaces `to` with `from` (rename(2)). */
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** fsync(2) on a directory: created, renamed and removed names in it are durable. */
  fsyncDir(path: string): Promise<void>;
}

const flags: Record<StorageOpenMode, string> = { read: 'r', write: 'r+', create: 'wx+' };

class NodeFileHandle implements StorageFileHandle {
  readonly #handle: FileHandle;

  constructor(handle: FileHandle) {
    this.#handle = handle;
  }

  async write(data: Uint8Array, position: number): Promise<number> {
    const { bytesWritten } = await this.#handle.write(data, 0, data.byteLength, position);
    return bytesWritten;
  }

  async read(buffer: Uint8Array, position: number): Promise<number> {
    const { bytesRead } = await this.#handle.read(buffer, 0, buffer.byteLength, position);
    return bytesRead;
  }

  async size(): Promise<number> {
    return (await this.#handle.stat()).size;
  }

  truncate(length: number): Promise<void> {
    return this.#handle.truncate(length);
  }

  datasync(): Promise<void> {
    return this.#handle.datasync();
  }

  close(): Promise<void> {
    return this.#handle.close();
  }
}

/** The real file system through `node:fs/promises`. */
export const nodeStorageFs: StorageFs = {
  async open(path, mode) {
    return new NodeFileHandle(await fsp.open(path, flags[mode]));
  },
  readdir(path) {
    return fsp.readdir(path);
  },
  async mkdir(path) {
    await fsp.mkdir(path);
  },
  rename(from, to) {
    return fsp.rename(from, to);
  },
  unlink(path) {
    return fsp.unlink(path);
  },
  async fsyncDir(path) {
    const handle = await fsp.open(path, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
};

/** Reads a whole file through a `StorageFs`. */
export async function readWholeFile(fs: StorageFs, path: string): Promise<Buffer> {
  const handle = await fs.open(path, 'read');
  try {
    const size = await handle.size();
    const buffer = Buffer.alloc(size);
    let offset = 0;
    while (offset < size) {
      const read = await handle.read(buffer.subarray(offset), offset);
      if (read === 0) break;
      offset += read;
    }
    return offset === size ? buffer : buffer.subarray(0, offset);
  } finally {
    await handle.close();
  }
}

/** Writes all of `data` at `position`, looping over short writes (a short write is not an error). */
export async function writeFully(
  handle: StorageFileHandle,
  data: Uint8Array,
  position: number,
): Promise<void> {
  let done = 0;
  while (done < data.byteLength) {
    const written = await handle.write(data.subarray(done), position + done);
    if (written <= 0) throw new Error(`write made no progress at byte ${position + done}`);
    done += written;
  }
}
