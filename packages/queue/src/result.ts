// What the queue machine returns from apply and query: a JSON value, or a domain error with a
// stable code. The same on every replica, so it can live in Raft's session table.
import type { QueueErrorCode } from './errors.js';

export type QueueResult<Value = unknown> =
  | { readonly ok: true; readonly value: Value }
  | { readonly ok: false; readonly code: QueueErrorCode; readonly message: string };

export function ok<Value>(value: Value): { ok: true; value: Value } {
  return { ok: true, value };
}

export function fail(
  code: QueueErrorCode,
  message: string,
): { ok: false; code: QueueErrorCode; message: string } {
  return { ok: false, code, message };
}
