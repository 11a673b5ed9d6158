// The `queue` state machine (DESIGN.md "Queue"): named queues of partitions placed by a
// consistent-hash ring, priorities, delays, leases with receipts, dead letters, dedup and stats.
// Deterministic: time comes only from ApplyContext.timeMs, and visibility timeouts and delays
// fire through entries the leader proposes when nextDeadline() is due. Every apply first runs
// the timers that are due at its time, so an ack that arrives after its lease ran out is refused
// the same way on every replica whether or not the timer entry came first.
import { runToEnd, type ApplyContext, type StateMachine } from '@distsync/raft';
import {
  QueueCommandSchema,
  QueueQuerySchema,
  type BatchableCommand,
  type MessageInput,
  type QueueCommand,
  type QueueOptionsInput,
  type QueueQuery,
} from './messages.js';
import {
  DEAD_LETTER_SUFFIX,
  DEFAULT_QUEUE_LIMITS,
  DEFAULT_QUEUE_OPTIONS,
  isDeadLetterName,
  resolveQueueOptions,
  sameOptions,
  type QueueLimits,
  type QueueOptions,
} from './options.js';
import {
  DEFAULT_SNAPSHOT_SLICE_ROWS,
  QueueState,
  type DeliveryRecord,
  type StoredMessage,
} from './queue-state.js';
import { fail, ok, type QueueResult } from './result.js';
import { beginSnapshot, decodeSnapshot } from './snapshot.js';
import { TimerHeap } from './structures.js';

/**
 * What the queue needs of client sessions: liveness and the end of each. `apps/node`'s
 * `sessions.directory` satisfies it structurally.
 */
export interface QueueSessions {
  isLive(sessionId: string): boolean;
  onEnded(
    listener: (sessionId: string, reason: 'expired' | 'deleted', context: ApplyContext) => void,
  ): () => void;
}

export interface QueueMachineOptions {
  readonly sessions?: QueueSessions;
  readonly limits?: Partial<QueueLimits>;
  /** Options of queues created on first use (and the base of explicit ones). */
  readonly defaults?: Partial<QueueOptions>;
  /**
   * Messages per slice of an incremental snapshot (`beginSnapshot`), dedup ids four times as
   * many. Default 500 (a few milliseconds); tests set 1 to interleave commands with every row.
   */
  readonly snapshotSliceRows?: number;
}

/** A message as a receive hands it out. */
export interface DeliveredMessage {
  readonly id: string;
  readonly key?: string;
  readonly body: unknown;
  readonly headers: Readonly<Record<string, string>>;
  readonly priority: number;
  readonly receipt: string;
  readonly deliveryCount: number;
  readonly enqueuedAtMs: number;
}

export type AvailableListener = (queue: string) => void;

export interface QueueStateMachine extends StateMachine<QueueCommand, QueueQuery, QueueResult> {
  /** Local event: `queue` got ready messages in the entry just applied (wakes long polls). */
  onAvailable(listener: AvailableListener): () => void;
  /** Ready messages of a queue on this replica (0 for an unknown queue). */
  readyCount(queue: string): number;
  /** Queues and messages held by this replica (for gauges). */
  totals(): { queues: number; messages: number; inFlight: number };
  /** Detaches from the sessions directory. */
  close(): void;
}

export function encodeReceipt(input: {
  queue: string;
  seq: number;
  delivery: number;
  id: string;
}): string {
  return `${input.queue}:${input.seq}:${input.delivery}:${input.id}`;
}

export function decodeReceipt(
  receipt: string,
): { queue: string; seq: number; delivery: number; id: string } | undefined {
  const parts = receipt.split(':');
  if (parts.length < 4) return undefined;
  const [queue = '', seqText = '', deliveryText = ''] = parts;
  const seq = Number(seqText);
  const delivery = Number(deliveryText);
  if (!Number.isSafeInteger(seq) || seq < 1 || !Number.isSafeInteger(delivery) || delivery < 1) {
    return undefined;
  }
  if (queue === '' || `${seq}` !== seqText || `${delivery}` !== deliveryText) return undefined;
  return { queue, seq, delivery, id: parts.slice(3).join(':') };
}

