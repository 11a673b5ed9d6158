import { describe, expect, it, vi } from 'vitest';
import {
  createPeerTransport,
  silentLogger,
  type PeerTransport,
  type PeerTransportOptions,
  type TransportServer,
} from '@distsync/transport-ws';
import { z } from 'zod';
import { RawSocket, SECRET, startServer, waitForUpdate, useCleanups } from './test-support.js';

const MessageSchema = z.object({
  from: z.string(),
  to: z.string(),
  seq: z.number().int(),
  data: z.instanceof(Uint8Array),
});
type Message = z.infer<typeof MessageSchema>;

const defer = useCleanups();

interface Node {
  readonly server: TransportServer;
  readonly transport: PeerTransport<Message>;
  readonly received: Message[];
}

async function node(
  id: string,
  options: Partial<PeerTransportOptions<Message>> & { port?: number } = {},
): Promise<Node> {
  const server = await startServer({ port: options.port ?? 0 });
  const transport = createPeerTransport<Message>({
    nodeId: id,
    clusterId: 'cluster-a',
    secret: SECRET,
    messageSchema: MessageSchema,
    server,
    logger: silentLogger,
    reconnectInitialMs: 5,
    reconnectMaxMs: 50,
    ...options,
  });
  const received: Message[] = [];
  transport.onMessage((message) => received.push(message));
  defer(async () => {
    await transport.close();
    await server.close();
  });
  return { server, transport, received };
}

async function connected(transport: PeerTransport<Message>, peerId: string): Promise<void> {
  const updates = transport.statusUpdates();
  if (transport.statusOf(peerId)?.type === 'connected') {
    await updates.return?.();
    return;
  }
  await waitForUpdate(
    updates,
    (update) => update.peerId === peerId && update.status.type === 'connected',
  );
}

function messages(from: string, to: string, count: number): Message[] {
  return Array.from({ length: count }, (_, seq) => ({
    from,
    to,
    seq,
    data: new Uint8Array([seq % 256, 7]),
  }));
}

