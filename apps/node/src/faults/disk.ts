// DiskFaults: a StorageFs over the real file system (`nodeStorageFs`) that injects disk faults
// under FileStorage when fault injection is on (test only). The data stays on the real disk, so
// a node killed or crashed by a fault restarts on what it wrote, as after a real disk error.
// (`FaultFs` of @distsync/raft models the disk itself in memory, with power loss: right for the
// simulator, wrong for a process that must restart on its data dir.)
//
// What FileStorage does with each fault (packages/raft/src/storage/file-storage.ts):
// - slow fsync: every fdatasync and directory fsync waits `syncDelayMs` first (group commits
//   get longer; nothing fails);
// - no space: writes and file creations fail with ENOSPC: FileStorage keeps the bytes queued and
//   retries, RaftNode stalls (new work answers STORAGE_STALLED) until space is back, then goes on;
// - EIO on the next write or fsync: fatal. FileStorage fences itself, RaftNode emits `fatal`,
//   and the `distsync node` CLI exits 1 (after a failed fsync the kernel may have dropped the
//   dirty pages: only a restart, which re-reads the disk, is safe).
import { nodeStorageFs } from '@distsync/raft';
import type { StorageFileHandle, StorageFs, StorageOpenMode } from '@distsync/raft';

export const SYNC_DELAY_MS_MAX = 60_000;

export interface DiskFaultState {
  readonly syncDelayMs: number;
  readonly noSpace: boolean;
  /** Failures armed and not fired yet, in order. */
  readonly pending: readonly { readonly on: 'write' | 'fsync'; readonly code: string }[];
  /** Faults fired since start (ENOSPC counted per failed call). */
  readonly fired: { readonly eio: number; readonly enospc: number };
}

function errnoError(code: string, syscall: string, where: string): Error {
  return Object.assign(new Error(`${code}: injected fault, ${syscall} '${where}'`), {
    code,
    syscall,
    path: where,
  });
}

export class DiskFaults {
  readonly #inner: StorageFs;
  #syncDelayMs = 0;
  #noSpace = false;
  readonly #pending: { on: 'write' | 'fsync'; code: string }[] = [];
  readonly #fired = { eio: 0, enospc: 0 };

  constructor(inner: StorageFs = nodeStorageFs) {
    this.#inner = inner;
  }

  state(): DiskFaultState {
    return {
      syncDelayMs: this.#syncDelayMs,
      noSpace: this.#noSpace,
      pending: this.#pending.map((rule) => ({ ...rule })),
      fired: { ...this.#fired },
    };
  }

  set(faults: { syncDelayMs?: number; noSpace?: boolean; failNext?: 'write' | 'fsync' }): void {
    if (faults.syncDelayMs !== undefined) {
      if (!(faults.syncDelayMs >= 0 && faults.syncDelayMs <= SYNC_DELAY_MS_MAX)) {
        throw new RangeError(`syncDelayMs must be in [0, ${SYNC_DELAY_MS_MAX}]`);
      }
      this.#syncDelayMs = faults.syncDelayMs;
    }
    if (faults.noSpace !== undefined) this.#noSpace = faults.noSpace;
    if (faults.failNext !== undefined) this.#pending.push({ on: faults.failNext, code: 'EIO' });
  }

  reset(): void {
    this.#syncDelayMs = 0;
    this.#noSpace = false;
    this.#pending.length = 0;
  }

  /** The StorageFs to open FileStorage with. */
  get fs(): StorageFs {
    return this.#fs;
  }

  /** Throws the armed failure for `on`, if any. */
  check(on: 'write' | 'fsync', where: string): void {
    const at = this.#pending.findIndex((rule) => rule.on === on);
    if (at >= 0) {
      const [rule] = this.#pending.splice(at, 1);
      this.#fired.eio += 1;
      throw errnoError(rule?.code ?? 'EIO', on, where);
    }
    if (on === 'write' && this.#noSpace) {
      this.#fired.enospc += 1;
      throw errnoError('ENOSPC', 'write', where);
    }
  }

  async beforeSync(where: string): Promise<void> {
    if (this.#syncDelayMs > 0) {
      const delayMs = this.#syncDelayMs;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
    this.check('fsync', where);
  }

  readonly #fs: StorageFs = {
    open: async (path: string, mode: StorageOpenMode): Promise<StorageFileHandle> => {
      if (mode === 'create') this.check('write', path);
      return new FaultyHandle(this, { handle: await this.#inner.open(path, mode), path });
    },
    readdir: (path) => this.#inner.readdir(path),
    mkdir: (path) => this.#inner.mkdir(path),
    rename: (from, to) => this.#inner.rename(from, to),
    unlink: (path) => this.#inner.unlink(path),
    fsyncDir: async (path) => {
      await this.beforeSync(path);
      await this.#inner.fsyncDir(path);
    },
  };
}

class FaultyHandle implements StorageFileHandle {
  readonly #faults: DiskFaults;
  readonly #handle: StorageFileHandle;
  readonly #path: string;

  constructor(faults: DiskFaults, parts: { handle: StorageFileHandle; path: string }) {
    this.#faults = faults;
    this.#handle = parts.handle;
    this.#path = parts.path;
  }

  async write(data: Uint8Array, position: number): Promise<number> {
    this.#faults.check('write', this.#path);
    return this.#handle.write(data, position);
  }

  read(buffer: Uint8Array, position: number): Promise<number> {
    return this.#handle.read(buffer, position);
  }

  size(): Promise<number> {
    return this.#handle.size();
  }

  truncate(length: number): Promise<void> {
    return this.#handle.truncate(length);
  }

  async datasync(): Promise<void> {
    await this.#faults.beforeSync(this.#path);
    await this.#handle.datasync();
  }

  close(): Promise<void> {
    return this.#handle.close();
  }
}