/** UTF-8 length of a string without encoding it (a lone surrogate counts 3, as encoders write). */
function utf8Length(text: string): number {
  let bytes = 0;
  for (let index = 0; index < text.length; index += 1) {
    const unit = text.charCodeAt(index);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && index + 1 < text.length) {
      const next = text.charCodeAt(index + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        index += 1;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

function messageBytes(input: MessageInput): number {
  return utf8Length(JSON.stringify([input.body, input.headers ?? {}]));
}

export function createQueueStateMachine(options: QueueMachineOptions = {}): QueueStateMachine {
  const limits: QueueLimits = { ...DEFAULT_QUEUE_LIMITS, ...options.limits };
  const defaults: QueueOptions = { ...DEFAULT_QUEUE_OPTIONS, ...options.defaults };
  const sessions = options.sessions;
  const snapshotSliceRows = options.snapshotSliceRows ?? DEFAULT_SNAPSHOT_SLICE_ROWS;
  if (!Number.isInteger(snapshotSliceRows) || snapshotSliceRows < 1) {
    throw new RangeError(
      `snapshotSliceRows must be a positive integer (got ${String(snapshotSliceRows)})`,
    );
  }
  const state = {
    queues: new Map<string, QueueState>(),
    nextSeq: 1,
    messageCount: 0,
    lastTimeMs: 0,
  };
  const timers = new TimerHeap();
  /** Consumer session -> `${queue}\0${seq}` of its leases (stale entries are skipped). */
  const consumers = new Map<string, Set<string>>();
  const availableListeners = new Set<AvailableListener>();
  const announced = new Set<string>();

  // ---- helpers -------------------------------------------------------------------------------

  function makeReady(queue: QueueState, message: StoredMessage): void {
    queue.makeReady(message);
    announced.add(queue.name);
  }

  function createQueue(
    name: string,
    input: QueueOptionsInput | undefined,
    timeMs: number,
  ): QueueResult<QueueState> {
    const existing = state.queues.get(name);
    if (existing !== undefined) return ok(existing);
    if (state.queues.size >= limits.maxQueues) {
      return fail('LIMIT_REACHED', `maxQueues (${limits.maxQueues}) reached`);
    }
    const queue = new QueueState({
      name,
      options: resolveQueueOptions(defaults, input),
      createdAtMs: timeMs,
      snapshotSliceRows,
    });
    state.queues.set(name, queue);
    return ok(queue);
  }

  function deadLetterQueue(source: QueueState, timeMs: number): QueueState {
    const name = `${source.name}${DEAD_LETTER_SUFFIX}`;
    const existing = state.queues.get(name);
    if (existing !== undefined) return existing;
    // A dead-letter queue is never full and never dead-letters itself: a move cannot fail.
    const queue = new QueueState({
      name,
      options: {
        ...source.options,
        maxDeliveries: 0,
        maxLength: Number.MAX_SAFE_INTEGER,
        dedupWindowMs: 0,
      },
      createdAtMs: timeMs,
      snapshotSliceRows,
    });
    state.queues.set(name, queue);
    return queue;
  }

  function record(
    message: StoredMessage,
    input: { outcome: DeliveryRecord['outcome']; atMs: number },
  ): void {
    const lease = message.lease;
    if (lease === undefined) return;
    message.history.push({
      delivery: lease.delivery,
      deliveredAtMs: lease.deliveredAtMs,
      ...(lease.consumer === undefined ? {} : { consumer: lease.consumer }),
      outcome: input.outcome,
      atMs: input.atMs,
    });
    if (message.history.length > limits.maxHistoryEntries) message.history.shift();
  }

  /** Moves a message to `<queue>.dlq` with its payload, headers and delivery history. */
  function moveToDeadLetter(
    queue: QueueState,
    message: StoredMessage,
    input: { reason: 'maxDeliveries' | 'rejected'; timeMs: number },
  ): void {
    queue.remove(message);
    queue.counters.deadLettered += 1;
    const target = deadLetterQueue(queue, input.timeMs);
    const seq = state.nextSeq++;
    const moved: StoredMessage = {
      seq,
      id: message.id,
      ...(message.key === undefined ? {} : { key: message.key }),
      body: message.body,
      headers: message.headers,
      priority: message.priority,
      partition:
        message.key === undefined
          ? target.partitionFor(undefined)
          : target.ring.partitionOf(message.key),
      bytes: message.bytes,
      enqueuedAtMs: input.timeMs,
      state: 'ready',
      availableAtMs: input.timeMs,
      deliveries: 0,
      history: message.history,
      deadLetter: { sourceQueue: queue.name, reason: input.reason, atMs: input.timeMs },
    };
    target.messages.set(seq, moved);
    target.counters.enqueued += 1;
    target.enqueueRate.add(input.timeMs);
    makeReady(target, moved);
  }

  /** A delivery ended without an ack: deliver again (after `delayMs`) or dead-letter. */
  function settleUnacked(
    queue: QueueState,
    message: StoredMessage,
    input: { outcome: DeliveryRecord['outcome']; timeMs: number; delayMs: number },
  ): void {
    queue.willChange(message);
    record(message, { outcome: input.outcome, atMs: input.timeMs });
    queue.inFlight -= 1;
    message.state = 'delayed';
    queue.delayed += 1;
    const max = queue.options.maxDeliveries;
    if (input.outcome === 'rejected' || (max > 0 && message.deliveries >= max)) {
      moveToDeadLetter(queue, message, {
        reason: input.outcome === 'rejected' ? 'rejected' : 'maxDeliveries',
        timeMs: input.timeMs,
      });
      return;
    }
    if (input.delayMs > 0) {
      message.lease = undefined;
      message.availableAtMs = input.timeMs + input.delayMs;
      timers.push({
        atMs: message.availableAtMs,
        queue: queue.name,
        seq: message.seq,
        delivery: 0,
      });
      return;
    }
    queue.delayed -= 1;
    makeReady(queue, message);
  }

  /** Runs every timer due at `timeMs`: expired leases and delays that have passed. */
  function runTimers(timeMs: number): number {
    let fired = 0;
    for (
      let timer = timers.peek();
      timer !== undefined && timer.atMs <= timeMs;
      timer = timers.peek()
    ) {
      timers.pop();
      const queue = state.queues.get(timer.queue);
      const message = queue?.messages.get(timer.seq);
      if (queue === undefined || message === undefined) continue;
      if (timer.delivery === 0) {
        if (message.state !== 'delayed' || message.availableAtMs !== timer.atMs) continue;
        queue.delayed -= 1;
        makeReady(queue, message);
        fired += 1;
        continue;
      }
      const lease = message.lease;
      if (
        message.state !== 'inflight' ||
        lease?.delivery !== timer.delivery ||
        lease.expiresAtMs !== timer.atMs
      )
        continue;
      queue.counters.expired += 1;
      settleUnacked(queue, message, { outcome: 'expired', timeMs, delayMs: 0 });
      fired += 1;
    }
    for (const queue of state.queues.values()) queue.pruneDedup(timeMs);
    return fired;
  }

  // ---- operations ----------------------------------------------------------------------------

  function send(
    queueName: string,
    inputs: readonly MessageInput[],
    context: ApplyContext,
  ): QueueResult {
    if (isDeadLetterName(queueName)) {
      return fail(
        'BAD_REQUEST',
        `${queueName} is a dead-letter queue: only its source queue fills it`,
      );
    }
    if (inputs.length > limits.maxBatch) {
      return fail('LIMIT_REACHED', `a batch holds at most maxBatch (${limits.maxBatch}) messages`);
    }
    const created = createQueue(queueName, undefined, context.timeMs);
    if (!created.ok) return created;
    const queue = created.value;
    const ids = inputs.map((input, index) => input.id ?? `${context.index}-${index}`);
    // Validate the whole batch first: a batch is enqueued entirely or not at all.
    const fresh = new Set<string>();
    const sizes = inputs.map(messageBytes);
    for (let index = 0; index < inputs.length; index += 1) {
      const bytes = sizes[index] ?? 0;
      if (bytes > queue.options.maxMessageBytes) {
        return fail(
          'TOO_LARGE',
          `message ${index} is ${bytes} bytes; ${queueName} takes at most ${queue.options.maxMessageBytes}`,
        );
      }
      const id = ids[index] ?? '';
      if (!queue.isDuplicate(id, context.timeMs)) fresh.add(id);
    }
    if (queue.messages.size + fresh.size > queue.options.maxLength) {
      return fail(
        'QUEUE_FULL',
        `${queueName} holds ${queue.messages.size} of maxLength ${queue.options.maxLength} messages (overflow policy: reject)`,
      );
    }
    if (state.messageCount + fresh.size > limits.maxMessages) {
      return fail('LIMIT_REACHED', `maxMessages (${limits.maxMessages}) reached`);
    }
    const results = inputs.map((input, index) => {
      const id = ids[index] ?? '';
      if (!fresh.delete(id)) {
        queue.counters.duplicates += 1;
        return { id, duplicate: true };
      }
      enqueue(queue, { input, id, context, bytes: sizes[index] ?? 0 });
      return { id, duplicate: false };
    });
    return ok({ messages: results });
  }

  function enqueue(
    queue: QueueState,
    input: { input: MessageInput; id: string; context: ApplyContext; bytes: number },
  ): void {
    const { context, id } = input;
    const seq = state.nextSeq++;
    const delayMs = input.input.delayMs ?? 0;
    const message: StoredMessage = {
      seq,
      id,
      ...(input.input.key === undefined ? {} : { key: input.input.key }),
      body: input.input.body,
      headers: input.input.headers ?? {},
      priority: input.input.priority ?? 0,
      partition: queue.partitionFor(input.input.key),
      bytes: input.bytes,
      enqueuedAtMs: context.timeMs,
      state: 'delayed',
      availableAtMs: context.timeMs + delayMs,
      deliveries: 0,
      history: [],
    };
    queue.messages.set(seq, message);
    queue.ids.set(id, seq);
    queue.remember(id, { timeMs: context.timeMs, maxIds: limits.maxDedupIds });
    queue.counters.enqueued += 1;
    queue.enqueueRate.add(context.timeMs);
    state.messageCount += 1;
    if (delayMs > 0) {
      queue.delayed += 1;
      timers.push({ atMs: message.availableAtMs, queue: queue.name, seq, delivery: 0 });
    } else {
      makeReady(queue, message);
    }
  }

  function receive(
    command: Extract<QueueCommand, { op: 'receive' }>,
    context: ApplyContext,
  ): QueueResult {
    const consumer = command.consumer;
    if (consumer !== undefined && sessions !== undefined && !sessions.isLive(consumer)) {
      return fail(
        'NOT_FOUND',
        `no session ${consumer} (expired or deleted): create one to consume`,
      );
    }
    const queue = state.queues.get(command.queue);
    if (queue === undefined) return ok({ messages: [] });
    const max = Math.min(command.max ?? 1, limits.maxReceive);
    const visibilityTimeoutMs = command.visibilityTimeoutMs ?? queue.options.visibilityTimeoutMs;
    const delivered: DeliveredMessage[] = [];
    while (delivered.length < max) {
      const message = queue.takeReady();
      if (message === undefined) break;
      queue.willChange(message);
      message.deliveries += 1;
      message.state = 'inflight';
      message.lease = {
        delivery: message.deliveries,
        deliveredAtMs: context.timeMs,
        expiresAtMs: context.timeMs + visibilityTimeoutMs,
        ...(consumer === undefined ? {} : { consumer }),
      };
      queue.inFlight += 1;
      queue.counters.delivered += 1;
      queue.dequeueRate.add(context.timeMs);
      timers.push({
        atMs: message.lease.expiresAtMs,
        queue: queue.name,
        seq: message.seq,
        delivery: message.deliveries,
      });
      if (consumer !== undefined) {
        let held = consumers.get(consumer);
        if (held === undefined) consumers.set(consumer, (held = new Set()));
        held.add(`${queue.name}\u0000${message.seq}`);
      }
      delivered.push(deliveredView(queue, message));
    }
    return ok({ messages: delivered });
  }

  function deliveredView(queue: QueueState, message: StoredMessage): DeliveredMessage {
    return {
      id: message.id,
      ...(message.key === undefined ? {} : { key: message.key }),
      body: message.body,
      headers: message.headers,
      priority: message.priority,
      receipt: encodeReceipt({
        queue: queue.name,
        seq: message.seq,
        delivery: message.deliveries,
        id: message.id,
      }),
      deliveryCount: message.deliveries,
      enqueuedAtMs: message.enqueuedAtMs,
    };
  }

  /** The in-flight message a receipt names, or why it does not. */
  function leased(receipt: string): QueueResult<{ queue: QueueState; message: StoredMessage }> {
    const decoded = decodeReceipt(receipt);
    if (decoded === undefined) return fail('BAD_REQUEST', 'not a receipt this queue issued');
    const queue = state.queues.get(decoded.queue);
    const message = queue?.messages.get(decoded.seq);
    if (queue === undefined || message?.id !== decoded.id) {
      return fail(
        'STALE_RECEIPT',
        `message ${decoded.id} is no longer in ${decoded.queue} (acked, purged or dead-lettered)`,
      );
    }
    if (message.state !== 'inflight' || message.lease?.delivery !== decoded.delivery) {
      return fail(
        'STALE_RECEIPT',
        `receipt of delivery ${decoded.delivery} of ${decoded.id} is stale (the lease expired or was settled; delivery ${message.deliveries} is the latest)`,
      );
    }
    return ok({ queue, message });
  }

  function ack(receipt: string, context: ApplyContext): QueueResult {
    const found = leased(receipt);
    if (!found.ok) return found;
    const { queue, message } = found.value;
    queue.remove(message);
    state.messageCount -= 1;
    queue.counters.acked += 1;
    queue.ackRate.add(context.timeMs);
    return ok({});
  }

  function nack(
    command: Extract<QueueCommand, { op: 'nack' }>,
    context: ApplyContext,
  ): QueueResult {
    const found = leased(command.receipt);
    if (!found.ok) return found;
    const { queue, message } = found.value;
    queue.counters.nacked += 1;
    const requeue = command.requeue ?? true;
    const before = state.queues.get(`${queue.name}${DEAD_LETTER_SUFFIX}`)?.messages.size ?? 0;
    settleUnacked(queue, message, {
      outcome: requeue ? 'nacked' : 'rejected',
      timeMs: context.timeMs,
      delayMs: command.delayMs ?? 0,
    });
    const after = state.queues.get(`${queue.name}${DEAD_LETTER_SUFFIX}`)?.messages.size ?? 0;
    return ok({ deadLettered: after > before });
  }

  function extend(
    command: Extract<QueueCommand, { op: 'extend' }>,
    context: ApplyContext,
  ): QueueResult {
    const found = leased(command.receipt);
    if (!found.ok) return found;
    const { queue, message } = found.value;
    const lease = message.lease;
    if (lease === undefined) return fail('STALE_RECEIPT', 'no lease');
    queue.willChange(message);
    lease.expiresAtMs = context.timeMs + command.visibilityTimeoutMs;
    timers.push({
      atMs: lease.expiresAtMs,
      queue: queue.name,
      seq: message.seq,
      delivery: lease.delivery,
    });
    return ok({ expiresAtMs: lease.expiresAtMs });
  }

  function create(
    command: Extract<QueueCommand, { op: 'create' }>,
    context: ApplyContext,
  ): QueueResult {
    if (isDeadLetterName(command.queue)) {
      return fail(
        'BAD_REQUEST',
        `names ending in ${DEAD_LETTER_SUFFIX} are kept for dead-letter queues`,
      );
    }
    const wanted = resolveQueueOptions(defaults, command.options);
    const existing = state.queues.get(command.queue);
    if (existing !== undefined) {
      if (command.options !== undefined && !sameOptions(existing.options, wanted)) {
        return fail(
          'CONFLICT',
          `${command.queue} exists with other options: ${JSON.stringify(existing.options)}`,
        );
      }
      return ok({ created: false, options: existing.options });
    }
    const created = createQueue(command.queue, command.options, context.timeMs);
    if (!created.ok) return created;
    return ok({ created: true, options: created.value.options });
  }

  function redrive(
    command: Extract<QueueCommand, { op: 'redrive' }>,
    context: ApplyContext,
  ): QueueResult {
    const source = state.queues.get(command.queue);
    const dlq = state.queues.get(`${command.queue}${DEAD_LETTER_SUFFIX}`);
    if (source === undefined) return fail('NOT_FOUND', `no queue ${command.queue}`);
    if (dlq === undefined) return ok({ redriven: 0 });
    let redriven = 0;
    const max = command.max ?? Number.MAX_SAFE_INTEGER;
    while (redriven < max) {
      const message = dlq.takeReady();
      if (message === undefined) break;
      // takeReady took it off the ready lists; the message itself leaves the dead-letter queue.
      dlq.willChange(message);
      dlq.messages.delete(message.seq);
      const seq = state.nextSeq++;
      const moved: StoredMessage = {
        ...message,
        seq,
        partition:
          message.key === undefined
            ? source.partitionFor(undefined)
            : source.ring.partitionOf(message.key),
        enqueuedAtMs: context.timeMs,
        availableAtMs: context.timeMs,
        deliveries: 0,
        lease: undefined,
        deadLetter: undefined,
        state: 'ready',
      };
      source.messages.set(seq, moved);
      source.ids.set(moved.id, seq);
      source.counters.redriven += 1;
      makeReady(source, moved);
      redriven += 1;
    }
    return ok({ redriven });
  }

  function purge(queueName: string): QueueResult {
    const queue = state.queues.get(queueName);
    if (queue === undefined) return fail('NOT_FOUND', `no queue ${queueName}`);
    const purged = queue.messages.size;
    for (const message of [...queue.messages.values()]) queue.remove(message);
    state.messageCount -= purged;
    queue.counters.purged += purged;
    return ok({ purged });
  }

  function deleteQueue(queueName: string): QueueResult {
    const queue = state.queues.get(queueName);
    if (queue === undefined) return fail('NOT_FOUND', `no queue ${queueName}`);
    state.messageCount -= queue.messages.size;
    state.queues.delete(queueName);
    return ok({ deleted: true });
  }

  function applyBatchable(command: BatchableCommand, context: ApplyContext): QueueResult {
    switch (command.op) {
      case 'send':
        return sendOne(command.queue, command.message, context);
      case 'sendBatch':
        return send(command.queue, command.messages, context);
      case 'ack':
        return ack(command.receipt, context);
      case 'nack':
        return nack(command, context);
      case 'extend':
        return extend(command, context);
    }
  }

  function sendOne(queueName: string, message: MessageInput, context: ApplyContext): QueueResult {
    const result = send(queueName, [message], context);
    if (!result.ok) return result;
    const [first] = (result.value as { messages: { id: string; duplicate: boolean }[] }).messages;
    return ok(first);
  }

  function dispatch(command: QueueCommand, context: ApplyContext): QueueResult {
    switch (command.op) {
      case 'tick':
        return ok({});
      case 'create':
        return create(command, context);
      case 'receive':
        return receive(command, context);
      case 'redrive':
        return redrive(command, context);
      case 'purge':
        return purge(command.queue);
      case 'delete':
        return deleteQueue(command.queue);
      case 'batch': {
        if (command.ops.length > limits.maxBatch) {
          return fail(
            'LIMIT_REACHED',
            `a batch holds at most maxBatch (${limits.maxBatch}) operations`,
          );
        }
        return ok({ results: command.ops.map((op) => applyBatchable(op, context)) });
      }
      default:
        return applyBatchable(command, context);
    }
  }

  function apply(command: QueueCommand, context: ApplyContext): QueueResult {
    state.lastTimeMs = Math.max(state.lastTimeMs, context.timeMs);
    runTimers(context.timeMs);
    const result = dispatch(command, context);
    announce();
    return result;
  }

  function announce(): void {
    if (announced.size === 0) return;
    const names = [...announced];
    announced.clear();
    for (const name of names) for (const listener of availableListeners) listener(name);
  }

  // ---- consumers -----------------------------------------------------------------------------

  function releaseConsumer(sessionId: string, context: ApplyContext): void {
    const held = consumers.get(sessionId);
    consumers.delete(sessionId);
    if (held === undefined) return;
    runTimers(context.timeMs);
    for (const entry of [...held].sort()) {
      const [queueName = '', seqText = ''] = entry.split('\u0000');
      const queue = state.queues.get(queueName);
      const message = queue?.messages.get(Number(seqText));
      if (
        queue === undefined ||
        message?.state !== 'inflight' ||
        message.lease?.consumer !== sessionId
      )
        continue;
      settleUnacked(queue, message, { outcome: 'released', timeMs: context.timeMs, delayMs: 0 });
    }
    announce();
  }

  const detach = sessions?.onEnded((sessionId, _reason, context) => {
    releaseConsumer(sessionId, context);
  });

  // ---- queries -------------------------------------------------------------------------------

  function stats(queueName: string, nowMs: number): QueueResult {
    const queue = state.queues.get(queueName);
    if (queue === undefined) return fail('NOT_FOUND', `no queue ${queueName}`);
    const oldest = queue.oldestReadyAtMs();
    const dlq = state.queues.get(`${queueName}${DEAD_LETTER_SUFFIX}`);
    return ok({
      queue: queueName,
      options: queue.options,
      depth: queue.readyCount,
      depthByPriority: [...queue.readyByPriority],
      depthByPartition: queue.depthByPartition(),
      inFlight: queue.inFlight,
      delayed: queue.delayed,
      total: queue.messages.size,
      dlqDepth: dlq?.messages.size ?? 0,
      counters: { ...queue.counters },
      rates: {
        enqueuePerSecond: queue.enqueueRate.perSecond(nowMs),
        dequeuePerSecond: queue.dequeueRate.perSecond(nowMs),
        ackPerSecond: queue.ackRate.perSecond(nowMs),
      },
      oldestAgeMs: oldest === undefined ? null : Math.max(0, nowMs - oldest),
    });
  }

  function peek(queueName: string, max: number): QueueResult {
    const queue = state.queues.get(queueName);
    if (queue === undefined) return fail('NOT_FOUND', `no queue ${queueName}`);
    const messages = [...queue.messages.values()].slice(0, max).map((message) => ({
      id: message.id,
      ...(message.key === undefined ? {} : { key: message.key }),
      body: message.body,
      headers: message.headers,
      priority: message.priority,
      state: message.state,
      deliveries: message.deliveries,
      history: message.history,
      ...(message.deadLetter === undefined ? {} : { deadLetter: message.deadLetter }),
    }));
    return ok({ messages });
  }

  function query(request: QueueQuery): QueueResult {
    switch (request.op) {
      case 'stats':
        return stats(request.queue, request.nowMs ?? state.lastTimeMs);
      case 'list':
        return ok({
          queues: [...state.queues.values()]
            .map((queue) => ({
              name: queue.name,
              depth: queue.readyCount,
              inFlight: queue.inFlight,
              total: queue.messages.size,
            }))
            .sort((a, b) => (a.name < b.name ? -1 : 1)),
        });
      case 'peek':
        return peek(request.queue, request.max ?? 100);
    }
  }

  function nextDeadline(): number | undefined {
    // Skip timers made stale by acks and extends so the leader does not propose empty ticks.
    for (let timer = timers.peek(); timer !== undefined; timer = timers.peek()) {
      const message = state.queues.get(timer.queue)?.messages.get(timer.seq);
      const live =
        message !== undefined &&
        (timer.delivery === 0
          ? message.state === 'delayed' && message.availableAtMs === timer.atMs
          : message.state === 'inflight' &&
            message.lease?.delivery === timer.delivery &&
            message.lease.expiresAtMs === timer.atMs);
      if (live) return timer.atMs;
      timers.pop();
    }
    return undefined;
  }

  function restore(bytes: Uint8Array): void {
    const decoded = decodeSnapshot(bytes, snapshotSliceRows);
    state.queues = decoded.queues;
    state.nextSeq = decoded.nextSeq;
    state.lastTimeMs = decoded.lastTimeMs;
    state.messageCount = 0;
    timers.clear();
    consumers.clear();
    for (const queue of state.queues.values()) {
      state.messageCount += queue.messages.size;
      for (const message of queue.messages.values()) {
        if (message.state === 'delayed') {
          timers.push({
            atMs: message.availableAtMs,
            queue: queue.name,
            seq: message.seq,
            delivery: 0,
          });
        } else if (message.state === 'inflight' && message.lease !== undefined) {
          timers.push({
            atMs: message.lease.expiresAtMs,
            queue: queue.name,
            seq: message.seq,
            delivery: message.lease.delivery,
          });
          const consumer = message.lease.consumer;
          if (consumer !== undefined) {
            let held = consumers.get(consumer);
            if (held === undefined) consumers.set(consumer, (held = new Set()));
            held.add(`${queue.name}\u0000${message.seq}`);
          }
        }
      }
    }
  }

  return {
    name: 'queue',
    commandSchema: QueueCommandSchema,
    querySchema: QueueQuerySchema,
    apply,
    query,
    nextDeadline,
    timerCommand: (nowMs) => ({ op: 'tick', nowMs }),
    // Captured at once, written in slices while entries apply (copy-on-write in QueueState).
    beginSnapshot: () => beginSnapshot(state),
    snapshot: () => runToEnd(beginSnapshot(state)),
    restore,
    onAvailable: (listener) => {
      availableListeners.add(listener);
      return () => {
        availableListeners.delete(listener);
      };
    },
    readyCount: (queue) => state.queues.get(queue)?.readyCount ?? 0,
    totals: () => {
      let inFlight = 0;
      for (const queue of state.queues.values()) inFlight += queue.inFlight;
      return { queues: state.queues.size, messages: state.messageCount, inFlight };
    },
    close: () => {
      detach?.();
    },
  };
}
