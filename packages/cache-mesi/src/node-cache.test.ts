// NodeCache against an in-process directory on a manual clock: local hits without network, the
// read lease, writes that wait for invalidations, single flight, LRU bounds, write-behind with a
// store that goes down and comes back, and every code a NodeCache rejects with.
import { describe, expect, it } from 'vitest';
import { CacheError, MemoryStore, NodeCache, type NodeCacheOptions } from './index.js';
import { LocalDirectory } from './test-support/local.js';

const LEASE_MS = 1000;

function setup(
  count = 2,
  options: Partial<NodeCacheOptions> & {
    dirOptions?: ConstructorParameters<typeof LocalDirectory>[0];
  } = {},
): { dir: LocalDirectory; store: MemoryStore; caches: NodeCache[] } {
  const { dirOptions, ...cacheOptions } = options;
  const dir = new LocalDirectory({ readLeaseMs: LEASE_MS, clockSkewMsMax: 0, ...dirOptions });
  const store = new MemoryStore({ nowMs: () => dir.scheduler.now });
  const caches: NodeCache[] = [];
  for (let index = 1; index <= count; index += 1) {
    const cache = new NodeCache({
      holder: `node:n${index}`,
      directory: dir.port(),
      store,
      readLeaseMs: LEASE_MS,
      scheduler: dir.scheduler,
      operationTimeoutMs: 5000,
      ...cacheOptions,
    });
    dir.caches.push(cache);
    caches.push(cache);
  }
  return { dir, store, caches };
}

/** The error a promise rejects with, after the clock moved (no unhandled rejection meanwhile). */
async function failure(
  dir: LocalDirectory,
  promise: Promise<unknown>,
  advanceMs = 200,
): Promise<unknown> {
  const caught = promise.then(
    () => new Error('expected a rejection'),
    (error: unknown) => error,
  );
  await dir.scheduler.advance(advanceMs);
  return caught;
}

async function settled<T>(dir: LocalDirectory, promise: Promise<T>, advanceMs = 200): Promise<T> {
  await dir.scheduler.advance(advanceMs);
  return promise;
}

describe('NodeCache reads', () => {
  it('serves a hit in M, E or S from memory with no directory command', async () => {
    const { dir, caches } = setup();
    const [a, b] = caches as [NodeCache, NodeCache];
    await settled(dir, a.set('k', 'v'));
    const before = dir.commands.length;
    expect(await a.get('k')).toMatchObject({ value: 'v', state: 'M', source: 'local' });
    expect(dir.commands.length).toBe(before);

    expect(await settled(dir, b.get('k'))).toMatchObject({
      value: 'v',
      state: 'S',
      source: 'directory',
    });
    expect(a.stateOf('k')).toBe('S');
    const afterMiss = dir.commands.length;
    expect(await b.get('k')).toMatchObject({ source: 'local', state: 'S' });
    expect(dir.commands.length).toBe(afterMiss);
    expect(b.stats()).toMatchObject({ hits: 1, misses: 1, hitRate: 0.5 });
  });

  it('stops serving at lease start + lease*(1-drift) on its own clock without a renewal', async () => {
    const { dir, caches } = setup(1, { clockDriftMax: 0.01 });
    const [a] = caches as [NodeCache];
    await settled(dir, a.get('k'), 0);
    expect(a.stateOf('k')).toBe('E');
    await dir.scheduler.advance(LEASE_MS * 0.99 - 1);
    expect(a.stateOf('k')).toBe('E');
    await dir.scheduler.advance(2);
    expect(a.stateOf('k')).toBe('I');
    // start() renews every third of a lease, so the copy stays servable.
    a.start();
    await settled(dir, a.get('k'), 0);
    await dir.scheduler.advance(LEASE_MS * 3);
    expect(a.stateOf('k')).toBe('E');
    await a.stop({ flush: false });
  });

  it('loads a miss from the backing store once and registers E (S once another cache reads)', async () => {
    const { dir, store, caches } = setup();
    const [a, b] = caches as [NodeCache, NodeCache];
    store.seed('user:1', { name: 'Ada' });
    expect(await settled(dir, a.get('user:1'))).toMatchObject({
      value: { name: 'Ada' },
      state: 'E',
      source: 'store',
    });
    expect(await settled(dir, b.get('user:1'))).toMatchObject({ state: 'S', source: 'directory' });
    expect(await settled(dir, a.get('absent'))).toMatchObject({ found: false });
    // An absent key is cached too (a coherent negative entry).
    expect(await a.get('absent')).toMatchObject({ found: false, source: 'local' });
  });

  it('runs a getOrLoad loader once for concurrent callers (single flight)', async () => {
    const { dir, caches } = setup(1);
    const [a] = caches as [NodeCache];
    let calls = 0;
    const loader = async (): Promise<string> => {
      calls += 1;
      await Promise.resolve();
      return 'loaded';
    };
    const all = Promise.all([1, 2, 3, 4, 5].map(() => a.getOrLoad('k', loader)));
    expect(await settled(dir, all)).toEqual(['loaded', 'loaded', 'loaded', 'loaded', 'loaded']);
    expect(calls).toBe(1);
    expect(await a.getOrLoad('k', loader)).toBe('loaded');
    expect(calls).toBe(1);
  });
});

