// FaultFs: an in-memory file system for tests that models what survives a crash and injects
// disk faults under FileStorage. Each file has the bytes a reader sees now and the bytes that
// were on stable storage at its last successful fdatasync; each directory has its names now and
// the names at its last fsync. `crash()` keeps only the durable part (plus, if asked, a torn
// prefix of what was written after it), which is what power loss does to a real disk.
import path from 'node:path';
import type { StorageFileHandle, StorageFs, StorageOpenMode } from './fs.js';

interface Inode {
  data: Buffer;
  durable: Buffer;
}

interface Dir {
  entries: Map<string, FsNode>;
  durable: Map<string, FsNode>;
}

type FsNode =
  { readonly kind: 'file'; readonly inode: Inode } | { readonly kind: 'dir'; readonly dir: Dir };

/** A fault that fires on matching operations, `count` times. */
export interface FaultRule {
  /** Only operations on paths ending with this string, such as `.wal` or `/snap` (default: all). */
  readonly path?: string;
  /** The errno code to fail with (default `EIO`). */
  readonly code?: string;
  /** How many operations fail (default 1). */
  readonly count?: number;
}

/** How much un-synced data survives a crash, per file (default 0: none). */
export type TearBytes = number | ((file: { path: string; unsyncedBytes: number }) => number);

function fsError(code: string, syscall: string, where: string): Error {
  return Object.assign(new Error(`${code}: ${syscall} '${where}'`), { code, syscall, path: where });
}

function emptyDir(): Dir {
  return { entries: new Map(), durable: new Map() };
}

/** The disk itself, shared by every process view of it (see `FaultFs.crash`). */
interface Disk {
  root: Dir;
  generation: number;
  freeBytes: number;
  readonly syncFaults: Required<FaultRule>[];
  readonly writeFaults: Required<FaultRule>[];
  readonly denied: Set<string>;
  held: (() => void)[] | undefined;
  holdAfter: number;
  readonly heldWatchers: (() => void)[];
  syncDelayMs: number;
  syncCount: number;
}

function newDisk(): Disk {
  const root = emptyDir();
  root.durable = root.entries;
  return {
    root,
    generation: 0,
    freeBytes: Number.POSITIVE_INFINITY,
    syncFaults: [],
    writeFaults: [],
    denied: new Set(),
    held: undefined,
    holdAfter: 0,
    heldWatchers: [],
    syncDelayMs: 0,
    syncCount: 0,
  };
}

/**
 * One process's view of a simulated disk. `crash()` returns the view of the next process: the
 * old view dies with its process (every later call fails with EIO), so a storage that was
 * "running" when the power went out cannot keep writing behind the recovered one's back.
 */
export class FaultFs implements StorageFs {
  #disk: Disk = newDisk();
  #generation = 0;

  /** Delay every fdatasync and directory fsync by this many milliseconds. */
  get syncDelayMs(): number {
    return this.#disk.syncDelayMs;
  }

  set syncDelayMs(value: number) {
    this.#disk.syncDelayMs = value;
  }

  /** Successful fdatasync and directory fsync calls. */
  get syncCount(): number {
    return this.#disk.syncCount;
  }

  // --- fault controls ---

