// `pnpm bench queue`: 100-byte messages on distsync's three-node cluster and, in the same run, on
// BullMQ (Redis), a RabbitMQ quorum queue and a NATS JetStream stream: sends per second one per
// request and in batches, receive+ack per second draining a preloaded queue, and end-to-end
// latency (send to delivery) while producers and consumers run. One system at a time; every
// phase is bounded in time and count. Prints the side-by-side table with ratios, writes JSON.
import { LatencyHistogram, type LatencySummary } from '../harness/histogram.js';
import type { Row } from '../harness/report.js';
import {
  finishSuite,
  quickNote,
  startSuite,
  suiteResults,
  wantedSystems,
  type SuiteOptions,
  type SuiteOutput,
} from '../harness/suite-report.js';
import { QUEUE_SYSTEMS, type QueueSystem, type QueueTarget } from '../systems/queue-systems.js';

export const QUEUE_MESSAGE_BYTES = 100;
export const QUEUE_SINGLE_PRODUCERS = 16;
export const QUEUE_BATCH_PRODUCERS = 4;
export const QUEUE_BATCH_SIZE = 100;
export const QUEUE_LATENCY_PRODUCERS = 4;

export interface QueueSystemResult {
  readonly name: string;
  readonly description: string;
  readonly status: 'ran' | 'skipped' | 'failed';
  readonly reason?: string;
  readonly sendsPerSecond?: number;
  readonly sendLatency?: LatencySummary;
  readonly batchedSendsPerSecond?: number;
  readonly receiveAckPerSecond?: number;
  readonly drained?: { readonly preloaded: number; readonly consumed: number; readonly ms: number };
  readonly endToEnd?: LatencySummary & { readonly sent: number };
}

interface PhaseOptions {
  readonly durationMs: number;
  readonly maxMessages: number;
  readonly log: (line: string) => void;
}

/** A 100-byte body that starts with the time it was made (performance.now(), same process). */
function body(): string {
  const stamp = `${performance.now().toFixed(3)}|`;
  return stamp.padEnd(QUEUE_MESSAGE_BYTES, 'x');
}

async function closedLoop(input: {
  workers: number;
  durationMs: number;
  maxOperations: number;
  run: () => Promise<number>;
}): Promise<{ items: number; ms: number }> {
  const started = performance.now();
  let items = 0;
  let operations = 0;
  await Promise.all(
    Array.from({ length: input.workers }, async () => {
      while (performance.now() - started < input.durationMs && operations < input.maxOperations) {
        operations += 1;
        // Not `items += await ...`: that reads `items` before the await and loses the other
        // workers' counts.
        const done = await input.run();
        items += done;
      }
    }),
  );
  return { items, ms: performance.now() - started };
}

/** Unmeasured sends first: connections, leader discovery and queue creation are not timed. */
async function warmUp(target: QueueTarget): Promise<void> {
  await Promise.all(Array.from({ length: QUEUE_SINGLE_PRODUCERS }, () => target.send(body())));
}

async function measureSends(target: QueueTarget, options: PhaseOptions) {
  await warmUp(target);
  const latency = new LatencyHistogram();
  const single = await closedLoop({
    workers: QUEUE_SINGLE_PRODUCERS,
    durationMs: options.durationMs,
    maxOperations: options.maxMessages,
    run: async () => {
      const started = performance.now();
      await target.send(body());
      latency.recordMs(performance.now() - started);
      return 1;
    },
  });
  return { perSecond: (single.items * 1000) / single.ms, latency: latency.summary() };
}

async function measureBatched(target: QueueTarget, options: PhaseOptions): Promise<number> {
  await target.sendBatch(Array.from({ length: QUEUE_BATCH_SIZE }, body));
  const batched = await closedLoop({
    workers: QUEUE_BATCH_PRODUCERS,
    durationMs: options.durationMs,
    maxOperations: Math.ceil(options.maxMessages / QUEUE_BATCH_SIZE),
    run: async () => {
      await target.sendBatch(Array.from({ length: QUEUE_BATCH_SIZE }, body));
      return QUEUE_BATCH_SIZE;
    },
  });
  return (batched.items * 1000) / batched.ms;
}

/** Preloads `count` messages in batches, then times a consumer draining them with acks. */
async function measureDrain(target: QueueTarget, input: PhaseOptions & { count: number }) {
  for (let loaded = 0; loaded < input.count; loaded += QUEUE_BATCH_SIZE * 4) {
    await Promise.all(
      Array.from({ length: 4 }, () =>
        target.sendBatch(Array.from({ length: QUEUE_BATCH_SIZE }, body)),
      ),
    );
  }
  const preloaded = Math.ceil(input.count / (QUEUE_BATCH_SIZE * 4)) * QUEUE_BATCH_SIZE * 4;
  let consumed = 0;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const started = performance.now();
  const consumer = await target.consume(() => {
    consumed += 1;
    if (consumed >= preloaded) finish();
  });
  const bound = setTimeout(finish, input.durationMs * 4);
  await done;
  clearTimeout(bound);
  const ms = performance.now() - started;
  await consumer.stop();
  return {
    perSecond: (consumed * 1000) / ms,
    drained: { preloaded, consumed, ms: Math.round(ms) },
  };
}

