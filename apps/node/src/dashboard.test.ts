// The dashboard's data routes and the leadership transfer route on three in-process nodes that
// share a client token: every data route and action refuses a request without the token, a
// snapshot from any node shows the whole cluster, the event stream pushes snapshots, and the
// transfer route answers each rejection with its code (and forwards from a follower).
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { loadConfig, startNode, type RunningNode } from '@distsync/node';
import type { ClusterSnapshot, NodeDashboardView } from './dashboard/snapshot.js';
import { freePort, removeDir, tempDir, waitFor } from './test-support/processes.js';

const TOKEN = 'dashboard-test-token';
const SECRET = 'dashboard-test-secret-0123456789';

let dir: string;
const nodes: RunningNode[] = [];

beforeAll(async () => {
  dir = tempDir('dashboard');
  const ports = [await freePort(), await freePort(), await freePort()];
  const ids = ['n1', 'n2', 'n3'];
  for (const [index, id] of ids.entries()) {
    const peers = ids.map((peer, at) => `${peer}=127.0.0.1:${ports[at]}`).join(',');
    const config = loadConfig({
      flags: {
        id,
        port: ports[index],
        peers,
        secret: SECRET,
        token: TOKEN,
        // Elections after 1-2 s of silence: a loaded machine does not depose leaders mid-test.
        tickMs: 50,
        electionTicks: 20,
        dataDir: join(dir, id),
      },
    });
    nodes.push(await startNode(config, { logger: pino({ level: 'silent' }) }));
  }
});

afterAll(async () => {
  await Promise.all(nodes.map((node) => node.drain()));
  removeDir(dir);
});

function urlOf(node: RunningNode): string {
  return `http://127.0.0.1:${node.port}`;
}

async function call(
  url: string,
  init: { method?: string; body?: unknown; token?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: unknown; headers: Headers }> {
  const response = await fetch(url, {
    method: init.method ?? 'GET',
    headers: {
      ...(init.token === undefined ? {} : { authorization: `Bearer ${init.token}` }),
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...init.headers,
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    signal: AbortSignal.timeout(8000),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON.
  }
  return { status: response.status, body, headers: response.headers };
}

async function leaderAndFollowers(): Promise<{ leader: RunningNode; followers: RunningNode[] }> {
  return waitFor('a leader every node follows', () => {
    const leader = nodes.find((node) => node.raft.status().role === 'leader');
    if (leader === undefined) return undefined;
    const followers = nodes.filter((node) => node !== leader);
    const agreed = followers.every((node) => node.raft.status().leaderId === leader.id);
    return agreed ? { leader, followers } : undefined;
  });
}

/** Reads server-sent events until `count` snapshots arrived. */
async function readSnapshots(url: string, count: number): Promise<ClusterSnapshot[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => {
    controller.abort();
  }, 8000);
  try {
    const response = await fetch(url, { signal: controller.signal });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    const snapshots: ClusterSnapshot[] = [];
    let buffer = '';
    while (snapshots.length < count) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      const blocks = buffer.split('\n\n');
      buffer = blocks.pop() ?? '';
      for (const block of blocks) {
        if (!block.includes('event: snapshot')) continue;
        const data = block
          .split('\n')
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5).trim())
          .join('\n');
        snapshots.push(JSON.parse(data) as ClusterSnapshot);
      }
    }
    return snapshots;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}

