// The cache service on three real `distsync node` processes: MESI states per node through REST,
// the rejection codes of the cache routes, and no stale read after a write's acknowledgment while
// the leader is killed with SIGKILL. Every wait polls with a bound; children die in afterAll.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster } from './test-support/cluster.js';
import { http, killAllChildren, removeDir, tempDir, waitFor } from './test-support/processes.js';

let dir: string;
let cluster: TestCluster;

beforeAll(async () => {
  dir = tempDir('cache-cluster');
  cluster = await TestCluster.create(dir);
  cluster.startAll();
  await cluster.waitForLeader({ timeoutMs: 20_000 });
});

afterEach((context) => {
  if (context.task.result?.state !== 'fail') return;
  for (const member of cluster.members) {
    const lines = (member.process?.output() ?? '').trim().split('\n').slice(-15);
    console.log(`--- ${member.id} (last log lines)\n${lines.join('\n')}`);
  }
});

afterAll(async () => {
  await killAllChildren();
  removeDir(dir);
});

interface CacheRead {
  value: unknown;
  state: string;
  version: number;
}

function url(id: string): string {
  return cluster.member(id).url;
}

async function put(id: string, key: string, value: unknown): Promise<number> {
  const answer = await http(`${url(id)}/v1/cache/${key}`, {
    method: 'PUT',
    body: { value },
    timeoutMs: 8000,
  });
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  return (answer.body as { version: number }).version;
}

async function get(id: string, key: string): Promise<CacheRead> {
  const answer = await http(`${url(id)}/v1/cache/${key}`, { timeoutMs: 8000 });
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  return answer.body as CacheRead;
}

async function states(id: string, key: string): Promise<Record<string, string>> {
  const answer = await http(`${url(id)}/v1/cache/${key}/states`);
  expect(answer.status).toBe(200);
  const body = answer.body as { nodes: { id: string; state: string }[] };
  return Object.fromEntries(body.nodes.map((node) => [node.id, node.state]));
}

describe('the cache service on three node processes', () => {
  it('moves a key through M, S and I on the nodes as they write and read it', async () => {
    const version = await put('n1', 'color', 'red');
    expect(await get('n1', 'color')).toEqual({ value: 'red', state: 'M', version });
    expect(await states('n2', 'color')).toEqual({ n1: 'M', n2: 'I', n3: 'I' });

    // A read on n2 downgrades n1's M copy: both now share it.
    expect(await get('n2', 'color')).toMatchObject({ value: 'red', state: 'S' });
    expect(await states('n3', 'color')).toEqual({ n1: 'S', n2: 'S', n3: 'I' });
    // The second read on n2 is a local hit.
    const before = (await http(`${url('n2')}/v1/cache/stats`)).body as { hits: number };
    await get('n2', 'color');
    const after = (await http(`${url('n2')}/v1/cache/stats`)).body as {
      hits: number;
      lines: { S: number };
      backingStore: { kind: string; healthy: boolean };
    };
    expect(after.hits).toBe(before.hits + 1);
    expect(after.backingStore).toMatchObject({ kind: 'memory', healthy: true });

    // A write on n3 invalidates both copies before it is acknowledged.
    const newer = await put('n3', 'color', 'blue');
    expect(newer).toBeGreaterThan(version);
    expect(await states('n1', 'color')).toEqual({ n1: 'I', n2: 'I', n3: 'M' });
    expect(await get('n1', 'color')).toMatchObject({ value: 'blue', version: newer });
    expect(await get('n2', 'color')).toMatchObject({ value: 'blue', version: newer });

    const status = (await http(`${url('n3')}/status`)).body as {
      serviceStatus: { cache: { invalidationsSent: number; holder: string } };
    };
    expect(status.serviceStatus.cache).toMatchObject({ holder: 'node:n3' });
    expect(status.serviceStatus.cache.invalidationsSent).toBeGreaterThanOrEqual(2);
  });

  it('answers the rejection codes of the cache routes', async () => {
    const missing = await http(`${url('n1')}/v1/cache/never-written`);
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ error: { code: 'NOT_FOUND' } });

    const badBody = await http(`${url('n1')}/v1/cache/k`, { method: 'PUT', body: { valu: 1 } });
    expect(badBody.status).toBe(400);
    expect(badBody.body).toMatchObject({ error: { code: 'BAD_REQUEST' } });

    const badTtl = await http(`${url('n1')}/v1/cache/k`, {
      method: 'PUT',
      body: { value: 1, ttlMs: -5 },
    });
    expect(badTtl.body).toMatchObject({ error: { code: 'BAD_REQUEST' } });

    // Larger than the directory's maxValueBytes (256 KiB), smaller than the body limit.
    const large = await http(`${url('n2')}/v1/cache/big`, {
      method: 'PUT',
      body: { value: 'x'.repeat(300_000) },
      timeoutMs: 8000,
    });
    expect(large.status).toBe(413);
    expect(large.body).toMatchObject({ error: { code: 'TOO_LARGE' } });

    const deleted = await http(`${url('n2')}/v1/cache/color`, { method: 'DELETE' });
    expect(deleted.body).toMatchObject({ deleted: true });
    expect((await http(`${url('n1')}/v1/cache/color`)).status).toBe(404);
  });

  it('never serves a value older than an acknowledged write while the leader is killed', async () => {
    const leader = await cluster.waitForLeader();
    const others = cluster.members.map((member) => member.id).filter((id) => id !== leader.id);
    const [writer, reader] = others as [string, string];
    let acknowledged = await put(writer, 'counter', 0);
    await get(reader, 'counter');
    await get(leader.id, 'counter');

    cluster.member(leader.id).process?.child.kill('SIGKILL');
    const deadline = Date.now() + 15_000;
    let rounds = 0;
    // Writes through one survivor, reads on the other right after each acknowledgment: a read
    // that starts after the ack must see at least that version (the reader held an S copy).
    while (rounds < 12 && Date.now() < deadline) {
      rounds += 1;
      const answer = await http(`${url(writer)}/v1/cache/counter`, {
        method: 'PUT',
        body: { value: rounds },
        timeoutMs: 8000,
      }).catch(() => undefined);
      if (answer?.status !== 200) continue;
      acknowledged = (answer.body as { version: number }).version;
      const read = await waitFor('a read on the other survivor', async () => {
        const got = await http(`${url(reader)}/v1/cache/counter`, { timeoutMs: 8000 });
        return got.status === 200 ? (got.body as CacheRead) : undefined;
      });
      expect(read.version).toBeGreaterThanOrEqual(acknowledged);
      expect(read.value).toBe(rounds);
    }
    expect(rounds).toBeGreaterThan(3);

    // The killed node comes back with an empty cache and reads the latest value.
    cluster.start(leader.id);
    const back = await waitFor(
      'the restarted node to answer',
      async () => {
        const got = await http(`${url(leader.id)}/v1/cache/counter`, { timeoutMs: 3000 }).catch(
          () => undefined,
        );
        return got?.status === 200 ? (got.body as CacheRead) : undefined;
      },
      { timeoutMs: 20_000 },
    );
    expect(back.version).toBeGreaterThanOrEqual(acknowledged);
  });
});
