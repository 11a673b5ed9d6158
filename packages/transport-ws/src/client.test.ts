import { describe, expect, it, vi } from 'vitest';
import {
  connect,
  silentLogger,
  type ClientRequest,
  type ClusterConnection,
  type ConnectOptions,
  type HandlerResponse,
  type TransportServer,
} from '@distsync/transport-ws';
import {
  RawSocket,
  isType,
  itemsOf,
  startServer,
  waitForUpdate,
  startOwnedServer,
  useCleanups,
} from './test-support.js';

const defer = useCleanups();

function server(options: Parameters<typeof startOwnedServer>[1]): Promise<TransportServer> {
  return startOwnedServer(defer, options);
}

async function client(
  url: string | readonly string[],
  options: ConnectOptions = {},
): Promise<ClusterConnection> {
  const connection = await connect(url, {
    logger: silentLogger,
    reconnectInitialMs: 5,
    reconnectMaxMs: 50,
    ...options,
  });
  defer(() => connection.close());
  return connection;
}

function echo(request: ClientRequest): HandlerResponse {
  return {
    ok: true,
    value: { kind: request.kind, service: request.service, payload: request.payload },
  };
}

/** A promise that never settles: a handler that never answers. */
function never(): Promise<HandlerResponse> {
  return new Promise(() => undefined);
}