describe('NodeCache writes', () => {
  it('acknowledges a write only after the other copies acknowledged their invalidation', async () => {
    const { dir, caches } = setup(3);
    const [a, b, c] = caches as [NodeCache, NodeCache, NodeCache];
    await settled(dir, a.set('k', 1));
    await settled(dir, b.get('k'));
    await settled(dir, c.get('k'));
    // c's invalidations are not delivered and it does not renew: its ack never comes, and the
    // write waits until its lease ran out. a and b renew theirs.
    dir.caches.splice(dir.caches.indexOf(c), 1);
    a.start();
    b.start();
    let done = false;
    const write = b.set('k', 2).then((result) => {
      done = true;
      return result;
    });
    await dir.scheduler.advance(100);
    expect(done).toBe(false);
    expect(a.stateOf('k')).toBe('I');
    expect(dir.machine.peek('k')?.pending).toEqual(['node:n3']);
    await dir.scheduler.advance(LEASE_MS);
    dir.tick();
    await dir.scheduler.advance(100);
    expect(done).toBe(true);
    expect((await write).version).toBe(dir.machine.peek('k')?.version);
    expect(b.stats().lines.M).toBe(1);
    expect(dir.machine.peek('k')?.holders).toMatchObject([{ holder: 'node:n2', state: 'M' }]);
    // c stopped serving its copy on its own clock before the write was acknowledged.
    expect(c.stateOf('k')).toBe('I');
    expect(b.stats().invalidationsSent).toBe(2);
    expect(a.stats().invalidationsReceived).toBe(1);
    await a.stop({ flush: false });
    await b.stop({ flush: false });
  });

  it('writes back a line that goes from M to S when another cache reads it', async () => {
    const { dir, store, caches } = setup();
    const [a, b] = caches as [NodeCache, NodeCache];
    const { version } = await settled(dir, a.set('k', 'dirty'));
    expect(store.versionOf('k')).toBe(0);
    await settled(dir, b.get('k'));
    expect(store.versionOf('k')).toBe(version);
    expect(dir.machine.peek('k')?.dirty).toBe(false);
  });

  it('deletes coherently: every copy turns absent', async () => {
    const { dir, caches } = setup();
    const [a, b] = caches as [NodeCache, NodeCache];
    await settled(dir, a.set('k', 1));
    await settled(dir, b.get('k'));
    expect(await settled(dir, a.delete('k'))).toMatchObject({ deleted: true });
    expect(await settled(dir, b.get('k'))).toMatchObject({ found: false });
    expect(await settled(dir, a.delete('k'))).toMatchObject({ deleted: false });
  });
});

