// The lock service on one node: the REST routes of DESIGN.md (grants, waits, 408 TIMEOUT,
// 409 DEADLOCK / NOT_HELD, 400s, 404 SESSION_EXPIRED), its metrics and status, and LockClient
// from @distsync/lock-manager over a real /client WebSocket connection.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { connect, type ClusterConnection } from '@distsync/transport-ws';
import { LockClient, LockError } from '@distsync/lock-manager';
import { loadConfig, startNode, type RunningNode } from '@distsync/node';
import { http, removeDir, tempDir, waitFor } from './test-support/processes.js';

let node: RunningNode;
let base: string;
let dir: string;
const connections: ClusterConnection[] = [];

beforeAll(async () => {
  dir = tempDir('locks');
  const config = loadConfig({
    flags: { id: 'solo', port: 0, dataDir: dir, tickMs: 20, requestTimeoutMs: 3000 },
  });
  node = await startNode(config, { logger: pino({ level: 'silent' }) });
  base = `http://127.0.0.1:${node.port}`;
  await waitFor('ready', async () =>
    (await http(`${base}/ready`)).status === 200 ? true : undefined,
  );
});

afterAll(async () => {
  await Promise.all(connections.map((connection) => connection.close()));
  await node.drain();
  removeDir(dir);
});

async function session(ttlMs = 10_000): Promise<string> {
  const created = await http(`${base}/v1/sessions`, { method: 'POST', body: { ttlMs } });
  expect(created.status).toBe(200);
  return (created.body as { sessionId: string }).sessionId;
}

function acquire(name: string, body: Record<string, unknown>) {
  return http(`${base}/v1/locks/${encodeURIComponent(name)}/acquire`, {
    method: 'POST',
    body,
    timeoutMs: 8000,
  });
}

function release(name: string, body: Record<string, unknown>) {
  return http(`${base}/v1/locks/${encodeURIComponent(name)}/release`, { method: 'POST', body });
}

async function newClient(): Promise<LockClient> {
  const connection = await connect(`ws://127.0.0.1:${node.port}`, { requestTimeoutMs: 8000 });
  connections.push(connection);
  return new LockClient({ connection, ttlMs: 2000 });
}

