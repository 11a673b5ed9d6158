export {
  CACHE_DEFAULTS,
  createCacheDirectory,
  type CacheDirectory,
  type CacheDirectoryOptions,
  type DirtyItem,
  type EntryView,
  type LeaseInfo,
  type ReadAnswer,
  type ReadResult,
  type SessionLiveness,
  type WriteResult,
} from './directory.js';
export { CACHE_ERROR_CODES, CacheError, type CacheErrorCode } from './errors.js';
export {
  BATCH_ITEMS_MAX,
  CacheKeySchema,
  DirectoryCommandSchema,
  DirectoryEventSchema,
  DirectoryQuerySchema,
  HolderIdSchema,
  JsonValueSchema,
  KEY_LENGTH_MAX,
  MANY_KEYS_MAX,
  NodeCommandSchema,
  NodeQuerySchema,
  SessionHolderCommandSchema,
  TTL_MS_MAX,
  TtlMsSchema,
  VersionSchema,
  type DirectoryCommand,
  type DirectoryEvent,
  type DirectoryQuery,
  type JsonValue,
  type LineState,
  type NodeCommand,
  type NodeQuery,
} from './messages.js';
export {
  asCacheError,
  NODE_CACHE_DEFAULTS,
  NodeCache,
  type CacheRead,
  type DirectoryPort,
  type MissLoader,
  type NodeCacheOptions,
  type NodeCacheStats,
  type StoreHealth,
} from './node-cache.js';
export type { CacheResult } from './result.js';
export { realScheduler, type CacheScheduler } from './scheduler.js';
export { MemoryStore, type BackingStore, type StoreRead, type StoreWrite } from './store.js';
export { RedisStore, type RedisStoreOptions } from './redis-store.js';
export {
  CACHE_CLIENT_DEFAULTS,
  CacheClient,
  type CacheClientOptions,
  type CacheConnection,
  type InvalidationEvent,
  type NearCacheOptions,
} from './client.js';
