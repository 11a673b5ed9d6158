// queue as a node service (DESIGN.md "Queue"): the @distsync/queue state machine tied to client
// sessions, a runtime whose receive long-polls (answers at once when messages are ready, else
// waits for this replica's "available" event and retries until waitMs), group commit of sends
// and acks, REST routes, metrics and a status summary.
import { Counter, Gauge, type Registry } from 'prom-client';
import { z } from 'zod';
import {
  BatchableCommandSchema,
  createQueueStateMachine,
  decodeReceipt,
  HeadersSchema,
  JsonValueSchema,
  MessageIdSchema,
  MessageInputSchema,
  PrioritySchema,
  QueueClientCommandSchema,
  QueueOptionsInputSchema,
  QueueQuerySchema,
  type QueueLimits,
  type QueueOptions,
  type QueueSessions,
  type QueueStateMachine,
} from '@distsync/queue';
import { apiError, type OperationResult } from '../errors.js';
import { QueueBatcher } from './queue-batcher.js';
import type {
  CommandSession,
  RouteSpec,
  ServiceContext,
  ServiceDefinition,
  ServiceOperations,
  ServiceRuntime,
} from './registry.js';

export interface QueueServiceOptions {
  /** The node's session directory: a consumer's leases are released when its session ends. */
  readonly sessions?: QueueSessions;
  readonly limits?: Partial<QueueLimits>;
  readonly defaults?: Partial<QueueOptions>;
  /** Receives waiting at once on this node; more are refused with UNAVAILABLE. */
  readonly maxWaitingReceives?: number;
  /** Group commit: operations and estimated bytes per Raft entry. */
  readonly batchMaxOps?: number;
  readonly batchMaxBytes?: number;
}

export const QUEUE_MAX_WAITING_RECEIVES = 10_000;
export const QUEUE_BATCH_MAX_OPS = 512;
export const QUEUE_BATCH_MAX_BYTES = 512 * 1024;

const QueueParamsName = (params: Readonly<Record<string, string>>): string => params.name ?? '';

export const QueueSendBodySchema = z.strictObject({
  body: JsonValueSchema,
  id: MessageIdSchema.optional(),
  key: z.string().min(1).max(256).optional(),
  headers: HeadersSchema.optional(),
  priority: PrioritySchema.optional(),
  delayMs: z.number().int().min(0).optional(),
});
export const QueueSendBatchBodySchema = z.strictObject({
  messages: z.array(MessageInputSchema).min(1),
});
export const QueueReceiveBodySchema = z.strictObject({
  max: z.number().int().min(1).max(10_000).optional(),
  waitMs: z.number().int().min(0).max(60_000).optional(),
  visibilityTimeoutMs: z.number().int().min(10).optional(),
  consumer: z.string().min(1).max(128).optional(),
});
export const QueueAckBodySchema = z.strictObject({ receipt: z.string().min(1) });
export const QueueNackBodySchema = z.strictObject({
  receipt: z.string().min(1),
  requeue: z.boolean().optional(),
  delayMs: z.number().int().min(0).optional(),
});
export const QueueExtendBodySchema = z.strictObject({
  receipt: z.string().min(1),
  visibilityTimeoutMs: z.number().int().min(10),
});
export const QueueCreateBodySchema = z.strictObject({
  options: QueueOptionsInputSchema.optional(),
});
export const QueueRedriveBodySchema = z.strictObject({ max: z.number().int().min(1).optional() });

const DeliveredSchema = z.object({
  id: z.string(),
  key: z.string().optional(),
  body: JsonValueSchema,
  headers: z.record(z.string(), z.string()),
  priority: z.number().int(),
  receipt: z.string(),
  deliveryCount: z.number().int(),
  enqueuedAtMs: z.number(),
});

/** A receipt must belong to the queue named in the path. */
function receiptOf(name: string, receipt: string): OperationResult<string> {
  const decoded = decodeReceipt(receipt);
  if (decoded?.queue !== name) {
    return apiError('BAD_REQUEST', `receipt does not belong to queue ${name}`);
  }
  return { ok: true, value: receipt };
}

