// RaftNode on FileStorage: a whole-cluster restart keeps every acknowledged command, because
// each node replays its write-ahead log into fresh state machines.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileStorage } from '@distsync/raft';
import { createListMachine, createMemoryCluster } from '@distsync/raft/testing';
import type { MemoryCluster } from '@distsync/raft/testing';

const ids = ['f1', 'f2', 'f3'];
let root: string | undefined;
let storages: FileStorage[] = [];

async function startOnDisk(): Promise<MemoryCluster> {
  const dir = root!;
  storages = await Promise.all(ids.map((id) => FileStorage.open({ dataDir: join(dir, id) })));
  return createMemoryCluster({
    ids,
    stateMachines: () => [createListMachine()],
    storage: (id) => storages[ids.indexOf(id)]!,
  });
}

async function stopAll(cluster: MemoryCluster): Promise<void> {
  await cluster.stop();
  await Promise.all(storages.map((storage) => storage.close()));
  storages = [];
}

afterEach(async () => {
  await Promise.all(storages.map((storage) => storage.close()));
  storages = [];
  if (root !== undefined) await rm(root, { recursive: true, force: true });
  root = undefined;
});

describe('RaftNode with FileStorage', () => {
  it('keeps every acknowledged command across a whole-cluster restart', async () => {
    root = await mkdtemp(join(tmpdir(), 'distsync-raft-node-'));
    const first = await startOnDisk();
    const leader = await first.waitForLeader();
    const written = ['a', 'b', 'c', 'd'];
    for (const item of written) {
      expect(await leader.command('list', { push: item })).toMatchObject({ ok: true });
    }
    await stopAll(first);

    const second = await startOnDisk();
    try {
      const next = await second.waitForLeader();
      const read = await next.query('list', { all: true });
      expect(read).toMatchObject({ ok: true, value: written });
      expect(await next.command('list', { push: 'e' })).toMatchObject({
        ok: true,
        value: [...written, 'e'],
      });
    } finally {
      await stopAll(second);
    }
  });
});
