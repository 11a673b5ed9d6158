// Scenario mode, as CI and `npm start` without a terminal run it: the demo starts its own
// three-node cluster, runs every scenario, checks each outcome and exits 0; it stops every node
// and removes its temporary data; an unknown scenario is a usage error; a failed check exits 1;
// Ctrl-C (SIGINT) in the middle of a scenario stops everything and exits 130.
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedCluster } from '@distsync/demo';
import {
  announced,
  freePort,
  killAllDemos,
  portIsFree,
  runDemoCli,
  waitFor,
} from './test-support/processes.js';

const clusters: EmbeddedCluster[] = [];
afterEach(async () => {
  await killAllDemos();
  await Promise.all(clusters.splice(0).map((cluster) => cluster.stop()));
});

async function expectStopped(output: string): Promise<void> {
  const { ports, dataDir } = announced(output);
  expect(ports).toHaveLength(3);
  expect(await Promise.all(ports.map(portIsFree))).toEqual([true, true, true]);
  expect(dataDir).toBeDefined();
  expect(existsSync(dataDir ?? '')).toBe(false);
}

describe('distsync-demo scenario mode', () => {
  it('runs every scenario when stdin is not a terminal, every check holds, exit 0, nodes stopped and data removed', async () => {
    const demo = runDemoCli(['--base-port', '0']);
    const code = await demo.exited;
    const output = demo.output();
    expect(code, output).toBe(0);
    expect(output).toMatch(/✔ \w+ elected leader in term (\d+) \(> \d+\)/);
    const caughtUp = /✔ n\d is a follower of n\d in term \d+, applied index (\d+) >= (\d+)/.exec(
      output,
    );
    expect(caughtUp, output).not.toBeNull();
    expect(Number(caughtUp?.[1])).toBeGreaterThanOrEqual(Number(caughtUp?.[2]));
    for (const name of ['locks', 'queue', 'cache', 'raft', 'status', 'kv']) {
      expect(output).toMatch(new RegExp(`✔ ${name}\\s+(\\d+)/\\1 checks passed`));
    }
    expect(output).not.toContain('✘');
    expect(output).toMatch(/all \d+ checks held/);
    await expectStopped(output);
  });

  it('refuses an unknown scenario with exit 2 before starting any node', async () => {
    const demo = runDemoCli(['--scenario', 'nope', '--base-port', '0']);
    expect(await demo.exited).toBe(2);
    expect(demo.output()).toMatch(/unknown scenario "nope": one of locks, .*raft, status, kv, all/);
    expect(demo.output()).not.toContain('starting');
  });

  it('exits 1 when a check fails (a fourth endpoint that does not answer) and 0 on the same cluster when all hold', async () => {
    const cluster = await EmbeddedCluster.start({ basePort: 0 });
    clusters.push(cluster);
    const urls = cluster.members.map((member) => member.url);
    const dead = await freePort();
    const failing = runDemoCli([
      ...['--endpoints', [...urls, `127.0.0.1:${dead}`].join(','), '--scenario', 'status'],
    ]);
    expect(await failing.exited, failing.output()).toBe(1);
    expect(failing.output()).toContain('✘ 3 of 4 nodes answer /status');
    expect(failing.output()).toContain('1 of 3 checks failed');

    const healthy = runDemoCli(['--endpoints', urls.join(','), '--scenario', 'kv']);
    expect(await healthy.exited, healthy.output()).toBe(0);
    expect(healthy.output()).toContain('✔ the stale compare-and-set is refused with CONFLICT');
    expect(cluster.members.every((member) => cluster.isRunning(member.id))).toBe(true);
  });

  it('stops every node and exits 130 on Ctrl-C in the middle of the raft scenario', async () => {
    const demo = runDemoCli(['--scenario', 'raft', '--base-port', '0']);
    await waitFor(
      'the leader to be killed',
      () => (/› kill -9 n\d/.test(demo.output()) ? true : undefined),
      {
        timeoutMs: 200_000,
        detail: () => demo.output(),
      },
    );
    demo.child.kill('SIGINT');
    expect(await demo.exited, demo.output()).toBe(130);
    expect(demo.output()).toContain('interrupted: everything is stopped');
    await expectStopped(demo.output());
  });
});