describe('dashboard data routes', () => {
  it('refuse every data route without the client token, or with a wrong one', async () => {
    const base = urlOf(nodes[0]!);
    for (const path of ['/ui/api/node', '/ui/api/cluster', '/ui/events']) {
      for (const token of [undefined, 'wrong']) {
        const answer = await call(`${base}${path}`, token === undefined ? {} : { token });
        expect({ path, token, status: answer.status, body: answer.body }).toMatchObject({
          status: 401,
          body: { error: { code: 'UNAUTHORIZED' } },
        });
      }
    }
    // The wrong token in the query string of the event stream is refused as well.
    expect((await call(`${base}/ui/events?token=wrong`)).status).toBe(401);
  });

  it('answer cross-origin preflights without the token (a page follows the cluster to a peer)', async () => {
    const answer = await call(`${urlOf(nodes[1]!)}/ui/events`, { method: 'OPTIONS' });
    expect(answer.status).toBe(204);
    expect(answer.headers.get('access-control-allow-origin')).toBe('*');
    expect(answer.headers.get('access-control-allow-headers')).toContain('authorization');
  });

  it('GET /ui/api/node answers its /status and its timeline, which records the election', async () => {
    const { leader } = await leaderAndFollowers();
    const answer = await call(`${urlOf(leader)}/ui/api/node`, { token: TOKEN });
    expect(answer.status).toBe(200);
    const view = answer.body as NodeDashboardView;
    expect(view.status).toMatchObject({ id: leader.id, role: 'leader' });
    expect(view.timeline).toContainEqual(
      expect.objectContaining({ type: 'leader', subject: leader.id, node: leader.id }),
    );
  });

  it('a snapshot from any node shows all three nodes, the leader and one merged leader row', async () => {
    const { leader, followers } = await leaderAndFollowers();
    const follower = followers[0]!;
    const snapshot = await waitFor('a snapshot where every node answers', async () => {
      const answer = await call(`${urlOf(follower)}/ui/api/cluster`, { token: TOKEN });
      const body = answer.body as ClusterSnapshot;
      return answer.status === 200 && body.nodes.every((node) => node.reachable) ? body : undefined;
    });
    expect(snapshot.servedBy).toBe(follower.id);
    expect(snapshot.nodes.map((node) => node.id)).toEqual(['n1', 'n2', 'n3']);
    expect(snapshot.leader?.id).toBe(leader.id);
    const term = leader.raft.status().term;
    const rows = snapshot.timeline.filter(
      (row) => row.type === 'leader' && row.subject === leader.id && row.term === term,
    );
    // Three nodes recorded the same leader change; the timeline shows it once, seen by three.
    expect(rows).toHaveLength(1);
    expect(rows[0]!.seenBy).toEqual(['n1', 'n2', 'n3']);
  });

  it('a snapshot carries the locks (holders with their fencing token) and queues (depth, DLQ) read through the routes', async () => {
    const { followers } = await leaderAndFollowers();
    const base = urlOf(followers[0]!);
    const session = await call(`${base}/v1/sessions`, {
      method: 'POST',
      body: { ttlMs: 60_000 },
      token: TOKEN,
    });
    expect(session.status).toBe(200);
    const { sessionId } = session.body as { sessionId: string };
    const acquired = await call(`${base}/v1/locks/dash-lock/acquire`, {
      method: 'POST',
      body: { sessionId },
      token: TOKEN,
    });
    expect(acquired.status).toBe(200);
    const { token } = acquired.body as { token: number };
    const sent = await call(`${base}/v1/queues/dash-queue/messages`, {
      method: 'POST',
      body: { body: { hello: 'dashboard' } },
      token: TOKEN,
    });
    expect(sent.status).toBe(200);
    const snapshot = (await call(`${base}/ui/api/cluster`, { token: TOKEN }))
      .body as ClusterSnapshot;
    expect(snapshot.details.locks).toMatchObject({
      error: null,
      value: {
        locks: expect.arrayContaining([
          expect.objectContaining({
            name: 'dash-lock',
            holders: [expect.objectContaining({ sessionId, token, mode: 'exclusive' })],
          }),
        ]) as unknown,
      },
    });
    expect(snapshot.details.queues).toMatchObject({
      error: null,
      value: {
        queues: expect.arrayContaining([
          expect.objectContaining({ queue: 'dash-queue', depth: 1, inFlight: 0, dlqDepth: 0 }),
        ]) as unknown,
        more: 0,
      },
    });
  });

  it('the event stream (token in the query, as EventSource sends it) pushes snapshots', async () => {
    const snapshots = await readSnapshots(
      `${urlOf(nodes[2]!)}/ui/events?token=${encodeURIComponent(TOKEN)}`,
      2,
    );
    expect(snapshots).toHaveLength(2);
    expect(snapshots[0]!.servedBy).toBe('n3');
    expect(snapshots[1]!.nodes).toHaveLength(3);
  });
});

