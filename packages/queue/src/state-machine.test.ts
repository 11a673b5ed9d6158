// The queue machine's contract case by case: every rejection code, priorities and FIFO,
// partitions by key, delays, dead letters with history, redrive, purge, consumer sessions,
// stats, local "available" events, timers, and snapshots that round-trip.
import type { ApplyContext } from '@distsync/raft';
import { describe, expect, it } from 'vitest';
import {
  createQueueStateMachine,
  HashRing,
  QueueCommandSchema,
  type QueueCommand,
  type QueueMachineOptions,
  type QueueSessions,
  type QueueStateMachine,
} from '@distsync/queue';

interface Delivered {
  id: string;
  receipt: string;
  deliveryCount: number;
  body: unknown;
  priority: number;
}

function harness(options: QueueMachineOptions = {}) {
  const machine = createQueueStateMachine(options);
  const clock = { index: 0, timeMs: 10_000 };
  const apply = (command: QueueCommand) => {
    clock.index += 1;
    return machine.apply(command, {
      index: clock.index,
      term: 1,
      timeMs: clock.timeMs,
      clientId: undefined,
    });
  };
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- a typed view for tests
  const value = <T>(command: QueueCommand): T => {
    const result = apply(command);
    if (!result.ok) throw new Error(`${result.code}: ${result.message}`);
    return result.value as T;
  };
  const receive = (
    queue: string,
    max = 10,
    extra: Partial<Extract<QueueCommand, { op: 'receive' }>> = {},
  ) => value<{ messages: Delivered[] }>({ op: 'receive', queue, max, ...extra }).messages;
  return { machine, clock, apply, value, receive };
}

