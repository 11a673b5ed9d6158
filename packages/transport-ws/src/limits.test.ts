import { describe, expect, it, vi } from 'vitest';
import {
  connect,
  createPeerTransport,
  createTransportServer,
  silentLogger,
  type ClientRequest,
  type HandlerResponse,
  type TransportServer,
} from '@distsync/transport-ws';
import { z } from 'zod';
import {
  RawSocket,
  SECRET,
  isType,
  itemsOf,
  startOwnedServer,
  useCleanups,
} from './test-support.js';

const defer = useCleanups();

function server(options: Parameters<typeof startOwnedServer>[1]): Promise<TransportServer> {
  return startOwnedServer(defer, options);
}

async function raw(socket: Promise<RawSocket>): Promise<RawSocket> {
  const opened = await socket;
  defer(() => opened.close());
  return opened;
}

function echo(request: ClientRequest): HandlerResponse {
  return { ok: true, value: request.payload };
}

describe('option validation', () => {
  it('refuses bad limits at construction with INVALID_OPTION naming the option and rule', async () => {
    await expect(
      createTransportServer({ maxFrameBytes: -1, logger: silentLogger }),
    ).rejects.toThrow(/server\.maxFrameBytes must be an integer from 1024/);
    await expect(
      createTransportServer({ maxFrameBytes: 8192, sendQueueBytesMax: 4096, logger: silentLogger }),
    ).rejects.toMatchObject({
      code: 'INVALID_OPTION',
      message: expect.stringMatching(/sendQueueBytesMax/) as unknown,
    });
    await expect(
      createTransportServer({ heartbeatIntervalMs: 100, idleTimeoutMs: 100, logger: silentLogger }),
    ).rejects.toThrow(/heartbeatIntervalMs \(100\) must be less than server\.idleTimeoutMs/);
    await expect(
      createTransportServer({ maxConnections: 0, logger: silentLogger }),
    ).rejects.toThrow(/server\.maxConnections/);
    expect(() =>
      createPeerTransport({
        nodeId: 'n1',
        clusterId: 'c',
        secret: 'short',
        messageSchema: z.object({ from: z.string(), to: z.string() }),
        logger: silentLogger,
      }),
    ).toThrow(/at least 16 bytes/);
    await expect(connect('ftp://example', { logger: silentLogger })).rejects.toThrow(
      /endpoints\[0\]/,
    );
  });
});

describe('frame size limits', () => {
  it('answers a frame over maxFrameBytes with FRAME_TOO_LARGE, closes 4413 and counts it', async () => {
    const node = await server({
      clients: { handler: echo },
      maxFrameBytes: 4096,
      sendQueueBytesMax: 8192,
    });
    const socket = await raw(RawSocket.client(node.url));
    socket.sendBytes(new Uint8Array(5000));
    expect(await socket.next()).toMatchObject({ type: 'error', code: 'FRAME_TOO_LARGE' });
    expect((await socket.closed).code).toBe(4413);
    expect(node.metrics().refusals.FRAME_TOO_LARGE).toBe(1);
  });

  it('lets ws refuse a frame far over the limit before buffering it (1009) and counts it', async () => {
    const node = await server({
      clients: { handler: echo },
      maxFrameBytes: 4096,
      sendQueueBytesMax: 8192,
    });
    const socket = await raw(RawSocket.client(node.url));
    socket.sendBytes(new Uint8Array(4096 + 64 * 1024 + 1));
    expect((await socket.closed).code).toBe(1009);
    await expect.poll(() => node.metrics().refusals.FRAME_TOO_LARGE).toBe(1);
  });

  it('holds frames before the handshake to 16 KiB', async () => {
    const node = await server({ clients: { handler: echo } });
    const socket = await raw(RawSocket.open(`${node.url}/client`));
    socket.sendBytes(new Uint8Array(17 * 1024));
    expect(await socket.next()).toMatchObject({ type: 'error', code: 'FRAME_TOO_LARGE' });
    expect((await socket.closed).code).toBe(4413);
  });
});

describe('bad frames', () => {
  it('answers garbage with BAD_FRAME and closes at the maxBadFrames-th one (4400)', async () => {
    const node = await server({ clients: { handler: echo }, maxBadFrames: 3 });
    const socket = await raw(RawSocket.client(node.url));
    socket.sendBytes(new Uint8Array([0xc1]));
    expect(await socket.next()).toMatchObject({ type: 'error', code: 'BAD_FRAME' });
    socket.sendBytes(Buffer.from('not msgpack'), false);
    expect(await socket.next()).toMatchObject({ type: 'error', code: 'BAD_FRAME' });
    socket.send({ type: 'nonsense' });
    expect(await socket.next()).toMatchObject({ type: 'error', code: 'BAD_FRAME' });
    expect((await socket.closed).code).toBe(4400);
    expect(node.metrics().refusals.BAD_FRAME).toBe(3);
  });

  it('closes at once on a bad frame before the handshake', async () => {
    const node = await server({ clients: { handler: echo } });
    const socket = await raw(RawSocket.open(`${node.url}/client`));
    socket.send([1, 2, 3]);
    expect(await socket.next()).toMatchObject({ type: 'error', code: 'BAD_FRAME' });
    expect((await socket.closed).code).toBe(4400);
  });
});

