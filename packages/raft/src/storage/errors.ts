// FileStorage's errors are RaftErrors (one error class per package), with the file and byte
// offset attached as fields so an operator's tooling does not have to parse messages.
import { RaftError } from '../errors.js';
import type { RaftErrorCode } from '../errors.js';

/** The subset of `RaftErrorCode` that `FileStorage` produces. */
export type StorageErrorCode = Extract<
  RaftErrorCode,
  | 'WAL_CORRUPT'
  | 'SNAPSHOT_CORRUPT'
  | 'STORAGE_UNAVAILABLE'
  | 'FSYNC_FAILED'
  | 'WRITE_FAILED'
  | 'NO_SPACE'
  | 'STORAGE_CLOSED'
>;

/** A `RaftError` from `FileStorage`; `path` and `offset` say where on disk, when known. */
export class StorageError extends RaftError {
  /** The file or directory the error is about. */
  readonly path: string | undefined;
  /** The byte offset inside `path` (WAL_CORRUPT, SNAPSHOT_CORRUPT). */
  readonly offset: number | undefined;

  constructor(
    code: StorageErrorCode,
    message: string,
    options?: { cause?: unknown; path?: string; offset?: number },
  ) {
    super(code, message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.path = options?.path;
    this.offset = options?.offset;
  }
}

/** The `code` of a Node.js system error (`ENOSPC`, `EIO`, ...), or undefined. */
export function errnoCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  const code = error.code;
  return typeof code === 'string' ? code : undefined;
}
