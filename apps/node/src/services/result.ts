// What service state machines return from apply and query: a JSON value, or a domain error with
// one of the node's codes. The same on every replica, so it can live in Raft's session table.
import type { NodeErrorCode } from '../errors.js';

export type ServiceResult<Value = unknown> =
  | { readonly ok: true; readonly value: Value }
  | { readonly ok: false; readonly code: NodeErrorCode; readonly message: string };

export function ok<Value>(value: Value): { ok: true; value: Value } {
  return { ok: true, value };
}

export function fail(code: NodeErrorCode, message: string): ServiceResult<never> {
  return { ok: false, code, message };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Snapshots of the built-in machines are JSON in UTF-8. */
export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

export function decodeJson(bytes: Uint8Array): unknown {
  return JSON.parse(decoder.decode(bytes)) as unknown;
}