describe('connection limits', () => {
  it('closes a connection that does not finish its handshake within handshakeTimeoutMs', async () => {
    const node = await server({ clients: { handler: echo }, handshakeTimeoutMs: 50 });
    const socket = await raw(RawSocket.open(`${node.url}/client`));
    expect(await socket.next()).toMatchObject({ type: 'error', code: 'HANDSHAKE_TIMEOUT' });
    expect((await socket.closed).code).toBe(4418);
    expect(node.metrics().refusals.HANDSHAKE_TIMEOUT).toBe(1);
  });

  it('closes a connection that stays silent for idleTimeoutMs', async () => {
    const node = await server({
      clients: { handler: echo },
      heartbeatIntervalMs: 20,
      idleTimeoutMs: 100,
    });
    const socket = await raw(RawSocket.client(node.url));
    expect(await socket.next((frame) => isType(frame, 'error'))).toMatchObject({
      code: 'IDLE_TIMEOUT',
    });
    expect((await socket.closed).code).toBe(4410);
    expect(node.metrics().refusals.IDLE_TIMEOUT).toBe(1);
  });

  it('refuses upgrades beyond maxConnections with HTTP 503 and counts them', async () => {
    const node = await server({ clients: { handler: echo }, maxConnections: 2 });
    await raw(RawSocket.client(node.url));
    await raw(RawSocket.client(node.url));
    await expect(RawSocket.open(`${node.url}/client`, { rejectUpgrade: true })).rejects.toThrow(
      /503/,
    );
    expect(node.metrics().refusals.TOO_MANY_CONNECTIONS).toBe(1);
    expect(node.metrics().connectionsOpen).toBe(2);
  });

  it('answers 404 to upgrades on other paths and to /peer without a peer transport', async () => {
    const node = await server({ clients: { handler: echo } });
    await expect(RawSocket.open(`${node.url}/other`, { rejectUpgrade: true })).rejects.toThrow(
      /404/,
    );
    await expect(RawSocket.open(`${node.url}/peer`, { rejectUpgrade: true })).rejects.toThrow(
      /404/,
    );
  });
});

describe('slow consumers', () => {
  it('bounds what a server holds for a client that stops reading and counts the drops', async () => {
    const sendQueueBytesMax = 64 * 1024;
    const node = await server({
      clients: { handler: () => ({ ok: true, value: null }) },
      maxFrameBytes: 16 * 1024,
      sendQueueBytesMax,
      idleTimeoutMs: 60_000,
    });
    const socket = await raw(RawSocket.client(node.url));
    socket.send([
      {
        type: 'request',
        id: 1,
        kind: 'subscribe',
        service: 'queue',
        payload: { topic: 'queue/q' },
        clientId: 'raw',
        seq: 0,
        timeoutMs: 1000,
      },
    ]);
    expect(itemsOf(await socket.next())[0]).toMatchObject({ id: 1, ok: true });
    // Stop reading: the kernel buffers fill, then ws's buffer, then our queue.
    socket.ws.pause();
    const payload = 'p'.repeat(1024);
    let maxBuffered = 0;
    for (let round = 0; round < 400; round += 1) {
      for (let index = 0; index < 100; index += 1) node.publish('queue/q', payload);
      maxBuffered = Math.max(maxBuffered, node.sessions()[0]?.bufferedBytes ?? 0);
      await new Promise((resolve) => setImmediate(resolve));
    }
    // 40 MB were offered; the session never held more than its bound.
    expect(maxBuffered).toBeLessThanOrEqual(sendQueueBytesMax);
    expect(node.metrics().drops.backpressure).toBeGreaterThan(10_000);
    socket.ws.resume();
  });

  it('bounds what a peer transport holds for a peer that stops reading', async () => {
    const node = await server({});
    const schema = z.object({ from: z.string(), to: z.string(), body: z.string() });
    const transport = createPeerTransport({
      nodeId: 'n1',
      clusterId: 'c1',
      secret: SECRET,
      messageSchema: schema,
      server: node,
      maxFrameBytes: 16 * 1024,
      sendQueueBytesMax: 64 * 1024,
      idleTimeoutMs: 60_000,
      logger: silentLogger,
    });
    defer(() => transport.close());
    const peer = await raw(RawSocket.peer(node.url, { clusterId: 'c1', nodeId: 'a0' }));
    expect(await peer.next()).toMatchObject({ type: 'welcome', nodeId: 'n1' });
    await vi.waitFor(() => {
      expect(transport.statusOf('a0')).toMatchObject({ type: 'connected', direction: 'inbound' });
    });
    peer.ws.pause();
    const body = 'm'.repeat(1024);
    let maxBuffered = 0;
    for (let round = 0; round < 400; round += 1) {
      transport.send(Array.from({ length: 100 }, () => ({ from: 'n1', to: 'a0', body })));
      maxBuffered = Math.max(maxBuffered, transport.peers()[0]?.bufferedBytes ?? 0);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(maxBuffered).toBeLessThanOrEqual(64 * 1024);
    expect(transport.metrics().drops.backpressure).toBeGreaterThan(10_000);
    peer.ws.resume();
  });
});

describe('plain-text warning', () => {
  it('warns through the injected logger when TLS is not configured', async () => {
    const warn = vi.fn();
    const logger = { ...silentLogger, warn };
    const node = await createTransportServer({ logger });
    defer(() => node.close());
    expect(warn).toHaveBeenCalledWith({}, expect.stringMatching(/plain text/));
  });
});
