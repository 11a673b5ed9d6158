// One cache in the coherence protocol: a node's cache (holder `node:<id>`) or, inside CacheClient,
// an application's near cache (holder `session:<id>`). A bounded LRU (entries and bytes) of lines
// in M, E or S. A hit is served from memory only while the holder's read lease is valid on its own
// monotonic clock; a miss registers through the directory; a write commits through the directory
// and resolves only once every other copy is invalidated (acknowledged or its lease ran out).
import { CacheError, invalidOption, type CacheErrorCode } from './errors.js';
import type { LeaseInfo, ReadResult, WriteResult } from './directory.js';
import {
  BATCH_ITEMS_MAX,
  type DirectoryCommand,
  type DirectoryEvent,
  type DirectoryQuery,
  type JsonValue,
  type LineState,
} from './messages.js';
import { jsonBytes } from './result.js';
import { realScheduler, type CacheScheduler } from './scheduler.js';
import type { BackingStore, StoreRead, StoreWrite } from './store.js';
import { SingleFlight } from './single-flight.js';

/** How a cache reaches the directory: resolves with the result's value, rejects with a `code`. */
export interface DirectoryPort {
  command(payload: DirectoryCommand): Promise<unknown>;
  query(payload: DirectoryQuery): Promise<unknown>;
}

/** Where a miss on a key the directory does not know gets its value. */
export type MissLoader = (key: string) => Promise<StoreRead>;

export interface NodeCacheOptions {
  /** `node:<nodeId>` or `session:<sessionId>`. */
  readonly holder: string;
  readonly directory: DirectoryPort;
  /** The backing store: misses load from it, write-behind writes to it. */
  readonly store?: BackingStore;
  /** Replaces `store.get` for misses (a near cache asks its node instead). */
  readonly load?: MissLoader;
  /** Lines kept at most. Default 10_000. */
  readonly maxEntries?: number;
  /** Bytes of values (UTF-8 JSON) kept at most. Default 64 MiB. */
  readonly maxBytes?: number;
  /** Must equal the directory's `readLeaseMs` and `clockDriftMax`. */
  readonly readLeaseMs?: number;
  readonly clockDriftMax?: number;
  /** How long a read or write may wait for pending invalidations. Default 10_000. */
  readonly operationTimeoutMs?: number;
  /** When true, this cache runs the write-behind loop (a node's cache does while it leads). */
  readonly writeBack?: {
    readonly enabled: () => boolean;
    readonly intervalMs?: number;
    readonly batchSize?: number;
    readonly backoffMsMax?: number;
  };
  readonly scheduler?: CacheScheduler;
}

export const NODE_CACHE_DEFAULTS = {
  maxEntries: 10_000,
  maxBytes: 64 * 1024 * 1024,
  readLeaseMs: 2000,
  clockDriftMax: 0.01,
  operationTimeoutMs: 10_000,
  writeBackIntervalMs: 100,
  writeBackBatchSize: 256,
  writeBackBackoffMsMax: 5000,
} as const;

/** Keys whose latest known version is remembered (for installs that raced an invalidation). */
const FLOOR_KEYS_MAX = 10_000;
const POLL_MS_MAX = 50;

interface Line {
  readonly found: boolean;
  readonly value: JsonValue | undefined;
  readonly version: number;
  state: 'M' | 'E' | 'S';
  readonly registration: number;
  readonly incarnation: number;
  readonly bytes: number;
  readonly expiresAtMs: number | undefined;
}

export interface CacheRead {
  readonly found: boolean;
  readonly value?: JsonValue;
  readonly version: number;
  /** This cache's state for the key after the read (I when it could not keep a copy). */
  readonly state: LineState;
  /** Served from this cache's memory, from the directory, or loaded from the backing store. */
  readonly source: 'local' | 'directory' | 'store';
}

export interface StoreHealth {
  readonly healthy: boolean;
  readonly consecutiveFailures: number;
  readonly lastError: string | null;
  readonly retryInMs: number | null;
}