describe('peer transport', () => {
  it('connects three nodes (lower id dials) and delivers messages in order, validated', async () => {
    const n3 = await node('n3');
    const n2 = await node('n2', { peers: { n3: n3.server.url } });
    const n1 = await node('n1', { peers: { n2: n2.server.url, n3: n3.server.url } });
    n2.transport.setPeers({ n1: n1.server.url, n3: n3.server.url });
    n3.transport.setPeers({ n1: n1.server.url, n2: n2.server.url });
    await Promise.all([
      connected(n1.transport, 'n2'),
      connected(n1.transport, 'n3'),
      connected(n2.transport, 'n3'),
      connected(n3.transport, 'n1'),
    ]);
    expect(n1.transport.statusOf('n2')).toMatchObject({ type: 'connected', direction: 'outbound' });
    expect(n2.transport.statusOf('n1')).toMatchObject({ type: 'connected', direction: 'inbound' });
    n1.transport.send([...messages('n1', 'n2', 300), ...messages('n1', 'n3', 300)]);
    n3.transport.send(messages('n3', 'n1', 300));
    await vi.waitFor(() => {
      expect(n2.received).toHaveLength(300);
      expect(n3.received).toHaveLength(300);
      expect(n1.received).toHaveLength(300);
    });
    expect(n2.received.map((message) => message.seq)).toEqual(
      messages('n1', 'n2', 300).map((m) => m.seq),
    );
    expect(n1.received.every((message) => message.from === 'n3')).toBe(true);
    expect(n2.received[5]?.data).toBeInstanceOf(Uint8Array);
    expect([...(n2.received[5]?.data ?? [])]).toEqual([5, 7]);
  });

  it('batches the messages of one event-loop turn into few frames', async () => {
    const n2 = await node('n2');
    const n1 = await node('n1', { peers: { n2: n2.server.url } });
    await connected(n1.transport, 'n2');
    const before = n1.transport.metrics().framesOut;
    for (const message of messages('n1', 'n2', 1000)) n1.transport.send([message]);
    await vi.waitFor(() => {
      expect(n2.received).toHaveLength(1000);
    });
    // One call per message, yet the turn's messages left as one batch (plus maybe a ping).
    expect(n1.transport.metrics().framesOut - before).toBeLessThanOrEqual(3);
  });

  it('drops messages to unknown or unconnected peers without throwing and counts them', async () => {
    const n1 = await node('n1');
    n1.transport.send(messages('n1', 'nobody', 3));
    expect(n1.transport.metrics().drops.disconnected).toBe(3);
  });

  it('refuses a peer of another cluster with WRONG_CLUSTER and a bad secret with UNAUTHORIZED', async () => {
    const n2 = await node('n2');
    const other = await node('n1', { clusterId: 'cluster-b', peers: { n2: n2.server.url } });
    const forger = await node('n0', {
      secret: 'another-secret-of-16-bytes',
      peers: { n2: n2.server.url },
    });
    await waitForUpdate(other.transport.statusUpdates(), (u) => u.status.type === 'refused');
    await waitForUpdate(forger.transport.statusUpdates(), (u) => u.status.type === 'refused');
    expect(other.transport.statusOf('n2')).toMatchObject({
      type: 'refused',
      code: 'WRONG_CLUSTER',
    });
    expect(forger.transport.statusOf('n2')).toMatchObject({
      type: 'refused',
      code: 'UNAUTHORIZED',
    });
    const refusals = n2.transport.metrics().refusals;
    expect(refusals.WRONG_CLUSTER).toBeGreaterThanOrEqual(1);
    expect(refusals.UNAUTHORIZED).toBeGreaterThanOrEqual(1);
  });

  it('refuses a hand-made hello with a wrong proof and accepts a right one (the documented protocol)', async () => {
    const n1 = await node('n1');
    const bad = await RawSocket.peer(n1.server.url, {
      clusterId: 'cluster-a',
      nodeId: 'a0',
      secret: 'wrong-secret-wrong-secret',
    });
    defer(() => bad.close());
    expect(await bad.next()).toMatchObject({ type: 'error', code: 'UNAUTHORIZED' });
    expect((await bad.closed).code).toBe(4401);
    const good = await RawSocket.peer(n1.server.url, { clusterId: 'cluster-a', nodeId: 'a0' });
    defer(() => good.close());
    expect(await good.next()).toMatchObject({ type: 'welcome', nodeId: 'n1' });
  });

  it('drops messages that fail the schema or claim another sender, and delivers valid ones', async () => {
    const n1 = await node('n1');
    const peer = await RawSocket.peer(n1.server.url, { clusterId: 'cluster-a', nodeId: 'a0' });
    defer(() => peer.close());
    await peer.next();
    peer.send([
      { from: 'a0', to: 'n1', seq: 'not a number', data: new Uint8Array(1) },
      { from: 'n9', to: 'n1', seq: 1, data: new Uint8Array(1) },
      { from: 'a0', to: 'n1', seq: 2, data: new Uint8Array(1) },
    ]);
    await vi.waitFor(() => {
      expect(n1.received.map((message) => message.seq)).toEqual([2]);
    });
    expect(n1.transport.metrics().refusals.BAD_FRAME).toBe(2);
  });

  it('lets phi rise for a peer that goes silent, and keeps it low while pings arrive', async () => {
    const n1 = await node('n1', {
      heartbeatIntervalMs: 20,
      idleTimeoutMs: 60_000,
      // A pause allowance above the scheduling hiccups of a loaded machine, well below the
      // time the test waits for suspicion.
      failureDetector: {
        minStdDeviationMs: 5,
        acceptableHeartbeatPauseMs: 500,
        firstHeartbeatEstimateMs: 20,
      },
    });
    const peer = await RawSocket.peer(n1.server.url, { clusterId: 'cluster-a', nodeId: 'a0' });
    defer(() => peer.close());
    await peer.next();
    const pinger = setInterval(() => {
      peer.send({ type: 'ping' });
    }, 20);
    await vi.waitFor(() => {
      expect(n1.transport.peers()[0]?.lastSeenMs).toBeGreaterThan(0);
    });
    const whileAlive = n1.transport.peers()[0];
    expect(whileAlive?.suspected).toBe(false);
    clearInterval(pinger);
    await vi.waitFor(
      () => {
        expect(n1.transport.peers()[0]?.suspected).toBe(true);
      },
      { timeout: 5_000 },
    );
    expect(n1.transport.peers()[0]?.phi).toBeGreaterThan(whileAlive?.phi ?? 0);
  });

  it('sends idle pings so a quiet link still feeds the failure detector', async () => {
    const n2 = await node('n2', { heartbeatIntervalMs: 20 });
    const n1 = await node('n1', { peers: { n2: n2.server.url }, heartbeatIntervalMs: 20 });
    await connected(n1.transport, 'n2');
    const framesBefore = n2.transport.metrics().framesIn;
    await vi.waitFor(() => {
      expect(n2.transport.metrics().framesIn).toBeGreaterThan(framesBefore + 3);
    });
    expect(n2.received).toHaveLength(0);
  });

  it('reconnects with backoff after the peer restarts on the same port', async () => {
    let n2 = await node('n2');
    const port = n2.server.port;
    const n1 = await node('n1', { peers: { n2: n2.server.url } });
    await connected(n1.transport, 'n2');
    const updates = n1.transport.statusUpdates();
    const down = waitForUpdate(updates, (u) => u.status.type === 'disconnected');
    await n2.transport.close();
    await n2.server.close();
    await down;
    n2 = await node('n2', { port });
    await connected(n1.transport, 'n2');
    expect(n1.transport.metrics().reconnects).toBe(1);
    n1.transport.send(messages('n1', 'n2', 5));
    await vi.waitFor(() => {
      expect(n2.received).toHaveLength(5);
    });
  });

  it('closes and forgets a peer removed by setPeers (membership change)', async () => {
    const n2 = await node('n2');
    const n1 = await node('n1', { peers: { n2: n2.server.url } });
    await connected(n1.transport, 'n2');
    const down = waitForUpdate(
      n2.transport.statusUpdates(),
      (u) => u.peerId === 'n1' && u.status.type === 'disconnected',
    );
    n1.transport.setPeers({});
    expect(n1.transport.peers()).toEqual([]);
    await down;
    n1.transport.send(messages('n1', 'n2', 1));
    expect(n1.transport.metrics().drops.disconnected).toBe(1);
  });

  it('replaces an older inbound connection when the same peer connects again', async () => {
    const n1 = await node('n1');
    const first = await RawSocket.peer(n1.server.url, { clusterId: 'cluster-a', nodeId: 'a0' });
    defer(() => first.close());
    await first.next();
    const second = await RawSocket.peer(n1.server.url, { clusterId: 'cluster-a', nodeId: 'a0' });
    defer(() => second.close());
    await second.next();
    expect(await first.next()).toMatchObject({ type: 'error', code: 'REPLACED' });
    expect((await first.closed).code).toBe(4409);
    expect(n1.transport.peers()).toHaveLength(1);
  });
});
