// What the lock state machine returns from apply and query: a JSON value, or a refusal with a
// stable code. The same on every replica, so Raft's session table can answer retries with it.
import type { LockRefusalCode } from './errors.js';

export type LockResult<Value = unknown> =
  | { readonly ok: true; readonly value: Value }
  | { readonly ok: false; readonly code: LockRefusalCode; readonly message: string };

export function ok<Value>(value: Value): { ok: true; value: Value } {
  return { ok: true, value };
}

export function fail(code: LockRefusalCode, message: string): LockResult<never> {
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

/** Length of a string in UTF-8 bytes. */
export function utf8Bytes(text: string): number {
  return encoder.encode(text).length;
}
