// What the directory returns from apply and query: a JSON value, or a domain error with a stable
// code. The same on every replica, so it can live in Raft's session table. (The shape of
// apps/node's ServiceResult, copied: a package never imports the server.)
import type { CacheErrorCode } from './errors.js';

export type CacheResult<Value = unknown> =
  | { readonly ok: true; readonly value: Value }
  | { readonly ok: false; readonly code: CacheErrorCode; readonly message: string };

export function ok<Value>(value: Value): { ok: true; value: Value } {
  return { ok: true, value };
}

export function fail(code: CacheErrorCode, message: string): CacheResult<never> {
  return { ok: false, code, message };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

export function decodeJson(bytes: Uint8Array): unknown {
  return JSON.parse(decoder.decode(bytes)) as unknown;
}

/** The UTF-8 size of a value's JSON text: what limits and the byte-bounded LRU count. */
export function jsonBytes(value: unknown): number {
  return value === undefined ? 0 : encoder.encode(JSON.stringify(value)).length;
}
