// CacheClient: the cache for an application, over a consumer-owned connection (transport-ws's
// `connect()` fits). Without a near cache every read is answered by the node's cache (a hit there
// costs one round trip and no Raft). With `nearCache`, the client is a cache of its own in the
// protocol: a holder `session:<id>` under a client session it creates and keeps alive, its lines
// tracked in the directory, invalidations pushed on `cache/session/<id>` and acknowledged, its
// read lease renewed next to the session's keep-alive. A near-cache hit is a memory read.
import { CacheError, invalidOption } from './errors.js';
import { DirectoryEventSchema, type JsonValue } from './messages.js';
import { asCacheError, NodeCache, type CacheRead, type NodeCacheStats } from './node-cache.js';
import { realScheduler, type CacheScheduler } from './scheduler.js';
import { SingleFlight } from './single-flight.js';

/**
 * What the cache client needs of a connection. Failed requests reject with an error that carries
 * a string `code` (`NOT_FOUND`, `TIMEOUT`...).
 */
export interface CacheConnection {
  command(service: string, payload: unknown, options?: { timeoutMs?: number }): Promise<unknown>;
  query(service: string, payload: unknown, options?: { timeoutMs?: number }): Promise<unknown>;
  subscribe(
    topic: string,
    handler: (payload: unknown) => void,
  ): (() => void) & { readonly ready: Promise<void> };
}

export interface NearCacheOptions {
  /** Lines kept at most. Default 1000. */
  readonly maxEntries?: number;
  /** Value bytes (UTF-8 JSON) kept at most. Default 16 MiB. */
  readonly maxBytes?: number;
}

export interface CacheClientOptions {
  readonly connection: CacheConnection;
  /** Keep a coherent near cache in this process. */
  readonly nearCache?: NearCacheOptions;
  /** TTL of the near cache's session. Default 10_000. */
  readonly sessionTtlMs?: number;
  /** Must match the cluster's read lease and drift bound. Defaults 2000 and 0.01. */
  readonly readLeaseMs?: number;
  readonly clockDriftMax?: number;
  /** How long a write waits for its invalidations. Default 10_000. */
  readonly operationTimeoutMs?: number;
  readonly scheduler?: CacheScheduler;
}

export interface InvalidationEvent {
  readonly key: string;
  readonly version: number;
}

export const CACHE_CLIENT_DEFAULTS = {
  nearCacheMaxEntries: 1000,
  nearCacheMaxBytes: 16 * 1024 * 1024,
  sessionTtlMs: 10_000,
} as const;

interface NearCache {
  readonly sessionId: string;
  readonly cache: NodeCache;
  readonly unsubscribe: () => void;
  cancelKeepalive: () => void;
}

export class CacheClient {
  readonly #connection: CacheConnection;
  readonly #options: CacheClientOptions;
  readonly #scheduler: CacheScheduler;
  readonly #listeners = new Set<(event: InvalidationEvent) => void>();
  #near: Promise<NearCache> | undefined;
  #closed = false;

  constructor(options: CacheClientOptions) {
    const ttlMs = options.sessionTtlMs ?? CACHE_CLIENT_DEFAULTS.sessionTtlMs;
    if (!Number.isInteger(ttlMs) || ttlMs < 100) {
      throw invalidOption('sessionTtlMs', 'an integer >= 100', ttlMs);
    }
    this.#connection = options.connection;
    this.#options = options;
    this.#scheduler = options.scheduler ?? realScheduler;
  }

  /** Whether this client keeps a near cache. */
  get hasNearCache(): boolean {
    return this.#options.nearCache !== undefined;
  }

