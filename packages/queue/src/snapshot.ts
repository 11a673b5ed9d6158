// Snapshots of the queue machine: JSON in UTF-8, queues by name and messages by seq, so equal
// states give equal bytes. Derived structures (ready lists, timers, consumer index) are rebuilt.
import { z } from 'zod';
import type { QueueOptions } from './options.js';
import { QueueState, type QueueCounters, type StoredMessage } from './queue-state.js';
import { RateWindow } from './structures.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface QueueJson {
  readonly name: string;
  readonly options: QueueOptions;
  readonly createdAtMs: number;
  readonly spreadCursor: number;
  readonly receiveCursor: number;
  readonly counters: QueueCounters;
  readonly rates: readonly [unknown, unknown, unknown];
  readonly dedup: readonly (readonly [string, number])[];
  readonly messages: readonly StoredMessage[];
}

const SnapshotSchema = z.object({
  version: z.literal(1),
  nextSeq: z.number().int().min(1),
  lastTimeMs: z.number(),
  queues: z.array(
    z.object({
      name: z.string(),
      options: z.object({
        partitions: z.number().int().min(1),
        visibilityTimeoutMs: z.number(),
        maxDeliveries: z.number(),
        maxMessageBytes: z.number(),
        maxLength: z.number(),
        dedupWindowMs: z.number(),
      }),
      createdAtMs: z.number(),
      spreadCursor: z.number().int(),
      receiveCursor: z.number().int(),
      counters: z.record(z.string(), z.number()),
      rates: z.array(z.tuple([z.array(z.number()), z.array(z.number())])).length(3),
      dedup: z.array(z.tuple([z.string(), z.number()])),
      messages: z.array(z.looseObject({ seq: z.number().int(), state: z.string() })),
    }),
  ),
});

export function encodeSnapshot(input: {
  queues: ReadonlyMap<string, QueueState>;
  nextSeq: number;
  lastTimeMs: number;
}): Uint8Array {
  const queues: QueueJson[] = [...input.queues.values()]
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((queue) => ({
      name: queue.name,
      options: queue.options,
      createdAtMs: queue.createdAtMs,
      spreadCursor: queue.spreadCursor,
      receiveCursor: queue.receiveCursor,
      counters: queue.counters,
      rates: [queue.enqueueRate.toJSON(), queue.dequeueRate.toJSON(), queue.ackRate.toJSON()],
      dedup: [...queue.dedup],
      messages: [...queue.messages.values()].sort((a, b) => a.seq - b.seq),
    }));
  return encoder.encode(
    JSON.stringify({ version: 1, nextSeq: input.nextSeq, lastTimeMs: input.lastTimeMs, queues }),
  );
}

export function decodeSnapshot(bytes: Uint8Array): {
  queues: Map<string, QueueState>;
  nextSeq: number;
  lastTimeMs: number;
} {
  const raw: unknown = JSON.parse(decoder.decode(bytes));
  // Validated for shape; the raw objects are kept so that key order (and so the bytes of the
  // next snapshot) stays as written.
  SnapshotSchema.parse(raw);
  const parsed = raw as z.infer<typeof SnapshotSchema>;
  const queues = new Map<string, QueueState>();
  for (const json of parsed.queues) {
    const queue = new QueueState({
      name: json.name,
      options: json.options,
      createdAtMs: json.createdAtMs,
    });
    queue.spreadCursor = json.spreadCursor;
    queue.receiveCursor = json.receiveCursor;
    queue.counters = json.counters as unknown as QueueCounters;
    const [enqueue, dequeue, ackRate] = json.rates;
    if (enqueue !== undefined) queue.enqueueRate = RateWindow.from(enqueue);
    if (dequeue !== undefined) queue.dequeueRate = RateWindow.from(dequeue);
    if (ackRate !== undefined) queue.ackRate = RateWindow.from(ackRate);
    queue.dedup = new Map(json.dedup);
    for (const raw of json.messages) {
      const message = raw as unknown as StoredMessage;
      queue.messages.set(message.seq, message);
      if (message.deadLetter === undefined) queue.ids.set(message.id, message.seq);
      if (message.state === 'ready') queue.makeReady(message);
      else if (message.state === 'inflight') queue.inFlight += 1;
      else queue.delayed += 1;
    }
    queues.set(queue.name, queue);
  }
  return { queues, nextSeq: parsed.nextSeq, lastTimeMs: parsed.lastTimeMs };
}
