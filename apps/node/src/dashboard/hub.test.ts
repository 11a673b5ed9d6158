// The hub against fake peers on loopback: a peer that refuses this node's token is still shown
// from its public /status (without a timeline), a peer that does not answer is unreachable with
// its error and its last status kept, and the timeline records it going away and coming back.
import { createServer, type Server } from 'node:http';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { RaftNode } from '@distsync/raft';
import { DashboardHub } from './hub.js';

const servers: Server[] = [];

afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(
      (server) =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => {
            resolve();
          });
        }),
    ),
  );
});

/** A fake peer: 401 on /ui/api/node (another token), its status on /status. */
async function fakePeer(id: string, role: string): Promise<{ url: string; server: Server }> {
  const server = createServer((request, response) => {
    if (request.url === '/status') {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ id, role, state: 'running', term: 7 }));
      return;
    }
    response.writeHead(401, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ error: { code: 'UNAUTHORIZED', message: 'no' } }));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return { url: `http://127.0.0.1:${port}`, server };
}

function hubWith(peers: { id: string; url: string }[]): DashboardHub {
  const raft = {
    on: () => () => undefined,
    status: () => ({ leaderId: null }),
  } as unknown as Pick<RaftNode, 'on' | 'status'>;
  return new DashboardHub({
    nodeId: 'me',
    raft,
    status: () => ({
      id: 'me',
      url: 'http://127.0.0.1:1',
      role: 'follower',
      state: 'running',
      term: 7,
      peers: peers.map((peer) => ({ ...peer, connection: 'connected', phi: 0, suspected: false })),
    }),
    token: 'my-token',
    ca: undefined,
    logger: pino({ level: 'silent' }),
    peerTimeoutMs: 500,
  });
}

describe('DashboardHub', () => {
  it('shows a peer that refuses its token from the public /status, and picks the leader', async () => {
    const peer = await fakePeer('p1', 'leader');
    const snapshot = await hubWith([{ id: 'p1', url: peer.url }]).snapshot();
    expect(snapshot.nodes.map((node) => [node.id, node.reachable])).toEqual([
      ['me', true],
      ['p1', true],
    ]);
    expect(snapshot.nodes[1]?.status).toMatchObject({ id: 'p1', role: 'leader' });
    expect(snapshot.leader).toEqual({ id: 'p1', term: 7 });
    expect(snapshot.timeline).toEqual([]);
  });

  it('marks a silent peer unreachable, keeps its last status, and records it leaving and returning', async () => {
    const peer = await fakePeer('p1', 'follower');
    const hub = hubWith([{ id: 'p1', url: peer.url }]);
    expect((await hub.snapshot()).nodes[1]?.reachable).toBe(true);
    // The peer stops answering: connections hang until the hub's timeout.
    peer.server.removeAllListeners('request');
    peer.server.on('request', () => undefined);
    const away = await hub.snapshot();
    expect(away.nodes[1]).toMatchObject({
      id: 'p1',
      reachable: false,
      error: expect.stringContaining('500 ms') as unknown,
      status: { id: 'p1' },
    });
    expect(away.leader).toBeNull();
    peer.server.removeAllListeners('request');
    peer.server.on('request', (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ status: { id: 'p1', role: 'follower' }, timeline: [] }));
    });
    const back = await hub.snapshot();
    expect(back.nodes[1]?.reachable).toBe(true);
    expect(back.timeline.map((row) => `${row.type}:${row.subject}`)).toEqual([
      'reachable:p1',
      'unreachable:p1',
    ]);
  });
});