function messageRoutes(): RouteSpec[] {
  return [
    {
      method: 'post',
      path: '/v1/queues/{name}/messages',
      summary: 'Send a message (created on first use; dedup by id within the window)',
      body: QueueSendBodySchema,
      response: z.object({ id: z.string(), duplicate: z.boolean() }),
      errors: ['QUEUE_FULL', 'TOO_LARGE', 'LIMIT_REACHED'],
      handle: ({ params, body, operations, session }) =>
        operations.command(
          {
            op: 'send',
            queue: QueueParamsName(params),
            message: body as z.infer<typeof QueueSendBodySchema>,
          },
          session,
        ),
    },
    {
      method: 'post',
      path: '/v1/queues/{name}/messages/batch',
      summary: 'Send messages in one command (all or none)',
      body: QueueSendBatchBodySchema,
      response: z.object({
        messages: z.array(z.object({ id: z.string(), duplicate: z.boolean() })),
      }),
      errors: ['QUEUE_FULL', 'TOO_LARGE', 'LIMIT_REACHED'],
      handle: ({ params, body, operations, session }) =>
        operations.command(
          {
            op: 'sendBatch',
            queue: QueueParamsName(params),
            messages: (body as z.infer<typeof QueueSendBatchBodySchema>).messages,
          },
          session,
        ),
    },
    {
      method: 'post',
      path: '/v1/queues/{name}/receive',
      summary: 'Lease up to max messages; waits up to waitMs when none is ready (long poll)',
      body: QueueReceiveBodySchema,
      response: z.object({ messages: z.array(DeliveredSchema) }),
      errors: ['NOT_FOUND'],
      handle: ({ params, body, operations, session }) =>
        operations.command(
          {
            op: 'receive',
            queue: QueueParamsName(params),
            ...(body as z.infer<typeof QueueReceiveBodySchema>),
          },
          session,
        ),
    },
    ...settleRoutes(),
  ];
}

function settleRoutes(): RouteSpec[] {
  const settle = (input: {
    path: string;
    summary: string;
    body: z.ZodType;
    response: z.ZodType;
    build: (receipt: string, body: Record<string, unknown>) => Record<string, unknown>;
  }): RouteSpec => ({
    method: 'post',
    path: input.path,
    summary: input.summary,
    body: input.body,
    response: input.response,
    errors: ['STALE_RECEIPT'],
    handle: ({ params, body, operations, session }) => {
      const typed = body as Record<string, unknown> & { receipt: string };
      const receipt = receiptOf(QueueParamsName(params), typed.receipt);
      if (!receipt.ok) return Promise.resolve(receipt);
      return operations.command(input.build(receipt.value, typed), session);
    },
  });
  return [
    settle({
      path: '/v1/queues/{name}/ack',
      summary: 'Acknowledge a delivery: the message is done',
      body: QueueAckBodySchema,
      response: z.object({}),
      build: (receipt) => ({ op: 'ack', receipt }),
    }),
    settle({
      path: '/v1/queues/{name}/nack',
      summary: 'Give a delivery back: requeue (after delayMs) or, with requeue false, dead-letter',
      body: QueueNackBodySchema,
      response: z.object({ deadLettered: z.boolean() }),
      build: (receipt, body) => ({ ...body, op: 'nack', receipt }),
    }),
    settle({
      path: '/v1/queues/{name}/extend',
      summary: 'Extend a lease to visibilityTimeoutMs from now',
      body: QueueExtendBodySchema,
      response: z.object({ expiresAtMs: z.number() }),
      build: (receipt, body) => ({ ...body, op: 'extend', receipt }),
    }),
  ];
}

