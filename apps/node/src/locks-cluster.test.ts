// Locks on a three-node cluster of real `distsync node` processes: a holder process killed with
// kill -9 loses its lock once its session's TTL passes (the next grant has a larger token), and
// mutual exclusion holds on a fenced resource while the leader is killed again and again.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, type ClusterConnection } from '@distsync/transport-ws';
import { LockClient } from '@distsync/lock-manager';
import { TestCluster } from './test-support/cluster.js';
import { APP_DIR, killAllChildren, removeDir, tempDir, waitFor } from './test-support/processes.js';

let dir: string;
let cluster: TestCluster;
const connections: ClusterConnection[] = [];

function endpoints(first = 0): string[] {
  const urls = cluster.members.map((member) => `ws://127.0.0.1:${member.port}`);
  return [...urls.slice(first), ...urls.slice(0, first)];
}

async function newClient(first: number, ttlMs?: number): Promise<LockClient> {
  const connection = await connect(endpoints(first), { requestTimeoutMs: 15_000 });
  connections.push(connection);
  return new LockClient({ connection, ...(ttlMs === undefined ? {} : { ttlMs }) });
}

beforeAll(async () => {
  dir = tempDir('locks-cluster');
  cluster = await TestCluster.create(dir);
  cluster.startAll();
  await cluster.waitForLeader({ timeoutMs: 30_000 });
}, 40_000);

afterEach((context) => {
  if (context.task.result?.state !== 'fail') return;
  for (const member of cluster.members) {
    const lines = (member.process?.output() ?? '').trim().split('\n').slice(-10);
    console.log(`--- ${member.id} (last log lines)\n${lines.join('\n')}`);
  }
});

afterAll(async () => {
  await Promise.all(connections.map((connection) => connection.close()));
  await killAllChildren();
  removeDir(dir);
});

/** The test's model of a storage service that checks fencing tokens (Kleppmann's example). */
class FencedResource {
  highestToken = 0;
  inside: { client: number; token: number } | undefined;
  readonly accepted: number[] = [];
  rejectedStale = 0;
  readonly overlaps: string[] = [];

  enter(client: number, token: number): boolean {
    if (token <= this.highestToken) {
      this.rejectedStale += 1;
      return false;
    }
    if (this.inside !== undefined) {
      this.overlaps.push(
        `client ${client} (token ${token}) entered while ${JSON.stringify(this.inside)} was inside`,
      );
    }
    this.highestToken = token;
    this.inside = { client, token };
    this.accepted.push(token);
    return true;
  }

  leave(client: number): void {
    if (this.inside?.client === client) this.inside = undefined;
  }
}

describe('locks on a cluster of processes', () => {
  it('releases the lock of a holder killed with kill -9 after its TTL; the next token is larger', async () => {
    // Proves a dead client's lock is freed by session expiry, not held forever, and fenced.
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--conditions',
        '@distsync/source',
        join(APP_DIR, 'src', 'test-support', 'lock-holder.ts'),
        ...endpoints(),
      ],
      {
        cwd: APP_DIR,
        env: { ...process.env, LOCK_NAME: 'k9', LOCK_TTL_MS: '1000' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const held = await waitFor(
      'the holder process to take the lock',
      () => {
        const line = output.split('\n').find((text) => text.startsWith('{"token"'));
        return line === undefined ? undefined : (JSON.parse(line) as { token: number });
      },
      { timeoutMs: 20_000, detail: () => output },
    );
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    const killedAt = Date.now();
    const client = await newClient(1);
    const handle = await client.acquire('k9', { timeoutMs: 10_000 });
    const waitedMs = Date.now() - killedAt;
    expect(handle.token).toBeGreaterThan(held.token);
    // Not before the TTL could have passed (a keep-alive may have renewed it just before the kill).
    expect(waitedMs).toBeGreaterThanOrEqual(500);
    expect(waitedMs).toBeLessThan(8000);
    await handle.release();
    await client.close();
  }, 40_000);

  it('keeps mutual exclusion on a fenced resource while the leader is killed repeatedly', async () => {
    // Proves that across leader kills every accepted critical section had the newest token and
    // none overlapped another: no two clients held the lock at once.
    const resource = new FencedResource();
    const clients = await Promise.all([0, 1, 2].map((index) => newClient(index)));
    const endAt = Date.now() + 14_000;
    const refusals = new Map<string, number>();
    const worker = async (index: number): Promise<void> => {
      const client = clients[index]!;
      while (Date.now() < endAt) {
        let handle;
        try {
          handle = await client.acquire('fenced', { timeoutMs: 6000 });
        } catch (error) {
          const code = (error as { code?: string }).code ?? 'unknown';
          refusals.set(code, (refusals.get(code) ?? 0) + 1);
          await new Promise((resolve) => setTimeout(resolve, 50));
          continue;
        }
        if (resource.enter(index, handle.token)) {
          await new Promise((resolve) => setTimeout(resolve, 10));
          resource.leave(index);
        }
        await handle.release().catch(() => undefined);
      }
    };
    let kills = 0;
    const faults = async (): Promise<void> => {
      while (Date.now() < endAt - 4000) {
        await new Promise((resolve) => setTimeout(resolve, 2500));
        const leader = await cluster.waitForLeader({ timeoutMs: 15_000 });
        const victim = cluster.member(leader.id);
        const exited = victim.process?.exited;
        victim.process?.child.kill('SIGKILL');
        await exited;
        kills += 1;
        const others = cluster.members
          .filter((member) => member.id !== leader.id)
          .map((member) => member.id);
        await cluster.waitForLeader({ among: others, newerThan: leader.term, timeoutMs: 15_000 });
        cluster.start(leader.id);
      }
    };
    await Promise.all([worker(0), worker(1), worker(2), faults()]);
    await Promise.all(clients.map((client) => client.close()));
    console.log(
      `fenced: ${resource.accepted.length} critical sections, ${resource.rejectedStale} stale tokens refused, acquire failures ${JSON.stringify(Object.fromEntries(refusals))}, ${kills} leader kills`,
    );
    expect(kills).toBeGreaterThanOrEqual(2);
    expect(resource.overlaps).toEqual([]);
    expect(resource.accepted.length).toBeGreaterThan(20);
  }, 60_000);
});
