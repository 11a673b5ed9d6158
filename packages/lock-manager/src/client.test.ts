// LockClient against an in-memory cluster stand-in (one lock state machine, its pushes and the
// request query): the recovery paths a real network makes rare. Pushes lost in a reconnection,
// a grant whose acquire answer never arrived, and pushes ahead of their answer.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LockClient, type ClusterConnection } from '@distsync/lock-manager';
import { Driver } from './test-support.js';

/** The node side of the lock service, in memory, with switches for the faults under test. */
class FakeCluster implements ClusterConnection {
  readonly driver = new Driver({ sessions: [] });
  readonly #handlers = new Map<string, Set<(payload: unknown) => void>>();
  dropPushes = false;
  /** Keep-alives: answered after this delay (ms); `failKeepalives` makes them fail at once. */
  keepaliveDelayMs = 0;
  failKeepalives = false;
  /** The next acquire applies but its answer is lost (the caller sees a TIMEOUT). */
  loseNextAcquireAnswer = false;
  #sessions = 0;

  constructor() {
    this.driver.machine.onEvent((event) => {
      if (event.type === 'restored' || this.dropPushes) return;
      const { sessionId, ...payload } = event;
      for (const handler of this.#handlers.get(`lock/session/${sessionId}`) ?? []) handler(payload);
    });
  }

  command(service: string, payload: unknown): Promise<unknown> {
    const request = payload as { op: string; sessionId?: string; ttlMs?: number };
    if (service === 'sessions') {
      if (request.op === 'create') {
        this.#sessions += 1;
        const sessionId = `s${this.#sessions}`;
        this.driver.sessions.live.add(sessionId);
        return Promise.resolve({ sessionId, ttlMs: request.ttlMs });
      }
      if (request.op === 'delete') this.driver.endSession(request.sessionId ?? '', 'deleted');
      if (request.op === 'keepalive') {
        if (this.failKeepalives) {
          return Promise.reject(Object.assign(new Error('down'), { code: 'UNAVAILABLE' }));
        }
        const delayMs = this.keepaliveDelayMs;
        return new Promise((resolve) =>
          setTimeout(() => {
            resolve({});
          }, delayMs),
        );
      }
      return Promise.resolve({});
    }
    const result = this.driver.apply(payload as Parameters<Driver['apply']>[0]);
    if (request.op === 'acquire' && this.loseNextAcquireAnswer) {
      this.loseNextAcquireAnswer = false;
      return Promise.reject(Object.assign(new Error('no answer'), { code: 'TIMEOUT' }));
    }
    if (!result.ok) {
      return Promise.reject(Object.assign(new Error(result.message), { code: result.code }));
    }
    return Promise.resolve(result.value);
  }

  query(_service: string, payload: unknown): Promise<unknown> {
    const result = this.driver.machine.query(payload as Parameters<Driver['machine']['query']>[0]);
    return result.ok ? Promise.resolve(result.value) : Promise.reject(new Error(result.message));
  }

  subscribe(topic: string, handler: (payload: unknown) => void) {
    const handlers = this.#handlers.get(topic) ?? new Set();
    this.#handlers.set(topic, handlers);
    handlers.add(handler);
    return Object.assign(() => handlers.delete(handler), { ready: Promise.resolve() });
  }

  holders(name: string): string[] {
    return this.driver.holders(name);
  }
}

const clients: LockClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

function client(cluster: FakeCluster, options: { keepaliveIntervalMs?: number } = {}) {
  const created = new LockClient({ connection: cluster, answerSlackMs: 100, ...options });
  clients.push(created);
  return created;
}

describe('LockClient keep-alive', () => {
  it('counts the TTL from when a keep-alive was sent, so a slow answer never extends the session', async () => {
    // The cluster renewed the session somewhere between the send at 100 ms and the answer at
    // 250 ms, so it may expire it at 100 + 300. Counting from the answer would believe in the
    // session until 550 ms; the client must give it up by 400 ms.
    vi.useFakeTimers();
    try {
      const cluster = new FakeCluster();
      const locks = new LockClient({
        connection: cluster,
        answerSlackMs: 100,
        keepaliveIntervalMs: 100,
      });
      const lost: number[] = [];
      const start = performance.now();
      locks.on('sessionLost', () => lost.push(performance.now() - start));
      cluster.keepaliveDelayMs = 150;
      await locks.acquire('L', { ttlMs: 300 });
      await vi.advanceTimersByTimeAsync(120);
      cluster.failKeepalives = true;
      await vi.advanceTimersByTimeAsync(290);
      expect(lost).toHaveLength(1);
      expect(lost[0]).toBeLessThanOrEqual(400);
      await locks.close().catch(() => undefined);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('LockClient recovery', () => {
  it('finds a grant whose push was lost on the next keep-alive', async () => {
    // Proves the request query: the wait ends with the grant although no push arrived.
    const cluster = new FakeCluster();
    const holder = client(cluster);
    const waiter = client(cluster, { keepaliveIntervalMs: 200 });
    const held = await holder.acquire('L');
    const waiting = waiter.acquire('L', { timeoutMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    cluster.dropPushes = true;
    await held.release();
    const handle = await waiting;
    expect(handle.token).toBeGreaterThan(held.token);
    expect(cluster.holders('L')).toEqual([`${handle.sessionId}:exclusive`]);
  });

  it('cancels a grant nobody claims: its acquire answer was lost', async () => {
    // Proves a grant pushed for a request the client never heard of is released, not kept.
    const cluster = new FakeCluster();
    const holder = client(cluster);
    const other = client(cluster);
    const held = await holder.acquire('L');
    cluster.loseNextAcquireAnswer = true;
    await expect(other.acquire('L', { timeoutMs: 10_000 })).rejects.toMatchObject({
      code: 'TIMEOUT',
    });
    await held.release();
    expect(cluster.holders('L')).toHaveLength(1);
    // After answerSlackMs unclaimed, the client cancels the grant: the lock is free again.
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(cluster.holders('L')).toEqual([]);
  });

  it('takes a grant pushed before the acquire answered', async () => {
    // Proves an early push waits for its request instead of being lost.
    const cluster = new FakeCluster();
    const first = client(cluster);
    const second = client(cluster);
    const held = await first.acquire('L');
    const originalCommand = cluster.command.bind(cluster);
    // The release's grant push reaches the waiter's session before the waiter's answer does.
    let release: (() => Promise<void>) | undefined;
    cluster.command = async (service, payload) => {
      const answer = await originalCommand(service, payload);
      if ((payload as { op?: string }).op === 'acquire' && release !== undefined) {
        const pending = release;
        release = undefined;
        await pending();
      }
      return answer;
    };
    release = () => held.release();
    const handle = await second.acquire('L', { timeoutMs: 5000 });
    expect(handle.token).toBeGreaterThan(held.token);
  });
});