describe('client round trips', () => {
  it('answers commands and queries and round-trips Uint8Array payloads', async () => {
    const node = await server({ clients: { handler: echo, nodeId: 'n1' } });
    const connection = await client(node.url);
    expect(connection.status).toMatchObject({ type: 'connected', nodeId: 'n1' });
    const bytes = new Uint8Array([1, 2, 3, 255]);
    const answer = (await connection.command('kv', { key: 'a', bytes })) as {
      payload: { bytes: Uint8Array };
    };
    expect(answer).toMatchObject({ kind: 'command', service: 'kv' });
    expect(answer.payload.bytes).toBeInstanceOf(Uint8Array);
    expect([...answer.payload.bytes]).toEqual([1, 2, 3, 255]);
    await expect(connection.query('kv', 'x')).resolves.toMatchObject({
      kind: 'query',
      payload: 'x',
    });
  });

  it('multiplexes many concurrent requests by id and numbers commands with increasing seq', async () => {
    const seqs: number[] = [];
    const node = await server({
      clients: {
        handler: (request) => {
          if (request.kind === 'command') seqs.push(request.seq);
          return { ok: true, value: request.payload };
        },
      },
    });
    const connection = await client(node.url);
    const values = await Promise.all(
      Array.from({ length: 200 }, (_, index) => connection.command('kv', index)),
    );
    expect(values).toEqual(Array.from({ length: 200 }, (_, index) => index));
    expect([...seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
  });

  it('tells the server the oldest command still awaiting an answer (lowestUnackedSeq)', async () => {
    const seen: { seq: number; lowest: number | undefined }[] = [];
    let releaseFirst: (() => void) | undefined;
    const node = await server({
      clients: {
        handler: (request) => {
          if (request.kind !== 'command') return { ok: true, value: null };
          seen.push({ seq: request.seq, lowest: request.lowestUnackedSeq });
          if (request.seq !== 1) return { ok: true, value: request.seq };
          // Hold the first command so the later ones are sent while it is still unanswered.
          return new Promise<HandlerResponse>((resolve) => {
            releaseFirst = () => {
              resolve({ ok: true, value: 1 });
            };
          });
        },
      },
    });
    const connection = await client(node.url);
    const first = connection.command('kv', 'first');
    await vi.waitFor(() => {
      expect(releaseFirst).toBeDefined();
    });
    await expect(connection.command('kv', 'second')).resolves.toBe(2);
    releaseFirst?.();
    await expect(first).resolves.toBe(1);
    await expect(connection.command('kv', 'third')).resolves.toBe(3);
    expect(seen).toEqual([
      { seq: 1, lowest: 1 },
      { seq: 2, lowest: 1 },
      { seq: 3, lowest: 3 },
    ]);
  });

  it('passes application error codes through as RemoteError and ours as TransportError', async () => {
    const node = await server({
      clients: {
        handler: (request) =>
          request.service === 'lock'
            ? { ok: false, error: { code: 'DEADLOCK', message: 'cycle' } }
            : { ok: false, error: { code: 'BAD_REQUEST', message: 'no such key' } },
      },
    });
    const connection = await client(node.url);
    await expect(connection.command('lock', {})).rejects.toMatchObject({
      name: 'RemoteError',
      code: 'DEADLOCK',
    });
    await expect(connection.command('kv', {})).rejects.toMatchObject({
      name: 'TransportError',
      code: 'BAD_REQUEST',
    });
  });

  it('answers INTERNAL when the handler throws, and the session keeps serving', async () => {
    const node = await server({
      clients: {
        handler: (request) => {
          if (request.service === 'boom') throw new Error('handler bug');
          return { ok: true, value: 1 };
        },
      },
    });
    const connection = await client(node.url);
    await expect(connection.command('boom', null)).rejects.toMatchObject({ code: 'INTERNAL' });
    await expect(connection.command('kv', null)).resolves.toBe(1);
  });
});

describe('client deadlines and bounds', () => {
  it('rejects with TIMEOUT after timeoutMs and with ABORTED when the signal fires', async () => {
    const node = await server({ clients: { handler: never } });
    const connection = await client(node.url);
    await expect(connection.command('slow', null, { timeoutMs: 30 })).rejects.toMatchObject({
      code: 'TIMEOUT',
    });
    const controller = new AbortController();
    const pending = connection.query('slow', null, { signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'ABORTED' });
  });

  it('refuses requests beyond maxPendingRequests with OVERLOADED', async () => {
    const node = await server({ clients: { handler: never } });
    const connection = await client(node.url, { maxPendingRequests: 2 });
    const first = connection.command('slow', 1, { timeoutMs: 5_000 });
    const second = connection.command('slow', 2, { timeoutMs: 5_000 });
    await expect(connection.command('slow', 3)).rejects.toMatchObject({ code: 'OVERLOADED' });
    const closedOutcomes = Promise.all([
      expect(first).rejects.toMatchObject({ code: 'CLOSED' }),
      expect(second).rejects.toMatchObject({ code: 'CLOSED' }),
    ]);
    await connection.close();
    await closedOutcomes;
  });

  it('refuses a request larger than maxFrameBytes locally with FRAME_TOO_LARGE', async () => {
    const node = await server({ clients: { handler: echo } });
    const connection = await client(node.url, { maxFrameBytes: 4096, sendQueueBytesMax: 8192 });
    await expect(connection.command('kv', 'x'.repeat(5000))).rejects.toMatchObject({
      code: 'FRAME_TOO_LARGE',
    });
    await expect(connection.command('kv', 'small')).resolves.toMatchObject({ payload: 'small' });
  });

  it("refuses a request over the server's smaller frame limit locally, keeping the connection", async () => {
    const node = await server({ maxFrameBytes: 4096, clients: { handler: echo } });
    // The client's own limit is the 4 MiB default; the server announced 4 KiB in its welcome.
    const connection = await client(node.url);
    await expect(
      connection.command('kv', 'x'.repeat(5000), { timeoutMs: 10_000 }),
    ).rejects.toMatchObject({ code: 'FRAME_TOO_LARGE' });
    // Refused before sending (not after a reconnect-and-retry loop ending in TIMEOUT), so the
    // server never saw an oversized frame.
    await expect(connection.command('kv', 'small')).resolves.toMatchObject({ payload: 'small' });
    expect(node.metrics().refusals.FRAME_TOO_LARGE).toBe(0);
  });

  it('answers OVERLOADED beyond maxInFlightPerSession on the server and counts it', async () => {
    const node = await server({ clients: { handler: never, maxInFlightPerSession: 1 } });
    const connection = await client(node.url);
    void connection.command('slow', 1, { timeoutMs: 5_000 }).catch(() => undefined);
    await expect(connection.command('slow', 2)).rejects.toMatchObject({ code: 'OVERLOADED' });
    expect(node.metrics().refusals.OVERLOADED).toBe(1);
  });
});

describe('leader discovery', () => {
  it('follows NOT_LEADER with leaderUrl to the leader and keeps the command seq', async () => {
    const seen: { node: string; seq: number }[] = [];
    const leader = await server({
      clients: {
        nodeId: 'leader',
        handler: (request) => {
          seen.push({ node: 'leader', seq: request.seq });
          return { ok: true, value: 'applied by leader' };
        },
      },
    });
    const follower = await server({
      clients: {
        nodeId: 'follower',
        handler: (request) => {
          seen.push({ node: 'follower', seq: request.seq });
          return {
            ok: false,
            error: {
              code: 'NOT_LEADER',
              message: 'ask the leader',
              leaderHint: 'leader',
              leaderUrl: leader.url,
            },
          };
        },
      },
    });
    const connection = await client(follower.url);
    await expect(connection.command('kv', 'x')).resolves.toBe('applied by leader');
    expect(seen).toEqual([
      { node: 'follower', seq: 1 },
      { node: 'leader', seq: 1 },
    ]);
    expect(connection.status).toMatchObject({ type: 'connected', nodeId: 'leader' });
  });

  it('tries the next endpoint when the first does not answer', async () => {
    const dead = await startServer({ clients: { handler: echo } });
    const deadUrl = dead.url;
    await dead.close();
    const live = await server({ clients: { handler: echo, nodeId: 'live' } });
    const connection = await client([deadUrl, live.url]);
    expect(connection.status).toMatchObject({ type: 'connected', nodeId: 'live' });
  });

  it('gives up with NOT_LEADER after maxRedirects', async () => {
    const node = await server({
      clients: {
        handler: () => ({ ok: false, error: { code: 'NOT_LEADER', message: 'no leader known' } }),
      },
    });
    const connection = await client(node.url, { maxRedirects: 2 });
    await expect(connection.command('kv', 1)).rejects.toMatchObject({ code: 'NOT_LEADER' });
  });

  it('rejects connect with UNAVAILABLE when no endpoint answers in connectTimeoutMs', async () => {
    const node = await server({ clients: { handler: echo } });
    const url = node.url;
    await node.close();
    await expect(
      connect(url, {
        logger: silentLogger,
        connectTimeoutMs: 100,
        reconnectInitialMs: 5,
        reconnectMaxMs: 20,
      }),
    ).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });
});

describe('auth', () => {
  it('accepts the right token and refuses a wrong or missing one with UNAUTHORIZED, counted', async () => {
    const node = await server({ clients: { handler: echo, authToken: 's3cret-token' } });
    const connection = await client(node.url, { token: 's3cret-token' });
    await expect(connection.query('kv', 1)).resolves.toMatchObject({ payload: 1 });
    await expect(connect(node.url, { logger: silentLogger, token: 'wrong' })).rejects.toMatchObject(
      {
        code: 'UNAUTHORIZED',
      },
    );
    const raw = await RawSocket.open(`${node.url}/client`);
    raw.send({ type: 'hello', protocol: 1, clientId: 'no-token' });
    expect(await raw.next()).toMatchObject({ type: 'error', code: 'UNAUTHORIZED' });
    expect((await raw.closed).code).toBe(4401);
    expect(node.metrics().refusals.UNAUTHORIZED).toBe(2);
  });
});

describe('requests from a raw socket', () => {
  it('answers an unknown kind and a wrong clientId with BAD_REQUEST and keeps the session', async () => {
    const node = await server({ clients: { handler: echo } });
    const raw = await RawSocket.client(node.url, { clientId: 'c1' });
    const base = {
      type: 'request',
      clientId: 'c1',
      seq: 0,
      timeoutMs: 1000,
      service: 'kv',
      payload: 1,
    };
    raw.send([{ ...base, id: 1, kind: 'explode' }]);
    expect(itemsOf(await raw.next())[0]).toMatchObject({
      id: 1,
      ok: false,
      error: { code: 'BAD_REQUEST' },
    });
    raw.send([{ ...base, id: 2, kind: 'query', clientId: 'someone-else' }]);
    expect(itemsOf(await raw.next())[0]).toMatchObject({
      id: 2,
      ok: false,
      error: { code: 'BAD_REQUEST' },
    });
    raw.send([{ ...base, id: 3, kind: 'query' }]);
    expect(itemsOf(await raw.next())[0]).toMatchObject({ id: 3, ok: true });
    expect(node.metrics().refusals.BAD_REQUEST).toBe(2);
    await raw.close();
  });
});

describe('subscriptions', () => {
  it('delivers pushes to subscribers only and stops after unsubscribe', async () => {
    const node = await server({ clients: { handler: echo } });
    const connection = await client(node.url);
    const received: unknown[] = [];
    const unsubscribe = connection.subscribe('lock/s1', (payload) => received.push(payload));
    await unsubscribe.ready;
    expect(node.publish('lock/other', 'nobody')).toBe(0);
    expect(node.publish('lock/s1', { granted: 'a' })).toBe(1);
    await expect.poll(() => received).toEqual([{ granted: 'a' }]);
    unsubscribe();
    await expect.poll(() => node.sessions()[0]?.subscriptions).toBe(0);
    expect(node.publish('lock/s1', 'late')).toBe(0);
  });
});

describe('reconnection', () => {
  it('survives a server restart with no lost or duplicated command and re-subscribes', async () => {
    // The dedup table stands in for the replicated state machine: it outlives a server restart.
    const applied = new Map<string, number>();
    let calls = 0;
    let crashAt: number | undefined = 40;
    let current: TransportServer | undefined;
    let restarted: Promise<void> = Promise.resolve();
    let resubscribed: () => void = () => undefined;
    const subscribedAgain = new Promise<void>((resolve) => {
      resubscribed = resolve;
    });
    let port = 0;
    const handler = (request: ClientRequest): Promise<HandlerResponse> | HandlerResponse => {
      calls += 1;
      if (request.kind === 'subscribe') {
        if (current !== first) resubscribed();
        return { ok: true, value: null };
      }
      const key = `${request.clientId}:${request.seq}`;
      const known = applied.get(key);
      if (known !== undefined) return { ok: true, value: known };
      applied.set(key, request.payload as number);
      if (request.seq === crashAt) {
        // Applied, but the server dies before it can answer: only a retry with the same seq
        // can learn the outcome, and it must not apply the command twice.
        crashAt = undefined;
        restarted = restart();
        return never();
      }
      return { ok: true, value: request.payload };
    };
    const first = await startServer({ clients: { handler } });
    current = first;
    port = first.port;
    const restart = async (): Promise<void> => {
      await first.close();
      current = await startServer({ port, clients: { handler } });
    };
    defer(async () => {
      await restarted;
      await current?.close();
    });
    const connection = await client(first.url, { requestTimeoutMs: 10_000 });
    await connection.subscribe('queue/q1', () => undefined).ready;
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, index) => connection.command('counter', index)),
    );
    await restarted;
    expect(results).toEqual(Array.from({ length: 100 }, (_, index) => index));
    expect(applied.size).toBe(100);
    expect(new Set(applied.values()).size).toBe(100);
    // At least the crashed command was retried with its seq (the dedup answered it).
    expect(calls).toBeGreaterThan(101);
    await subscribedAgain;
    expect(connection.metrics().reconnects).toBeGreaterThanOrEqual(1);
  });

  it('reports status changes through the async iterator', async () => {
    const node = await server({ clients: { handler: echo } });
    const connection = await client(node.url);
    const updates = connection.statusUpdates();
    const disconnected = waitForUpdate(updates, (status) => status.type === 'disconnected');
    await node.close();
    expect(await disconnected).toMatchObject({ type: 'disconnected' });
  });

  it('ends status iterators when the connection is closed', async () => {
    const node = await server({ clients: { handler: echo } });
    const connection = await client(node.url);
    const updates = connection.statusUpdates();
    const seen: string[] = [];
    const drained = (async () => {
      for await (const status of updates) seen.push(status.type);
    })();
    await connection.close();
    await drained;
    expect(seen).toEqual(['closed']);
  });
});

describe('raw protocol checks', () => {
  it('answers a ping-only session with pings of its own when idle', async () => {
    const node = await server({
      clients: { handler: echo },
      heartbeatIntervalMs: 20,
      idleTimeoutMs: 5_000,
    });
    const raw = await RawSocket.client(node.url);
    await expect.poll(() => raw.frames.some((frame) => isType(frame, 'ping'))).toBe(true);
    await raw.close();
  });
});

describe('a server owned by the application', () => {
  it('shares one port with the app: HTTP goes to the app, /client to the transport', async () => {
    const { createServer } = await import('node:http');
    const app = createServer((_request, response) => {
      response.end('from the app');
    });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    defer(() => new Promise((resolve) => app.close(resolve)));
    const node = await server({ server: app, clients: { handler: echo } });
    const connection = await client(node.url);
    await expect(connection.query('kv', 1)).resolves.toMatchObject({ payload: 1 });
    const response = await fetch(`http://127.0.0.1:${node.port}/health`);
    expect(await response.text()).toBe('from the app');
    await connection.close();
    await node.close();
    // Closing the transport leaves the application's server listening.
    expect(app.listening).toBe(true);
  });
});
