// The queue service on one node, over HTTP and /client: the documented answers and codes, the
// long poll (answers when a message arrives, or empty at waitMs), group commit of concurrent
// sends, and QueueClient's consume() with credit-based flow control and session-tied leases.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { connect, type ClusterConnection } from '@distsync/transport-ws';
import { QueueClient, type ReceivedMessage } from '@distsync/queue';
import { loadConfig, startNode, type RunningNode } from '@distsync/node';
import { http, removeDir, tempDir, waitFor } from './test-support/processes.js';

let node: RunningNode;
let base: string;
let dir: string;
let connection: ClusterConnection;

beforeAll(async () => {
  dir = tempDir('queue-api');
  const config = loadConfig({ flags: { id: 'solo', port: 0, dataDir: dir, tickMs: 20 } });
  node = await startNode(config, { logger: pino({ level: 'silent' }) });
  base = `http://127.0.0.1:${node.port}`;
  await waitFor('ready', async () =>
    (await http(`${base}/ready`)).status === 200 ? true : undefined,
  );
  connection = await connect(`ws://127.0.0.1:${node.port}`, { requestTimeoutMs: 5000 });
});

afterAll(async () => {
  await connection.close();
  await node.drain();
  removeDir(dir);
});

const post = (path: string, body: unknown) =>
  http(`${base}/v1/queues/${path}`, { method: 'POST', body });

