// What the lock state machine returns from apply and query: a JSON value, or a refusal with a
// stable code (raft's MachineResult narrowed to the lock codes).
import { refusal, type MachineResult } from '@distsync/raft';
import type { LockRefusalCode } from './errors.js';

export { decodeJson, encodeJson, ok, utf8Length as utf8Bytes } from '@distsync/raft';

export type LockResult<Value = unknown> = MachineResult<LockRefusalCode, Value>;

export function fail(code: LockRefusalCode, message: string): LockResult<never> {
  return refusal(code, message);
}