describe('REST routes', () => {
  it('grants, refuses a try-lock with 408, and hands the lock to a waiter with a larger token', async () => {
    // Proves acquire/release/GET and that a queued REST acquire answers on its grant.
    const a = await session();
    const b = await session();
    const first = await acquire('r/1', { sessionId: a, timeoutMs: 0 });
    expect(first.status).toBe(200);
    const { token } = first.body as { token: number };
    const tryLock = await acquire('r/1', { sessionId: b, timeoutMs: 0 });
    expect(tryLock).toMatchObject({ status: 408, body: { error: { code: 'TIMEOUT' } } });
    const waiting = acquire('r/1', { sessionId: b, mode: 'exclusive', timeoutMs: 5000 });
    await waitFor('b queued', async () => {
      const view = (await http(`${base}/v1/locks/r%2F1`)).body as { waiters: unknown[] };
      return view.waiters.length === 1 ? true : undefined;
    });
    const view = await http(`${base}/v1/locks/r%2F1`);
    expect(view.body).toMatchObject({
      name: 'r/1',
      holders: [{ sessionId: a, mode: 'exclusive', token, holdCount: 1 }],
      waiters: [{ sessionId: b, mode: 'exclusive', upgrade: false }],
    });
    expect(await release('r/1', { sessionId: a })).toEqual({
      status: 200,
      body: { released: true, holdCount: 0 },
    });
    const granted = await waiting;
    expect(granted.status).toBe(200);
    expect((granted.body as { token: number }).token).toBeGreaterThan(token);
    const list = await http(`${base}/v1/locks`);
    expect((list.body as { locks: { name: string }[] }).locks.map((lock) => lock.name)).toContain(
      'r/1',
    );
  });

  it('answers 408 when a wait times out and 409 NOT_HELD for a release by a non-holder', async () => {
    // Proves the replicated wait timeout reaches the REST caller and NOT_HELD maps to 409.
    const a = await session();
    const b = await session();
    await acquire('r/2', { sessionId: a });
    const started = Date.now();
    const timedOut = await acquire('r/2', { sessionId: b, timeoutMs: 300 });
    expect(timedOut).toMatchObject({ status: 408, body: { error: { code: 'TIMEOUT' } } });
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect(await release('r/2', { sessionId: b })).toMatchObject({
      status: 409,
      body: { error: { code: 'NOT_HELD' } },
    });
  });

  it('bounds a REST wait by the node request timeout and leaves nothing queued', async () => {
    // Proves a wait longer than requestTimeoutMs (3 s here) is answered 408 then, not held open.
    const a = await session();
    const b = await session();
    await acquire('r/3', { sessionId: a });
    const started = Date.now();
    const answer = await acquire('r/3', { sessionId: b, timeoutMs: 60_000 });
    expect(answer).toMatchObject({ status: 408, body: { error: { code: 'TIMEOUT' } } });
    expect(Date.now() - started).toBeLessThan(6000);
    const view = (await http(`${base}/v1/locks/r%2F3`)).body as { waiters: unknown[] };
    expect(view.waiters).toEqual([]);
  });

  it('refuses the request that closes a wait-for cycle with 409 DEADLOCK', async () => {
    // Proves deadlock detection end to end: the youngest request fails, the older one proceeds.
    const a = await session();
    const b = await session();
    await acquire('d/A', { sessionId: a });
    await acquire('d/B', { sessionId: b });
    const older = acquire('d/B', { sessionId: a, timeoutMs: 5000 });
    await waitFor('a queued on B', async () => {
      const view = (await http(`${base}/v1/locks/d%2FB`)).body as { waiters: unknown[] };
      return view.waiters.length === 1 ? true : undefined;
    });
    const younger = await acquire('d/A', { sessionId: b, timeoutMs: 5000 });
    expect(younger).toMatchObject({ status: 409, body: { error: { code: 'DEADLOCK' } } });
    await release('d/B', { sessionId: b });
    expect((await older).status).toBe(200);
    const metrics = (await http(`${base}/metrics`)).body as string;
    expect(metrics).toMatch(/distsync_lock_deadlocks [1-9]/);
    for (const name of [
      'distsync_lock_held',
      'distsync_lock_waiting',
      'distsync_lock_wait_seconds_bucket',
    ]) {
      expect(metrics).toContain(name);
    }
  });

  it('answers 400 for bad input and 404 SESSION_EXPIRED for a dead session', async () => {
    // Proves every bad field gets BAD_REQUEST with its name, and a missing session its own code.
    const a = await session();
    const bad = [
      acquire('x', { sessionId: a, mode: 'read' }),
      acquire('x', { sessionId: a, timeoutMs: -1 }),
      acquire('x', { timeoutMs: 0 }),
      acquire('é'.repeat(129), { sessionId: a }),
      release('x', { sessionId: a, extra: true }),
    ];
    for (const answer of await Promise.all(bad)) {
      expect(answer).toMatchObject({ status: 400, body: { error: { code: 'BAD_REQUEST' } } });
    }
    expect(await acquire('x', { sessionId: 'nobody' })).toMatchObject({
      status: 404,
      body: { error: { code: 'SESSION_EXPIRED' } },
    });
  });

  it('upgrades a shared hold to exclusive once the other reader leaves', async () => {
    // Proves the upgrade route waits for the other shared holder and grants a larger token.
    const a = await session();
    const b = await session();
    const shared = await acquire('u/1', { sessionId: a, mode: 'shared' });
    await acquire('u/1', { sessionId: b, mode: 'shared' });
    const upgrading = http(`${base}/v1/locks/u%2F1/upgrade`, {
      method: 'POST',
      body: { sessionId: a, timeoutMs: 5000 },
      timeoutMs: 8000,
    });
    await waitFor('upgrade queued', async () => {
      const view = (await http(`${base}/v1/locks/u%2F1`)).body as { waiters: unknown[] };
      return view.waiters.length === 1 ? true : undefined;
    });
    await release('u/1', { sessionId: b });
    const upgraded = await upgrading;
    expect(upgraded.status).toBe(200);
    expect(upgraded.body).toMatchObject({ mode: 'exclusive' });
    expect((upgraded.body as { token: number }).token).toBeGreaterThan(
      (shared.body as { token: number }).token,
    );
  });

  it('shows held and waiting counts in /status', async () => {
    // Proves the runtime's status reaches /status under serviceStatus.lock.
    const status = (await http(`${base}/status`)).body as {
      serviceStatus: { lock?: { held: number; waiting: number } };
    };
    expect(status.serviceStatus.lock?.held).toBeGreaterThan(0);
    expect(status.serviceStatus.lock?.waiting).toBe(0);
  });
});

