// The lock state machine under real Raft (three RaftNodes over @distsync/raft/testing's memory
// network) while the leader is isolated again and again: grants survive leader changes, tokens
// of a lock only grow, no two exclusive holders exist at any applied index on any replica, and
// every replica ends in the same state.
import { afterEach, describe, expect, it } from 'vitest';
import type { RaftNode } from '@distsync/raft';
import { createMemoryCluster, createPrng, type MemoryCluster } from '@distsync/raft/testing';
import { createLockStateMachine, type LockStateMachine } from '@distsync/lock-manager';
import { createTestSessionsMachine } from './test-support.js';

interface HolderView {
  sessionId: string;
  mode: string;
  token: number;
}

let cluster: MemoryCluster | undefined;

afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Checks every lock of one replica after each apply; violations are collected, not thrown. */
function checkedMachine(
  id: string,
  violations: string[],
): { machine: LockStateMachine; sessions: ReturnType<typeof createTestSessionsMachine> } {
  const sessions = createTestSessionsMachine();
  const machine = createLockStateMachine({ sessions });
  const lastExclusive = new Map<string, number>();
  const check = (index: number): void => {
    const listed = machine.query({ op: 'list' });
    if (!listed.ok) return;
    const { locks } = listed.value as { locks: { name: string; holders: HolderView[] }[] };
    for (const lock of locks) {
      const exclusive = lock.holders.filter((holder) => holder.mode === 'exclusive');
      if (exclusive.length > 0 && lock.holders.length > 1) {
        violations.push(`${id}@${index}: ${lock.name} has ${JSON.stringify(lock.holders)}`);
      }
      const holder = exclusive[0];
      if (holder === undefined) continue;
      const last = lastExclusive.get(lock.name) ?? 0;
      if (holder.token < last) {
        violations.push(`${id}@${index}: ${lock.name} token ${holder.token} after ${last}`);
      }
      lastExclusive.set(lock.name, holder.token);
    }
  };
  const checked: LockStateMachine = {
    ...machine,
    apply: (command, context) => {
      const result = machine.apply(command, context);
      check(context.index);
      return result;
    },
  };
  // Session ends apply inside the sessions machine: check after those too.
  sessions.onEnded((_id, _reason, context) => {
    queueMicrotask(() => {
      check(context.index);
    });
  });
  return { machine: checked, sessions };
}

/** Sends a command with a fixed (clientId, seq) to one node after another until one answers. */
async function send(
  nodes: readonly RaftNode[],
  input: { service: string; command: unknown; clientId: string; seq: number; first: number },
): Promise<{ ok: boolean; value?: unknown; code?: string }> {
  for (let attempt = 0; attempt < 60; attempt += 1) {
    const node = nodes[(input.first + attempt) % nodes.length]!;
    const result = await node.command(input.service, input.command, {
      clientId: input.clientId,
      seq: input.seq,
      timeoutMs: 500,
    });
    if (result.ok) return result.value as { ok: boolean; value?: unknown; code?: string };
    await sleep(20);
  }
  throw new Error(`no node applied ${JSON.stringify(input.command)}`);
}

describe('locks under leader failover', () => {
  it('keeps grants, grows tokens and never has two exclusive holders while leaders change', async () => {
    // Proves safety under failover: checked on every replica after every applied entry.
    const violations: string[] = [];
    const machines = new Map<string, LockStateMachine>();
    cluster = createMemoryCluster({
      stateMachines: (id) => {
        const { machine, sessions } = checkedMachine(id, violations);
        machines.set(id, machine);
        return [sessions, machine];
      },
    });
    const nodes = cluster.nodes;
    await cluster.waitForLeader();
    const random = createPrng(8);
    const sessions: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      const created = await send(nodes, {
        service: 'sessions',
        command: { op: 'create', ttlMs: 60_000 },
        clientId: 'setup',
        seq: i + 1,
        first: 0,
      });
      sessions.push((created.value as { sessionId: string }).sessionId);
    }
    const kept = await send(nodes, {
      service: 'lock',
      command: {
        op: 'acquire',
        name: 'kept',
        sessionId: sessions[0],
        mode: 'exclusive',
        timeoutMs: 0,
      },
      clientId: 'setup',
      seq: 100,
      first: 0,
    });
    const keptToken = (kept.value as { token: number }).token;

    const endAt = Date.now() + 3500;
    const grants: number[] = [];
    const worker = async (index: number): Promise<void> => {
      const sessionId = sessions[index + 1]!;
      let seq = 0;
      while (Date.now() < endAt) {
        const first = random.int(0, 2);
        const mode = index === 0 ? 'shared' : 'exclusive';
        const timeoutMs = random.chance(0.5) ? 0 : 200;
        const answer = await send(nodes, {
          service: 'lock',
          command: { op: 'acquire', name: 'L', sessionId, mode, timeoutMs },
          clientId: `w${index}`,
          seq: (seq += 1),
          first,
        });
        const token = (answer.value as { token?: number } | undefined)?.token;
        if (token !== undefined) grants.push(token);
        await sleep(random.int(1, 15));
        await send(nodes, {
          service: 'lock',
          command: { op: 'release', name: 'L', sessionId },
          clientId: `w${index}`,
          seq: (seq += 1),
          first,
        });
      }
    };
    let failovers = 0;
    const faults = (async () => {
      while (Date.now() < endAt - 600) {
        await sleep(500);
        const leader = await cluster.waitForLeader();
        cluster.network.isolate(leader.id);
        await cluster.waitForLeader({ exclude: [leader.id], timeoutMs: 5000 });
        failovers += 1;
        await sleep(100);
        cluster.network.heal();
      }
    })();
    await Promise.all([worker(0), worker(1), worker(2), worker(3), faults]);
    cluster.network.heal();

    // The lock taken before the first failover is still held, with its token, and releasable.
    const leader = await cluster.waitForLeader();
    const view = await leader.query('lock', { op: 'get', name: 'kept' });
    expect(view).toMatchObject({
      ok: true,
      value: { ok: true, value: { holders: [{ sessionId: sessions[0], token: keptToken }] } },
    });
    const released = await send(nodes, {
      service: 'lock',
      command: { op: 'release', name: 'kept', sessionId: sessions[0] },
      clientId: 'setup',
      seq: 101,
      first: 0,
    });
    expect(released).toMatchObject({ ok: true, value: { released: true } });

    expect(failovers).toBeGreaterThanOrEqual(3);
    expect(grants.length).toBeGreaterThan(10);
    expect(violations).toEqual([]);
    // Every replica converges to the same lock table (after the last waits timed out).
    await sleep(500);
    const last = leader.status().commitIndex;
    for (const node of nodes) {
      const deadline = Date.now() + 5000;
      while (node.status().appliedIndex < last && Date.now() < deadline) await sleep(20);
    }
    const snapshots = [...machines.values()].map((machine) =>
      new TextDecoder().decode(machine.snapshot()),
    );
    expect(new Set(snapshots).size).toBe(1);
  }, 30_000);
});