describe('POST /v1/cluster/transfer-leadership', () => {
  const path = '/v1/cluster/transfer-leadership';

  it('refuses without the token, a bad body, an unknown node and the current leader', async () => {
    const { leader, followers } = await leaderAndFollowers();
    const base = urlOf(leader);
    const to = followers[0]!.id;
    const cases = [
      { init: { method: 'POST', body: { to } }, status: 401, code: 'UNAUTHORIZED' },
      { init: { method: 'POST', body: { to }, token: 'wrong' }, status: 401, code: 'UNAUTHORIZED' },
      { init: { method: 'POST', body: {}, token: TOKEN }, status: 400, code: 'BAD_REQUEST' },
      {
        init: { method: 'POST', body: { to: 'a/b' }, token: TOKEN },
        status: 400,
        code: 'BAD_REQUEST',
      },
      {
        init: { method: 'POST', body: { to, x: 1 }, token: TOKEN },
        status: 400,
        code: 'BAD_REQUEST',
      },
      {
        init: { method: 'POST', body: { to: 'n9' }, token: TOKEN },
        status: 404,
        code: 'NOT_FOUND',
      },
      {
        init: { method: 'POST', body: { to: leader.id }, token: TOKEN },
        status: 409,
        code: 'CONFLICT',
      },
    ];
    for (const { init, status, code } of cases) {
      const answer = await call(`${base}${path}`, init);
      expect({ init, status: answer.status, body: answer.body }).toMatchObject({
        status,
        body: { error: { code } },
      });
    }
    // Sent to a follower, naming the leader: refused there, without a hop.
    const viaFollower = await call(`${urlOf(followers[0]!)}${path}`, {
      method: 'POST',
      body: { to: leader.id },
      token: TOKEN,
    });
    expect(viaFollower).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT' } } });
    // A request a follower already forwarded is not forwarded again (no ping-pong).
    const forwarded = await call(`${urlOf(followers[0]!)}${path}`, {
      method: 'POST',
      body: { to: followers[1]!.id },
      token: TOKEN,
      headers: { 'x-distsync-forwarded-by': 'n0' },
    });
    expect(forwarded).toMatchObject({ status: 503, body: { error: { code: 'NO_LEADER' } } });
  });

  it('hands the lead to the named follower, also when sent to the other follower', async () => {
    const { leader, followers } = await leaderAndFollowers();
    const [via, target] = [followers[0]!, followers[1]!];
    const answer = await call(`${urlOf(via)}${path}`, {
      method: 'POST',
      body: { to: target.id },
      token: TOKEN,
    });
    expect(answer).toMatchObject({
      status: 200,
      body: { from: leader.id, leader: target.id },
    });
    expect(answer.headers.get('access-control-allow-origin')).toBe('*');
    const term = (answer.body as { term: number }).term;
    await waitFor(`${target.id} to lead term ${term}`, () =>
      target.raft.status().role === 'leader' && target.raft.status().term === term
        ? true
        : undefined,
    );
  });

  it('answers TIMEOUT when the named voter cannot take over (it is stopped), and the leader stays', async () => {
    const { leader, followers } = await leaderAndFollowers();
    const gone = followers[1]!;
    await gone.drain();
    const started = Date.now();
    const answer = await call(`${urlOf(leader)}${path}`, {
      method: 'POST',
      body: { to: gone.id },
      token: TOKEN,
    });
    expect(answer).toMatchObject({ status: 408, body: { error: { code: 'TIMEOUT' } } });
    // transferTimeoutMs: four election timeouts (4 x 20 ticks x 50 ms).
    expect(Date.now() - started).toBeGreaterThanOrEqual(3900);
    await waitFor(`${leader.id} to lead again`, () =>
      leader.raft.status().role === 'leader' ? true : undefined,
    );
  });
});
