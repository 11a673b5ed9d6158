// `pnpm bench queue-growth`: cost as a queue gets deep. Each system in turn gets one queue filled
// with `--growth-items` 100-byte messages nobody consumes (batches of 100, 4 in flight); at each
// checkpoint (1k, 10k, 100k queued) the suite records RSS per node and probes send latency (one
// message per request) and receive+ack latency (pull one message, ack it), receiving as many as
// it sent so the depth holds. distsync (three nodes, per-queue maxLength raised above the
// target), BullMQ on a bench-owned redis-server, a RabbitMQ quorum queue on the running broker
// and a stream with replication 3 on a bench-owned three-node NATS JetStream cluster.
import { readdirSync, readFileSync } from 'node:fs';
import type { Chart } from '../harness/charts.js';
import { growthCheckpoints } from '../harness/growth.js';
import {
  buildWarnings,
  growthCharts,
  growthProbeMs,
  runGrowthSuite,
  type GrowthChartSpec,
  type GrowthProbe,
  type GrowthSubject,
  type GrowthSystemResult,
} from '../harness/growth-run.js';
import { HttpClients } from '../harness/http.js';
import { runClosedLoop, type ClosedLoopResult } from '../harness/load.js';
import { processRssKiB } from '../harness/rss.js';
import {
  quickNote,
  wantedSystems,
  type SuiteOptions,
  type SuiteOutput,
} from '../harness/suite-report.js';
import { distsyncSystem as distsyncKvSystem } from '../systems/distsync.js';
import { natsServerUnavailable } from '../systems/nats-cluster.js';
import {
  bullmqBackend,
  distsyncBuiltQueueSystem,
  natsR3System,
  rabbitmqSystem,
  type QueueBackend,
  type QueueSystem,
  type QueueTarget,
} from '../systems/queue-systems.js';
import { redisSystem } from '../systems/redis.js';
import { originOf } from './locks.js';

export const QUEUE_GROWTH_MESSAGE_BYTES = 100;
export const QUEUE_GROWTH_BATCH_SIZE = 100;
export const QUEUE_GROWTH_LOAD_CONCURRENCY = 4;
export const QUEUE_GROWTH_PROBE_CLIENTS = 4;

export const QUEUE_GROWTH_PROBES: readonly GrowthProbe[] = [
  { id: 'send', label: 'send' },
  { id: 'receive', label: 'receive+ack' },
];
const QUEUE_GROWTH_CHARTS: GrowthChartSpec = {
  unit: 'queued messages',
  probes: QUEUE_GROWTH_PROBES,
  subject: 'queue',
  memorySubtitle: `${QUEUE_GROWTH_MESSAGE_BYTES}-byte messages in one queue; mean over the nodes (lower is better)`,
  probeSubtitle: `${QUEUE_GROWTH_PROBE_CLIENTS} closed-loop clients on the deep queue (lower is better)`,
};

const body = (): string => 'q'.repeat(QUEUE_GROWTH_MESSAGE_BYTES);

/**
 * Sends at QUEUE_GROWTH_PROBE_CLIENTS producers for `probeMs`, then receives and acks as many
 * at as many consumers (bounded by three times `probeMs`), so the depth is what it was.
 */
export async function probeQueue(
  target: QueueTarget,
  input: { size: number; probeMs: number; name: string; log: (line: string) => void },
): Promise<Record<string, ClosedLoopResult>> {
  const receiveOne = async (): Promise<void> => {
    if (!(await target.receiveAck())) throw new Error('no message within 1 s');
  };
  // Unmeasured: the first pull creates the system's consumer (a channel, a worker, a durable).
  for (let warm = 0; warm < QUEUE_GROWTH_PROBE_CLIENTS; warm += 1) await target.send(body());
  for (let warm = 0; warm < QUEUE_GROWTH_PROBE_CLIENTS; warm += 1) await receiveOne();
  const send = await runClosedLoop({
    label: `${input.name} send @${input.size}`,
    concurrency: QUEUE_GROWTH_PROBE_CLIENTS,
    durationMs: input.probeMs,
    maxOperations: 100_000,
    operation: () => target.send(body()),
  });
  const receive = await runClosedLoop({
    label: `${input.name} receive+ack @${input.size}`,
    concurrency: QUEUE_GROWTH_PROBE_CLIENTS,
    durationMs: input.probeMs * 3,
    maxOperations: Math.max(1, send.operations),
    operation: receiveOne,
  });
  const line = (what: string, run: ClosedLoopResult): string =>
    `${what} p50 ${run.latency.p50Ms.toFixed(2)} ms, p99 ${run.latency.p99Ms.toFixed(2)} ms` +
    (run.errors > 0 ? ` (${run.errors} errors, first: ${run.firstError})` : '');
  input.log(
    `${input.name} @${input.size} queued: ${line('send', send)}; ${line('receive+ack', receive)}`,
  );
  return { send, receive };
}

/**
 * The running RabbitMQ broker's Erlang VM: of the beam.smp processes started for rabbit, the
 * largest (a rabbitmqctl someone runs is a small beam.smp of its own); none when there is none.
 */
export function rabbitmqBrokerPids(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const args = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (args[0]?.endsWith('beam.smp') === true && args.some((arg) => arg.includes('rabbit'))) {
        pids.push(Number(name));
      }
    } catch {
      // Gone while scanning, or not ours to read.
    }
  }
  const largest = pids
    .map((pid) => ({ pid, rss: processRssKiB(pid) ?? 0 }))
    .sort((a, b) => b.rss - a.rss)[0];
  return largest === undefined ? [] : [largest.pid];
}

