// What the directory returns from apply and query: a JSON value, or a refusal with a stable code
// (raft's MachineResult narrowed to the cache codes).
import { refusal, utf8Length, type MachineResult } from '@distsync/raft';
import type { CacheErrorCode } from './errors.js';

export { decodeJson, encodeJson, ok } from '@distsync/raft';

export type CacheResult<Value = unknown> = MachineResult<CacheErrorCode, Value>;

export function fail(code: CacheErrorCode, message: string): CacheResult<never> {
  return refusal(code, message);
}

/** The UTF-8 size of a value's JSON text: what limits and the byte-bounded LRU count. */
export function jsonBytes(value: unknown): number {
  return value === undefined ? 0 : utf8Length(JSON.stringify(value));
}
