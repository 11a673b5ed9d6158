// The coherence protocol under a deterministic simulator: three node caches over one directory,
// message delays and drops, partitions, crashes and restarts, clocks that drift and disagree. After
// every event the MESI invariants hold; at the end every key's history is linearizable.
import { describe, expect, it } from 'vitest';
import { checkLinearizable, type HistoryOp } from './test-support/linearizability.js';
import { CacheSim, type SimOptions } from './test-support/sim.js';

/** More seeds on demand: CACHE_SIM_SEEDS=500 pnpm vitest run packages/cache-mesi/src/sim.test.ts */
const SEEDS = Number(process.env.CACHE_SIM_SEEDS ?? 40);

const BASE: Omit<SimOptions, 'seed'> = {
  nodes: 3,
  keys: 3,
  readLeaseMs: 300,
  clockDriftMax: 0.05,
  clockSkewMsMax: 20,
  delayMsMax: 8,
  dropRate: 0.02,
  maxEntries: 2,
  requestTimeoutMs: 120,
};

/** The invariants after one event; the first broken one, or undefined. */
function brokenInvariant(sim: CacheSim): string | undefined {
  for (let index = 0; index < sim.options.keys; index += 1) {
    const key = sim.keyName(index);
    const entry = sim.directory.peek(key);
    if (entry === undefined) continue;
    const exclusive = entry.holders.filter((line) => line.state !== 'S');
    if (exclusive.length > 1)
      return `${key}: two holders in M or E: ${JSON.stringify(entry.holders)}`;
    if (exclusive.length === 1 && entry.holders.length > 1) {
      return `${key}: M/E beside other copies: ${JSON.stringify(entry.holders)}`;
    }
  }
  for (const node of sim.nodes) {
    if (!node.up) continue;
    for (const line of node.cache.servableLines()) {
      const entry = sim.directory.peek(line.key);
      if (entry?.version === line.version) continue;
      // A copy older than the committed value may only be served while the write still waits
      // for this very holder (it is not acknowledged yet).
      if (entry?.pending.includes(`node:${node.id}`) !== true) {
        return `${node.id} serves ${line.key} v${line.version} (${JSON.stringify(line.value)}) but the committed version is v${String(entry?.version)}, pending ${JSON.stringify(entry?.pending)}`;
      }
    }
  }
  return undefined;
}

interface RunReport {
  readonly invariant: string | undefined;
  readonly violations: ReturnType<typeof checkLinearizable>;
  readonly completed: { reads: number; writes: number; localHits: number };
  readonly history: readonly HistoryOp[];
}

async function runSeed(seed: number, overrides: Partial<SimOptions> = {}): Promise<RunReport> {
  const sim = new CacheSim({
    ...BASE,
    ...overrides,
    seed,
    trace: process.env.CACHE_SIM_TRACE !== undefined,
  });
  for (let index = 0; index < 2; index += 1) sim.store.seed(sim.keyName(index), `initial-${index}`);
  const durationMs = 3000;
  let invariant: string | undefined;
  // Client operations: each node starts one every 2-20 ms while it is up.
  for (const node of sim.nodes) {
    const loop = (): void => {
      if (sim.nowMs > durationMs - 500) return;
      if (node.up) {
        const key = sim.keyName(Math.floor(sim.random() * sim.options.keys));
        const draw = sim.random();
        sim.startOperation(node, draw < 0.65 ? 'read' : draw < 0.93 ? 'write' : 'delete', key);
      }
      sim.schedule(2 + sim.random() * 18, loop);
    };
    sim.schedule(sim.random() * 10, loop);
  }
  // Faults: every 150-400 ms a node is cut off, crashed, or healed/restarted.
  const faults = (): void => {
    if (sim.nowMs > durationMs - 800) {
      for (const node of sim.nodes) {
        node.cut = false;
        if (!node.up) sim.restart(node);
      }
      return;
    }
    const node = sim.nodes[Math.floor(sim.random() * sim.nodes.length)];
    if (node !== undefined) {
      const draw = sim.random();
      if (!node.up) sim.restart(node);
      else if (node.cut) node.cut = false;
      else if (draw < 0.5) node.cut = true;
      else if (draw < 0.75) sim.crash(node);
    }
    sim.schedule(150 + sim.random() * 250, faults);
  };
  sim.schedule(200, faults);
  await sim.runUntil(durationMs + 2000, () => {
    if (invariant !== undefined) return;
    invariant = brokenInvariant(sim);
    if (invariant !== undefined && process.env.CACHE_SIM_TRACE !== undefined) {
      const key = /serves (\S+)/.exec(invariant)?.[1] ?? '';
      console.log(`t=${sim.nowMs} ${invariant}`);
      console.log(
        sim.trace
          .filter(
            (line) => line.includes(`"${key}"`) || line.includes('tick') || line.includes('renew'),
          )
          .slice(-60)
          .join('\n'),
      );
    }
  });
  const history = sim.history;
  const done = history.filter((op) => op.ok);
  return {
    invariant,
    violations: checkLinearizable(history),
    completed: {
      reads: done.filter((op) => op.kind === 'read').length,
      writes: done.filter((op) => op.kind !== 'read').length,
      localHits: sim.nodes.reduce((sum, node) => sum + node.cache.stats().hits, 0),
    },
    history,
  };
}