  /** Makes the next matching fdatasync / directory fsync calls fail (EIO by default). */
  failSync(rule: FaultRule = {}): void {
    this.#disk.syncFaults.push({
      path: rule.path ?? '',
      code: rule.code ?? 'EIO',
      count: rule.count ?? 1,
    });
  }

  /** Makes the next matching writes fail (EIO by default) without writing anything. */
  failWrites(rule: FaultRule = {}): void {
    this.#disk.writeFaults.push({
      path: rule.path ?? '',
      code: rule.code ?? 'EIO',
      count: rule.count ?? 1,
    });
  }

  /** Bytes files may still grow by; a write beyond it is cut short, then fails with ENOSPC. */
  setFreeBytes(bytes: number): void {
    this.#disk.freeBytes = bytes;
  }

  /** Unlimited space again. */
  restoreSpace(): void {
    this.#disk.freeBytes = Number.POSITIVE_INFINITY;
  }

  /** Operations on `dir` and below fail with EACCES. */
  denyAccess(dir: string): void {
    this.#disk.denied.add(path.resolve(dir));
  }

  /** Flips one bit of a file, in what is read now and in what is durable. */
  flipBit(target: { path: string; offset: number; bit?: number }): void {
    const inode = this.#file(target.path, 'flipBit');
    const mask = 1 << (target.bit ?? 0);
    if (target.offset >= inode.data.byteLength)
      throw new RangeError(`offset ${target.offset} is past the end of ${target.path}`);
    inode.data[target.offset] = (inode.data[target.offset] ?? 0) ^ mask;
    if (target.offset < inode.durable.byteLength) {
      inode.durable = Buffer.from(inode.durable);
      inode.durable[target.offset] = (inode.durable[target.offset] ?? 0) ^ mask;
    }
  }

  /**
   * Every fdatasync / directory fsync after the next `after` ones (default 0) waits until
   * `releaseSyncs()` or `crash()`: a test can crash at any point of a group commit.
   */
  holdSyncs(options: { after?: number } = {}): void {
    this.#disk.held ??= [];
    this.#disk.holdAfter = options.after ?? 0;
  }

  releaseSyncs(): void {
    const held = this.#disk.held ?? [];
    this.#disk.held = undefined;
    for (const release of held) release();
  }

  /** Resolves once at least one sync is held. */
  whenSyncHeld(): Promise<void> {
    if ((this.#disk.held?.length ?? 0) > 0) return Promise.resolve();
    return new Promise((resolve) => this.#disk.heldWatchers.push(resolve));
  }

  /**
   * Power loss: every directory goes back to its names at its last fsync and every file to its
   * bytes at its last fdatasync, plus `tearBytes` of what was written after that. Open handles
   * die (EBADF), held syncs are released and fail, and this view dies with its process: use the
   * returned view (the restarted process) from now on.
   */
  crash(options: { tearBytes?: TearBytes } = {}): FaultFs {
    this.#disk.generation++;
    this.#restoreDir(this.#disk.root, '/', options.tearBytes ?? 0);
    this.releaseSyncs();
    const next = new FaultFs();
    next.#disk = this.#disk;
    next.#generation = this.#disk.generation;
    return next;
  }

  #restoreDir(dir: Dir, at: string, tear: TearBytes): void {
    dir.entries = new Map(dir.durable);
    for (const [name, node] of dir.entries) {
      const child = path.posix.join(at, name);
      if (node.kind === 'dir') {
        this.#restoreDir(node.dir, child, tear);
        continue;
      }
      const { data, durable } = node.inode;
      const unsyncedBytes = Math.max(0, data.byteLength - durable.byteLength);
      const wanted = typeof tear === 'number' ? tear : tear({ path: child, unsyncedBytes });
      const kept = Math.max(0, Math.min(unsyncedBytes, Math.floor(wanted)));
      const survived = Buffer.concat([
        durable,
        data.subarray(durable.byteLength, durable.byteLength + kept),
      ]);
      node.inode.data = survived;
      node.inode.durable = Buffer.from(survived);
    }
  }

  // --- inspection helpers for tests ---

  readFile(file: string): Buffer {
    return Buffer.from(this.#file(file, 'readFile').data);
  }

  /** Creates or replaces a file durably (with its directory entry). */
  writeFile(file: string, data: Uint8Array): void {
    const parent = this.#dir(path.dirname(file), 'writeFile');
    const inode: Inode = { data: Buffer.from(data), durable: Buffer.from(data) };
    parent.entries.set(path.basename(file), { kind: 'file', inode });
    parent.durable = new Map(parent.entries);
  }

  /** Creates directories (and parents) durably. */
  mkdirp(dir: string): void {
    let current = this.#disk.root;
    for (const part of path.resolve(dir).split('/').filter(Boolean)) {
      let node = current.entries.get(part);
      if (node === undefined) {
        node = { kind: 'dir', dir: emptyDir() };
        current.entries.set(part, node);
        current.durable = new Map(current.entries);
      }
      if (node.kind !== 'dir') throw fsError('ENOTDIR', 'mkdir', dir);
      current = node.dir;
    }
  }

  exists(file: string): boolean {
    return this.#lookup(file) !== undefined;
  }

  list(dir: string): string[] {
    return [...this.#dir(dir, 'list').entries.keys()].sort();
  }

  // --- StorageFs ---

  open(file: string, mode: StorageOpenMode): Promise<StorageFileHandle> {
    return this.#run('open', file, () => {
      const parent = this.#dir(path.dirname(file), 'open');
      const name = path.basename(file);
      const existing = parent.entries.get(name);
      if (mode === 'create') {
        if (existing !== undefined) throw fsError('EEXIST', 'open', file);
        const inode: Inode = { data: Buffer.alloc(0), durable: Buffer.alloc(0) };
        parent.entries.set(name, { kind: 'file', inode });
        return new FaultFileHandle(this, {
          inode,
          path: path.resolve(file),
          generation: this.#disk.generation,
        });
      }
      if (existing === undefined) throw fsError('ENOENT', 'open', file);
      if (existing.kind === 'dir') throw fsError('EISDIR', 'open', file);
      return new FaultFileHandle(this, {
        inode: existing.inode,
        path: path.resolve(file),
        generation: this.#disk.generation,
      });
    });
  }

  readdir(dir: string): Promise<string[]> {
    return this.#run('scandir', dir, () => [...this.#dir(dir, 'scandir').entries.keys()]);
  }

  mkdir(dir: string): Promise<void> {
    return this.#run('mkdir', dir, () => {
      const parent = this.#dir(path.dirname(dir), 'mkdir');
      if (parent.entries.has(path.basename(dir))) throw fsError('EEXIST', 'mkdir', dir);
      parent.entries.set(path.basename(dir), { kind: 'dir', dir: emptyDir() });
    });
  }

  rename(from: string, to: string): Promise<void> {
    return this.#run('rename', from, () => {
      const source = this.#dir(path.dirname(from), 'rename');
      const node = source.entries.get(path.basename(from));
      if (node === undefined) throw fsError('ENOENT', 'rename', from);
      const target = this.#dir(path.dirname(to), 'rename');
      source.entries.delete(path.basename(from));
      target.entries.set(path.basename(to), node);
    });
  }

  unlink(file: string): Promise<void> {
    return this.#run('unlink', file, () => {
      const parent = this.#dir(path.dirname(file), 'unlink');
      const node = parent.entries.get(path.basename(file));
      if (node === undefined) throw fsError('ENOENT', 'unlink', file);
      if (node.kind === 'dir') throw fsError('EISDIR', 'unlink', file);
      parent.entries.delete(path.basename(file));
    });
  }

  async fsyncDir(dir: string): Promise<void> {
    const generation = this.#generation;
    const target = await this.#run('fsync', dir, () => this.#dir(dir, 'fsync'));
    await this.beforeSync(path.resolve(dir), generation);
    target.durable = new Map(target.entries);
  }

  // --- used by handles ---

  /** Applies the sync faults, delay and hold; throws when the handle died in a crash. */
  async beforeSync(file: string, generation: number): Promise<void> {
    if (this.#disk.syncDelayMs > 0) {
      await new Promise((resolve) => setTimeout(resolve, this.#disk.syncDelayMs));
    }
    if (this.#disk.held !== undefined && this.#disk.holdAfter > 0) {
      this.#disk.holdAfter--;
    } else if (this.#disk.held !== undefined) {
      const held = this.#disk.held;
      await new Promise<void>((resolve) => {
        held.push(resolve);
        for (const watcher of this.#disk.heldWatchers.splice(0)) watcher();
      });
    }
    if (generation !== this.#disk.generation) throw fsError('EBADF', 'fsync', file);
    const fault = takeFault(this.#disk.syncFaults, file);
    if (fault !== undefined) throw fsError(fault, 'fsync', file);
    this.#disk.syncCount++;
  }

  /** Checks a handle is alive and applies write faults and the space limit; returns bytes allowed. */
  beforeWrite(
    handle: { path: string; generation: number; inode: Inode },
    range: { position: number; bytes: number },
  ): number {
    if (handle.generation !== this.#disk.generation) throw fsError('EBADF', 'write', handle.path);
    const fault = takeFault(this.#disk.writeFaults, handle.path);
    if (fault !== undefined) throw fsError(fault, 'write', handle.path);
    const growth = Math.max(0, range.position + range.bytes - handle.inode.data.byteLength);
    if (growth <= this.#disk.freeBytes) {
      this.#disk.freeBytes -= growth;
      return range.bytes;
    }
    const allowed = range.bytes - (growth - this.#disk.freeBytes);
    if (allowed <= 0) throw fsError('ENOSPC', 'write', handle.path);
    this.#disk.freeBytes = 0;
    return allowed;
  }

  checkAlive(handle: { path: string; generation: number }): void {
    if (handle.generation !== this.#disk.generation) throw fsError('EBADF', 'read', handle.path);
  }

  // --- path walking ---

  async #run<T>(syscall: string, target: string, operation: () => T): Promise<T> {
    await Promise.resolve();
    if (this.#generation !== this.#disk.generation) {
      throw fsError('EIO', syscall, `${target} (the process using this view crashed)`);
    }
    const resolved = path.resolve(target);
    for (const denied of this.#disk.denied) {
      if (resolved === denied || resolved.startsWith(`${denied}/`))
        throw fsError('EACCES', syscall, target);
    }
    return operation();
  }

  #lookup(target: string): FsNode | undefined {
    let node: FsNode = { kind: 'dir', dir: this.#disk.root };
    for (const part of path.resolve(target).split('/').filter(Boolean)) {
      if (node.kind !== 'dir') return undefined;
      const next = node.dir.entries.get(part);
      if (next === undefined) return undefined;
      node = next;
    }
    return node;
  }

  #dir(target: string, syscall: string): Dir {
    let node: FsNode = { kind: 'dir', dir: this.#disk.root };
    for (const part of path.resolve(target).split('/').filter(Boolean)) {
      if (node.kind !== 'dir') throw fsError('ENOTDIR', syscall, target);
      const next = node.dir.entries.get(part);
      if (next === undefined) throw fsError('ENOENT', syscall, target);
      node = next;
    }
    if (node.kind !== 'dir') throw fsError('ENOTDIR', syscall, target);
    return node.dir;
  }

  #file(target: string, syscall: string): Inode {
    const node = this.#lookup(target);
    if (node === undefined) throw fsError('ENOENT', syscall, target);
    if (node.kind !== 'file') throw fsError('EISDIR', syscall, target);
    return node.inode;
  }
}

function takeFault(rules: Required<FaultRule>[], file: string): string | undefined {
  const rule = rules.find((r) => file.endsWith(r.path));
  if (rule === undefined) return undefined;
  const remaining = rule.count - 1;
  rules.splice(rules.indexOf(rule), 1, ...(remaining > 0 ? [{ ...rule, count: remaining }] : []));
  return rule.code;
}

class FaultFileHandle implements StorageFileHandle {
  readonly #fs: FaultFs;
  readonly #state: { inode: Inode; path: string; generation: number };
  #closed = false;

  constructor(fs: FaultFs, state: { inode: Inode; path: string; generation: number }) {
    this.#fs = fs;
    this.#state = state;
  }

  #alive(): void {
    if (this.#closed) throw fsError('EBADF', 'access', this.#state.path);
    this.#fs.checkAlive(this.#state);
  }

  async write(data: Uint8Array, position: number): Promise<number> {
    await Promise.resolve();
    this.#alive();
    const bytes = this.#fs.beforeWrite(this.#state, { position, bytes: data.byteLength });
    const inode = this.#state.inode;
    const end = position + bytes;
    if (end > inode.data.byteLength) {
      const grown = Buffer.alloc(end);
      inode.data.copy(grown);
      inode.data = grown;
    }
    inode.data.set(data.subarray(0, bytes), position);
    return bytes;
  }

  async read(buffer: Uint8Array, position: number): Promise<number> {
    await Promise.resolve();
    this.#alive();
    const source = this.#state.inode.data.subarray(position, position + buffer.byteLength);
    buffer.set(source);
    return source.byteLength;
  }

  async size(): Promise<number> {
    await Promise.resolve();
    this.#alive();
    return this.#state.inode.data.byteLength;
  }

  async truncate(length: number): Promise<void> {
    await Promise.resolve();
    this.#alive();
    const inode = this.#state.inode;
    const next = Buffer.alloc(length);
    inode.data.copy(next, 0, 0, Math.min(length, inode.data.byteLength));
    inode.data = next;
  }

  async datasync(): Promise<void> {
    this.#alive();
    await this.#fs.beforeSync(this.#state.path, this.#state.generation);
    this.#state.inode.durable = Buffer.from(this.#state.inode.data);
  }

  async close(): Promise<void> {
    await Promise.resolve();
    this.#closed = true;
  }
}