describe('LockClient over /client', () => {
  it('acquires with await using and releases at the end of the block', async () => {
    // Proves the handle's asyncDispose releases the lock.
    const client = await newClient();
    {
      await using handle = await client.acquire('c/1');
      expect(handle.token).toBeGreaterThan(0);
      const view = (await http(`${base}/v1/locks/c%2F1`)).body as { holders: unknown[] };
      expect(view.holders).toHaveLength(1);
    }
    const view = (await http(`${base}/v1/locks/c%2F1`)).body as { holders: unknown[] };
    expect(view.holders).toHaveLength(0);
    await client.close();
  });

  it('hands a contended lock over in order with growing tokens (withLock)', async () => {
    // Proves a queued client acquire completes through the session push, FIFO, fenced.
    const clients = await Promise.all([newClient(), newClient(), newClient()]);
    const order: number[] = [];
    const tokens: number[] = [];
    await Promise.all(
      clients.map((client, index) =>
        client.withLock(
          'c/2',
          async (handle) => {
            order.push(index);
            tokens.push(handle.token);
            await new Promise((resolve) => setTimeout(resolve, 50));
          },
          { timeoutMs: 5000 },
        ),
      ),
    );
    expect(order.sort()).toEqual([0, 1, 2]);
    expect([...tokens].sort((x, y) => x - y)).toEqual(tokens);
    await Promise.all(clients.map((client) => client.close()));
  });

  it('gives a wait up on abort and leaves nothing held or queued', async () => {
    // Proves abort sends cancel: the lock is free once the holder releases.
    const holder = await newClient();
    const waiter = await newClient();
    const handle = await holder.acquire('c/3');
    const controller = new AbortController();
    const waiting = waiter.acquire('c/3', { timeoutMs: 5000, signal: controller.signal });
    await waitFor('queued', async () => {
      const view = (await http(`${base}/v1/locks/c%2F3`)).body as { waiters: unknown[] };
      return view.waiters.length === 1 ? true : undefined;
    });
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'ABORTED' });
    await waitFor('cancelled', async () => {
      const view = (await http(`${base}/v1/locks/c%2F3`)).body as { waiters: unknown[] };
      return view.waiters.length === 0 ? true : undefined;
    });
    await handle.release();
    const view = (await http(`${base}/v1/locks/c%2F3`)).body as { holders: unknown[] };
    expect(view.holders).toEqual([]);
    await Promise.all([holder.close(), waiter.close()]);
  });

  it('throws LockError codes: TIMEOUT for a try-lock, ALREADY_HELD for a second acquire', async () => {
    // Proves the client maps the service's refusals to LockError codes.
    const a = await newClient();
    const b = await newClient();
    await a.acquire('c/4');
    await expect(b.acquire('c/4', { timeoutMs: 0 })).rejects.toBeInstanceOf(LockError);
    await expect(b.acquire('c/4', { timeoutMs: 0 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    await expect(a.acquire('c/4')).rejects.toMatchObject({ code: 'ALREADY_HELD' });
    await Promise.all([a.close(), b.close()]);
  });

  it('tells the holder its lock is lost when its session ends', async () => {
    // Proves the lock/session push: the handle's lost event and signal fire, and sessionLost.
    const client = await newClient();
    const handle = await client.acquire('c/5');
    const lost = new Promise<string>((resolve) => handle.on('lost', resolve));
    const sessionLost = new Promise<string>((resolve) => client.on('sessionLost', resolve));
    const deleted = await http(`${base}/v1/sessions/${handle.sessionId}`, { method: 'DELETE' });
    expect(deleted.status).toBe(200);
    expect(await lost).toBe('deleted');
    expect(handle.lost).toBe(true);
    expect(handle.signal.aborted).toBe(true);
    // The next keep-alive finds the session gone.
    expect(await sessionLost).toBe(handle.sessionId);
    await handle.release();
    // The next acquire makes a new session.
    const again = await client.acquire('c/5');
    expect(again.sessionId).not.toBe(handle.sessionId);
    await client.close();
  });

  it('takes a new session when the old one expired between keep-alives', async () => {
    // Proves an acquire refused with SESSION_EXPIRED is retried once with a fresh session.
    const client = await newClient();
    const first = await client.acquire('c/6');
    await http(`${base}/v1/sessions/${first.sessionId}`, { method: 'DELETE' });
    const second = await client.acquire('c/7');
    expect(second.sessionId).not.toBe(first.sessionId);
    expect(first.lost).toBe(true);
    await client.close();
  });
});
