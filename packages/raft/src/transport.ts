// The transport is an interface owned by its consumer, the Raft host (STYLE.md 14). The
// WebSocket implementation lives in @distsync/transport-ws and satisfies it structurally; tests
// and the simulator use in-memory implementations.
import type { RaftMessage } from './messages.js';

export interface Transport {
  /**
   * Hands messages to the network: best effort, never blocks, never throws for a missing or
   * slow peer (Raft retries through its own timers). Messages to one peer keep their order.
   */
  send(messages: readonly RaftMessage[]): void;
  /**
   * Registers the one receiver of inbound messages, already validated against
   * `RaftMessageSchema`. Returns a function that unregisters it. The handler is cheap and never
   * throws (RaftNode steps the core and defers the rest), so a transport may call it straight
   * from its socket callbacks; it should not call it from inside its own `send`.
   */
  onMessage(handler: (message: RaftMessage) => void): () => void;
}