  /** Called with each key of the near cache that a write elsewhere invalidated. */
  onInvalidate(listener: (event: InvalidationEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  async get(key: string): Promise<CacheRead> {
    const near = await this.#nearCache();
    if (near !== undefined) return near.cache.get(key);
    return (await this.#call('query', { op: 'get', key })) as CacheRead;
  }

  async getMany(keys: readonly string[]): Promise<CacheRead[]> {
    const near = await this.#nearCache();
    if (near !== undefined) return near.cache.getMany(keys);
    const answer = (await this.#call('query', { op: 'getMany', keys })) as { items: CacheRead[] };
    return answer.items;
  }

  async set(
    key: string,
    value: JsonValue,
    options: { ttlMs?: number } = {},
  ): Promise<{ version: number }> {
    const near = await this.#nearCache();
    if (near !== undefined) return near.cache.set(key, value, options);
    return (await this.#call('command', {
      op: 'set',
      key,
      value,
      ...(options.ttlMs === undefined ? {} : { ttlMs: options.ttlMs }),
    })) as { version: number };
  }

  async setMany(
    entries: readonly { key: string; value: JsonValue; ttlMs?: number }[],
  ): Promise<{ versions: number[] }> {
    const near = await this.#nearCache();
    if (near !== undefined) return near.cache.setMany(entries);
    return (await this.#call('command', { op: 'setMany', entries })) as { versions: number[] };
  }

  async delete(key: string): Promise<{ deleted: boolean; version: number }> {
    const near = await this.#nearCache();
    if (near !== undefined) return near.cache.delete(key);
    return (await this.#call('command', { op: 'delete', key })) as {
      deleted: boolean;
      version: number;
    };
  }

  /** Reads a key or loads it once (concurrent callers in this client share one load). */
  async getOrLoad(
    key: string,
    loader: (key: string) => Promise<JsonValue>,
    options: { ttlMs?: number } = {},
  ): Promise<JsonValue> {
    const near = await this.#nearCache();
    if (near !== undefined) return near.cache.getOrLoad(key, loader, options);
    const read = await this.get(key);
    if (read.found && read.value !== undefined) return read.value;
    return this.#loading.run(key, async () => {
      const value = await loader(key);
      await this.set(key, value, options);
      return value;
    });
  }

  readonly #loading = new SingleFlight<JsonValue>();

  /** The near cache's statistics (undefined without one). */
  async stats(): Promise<NodeCacheStats | undefined> {
    return (await this.#nearCache())?.cache.stats();
  }

  /** The near cache's session id, once it exists. */
  async sessionId(): Promise<string | undefined> {
    return (await this.#nearCache())?.sessionId;
  }

  /** Empties and leaves the near cache, then deletes its session. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const near = await this.#near?.catch(() => undefined);
    if (near === undefined) return;
    near.cancelKeepalive();
    near.unsubscribe();
    await near.cache.stop({ flush: false });
    await this.#connection
      .command('sessions', { op: 'delete', sessionId: near.sessionId })
      .catch(() => undefined);
  }

  async #call(kind: 'command' | 'query', payload: unknown): Promise<unknown> {
    if (this.#closed) throw new CacheError('UNAVAILABLE', 'the cache client is closed');
    try {
      return await this.#connection[kind]('cache', payload);
    } catch (error) {
      throw asCacheError(error);
    }
  }

  #nearCache(): Promise<NearCache | undefined> {
    if (this.#closed)
      return Promise.reject(new CacheError('UNAVAILABLE', 'the cache client is closed'));
    if (this.#options.nearCache === undefined) return Promise.resolve(undefined);
    this.#near ??= this.#openNearCache().catch((error: unknown) => {
      this.#near = undefined;
      throw asCacheError(error);
    });
    return this.#near;
  }

  async #openNearCache(): Promise<NearCache> {
    const ttlMs = this.#options.sessionTtlMs ?? CACHE_CLIENT_DEFAULTS.sessionTtlMs;
    const created = (await this.#connection.command('sessions', { op: 'create', ttlMs })) as {
      sessionId: string;
    };
    const sessionId = created.sessionId;
    const connection = this.#connection;
    const cache = new NodeCache({
      holder: `session:${sessionId}`,
      directory: {
        command: (payload) => connection.command('cache', payload),
        query: (payload) => connection.query('cache', payload),
      },
      // A miss on a key the directory does not know: the node loads it (and caches it) first.
      load: async (key) => {
        const read = (await connection.query('cache', { op: 'get', key })) as CacheRead;
        return read.found && read.value !== undefined
          ? { found: true, value: read.value }
          : { found: false };
      },
      maxEntries: this.#options.nearCache?.maxEntries ?? CACHE_CLIENT_DEFAULTS.nearCacheMaxEntries,
      maxBytes: this.#options.nearCache?.maxBytes ?? CACHE_CLIENT_DEFAULTS.nearCacheMaxBytes,
      ...(this.#options.readLeaseMs === undefined
        ? {}
        : { readLeaseMs: this.#options.readLeaseMs }),
      ...(this.#options.clockDriftMax === undefined
        ? {}
        : { clockDriftMax: this.#options.clockDriftMax }),
      ...(this.#options.operationTimeoutMs === undefined
        ? {}
        : { operationTimeoutMs: this.#options.operationTimeoutMs }),
      scheduler: this.#scheduler,
    });
    const unsubscribe = connection.subscribe(`cache/session/${sessionId}`, (payload) => {
      const parsed = DirectoryEventSchema.safeParse(payload);
      if (!parsed.success) return;
      const event = parsed.data;
      cache.handleEvent(event);
      if (event.type === 'invalidate') {
        for (const listener of this.#listeners)
          listener({ key: event.key, version: event.version });
      }
    });
    await unsubscribe.ready;
    cache.start();
    const near: NearCache = { sessionId, cache, unsubscribe, cancelKeepalive: () => undefined };
    this.#keepalive(near, ttlMs);
    return near;
  }

  /** Keeps the session alive; when it is gone, the near cache is dropped and rebuilt on demand. */
  #keepalive(near: NearCache, ttlMs: number): void {
    near.cancelKeepalive = this.#scheduler.setTimeout(() => {
      void this.#connection
        .command('sessions', { op: 'keepalive', sessionId: near.sessionId })
        .then(
          () => {
            if (!this.#closed) this.#keepalive(near, ttlMs);
          },
          (error: unknown) => {
            const code = (error as { code?: unknown }).code;
            if (code === 'NOT_FOUND') {
              near.unsubscribe();
              void near.cache.stop({ flush: false });
              if (this.#near !== undefined) this.#near = undefined;
            } else if (!this.#closed) {
              this.#keepalive(near, ttlMs);
            }
          },
        );
    }, ttlMs / 3);
  }
}
