// The test-only fault injection: the admin route refuses on a node without `faultInjection` and
// rejects bad bodies on one with it; the clock shifts and skews continuously; the disk layer's
// ENOSPC stalls FileStorage until cleared and its EIO fences it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { FileStorage } from '@distsync/raft';
import { DiskFaults, FaultClock, loadConfig, startNode, type RunningNode } from '@distsync/node';
import { http, removeDir, tempDir, waitFor } from './test-support/processes.js';

const nodes: RunningNode[] = [];
const dirs: string[] = [];

async function start(id: string, faultInjection: boolean): Promise<string> {
  const dir = tempDir(`faults-${id}`);
  dirs.push(dir);
  const config = loadConfig({
    flags: { id, port: 0, dataDir: dir, tickMs: 20 },
    env: faultInjection ? { DISTSYNC_FAULT_INJECTION: '1' } : {},
  });
  const node = await startNode(config, { logger: pino({ level: 'silent' }) });
  nodes.push(node);
  const base = `http://127.0.0.1:${node.port}`;
  await waitFor('ready', async () =>
    (await http(`${base}/ready`)).status === 200 ? true : undefined,
  );
  return base;
}

let off: string;
let on: string;

beforeAll(async () => {
  off = await start('off', false);
  on = await start('on', true);
});

afterAll(async () => {
  for (const node of nodes) await node.drain();
  for (const dir of dirs) removeDir(dir);
});

describe('POST /v1/debug/faults', () => {
  it('answers 403 FAULT_INJECTION_DISABLED on a node without faultInjection, whatever the body', async () => {
    for (const body of [{ clock: { offsetMs: 1000 } }, { nonsense: true }]) {
      const answer = await http(`${off}/v1/debug/faults`, { method: 'POST', body });
      expect(answer.status).toBe(403);
      expect(answer.body).toMatchObject({ error: { code: 'FAULT_INJECTION_DISABLED' } });
    }
    expect((await http(`${off}/v1/debug/faults`)).status).toBe(403);
  });

  it('answers 400 BAD_REQUEST for unknown fields and values out of bounds, and applies a good body', async () => {
    for (const body of [
      { clock: { offsetMs: 10_000_000 } },
      { clock: { rate: 3 } },
      { disk: { failNext: 'read' } },
      { disk: { syncDelayMs: -1 } },
      { bogus: 1 },
    ]) {
      const answer = await http(`${on}/v1/debug/faults`, { method: 'POST', body });
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.body).toMatchObject({ error: { code: 'BAD_REQUEST' } });
    }
    const set = await http(`${on}/v1/debug/faults`, {
      method: 'POST',
      body: { clock: { offsetMs: -1500 }, disk: { syncDelayMs: 5 } },
    });
    expect(set.status).toBe(200);
    const state = set.body as { clock: { offsetMs: number; wallMs: number }; disk: unknown };
    expect(state.clock.offsetMs).toBe(-1500);
    expect(Math.abs(state.clock.wallMs - (Date.now() - 1500))).toBeLessThan(500);
    expect(state.disk).toMatchObject({ syncDelayMs: 5, noSpace: false });
    // The node still commits on its slowed disk and shifted clock.
    expect((await http(`${on}/v1/kv/k`, { method: 'PUT', body: { value: 1 } })).status).toBe(200);
    const reset = await http(`${on}/v1/debug/faults`, { method: 'POST', body: { reset: true } });
    expect(reset.body).toMatchObject({ clock: { offsetMs: 0, rate: 1 }, disk: { syncDelayMs: 0 } });
  });
});

describe('FaultClock', () => {
  it('steps the wall clock by the offset only, and runs both clocks at the rate without a jump', () => {
    const clock = new FaultClock();
    clock.set({ offsetMs: 2000 });
    expect(Math.abs(clock.wallMs() - Date.now() - 2000)).toBeLessThan(50);
    expect(Math.abs(clock.monotonicMs() - performance.now())).toBeLessThan(50);
    const before = clock.monotonicMs();
    clock.set({ rate: 2 });
    expect(Math.abs(clock.monotonicMs() - before)).toBeLessThan(50);
    expect(() => {
      clock.set({ rate: 5 });
    }).toThrow(RangeError);
    clock.reset();
    expect(Math.abs(clock.wallMs() - Date.now())).toBeLessThan(50);
  });
});

describe('DiskFaults under FileStorage', () => {
  it('ENOSPC leaves the storage waiting for space and it syncs once cleared; EIO on fsync fences it', async () => {
    const dir = tempDir('faults-disk');
    dirs.push(dir);
    const faults = new DiskFaults();
    const storage = await FileStorage.open({ dataDir: dir, fs: faults.fs, noSpaceRetryMs: 0 });
    try {
      storage.setHardState({ term: 1, vote: null, commit: 0 });
      faults.set({ noSpace: true });
      await expect(storage.sync()).rejects.toMatchObject({ code: 'NO_SPACE' });
      expect(storage.health().type).toBe('no-space');
      faults.set({ noSpace: false });
      await storage.sync();
      expect(storage.health().type).toBe('ok');
      faults.set({ failNext: 'fsync' });
      storage.setHardState({ term: 2, vote: null, commit: 0 });
      await expect(storage.sync()).rejects.toMatchObject({ code: 'FSYNC_FAILED' });
      expect(storage.health().type).toBe('failed');
      expect(faults.state().fired).toEqual({ eio: 1, enospc: 1 });
    } finally {
      await storage.close();
    }
  });
});
