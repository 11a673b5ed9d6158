// Snapshots of the queue machine. JSON lines: a header with the machine's counters, then per
// queue (by name) a line of its settings and counters, its dedup ids (in expiry order) and its
// messages (by seq), so equal states give equal bytes. Derived structures (ready lists, timers,
// consumer index) are rebuilt on restore. The state is captured at once and written in slices
// (`MapSnapshots` per queue, copy-on-write of messages changed before they are written), so
// 100,000 messages never stall the event loop. The earlier format, one JSON object, still restores.
import { z } from 'zod';
import {
  ConcatJob,
  decodeJsonLines,
  encodeJsonLines,
  RaftError,
  type SnapshotJob,
} from '@distsync/raft';
import type { QueueOptions } from './options.js';
import { QueueState, type QueueCounters, type StoredMessage } from './queue-state.js';
import { RateWindow } from './structures.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** First line of a queue snapshot (with `nextSeq` and `lastTimeMs`). */
export const QUEUE_SNAPSHOT_FORMAT = { format: 'queue-lines', version: 1 } as const;

interface SnapshotInput {
  queues: ReadonlyMap<string, QueueState>;
  nextSeq: number;
  lastTimeMs: number;
}

/**
 * Captures the machine now and returns a job that writes it a slice per `next()`. Queue lines
 * (settings, counters, rates) are encoded at once; dedup ids and messages are written by the
 * queues' own `MapSnapshots` jobs, all begun here.
 */
export function beginSnapshot(input: SnapshotInput): SnapshotJob {
  const parts: (Uint8Array | SnapshotJob)[] = [
    encodeJsonLines([
      { ...QUEUE_SNAPSHOT_FORMAT, nextSeq: input.nextSeq, lastTimeMs: input.lastTimeMs },
    ]),
  ];
  const queues = [...input.queues.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const queue of queues) {
    parts.push(
      encodeJsonLines([
        {
          ...queueFields(queue),
          dedup: queue.dedup.size,
          messages: queue.messages.size,
        },
      ]),
      queue.dedupSnapshots.begin(),
      queue.messageSnapshots.begin(),
    );
  }
  let current = 0;
  let joining: ConcatJob | undefined;
  let done = false;
  return {
    next: () => {
      if (done) throw new Error('queue snapshot: next() after the job finished or was cancelled');
      if (joining === undefined) {
        // One slice of one queue's rows per call (the header and queue lines are bytes already).
        while (current < parts.length) {
          const part = parts[current];
          if (part === undefined || part instanceof Uint8Array) {
            current += 1;
            continue;
          }
          const bytes = part.next();
          if (bytes !== undefined) {
            parts[current] = bytes;
            current += 1;
          }
          return undefined;
        }
        joining = new ConcatJob(parts as Uint8Array[]);
      }
      const bytes = joining.next();
      if (bytes !== undefined) done = true;
      return bytes;
    },
    cancel: () => {
      done = true;
      for (const part of parts) if (!(part instanceof Uint8Array)) part.cancel();
    },
  };
}

function badSnapshot(message: string): RaftError {
  return new RaftError('BAD_SNAPSHOT', `queue snapshot: ${message}`);
}

interface Decoded {
  queues: Map<string, QueueState>;
  nextSeq: number;
  lastTimeMs: number;
}

/** Reads either format: the JSON lines of `beginSnapshot` or the earlier single JSON object. */
export function decodeSnapshot(bytes: Uint8Array, snapshotSliceRows?: number): Decoded {
  // The earlier format is one JSON text, which never holds a raw line break.
  return bytes.includes(0x0a)
    ? decodeLines(bytes, snapshotSliceRows)
    : decodeLegacy(bytes, snapshotSliceRows);
}

/** A queue's own fields, in the order both formats write them (the bytes must not change). */
function queueFields(queue: QueueState): Omit<QueueJson, 'dedup' | 'messages'> {
  return {
    name: queue.name,
    options: queue.options,
    createdAtMs: queue.createdAtMs,
    spreadCursor: queue.spreadCursor,
    receiveCursor: queue.receiveCursor,
    counters: queue.counters,
    rates: [queue.enqueueRate.toJSON(), queue.dequeueRate.toJSON(), queue.ackRate.toJSON()],
  };
}

/** A queue's own fields, the same in both formats. */
const QUEUE_FIELDS = {
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
};

const QueueLineSchema = z.object({
  ...QUEUE_FIELDS,
  dedup: z.number().int().min(0),
  messages: z.number().int().min(0),
});

