// The queue suite's systems: distsync (three `distsync node` processes, QueueClient over
// @distsync/transport-ws) and the brokers already running on the machine: BullMQ on Redis, a
// RabbitMQ quorum queue (publisher confirms, manual acks) and a NATS JetStream stream with file
// storage. A broker that cannot be reached is reported as skipped, never silently left out.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import amqp from 'amqplib';
import { Queue, Worker, type Job } from 'bullmq';
import {
  AckPolicy,
  connect as natsConnect,
  RetentionPolicy,
  StorageType,
  StringCodec,
  type Consumer,
  type NatsConnection,
} from 'nats';
import { connect, type ClusterConnection } from '@distsync/transport-ws';
import { QueueClient } from '@distsync/queue';
import { ClusterProcesses, type NodeSpec } from '../harness/cluster.js';
import { freePorts } from '../harness/ports.js';
import { waitUntil } from '../harness/wait.js';
import { workspaceRoot } from './distsync.js';
import { startNatsCluster } from './nats-cluster.js';

/** One queue of a system, as the suite drives it. Bodies are strings of 100 bytes. */
export interface QueueTarget {
  /** One message per request; resolves once the system says it is durable. */
  send(body: string): Promise<void>;
  /** Many messages; resolves once all are durable. */
  sendBatch(bodies: readonly string[]): Promise<void>;
  /** Starts consuming with acks; `onMessage` runs once per delivery before its ack. */
  consume(onMessage: (body: string) => void): Promise<{ stop(): Promise<void> }>;
  /**
   * Receives one message and acks it (pull, one round trip each); false when none arrived
   * within about a second.
   */
  receiveAck(): Promise<boolean>;
}

export interface QueueOpenOptions {
  /** Messages the queue must be able to hold (distsync's per-queue `maxLength`). */
  readonly maxLength?: number;
}

export interface QueueBackend {
  queue(name: string, options?: QueueOpenOptions): Promise<QueueTarget>;
  /** Pid per node of a broker the bench started (its RSS is measured); absent otherwise. */
  pids?(): (number | undefined)[];
  close(): Promise<void>;
}

export interface QueueSystem {
  readonly name: string;
  readonly description: string;
  /** Starts or connects; rejects with the reason when the system is not available. */
  launch(log: (line: string) => void): Promise<QueueBackend>;
}

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const NATS_URL = process.env.NATS_URL ?? '127.0.0.1:4222';

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`${what}: no answer within ${ms} ms`));
    }, ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

// ---- distsync -------------------------------------------------------------------------------

function distsyncSpecs(input: {
  rootDir: string;
  ports: readonly number[];
  /** Run apps/node/dist/cli.js (as the kv suites do) instead of the sources through tsx. */
  built?: boolean;
}): NodeSpec[] {
  const ids = ['n1', 'n2', 'n3'];
  const secret = randomBytes(24).toString('hex');
  const appDir = join(workspaceRoot(), 'apps', 'node');
  const address = (index: number): string => `127.0.0.1:${input.ports[index]!}`;
  return ids.map((id, index) => ({
    id,
    origin: `http://${address(index)}`,
    command: process.execPath,
    cwd: appDir,
    // From source through tsx: the suite does not depend on a fresh build of every package.
    // Built: no compiler in the node's memory (the growth suites measure RSS).
    args: [
      ...(input.built === true
        ? [join(appDir, 'dist', 'cli.js')]
        : ['--import', 'tsx', '--conditions', '@distsync/source', join(appDir, 'src', 'cli.ts')]),
      'node',
      ...['--id', id, '--port', String(input.ports[index]!)],
      ...[
        '--peers',
        ids
          .map((peer, peerIndex) => `${peer}=${address(peerIndex)}`)
          .filter((_, peerIndex) => peerIndex !== index)
          .join(','),
      ],
      ...['--data-dir', ClusterProcesses.dataDir(input.rootDir, id)],
      ...['--cluster-id', 'distsync-queue-bench', '--secret', secret],
      ...['--log-level', 'warn', '--log-format', 'json'],
    ],
    env: { ...process.env, NODE_ENV: 'production' },
  }));
}