async function measureEndToEnd(target: QueueTarget, options: PhaseOptions) {
  const latency = new LatencyHistogram();
  let warm = 0;
  let measuring = false;
  const consumer = await target.consume((received) => {
    if (!measuring) {
      warm += 1;
      return;
    }
    const sentAt = Number(received.slice(0, received.indexOf('|')));
    if (Number.isFinite(sentAt)) latency.recordMs(Math.max(0, performance.now() - sentAt));
  });
  // Warm-up messages go through the whole path once, unmeasured.
  await warmUp(target);
  const warmDeadline = performance.now() + 5000;
  while (warm < QUEUE_SINGLE_PRODUCERS && performance.now() < warmDeadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  measuring = true;
  const sent = await closedLoop({
    workers: QUEUE_LATENCY_PRODUCERS,
    durationMs: options.durationMs,
    maxOperations: options.maxMessages,
    run: async () => {
      await target.send(body());
      return 1;
    },
  });
  // Let the last messages arrive (bounded).
  const deadline = performance.now() + 3000;
  while (latency.count < sent.items && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await consumer.stop();
  return { ...latency.summary(), sent: sent.items };
}

async function runSystem(
  system: QueueSystem,
  input: PhaseOptions & { drainCount: number; runId: string },
): Promise<QueueSystemResult> {
  const { log } = input;
  let backend;
  try {
    backend = await system.launch(log);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    log(`${system.name}: skipped (${reason})`);
    return { name: system.name, description: system.description, status: 'skipped', reason };
  }
  try {
    log(`${system.name}: single sends`);
    const single = await measureSends(await backend.queue(`single${input.runId}`), input);
    log(`${system.name}: batched sends`);
    const batched = await measureBatched(await backend.queue(`batched${input.runId}`), input);
    log(`${system.name}: drain ${input.drainCount} with receive+ack`);
    const drain = await measureDrain(await backend.queue(`drain${input.runId}`), {
      ...input,
      count: input.drainCount,
    });
    log(`${system.name}: end-to-end latency`);
    const endToEnd = await measureEndToEnd(await backend.queue(`e2e${input.runId}`), input);
    return {
      name: system.name,
      description: system.description,
      status: 'ran',
      sendsPerSecond: single.perSecond,
      sendLatency: single.latency,
      batchedSendsPerSecond: batched,
      receiveAckPerSecond: drain.perSecond,
      drained: drain.drained,
      endToEnd,
    };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    log(`${system.name}: failed (${reason})`);
    return { name: system.name, description: system.description, status: 'failed', reason };
  } finally {
    await backend.close().catch(() => undefined);
  }
}

export function queueRows(results: readonly QueueSystemResult[]): Row[] {
  const values = (pick: (result: QueueSystemResult) => number | undefined) =>
    Object.fromEntries(results.map((result) => [result.name, pick(result)]));
  return [
    {
      metric: `send msgs/s, ${QUEUE_SINGLE_PRODUCERS} producers, one message per request`,
      unit: 'ops/s',
      better: 'higher',
      values: values((result) => result.sendsPerSecond),
    },
    {
      metric: `send p50 ms (single, ${QUEUE_SINGLE_PRODUCERS} producers)`,
      unit: 'ms',
      better: 'lower',
      values: values((result) => result.sendLatency?.p50Ms),
    },
    {
      metric: `send msgs/s, ${QUEUE_BATCH_PRODUCERS} producers, batches of ${QUEUE_BATCH_SIZE}`,
      unit: 'ops/s',
      better: 'higher',
      values: values((result) => result.batchedSendsPerSecond),
    },
    {
      metric: 'receive+ack msgs/s (draining a preloaded queue)',
      unit: 'ops/s',
      better: 'higher',
      values: values((result) => result.receiveAckPerSecond),
    },
    {
      metric: `end-to-end p50 ms (${QUEUE_LATENCY_PRODUCERS} producers, consumers running)`,
      unit: 'ms',
      better: 'lower',
      values: values((result) => result.endToEnd?.p50Ms),
    },
    {
      metric: 'end-to-end p99 ms',
      unit: 'ms',
      better: 'lower',
      values: values((result) => result.endToEnd?.p99Ms),
    },
  ];
}

function queueNotes(results: readonly QueueSystemResult[]): string[] {
  return [
    '',
    ...results.map((result) =>
      result.status === 'ran'
        ? `- **${result.name}**: ${result.description}`
        : `- **${result.name}** ${result.status}: ${result.reason ?? ''}`,
    ),
  ];
}

export async function runQueueSuite(options: SuiteOptions): Promise<SuiteOutput> {
  const run = startSuite('queue', options);
  const { bench, log, startedAt } = run;
  const systems = wantedSystems(bench, QUEUE_SYSTEMS);
  const phase = {
    durationMs: bench.durationMs,
    maxMessages: bench.maxOperationsPerRun,
    drainCount: bench.quick ? 4000 : 20_000,
    runId: `-${startedAt.getTime().toString(36)}`,
    log,
  };
  const results: QueueSystemResult[] = [];
  // One system at a time: they share the machine's cores and disk.
  for (const system of systems) results.push(await runSystem(system, phase));
  const rows = queueRows(results);
  const columns = results.map((result) => ({ name: result.name, kind: 'native' }));
  return finishSuite(run, {
    title: 'queue: distsync side by side with BullMQ, RabbitMQ (quorum) and NATS JetStream',
    workload: [
      `workload: ${QUEUE_MESSAGE_BYTES}-byte messages; each phase ${bench.durationMs} ms on a fresh queue; ` +
        `drain of ${phase.drainCount} preloaded messages; every send acknowledged durable by the system` +
        quickNote(bench),
    ],
    rows,
    columns,
    notes: queueNotes(results),
    results: suiteResults(
      run,
      { systems: results, table: rows },
      { messageBytes: QUEUE_MESSAGE_BYTES, drainCount: phase.drainCount },
    ),
  });
}