describe('the coherence protocol in the simulator', () => {
  it('keeps the MESI invariants and linearizable keys under drops, partitions, crashes and drift (40 seeds)', async () => {
    const totals = { reads: 0, writes: 0, localHits: 0 };
    for (let seed = Number(process.env.CACHE_SIM_FIRST ?? 1); seed <= SEEDS; seed += 1) {
      const report = await runSeed(seed);
      expect(report.invariant, `seed ${seed}`).toBeUndefined();
      expect(report.violations.slice(0, 3), `seed ${seed}`).toEqual([]);
      totals.reads += report.completed.reads;
      totals.writes += report.completed.writes;
      totals.localHits += report.completed.localHits;
    }
    // The runs did real work: reads, writes and reads served from a cache without the network.
    expect(totals.reads).toBeGreaterThan(2000);
    expect(totals.writes).toBeGreaterThan(800);
    expect(totals.localHits).toBeGreaterThan(200);
  }, 1_200_000);

  it('catches stale reads when node caches trust a lease longer than the directory grants (negative control)', async () => {
    let caught = 0;
    for (let seed = 1; seed <= 15; seed += 1) {
      const report = await runSeed(seed, { nodeReadLeaseMs: 3000, nodeClockDriftMax: 0 });
      if (report.invariant !== undefined || report.violations.length > 0) caught += 1;
    }
    expect(caught).toBeGreaterThan(0);
  }, 60_000);
});

describe('the linearizability checker', () => {
  const op = (fields: Partial<HistoryOp> & Pick<HistoryOp, 'kind' | 'invokeMs'>): HistoryOp => ({
    node: 'n1',
    key: 'k',
    returnMs: fields.invokeMs + 1,
    ok: true,
    version: 0,
    found: true,
    value: undefined,
    ...fields,
  });

  it('accepts a history where every read sees the latest acknowledged write', () => {
    const history = [
      op({ kind: 'write', invokeMs: 0, version: 5, value: 'a' }),
      op({ kind: 'read', invokeMs: 2, version: 5, value: 'a' }),
      op({ kind: 'write', invokeMs: 3, returnMs: 10, version: 7, value: 'b' }),
      op({ kind: 'read', invokeMs: 4, version: 5, value: 'a' }), // concurrent with the write
      op({ kind: 'read', invokeMs: 11, version: 7, value: 'b' }),
    ];
    expect(checkLinearizable(history)).toEqual([]);
  });

  it('rejects a stale read, a read going back, a wrong value, a read from the future and a write order inversion', () => {
    const rules = (history: HistoryOp[]): string[] => checkLinearizable(history).map((v) => v.rule);
    expect(
      rules([
        op({ kind: 'write', invokeMs: 0, version: 5, value: 'a' }),
        op({ kind: 'write', invokeMs: 2, version: 7, value: 'b' }),
        op({ kind: 'read', invokeMs: 5, version: 5, value: 'a' }),
      ]),
    ).toContain('2 stale read');
    expect(
      rules([
        op({ kind: 'read', invokeMs: 0, returnMs: 1, version: 7, value: 'b', node: 'n2' }),
        op({ kind: 'read', invokeMs: 2, version: 5, value: 'a' }),
      ]),
    ).toContain('3 reads go back');
    expect(
      rules([
        op({ kind: 'write', invokeMs: 0, version: 5, value: 'a' }),
        op({ kind: 'read', invokeMs: 2, version: 5, value: 'x' }),
      ]),
    ).toContain('1 value of version');
    expect(
      rules([
        op({ kind: 'read', invokeMs: 0, returnMs: 1, version: 9, value: 'z' }),
        op({ kind: 'write', invokeMs: 5, version: 9, value: 'z' }),
      ]),
    ).toContain('4 read from the future');
    expect(
      rules([
        op({ kind: 'write', invokeMs: 0, returnMs: 1, version: 9, value: 'z' }),
        op({ kind: 'write', invokeMs: 5, version: 4, value: 'y' }),
      ]),
    ).toContain('5 write order');
  });
});