async function readyAll(specs: readonly NodeSpec[]): Promise<boolean> {
  const answers = await Promise.all(
    specs.map((spec) =>
      fetch(`${spec.origin}/ready`, { signal: AbortSignal.timeout(1000) })
        .then((response) => response.status === 200)
        .catch(() => false),
    ),
  );
  return answers.every(Boolean);
}

class DistsyncBackend implements QueueBackend {
  readonly #processes: ClusterProcesses;
  readonly #connections: ClusterConnection[];
  readonly #clients: QueueClient[];
  #next = 0;

  constructor(processes: ClusterProcesses, connections: ClusterConnection[]) {
    this.#processes = processes;
    this.#connections = connections;
    this.#clients = connections.map((connection) => new QueueClient({ connection }));
  }

  #client(): QueueClient {
    this.#next = (this.#next + 1) % this.#clients.length;
    return this.#clients[this.#next]!;
  }

  pids(): (number | undefined)[] {
    return this.#processes.pids();
  }

  async queue(name: string, options: QueueOpenOptions = {}): Promise<QueueTarget> {
    if (options.maxLength !== undefined) {
      await this.#client().createQueue(name, { maxLength: options.maxLength });
    }
    const target: QueueTarget = {
      send: async (body) => {
        await this.#client().send(name, body);
      },
      sendBatch: async (bodies) => {
        await this.#client().sendBatch(
          name,
          bodies.map((body) => ({ body })),
        );
      },
      consume: (onMessage) => this.#consume(name, onMessage),
      receiveAck: async () => {
        const [message] = await this.#client().receive(name, { max: 1, waitMs: 1000 });
        if (message === undefined) return false;
        await message.ack();
        return true;
      },
    };
    return target;
  }

  /** One consumer per node connection, each with its own session and prefetch credit. */
  #consume(name: string, onMessage: (body: string) => void): Promise<{ stop(): Promise<void> }> {
    const controller = new AbortController();
    const consumers = this.#connections.map((connection) => new QueueClient({ connection }));
    const loops = consumers.map(async (client) => {
      const acks = new Set<Promise<void>>();
      try {
        for await (const message of client.consume(name, {
          prefetch: 256,
          waitMs: 500,
          signal: controller.signal,
        })) {
          onMessage(message.body as string);
          // Acks are not awaited one by one: the node packs concurrent acks into one entry.
          const ack = message.ack().catch(() => undefined);
          acks.add(ack);
          void ack.then(() => acks.delete(ack));
          if (controller.signal.aborted) break;
        }
      } catch {
        // Stopping aborts a waiting receive.
      }
      await Promise.allSettled([...acks]);
    });
    return Promise.resolve({
      stop: async () => {
        controller.abort();
        await Promise.all(loops);
        await Promise.all(consumers.map((client) => client.close()));
      },
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.#clients.map((client) => client.close()));
    await Promise.all(this.#connections.map((connection) => connection.close()));
    await this.#processes.stopAll({ removeData: true });
  }
}

async function leaderIndex(specs: readonly NodeSpec[]): Promise<number> {
  for (const spec of specs) {
    const status = (await fetch(`${spec.origin}/status`, { signal: AbortSignal.timeout(1000) })
      .then((response) => response.json())
      .catch(() => undefined)) as { leader?: string | null } | undefined;
    const index = specs.findIndex((candidate) => candidate.id === status?.leader);
    if (index >= 0) return index;
  }
  return 0;
}

function distsyncSystem(input: {
  name: string;
  leaderFirst: boolean;
  built?: boolean;
}): QueueSystem {
  return {
    name: input.name,
    description:
      `distsync three \`distsync node\` processes (apps/node ${input.built === true ? 'dist/cli.js' : 'from source through tsx'}, FileStorage with ` +
      'fdatasync before acknowledging), @distsync/queue QueueClient over @distsync/transport-ws; ' +
      (input.leaderFirst
        ? 'every connection starts at the leader (a leader-aware client: no follower hop)'
        : 'one connection per node, each starting at a different node (followers forward to the leader)') +
      '; sends and acks arriving together share a Raft entry (group commit); consumers: one ' +
      'consume() per connection, prefetch 256',
    async launch(log) {
      const rootDir = ClusterProcesses.makeRoot('distsync-queue');
      const specs = distsyncSpecs({
        rootDir,
        ports: await freePorts(3),
        ...(input.built === undefined ? {} : { built: input.built }),
      });
      const processes = new ClusterProcesses({ system: input.name, specs, rootDir });
      processes.startAll();
      try {
        await waitUntil(() => readyAll(specs), {
          what: 'distsync cluster ready',
          timeoutMs: 30_000,
          processes: processes.running(),
        });
        const endpoints = specs.map((spec) => spec.origin.replace(/^http:/, 'ws:'));
        const leader = await leaderIndex(specs);
        const order = (index: number): string[] => {
          const first = input.leaderFirst ? leader : index;
          return [...endpoints.slice(first), ...endpoints.slice(0, first)];
        };
        const connections = await Promise.all(
          endpoints.map((_, index) =>
            connect(order(index), { maxPendingRequests: 4096, requestTimeoutMs: 10_000 }),
          ),
        );
        log(`${input.name}: three nodes ready (leader ${specs[leader]?.id ?? '?'})`);
        return new DistsyncBackend(processes, connections);
      } catch (error) {
        await processes.stopAll({ removeData: true });
        throw error;
      }
    },
  };
}

export const distsyncQueueSystem: QueueSystem = distsyncSystem({
  name: 'distsync',
  leaderFirst: false,
});
/** The same from apps/node/dist/cli.js, for RSS figures without tsx in the nodes. */
export const distsyncBuiltQueueSystem: QueueSystem = distsyncSystem({
  name: 'distsync',
  leaderFirst: false,
  built: true,
});
export const distsyncLeaderQueueSystem: QueueSystem = distsyncSystem({
  name: 'distsync-leader',
  leaderFirst: true,
});

// ---- BullMQ on Redis ------------------------------------------------------------------------

function redisConnection(url: string): { host: string; port: number; maxRetriesPerRequest: null } {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port || 6379), maxRetriesPerRequest: null };
}