function fakeSessions() {
  const live = new Set<string>();
  const listeners = new Set<
    (id: string, reason: 'expired' | 'deleted', context: ApplyContext) => void
  >();
  const sessions: QueueSessions = {
    isLive: (id) => live.has(id),
    onEnded: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  return {
    sessions,
    live,
    end(id: string, context: ApplyContext) {
      live.delete(id);
      for (const listener of listeners) listener(id, 'expired', context);
    },
  };
}

describe('queue state machine: rejections', () => {
  it('refuses every bad request with its stable code', () => {
    const { apply, value, receive } = harness({ limits: { maxQueues: 3, maxBatch: 2 } });
    value({ op: 'create', queue: 'small', options: { maxLength: 1, maxMessageBytes: 50 } });
    expect(apply({ op: 'send', queue: 'small', message: { body: 'x'.repeat(60) } })).toMatchObject({
      ok: false,
      code: 'TOO_LARGE',
    });
    value({ op: 'send', queue: 'small', message: { id: 'a', body: 1 } });
    expect(apply({ op: 'send', queue: 'small', message: { id: 'b', body: 2 } })).toMatchObject({
      ok: false,
      code: 'QUEUE_FULL',
    });
    // A duplicate of a stored message is not a new message, so a full queue still answers it.
    expect(apply({ op: 'send', queue: 'small', message: { id: 'a', body: 1 } })).toEqual({
      ok: true,
      value: { id: 'a', duplicate: true },
    });
    expect(apply({ op: 'create', queue: 'small', options: { maxLength: 2 } })).toMatchObject({
      ok: false,
      code: 'CONFLICT',
    });
    expect(apply({ op: 'create', queue: 'x.dlq' })).toMatchObject({
      ok: false,
      code: 'BAD_REQUEST',
    });
    expect(apply({ op: 'send', queue: 'small.dlq', message: { body: 1 } })).toMatchObject({
      ok: false,
      code: 'BAD_REQUEST',
    });
    expect(apply({ op: 'ack', receipt: 'garbage' })).toMatchObject({
      ok: false,
      code: 'BAD_REQUEST',
    });
    expect(apply({ op: 'ack', receipt: 'small:99:1:zz' })).toMatchObject({
      ok: false,
      code: 'STALE_RECEIPT',
    });
    expect(
      apply({ op: 'sendBatch', queue: 'b', messages: [{ body: 1 }, { body: 2 }, { body: 3 }] }),
    ).toMatchObject({ ok: false, code: 'LIMIT_REACHED' });
    value({ op: 'create', queue: 'q2' });
    value({ op: 'create', queue: 'q3' });
    expect(apply({ op: 'create', queue: 'q4' })).toMatchObject({
      ok: false,
      code: 'LIMIT_REACHED',
    });
    expect(apply({ op: 'purge', queue: 'nope' })).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    expect(apply({ op: 'redrive', queue: 'nope' })).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    expect(apply({ op: 'delete', queue: 'nope' })).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    expect(receive('nope')).toEqual([]);
  });

  it('refuses LIMIT_REACHED past maxMessages, and a stale receipt after expiry, ack and redelivery', () => {
    const { apply, value, receive, clock } = harness({
      limits: { maxMessages: 1 },
      defaults: { visibilityTimeoutMs: 100 },
    });
    value({ op: 'send', queue: 'q', message: { body: 1 } });
    expect(apply({ op: 'send', queue: 'q', message: { body: 2 } })).toMatchObject({
      ok: false,
      code: 'LIMIT_REACHED',
    });
    const [first] = receive('q');
    clock.timeMs += 100;
    // The lease ran out at this entry's time: refused even though no timer entry came first.
    expect(apply({ op: 'ack', receipt: first!.receipt })).toMatchObject({
      ok: false,
      code: 'STALE_RECEIPT',
    });
    const [second] = receive('q');
    expect(second!.deliveryCount).toBe(2);
    expect(apply({ op: 'ack', receipt: first!.receipt })).toMatchObject({
      ok: false,
      code: 'STALE_RECEIPT',
    });
    expect(
      apply({ op: 'extend', receipt: first!.receipt, visibilityTimeoutMs: 100 }),
    ).toMatchObject({ ok: false, code: 'STALE_RECEIPT' });
    expect(apply({ op: 'nack', receipt: first!.receipt })).toMatchObject({
      ok: false,
      code: 'STALE_RECEIPT',
    });
    expect(apply({ op: 'ack', receipt: second!.receipt })).toEqual({ ok: true, value: {} });
    expect(apply({ op: 'ack', receipt: second!.receipt })).toMatchObject({
      ok: false,
      code: 'STALE_RECEIPT',
    });
  });

  it('measures maxMessageBytes in UTF-8 bytes of body and headers as JSON', () => {
    const { apply, value } = harness();
    value({ op: 'create', queue: 'bytes', options: { maxMessageBytes: 20 } });
    // ["eeeeeeee",{}] is 15 bytes; with é (2 bytes each) it is 23, and 😀 (4 bytes) x2 is 15.
    expect(apply({ op: 'send', queue: 'bytes', message: { body: 'e'.repeat(8) } }).ok).toBe(true);
    expect(apply({ op: 'send', queue: 'bytes', message: { body: 'é'.repeat(8) } })).toMatchObject({
      ok: false,
      code: 'TOO_LARGE',
    });
    expect(apply({ op: 'send', queue: 'bytes', message: { body: '😀😀' } }).ok).toBe(true);
    expect(
      apply({ op: 'send', queue: 'bytes', message: { body: 'e', headers: { h: 'x'.repeat(12) } } }),
    ).toMatchObject({ ok: false, code: 'TOO_LARGE' });
  });

  it('rejects malformed commands at the schema (BAD_REQUEST in the node)', () => {
    const bad = [
      { op: 'send', queue: 'q', message: { body: 1, priority: 10 } },
      { op: 'send', queue: 'q', message: { body: 1, priority: 1.5 } },
      { op: 'send', queue: 'bad name', message: { body: 1 } },
      { op: 'send', queue: 'q', message: { body: 1, delayMs: -1 } },
      { op: 'send', queue: 'q', message: { body: 1, extra: true } },
      { op: 'receive', queue: 'q', max: 0 },
      { op: 'create', queue: 'q', options: { partitions: 0 } },
      { op: 'sendBatch', queue: 'q', messages: [] },
      { op: 'nope' },
    ];
    for (const command of bad) expect(QueueCommandSchema.safeParse(command).success).toBe(false);
  });
});

describe('queue state machine: delivery order', () => {
  it('delivers higher priority first and FIFO within a priority and partition', () => {
    const { value, receive } = harness({ defaults: { partitions: 1 } });
    for (const [id, priority] of [
      ['a', 0],
      ['b', 5],
      ['c', 0],
      ['d', 9],
      ['e', 5],
    ] as const) {
      value({ op: 'send', queue: 'q', message: { id, body: id, priority } });
    }
    expect(receive('q').map((message) => message.id)).toEqual(['d', 'b', 'e', 'a', 'c']);
  });

  it('keeps per-key order across partitions and redelivers a nacked message in its place', () => {
    const { value, receive, apply } = harness();
    for (let index = 0; index < 40; index += 1) {
      value({
        op: 'send',
        queue: 'q',
        message: { id: `m${index}`, key: `k${index % 4}`, body: index },
      });
    }
    const first = receive('q', 40);
    for (const key of ['k0', 'k1', 'k2', 'k3']) {
      const bodies = first
        .filter(
          (message) => message.id !== '' && (message.body as number) % 4 === Number(key.slice(1)),
        )
        .map((m) => m.body as number);
      expect(bodies).toEqual([...bodies].sort((a, b) => a - b));
    }
    // Nack two of key k1's (the 2nd and 1st): they come back in their original order.
    const k1 = first.filter((message) => (message.body as number) % 4 === 1);
    apply({ op: 'nack', receipt: k1[1]!.receipt });
    apply({ op: 'nack', receipt: k1[0]!.receipt });
    expect(receive('q', 10).map((message) => message.body)).toEqual([k1[0]!.body, k1[1]!.body]);
  });

  it('places keys on a consistent-hash ring that moves few keys when a partition is added', () => {
    const keys = Array.from({ length: 2000 }, (_, index) => `key-${index}`);
    const sixteen = new HashRing(16);
    const seventeen = new HashRing(17);
    const moved = keys.filter(
      (key) => sixteen.partitionOf(key) !== seventeen.partitionOf(key),
    ).length;
    // Ideal: 1/17 of the keys (about 118); far below the ~94% a modulo hash would move.
    expect(moved).toBeLessThan(2000 * 0.12);
    const counts = new Array<number>(16).fill(0);
    for (const key of keys) counts[sixteen.partitionOf(key)]! += 1;
    expect(Math.min(...counts)).toBeGreaterThan(2000 / 16 / 2);
    expect(new HashRing(16).partitionOf('stable')).toBe(sixteen.partitionOf('stable'));
  });

  it('holds a delayed message until its time, and a nack with delayMs likewise', () => {
    const { value, receive, clock, apply, machine } = harness();
    value({ op: 'send', queue: 'q', message: { id: 'later', body: 1, delayMs: 500 } });
    expect(receive('q')).toEqual([]);
    expect(machine.nextDeadline?.()).toBe(clock.timeMs + 500);
    clock.timeMs += 500;
    const [message] = receive('q');
    expect(message?.id).toBe('later');
    apply({ op: 'nack', receipt: message!.receipt, delayMs: 300 });
    clock.timeMs += 299;
    expect(receive('q')).toEqual([]);
    clock.timeMs += 1;
    expect(receive('q').map((m) => m.deliveryCount)).toEqual([2]);
  });
});

describe('queue state machine: leases, dead letters and consumers', () => {
  it('moves a message to <name>.dlq after maxDeliveries with payload, headers and history; redrive brings it back', () => {
    const { value, receive, clock, apply, machine } = harness({
      defaults: { maxDeliveries: 2, visibilityTimeoutMs: 100 },
    });
    value({
      op: 'send',
      queue: 'jobs',
      message: { id: 'j1', body: { task: 'x' }, headers: { trace: 't1' }, priority: 3 },
    });
    receive('jobs');
    clock.timeMs += 100;
    // A timer entry (as the leader proposes) expires the lease.
    expect(apply({ op: 'tick', nowMs: clock.timeMs })).toEqual({ ok: true, value: {} });
    const [second] = receive('jobs');
    apply({ op: 'nack', receipt: second!.receipt });
    expect(receive('jobs')).toEqual([]);
    const dlq = receive('jobs.dlq');
    expect(dlq.map(({ id, body, priority }) => ({ id, body, priority }))).toEqual([
      { id: 'j1', body: { task: 'x' }, priority: 3 },
    ]);
    apply({ op: 'nack', receipt: dlq[0]!.receipt });
    expect(machine.query({ op: 'stats', queue: 'jobs' })).toMatchObject({
      ok: true,
      value: { dlqDepth: 1, counters: { deadLettered: 1, expired: 1, nacked: 1 } },
    });
    expect(value<{ redriven: number }>({ op: 'redrive', queue: 'jobs' })).toEqual({ redriven: 1 });
    const [back] = receive('jobs');
    expect(back).toMatchObject({ id: 'j1', deliveryCount: 1, body: { task: 'x' } });
  });

  it('keeps the delivery history on the dead letter (peek) and rejects to the DLQ on nack requeue=false', () => {
    const { value, receive, apply, machine } = harness({ defaults: { maxDeliveries: 5 } });
    value({ op: 'send', queue: 'q', message: { id: 'r', body: 'x', headers: { h: 'v' } } });
    const [message] = receive('q', 1, { consumer: undefined });
    expect(apply({ op: 'nack', receipt: message!.receipt, requeue: false })).toEqual({
      ok: true,
      value: { deadLettered: true },
    });
    const peek = machine.query({ op: 'peek', queue: 'q.dlq' });
    expect(peek).toMatchObject({
      ok: true,
      value: {
        messages: [
          {
            id: 'r',
            headers: { h: 'v' },
            history: [{ delivery: 1, outcome: 'rejected' }],
            deadLetter: { sourceQueue: 'q', reason: 'rejected' },
          },
        ],
      },
    });
    expect(value<{ purged: number }>({ op: 'purge', queue: 'q.dlq' })).toEqual({ purged: 1 });
    expect(machine.totals().messages).toBe(0);
  });

  it('releases a consumer’s leases when its session ends, and refuses a consumer without a session', () => {
    const fake = fakeSessions();
    const { value, receive, apply, clock, machine } = harness({ sessions: fake.sessions });
    value({ op: 'sendBatch', queue: 'q', messages: [{ body: 1 }, { body: 2 }] });
    expect(apply({ op: 'receive', queue: 'q', consumer: 's9' })).toMatchObject({
      ok: false,
      code: 'NOT_FOUND',
    });
    fake.live.add('s1');
    const held = receive('q', 2, { consumer: 's1' });
    expect(held).toHaveLength(2);
    let woke = 0;
    machine.onAvailable(() => (woke += 1));
    clock.index += 1;
    fake.end('s1', { index: clock.index, term: 1, timeMs: clock.timeMs, clientId: undefined });
    expect(woke).toBe(1);
    expect(receive('q', 5).map((message) => message.deliveryCount)).toEqual([2, 2]);
    expect(apply({ op: 'ack', receipt: held[0]!.receipt })).toMatchObject({
      ok: false,
      code: 'STALE_RECEIPT',
    });
  });

  it('extends a lease, and dedups a retried send within the window only', () => {
    const { value, receive, clock, apply } = harness({
      defaults: { visibilityTimeoutMs: 100, dedupWindowMs: 1000 },
    });
    value({ op: 'send', queue: 'q', message: { id: 'd', body: 1 } });
    const [message] = receive('q');
    clock.timeMs += 90;
    expect(apply({ op: 'extend', receipt: message!.receipt, visibilityTimeoutMs: 500 })).toEqual({
      ok: true,
      value: { expiresAtMs: clock.timeMs + 500 },
    });
    clock.timeMs += 400;
    expect(apply({ op: 'ack', receipt: message!.receipt })).toEqual({ ok: true, value: {} });
    expect(value({ op: 'send', queue: 'q', message: { id: 'd', body: 1 } })).toEqual({
      id: 'd',
      duplicate: true,
    });
    clock.timeMs += 1000;
    expect(value({ op: 'send', queue: 'q', message: { id: 'd', body: 1 } })).toEqual({
      id: 'd',
      duplicate: false,
    });
  });

  it('applies a batch with a result per operation', () => {
    const { value, receive } = harness();
    value({ op: 'send', queue: 'q', message: { id: 'a', body: 1 } });
    const [message] = receive('q');
    const out = value<{ results: unknown[] }>({
      op: 'batch',
      ops: [
        { op: 'send', queue: 'q', message: { id: 'b', body: 2 } },
        { op: 'ack', receipt: message!.receipt },
        { op: 'ack', receipt: message!.receipt },
        { op: 'send', queue: 'q', message: { id: 'b', body: 2 } },
      ],
    });
    expect(out.results).toEqual([
      { ok: true, value: { id: 'b', duplicate: false } },
      { ok: true, value: {} },
      expect.objectContaining({ ok: false, code: 'STALE_RECEIPT' }),
      { ok: true, value: { id: 'b', duplicate: true } },
    ]);
  });

  it('reports stats: depth by priority and partition, in flight, delayed, DLQ depth, rates and oldest age', () => {
    const { value, receive, clock, machine } = harness({ defaults: { partitions: 4 } });
    value({
      op: 'sendBatch',
      queue: 'q',
      messages: [{ body: 1, priority: 2 }, { body: 2 }, { body: 3, delayMs: 1000 }, { body: 4 }],
    });
    receive('q', 1);
    clock.timeMs += 500;
    const stats = machine.query({ op: 'stats', queue: 'q', nowMs: clock.timeMs });
    expect(stats).toMatchObject({
      ok: true,
      value: {
        depth: 2,
        depthByPriority: [2, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        inFlight: 1,
        delayed: 1,
        dlqDepth: 0,
        oldestAgeMs: 500,
        rates: { enqueuePerSecond: 0.4, dequeuePerSecond: 0.1, ackPerSecond: 0 },
      },
    });
    const byPartition = (stats as { value: { depthByPartition: number[] } }).value.depthByPartition;
    expect(byPartition.reduce((a, b) => a + b, 0)).toBe(2);
    expect(machine.query({ op: 'list' })).toMatchObject({
      ok: true,
      value: { queues: [{ name: 'q', depth: 2 }] },
    });
  });
});

/** A keyed, a prioritized and a delayed message: every index a snapshot must carry. */
const MIXED_MESSAGES = [
  { id: 'a', body: 1, key: 'k' },
  { id: 'b', body: 2, priority: 4 },
  { id: 'c', body: 3, delayMs: 200 },
];

describe('queue state machine: snapshots', () => {
  it('round-trips: a restored machine has the same bytes and answers the next commands the same', () => {
    const run = (machine: QueueStateMachine, start: number, commands: QueueCommand[]) =>
      commands.map((command, offset) =>
        machine.apply(command, {
          index: start + offset,
          term: 1,
          timeMs: 20_000 + offset * 40,
          clientId: undefined,
        }),
      );
    const original = createQueueStateMachine({
      defaults: { visibilityTimeoutMs: 100, maxDeliveries: 2 },
    });
    const setup: QueueCommand[] = [
      {
        op: 'sendBatch',
        queue: 'q',
        messages: MIXED_MESSAGES,
      },
      { op: 'receive', queue: 'q', max: 1 },
      { op: 'receive', queue: 'q', max: 1 },
    ];
    const received = run(original, 1, setup);
    const receipt = (received[2] as { value: { messages: { receipt: string }[] } }).value
      .messages[0]!.receipt;
    const copy = createQueueStateMachine({
      defaults: { visibilityTimeoutMs: 100, maxDeliveries: 2 },
    });
    copy.restore(original.snapshot());
    expect(new TextDecoder().decode(copy.snapshot())).toBe(
      new TextDecoder().decode(original.snapshot()),
    );
    const next: QueueCommand[] = [
      { op: 'ack', receipt },
      { op: 'send', queue: 'q', message: { id: 'a', body: 9 } },
      { op: 'receive', queue: 'q', max: 5 },
      { op: 'tick', nowMs: 0 },
      { op: 'receive', queue: 'q', max: 5 },
      { op: 'receive', queue: 'q.dlq', max: 5 },
    ];
    expect(run(copy, 10, next)).toEqual(run(original, 10, next));
    expect(copy.nextDeadline?.()).toBe(original.nextDeadline?.());
  });

  it('restores a snapshot of the earlier format (one JSON object) and goes on from it', () => {
    // Proves a node upgraded from an old snapshot starts: the bytes the earlier code's snapshot()
    // wrote (commit da57ccd) after these commands restore to the same state.
    const legacy =
      '{"version":1,"nextSeq":5,"lastTimeMs":20160,"queues":[{"name":"q","options":{"partit' +
      'ions":2,"visibilityTimeoutMs":100,"maxDeliveries":1,"maxMessageBytes":262144,"maxLen' +
      'gth":100000,"dedupWindowMs":300000},"createdAtMs":20040,"spreadCursor":0,"receiveCur' +
      'sor":0,"counters":{"enqueued":3,"duplicates":0,"delivered":2,"acked":0,"nacked":1,"e' +
      'xpired":0,"deadLettered":1,"redriven":0,"purged":0},"rates":[[[20],[3]],[[20],[2]],[' +
      '[],[]]],"dedup":[["a",320040],["b",320040],["c",320040]],"messages":[{"seq":2,"id":"' +
      'b","body":2,"headers":{},"priority":4,"partition":0,"bytes":6,"enqueuedAtMs":20040,"' +
      'state":"inflight","availableAtMs":20040,"deliveries":1,"history":[],"lease":{"delive' +
      'ry":1,"deliveredAtMs":20080,"expiresAtMs":20180}},{"seq":3,"id":"c","body":3,"header' +
      's":{},"priority":0,"partition":1,"bytes":6,"enqueuedAtMs":20040,"state":"delayed","a' +
      'vailableAtMs":20240,"deliveries":0,"history":[]}]},{"name":"q.dlq","options":{"parti' +
      'tions":2,"visibilityTimeoutMs":100,"maxDeliveries":0,"maxMessageBytes":262144,"maxLe' +
      'ngth":9007199254740991,"dedupWindowMs":0},"createdAtMs":20160,"spreadCursor":0,"rece' +
      'iveCursor":0,"counters":{"enqueued":1,"duplicates":0,"delivered":0,"acked":0,"nacked' +
      '":0,"expired":0,"deadLettered":0,"redriven":0,"purged":0},"rates":[[[20],[1]],[[],[]' +
      '],[[],[]]],"dedup":[],"messages":[{"seq":4,"id":"a","key":"k","body":1,"headers":{},' +
      '"priority":0,"partition":1,"bytes":6,"enqueuedAtMs":20160,"state":"ready","available' +
      'AtMs":20160,"deliveries":0,"history":[{"delivery":1,"deliveredAtMs":20120,"outcome":' +
      '"rejected","atMs":20160}],"deadLetter":{"sourceQueue":"q","reason":"rejected","atMs"' +
      ':20160}}]}]}';
    const options = { defaults: { visibilityTimeoutMs: 100, maxDeliveries: 1, partitions: 2 } };
    const original = createQueueStateMachine(options);
    let index = 0;
    const apply = (machine: QueueStateMachine, command: QueueCommand, at = index) =>
      machine.apply(command, { index: at, term: 1, timeMs: 20_000 + at * 40, clientId: undefined });
    const step = (command: QueueCommand) => apply(original, command, ++index);
    step({
      op: 'sendBatch',
      queue: 'q',
      messages: MIXED_MESSAGES,
    });
    step({ op: 'receive', queue: 'q', max: 1 });
    const received = step({ op: 'receive', queue: 'q', max: 1 });
    const receipt = (received as { value: { messages: { receipt: string }[] } }).value.messages[0]!
      .receipt;
    step({ op: 'nack', receipt, requeue: false });
    const copy = createQueueStateMachine(options);
    copy.restore(new TextEncoder().encode(legacy));
    expect(new TextDecoder().decode(copy.snapshot())).toBe(
      new TextDecoder().decode(original.snapshot()),
    );
    const next: QueueCommand[] = [
      { op: 'tick', nowMs: 0 },
      { op: 'receive', queue: 'q', max: 5 },
      { op: 'receive', queue: 'q.dlq', max: 5 },
      { op: 'redrive', queue: 'q' },
      { op: 'send', queue: 'q', message: { id: 'a', body: 9 } },
    ];
    const results = (machine: QueueStateMachine) =>
      next.map((command, offset) => apply(machine, command, 10 + offset * 3));
    expect(results(copy)).toEqual(results(original));
    expect(copy.nextDeadline?.()).toBe(original.nextDeadline?.());
  });

  it('refuses a snapshot with an unknown header or a cut-off queue as BAD_SNAPSHOT', () => {
    const machine = createQueueStateMachine();
    const bytes = (...lines: string[]) => new TextEncoder().encode(lines.join('\n') + '\n');
    expect(() => {
      machine.restore(bytes('{"format":"queue-lines","version":2,"nextSeq":1,"lastTimeMs":0}'));
    }).toThrow(expect.objectContaining({ code: 'BAD_SNAPSHOT' }));
    const header = '{"format":"queue-lines","version":1,"nextSeq":1,"lastTimeMs":0}';
    expect(() => {
      machine.restore(bytes(header, '{"name":"q"}'));
    }).toThrow(/line 2 is not a queue line/);
    const line = JSON.stringify({
      name: 'q',
      options: {
        partitions: 1,
        visibilityTimeoutMs: 1,
        maxDeliveries: 1,
        maxMessageBytes: 1,
        maxLength: 1,
        dedupWindowMs: 1,
      },
      createdAtMs: 0,
      spreadCursor: 0,
      receiveCursor: 0,
      counters: {},
      rates: [
        [[], []],
        [[], []],
        [[], []],
      ],
      dedup: 1,
      messages: 0,
    });
    expect(() => {
      machine.restore(bytes(header, line));
    }).toThrow(/ends inside a queue/);
    expect(() => {
      machine.restore(bytes(header, line, '{"id":"x"}'));
    }).toThrow(/line 3 is not an \[id, untilMs\] dedup row/);
  });
});