function adminRoutes(): RouteSpec[] {
  const OptionsSchema = z.object({
    partitions: z.number().int(),
    visibilityTimeoutMs: z.number().int(),
    maxDeliveries: z.number().int(),
    maxMessageBytes: z.number().int(),
    maxLength: z.number().int(),
    dedupWindowMs: z.number().int(),
  });
  return [
    {
      method: 'put',
      path: '/v1/queues/{name}',
      summary: 'Create a queue (idempotent; 409 CONFLICT when it exists with other options)',
      body: QueueCreateBodySchema,
      response: z.object({ created: z.boolean(), options: OptionsSchema }),
      errors: ['CONFLICT', 'LIMIT_REACHED'],
      handle: ({ params, body, operations, session }) => {
        const options = (body as z.infer<typeof QueueCreateBodySchema>).options;
        return operations.command(
          {
            op: 'create',
            queue: QueueParamsName(params),
            ...(options === undefined ? {} : { options }),
          },
          session,
        );
      },
    },
    {
      method: 'get',
      path: '/v1/queues',
      summary: 'List queues with their depth',
      response: z.object({
        queues: z.array(
          z.object({
            name: z.string(),
            depth: z.number(),
            inFlight: z.number(),
            total: z.number(),
          }),
        ),
      }),
      errors: [],
      handle: ({ operations }) => operations.query({ op: 'list' }),
    },
    {
      method: 'get',
      path: '/v1/queues/{name}/stats',
      summary: 'Depth by priority and partition, in flight, delayed, DLQ depth, rates, oldest age',
      response: z.object({ queue: z.string(), depth: z.number() }).loose(),
      errors: ['NOT_FOUND'],
      handle: ({ params, operations }) =>
        operations.query({ op: 'stats', queue: QueueParamsName(params) }),
    },
    {
      method: 'post',
      path: '/v1/queues/{name}/redrive',
      summary: 'Move dead letters from <name>.dlq back to <name>',
      body: QueueRedriveBodySchema,
      response: z.object({ redriven: z.number().int() }),
      errors: ['NOT_FOUND'],
      handle: ({ params, body, operations, session }) =>
        operations.command(
          {
            op: 'redrive',
            queue: QueueParamsName(params),
            ...(body as z.infer<typeof QueueRedriveBodySchema>),
          },
          session,
        ),
    },
    {
      method: 'post',
      path: '/v1/queues/{name}/purge',
      summary: 'Delete every message of the queue (in-flight receipts become stale)',
      response: z.object({ purged: z.number().int() }),
      errors: ['NOT_FOUND'],
      handle: ({ params, operations, session }) =>
        operations.command({ op: 'purge', queue: QueueParamsName(params) }, session),
    },
    {
      method: 'delete',
      path: '/v1/queues/{name}',
      summary: 'Delete a queue and its messages',
      response: z.object({ deleted: z.boolean() }),
      errors: ['NOT_FOUND'],
      handle: ({ params, operations, session }) =>
        operations.command({ op: 'delete', queue: QueueParamsName(params) }, session),
    },
  ];
}

/** Long-poll waiters per queue, woken by the machine's local "available" event. */
class Waiters {
  readonly #byQueue = new Map<string, Set<() => void>>();
  count = 0;

  wake(queue: string): void {
    const set = this.#byQueue.get(queue);
    if (set === undefined) return;
    this.#byQueue.delete(queue);
    for (const wake of set) wake();
  }

