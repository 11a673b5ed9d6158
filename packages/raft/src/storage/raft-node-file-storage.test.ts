// A three-node RaftNode cluster on FileStorage: acknowledged commands survive a full restart of
// every node (the log and hard state come back from disk and the state machines replay them).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { z } from 'zod';
import { FileStorage, RaftNode } from '@distsync/raft';
import type { StateMachine } from '@distsync/raft';
import { createMemoryNetwork } from '@distsync/raft/testing';

let root: string;
const running: { nodes: RaftNode[]; storages: FileStorage[] }[] = [];

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'distsync-raftnode-file-'));
});

afterEach(async () => {
  for (const cluster of running.splice(0)) await stop(cluster);
  await fs.rm(root, { recursive: true, force: true });
});

function counter(): StateMachine<{ add: number }, { get: true }, number> {
  let value = 0;
  return {
    name: 'counter',
    commandSchema: z.object({ add: z.number().int() }),
    querySchema: z.object({ get: z.literal(true) }),
    apply: (command) => (value += command.add),
    query: () => value,
    snapshot: () => new TextEncoder().encode(String(value)),
    restore: (bytes) => {
      value = Number(new TextDecoder().decode(bytes));
    },
  };
}

const ids = ['n1', 'n2', 'n3'];

async function start(): Promise<{ nodes: RaftNode[]; storages: FileStorage[] }> {
  const network = createMemoryNetwork();
  const storages = await Promise.all(
    ids.map((id) => FileStorage.open({ dataDir: path.join(root, id) })),
  );
  const nodes = ids.map(
    (id, i) =>
      new RaftNode({
        id,
        peers: ids,
        storage: storages[i]!,
        transport: network.transport(id),
        stateMachines: [counter()],
        tickIntervalMs: 20,
      }),
  );
  for (const node of nodes) node.start();
  const cluster = { nodes, storages };
  running.push(cluster);
  return cluster;
}

async function stop(cluster: { nodes: RaftNode[]; storages: FileStorage[] }): Promise<void> {
  await Promise.all(cluster.nodes.map((node) => node.stop()));
  await Promise.all(cluster.storages.map((storage) => storage.close()));
}

it('keeps every acknowledged command across a restart of all three nodes', async () => {
  const first = await start();
  for (let seq = 1; seq <= 10; seq++) {
    const result = await first.nodes[seq % 3]!.command(
      'counter',
      { add: 1 },
      { clientId: 'c', seq },
    );
    expect(result.ok).toBe(true);
  }
  const lastIndexes = first.storages.map((storage) => storage.lastIndex());
  await stop(running.splice(0)[0]!);

  const second = await start();
  // Every node recovered at least the log it had (a quorum holds every acknowledged entry).
  second.storages.forEach((storage, i) => {
    expect(storage.lastIndex()).toBe(lastIndexes[i]);
  });
  const next = await second.nodes[1]!.command('counter', { add: 1 }, { clientId: 'c', seq: 11 });
  expect(next).toMatchObject({ ok: true, value: 11 });
  expect(await second.nodes[2]!.query('counter', { get: true })).toMatchObject({
    ok: true,
    value: 11,
  });
}, 30_000);
