// The part of RaftCore the host drives. Naming it keeps the loop honest about what it uses and
// lets a test or a benchmark wrap the core (to count calls) without touching the loop.
import type { NodeId, RaftMessage } from '../messages.js';
import type { ConfChange, ConfChangeResult } from '../core/membership.js';
import type {
  ProposeResult,
  RaftCoreOptions,
  RaftStatus,
  ReadIndexResult,
  Ready,
  StepResult,
  TransferResult,
} from '../core/types.js';

export interface CorePort {
  tick(): void;
  step(message: RaftMessage): StepResult;
  propose(data: Uint8Array): ProposeResult;
  readIndex(context: string): ReadIndexResult;
  transferLeadership(to: NodeId): TransferResult;
  proposeConfChange(change: ConfChange): ConfChangeResult;
  hasReady(): boolean;
  ready(): Ready;
  advance(ready: Ready): void;
  status(): RaftStatus;
}

export type CoreFactory = (options: RaftCoreOptions) => CorePort;
