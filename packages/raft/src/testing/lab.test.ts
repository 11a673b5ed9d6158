// The MIT 6.5840 Raft lab tests 3A-3C (test_test.go), ported to the simulator with the lab's own
// parameters: 10% loss and 0-26 ms delays when unreliable, long reordering of replies, a leader
// within 5 s (checkOneLeader's ten 450-550 ms rounds) and agreement within 10 s (one()), all in
// virtual time. Every test has a fixed seed; a failure prints the seed and the last trace lines.
// Where the lab expects a command's log index, we count commands only: this core appends a no-op
// entry at each election (Raft paper 5.4.2, 8), which the lab's reference solution does not.
import { describe, expect, it } from 'vitest';
import { LabCluster, labElectionTimeoutMs } from '@distsync/raft/testing';

const electionTimeout = labElectionTimeoutMs;

function lab(
  name: string,
  options: { servers: number; unreliable?: boolean; seed?: number },
): LabCluster {
  return new LabCluster({
    servers: options.servers,
    unreliable: options.unreliable ?? false,
    seed: options.seed ?? 6584,
    replayCommand: `pnpm vitest run --project raft packages/raft/src/testing/lab.test.ts -t "${name}"`,
  });
}

describe('6.5840 lab 3A: leader election', () => {
  it('initial election: one leader is elected, all agree on its term, and it stays without failures', () => {
    const cfg = lab('initial election', { servers: 3 });
    cfg.checkOneLeader();
    cfg.sleep(50);
    const term1 = cfg.checkTerms();
    expect(term1).toBeGreaterThanOrEqual(1);
    cfg.sleep(2 * electionTimeout);
    // The lab only warns here; with pre-vote and check-quorum the term must not move at all.
    expect(cfg.checkTerms()).toBe(term1);
    cfg.checkOneLeader();
  });

  it('re-election: a new leader after the old one is cut off, none without a quorum', () => {
    const cfg = lab('re-election', { servers: 3 });
    const leader1 = cfg.checkOneLeader();
    cfg.disconnect(leader1);
    cfg.checkOneLeader();
    // The old leader rejoining must not disturb the new one.
    cfg.connect(leader1);
    const leader2 = cfg.checkOneLeader();
    cfg.disconnect(leader2);
    cfg.disconnect((leader2 + 1) % 3);
    cfg.sleep(2 * electionTimeout);
    cfg.checkNoLeader();
    cfg.connect((leader2 + 1) % 3);
    cfg.checkOneLeader();
    cfg.connect(leader2);
    cfg.checkOneLeader();
  });

  it('many elections: 7 servers keep a leader while 3 random ones come and go', () => {
    const cfg = lab('many elections', { servers: 7 });
    cfg.checkOneLeader();
    for (let iteration = 1; iteration < 10; iteration++) {
      const picks = [0, 1, 2].map(() => cfg.random.int(0, 6));
      for (const i of picks) cfg.disconnect(i);
      cfg.checkOneLeader();
      for (const i of picks) cfg.connect(i);
    }
    cfg.checkOneLeader();
  });
});