export interface NodeCacheStats {
  readonly holder: string;
  readonly hits: number;
  readonly misses: number;
  readonly hitRate: number;
  readonly invalidationsSent: number;
  readonly invalidationsReceived: number;
  readonly writeBacks: number;
  readonly writeBackBatches: number;
  readonly writeBackFailures: number;
  readonly evictions: number;
  readonly lines: { readonly M: number; readonly E: number; readonly S: number };
  readonly entries: number;
  readonly bytes: number;
  readonly lease: {
    readonly valid: boolean;
    readonly remainingMs: number;
    incarnation: number | null;
  };
  readonly store: StoreHealth;
}

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error
    ? String(error.code)
    : undefined;
}

const passThrough = new Set<string>([
  'BAD_REQUEST',
  'NOT_FOUND',
  'TOO_LARGE',
  'LIMIT_REACHED',
  'TIMEOUT',
]);

/** A directory failure as a CacheError (domain codes kept, transport trouble is UNAVAILABLE). */
export function asCacheError(error: unknown): CacheError {
  if (error instanceof CacheError) return error;
  const code = errorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  const mapped: CacheErrorCode =
    code !== undefined && passThrough.has(code) ? (code as CacheErrorCode) : 'UNAVAILABLE';
  return new CacheError(mapped, message, { cause: error });
}

