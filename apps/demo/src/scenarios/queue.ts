// Queue: a producer sends orders of different priorities and a consumer gets the most urgent
// first (FIFO within a priority); a poison message fails three deliveries (a nack, a lease that
// runs out, a nack) and lands in the dead-letter queue with its history; two consumers drain a
// small workload while the statistics update live.
import { QueueClient, type ReceivedMessage } from '@distsync/queue';
import type { Scenario, ScenarioContext } from '../scenario.js';

const MAX_DELIVERIES = 3;
const VISIBILITY_TIMEOUT_MS = 1500;
const RECEIVE_WAIT_MS = 5000;
const WORKLOAD_MESSAGES = 120;
const WORKLOAD_BATCH = 20;
const WORKLOAD_TIMEOUT_MS = 60_000;

interface QueueStats {
  readonly depth: number;
  readonly depthByPriority: readonly number[];
  readonly inFlight: number;
  readonly delayed: number;
  readonly dlqDepth: number;
  readonly counters: Record<string, number>;
  readonly rates: { enqueuePerSecond: number; dequeuePerSecond: number; ackPerSecond: number };
}

interface PeekedMessage {
  readonly id: string;
  readonly body: unknown;
  readonly history: readonly { delivery: number; outcome: string }[];
  readonly deadLetter?: { sourceQueue: string; reason: string };
}

async function client(context: ScenarioContext): Promise<QueueClient> {
  const queues = new QueueClient({ connection: await context.connect(), sessionTtlMs: 5000 });
  context.defer(() => queues.close());
  return queues;
}

function statsLine(stats: QueueStats): string {
  const acked = stats.counters.acked ?? 0;
  return `depth ${stats.depth}, in flight ${stats.inFlight}, acked ${acked}, dead letters ${stats.dlqDepth}, ${stats.rates.ackPerSecond.toFixed(0)} acks/s`;
}

async function receiveOne(
  consumer: QueueClient,
  queue: string,
): Promise<ReceivedMessage | undefined> {
  const [message] = await consumer.receive(queue, {
    max: 1,
    waitMs: RECEIVE_WAIT_MS,
    visibilityTimeoutMs: VISIBILITY_TIMEOUT_MS,
  });
  return message;
}

async function priorities(context: ScenarioContext, queue: string): Promise<void> {
  const { ui } = context;
  const producer = await client(context);
  const consumer = await client(context);
  const sent = [
    { body: 'order 1', priority: 0 },
    { body: 'order 2', priority: 0 },
    { body: 'refund (urgent)', priority: 9 },
    { body: 'order 3', priority: 0 },
    { body: 'VIP order', priority: 5 },
  ];
  for (const message of sent)
    await producer.send(queue, message.body, { priority: message.priority });
  ui.step(
    `the producer sends ${sent.map((message) => `"${message.body}" (p${message.priority})`).join(', ')}`,
  );
  const stats = (await producer.stats(queue)) as unknown as QueueStats;
  ui.note(`stats: ${statsLine(stats)}; ready by priority ${JSON.stringify(stats.depthByPriority)}`);
  const received: string[] = [];
  while (received.length < sent.length) {
    const message = await receiveOne(consumer, queue);
    if (message === undefined) break;
    received.push(String(message.body));
    await message.ack();
    ui.note(`consumer gets "${String(message.body)}" (p${message.priority}) and acks it`);
  }
  const expected = ['refund (urgent)', 'VIP order', 'order 1', 'order 2', 'order 3'];
  context.check(
    'highest priority first, and first in, first out within a priority',
    received.join('|') === expected.join('|'),
  );
}

