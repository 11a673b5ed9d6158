// What service state machines return from apply and query: a JSON value, or a refusal with one
// of the node's codes (raft's MachineResult narrowed to NodeErrorCode).
import { refusal, type MachineResult } from '@distsync/raft';
import type { NodeErrorCode } from '../errors.js';

export { decodeJson, encodeJson, ok } from '@distsync/raft';

export type ServiceResult<Value = unknown> = MachineResult<NodeErrorCode, Value>;

export function fail(code: NodeErrorCode, message: string): ServiceResult<never> {
  return refusal(code, message);
}