/** BullMQ queues on the Redis at `url`, under a per-run key prefix removed on close. */
export async function bullmqBackend(url: string): Promise<QueueBackend> {
  const prefix = `distsync-bench-${randomBytes(4).toString('hex')}`;
  const queues: Queue[] = [];
  const workers: Worker[] = [];
  const probe = new Queue('probe', { connection: redisConnection(url), prefix });
  queues.push(probe);
  try {
    await withTimeout(probe.waitUntilReady(), 3000, `Redis at ${url}`);
  } catch (error) {
    await probe.close().catch(() => undefined);
    throw error;
  }
  return {
    queue: (name) => {
      const queue = new Queue(name, { connection: redisConnection(url), prefix });
      queues.push(queue);
      const jobOptions = { removeOnComplete: true, removeOnFail: true };
      let puller: Worker | undefined;
      const token = randomBytes(8).toString('hex');
      const target: QueueTarget = {
        send: async (body) => {
          await queue.add('m', { body }, jobOptions);
        },
        sendBatch: async (bodies) => {
          await queue.addBulk(
            bodies.map((body) => ({ name: 'm', data: { body }, opts: jobOptions })),
          );
        },
        consume: (onMessage) => {
          const worker = new Worker(
            name,
            (job) => {
              onMessage((job.data as { body: string }).body);
              return Promise.resolve();
            },
            { connection: redisConnection(url), prefix, concurrency: 64 },
          );
          return Promise.resolve({ stop: () => worker.close() });
        },
        // Manual processing: a Worker without a processor hands out the next job on request.
        receiveAck: async () => {
          if (puller === undefined) {
            puller = new Worker(name, null, {
              connection: redisConnection(url),
              prefix,
              autorun: false,
            });
            workers.push(puller);
          }
          const job = (await puller.getNextJob(token, { block: false })) as Job | undefined;
          if (job === undefined) return false;
          await job.moveToCompleted('ok', token, false);
          return true;
        },
      };
      return Promise.resolve(target);
    },
    close: async () => {
      for (const worker of workers) await worker.close().catch(() => undefined);
      for (const queue of queues) {
        await queue.obliterate({ force: true }).catch(() => undefined);
        await queue.close().catch(() => undefined);
      }
    },
  };
}