describe('6.5840 lab 3B: log replication', () => {
  it('basic agreement: commands commit on every server in order', () => {
    const cfg = lab('basic agreement', { servers: 3 });
    let previous = -1;
    for (let command = 1; command <= 3; command++) {
      if (previous !== -1) expect(cfg.nCommitted(previous + 1).count).toBe(0);
      const index = cfg.one(command * 100, 3, false);
      expect(cfg.commandCount(0, index)).toBe(command);
      if (previous !== -1) expect(index).toBe(previous + 1);
      previous = index;
    }
  });

  it('RPC bytes: each command is sent to each follower about once', () => {
    const cfg = lab('RPC byte count', { servers: 3 });
    cfg.one(99, 3, false);
    const bytes0 = cfg.bytesTotal();
    let sent = 0;
    for (let i = 0; i < 10; i++) {
      const command = Array.from({ length: 5000 }, () =>
        String.fromCharCode(97 + cfg.random.int(0, 25)),
      ).join('');
      cfg.one(command, 3, false);
      sent += command.length;
    }
    const got = cfg.bytesTotal() - bytes0;
    // The lab allows servers * sent + 50,000 bytes of whole RPCs; we count command bytes only, so
    // we hold it to the two followers with 10% slack.
    expect(got).toBeLessThanOrEqual(3 * sent + 50_000);
    expect(got).toBeLessThanOrEqual(2 * sent * 1.1);
    expect(got).toBeGreaterThanOrEqual(2 * sent);
  });

  it('follower failure: agreement goes on without one follower and stops without both', () => {
    const cfg = lab('progressive failure of followers', { servers: 3 });
    cfg.one(101, 3, false);
    const leader1 = cfg.checkOneLeader();
    cfg.disconnect((leader1 + 1) % 3);
    cfg.one(102, 2, false);
    cfg.sleep(electionTimeout);
    cfg.one(103, 2, false);
    const leader2 = cfg.checkOneLeader();
    cfg.disconnect((leader2 + 1) % 3);
    cfg.disconnect((leader2 + 2) % 3);
    const started = cfg.start(leader2, 104);
    expect(started?.isLeader).toBe(true);
    expect(cfg.commandCount(leader2, started!.index)).toBe(4);
    cfg.sleep(2 * electionTimeout);
    expect(cfg.nCommitted(started!.index).count).toBe(0);
  });

  it('leader failure: a new leader takes over, and nothing commits without a majority', () => {
    const cfg = lab('failure of leaders', { servers: 3 });
    cfg.one(101, 3, false);
    const leader1 = cfg.checkOneLeader();
    cfg.disconnect(leader1);
    cfg.one(102, 2, false);
    cfg.sleep(electionTimeout);
    cfg.one(103, 2, false);
    const leader2 = cfg.checkOneLeader();
    cfg.disconnect(leader2);
    const starts = [0, 1, 2].map((i) => cfg.start(i, 104));
    cfg.sleep(2 * electionTimeout);
    for (const started of starts) {
      if (started?.isLeader === true) expect(cfg.nCommitted(started.index).count).toBe(0);
    }
    // No server applied command 104 anywhere.
    for (let index = 1; index <= 10; index++) expect(cfg.nCommitted(index).command).not.toBe('104');
  });

  it('fail agree: a follower that reconnects catches up and takes part again', () => {
    const cfg = lab('agreement after follower reconnects', { servers: 3 });
    cfg.one(101, 3, false);
    const leader = cfg.checkOneLeader();
    cfg.disconnect((leader + 1) % 3);
    cfg.one(102, 2, false);
    cfg.one(103, 2, false);
    cfg.sleep(electionTimeout);
    cfg.one(104, 2, false);
    cfg.one(105, 2, false);
    cfg.connect((leader + 1) % 3);
    cfg.one(106, 3, true);
    cfg.sleep(electionTimeout);
    cfg.one(107, 3, true);
  });

  it('fail no agree: nothing commits with 3 of 5 cut off, and the log heals after', () => {
    const cfg = lab('no agreement if too many followers disconnect', { servers: 5 });
    cfg.one(10, 5, false);
    const leader = cfg.checkOneLeader();
    for (const k of [1, 2, 3]) cfg.disconnect((leader + k) % 5);
    const started = cfg.start(leader, 20);
    expect(started?.isLeader).toBe(true);
    expect(cfg.commandCount(leader, started!.index)).toBe(2);
    cfg.sleep(2 * electionTimeout);
    expect(cfg.nCommitted(started!.index).count).toBe(0);
    for (const k of [1, 2, 3]) cfg.connect((leader + k) % 5);
    // The disconnected majority may have elected a leader of its own, forgetting command 20.
    const leader2 = cfg.checkOneLeader();
    const started2 = cfg.start(leader2, 30);
    expect(started2?.isLeader).toBe(true);
    const commands = cfg.commandCount(leader2, started2!.index);
    expect(commands >= 2 && commands <= 3).toBe(true);
    cfg.one(1000, 5, true);
  });

  it('concurrent starts: five commands started at once at the leader all commit', () => {
    const cfg = lab('concurrent Start()s', { servers: 3 });
    let success = false;
    for (let attempt = 0; attempt < 5 && !success; attempt++) {
      if (attempt > 0) cfg.sleep(3000);
      const leader = cfg.checkOneLeader();
      const first = cfg.start(leader, 1);
      if (first?.isLeader !== true) continue;
      // Started at the same virtual instant, as the lab's five goroutines are.
      const indexes: number[] = [];
      for (let i = 0; i < 5; i++) {
        const started = cfg.start(leader, 100 + i);
        if (started?.isLeader === true && started.term === first.term) indexes.push(started.index);
      }
      if ([0, 1, 2].some((i) => cfg.getState(i)?.term !== first.term)) continue;
      const commands = indexes.map((index) => cfg.wait(index, 3, first.term));
      if (commands.includes(undefined)) continue;
      expect(commands.sort()).toEqual(['100', '101', '102', '103', '104']);
      success = true;
    }
    expect(success).toBe(true);
  });

  it('rejoin: a partitioned leader with uncommitted entries rejoins and is overruled', () => {
    const cfg = lab('rejoin of partitioned leader', { servers: 3 });
    cfg.one(101, 3, true);
    const leader1 = cfg.checkOneLeader();
    cfg.disconnect(leader1);
    // The old leader tries to agree on entries it cannot commit.
    cfg.start(leader1, 102);
    cfg.start(leader1, 103);
    cfg.start(leader1, 104);
    cfg.one(103, 2, true);
    const leader2 = cfg.checkOneLeader();
    cfg.disconnect(leader2);
    cfg.connect(leader1);
    cfg.one(104, 2, true);
    cfg.connect(leader2);
    cfg.one(105, 3, true);
  });

  it('backup: a leader backs up quickly over long divergent follower logs', () => {
    const cfg = lab('leader backs up quickly over incorrect follower logs', { servers: 5 });
    const command = (): number => cfg.random.int(0, 1_000_000_000);
    cfg.one(command(), 5, true);
    const leader1 = cfg.checkOneLeader();
    for (const k of [2, 3, 4]) cfg.disconnect((leader1 + k) % 5);
    // Lots of commands that will not commit.
    for (let i = 0; i < 50; i++) cfg.start(leader1, command());
    cfg.sleep(electionTimeout / 2);
    cfg.disconnect(leader1 % 5);
    cfg.disconnect((leader1 + 1) % 5);
    for (const k of [2, 3, 4]) cfg.connect((leader1 + k) % 5);
    for (let i = 0; i < 50; i++) cfg.one(command(), 3, true);
    const leader2 = cfg.checkOneLeader();
    let other = (leader1 + 2) % 5;
    if (leader2 === other) other = (leader2 + 1) % 5;
    cfg.disconnect(other);
    for (let i = 0; i < 50; i++) cfg.start(leader2, command());
    cfg.sleep(electionTimeout / 2);
    for (let i = 0; i < 5; i++) cfg.disconnect(i);
    cfg.connect(leader1 % 5);
    cfg.connect((leader1 + 1) % 5);
    cfg.connect(other);
    for (let i = 0; i < 50; i++) cfg.one(command(), 3, true);
    for (let i = 0; i < 5; i++) cfg.connect(i);
    const before = cfg.sim.now;
    cfg.one(command(), 5, true);
    // Fast backtracking: the stale servers catch up over ~100 divergent entries in a few round trips.
    expect(cfg.sim.now - before).toBeLessThan(2 * electionTimeout);
  });

  it('RPC count: few messages to elect, to agree on ten commands, and while idle', () => {
    const cfg = lab('RPC counts are not too high', { servers: 3 });
    let leader = cfg.checkOneLeader();
    const electionRpcs = cfg.rpcTotal();
    expect(electionRpcs).toBeGreaterThanOrEqual(1);
    expect(electionRpcs).toBeLessThanOrEqual(30);
    let total2 = 0;
    let success = false;
    for (let attempt = 0; attempt < 5 && !success; attempt++) {
      if (attempt > 0) cfg.sleep(3000);
      leader = cfg.checkOneLeader();
      const total1 = cfg.rpcTotal();
      const iterations = 10;
      const first = cfg.start(leader, 1);
      if (first?.isLeader !== true) continue;
      const commands: string[] = [];
      let startedAll = true;
      for (let i = 1; i < iterations + 2; i++) {
        const command = String(cfg.random.int(0, 2 ** 31 - 1));
        commands.push(command);
        const started = cfg.start(leader, command);
        if (started?.isLeader !== true || started.term !== first.term) startedAll = false;
        else expect(started.index).toBe(first.index + i);
      }
      if (!startedAll) continue;
      let changed = false;
      for (let i = 1; i < iterations + 1; i++) {
        const applied = cfg.wait(first.index + i, 3, first.term);
        if (applied === undefined) changed = true;
        else expect(applied).toBe(commands[i - 1]);
      }
      total2 = cfg.rpcTotal();
      if (changed || [0, 1, 2].some((i) => cfg.getState(i)?.term !== first.term)) continue;
      expect(total2 - total1).toBeLessThanOrEqual((iterations + 1 + 3) * 3);
      success = true;
    }
    expect(success).toBe(true);
    cfg.sleep(electionTimeout);
    expect(cfg.rpcTotal() - total2).toBeLessThanOrEqual(3 * 20);
  });
});

