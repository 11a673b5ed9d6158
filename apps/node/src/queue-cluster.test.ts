// The queue on three real `distsync node` processes: a producer and a consumer (QueueClient over
// /client, any node) while the leader is killed with kill -9 must lose no acknowledged send; and
// a dead-letter move that falls due around a leader kill happens exactly once (the message is
// neither lost nor in both queues nor twice in the DLQ). Every child is killed in afterAll.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, type ClusterConnection } from '@distsync/transport-ws';
import { QueueClient } from '@distsync/queue';
import { TestCluster } from './test-support/cluster.js';
import { killAllChildren, removeDir, tempDir, waitFor } from './test-support/processes.js';

let dir: string;
let cluster: TestCluster;
let connection: ClusterConnection | undefined;

beforeAll(async () => {
  dir = tempDir('queue-cluster');
  cluster = await TestCluster.create(dir);
  cluster.startAll();
  try {
    await cluster.waitForLeader({ timeoutMs: 30_000 });
  } catch (error) {
    for (const member of cluster.members) {
      console.log(
        `--- ${member.id}\n${(member.process?.output() ?? '').split('\n').slice(-10).join('\n')}`,
      );
    }
    throw error;
  }
  connection = await connect(
    cluster.members.map((member) => `ws://127.0.0.1:${member.port}`),
    { requestTimeoutMs: 8000 },
  );
}, 45_000);

afterEach((context) => {
  if (context.task.result?.state !== 'fail') return;
  for (const member of cluster.members) {
    const lines = (member.process?.output() ?? '').trim().split('\n').slice(-10);
    console.log(`--- ${member.id} (last log lines)\n${lines.join('\n')}`);
  }
});

function open(): ClusterConnection {
  if (connection === undefined) throw new Error('the cluster did not start');
  return connection;
}

afterAll(async () => {
  await connection?.close();
  await killAllChildren();
  removeDir(dir);
});

async function killLeader(): Promise<string> {
  const leader = await cluster.waitForLeader();
  const victim = cluster.member(leader.id);
  victim.process?.child.kill('SIGKILL');
  await victim.process?.exited;
  return leader.id;
}

describe('queue on a three-process cluster', () => {
  it('loses no acknowledged send while the leader is killed with kill -9 (producer and consumer running)', async () => {
    const producer = new QueueClient({ connection: open(), requestTimeoutMs: 8000 });
    const consumer = new QueueClient({
      connection: open(),
      sessionTtlMs: 3000,
      requestTimeoutMs: 8000,
    });
    const total = 300;
    const acknowledged = new Set<string>();
    const received = new Map<string, number>();
    let killed: string | undefined;
    const deadline = Date.now() + 25_000;

    const produce = async (): Promise<void> => {
      for (let index = 0; index < total && Date.now() < deadline; index += 1) {
        const id = `p${index}`;
        // A send that fails (the leader died under it) is retried with the same id: dedup keeps
        // it once whether or not the first attempt committed.
        while (Date.now() < deadline) {
          try {
            await producer.send('orders', { index }, { id, key: `k${index % 8}` });
            acknowledged.add(id);
            break;
          } catch {
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
        }
        if (index === 100) killed = await killLeader();
      }
    };

    const consume = async (): Promise<void> => {
      for await (const message of consumer.consume('orders', { prefetch: 16, waitMs: 500 })) {
        received.set(message.id, (received.get(message.id) ?? 0) + 1);
        await message.ack().catch(() => undefined);
        const done =
          acknowledged.size === total && [...acknowledged].every((id) => received.has(id));
        if (done || Date.now() > deadline) break;
      }
    };

    await Promise.all([produce(), consume()]);
    await consumer.close();
    const lost = [...acknowledged].filter((id) => !received.has(id));
    const duplicates = [...received.values()].filter((count) => count > 1).length;
    console.log(
      `queue kill -9: killed ${killed}, ${acknowledged.size} acknowledged, ${received.size} received, lost ${lost.length}, redelivered ${duplicates}`,
    );
    expect(killed).toBeDefined();
    expect(acknowledged.size).toBe(total);
    expect(lost).toEqual([]);
    expect([...received.keys()].filter((id) => !acknowledged.has(id))).toEqual([]);
    cluster.start(killed!);
  }, 40_000);

  it('moves a message to the DLQ exactly once when its lease expires around a leader kill', async () => {
    await cluster.waitForLeader();
    const client = new QueueClient({ connection: open(), requestTimeoutMs: 8000 });
    await client.createQueue('fragile', { maxDeliveries: 1, visibilityTimeoutMs: 1500 });
    await client.send('fragile', { job: 'x' }, { id: 'poison', headers: { origin: 'test' } });
    const [leased] = await client.receive('fragile', { max: 1 });
    expect(leased?.id).toBe('poison');
    // The lease falls due while the leader is gone: the next leader proposes the move.
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const killed = await killLeader();
    await cluster.waitForLeader({
      among: cluster.members.map((m) => m.id).filter((id) => id !== killed),
    });
    const settled = await waitFor(
      'the DLQ move',
      async () => {
        const stats = (await client.stats('fragile')) as { total: number; dlqDepth: number };
        return stats.total === 0 && stats.dlqDepth > 0 ? stats : undefined;
      },
      { timeoutMs: 15_000 },
    );
    expect(settled.dlqDepth).toBe(1);
    expect(await client.receive('fragile', { max: 5 })).toEqual([]);
    const dead = await client.receive('fragile.dlq', { max: 5 });
    expect(dead.map((message) => [message.id, message.body, message.headers])).toEqual([
      ['poison', { job: 'x' }, { origin: 'test' }],
    ]);
    const peek = (await open().query('queue', { op: 'peek', queue: 'fragile.dlq' })) as {
      messages: { history: { outcome: string }[]; deadLetter: { reason: string } }[];
    };
    expect(peek.messages[0]).toMatchObject({
      history: [{ delivery: 1, outcome: 'expired' }],
      deadLetter: { sourceQueue: 'fragile', reason: 'maxDeliveries' },
    });
    // The ack of the old lease is refused: the message has moved.
    await expect(leased!.ack()).rejects.toMatchObject({ code: 'STALE_RECEIPT' });
    await client.close();
    cluster.start(killed);
  }, 40_000);
});