describe('queue REST API', () => {
  it('sends, receives, acks and nacks with the documented answers and codes', async () => {
    expect(await post('jobs/messages', { body: { n: 1 }, id: 'one', priority: 3 })).toEqual({
      status: 200,
      body: { id: 'one', duplicate: false },
    });
    expect((await post('jobs/messages', { body: { n: 1 }, id: 'one' })).body).toEqual({
      id: 'one',
      duplicate: true,
    });
    const received = await post('jobs/receive', { max: 5, waitMs: 0, visibilityTimeoutMs: 5000 });
    expect(received.status).toBe(200);
    const [message] = (
      received.body as { messages: { id: string; receipt: string; deliveryCount: number }[] }
    ).messages;
    expect(message).toMatchObject({ id: 'one', body: { n: 1 }, deliveryCount: 1, priority: 3 });
    expect(await post('jobs/ack', { receipt: message!.receipt })).toEqual({
      status: 200,
      body: {},
    });
    const stale = await post('jobs/ack', { receipt: message!.receipt });
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({ error: { code: 'STALE_RECEIPT' } });
    expect((await post('other/ack', { receipt: message!.receipt })).status).toBe(400);
    expect((await post('jobs/messages', { body: 1, priority: 12 })).status).toBe(400);
    const stats = await http(`${base}/v1/queues/jobs/stats`);
    expect(stats.body).toMatchObject({
      queue: 'jobs',
      depth: 0,
      inFlight: 0,
      counters: { acked: 1, enqueued: 1, duplicates: 1 },
    });
    expect((await http(`${base}/v1/queues/none/stats`)).status).toBe(404);
    const metrics = (await http(`${base}/metrics`)).body as string;
    for (const name of [
      'distsync_queue_messages',
      'distsync_queue_in_flight',
      'distsync_queue_waiting_receives',
      'distsync_queue_group_commit_entries_total',
    ]) {
      expect(metrics).toContain(name);
    }
  });

  it('creates queues (409 on other options), refuses a full queue with 429 QUEUE_FULL, lists, purges and redrives', async () => {
    const create = (options: unknown) =>
      http(`${base}/v1/queues/tiny`, { method: 'PUT', body: { options } });
    expect((await create({ maxLength: 1, maxDeliveries: 1 })).body).toMatchObject({
      created: true,
    });
    expect((await create({ maxLength: 1, maxDeliveries: 1 })).body).toMatchObject({
      created: false,
    });
    expect((await create({ maxLength: 2 })).status).toBe(409);
    expect((await post('tiny/messages', { body: 'a' })).status).toBe(200);
    const full = await post('tiny/messages', { body: 'b' });
    expect(full).toMatchObject({ status: 429, body: { error: { code: 'QUEUE_FULL' } } });
    const [message] = (
      (await post('tiny/receive', { max: 1 })).body as { messages: { receipt: string }[] }
    ).messages;
    expect((await post('tiny/nack', { receipt: message!.receipt })).body).toEqual({
      deadLettered: true,
    });
    const listed = (await http(`${base}/v1/queues`)).body as { queues: { name: string }[] };
    expect(listed.queues.find((queue) => queue.name === 'tiny.dlq')).toMatchObject({ total: 1 });
    expect((await post('tiny/redrive', {})).body).toEqual({ redriven: 1 });
    expect((await post('tiny/purge', undefined)).body).toEqual({ purged: 1 });
  });

  it('long-polls: a waiting receive answers as soon as a message is sent, or empty at waitMs', async () => {
    const started = Date.now();
    const waiting = post('poll/receive', { max: 1, waitMs: 5000 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    await post('poll/messages', { body: 'wake' });
    const answer = await waiting;
    expect((answer.body as { messages: { body: unknown }[] }).messages.map((m) => m.body)).toEqual([
      'wake',
    ]);
    expect(Date.now() - started).toBeLessThan(4000);
    const emptyStarted = Date.now();
    expect((await post('poll/receive', { max: 1, waitMs: 300 })).body).toEqual({ messages: [] });
    expect(Date.now() - emptyStarted).toBeGreaterThanOrEqual(250);
  });
});

describe('queue over /client', () => {
  it('packs concurrent sends into few Raft entries and answers each send', async () => {
    const before = (node.status().serviceStatus as { queue: { groupCommit: { entries: number } } })
      .queue.groupCommit.entries;
    const ids = await Promise.all(
      Array.from({ length: 200 }, (_, index) =>
        connection.command('queue', {
          op: 'send',
          queue: 'bulk',
          message: { id: `b${index}`, body: index },
        }),
      ),
    );
    expect(new Set(ids.map((value) => (value as { id: string }).id)).size).toBe(200);
    const after = (node.status().serviceStatus as { queue: { groupCommit: { entries: number } } })
      .queue.groupCommit.entries;
    expect(after - before).toBeLessThan(100);
    const stats = (await connection.query('queue', { op: 'stats', queue: 'bulk' })) as {
      depth: number;
    };
    expect(stats.depth).toBe(200);
  });

  it('consume() holds at most prefetch unsettled messages, and a closed consumer gives its leases back', async () => {
    const client = new QueueClient({ connection, sessionTtlMs: 2000 });
    await client.sendBatch(
      'flow',
      Array.from({ length: 12 }, (_, index) => ({ body: index, key: 'k' })),
    );
    const held: ReceivedMessage[] = [];
    const iterator = client.consume('flow', { prefetch: 4, waitMs: 200 });
    for (let index = 0; index < 4; index += 1) {
      const next = await iterator.next();
      held.push(next.value as ReceivedMessage);
    }
    // Credit is spent: the server holds exactly 4 leases for us.
    await waitFor('4 in flight', async () =>
      ((await client.stats('flow')) as { inFlight: number }).inFlight === 4 ? true : undefined,
    );
    expect(held.map((message) => message.body)).toEqual([0, 1, 2, 3]);
    await held[0]!.ack();
    const fifth = await iterator.next();
    expect((fifth.value as ReceivedMessage).body).toBe(4);
    await iterator.return(undefined);
    await client.close();
    // Ending the session released the 4 unsettled leases at once (no visibility timeout wait).
    await waitFor('leases released', async () => {
      const stats = (await connection.query('queue', { op: 'stats', queue: 'flow' })) as {
        inFlight: number;
        depth: number;
      };
      return stats.inFlight === 0 && stats.depth === 11 ? true : undefined;
    });
  });
});
