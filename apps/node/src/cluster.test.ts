// Faults on a three-node cluster of real `distsync node` processes on loopback: kill -9 of the
// leader, SIGSTOP of the leader past an election timeout, and a whole-cluster restart. Every wait
// polls /status with a bound; every child is killed in afterAll, also when a test fails.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster } from './test-support/cluster.js';
import {
  http,
  killAllChildren,
  removeDir,
  statusOf,
  tempDir,
  waitFor,
  type HttpAnswer,
} from './test-support/processes.js';

let dir: string;
let cluster: TestCluster;

beforeAll(async () => {
  dir = tempDir('cluster');
  cluster = await TestCluster.create(dir);
  cluster.startAll();
});

// On a failure, the last log lines of every node say what the cluster was doing.
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

async function put(url: string, key: string, value: unknown): Promise<HttpAnswer> {
  return http(`${url}/v1/kv/${key}`, { method: 'PUT', body: { value }, timeoutMs: 8000 });
}

describe('a three-node cluster of processes', () => {
  it('elects a leader and /status shows all three nodes connected', async () => {
    const started = Date.now();
    const leader = await cluster.waitForLeader({ timeoutMs: 20_000 });
    console.log(
      `leader ${leader.id} after ${Date.now() - started} ms from spawning (tsx included)`,
    );
    // From the moment a majority of the nodes had started (their own log lines, so process and
    // tsx start-up do not count) to the first leader.
    const timeOf = (message: string): number[] =>
      cluster.members.flatMap((member) =>
        (member.process?.output() ?? '')
          .split('\n')
          .filter((line) => line.includes(`"msg":"${message}"`))
          .map((line) => (JSON.parse(line) as { time: number }).time),
      );
    const majorityStarted = timeOf('node started').sort((a, b) => a - b)[1]!;
    const elected = Math.min(...timeOf('leader changed'));
    console.log(`leader ${elected - majorityStarted} ms after a majority of the nodes started`);
    expect(elected - majorityStarted).toBeLessThan(2000);
    // A majority elects the leader; the third node may still be starting (tsx under load).
    const statuses = await waitFor('every node answering with every peer link up', async () => {
      const all = await cluster.statuses();
      const up = all.every((status) =>
        status.peers.every((peer) => peer.connection === 'connected'),
      );
      return up && all.length === 3 ? all : undefined;
    });
    expect(statuses.map((status) => status.id).sort()).toEqual(['n1', 'n2', 'n3']);
  });

  it('after kill -9 of the leader elects another, takes the next write, and the killed node catches up from its WAL', async () => {
    const leader = await cluster.waitForLeader();
    const follower = cluster.members.find((member) => member.id !== leader.id)!;
    expect((await put(follower.url, 'before-kill', 1)).status).toBe(200);
    const victim = cluster.member(leader.id);
    victim.process?.child.kill('SIGKILL');
    await victim.process?.exited;
    const others = cluster.members.filter((member) => member.id !== leader.id).map((m) => m.id);
    const next = await cluster.waitForLeader({ among: others, newerThan: leader.term });
    expect(next.id).not.toBe(leader.id);
    const written = await put(cluster.member(next.id).url, 'after-kill', { ok: true });
    expect(written.status).toBe(200);
    const { index } = written.body as { index: number };
    cluster.start(victim.id);
    const caughtUp = await waitFor(
      `${victim.id} to replay its WAL and catch up to index ${index}`,
      async () => {
        const status = await statusOf(victim.url);
        return status !== undefined && status.appliedIndex >= index && status.leader === next.id
          ? status
          : undefined;
      },
      { timeoutMs: 20_000 },
    );
    expect(caughtUp.role).toBe('follower');
    expect((await http(`${victim.url}/v1/kv/before-kill`)).body).toMatchObject({ value: 1 });
    expect((await http(`${victim.url}/v1/kv/after-kill`)).body).toMatchObject({
      value: { ok: true },
    });
  });

  it('a SIGSTOPped leader acknowledges nothing once a newer term exists, and rejoins as follower after SIGCONT', async () => {
    const leader = await cluster.waitForLeader();
    const frozen = cluster.member(leader.id);
    frozen.process?.child.kill('SIGSTOP');
    try {
      const others = cluster.members.filter((member) => member.id !== leader.id).map((m) => m.id);
      const next = await cluster.waitForLeader({ among: others, newerThan: leader.term });
      expect((await put(cluster.member(next.id).url, 'during-stop', 'new')).status).toBe(200);
      // Sent to the frozen node: answered only after SIGCONT, when a newer term exists.
      const staleWrite = put(frozen.url, 'to-frozen', 'maybe');
      const staleRead = http(`${frozen.url}/v1/kv/during-stop`, { timeoutMs: 8000 });
      frozen.process?.child.kill('SIGCONT');
      const rejoined = await waitFor(`${frozen.id} to rejoin as follower`, async () => {
        const status = await statusOf(frozen.url);
        return status?.role === 'follower' && status.term >= next.term ? status : undefined;
      });
      expect(rejoined.leader).not.toBe(frozen.id);
      // A read it answers sees the newer term's write: never the stale state (404).
      const read = await staleRead;
      if (read.status === 200) expect(read.body).toMatchObject({ value: 'new' });
      else expect([408, 503]).toContain(read.status);
      // A write it acknowledges was committed by the new term's leader, so every node has it.
      const write = await staleWrite;
      if (write.status === 200) {
        const leaderNow = await cluster.waitForLeader();
        const check = await http(`${cluster.member(leaderNow.id).url}/v1/kv/to-frozen`);
        expect(check.body).toMatchObject({ value: 'maybe' });
      } else {
        expect([408, 503]).toContain(write.status);
      }
    } finally {
      frozen.process?.child.kill('SIGCONT');
    }
  });

  it('keeps every acknowledged kv write across a whole-cluster restart', async () => {
    await cluster.waitForLeader();
    const acknowledged = new Map<string, number>();
    await Promise.all(
      Array.from({ length: 30 }, async (_, index) => {
        const member = cluster.members[index % 3]!;
        const answer = await put(member.url, `durable-${index}`, index).catch(() => undefined);
        if (answer?.status === 200) acknowledged.set(`durable-${index}`, index);
      }),
    );
    expect(acknowledged.size).toBeGreaterThan(0);
    for (const member of cluster.members) member.process?.child.kill('SIGKILL');
    await Promise.all(
      cluster.members.map((member) => member.process?.exited ?? Promise.resolve(0)),
    );
    cluster.startAll();
    const leader = await cluster.waitForLeader({ timeoutMs: 20_000 });
    const url = cluster.member(leader.id).url;
    for (const [key, value] of acknowledged) {
      expect({ key, body: (await http(`${url}/v1/kv/${key}`)).body }).toMatchObject({
        key,
        body: { value },
      });
    }
  });

  it('a leader drains on SIGTERM: it hands the lead over and exits 0', async () => {
    const leader = await cluster.waitForLeader();
    const member = cluster.member(leader.id);
    member.process?.child.kill('SIGTERM');
    expect(await member.process?.exited).toBe(0);
    const others = cluster.members.filter((other) => other.id !== leader.id).map((m) => m.id);
    const next = await cluster.waitForLeader({ among: others, newerThan: leader.term - 1 });
    expect(next.id).not.toBe(leader.id);
    expect(member.process?.output()).toContain('offering the lead');
  });
});