export const bullmqSystem: QueueSystem = {
  name: 'bullmq',
  description:
    'BullMQ (Queue.add / addBulk, Worker with concurrency 64, jobs removed on completion) on the ' +
    `Redis at ${REDIS_URL} (its own persistence settings; a BullMQ add is acknowledged from memory)`,
  launch: () => bullmqBackend(REDIS_URL),
};

// ---- RabbitMQ quorum queue ------------------------------------------------------------------

export const rabbitmqSystem: QueueSystem = {
  name: 'rabbitmq',
  description:
    'RabbitMQ quorum queue (x-queue-type quorum, persistent messages) through amqplib: a confirm ' +
    'channel, each send resolved by its publisher confirm; a consumer channel with prefetch 256 and ' +
    'manual acks',
  async launch() {
    const connection = await withTimeout(
      amqp.connect(AMQP_URL, { noDelay: true }),
      3000,
      `RabbitMQ at ${AMQP_URL}`,
    );
    const channels: amqp.Channel[] = [];
    const created: string[] = [];
    const publisher = await connection.createConfirmChannel();
    channels.push(publisher);
    let getter: amqp.Channel | undefined;
    const publish = (queue: string, body: string): Promise<void> =>
      new Promise((resolve, reject) => {
        publisher.sendToQueue(queue, Buffer.from(body), { persistent: true }, (error: unknown) => {
          if (error === null || error === undefined) resolve();
          else reject(error instanceof Error ? error : new Error('the publish was not confirmed'));
        });
      });
    return {
      queue: async (name) => {
        const queue = `distsync-bench-${name}-${randomBytes(3).toString('hex')}`;
        await publisher.assertQueue(queue, {
          durable: true,
          arguments: { 'x-queue-type': 'quorum' },
        });
        created.push(queue);
        return {
          send: (body) => publish(queue, body),
          sendBatch: async (bodies) => {
            await Promise.all(bodies.map((body) => publish(queue, body)));
          },
          consume: async (onMessage) => {
            const channel = await connection.createChannel();
            channels.push(channel);
            await channel.prefetch(256);
            const { consumerTag } = await channel.consume(
              queue,
              (message) => {
                if (message === null) return;
                onMessage(message.content.toString());
                channel.ack(message);
              },
              { noAck: false },
            );
            return {
              stop: async () => {
                await channel.cancel(consumerTag);
              },
            };
          },
          // basic.get with a manual ack (AMQP acks are not confirmed: the ack is sent, not awaited).
          receiveAck: async () => {
            if (getter === undefined) {
              getter = await connection.createChannel();
              channels.push(getter);
            }
            const message = await getter.get(queue, { noAck: false });
            if (message === false) return false;
            getter.ack(message);
            return true;
          },
        };
      },
      close: async () => {
        for (const queue of created) await publisher.deleteQueue(queue).catch(() => undefined);
        for (const channel of channels) await channel.close().catch(() => undefined);
        await connection.close().catch(() => undefined);
      },
    };
  },
};

// ---- NATS JetStream -------------------------------------------------------------------------