interface QueueGrowthSystem {
  readonly name: string;
  readonly description: string;
  readonly skip?: () => { reason: string; installCommand: string } | undefined;
  launch(log: (line: string) => void): Promise<QueueBackend>;
}

/** BullMQ on a redis-server of its own, so its RSS is the queue's alone. */
const bullmqOwnRedis: QueueGrowthSystem = {
  name: 'bullmq',
  description:
    'BullMQ (Queue.addBulk to load, Queue.add to probe; Worker.getNextJob + moveToCompleted to ' +
    'receive+ack) on a bench-owned redis-server (appendfsync always, one unreplicated node)',
  skip: () => redisSystem.unavailable(),
  async launch() {
    const clients = new HttpClients({ connectionsPerOrigin: 4 });
    const cluster = await redisSystem.launch({ clients });
    try {
      await cluster.waitReady(30_000);
      const backend = await bullmqBackend(originOf(cluster, 0));
      return {
        queue: (name, options) => backend.queue(name, options),
        pids: () => cluster.pids(),
        close: async () => {
          await backend.close();
          await cluster.stop();
          await clients.close();
        },
      };
    } catch (error) {
      await cluster.stop();
      await clients.close();
      throw error;
    }
  },
};

const fromQueueSystem = (system: QueueSystem, description: string): QueueGrowthSystem => ({
  name: system.name,
  description,
  launch: (log) => system.launch(log),
});

const QUEUE_GROWTH_SYSTEMS: readonly QueueGrowthSystem[] = [
  {
    ...fromQueueSystem(
      distsyncBuiltQueueSystem,
      'distsync three nodes (apps/node/dist/cli.js, FileStorage with fdatasync before ' +
        'acknowledging), @distsync/queue QueueClient over transport-ws, one connection per node; the ' +
        'queue is created with maxLength above the target (the default is 100,000); load: sendBatch of 100 (one command); ' +
        'probe: send, receive({ max: 1 }) + ack',
    ),
    skip: () => distsyncKvSystem.unavailable(),
  },
  bullmqOwnRedis,
  fromQueueSystem(
    rabbitmqSystem,
    'RabbitMQ quorum queue on the running broker (one node: replication 1; its RSS is the whole ' +
      "broker, other users' queues included) through amqplib: publishes on a confirm channel, " +
      'each awaited; receive+ack: basic.get with a manual ack (AMQP acks are not confirmed)',
  ),
  {
    ...fromQueueSystem(
      natsR3System,
      'NATS JetStream on a bench-owned three-node cluster (own ports and temp dirs), stream with ' +
        'replication 3, file storage, work-queue retention; js.publish awaiting each PubAck; ' +
        'receive+ack: a durable pull consumer, next() + ackAck() (the ack confirmed)',
    ),
    skip: natsServerUnavailable,
  },
];

async function queueSubject(
  system: QueueGrowthSystem,
  input: { items: number; probeMs: number; log: (line: string) => void },
): Promise<GrowthSubject> {
  const backend = await system.launch(input.log);
  try {
    const target = await backend.queue(`growth-${Date.now().toString(36)}`, {
      maxLength: input.items + 10_000,
    });
    const pids = (): (number | undefined)[] =>
      backend.pids?.() ?? (system.name === 'rabbitmq' ? rabbitmqBrokerPids() : []);
    return {
      pids,
      load: ({ from, to }) => target.sendBatch(Array.from({ length: to - from }, body)),
      probe: (size) =>
        probeQueue(target, { size, probeMs: input.probeMs, name: system.name, log: input.log }),
      stop: () => backend.close(),
    };
  } catch (error) {
    await backend.close().catch(() => undefined);
    throw error;
  }
}

/** The queue-growth charts: RSS per node, send p99 and receive+ack p99 against queue depth. */
export function queueGrowthCharts(results: readonly GrowthSystemResult[]): Chart[] {
  return growthCharts(results, QUEUE_GROWTH_CHARTS);
}

export function runQueueGrowthSuite(options: SuiteOptions): Promise<SuiteOutput> {
  const { bench, log } = options;
  const probeMs = growthProbeMs(bench);
  return runGrowthSuite(options, {
    suite: 'queue-growth',
    title: 'queue-growth: memory and queue latency as the queue gets deep',
    systems: wantedSystems(bench, QUEUE_GROWTH_SYSTEMS).map((system) => ({
      name: system.name,
      description: system.description,
      kind: 'queue',
      skip: () => system.skip?.(),
      launch: () => queueSubject(system, { items: bench.growthItems, probeMs, log }),
    })),
    checkpoints: growthCheckpoints(bench.growthItems, { first: 1000 }),
    batchSize: QUEUE_GROWTH_BATCH_SIZE,
    loadConcurrency: QUEUE_GROWTH_LOAD_CONCURRENCY,
    charts: QUEUE_GROWTH_CHARTS,
    workload: () => [
      `workload: one queue filled with up to ${bench.growthItems} messages of ${QUEUE_GROWTH_MESSAGE_BYTES} bytes ` +
        `that nobody consumes, sent in batches of ${QUEUE_GROWTH_BATCH_SIZE} (${QUEUE_GROWTH_LOAD_CONCURRENCY} in flight) ` +
        `within ${bench.growthBudgetMs} ms per system; at each checkpoint RSS per node, then single sends at ` +
        `${QUEUE_GROWTH_PROBE_CLIENTS} producers for ${probeMs} ms and as many receive+acks at ` +
        `${QUEUE_GROWTH_PROBE_CLIENTS} consumers (the depth holds)` +
        quickNote(bench),
      "replication differs: distsync and nats-r3 keep three copies (rows are per node), BullMQ's " +
        'Redis and the RabbitMQ quorum queue on the running broker one',
      ...buildWarnings(distsyncKvSystem),
    ],
  });
}
