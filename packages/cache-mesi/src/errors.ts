/**
 * The stable codes of `@distsync/cache-mesi`. Expected outcomes (a missing key, a full directory,
 * a backing store that is down) are returned as `{ ok: false, code, message }`; `CacheError` is
 * thrown by the clients and `NodeCache` with one of these codes, and for bad options.
 */
export type CacheErrorCode =
  /** Malformed input: an empty or too long key, a bad TTL, an unknown operation. */
  | 'BAD_REQUEST'
  /** The key does not exist (nor in the backing store), or the holder's session has ended. */
  | 'NOT_FOUND'
  /** A value larger than `maxValueBytes`. */
  | 'TOO_LARGE'
  /** The directory is full (`maxKeys` of lines that are dirty or held, or `maxHolders`). */
  | 'LIMIT_REACHED'
  /** A miss needed the backing store and the store failed (the cache itself keeps serving). */
  | 'STORE_UNAVAILABLE'
  /** No answer in time: a write whose invalidations are not settled yet, or the cluster. */
  | 'TIMEOUT'
  /** The cache (or the connection under it) is stopped or cannot reach the cluster. */
  | 'UNAVAILABLE'
  /** An option broke its rule (thrown from constructors). */
  | 'INVALID_OPTION';

export const CACHE_ERROR_CODES: readonly CacheErrorCode[] = [
  'BAD_REQUEST',
  'NOT_FOUND',
  'TOO_LARGE',
  'LIMIT_REACHED',
  'STORE_UNAVAILABLE',
  'TIMEOUT',
  'UNAVAILABLE',
  'INVALID_OPTION',
];

/** The one error class of `@distsync/cache-mesi`; switch on `code`, never on `message`. */
export class CacheError extends Error {
  override readonly name = 'CacheError';
  readonly code: CacheErrorCode;

  constructor(code: CacheErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export function invalidOption(option: string, rule: string, value: unknown): CacheError {
  return new CacheError('INVALID_OPTION', `${option} must be ${rule} (got ${String(value)})`);
}