function decodeLines(bytes: Uint8Array, snapshotSliceRows: number | undefined): Decoded {
  const decoded: Decoded = { queues: new Map(), nextSeq: 0, lastTimeMs: 0 };
  let queue: QueueState | undefined;
  let dedupLeft = 0;
  let messagesLeft = 0;
  decodeJsonLines(bytes, (row, line) => {
    if (line === 1) {
      const header = row as {
        format?: unknown;
        version?: unknown;
        nextSeq?: unknown;
        lastTimeMs?: unknown;
      } | null;
      if (
        header?.format !== QUEUE_SNAPSHOT_FORMAT.format ||
        header.version !== QUEUE_SNAPSHOT_FORMAT.version ||
        !Number.isSafeInteger(header.nextSeq) ||
        (header.nextSeq as number) < 1 ||
        typeof header.lastTimeMs !== 'number'
      ) {
        throw badSnapshot(`unknown header ${JSON.stringify(row)}`);
      }
      decoded.nextSeq = header.nextSeq as number;
      decoded.lastTimeMs = header.lastTimeMs;
      return;
    }
    if (queue !== undefined && dedupLeft > 0) {
      if (!Array.isArray(row) || typeof row[0] !== 'string' || typeof row[1] !== 'number') {
        throw badSnapshot(`line ${line} is not an [id, untilMs] dedup row`);
      }
      queue.dedup.set(row[0], row[1]);
      dedupLeft -= 1;
      return;
    }
    if (queue !== undefined && messagesLeft > 0) {
      const message = row as { seq?: unknown; state?: unknown; id?: unknown } | null;
      if (
        !Number.isSafeInteger(message?.seq) ||
        typeof message?.state !== 'string' ||
        typeof message.id !== 'string'
      ) {
        throw badSnapshot(`line ${line} is not a message row`);
      }
      addMessage(queue, row as StoredMessage);
      messagesLeft -= 1;
      return;
    }
    const parsed = QueueLineSchema.safeParse(row);
    if (!parsed.success) throw badSnapshot(`line ${line} is not a queue line`);
    // The raw object is kept (not the parsed copy) so that key order, and so the bytes of the
    // next snapshot, stay as written.
    const json = row as z.infer<typeof QueueLineSchema>;
    queue = newQueue(json, snapshotSliceRows);
    dedupLeft = json.dedup;
    messagesLeft = json.messages;
    decoded.queues.set(queue.name, queue);
  });
  if (decoded.nextSeq === 0) throw badSnapshot('no header');
  if (dedupLeft > 0 || messagesLeft > 0) throw badSnapshot('it ends inside a queue');
  return decoded;
}

function newQueue(
  json: {
    name: string;
    options: QueueOptions;
    createdAtMs: number;
    spreadCursor: number;
    receiveCursor: number;
    counters: Record<string, number>;
    rates: readonly (readonly [readonly number[], readonly number[]])[];
  },
  snapshotSliceRows: number | undefined,
): QueueState {
  const queue = new QueueState({
    name: json.name,
    options: json.options,
    createdAtMs: json.createdAtMs,
    ...(snapshotSliceRows === undefined ? {} : { snapshotSliceRows }),
  });
  queue.spreadCursor = json.spreadCursor;
  queue.receiveCursor = json.receiveCursor;
  queue.counters = json.counters as unknown as QueueCounters;
  const [enqueue, dequeue, ackRate] = json.rates;
  if (enqueue !== undefined) queue.enqueueRate = RateWindow.from(enqueue);
  if (dequeue !== undefined) queue.dequeueRate = RateWindow.from(dequeue);
  if (ackRate !== undefined) queue.ackRate = RateWindow.from(ackRate);
  return queue;
}

function addMessage(queue: QueueState, message: StoredMessage): void {
  queue.messages.set(message.seq, message);
  if (message.deadLetter === undefined) queue.ids.set(message.id, message.seq);
  if (message.state === 'ready') queue.makeReady(message);
  else if (message.state === 'inflight') queue.inFlight += 1;
  else queue.delayed += 1;
}

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

/** The earlier format: one JSON object with every queue and its messages. */
const LegacySnapshotSchema = z.object({
  version: z.literal(1),
  nextSeq: z.number().int().min(1),
  lastTimeMs: z.number(),
  queues: z.array(
    z.object({
      ...QUEUE_FIELDS,
      dedup: z.array(z.tuple([z.string(), z.number()])),
      messages: z.array(z.looseObject({ seq: z.number().int(), state: z.string() })),
    }),
  ),
});

function decodeLegacy(bytes: Uint8Array, snapshotSliceRows: number | undefined): Decoded {
  const raw: unknown = JSON.parse(decoder.decode(bytes));
  // Validated for shape; the raw objects are kept so that key order (and so the bytes of the
  // next snapshot) stays as written.
  LegacySnapshotSchema.parse(raw);
  const parsed = raw as z.infer<typeof LegacySnapshotSchema>;
  const queues = new Map<string, QueueState>();
  for (const json of parsed.queues) {
    const queue = newQueue(json, snapshotSliceRows);
    queue.dedup = new Map(json.dedup);
    for (const message of json.messages) addMessage(queue, message as unknown as StoredMessage);
    queues.set(queue.name, queue);
  }
  return { queues, nextSeq: parsed.nextSeq, lastTimeMs: parsed.lastTimeMs };
}

/**
 * The earlier format, as the machine wrote it before JSON lines (kept to test that such
 * snapshots restore, and to compare costs).
 */
export function encodeLegacySnapshot(input: SnapshotInput): Uint8Array {
  const queues: QueueJson[] = [...input.queues.values()]
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((queue) => ({
      ...queueFields(queue),
      dedup: [...queue.dedup],
      messages: [...queue.messages.values()].sort((a, b) => a.seq - b.seq),
    }));
  return encoder.encode(
    JSON.stringify({ version: 1, nextSeq: input.nextSeq, lastTimeMs: input.lastTimeMs, queues }),
  );
}