export class NodeCache {
  readonly holder: string;
  readonly #directory: DirectoryPort;
  readonly #store: BackingStore | undefined;
  readonly #load: MissLoader | undefined;
  readonly #scheduler: CacheScheduler;
  readonly #limits: {
    maxEntries: number;
    maxBytes: number;
    readLeaseMs: number;
    servingLeaseMs: number;
    clockDriftMax: number;
    operationTimeoutMs: number;
  };
  readonly #writeBack: NodeCacheOptions['writeBack'];
  readonly #lines = new Map<string, Line>();
  #bytes = 0;
  #incarnation: number | undefined;
  #minIncarnation = 0;
  #leaseStartMs = Number.NEGATIVE_INFINITY;
  /** Highest version known per key: an install below it is stale. */
  readonly #floor = new Map<string, { version: number; registration: number }>();
  /** Keys with a write of this cache in flight: their copy is not served meanwhile. */
  readonly #writing = new Map<string, number>();
  readonly #inflightReads = new Map<string, Promise<CacheRead>>();
  readonly #settleWaiters = new Map<string, Set<() => void>>();
  #acks = new Map<string, number>();
  #ackScheduled = false;
  #releases: { key: string; registration: number }[] = [];
  #stopped = false;
  #cancelRenew: (() => void) | undefined;
  #cancelWriteBack: (() => void) | undefined;
  #writeBackRunning = false;
  readonly #stats = {
    hits: 0,
    misses: 0,
    invalidationsSent: 0,
    invalidationsReceived: 0,
    writeBacks: 0,
    writeBackBatches: 0,
    writeBackFailures: 0,
    evictions: 0,
  };
  #storeHealth = {
    healthy: true,
    consecutiveFailures: 0,
    lastError: null as string | null,
    retryAtMs: null as number | null,
  };

  constructor(options: NodeCacheOptions) {
    if (!/^(node|session):\S{1,128}$/.test(options.holder)) {
      throw invalidOption('holder', '`node:<id>` or `session:<id>`', options.holder);
    }
    const number = (name: string, value: number): number => {
      if (!Number.isFinite(value) || value <= 0) throw invalidOption(name, 'positive', value);
      return value;
    };
    const readLeaseMs = number(
      'readLeaseMs',
      options.readLeaseMs ?? NODE_CACHE_DEFAULTS.readLeaseMs,
    );
    const clockDriftMax = options.clockDriftMax ?? NODE_CACHE_DEFAULTS.clockDriftMax;
    if (!(clockDriftMax >= 0 && clockDriftMax < 0.5)) {
      throw invalidOption('clockDriftMax', 'in [0, 0.5)', clockDriftMax);
    }
    this.holder = options.holder;
    this.#directory = options.directory;
    this.#store = options.store;
    this.#load = options.load;
    this.#scheduler = options.scheduler ?? realScheduler;
    this.#writeBack = options.writeBack;
    this.#limits = {
      maxEntries: number('maxEntries', options.maxEntries ?? NODE_CACHE_DEFAULTS.maxEntries),
      maxBytes: number('maxBytes', options.maxBytes ?? NODE_CACHE_DEFAULTS.maxBytes),
      readLeaseMs,
      clockDriftMax,
      // The holder's side of the lease: it stops serving at start + lease * (1 - drift).
      servingLeaseMs: readLeaseMs * (1 - clockDriftMax),
      operationTimeoutMs: number(
        'operationTimeoutMs',
        options.operationTimeoutMs ?? NODE_CACHE_DEFAULTS.operationTimeoutMs,
      ),
    };
  }

  /** Starts the lease renewal and (when configured) the write-behind loop. */
  start(): void {
    this.#scheduleRenew();
    this.#scheduleWriteBack(this.#writeBack?.intervalMs ?? NODE_CACHE_DEFAULTS.writeBackIntervalMs);
  }

  /** Stops the loops and writes back what is dirty (bounded by `timeoutMs`). */
  async stop(options: { flush?: boolean; timeoutMs?: number } = {}): Promise<void> {
    this.#stopped = true;
    this.#cancelRenew?.();
    this.#cancelWriteBack?.();
    if (options.flush !== false && this.#store !== undefined) {
      await this.flush({ timeoutMs: options.timeoutMs ?? 5000 });
    }
  }

  // ---------------------------------------------------------------- reads

  /** Reads a key: from memory on a hit (no network), else through the directory. */
  get(key: string): Promise<CacheRead> {
    const line = this.#servable(key);
    if (line !== undefined) {
      this.#stats.hits += 1;
      this.#lines.delete(key);
      this.#lines.set(key, line);
      return Promise.resolve({
        found: line.found,
        ...(line.value === undefined ? {} : { value: line.value }),
        version: line.version,
        state: line.state,
        source: 'local',
      });
    }
    this.#stats.misses += 1;
    const inflight = this.#inflightReads.get(key);
    if (inflight !== undefined) return inflight;
    const read = this.#fetch(key).finally(() => {
      this.#inflightReads.delete(key);
    });
    this.#inflightReads.set(key, read);
    return read;
  }

  /** Reads many keys (each a hit or a miss of its own). */
  getMany(keys: readonly string[]): Promise<CacheRead[]> {
    return Promise.all(keys.map((key) => this.get(key)));
  }

  /** This cache's state for a key right now: I unless a copy is servable. */
  stateOf(key: string): LineState {
    return this.#servable(key)?.state ?? 'I';
  }

  #leaseValid(now: number): boolean {
    return (
      this.#incarnation !== undefined && now < this.#leaseStartMs + this.#limits.servingLeaseMs
    );
  }

  #servable(key: string): Line | undefined {
    if (this.#writing.has(key)) return undefined;
    const line = this.#lines.get(key);
    if (line === undefined) return undefined;
    const now = this.#scheduler.nowMs();
    if (line.incarnation !== this.#incarnation || !this.#leaseValid(now)) return undefined;
    if (line.expiresAtMs !== undefined && now >= line.expiresAtMs) {
      this.#drop(key);
      return undefined;
    }
    return line;
  }

  async #fetch(key: string): Promise<CacheRead> {
    const deadline = this.#scheduler.nowMs() + this.#limits.operationTimeoutMs;
    let pollMs = 1;
    let source: CacheRead['source'] = 'directory';
    let command: DirectoryCommand = { op: 'read', key, holder: this.holder };
    for (;;) {
      const sentAtMs = this.#scheduler.nowMs();
      const result = (await this.#send(command)) as ReadResult;
      this.#noteLease(result.lease, sentAtMs);
      if (result.status === 'hit') return this.#installRead({ key, result, sentAtMs, source });
      if (result.status === 'load') {
        const loaded = await this.#loadMissing(key);
        source = 'store';
        command = {
          op: 'fill',
          key,
          holder: this.holder,
          found: loaded.found,
          ...(loaded.found ? { value: loaded.value } : {}),
          ...(loaded.found && loaded.ttlMs !== undefined
            ? { ttlMs: Math.max(1, Math.floor(loaded.ttlMs)) }
            : {}),
        };
        continue;
      }
      // A write to this key waits for invalidations: the new value is not visible before that.
      if (this.#scheduler.nowMs() + pollMs > deadline) {
        throw new CacheError(
          'TIMEOUT',
          `key ${key} stayed pending for ${this.#limits.operationTimeoutMs} ms`,
        );
      }
      await this.#waitSettled(key, pollMs);
      pollMs = Math.min(pollMs * 2, POLL_MS_MAX);
    }
  }

  async #loadMissing(key: string): Promise<StoreRead> {
    const load =
      this.#load ?? (this.#store === undefined ? undefined : (k: string) => this.#store?.get(k));
    if (load === undefined) return { found: false };
    try {
      return (await load(key)) ?? { found: false };
    } catch (error) {
      this.#noteStoreFailure(error);
      if (error instanceof CacheError) throw error;
      throw new CacheError('STORE_UNAVAILABLE', `cannot load ${key} from the backing store`, {
        cause: error,
      });
    }
  }

  #installRead(input: {
    key: string;
    result: Extract<ReadResult, { status: 'hit' }>;
    sentAtMs: number;
    source: CacheRead['source'];
  }): CacheRead {
    const { key, result, sentAtMs, source } = input;
    this.#raiseFloor(key, { registration: result.registration });
    const installed = this.#install(key, {
      found: result.found,
      value: result.value,
      version: result.version,
      state: result.state,
      registration: result.registration,
      incarnation: result.lease.incarnation,
      bytes: jsonBytes(result.value),
      expiresAtMs:
        result.ttlRemainingMs === undefined
          ? undefined
          : sentAtMs + result.ttlRemainingMs * (1 - this.#limits.clockDriftMax),
    });
    if (result.dirty && installed && this.#store !== undefined) {
      // Another cache's M line just became S: write it back now rather than at the next batch.
      void this.#writeBackItems([this.#storeWrite(key, result)]);
    }
    return {
      found: result.found,
      ...(result.value === undefined ? {} : { value: result.value }),
      version: result.version,
      state: installed ? result.state : 'I',
      source,
    };
  }

  #storeWrite(
    key: string,
    item: {
      version: number;
      found: boolean;
      value?: JsonValue | undefined;
      ttlRemainingMs?: number | undefined;
    },
  ): StoreWrite {
    return {
      key,
      version: item.version,
      found: item.found,
      ...(item.value === undefined ? {} : { value: item.value }),
      ...(item.ttlRemainingMs === undefined ? {} : { ttlMs: item.ttlRemainingMs }),
    };
  }

  /** Keeps a copy unless it is already stale or this cache's lease changed meanwhile. */
  #install(key: string, line: Line): boolean {
    if (line.incarnation !== this.#incarnation) return false;
    const floor = this.#floor.get(key);
    // Stale if a newer version was announced, or if the directory registered this cache for the
    // key again since (a write that settled late must not resurrect a superseded registration).
    if (
      floor !== undefined &&
      (line.version < floor.version || line.registration < floor.registration)
    ) {
      return false;
    }
    if (this.#writing.has(key) && line.state !== 'M') return false;
    if (line.bytes > this.#limits.maxBytes) return false;
    this.#drop(key);
    this.#lines.set(key, line);
    this.#bytes += line.bytes;
    this.#raiseFloor(key, { version: line.version, registration: line.registration });
    this.#evictOverflow();
    return this.#lines.has(key);
  }

  #raiseFloor(key: string, seen: { version?: number; registration?: number }): void {
    const floor = this.#floor.get(key) ?? { version: 0, registration: 0 };
    this.#floor.delete(key);
    this.#floor.set(key, {
      version: Math.max(floor.version, seen.version ?? 0),
      registration: Math.max(floor.registration, seen.registration ?? 0),
    });
    if (this.#floor.size > FLOOR_KEYS_MAX) {
      const oldest = this.#floor.keys().next();
      if (oldest.done !== true) this.#floor.delete(oldest.value);
    }
  }

  #drop(key: string): Line | undefined {
    const line = this.#lines.get(key);
    if (line === undefined) return undefined;
    this.#lines.delete(key);
    this.#bytes -= line.bytes;
    return line;
  }

  #evictOverflow(): void {
    while (this.#lines.size > this.#limits.maxEntries || this.#bytes > this.#limits.maxBytes) {
      const oldest = this.#lines.entries().next();
      if (oldest.done === true) return;
      const [key, line] = oldest.value;
      this.#drop(key);
      this.#stats.evictions += 1;
      this.#releases.push({ key, registration: line.registration });
      if (line.state === 'M' && this.#store !== undefined) {
        void this.#writeBackItems([this.#storeWrite(key, line)]);
      }
    }
    if (this.#releases.length > 0) this.#scheduleFlushMessages();
  }

  // ---------------------------------------------------------------- writes

  /** Writes a key; resolves once every other copy is invalidated. This cache then holds M. */
  async set(
    key: string,
    value: JsonValue,
    options: { ttlMs?: number } = {},
  ): Promise<{ version: number }> {
    const written = await this.#write(key, {
      op: 'write',
      key,
      holder: this.holder,
      value,
      ...(options.ttlMs === undefined ? {} : { ttlMs: options.ttlMs }),
    });
    return { version: written.version };
  }

  /** Deletes a key (coherently, like a write of "absent"). */
  async delete(key: string): Promise<{ deleted: boolean; version: number }> {
    const written = await this.#write(key, { op: 'remove', key, holder: this.holder });
    return { deleted: written.existed, version: written.version };
  }

  async setMany(
    entries: readonly { key: string; value: JsonValue; ttlMs?: number }[],
  ): Promise<{ versions: number[] }> {
    const results = await Promise.all(
      entries.map((entry) =>
        this.set(entry.key, entry.value, entry.ttlMs === undefined ? {} : { ttlMs: entry.ttlMs }),
      ),
    );
    return { versions: results.map((result) => result.version) };
  }

  /** Reads a key, or loads it once (single flight per key in this cache) and writes it. */
  async getOrLoad(
    key: string,
    loader: (key: string) => Promise<JsonValue>,
    options: { ttlMs?: number } = {},
  ): Promise<JsonValue> {
    const read = await this.get(key);
    if (read.found && read.value !== undefined) return read.value;
    return this.#loading.run(key, async () => {
      const value = await loader(key);
      await this.set(key, value, options);
      return value;
    });
  }

  readonly #loading = new SingleFlight<JsonValue>();

  async #write(
    key: string,
    input: Extract<DirectoryCommand, { op: 'write' | 'remove' }>,
  ): Promise<WriteResult> {
    // This copy is dropped before the write leaves; the write names it (`basis`) so that the
    // directory invalidates only a copy registered after it (a read answered meanwhile).
    const basis = this.#drop(key)?.registration ?? 0;
    const command = { ...input, basis };
    this.#writing.set(key, (this.#writing.get(key) ?? 0) + 1);
    try {
      const sentAtMs = this.#scheduler.nowMs();
      const result = (await this.#send(command)) as WriteResult;
      this.#noteLease(result.lease, sentAtMs);
      this.#stats.invalidationsSent += result.invalidated;
      this.#raiseFloor(key, { version: result.version, registration: result.registration });
      if (result.pending > 0) await this.#awaitSettled(key, result.version);
      const value = command.op === 'write' ? command.value : undefined;
      this.#install(key, {
        found: command.op === 'write',
        value,
        version: result.version,
        state: 'M',
        registration: result.registration,
        incarnation: result.lease.incarnation,
        bytes: jsonBytes(value),
        expiresAtMs:
          command.op === 'write' && command.ttlMs !== undefined
            ? sentAtMs + command.ttlMs * (1 - this.#limits.clockDriftMax)
            : undefined,
      });
      return result;
    } catch (error) {
      // Whether it applied is unknown: no copy of this key is trusted until it is read again.
      this.#drop(key);
      throw error;
    } finally {
      const count = (this.#writing.get(key) ?? 1) - 1;
      if (count === 0) this.#writing.delete(key);
      else this.#writing.set(key, count);
    }
  }

  async #awaitSettled(key: string, version: number): Promise<void> {
    const deadline = this.#scheduler.nowMs() + this.#limits.operationTimeoutMs;
    let pollMs = 1;
    for (;;) {
      await this.#waitSettled(key, pollMs);
      const answer = (await this.#directory
        .query({ op: 'settled', key, version })
        .catch(() => ({ settled: false }))) as { settled: boolean };
      if (answer.settled) return;
      if (this.#scheduler.nowMs() > deadline) {
        throw new CacheError(
          'TIMEOUT',
          `the write of ${key} (version ${version}) is committed but not every copy is invalidated yet`,
        );
      }
      pollMs = Math.min(pollMs * 2, POLL_MS_MAX);
    }
  }

  /** Waits for a settled event of this key or `delayMs`, whichever comes first. */
  #waitSettled(key: string, delayMs: number): Promise<void> {
    return new Promise((resolve) => {
      let waiters = this.#settleWaiters.get(key);
      if (waiters === undefined) {
        waiters = new Set();
        this.#settleWaiters.set(key, waiters);
      }
      const done = (): void => {
        cancel();
        waiters.delete(done);
        if (waiters.size === 0 && this.#settleWaiters.get(key) === waiters) {
          this.#settleWaiters.delete(key);
        }
        resolve();
      };
      waiters.add(done);
      const cancel = this.#scheduler.setTimeout(done, delayMs);
    });
  }

  // ---------------------------------------------------------------- protocol

  /** What the directory replica beside this cache (or a push to a near cache) reports. */
  handleEvent(event: DirectoryEvent): void {
    switch (event.type) {
      case 'invalidate': {
        if (event.holder !== this.holder) return;
        this.#invalidate(event.key, event.version);
        return;
      }
      case 'downgrade': {
        if (event.holder !== this.holder) return;
        const line = this.#lines.get(event.key);
        if (line !== undefined) line.state = 'S';
        return;
      }
      case 'settled': {
        for (const wake of [...(this.#settleWaiters.get(event.key) ?? [])]) wake();
        return;
      }
      case 'dropped': {
        if (event.holder !== this.holder || event.incarnation !== this.#incarnation) return;
        this.#voidLines(event.incarnation + 1);
        return;
      }
    }
  }

  #invalidate(key: string, version: number): void {
    this.#raiseFloor(key, { version });
    const line = this.#lines.get(key);
    if (line !== undefined && line.version < version) {
      this.#drop(key);
      this.#stats.invalidationsReceived += 1;
    }
    const queued = this.#acks.get(key);
    if (queued === undefined || queued < version) this.#acks.set(key, version);
    this.#scheduleFlushMessages();
  }

  #voidLines(minIncarnation: number): void {
    this.#lines.clear();
    this.#bytes = 0;
    this.#incarnation = undefined;
    this.#minIncarnation = Math.max(this.#minIncarnation, minIncarnation);
  }

  #noteLease(lease: LeaseInfo, sentAtMs: number): void {
    if (lease.incarnation < this.#minIncarnation) return;
    if (this.#incarnation === undefined || lease.incarnation > this.#incarnation) {
      // A new incarnation: the directory dropped this holder, so every older line is void.
      if (this.#incarnation !== undefined) this.#voidLines(lease.incarnation);
      this.#incarnation = lease.incarnation;
      this.#leaseStartMs = sentAtMs;
      return;
    }
    if (lease.incarnation === this.#incarnation) {
      this.#leaseStartMs = Math.max(this.#leaseStartMs, sentAtMs);
    }
  }

  async #send(command: DirectoryCommand): Promise<unknown> {
    if (this.#stopped && command.op !== 'written' && command.op !== 'ack') {
      throw new CacheError('UNAVAILABLE', 'the cache is stopped');
    }
    try {
      return await this.#directory.command(command);
    } catch (error) {
      throw asCacheError(error);
    }
  }

  /** Acks and releases go out together, batched, on the next turn. */
  #scheduleFlushMessages(): void {
    if (this.#ackScheduled) return;
    this.#ackScheduled = true;
    this.#scheduler.setTimeout(() => {
      this.#ackScheduled = false;
      void this.#flushMessages();
    }, 0);
  }

  async #flushMessages(): Promise<void> {
    const acks = [...this.#acks].map(([key, version]) => ({ key, version }));
    this.#acks = new Map();
    const releases = this.#releases;
    this.#releases = [];
    const sends: Promise<unknown>[] = [];
    for (let start = 0; start < acks.length; start += BATCH_ITEMS_MAX) {
      const items = acks.slice(start, start + BATCH_ITEMS_MAX);
      sends.push(
        this.#directory.command({ op: 'ack', holder: this.holder, items }).catch(() => {
          // Not lost: the next renew answer lists every invalidation still unacknowledged.
        }),
      );
    }
    for (let start = 0; start < releases.length; start += BATCH_ITEMS_MAX) {
      const items = releases.slice(start, start + BATCH_ITEMS_MAX);
      sends.push(
        this.#directory
          .command({ op: 'release', holder: this.holder, items })
          .catch(() => undefined),
      );
    }
    await Promise.all(sends);
  }

  /** Renews the read lease (and collects missed invalidations) every third of a lease. */
  async renew(): Promise<void> {
    const sentAtMs = this.#scheduler.nowMs();
    const answer = (await this.#send({ op: 'renew', holder: this.holder })) as {
      lease: LeaseInfo;
      invalidate: { key: string; version: number }[];
    };
    this.#noteLease(answer.lease, sentAtMs);
    for (const { key, version } of answer.invalidate) this.#invalidate(key, version);
  }

  #scheduleRenew(): void {
    if (this.#stopped) return;
    this.#cancelRenew = this.#scheduler.setTimeout(() => {
      const work =
        this.#lines.size > 0 || this.#incarnation !== undefined ? this.renew() : Promise.resolve();
      void work
        .catch(() => undefined)
        .finally(() => {
          this.#scheduleRenew();
        });
    }, this.#limits.readLeaseMs / 3);
  }

  // ---------------------------------------------------------------- write-behind

  #scheduleWriteBack(delayMs: number): void {
    if (this.#stopped || this.#writeBack === undefined || this.#store === undefined) return;
    this.#cancelWriteBack = this.#scheduler.setTimeout(() => {
      void this.#writeBackRound().then((nextMs) => {
        this.#scheduleWriteBack(nextMs);
      });
    }, delayMs);
  }

  async #writeBackRound(): Promise<number> {
    const intervalMs = this.#writeBack?.intervalMs ?? NODE_CACHE_DEFAULTS.writeBackIntervalMs;
    if (this.#writeBack?.enabled() !== true) return intervalMs;
    const flushed = await this.writeBackOnce();
    if (flushed === 'failed') {
      const retryAtMs = this.#storeHealth.retryAtMs ?? this.#scheduler.nowMs() + intervalMs;
      return Math.max(1, retryAtMs - this.#scheduler.nowMs());
    }
    // A full batch means more is waiting: go again at once.
    return flushed >= (this.#writeBack.batchSize ?? NODE_CACHE_DEFAULTS.writeBackBatchSize)
      ? 0
      : intervalMs;
  }

  /** One write-behind batch from committed state: how many items went out, or 'failed'. */
  async writeBackOnce(): Promise<number | 'failed'> {
    if (this.#writeBackRunning || this.#store === undefined) return 0;
    this.#writeBackRunning = true;
    try {
      const limit = this.#writeBack?.batchSize ?? NODE_CACHE_DEFAULTS.writeBackBatchSize;
      const answer = (await this.#directory.query({ op: 'dirty', limit })) as {
        items: {
          key: string;
          version: number;
          found: boolean;
          value?: JsonValue;
          expiresAtMs: number | null;
        }[];
      };
      if (answer.items.length === 0) return 0;
      const wallNow = this.#scheduler.wallMs();
      const writes = answer.items.map((item) =>
        this.#storeWrite(item.key, {
          ...item,
          ...(item.expiresAtMs === null
            ? {}
            : { ttlRemainingMs: Math.max(1, item.expiresAtMs - wallNow) }),
        }),
      );
      return (await this.#writeBackItems(writes)) ? writes.length : 'failed';
    } catch {
      return 'failed';
    } finally {
      this.#writeBackRunning = false;
    }
  }

  /** Writes items to the store, then tells the directory they are clean. */
  async #writeBackItems(items: readonly StoreWrite[]): Promise<boolean> {
    const store = this.#store;
    if (store === undefined || items.length === 0) return true;
    try {
      await store.writeMany(items);
    } catch (error) {
      this.#noteStoreFailure(error);
      return false;
    }
    this.#storeHealth = { healthy: true, consecutiveFailures: 0, lastError: null, retryAtMs: null };
    this.#stats.writeBacks += items.length;
    this.#stats.writeBackBatches += 1;
    try {
      await this.#directory.command({
        op: 'written',
        items: items.map(({ key, version }) => ({ key, version })),
      });
    } catch {
      // The store has the values; the directory keeps them dirty and a later batch repeats them.
    }
    return true;
  }

  #noteStoreFailure(error: unknown): void {
    const failures = this.#storeHealth.consecutiveFailures + 1;
    const intervalMs = this.#writeBack?.intervalMs ?? NODE_CACHE_DEFAULTS.writeBackIntervalMs;
    const maxMs = this.#writeBack?.backoffMsMax ?? NODE_CACHE_DEFAULTS.writeBackBackoffMsMax;
    const backoffMs = Math.min(maxMs, intervalMs * 2 ** Math.min(failures, 16));
    this.#stats.writeBackFailures += 1;
    this.#storeHealth = {
      healthy: false,
      consecutiveFailures: failures,
      lastError: error instanceof Error ? error.message : String(error),
      retryAtMs: this.#scheduler.nowMs() + backoffMs,
    };
  }

  /** Writes back everything dirty (any node may); stops at the deadline or a store failure. */
  async flush(
    options: { timeoutMs?: number } = {},
  ): Promise<{ written: number; remaining: boolean }> {
    const deadline = this.#scheduler.nowMs() + (options.timeoutMs ?? 5000);
    let written = 0;
    while (this.#scheduler.nowMs() < deadline) {
      const round = await this.writeBackOnce();
      if (round === 'failed') return { written, remaining: true };
      if (round === 0) return { written, remaining: false };
      written += round;
    }
    return { written, remaining: true };
  }

  // ---------------------------------------------------------------- status

  stats(): NodeCacheStats {
    const lines = { M: 0, E: 0, S: 0 };
    for (const line of this.#lines.values()) lines[line.state] += 1;
    const now = this.#scheduler.nowMs();
    const lookups = this.#stats.hits + this.#stats.misses;
    const remainingMs = this.#leaseValid(now)
      ? Math.round(this.#leaseStartMs + this.#limits.servingLeaseMs - now)
      : 0;
    return {
      holder: this.holder,
      ...this.#stats,
      hitRate: lookups === 0 ? 0 : this.#stats.hits / lookups,
      lines,
      entries: this.#lines.size,
      bytes: this.#bytes,
      lease: { valid: remainingMs > 0, remainingMs, incarnation: this.#incarnation ?? null },
      store: {
        healthy: this.#storeHealth.healthy,
        consecutiveFailures: this.#storeHealth.consecutiveFailures,
        lastError: this.#storeHealth.lastError,
        retryInMs:
          this.#storeHealth.retryAtMs === null
            ? null
            : Math.max(0, Math.round(this.#storeHealth.retryAtMs - now)),
      },
    };
  }

  /** The lines this cache could serve right now (for invariant checks in tests). */
  servableLines(): {
    key: string;
    version: number;
    found: boolean;
    value?: JsonValue;
    state: 'M' | 'E' | 'S';
  }[] {
    const out: {
      key: string;
      version: number;
      found: boolean;
      value?: JsonValue;
      state: 'M' | 'E' | 'S';
    }[] = [];
    for (const key of [...this.#lines.keys()]) {
      const line = this.#servable(key);
      if (line === undefined) continue;
      out.push({
        key,
        version: line.version,
        found: line.found,
        ...(line.value === undefined ? {} : { value: line.value }),
        state: line.state,
      });
    }
    return out;
  }
}