describe('6.5840 lab 3C: persistence', () => {
  it('persist 1: servers restarted (all, the leader, a follower) keep their logs', () => {
    const cfg = lab('basic persistence', { servers: 3 });
    cfg.one(11, 3, true);
    for (let i = 0; i < 3; i++) cfg.start1(i);
    for (let i = 0; i < 3; i++) {
      cfg.disconnect(i);
      cfg.connect(i);
    }
    cfg.one(12, 3, true);
    const leader1 = cfg.checkOneLeader();
    cfg.disconnect(leader1);
    cfg.start1(leader1);
    cfg.connect(leader1);
    cfg.one(13, 3, true);
    const leader2 = cfg.checkOneLeader();
    cfg.disconnect(leader2);
    cfg.one(14, 2, true);
    cfg.start1(leader2);
    cfg.connect(leader2);
    // Wait for leader2 to catch up before killing the next one (the fourth command).
    const fourth = cfg.sim
      .node(cfg.id((leader2 + 1) % 3))
      .log.findIndex((entry) => new TextDecoder().decode(entry.data) === '14');
    cfg.wait(fourth + 1, 3, -1);
    const i3 = (cfg.checkOneLeader() + 1) % 3;
    cfg.disconnect(i3);
    cfg.one(15, 2, true);
    cfg.start1(i3);
    cfg.connect(i3);
    cfg.one(16, 3, true);
  });

  it('persist 2: repeated crashes of overlapping minorities lose nothing', () => {
    const cfg = lab('more persistence', { servers: 5 });
    let index = 1;
    for (let iteration = 0; iteration < 5; iteration++) {
      cfg.one(10 + index++, 5, true);
      const leader1 = cfg.checkOneLeader();
      cfg.disconnect((leader1 + 1) % 5);
      cfg.disconnect((leader1 + 2) % 5);
      cfg.one(10 + index++, 3, true);
      cfg.disconnect(leader1 % 5);
      cfg.disconnect((leader1 + 3) % 5);
      cfg.disconnect((leader1 + 4) % 5);
      cfg.start1((leader1 + 1) % 5);
      cfg.start1((leader1 + 2) % 5);
      cfg.connect((leader1 + 1) % 5);
      cfg.connect((leader1 + 2) % 5);
      cfg.sleep(electionTimeout);
      cfg.start1((leader1 + 3) % 5);
      cfg.connect((leader1 + 3) % 5);
      cfg.one(10 + index++, 3, true);
      cfg.connect((leader1 + 4) % 5);
      cfg.connect(leader1 % 5);
    }
    cfg.one(1000, 5, true);
  });

  it('persist 3: a partitioned leader and a crashed follower restart without losing commits', () => {
    const cfg = lab('partitioned leader and one follower crash, leader restarts', { servers: 3 });
    cfg.one(101, 3, true);
    const leader = cfg.checkOneLeader();
    cfg.disconnect((leader + 2) % 3);
    cfg.one(102, 2, true);
    cfg.crash1(leader % 3);
    cfg.crash1((leader + 1) % 3);
    cfg.connect((leader + 2) % 3);
    cfg.start1(leader % 3);
    cfg.connect(leader % 3);
    cfg.one(103, 2, true);
    cfg.start1((leader + 1) % 3);
    cfg.connect((leader + 1) % 3);
    cfg.one(104, 3, true);
  });

  function figure8(cfg: LabCluster, unreliable: boolean): void {
    const command = (): number => cfg.random.int(0, 9999);
    cfg.one(command(), 1, true);
    let up = 5;
    for (let iteration = 0; iteration < 1000; iteration++) {
      if (unreliable && iteration === 200) cfg.setLongReordering(true);
      let leader = -1;
      for (let i = 0; i < 5; i++) {
        const started = cfg.start(i, command());
        if (started?.isLeader === true && (!unreliable || cfg.isConnected(i))) leader = i;
      }
      cfg.sleep(
        cfg.random.chance(0.1) ? cfg.random.int(0, electionTimeout / 2 - 1) : cfg.random.int(0, 12),
      );
      if (unreliable) {
        if (leader !== -1 && cfg.random.int(0, 999) < electionTimeout / 2) {
          cfg.disconnect(leader);
          up--;
        }
      } else if (leader !== -1) {
        cfg.crash1(leader);
        up--;
      }
      if (up < 3) {
        const s = cfg.random.int(0, 4);
        if (unreliable ? !cfg.isConnected(s) : !cfg.isUp(s)) {
          if (!unreliable) cfg.start1(s);
          cfg.connect(s);
          up++;
        }
      }
    }
    for (let i = 0; i < 5; i++) {
      if (!unreliable && !cfg.isUp(i)) cfg.start1(i);
      if (!cfg.isConnected(i)) cfg.connect(i);
    }
    cfg.one(command(), 5, true);
  }

  it('Figure 8: leaders crash right after starting commands; only safe entries commit', () => {
    figure8(lab('Figure 8', { servers: 5 }), false);
  });

  it('Figure 8 on 20 more seeds: the same scenario through other crash schedules', () => {
    for (let seed = 1; seed <= 20; seed++)
      figure8(lab('Figure 8 on 20 more seeds', { servers: 5, seed }), false);
  });

  it('unreliable agreement: 250 commands commit through 10% loss and delays', () => {
    const cfg = lab('unreliable agreement', { servers: 5, unreliable: true });
    // The lab's four goroutines per round start their commands while one() runs; here they are
    // started at the leader first, and retried with one() at the end if they were lost.
    const background: { command: string; index: number }[] = [];
    for (let iteration = 1; iteration < 50; iteration++) {
      for (let j = 0; j < 4; j++) {
        const command = String(100 * iteration + j);
        const leader = cfg.sim.leaders()[0];
        const started =
          leader === undefined ? undefined : cfg.start(cfg.sim.nodeIds.indexOf(leader.id), command);
        background.push({ command, index: started?.isLeader === true ? started.index : -1 });
      }
      cfg.one(iteration, 1, true);
    }
    cfg.setUnreliable(false);
    for (const { command, index } of background) {
      if (index === -1 || cfg.nCommitted(index).command !== command) cfg.one(command, 1, true);
    }
    cfg.one(100, 5, true);
  });

  it('Figure 8 (unreliable): leaders cut off at random under loss and long reordering', () => {
    figure8(lab('Figure 8 (unreliable)', { servers: 5, unreliable: true }), true);
  });

  it('Figure 8 (unreliable) on 20 more seeds: the same through other loss and reordering', () => {
    for (let seed = 1; seed <= 20; seed++) {
      figure8(
        lab('Figure 8 (unreliable) on 20 more seeds', { servers: 5, unreliable: true, seed }),
        true,
      );
    }
  });

  function churn(cfg: LabCluster): void {
    const values: string[] = [];
    let stop = false;
    // Three clients, each a chain of scheduled steps: start a value at every server, then poll
    // for it at 10, 20, 50, 100 and 200 ms, as the lab's client goroutines do.
    const client = (me: number): void => {
      const step = (): void => {
        if (stop) return;
        const value = String(cfg.random.int(0, 2 ** 31 - 1));
        let index = -1;
        for (let i = 0; i < 5; i++) {
          const started = cfg.isUp(i) ? cfg.start(i, value) : undefined;
          if (started?.isLeader === true) index = started.index;
        }
        if (index === -1) {
          cfg.sim.schedule(79 + me * 17, `churn client ${me}`, step);
          return;
        }
        const poll = (waits: number[]): void => {
          const { count, command } = cfg.nCommitted(index);
          if (count > 0) {
            if (command === value) values.push(value);
            step();
          } else if (waits.length === 0) step();
          else
            cfg.sim.schedule(waits[0]!, `churn client ${me} poll`, () => {
              poll(waits.slice(1));
            });
        };
        poll([10, 20, 50, 100, 200]);
      };
      cfg.sim.schedule(0, `churn client ${me}`, step);
    };
    for (let me = 0; me < 3; me++) client(me);
    for (let iteration = 0; iteration < 20; iteration++) {
      if (cfg.random.int(0, 999) < 200) cfg.disconnect(cfg.random.int(0, 4));
      if (cfg.random.int(0, 999) < 500) {
        const i = cfg.random.int(0, 4);
        if (!cfg.isUp(i)) cfg.start1(i);
        cfg.connect(i);
      }
      if (cfg.random.int(0, 999) < 200) {
        const i = cfg.random.int(0, 4);
        if (cfg.isUp(i)) cfg.crash1(i);
      }
      cfg.sleep((electionTimeout * 7) / 10);
    }
    cfg.sleep(electionTimeout);
    cfg.setUnreliable(false);
    for (let i = 0; i < 5; i++) {
      if (!cfg.isUp(i)) cfg.start1(i);
      cfg.connect(i);
    }
    stop = true;
    cfg.sleep(electionTimeout);
    const lastIndex = cfg.one(cfg.random.int(0, 2 ** 31 - 1), 5, true);
    const really = new Set<string>();
    for (let index = 1; index <= lastIndex; index++) {
      const command = cfg.wait(index, 5, -1);
      if (command !== undefined) really.add(command);
    }
    expect(values.length).toBeGreaterThan(0);
    for (const value of values) expect(really.has(value)).toBe(true);
    cfg.sim.verifyAcknowledged();
  }

  it('churn: values committed while servers crash, restart and disconnect are all kept', () => {
    churn(lab('churn', { servers: 5 }));
  });

  it('unreliable churn: the same under 10% loss and delays', () => {
    churn(lab('unreliable churn', { servers: 5, unreliable: true }));
  });
});
