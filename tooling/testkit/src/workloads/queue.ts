// The queue workload: producers send messages with unique ids and a few ordering keys,
// consumers receive (leases), then acknowledge each message; after the heal a drain takes
// what is left. Checked as a total queue (lost, unexpected, duplicated) and per-key order.
import {
  checkPerKeyOrder,
  checkTotalQueue,
  type AckOp,
  type QueueHistory,
  type ReceiveOp,
  type SendOp,
} from '../checkers/queue.js';
import { outcomeOf, requestJson, type HttpOutcome } from '../http.js';
import {
  countOps,
  pause,
  unknownReturn,
  type CheckerReport,
  type Workload,
  type WorkloadContext,
  type WorkloadStats,
} from './types.js';

export interface QueueWorkloadOptions {
  readonly producers?: number;
  readonly consumers?: number;
  readonly keys?: number;
  readonly visibilityTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  /** Longest time the final drain may take. */
  readonly drainMs?: number;
}

const QUEUE = 'tk-q';

interface Delivered {
  readonly id: string;
  readonly receipt: string;
  readonly deliveryCount?: number;
}

export class QueueWorkload implements Workload {
  readonly name = 'queue';
  readonly #options: Required<QueueWorkloadOptions>;
  readonly sends: SendOp[] = [];
  readonly receives: ReceiveOp[] = [];
  readonly acks: AckOp[] = [];
  #counter = 0;