  wakeAll(): void {
    for (const queue of [...this.#byQueue.keys()]) this.wake(queue);
  }

  /** Resolves when `queue` gets messages or after `ms`. */
  wait(queue: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      let set = this.#byQueue.get(queue);
      if (set === undefined) this.#byQueue.set(queue, (set = new Set()));
      this.count += 1;
      const done = (): void => {
        clearTimeout(timer);
        this.#byQueue.get(queue)?.delete(done);
        this.count -= 1;
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
    });
  }
}

interface RuntimeState {
  readonly machine: QueueStateMachine;
  readonly plain: ServiceOperations;
  readonly batcher: QueueBatcher;
  readonly waiters: Waiters;
  readonly maxWaiting: number;
  stopping: boolean;
  longPolls: number;
  readonly wallMs: () => number;
}

async function longPollReceive(
  state: RuntimeState,
  input: {
    payload: Record<string, unknown> & { queue: string };
    session: CommandSession | undefined;
  },
): Promise<OperationResult> {
  const { waitMs, ...command } = input.payload as { waitMs?: number } & Record<string, unknown>;
  const deadline = Date.now() + (typeof waitMs === 'number' ? waitMs : 0);
  // The first attempt keeps the client's seq (a retried receive answers the same leases); the
  // later ones are new commands.
  let session = input.session;
  for (;;) {
    const result = await state.plain.command(command, session);
    session = undefined;
    const got = result.ok ? (result.value as { messages?: unknown[] }).messages : undefined;
    const remaining = deadline - Date.now();
    if (!result.ok || (got !== undefined && got.length > 0) || remaining <= 0 || state.stopping) {
      return result;
    }
    if (state.waiters.count >= state.maxWaiting) {
      return apiError('UNAVAILABLE', `${state.maxWaiting} receives already wait on this node`);
    }
    // Ready messages may have arrived between the answer and now: wait only if there are none.
    if (state.machine.readyCount(input.payload.queue) === 0) {
      state.longPolls += 1;
      await state.waiters.wait(input.payload.queue, remaining);
    }
  }
}

function runtimeOperations(state: RuntimeState): ServiceOperations {
  return {
    command: (payload, session) => {
      const op = (payload as { op?: unknown } | null)?.op;
      if (state.stopping && op === 'receive') {
        return Promise.resolve(apiError('UNAVAILABLE', 'the node is draining'));
      }
      if (op === 'receive') {
        return longPollReceive(state, {
          payload: payload as Record<string, unknown> & { queue: string },
          session,
        });
      }
      const batchable = BatchableCommandSchema.safeParse(payload);
      if (batchable.success) return state.batcher.submit(batchable.data, session);
      return state.plain.command(payload, session);
    },
    query: (payload) => {
      const request = payload as { op?: unknown; nowMs?: unknown };
      // Rates and ages are measured now (leader-stamped times are wall-clock milliseconds).
      if (request.op === 'stats' && request.nowMs === undefined) {
        return state.plain.query({ ...request, nowMs: state.wallMs() });
      }
      return state.plain.query(payload);
    },
  };
}

function registerQueueMetrics(
  registry: Registry,
  input: { machine: QueueStateMachine; runtime: () => RuntimeState | undefined },
): void {
  const { machine, runtime } = input;
  const gauge = (name: string, help: string, read: () => number): void => {
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  };
  gauge('distsync_queue_queues', 'Queues held by this replica', () => machine.totals().queues);
  gauge(
    'distsync_queue_messages',
    'Messages held by this replica (ready, delayed, in flight)',
    () => machine.totals().messages,
  );
  gauge(
    'distsync_queue_in_flight',
    'Messages leased and not yet settled',
    () => machine.totals().inFlight,
  );
  gauge(
    'distsync_queue_waiting_receives',
    'Long-poll receives waiting on this node',
    () => runtime()?.waiters.count ?? 0,
  );
  new Counter({
    name: 'distsync_queue_group_commit_entries_total',
    help: 'Raft entries the queue group commit proposed from this node',
    registers: [registry],
    collect() {
      const entries = runtime()?.batcher.entries ?? 0;
      this.reset();
      this.inc(entries);
    },
  });
  new Counter({
    name: 'distsync_queue_group_commit_operations_total',
    help: 'Sends, acks, nacks and extends carried by those entries',
    registers: [registry],
    collect() {
      const operations = runtime()?.batcher.operations ?? 0;
      this.reset();
      this.inc(operations);
    },
  });
}

export function queueService(options: QueueServiceOptions = {}): ServiceDefinition {
  const machine = createQueueStateMachine({
    ...(options.sessions === undefined ? {} : { sessions: options.sessions }),
    ...(options.limits === undefined ? {} : { limits: options.limits }),
    ...(options.defaults === undefined ? {} : { defaults: options.defaults }),
  });
  let current: RuntimeState | undefined;
  return {
    name: 'queue',
    stateMachine: machine,
    clientCommandSchema: QueueClientCommandSchema,
    clientQuerySchema: QueueQuerySchema,
    routes: [...messageRoutes(), ...adminRoutes()],
    registerMetrics: (registry) => {
      registerQueueMetrics(registry, { machine, runtime: () => current });
    },
    start: (context: ServiceContext): ServiceRuntime => {
      const state: RuntimeState = {
        machine,
        plain: context.operations,
        batcher: new QueueBatcher(context.operations, {
          maxOps: options.batchMaxOps ?? QUEUE_BATCH_MAX_OPS,
          maxBytes: options.batchMaxBytes ?? QUEUE_BATCH_MAX_BYTES,
        }),
        waiters: new Waiters(),
        maxWaiting: options.maxWaitingReceives ?? QUEUE_MAX_WAITING_RECEIVES,
        stopping: false,
        longPolls: 0,
        // The node's wall clock, the one leader stamps come from (a fault-injecting one in tests).
        wallMs: () => context.clock?.wallMs() ?? Date.now(),
      };
      current = state;
      const offAvailable = machine.onAvailable((queue) => {
        state.waiters.wake(queue);
      });
      return {
        operations: runtimeOperations(state),
        status: () => ({
          ...machine.totals(),
          waitingReceives: state.waiters.count,
          longPollWaits: state.longPolls,
          groupCommit: {
            entries: state.batcher.entries,
            operations: state.batcher.operations,
          },
        }),
        stop: () => {
          state.stopping = true;
          offAvailable();
          state.waiters.wakeAll();
          return Promise.resolve();
        },
      };
    },
  };
}