async function poison(context: ScenarioContext, queue: string): Promise<void> {
  const { ui } = context;
  const producer = await client(context);
  const consumer = await client(context);
  await producer.send(queue, { order: 'malformed' });
  ui.step(`a poison message arrives; the queue dead-letters after ${MAX_DELIVERIES} deliveries`);
  const counts: number[] = [];
  for (let attempt = 1; attempt <= MAX_DELIVERIES; attempt += 1) {
    const message = await ui.wait(`delivery ${attempt}`, () => receiveOne(consumer, queue));
    if (message === undefined) break;
    counts.push(message.deliveryCount);
    if (attempt === 2) {
      ui.note(
        `delivery ${message.deliveryCount}: the consumer crashes mid-work (no ack): the ${VISIBILITY_TIMEOUT_MS} ms lease runs out`,
      );
    } else {
      ui.note(`delivery ${message.deliveryCount}: processing fails, the consumer nacks it`);
      await message.nack({ requeue: true });
    }
  }
  const dlq = `${queue}.dlq`;
  const dead = await ui.wait('the message moves to the dead-letter queue', async () => {
    for (let round = 0; round < 50; round += 1) {
      const peeked = (await producer.stats(queue)) as unknown as QueueStats;
      if (peeked.dlqDepth > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const connection = await context.connect();
    const answer = (await connection.query('queue', { op: 'peek', queue: dlq, max: 10 })) as {
      messages: PeekedMessage[];
    };
    return answer.messages;
  });
  const [message] = dead;
  if (message !== undefined) {
    ui.note(
      `${dlq}: ${JSON.stringify(message.body)} (${message.deadLetter?.reason ?? '?'}), history: ${message.history.map((entry) => `#${entry.delivery} ${entry.outcome}`).join(', ')}`,
    );
  }
  context.check(
    `deliveries counted ${counts.join(', ')}; then the message sits in ${dlq} with reason maxDeliveries`,
    counts.join(',') === '1,2,3' &&
      dead.length === 1 &&
      message?.deadLetter?.reason === 'maxDeliveries' &&
      message.history.map((entry) => entry.outcome).join(',') === 'nacked,expired,nacked',
  );
}

async function workload(context: ScenarioContext, queue: string): Promise<void> {
  const { ui } = context;
  const producer = await client(context);
  const consumers = [await client(context), await client(context)];
  const acked = new Set<string>();
  let duplicates = 0;
  const controller = new AbortController();
  const stop = AbortSignal.any([
    controller.signal,
    context.signal,
    AbortSignal.timeout(WORKLOAD_TIMEOUT_MS),
  ]);
  ui.step(
    `${WORKLOAD_MESSAGES} messages in batches of ${WORKLOAD_BATCH}, two consumers (prefetch 8) acking each`,
  );
  const consuming = consumers.map(async (consumer) => {
    for await (const message of consumer.consume(queue, {
      prefetch: 8,
      waitMs: 500,
      signal: stop,
    })) {
      await message.ack();
      if (acked.has(message.id)) duplicates += 1;
      acked.add(message.id);
      if (acked.size >= WORKLOAD_MESSAGES) controller.abort();
    }
  });
  const producing = (async () => {
    for (let batch = 0; batch < WORKLOAD_MESSAGES / WORKLOAD_BATCH && !stop.aborted; batch += 1) {
      await producer.sendBatch(
        queue,
        Array.from({ length: WORKLOAD_BATCH }, (_, index) => ({
          body: { n: batch * WORKLOAD_BATCH + index },
          key: `customer-${index % 4}`,
        })),
      );
    }
  })();
  const startedMs = Date.now();
  await ui.wait('producing and consuming', async (progress) => {
    const timer = setInterval(() => {
      void producer.stats(queue).then(
        (stats) => {
          progress(statsLine(stats as unknown as QueueStats));
        },
        () => undefined,
      );
    }, 250);
    try {
      await producing;
      await Promise.all(consuming);
    } finally {
      clearInterval(timer);
    }
  });
  const seconds = (Date.now() - startedMs) / 1000;
  const final = (await producer.stats(queue)) as unknown as QueueStats;
  ui.note(`final stats: ${statsLine(final)}`);
  context.check(
    `all ${WORKLOAD_MESSAGES} messages acked once each in ${seconds.toFixed(1)} s (${(acked.size / seconds).toFixed(0)} msg/s), queue empty`,
    acked.size === WORKLOAD_MESSAGES &&
      duplicates === 0 &&
      final.depth === 0 &&
      final.inFlight === 0,
  );
}

async function run(context: ScenarioContext): Promise<void> {
  const admin = await client(context);
  const orders = `${context.prefix}-orders`;
  // One partition: strict priority, then FIFO, across every message of the demo's queue.
  await admin.createQueue(orders, {
    partitions: 1,
    maxDeliveries: MAX_DELIVERIES,
    visibilityTimeoutMs: VISIBILITY_TIMEOUT_MS,
  });
  context.ui.step(
    `queue ${orders}: 1 partition, max ${MAX_DELIVERIES} deliveries, ${VISIBILITY_TIMEOUT_MS} ms visibility timeout`,
  );
  await priorities(context, orders);
  await poison(context, orders);
  const events = `${context.prefix}-events`;
  await admin.createQueue(events, { partitions: 4 });
  await workload(context, events);
}

export const queueScenario: Scenario = {
  name: 'queue',
  title: 'Queue',
  summary: 'priorities, a poison message to the dead-letter queue, a workload with live statistics',
  service: 'queue',
  run,
};
