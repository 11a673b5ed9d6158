// A full disk (ENOSPC) stalls a node instead of killing it: it acknowledges nothing, the others
// elect a new leader and go on, the node reports the stall in its status, and once space is back
// it resumes as a follower and catches up without losing or inventing an acknowledged write.
import { afterEach, describe, expect, it } from 'vitest';
import { FileStorage } from '@distsync/raft';
import type { RaftNode, StorageState } from '@distsync/raft';
import { createListMachine, createMemoryCluster, FaultFs } from '@distsync/raft/testing';
import type { MemoryCluster } from '@distsync/raft/testing';

const ids = ['d1', 'd2', 'd3'];
let cluster: MemoryCluster | undefined;
let storages: FileStorage[] = [];

afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
  await Promise.all(storages.map((storage) => storage.close().catch(() => undefined)));
  storages = [];
});

function nextStorageState(node: RaftNode, type: StorageState['type']): Promise<StorageState> {
  return new Promise((resolve) => {
    const off = node.on('storage', (state) => {
      if (state.type !== type) return;
      off();
      resolve(state);
    });
  });
}

describe('RaftNode on a full disk', () => {
  it('stalls the node, lets the others go on, and resumes it with nothing lost once space is back', async () => {
    const disks = ids.map(() => {
      const fs = new FaultFs();
      fs.mkdirp('/disk');
      return fs;
    });
    storages = await Promise.all(
      ids.map((id, i) =>
        FileStorage.open({ dataDir: `/disk/${id}`, fs: disks[i]!, noSpaceRetryMs: 0 }),
      ),
    );
    cluster = createMemoryCluster({
      ids,
      stateMachines: () => [createListMachine()],
      storage: (id) => storages[ids.indexOf(id)]!,
      tickIntervalMs: 10,
      node: { limits: { storageRetryMs: 20 } },
    });
    const c = cluster;
    const stalled = await c.waitForLeader();
    expect(await stalled.command('list', { push: 'before' })).toMatchObject({ ok: true });

    const disk = disks[ids.indexOf(stalled.id)]!;
    disk.setFreeBytes(0);
    const noSpace = nextStorageState(stalled, 'no-space');
    const unacknowledged = stalled.command('list', { push: 'during-stall' }, { timeoutMs: 60_000 });
    expect(await noSpace).toMatchObject({ type: 'no-space' });
    expect(stalled.status().storage.type).toBe('no-space');
    expect(stalled.status().storageError).toMatch(/disk full/);
    // Refused at once, not queued behind a disk that may stay full.
    expect(await stalled.command('list', { push: 'refused' })).toMatchObject({
      ok: false,
      code: 'STORAGE_STALLED',
    });

    // The others elect a new leader among themselves and keep acknowledging writes.
    const successor = await c.waitForLeader({ exclude: [stalled.id], timeoutMs: 20_000 });
    expect(await successor.command('list', { push: 'after' })).toMatchObject({ ok: true });

    const ok = nextStorageState(stalled, 'ok');
    disk.restoreSpace();
    expect(await ok).toEqual({ type: 'ok' });
    expect(stalled.status().state).toBe('running');

    // Back as a follower, it catches up: a linearizable read there sees every acknowledged write.
    const read = await stalled.query('list', { all: true });
    expect(read.ok).toBe(true);
    const items = read.ok ? (read.value as string[]) : [];
    expect(items).toContain('before');
    expect(items).toContain('after');
    expect(items).not.toContain('refused');
    // The write taken during the stall was never acknowledged before it: whatever its fate,
    // the answer and the log agree.
    const fate = await unacknowledged;
    expect(items.includes('during-stall')).toBe(fate.ok);
    expect(stalled.status().role).not.toBe('leader');
  });
});