  constructor(options: QueueWorkloadOptions = {}) {
    this.#options = {
      producers: options.producers ?? 2,
      consumers: options.consumers ?? 2,
      keys: options.keys ?? 3,
      visibilityTimeoutMs: options.visibilityTimeoutMs ?? 2000,
      requestTimeoutMs: options.requestTimeoutMs ?? 4000,
      drainMs: options.drainMs ?? 20_000,
    };
  }

  #id(): number {
    this.#counter += 1;
    return this.#counter;
  }

  #post(
    context: WorkloadContext,
    at: { node: number; path: string; body: unknown; method?: string },
  ): Promise<HttpOutcome> {
    return requestJson({
      url: `${context.cluster.url(at.node)}${at.path}`,
      method: at.method ?? 'POST',
      body: at.body,
      timeoutMs: this.#options.requestTimeoutMs,
    });
  }

  async run(context: WorkloadContext): Promise<void> {
    // Never dead-letter: every message must come back to a consumer of this queue.
    for (let attempt = 0; attempt < 20 && !context.signal.aborted; attempt += 1) {
      const node = context.random.pick(context.cluster.available());
      const created = await this.#post(context, {
        node,
        path: `/v1/queues/${QUEUE}`,
        method: 'PUT',
        body: { options: { maxDeliveries: 0 } },
      });
      if (created.kind === 'answer' && created.status < 300) break;
      await pause(200, context.signal);
    }
    await Promise.all([
      ...Array.from({ length: this.#options.producers }, (_, index) =>
        this.#producer(context, index),
      ),
      ...Array.from({ length: this.#options.consumers }, (_, index) =>
        this.#consumer(context, 100 + index),
      ),
    ]);
  }

  async #producer(context: WorkloadContext, process: number): Promise<void> {
    const random = context.random.fork();
    for (let n = 0; !context.signal.aborted; n += 1) {
      const nodes = context.cluster.available();
      if (nodes.length === 0) {
        await pause(50, context.signal);
        continue;
      }
      const messageId = `m${process}-${n}`;
      const key = `key${random.int(0, this.#options.keys - 1)}`;
      const callMs = context.now();
      const answer = await this.#post(context, {
        node: random.pick(nodes),
        path: `/v1/queues/${QUEUE}/messages`,
        body: { id: messageId, key, body: { n, process } },
      });
      const outcome = outcomeOf(answer);
      this.sends.push({
        id: this.#id(),
        process,
        messageId,
        key,
        callMs,
        returnMs: outcome === 'unknown' ? Infinity : context.now(),
        outcome,
      });
      await pause(random.int(10, 40), context.signal);
    }
  }

  /** One receive and the acks of what it got; the messages delivered. */
  async #receiveAndAck(
    context: WorkloadContext,
    at: { process: number; node: number; waitMs: number; queue?: string },
  ): Promise<number> {
    const queue = at.queue ?? QUEUE;
    const callMs = context.now();
    const answer = await this.#post(context, {
      node: at.node,
      path: `/v1/queues/${queue}/receive`,
      body: { max: 5, waitMs: at.waitMs, visibilityTimeoutMs: this.#options.visibilityTimeoutMs },
    });
    const outcome = outcomeOf(answer);
    const messages: Delivered[] =
      answer.kind === 'answer' && outcome === 'ok'
        ? ((answer.body as { messages?: Delivered[] }).messages ?? [])
        : [];
    this.receives.push({
      id: this.#id(),
      process: at.process,
      callMs,
      returnMs: outcome === 'unknown' ? Infinity : context.now(),
      outcome,
      messageIds: messages.map((message) => message.id),
      deliveryCounts: messages.map((message) => message.deliveryCount ?? 0),
    });
    for (const message of messages) {
      const ackCallMs = context.now();
      const acked = await this.#post(context, {
        node: at.node,
        path: `/v1/queues/${queue}/ack`,
        body: { receipt: message.receipt },
      });
      const ackOutcome = outcomeOf(acked);
      this.acks.push({
        id: this.#id(),
        process: at.process,
        messageId: message.id,
        callMs: ackCallMs,
        returnMs: ackOutcome === 'unknown' ? Infinity : context.now(),
        outcome: ackOutcome,
      });
    }
    return messages.length;
  }

  async #consumer(context: WorkloadContext, process: number): Promise<void> {
    const random = context.random.fork();
    while (!context.signal.aborted) {
      const nodes = context.cluster.available();
      if (nodes.length === 0) {
        await pause(50, context.signal);
        continue;
      }
      await this.#receiveAndAck(context, { process, node: random.pick(nodes), waitMs: 300 });
      await pause(random.int(5, 20), context.signal);
    }
  }

  /** Takes everything left (the main queue and its dead-letter queue) until both stay empty past a lease. */
  async finish(context: WorkloadContext): Promise<void> {
    const deadline = context.now() + this.#options.drainMs;
    let lastDeliveryMs = context.now();
    while (context.now() < deadline) {
      const nodes = context.cluster.available();
      if (nodes.length === 0) break;
      const node = context.random.pick(nodes);
      const got =
        (await this.#receiveAndAck(context, { process: 999, node, waitMs: 200 })) +
        (await this.#receiveAndAck(context, {
          process: 999,
          node,
          waitMs: 0,
          queue: `${QUEUE}.dlq`,
        }));
      if (got > 0) lastDeliveryMs = context.now();
      else if (context.now() - lastDeliveryMs > this.#options.visibilityTimeoutMs + 1000) break;
    }
  }

  #history(): QueueHistory {
    return { sends: this.sends, receives: this.receives, acks: this.acks };
  }

  check(): CheckerReport[] {
    const total = checkTotalQueue(this.#history());
    const order = checkPerKeyOrder(this.#history());
    const kinds = [...new Set(total.anomalies.map((anomaly) => anomaly.kind))];
    return [
      {
        checker: 'total-queue',
        valid: total.valid,
        summary: total.valid
          ? `${total.sent.ok} acknowledged sends all delivered (${total.delivered} delivered, ${total.redelivered} redeliveries, ${total.recovered} unknown sends recovered)`
          : `${total.anomalies.length} anomalies: ${kinds.join(', ')}`,
        details: { ...total, anomalies: total.anomalies.slice(0, 10) },
      },
      {
        checker: 'per-key-order',
        valid: order.valid,
        summary: order.valid
          ? `first deliveries in send order on ${order.keys} keys`
          : `${order.violations.length} out-of-order deliveries`,
        details: { ...order, violations: order.violations.slice(0, 10) },
      },
    ];
  }

  stats(): WorkloadStats {
    return countOps([
      ...this.sends.map((op) => ({ f: 'send', status: op.outcome })),
      ...this.receives.map((op) => ({ f: 'receive', status: op.outcome })),
      ...this.acks.map((op) => ({ f: 'ack', status: op.outcome })),
    ]);
  }

  history(): unknown {
    return this.#history();
  }

  load(history: unknown): void {
    const loaded = history as { sends: SendOp[]; receives: ReceiveOp[]; acks: AckOp[] };
    this.sends.splice(0, this.sends.length, ...loaded.sends.map(unknownReturn));
    this.receives.splice(0, this.receives.length, ...loaded.receives.map(unknownReturn));
    this.acks.splice(0, this.acks.length, ...loaded.acks.map(unknownReturn));
  }
}
