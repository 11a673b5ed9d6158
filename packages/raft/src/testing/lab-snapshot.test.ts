// The MIT 6.5840 Raft lab tests 3D (snapshots, test_test.go `snapcommon` and friends) in the
// simulator with the lab's parameters: every server snapshots every SnapShotInterval = 10 applied
// entries and compacts its log (the lab's applierSnap), no log may reach MAXLOGSIZE = 2000 bytes,
// 30 iterations per snapcommon test and 5 for all-crash, 10% loss and 0-26 ms delays when
// unreliable, agreement within 10 s (one()). Snapshots travel in 1 KiB chunks here (the lab sends
// them whole), so every install also exercises chunking. All in virtual time with fixed seeds.
import { describe, expect, it } from 'vitest';
import { LabCluster } from '@distsync/raft/testing';

const snapShotInterval = 10;
const maxLogSize = 2000;

function lab(name: string, options: { servers: number; unreliable: boolean }): LabCluster {
  return new LabCluster({
    servers: options.servers,
    unreliable: options.unreliable,
    seed: 6584,
    snapshotInterval: snapShotInterval,
    raft: { maxSnapshotChunkBytes: 1024 },
    replayCommand: `pnpm vitest run --project raft packages/raft/src/testing/lab-snapshot.test.ts -t "${name}"`,
  });
}

/** The lab's rand.Int() as a command. */
function anyCommand(cfg: LabCluster): number {
  return cfg.random.int(0, 2 ** 31 - 1);
}

function installs(cfg: LabCluster): number {
  return cfg.sim.allNodes.reduce((sum, node) => sum + node.snapshotsInstalled, 0);
}

function snapshotsTaken(cfg: LabCluster): number {
  return cfg.sim.allNodes.reduce((sum, node) => sum + node.snapshotsTaken, 0);
}

/** test_test.go `snapcommon`: a victim is cut off or crashed while the log moves past it. */
function snapcommon(
  name: string,
  options: { disconnect: boolean; reliable: boolean; crash: boolean },
): LabCluster {
  const iters = 30;
  const servers = 3;
  const cfg = lab(name, { servers, unreliable: !options.reliable });
  cfg.one(anyCommand(cfg), servers, true);
  let leader1 = cfg.checkOneLeader();
  for (let i = 0; i < iters; i++) {
    let victim = (leader1 + 1) % servers;
    let sender = leader1;
    if (i % 3 === 1) {
      sender = (leader1 + 1) % servers;
      victim = leader1;
    }
    if (options.disconnect) {
      cfg.disconnect(victim);
      cfg.one(anyCommand(cfg), servers - 1, true);
    }
    if (options.crash) {
      cfg.crash1(victim);
      cfg.one(anyCommand(cfg), servers - 1, true);
    }
    // Perhaps enough to get a snapshot.
    const nn = snapShotInterval / 2 + cfg.random.int(0, snapShotInterval - 1);
    for (let k = 0; k < nn; k++) cfg.start(sender, anyCommand(cfg));
    // Let the appliers catch up; in the basic test every follower must, so that no
    // InstallSnapshot is needed there.
    if (!options.disconnect && !options.crash) cfg.one(anyCommand(cfg), servers, true);
    else cfg.one(anyCommand(cfg), servers - 1, true);
    if (cfg.logSize() >= maxLogSize) cfg.fail(`log size ${cfg.logSize()} too large`);
    if (options.disconnect) {
      // Reconnect a follower that may be behind and need a snapshot to catch up.
      cfg.connect(victim);
      cfg.one(anyCommand(cfg), servers, true);
      leader1 = cfg.checkOneLeader();
    }
    if (options.crash) {
      cfg.start1(victim);
      cfg.connect(victim);
      cfg.one(anyCommand(cfg), servers, true);
      leader1 = cfg.checkOneLeader();
    }
  }
  return cfg;
}

/** Crashes every server and starts them all again from what they persisted. */
function crashAndReviveAll(cfg: LabCluster): void {
  for (let i = 0; i < cfg.servers; i++) cfg.crash1(i);
  for (let i = 0; i < cfg.servers; i++) {
    cfg.start1(i);
    cfg.connect(i);
  }
}

describe('6.5840 lab 3D: log compaction', () => {
  it('snapshots basic: servers snapshot and compact while every follower keeps up', () => {
    const cfg = snapcommon('snapshots basic', { disconnect: false, reliable: true, crash: false });
    for (const node of cfg.sim.allNodes) expect(node.snapshotsTaken).toBeGreaterThanOrEqual(5);
  });

  it('install snapshots (disconnect): a reconnected follower behind a compacted log catches up', () => {
    const cfg = snapcommon('install snapshots (disconnect)', {
      disconnect: true,
      reliable: true,
      crash: false,
    });
    expect(installs(cfg)).toBeGreaterThan(0);
  });

  it('install snapshots (disconnect+unreliable): the same over a lossy, delaying network', () => {
    const cfg = snapcommon('install snapshots (disconnect+unreliable)', {
      disconnect: true,
      reliable: false,
      crash: false,
    });
    expect(installs(cfg)).toBeGreaterThan(0);
  });

  it('install snapshots (crash): a restarted follower resumes from its snapshot and catches up', () => {
    const cfg = snapcommon('install snapshots (crash)', {
      disconnect: false,
      reliable: true,
      crash: true,
    });
    expect(installs(cfg)).toBeGreaterThan(0);
  });

  it('install snapshots (unreliable+crash): the same over a lossy, delaying network', () => {
    const cfg = snapcommon('install snapshots (unreliable+crash)', {
      disconnect: false,
      reliable: false,
      crash: true,
    });
    expect(installs(cfg)).toBeGreaterThan(0);
  });

  it('crash and restart all servers: they restart from snapshot plus log tail, and the index never goes back', () => {
    const servers = 3;
    const iters = 5;
    const cfg = lab('crash and restart all servers', { servers, unreliable: false });
    cfg.one(anyCommand(cfg), servers, true);
    for (let i = 0; i < iters; i++) {
      // Perhaps enough to get a snapshot.
      const nn = snapShotInterval / 2 + cfg.random.int(0, snapShotInterval - 1);
      for (let k = 0; k < nn; k++) cfg.one(anyCommand(cfg), servers, true);
      const index1 = cfg.one(anyCommand(cfg), servers, true);
      crashAndReviveAll(cfg);
      const index2 = cfg.one(anyCommand(cfg), servers, true);
      if (index2 < index1 + 1) cfg.fail(`index decreased from ${index1} to ${index2}`);
    }
    expect(snapshotsTaken(cfg)).toBeGreaterThan(0);
  });

  it('snapshot initialization after crash: state restored from a snapshot is not lost by later writes', () => {
    const servers = 3;
    const cfg = lab('snapshot initialization after crash', { servers, unreliable: false });
    cfg.one(anyCommand(cfg), servers, true);
    // Enough ops to make a snapshot.
    for (let i = 0; i < snapShotInterval + 1; i++) cfg.one(anyCommand(cfg), servers, true);
    crashAndReviveAll(cfg);
    // A single op, to get something written back to persistent storage.
    cfg.one(anyCommand(cfg), servers, true);
    crashAndReviveAll(cfg);
    // Another op to trigger a potential bug.
    const index = cfg.one(anyCommand(cfg), servers, true);
    expect(cfg.nCommitted(index).count).toBe(servers);
    // Every server came back from a snapshot: one it took, or one a leader sent it.
    for (const node of cfg.sim.allNodes) {
      expect(node.snapshotsTaken + node.snapshotsInstalled).toBeGreaterThanOrEqual(1);
    }
  });
});
