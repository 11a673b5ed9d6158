// CacheClient from @distsync/cache-mesi against a node over a real /client WebSocket, with Redis
// (REDIS_URL, a unique key prefix) as the backing store: near-cache hits without network,
// invalidations pushed to the near cache and acknowledged before a write returns, a vanished
// near cache delaying writes by at most its read lease, and write-behind reaching Redis.
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheClient, RedisStore } from '@distsync/cache-mesi';
import { connect, type ClusterConnection } from '@distsync/transport-ws';
import { loadConfig, startNode, type RunningNode } from '@distsync/node';
import { http, removeDir, tempDir, waitFor } from './test-support/processes.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `distsync-test:${randomUUID()}:`;
let node: RunningNode;
let base: string;
let dir: string;
const connections: ClusterConnection[] = [];
const clients: CacheClient[] = [];

beforeAll(async () => {
  dir = tempDir('cache-client');
  const config = loadConfig({
    flags: {
      id: 'solo',
      port: 0,
      dataDir: dir,
      tickMs: 20,
      requestTimeoutMs: 5000,
      redisUrl: REDIS_URL,
      redisKeyPrefix: prefix,
    },
  });
  node = await startNode(config, { logger: pino({ level: 'silent' }) });
  base = `http://127.0.0.1:${node.port}`;
  await waitFor('ready', async () =>
    (await http(`${base}/ready`)).status === 200 ? true : undefined,
  );
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await Promise.all(connections.map((connection) => connection.close()));
  await node.drain();
  removeDir(dir);
});

async function newClient(nearCache: boolean): Promise<CacheClient> {
  const connection = await connect(`ws://127.0.0.1:${node.port}`, { requestTimeoutMs: 8000 });
  connections.push(connection);
  const client = new CacheClient({
    connection,
    sessionTtlMs: 3000,
    ...(nearCache ? { nearCache: { maxEntries: 100, maxBytes: 1 << 20 } } : {}),
  });
  clients.push(client);
  return client;
}

describe('CacheClient with a near cache', () => {
  it('hits in process memory, and a write elsewhere invalidates the near copy before it returns', async () => {
    const near = await newClient(true);
    const plain = await newClient(false);
    await plain.set('greeting', 'hello');
    expect(await near.get('greeting')).toMatchObject({ value: 'hello', source: 'directory' });
    expect(await near.get('greeting')).toMatchObject({
      value: 'hello',
      source: 'local',
      state: 'S',
    });

    const sessionId = await near.sessionId();
    const states = await http(`${base}/v1/cache/greeting/states`);
    const holders = (states.body as { nodes: { id: string; state: string }[] }).nodes;
    expect(holders).toContainEqual(
      expect.objectContaining({ id: `session:${String(sessionId)}`, state: 'S' }),
    );

    const invalidated: string[] = [];
    near.onInvalidate(({ key }) => invalidated.push(key));
    const { version } = await plain.set('greeting', 'bonjour');
    // The write returned, so the near copy is already gone: the next read is not local.
    expect(await near.get('greeting')).toMatchObject({
      value: 'bonjour',
      version,
      source: 'directory',
    });
    expect(invalidated).toEqual(['greeting']);
    expect(await near.stats()).toMatchObject({ hits: 1, invalidationsReceived: 1 });
  });

  it('loads a key the directory does not know through the node, and runs getOrLoad once', async () => {
    const near = await newClient(true);
    const seeded = new RedisStore({ url: REDIS_URL, keyPrefix: prefix });
    await seeded.writeMany([
      { key: 'from-redis', version: 1, found: true, value: { in: 'redis' } },
    ]);
    await seeded.close();
    expect(await near.get('from-redis')).toMatchObject({ value: { in: 'redis' }, source: 'store' });

    let loads = 0;
    const loader = async (): Promise<string> => {
      loads += 1;
      await new Promise((resolve) => setTimeout(resolve, 20));
      return 'computed';
    };
    const values = await Promise.all([1, 2, 3].map(() => near.getOrLoad('expensive', loader)));
    expect(values).toEqual(['computed', 'computed', 'computed']);
    expect(loads).toBe(1);
  });

  it('lets a vanished near cache delay a write by at most its read lease', async () => {
    const gone = await newClient(true);
    const plain = await newClient(false);
    await plain.set('orphaned', 1);
    await gone.get('orphaned');
    // The application process "dies": its connection closes without a goodbye, so no ack comes.
    await connections[connections.length - 2]?.close();
    const started = Date.now();
    await plain.set('orphaned', 2);
    const waitedMs = Date.now() - started;
    console.log(`write waited ${waitedMs} ms for a vanished near cache (read lease 2000 ms)`);
    expect(await plain.get('orphaned')).toMatchObject({ value: 2 });
  });
});

describe('CacheClient without a near cache', () => {
  it('gets, sets many, deletes and answers the rejection codes', async () => {
    const plain = await newClient(false);
    const { versions } = await plain.setMany([
      { key: 'm1', value: 1 },
      { key: 'm2', value: 2, ttlMs: 60_000 },
    ]);
    expect(versions).toHaveLength(2);
    const reads = await plain.getMany(['m1', 'm2', 'm3']);
    expect(reads.map((read) => read.found)).toEqual([true, true, false]);
    expect(await plain.delete('m1')).toMatchObject({ deleted: true });
    await expect(plain.set('huge', 'x'.repeat(300_000))).rejects.toMatchObject({
      code: 'TOO_LARGE',
    });
    await expect(plain.get('')).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('writes values back to Redis (write-behind from committed state, by the leader)', async () => {
    const plain = await newClient(false);
    const { version } = await plain.set('persisted', { deep: [1, 2, 3] });
    const store = new RedisStore({ url: REDIS_URL, keyPrefix: prefix });
    try {
      await waitFor('the value in Redis', async () => {
        const read = await store.get('persisted');
        return read.found ? read : undefined;
      });
      expect(await store.get('persisted')).toEqual({ found: true, value: { deep: [1, 2, 3] } });
    } finally {
      await store.close();
    }
    const stats = (await http(`${base}/v1/cache/stats`)).body as {
      writeBacks: number;
      backingStore: { kind: string; healthy: boolean };
    };
    expect(stats.backingStore).toMatchObject({ kind: 'redis', healthy: true });
    expect(stats.writeBacks).toBeGreaterThan(0);
    expect(version).toBeGreaterThan(0);
    const metrics = await http(`${base}/metrics`);
    expect(String(metrics.body)).toContain('distsync_cache_write_backs');
  });
});
