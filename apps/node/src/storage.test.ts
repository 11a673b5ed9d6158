// Storage failures at start are reported with their cause: a WAL damaged in the middle refuses
// to start (WAL_CORRUPT) instead of dropping acknowledged writes, and the CLI exits 1 saying why.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { loadConfig, startNode } from '@distsync/node';
import {
  http,
  killAllChildren,
  removeDir,
  runCli,
  tempDir,
  waitFor,
} from './test-support/processes.js';

const dirs: string[] = [];
afterEach(async () => {
  await killAllChildren();
  for (const dir of dirs.splice(0)) removeDir(dir);
});

describe('storage errors at start', () => {
  it('refuses to start on a WAL damaged before valid records, naming WAL_CORRUPT', async () => {
    const dataDir = tempDir('corrupt');
    dirs.push(dataDir);
    const config = loadConfig({ flags: { id: 'solo', port: 0, dataDir, tickMs: 20 } });
    const logger = pino({ level: 'silent' });
    const node = await startNode(config, { logger });
    const base = `http://127.0.0.1:${node.port}`;
    await waitFor('ready', async () =>
      (await http(`${base}/ready`)).status === 200 ? true : undefined,
    );
    for (let index = 0; index < 5; index += 1) {
      expect(
        (await http(`${base}/v1/kv/k${index}`, { method: 'PUT', body: { value: index } })).status,
      ).toBe(200);
    }
    await node.drain();
    const walDir = join(dataDir, 'wal');
    const segment = join(walDir, readdirSync(walDir).sort()[0]!);
    const bytes = readFileSync(segment);
    bytes[Math.floor(bytes.length / 3)]! ^= 0xff;
    writeFileSync(segment, bytes);
    await expect(startNode(config, { logger })).rejects.toMatchObject({ code: 'WAL_CORRUPT' });
  });

  it('exits 1 with the cause when the data directory cannot be used', async () => {
    const dir = tempDir('unusable');
    dirs.push(dir);
    const file = join(dir, 'a-file');
    writeFileSync(file, 'not a directory');
    const run = runCli(['node', '--id', 'n1', '--port', '0', '--data-dir', join(file, 'data')]);
    expect(await run.exited).toBe(1);
    expect(run.output()).toMatch(/cannot start node n1: .*(ENOTDIR|EEXIST|STORAGE_UNAVAILABLE)/);
  });
});