describe('NodeCache bounds and write-behind', () => {
  it('evicts the least recently used line beyond maxEntries and maxBytes, and releases it', async () => {
    const { dir, caches } = setup(1, { maxEntries: 2, maxBytes: 50 });
    const [a] = caches as [NodeCache];
    await settled(dir, a.set('a', 1));
    await settled(dir, a.set('b', 2));
    await a.get('a');
    await settled(dir, a.set('c', 3));
    expect(a.stateOf('b')).toBe('I');
    expect(a.stateOf('a')).toBe('M');
    expect(dir.commands).toContainEqual(
      expect.objectContaining({ op: 'release', holder: 'node:n1' }),
    );
    await settled(dir, a.set('big', 'x'.repeat(45)));
    expect(a.stats().bytes).toBeLessThanOrEqual(50);
    expect(a.stats().evictions).toBeGreaterThanOrEqual(2);
  });

  it('keeps committing while the store is down, reports it, retries with backoff and loses nothing', async () => {
    const { dir, store, caches } = setup(1, {
      writeBack: { enabled: () => true, intervalMs: 50, backoffMsMax: 400 },
    });
    const [a] = caches as [NodeCache];
    a.start();
    store.available = false;
    for (let index = 0; index < 5; index += 1) await settled(dir, a.set(`k${index}`, index), 10);
    await dir.scheduler.advance(300);
    const down = a.stats().store;
    expect(down.healthy).toBe(false);
    expect(down.consecutiveFailures).toBeGreaterThanOrEqual(2);
    expect(down.lastError).toContain('unavailable');
    expect(dir.machine.dirtyCount()).toBe(5);
    // A miss that needs the store fails with STORE_UNAVAILABLE; hits keep being served.
    expect(await failure(dir, a.get('never'))).toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect(await a.get('k1')).toMatchObject({ value: 1, source: 'local' });

    store.available = true;
    await dir.scheduler.advance(1000);
    expect(a.stats().store.healthy).toBe(true);
    expect(dir.machine.dirtyCount()).toBe(0);
    for (let index = 0; index < 5; index += 1) {
      expect(await store.get(`k${index}`)).toEqual({ found: true, value: index });
    }
    await a.stop({ flush: false });
  });

  it('flushes what is dirty when stopped', async () => {
    const { dir, store, caches } = setup(1);
    const [a] = caches as [NodeCache];
    await settled(
      dir,
      a.setMany([
        { key: 'x', value: 1 },
        { key: 'y', value: 2, ttlMs: 60_000 },
      ]),
    );
    const stopping = a.stop();
    await dir.scheduler.advance(10);
    await stopping;
    expect(await store.get('x')).toEqual({ found: true, value: 1 });
    expect(await store.get('y')).toMatchObject({ found: true, value: 2 });
  });
});

describe('NodeCache rejections', () => {
  it('rejects with the directory codes TOO_LARGE, LIMIT_REACHED and NOT_FOUND', async () => {
    const { dir, caches } = setup(1, { dirOptions: { maxValueBytes: 8, maxKeys: 1 } });
    const [a] = caches as [NodeCache];
    expect(await failure(dir, a.set('k', 'far too large'))).toMatchObject({ code: 'TOO_LARGE' });
    await settled(dir, a.set('k', 1));
    expect(await failure(dir, a.set('other', 1))).toMatchObject({ code: 'LIMIT_REACHED' });
    const session = new NodeCache({
      holder: 'session:gone',
      directory: dir.port(),
      scheduler: dir.scheduler,
    });
    expect(await failure(dir, session.get('k'))).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('rejects with TIMEOUT when a write stays unacknowledged past operationTimeoutMs', async () => {
    const { dir, caches } = setup(2, { operationTimeoutMs: 300 });
    const [a, b] = caches as [NodeCache, NodeCache];
    await settled(dir, a.get('k'));
    dir.caches.splice(dir.caches.indexOf(a), 1);
    const write = b.set('k', 1);
    const outcome = write.catch((error: unknown) => error);
    await dir.scheduler.advance(400);
    expect(await outcome).toMatchObject({ code: 'TIMEOUT' });
  });

  it('rejects with UNAVAILABLE when the directory cannot be reached or the cache is stopped', async () => {
    const { dir, caches } = setup(1);
    const [a] = caches as [NodeCache];
    dir.down = true;
    expect(await failure(dir, a.get('k'))).toMatchObject({ code: 'UNAVAILABLE' });
    dir.down = false;
    await a.stop({ flush: false });
    expect(await failure(dir, a.set('k', 1))).toMatchObject({ code: 'UNAVAILABLE' });
  });

  it('passes BAD_REQUEST through and refuses bad options with INVALID_OPTION', async () => {
    const refusing = new NodeCache({
      holder: 'node:x',
      directory: {
        command: () => Promise.reject(Object.assign(new Error('bad key'), { code: 'BAD_REQUEST' })),
        query: () => Promise.reject(new Error('unused')),
      },
    });
    await expect(refusing.get('k')).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(refusing.get('k')).rejects.toBeInstanceOf(CacheError);
    const directory = { command: () => Promise.resolve(null), query: () => Promise.resolve(null) };
    expect(() => new NodeCache({ holder: 'nobody', directory })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    );
    expect(() => new NodeCache({ holder: 'node:a', directory, maxEntries: 0 })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    );
  });
});
