// What the queue machine returns from apply and query: a JSON value, or a refusal with a stable
// code (raft's MachineResult narrowed to the queue codes).
import { refusal, type MachineResult } from '@distsync/raft';
import type { QueueErrorCode } from './errors.js';

export { ok } from '@distsync/raft';

export type QueueResult<Value = unknown> = MachineResult<QueueErrorCode, Value>;

export function fail(
  code: QueueErrorCode,
  message: string,
): { ok: false; code: QueueErrorCode; message: string } {
  return refusal(code, message);
}