/** JetStream streams (file storage, work-queue retention, `replicas` copies) over `nc`. */
export async function natsBackend(
  nc: NatsConnection,
  options: { replicas: number; pids?: () => (number | undefined)[]; onClose?: () => Promise<void> },
): Promise<QueueBackend> {
  const jsm = await nc.jetstreamManager();
  const js = nc.jetstream();
  const codec = StringCodec();
  const streams: string[] = [];
  return {
    queue: async (name) => {
      const stream = `distsync_bench_${name.replace(/[^A-Za-z0-9]/g, '_')}_${randomBytes(3).toString('hex')}`;
      await jsm.streams.add({
        name: stream,
        subjects: [stream],
        storage: StorageType.File,
        retention: RetentionPolicy.Workqueue,
        num_replicas: options.replicas,
      });
      streams.push(stream);
      let durable: Promise<Consumer> | undefined;
      const consumerOf = (): Promise<Consumer> => {
        durable ??= jsm.consumers
          .add(stream, {
            durable_name: 'bench',
            ack_policy: AckPolicy.Explicit,
            max_ack_pending: 4096,
          })
          .then(() => js.consumers.get(stream, 'bench'));
        return durable;
      };
      return {
        send: async (body) => {
          await js.publish(stream, codec.encode(body));
        },
        sendBatch: async (bodies) => {
          await Promise.all(bodies.map((body) => js.publish(stream, codec.encode(body))));
        },
        consume: async (onMessage) => {
          const consumer = await consumerOf();
          const messages = await consumer.consume({ max_messages: 256 });
          const loop = (async () => {
            for await (const message of messages) {
              onMessage(codec.decode(message.data));
              message.ack();
            }
          })();
          return {
            stop: async () => {
              await messages.close();
              await loop.catch(() => undefined);
            },
          };
        },
        // A pull of one message, then an ack the server confirms (ackAck).
        receiveAck: async () => {
          const message = await (await consumerOf()).next({ expires: 1000 });
          if (message === null) return false;
          await message.ackAck();
          return true;
        },
      };
    },
    ...(options.pids === undefined ? {} : { pids: options.pids }),
    close: async () => {
      for (const stream of streams) await jsm.streams.delete(stream).catch(() => false);
      await nc.close();
      await options.onClose?.();
    },
  };
}

export const natsSystem: QueueSystem = {
  name: 'nats',
  description:
    'NATS JetStream stream on the running nats-server (one node, replication 1) with file storage ' +
    'and work-queue retention, js.publish awaiting each PubAck; a durable pull consumer with ' +
    'explicit acks (consume(), max 256 messages buffered)',
  async launch() {
    const nc = await withTimeout(
      natsConnect({ servers: NATS_URL, timeout: 3000 }),
      4000,
      `NATS at ${NATS_URL}`,
    );
    return natsBackend(nc, { replicas: 1 });
  },
};

export const natsR3System: QueueSystem = {
  name: 'nats-r3',
  description:
    'NATS JetStream on a bench-owned three-node cluster (nats-server on its own loopback ports ' +
    'and temp dirs, removed after the run), stream with replication 3, file storage and ' +
    'work-queue retention; js.publish awaiting each PubAck (acknowledged once a quorum stored it); ' +
    'a durable pull consumer with explicit acks (consume(), max 256 messages buffered)',
  async launch(log) {
    const cluster = await startNatsCluster();
    try {
      const nc = await cluster.connect();
      log(`nats-r3: three nodes ready on ${cluster.servers.join(', ')}`);
      return await natsBackend(nc, {
        replicas: 3,
        pids: () => cluster.pids(),
        onClose: () => cluster.stop(),
      });
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  },
};

export const QUEUE_SYSTEMS: readonly QueueSystem[] = [
  distsyncQueueSystem,
  distsyncLeaderQueueSystem,
  bullmqSystem,
  rabbitmqSystem,
  natsSystem,
  natsR3System,
];
