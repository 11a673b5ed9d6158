// The short campaign CI runs: real node processes (from source), real faults, real histories,
// checked by the same checkers `pnpm verify` uses. Long campaigns run on demand (docs/verification.md).
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  checkRegisters,
  KvWorkload,
  LockWorkload,
  QueueWorkload,
  resolveNetwork,
  runCampaign,
  runningProcessCount,
  type RegisterOperation,
} from '@distsync/testkit';

/** A read after everything else that returns the value of a write known to be overwritten. */
/**
 * A read, just after a write on its key returned, of the value that write replaced: never
 * linearizable (values are unique). It goes at the earliest such point of the history, so the
 * checker refutes it from a short prefix instead of searching the whole key's history.
 */
function injectStaleRead(ops: readonly RegisterOperation[]): RegisterOperation | undefined {
  const writes = ops
    .filter((op) => op.input.f === 'write' && op.returnMs !== Infinity)
    .sort((a, b) => a.callMs - b.callMs);
  let best: { older: RegisterOperation; newer: RegisterOperation } | undefined;
  for (const older of writes) {
    const newer = writes.find((op) => op.key === older.key && op.callMs > older.returnMs);
    if (newer === undefined) continue;
    if (newer.returnMs < (best?.newer.returnMs ?? Infinity)) best = { older, newer };
  }
  if (best?.older.input.f !== 'write') return undefined;
  return {
    id: 1_000_000,
    process: 999,
    key: best.older.key,
    input: { f: 'read' },
    output: { f: 'read', value: best.older.input.value },
    callMs: best.newer.returnMs + 0.001,
    returnMs: best.newer.returnMs + 0.002,
  };
}

describe('kv campaign on a real cluster (CI)', () => {
  it('every workload passes its checkers while leaders are killed and isolated, clocks step and disks fail (EIO kills a node, ENOSPC stalls one), and a stale read injected into the kv history is caught', async () => {
    const workload = new KvWorkload({ keys: 4, clients: 3 });
    const report = await runCampaign({
      workloads: [
        workload,
        new LockWorkload({ clients: 3 }),
        new QueueWorkload(),
        new KvWorkload({ service: 'cache', keys: 3, clients: 3 }),
        // The negative control for the mutex checker: no token check at the resource.
        new LockWorkload({
          unfenced: true,
          locks: 1,
          clients: 3,
          stallProbability: 0.6,
          stallPastTtlMs: 1500,
        }),
      ],
      // The EIO first: its node dies and restarts (8-14 s from source) while time is left.
      // Then followers' clocks step (up to ±2 s; one that leads by the heal keeps its offset,
      // since a leader's clock cannot step), before the leader is isolated and killed.
      nemeses: ['disk-eio', 'clock-offset', 'partition-leader', 'disk-enospc', 'kill-leader'],
      rotateNemeses: true,
      timeMs: 43_000,
      seed: 42,
      quietMs: [1000, 2000],
      holdMs: [2500, 3500],
    });
    // The harness: every fault ran, clients got through, nothing crashed, everything cleaned up.
    expect(report.findings).toEqual([]);
    expect(report.faults.map((fault) => fault.kind)).toEqual(
      expect.arrayContaining([
        'disk-eio',
        'clock-offset',
        'partition-leader',
        'disk-enospc',
        'kill-leader',
      ]),
    );
    // The EIO itself ended the node (not the harness's kill -9 fallback).
    const eio = report.faults.find((fault) => fault.kind === 'disk-eio');
    expect(eio?.description).toMatch(/exited 1 after/);
    // The partition went through the network this machine gives (namespaces as root) and
    // dropped peer traffic there.
    expect(report.network).toBe(resolveNetwork());
    expect(report.dropped.count).toBeGreaterThan(0);
    for (const name of ['kv', 'lock', 'queue', 'cache']) {
      expect(report.operations[name]?.ok, name).toBeGreaterThan(20);
    }
    expect(runningProcessCount()).toBe(0);
    // The verdicts on the real history.
    for (const checker of report.checkers.filter((c) => c.workload !== 'lock-unfenced'))
      expect(checker, checker.summary).toMatchObject({ valid: true });
    // The unfenced resource accepted a stalled holder's late write: the checker says so.
    const unfenced = report.checkers.find((c) => c.workload === 'lock-unfenced');
    expect(unfenced?.valid, unfenced?.summary).toBe(false);
    expect(unfenced?.summary).toContain('stale-write-accepted');
    // The negative control: the same history plus one stale read is not linearizable.
    const operations = workload.registerOperations();
    const stale = injectStaleRead(operations);
    expect(stale).toBeDefined();
    const verdict = checkRegisters([...operations, stale!]);
    expect(verdict.valid).toBe(false);
    if (verdict.valid === false) expect(verdict.windows[0]?.culprit.id).toBe(stale!.id);
  }, 180_000);

  it('removes its data dir and leaves no process behind when the cluster cannot start', async () => {
    // Proves the failure path: a node that exits at once (bad flag) ends the campaign with a
    // finding, not a hang, and the cleanup still runs.
    const workload = new KvWorkload({ keys: 1, clients: 1 });
    const { Cluster } = await import('@distsync/testkit');
    const cluster = await Cluster.start({ nodes: 1, extraArgs: ['--tick-ms', 'not-a-number'] });
    await expect(cluster.waitReady(60_000)).rejects.toMatchObject({ code: 'PROCESS_EXITED' });
    await cluster.stop();
    expect(existsSync(cluster.rootDir)).toBe(false);
    expect(runningProcessCount()).toBe(0);
    expect(workload.stats().operations).toBe(0);
  }, 90_000);
});
