// RedisStore against real Redis: the machine's Redis (REDIS_URL, a unique key prefix per run,
// never flushed) for the envelope, version order, tombstones, TTL and pipelined batches; and a
// test-owned redis-server on a free port, stopped and restarted under a NodeCache that keeps
// committing: write-behind reports the outage, retries with backoff, and loses nothing.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { NodeCache, RedisStore, realScheduler } from './index.js';
import { LocalDirectory } from './test-support/local.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `distsync-test:${randomUUID()}:`;
const cleanups: (() => Promise<void>)[] = [];

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

async function waitUntil(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A redis-server of this test's own (no persistence, as the brief for tests asks). */
async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await waitUntil('redis-server to accept connections', () =>
    output.includes('Ready to accept connections'),
  );
  return child;
}

async function stopRedis(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

describe('RedisStore on the running Redis', () => {
  const store = new RedisStore({ url: REDIS_URL, keyPrefix: prefix });
  const raw = new Redis(REDIS_URL);
  cleanups.push(async () => {
    const keys = await raw.keys(`${prefix}*`);
    if (keys.length > 0) await raw.del(...keys);
    raw.disconnect();
    await store.close();
  });

  it('stores a versioned envelope under the prefix and never lets an older version win', async () => {
    await store.writeMany([{ key: 'a', version: 7, found: true, value: { n: 1 } }]);
    expect(JSON.parse((await raw.get(`${prefix}a`)) ?? 'null')).toEqual({ v: 7, d: { n: 1 } });
    await store.writeMany([{ key: 'a', version: 5, found: true, value: 'older' }]);
    expect(await store.get('a')).toEqual({ found: true, value: { n: 1 } });
    await store.writeMany([{ key: 'a', version: 9, found: false }]);
    expect(await store.get('a')).toEqual({ found: false });
    // The tombstone keeps its version: a late write-back of version 8 stays out.
    await store.writeMany([{ key: 'a', version: 8, found: true, value: 'late' }]);
    expect(await store.get('a')).toEqual({ found: false });
    expect(await raw.pttl(`${prefix}a`)).toBeGreaterThan(0);
  });

  it('writes a batch in one pipeline, with TTLs, and reads values other systems stored', async () => {
    const items = Array.from({ length: 200 }, (_, index) => ({
      key: `batch:${index}`,
      version: index + 1,
      found: true,
      value: index,
      ...(index % 2 === 0 ? { ttlMs: 60_000 } : {}),
    }));
    await store.writeMany(items);
    expect(await store.get('batch:10')).toMatchObject({ found: true, value: 10 });
    expect((await store.get('batch:10')) as { ttlMs?: number }).toHaveProperty('ttlMs');
    expect(await store.get('batch:11')).toEqual({ found: true, value: 11 });
    await raw.set(`${prefix}foreign`, JSON.stringify({ plain: true }));
    expect(await store.get('foreign')).toEqual({ found: true, value: { plain: true } });
    await raw.set(`${prefix}text`, 'not json');
    expect(await store.get('text')).toEqual({ found: true, value: 'not json' });
  });

  it('gets write-behind from a NodeCache into Redis', async () => {
    const dir = new LocalDirectory({ readLeaseMs: 1000 });
    const cache = new NodeCache({
      holder: 'node:redis-1',
      directory: dir.port(),
      store,
      writeBack: { enabled: () => true, intervalMs: 20 },
      scheduler: realScheduler,
    });
    cache.start();
    const { version } = await cache.set('wb', { written: 'behind' });
    await waitUntil('the value in Redis', async () => (await raw.get(`${prefix}wb`)) !== null);
    expect(JSON.parse((await raw.get(`${prefix}wb`)) ?? 'null')).toEqual({
      v: version,
      d: { written: 'behind' },
    });
    await cache.stop({ flush: false });
  });

  it('refuses a store without a URL or client with INVALID_OPTION', () => {
    expect(() => new RedisStore({})).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
    expect(() => new RedisStore({ url: REDIS_URL, tombstoneTtlMs: 0 })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    );
  });
});

describe('a test-owned redis-server stopped and restarted', () => {
  it('keeps the cache serving and committing, reports the outage, and loses nothing', async () => {
    const port = await freePort();
    let redis = await startRedis(port);
    cleanups.push(() => stopRedis(redis));
    const url = `redis://127.0.0.1:${port}`;
    const store = new RedisStore({ url, keyPrefix: 'own:', commandTimeoutMs: 500 });
    cleanups.push(() => store.close());
    const dir = new LocalDirectory({ readLeaseMs: 60_000 });
    const cache = new NodeCache({
      holder: 'node:redis-2',
      directory: dir.port(),
      store,
      writeBack: { enabled: () => true, intervalMs: 20, backoffMsMax: 200 },
      scheduler: realScheduler,
      readLeaseMs: 60_000,
    });
    cache.start();
    cleanups.push(() => cache.stop({ flush: false }));

    await cache.set('before', 1);
    await waitUntil('the first write-back', () => dir.machine.dirtyCount() === 0);

    await stopRedis(redis);
    const acknowledged: number[] = [];
    for (let index = 0; index < 20; index += 1) {
      await cache.set(`during:${index}`, index);
      acknowledged.push(index);
    }
    await waitUntil(
      'write-back failures to show',
      () => cache.stats().store.consecutiveFailures >= 2,
    );
    expect(cache.stats().store).toMatchObject({ healthy: false });
    expect(dir.machine.dirtyCount()).toBe(20);
    // Reads keep being served from the cache meanwhile.
    expect(await cache.get('during:3')).toMatchObject({ value: 3, source: 'local' });

    redis = await startRedis(port);
    await waitUntil('the backlog written back', () => dir.machine.dirtyCount() === 0, 15_000);
    expect(cache.stats().store.healthy).toBe(true);
    const check = new Redis(url);
    try {
      for (const index of acknowledged) {
        expect(JSON.parse((await check.get(`own:during:${index}`)) ?? 'null')).toMatchObject({
          d: index,
        });
      }
    } finally {
      check.disconnect();
    }
    // Everything acknowledged is still readable through the cache.
    expect(await cache.get('before')).toMatchObject({ value: 1 });
  }, 30_000);
});
