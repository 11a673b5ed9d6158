// The public entry of @distsync/queue: the replicated queue state machine and its client.
export { QueueError } from './errors.js';
export type { QueueErrorCode } from './errors.js';
export { fnv1a32, HashRing, VIRTUAL_NODES_PER_PARTITION } from './hash.js';
export {
  BatchableCommandSchema,
  HeadersSchema,
  JsonValueSchema,
  MessageIdSchema,
  MessageInputSchema,
  PrioritySchema,
  QueueClientCommandSchema,
  QueueCommandSchema,
  QueueNameSchema,
  QueueOptionsInputSchema,
  QueueQuerySchema,
  ReceiptSchema,
} from './messages.js';
export type {
  BatchableCommand,
  MessageInput,
  QueueClientCommand,
  QueueCommand,
  QueueOptionsInput,
  QueueQuery,
} from './messages.js';
export { DEAD_LETTER_SUFFIX, DEFAULT_QUEUE_LIMITS, DEFAULT_QUEUE_OPTIONS } from './options.js';
export type { QueueLimits, QueueOptions } from './options.js';
export type { DeadLetterInfo, DeliveryRecord, QueueCounters } from './queue-state.js';
export type { QueueResult } from './result.js';
export { createQueueStateMachine, decodeReceipt, encodeReceipt } from './state-machine.js';
export type {
  AvailableListener,
  DeliveredMessage,
  QueueMachineOptions,
  QueueSessions,
  QueueStateMachine,
} from './state-machine.js';
export {
  DEFAULT_CONSUME_WAIT_MS,
  DEFAULT_PREFETCH,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_SESSION_TTL_MS,
  QueueClient,
} from './client.js';
export type {
  ConsumeOptions,
  QueueClientOptions,
  QueueConnection,
  ReceivedMessage,
  ReceiveOptions,
  SendOptions,
} from './client.js';
