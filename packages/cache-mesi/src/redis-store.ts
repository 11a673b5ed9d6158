// The Redis backing store (ioredis). Every key lives under `keyPrefix`; the stored string is a
// small JSON envelope `{ "v": version, "d": value }` (or `{ "v": version, "x": 1 }` for a deleted
// key), and a Lua script writes only when the given version is newer than the stored one, so
// racing write-backs cannot move a key backwards. A batch goes out as one pipeline.
import { Redis, type RedisOptions } from 'ioredis';
import { invalidOption } from './errors.js';
import type { JsonValue } from './messages.js';
import type { BackingStore, StoreRead, StoreWrite } from './store.js';

export interface RedisStoreOptions {
  /** `redis://host:port/db`; or pass `redis` (an ioredis client the caller owns). */
  readonly url?: string;
  readonly redis?: Redis;
  /** Prepended to every key. Default `distsync:cache:`. */
  readonly keyPrefix?: string;
  /** How long a deleted key's version marker stays (blocks older write-backs). Default 600_000. */
  readonly tombstoneTtlMs?: number;
  /** Per-command timeout, so a hung Redis fails a write-back instead of stalling it. Default 2000. */
  readonly commandTimeoutMs?: number;
}

const WRITE_IF_NEWER = `
local current = redis.call('GET', KEYS[1])
if current then
  local ok, decoded = pcall(cjson.decode, current)
  if ok and type(decoded) == 'table' and tonumber(decoded.v) ~= nil and tonumber(decoded.v) >= tonumber(ARGV[1]) then
    return 0
  end
end
if ARGV[3] ~= '' then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[2])
end
return 1
`;

interface Envelope {
  readonly v: number;
  readonly d?: JsonValue;
  readonly x?: 1;
}

function parseEnvelope(text: string): Envelope {
  try {
    const decoded = JSON.parse(text) as unknown;
    if (typeof decoded === 'object' && decoded !== null && 'v' in decoded) {
      return decoded as Envelope;
    }
    // A value someone else stored: its JSON, at version 0 (any cache write replaces it).
    return { v: 0, d: decoded as JsonValue };
  } catch {
    return { v: 0, d: text };
  }
}

export class RedisStore implements BackingStore {
  readonly keyPrefix: string;
  readonly #redis: Redis;
  readonly #owned: boolean;
  readonly #tombstoneTtlMs: number;

  constructor(options: RedisStoreOptions) {
    this.keyPrefix = options.keyPrefix ?? 'distsync:cache:';
    this.#tombstoneTtlMs = options.tombstoneTtlMs ?? 600_000;
    if (!(this.#tombstoneTtlMs > 0)) {
      throw invalidOption('tombstoneTtlMs', 'positive', this.#tombstoneTtlMs);
    }
    if (options.redis !== undefined) {
      this.#redis = options.redis;
      this.#owned = false;
    } else {
      if (options.url === undefined) throw invalidOption('url', 'a redis:// URL', options.url);
      const redisOptions = {
        // While Redis is down a command waits at most commandTimeout (then write-behind retries
        // with its own backoff); the offline queue covers the first connect.
        enableOfflineQueue: true,
        maxRetriesPerRequest: 1,
        commandTimeout: options.commandTimeoutMs ?? 2000,
        retryStrategy: (attempt) => Math.min(100 * attempt, 2000),
        lazyConnect: false,
      } satisfies RedisOptions;
      this.#redis = new Redis(options.url, redisOptions);
      // ioredis reports connection trouble as events; the failures reach callers as rejections.
      this.#redis.on('error', () => undefined);
      this.#owned = true;
    }
    this.#redis.defineCommand('distsyncWriteIfNewer', { numberOfKeys: 1, lua: WRITE_IF_NEWER });
  }

  /** The ioredis client's connection state (`ready`, `reconnecting`, ...). */
  get connectionStatus(): string {
    return this.#redis.status;
  }

  async get(key: string): Promise<StoreRead> {
    const redisKey = this.keyPrefix + key;
    const results = await this.#redis.multi().get(redisKey).pttl(redisKey).exec();
    if (results === null) throw new Error('redis transaction aborted');
    const [[getError, text], [, pttl]] = results as [
      [Error | null, string | null],
      [Error | null, number],
    ];
    if (getError !== null) throw getError;
    if (text === null) return { found: false };
    const envelope = parseEnvelope(text);
    if (envelope.x === 1 || envelope.d === undefined) return { found: false };
    return pttl > 0
      ? { found: true, value: envelope.d, ttlMs: pttl }
      : { found: true, value: envelope.d };
  }

  async writeMany(items: readonly StoreWrite[]): Promise<void> {
    if (items.length === 0) return;
    const pipeline = this.#redis.pipeline();
    for (const item of items) {
      const envelope: Envelope = item.found
        ? { v: item.version, d: item.value ?? null }
        : { v: item.version, x: 1 };
      const ttlMs = item.found ? item.ttlMs : this.#tombstoneTtlMs;
      (
        pipeline as unknown as {
          distsyncWriteIfNewer(key: string, version: string, body: string, ttl: string): void;
        }
      ).distsyncWriteIfNewer(
        this.keyPrefix + item.key,
        String(item.version),
        JSON.stringify(envelope),
        ttlMs === undefined ? '' : String(Math.max(1, Math.round(ttlMs))),
      );
    }
    const results = await pipeline.exec();
    if (results === null) throw new Error('redis pipeline aborted');
    for (const [error] of results) if (error !== null) throw error;
  }

  async close(): Promise<void> {
    if (!this.#owned) return;
    try {
      await this.#redis.quit();
    } catch {
      this.#redis.disconnect();
    }
  }
}
