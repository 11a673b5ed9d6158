// Configuration: precedence of the sources, defaults, and errors that name the field.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, NodeError } from '@distsync/node';
import { killAllChildren, removeDir, runCli, tempDir } from './test-support/processes.js';

function errorOf(run: () => unknown): NodeError {
  try {
    run();
  } catch (error) {
    if (error instanceof NodeError) return error;
    throw error;
  }
  throw new Error('expected a NodeError');
}

describe('loadConfig', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) removeDir(dir);
  });

  it('fills in defaults and prefers flags over env over the file', () => {
    const dir = tempDir('config');
    dirs.push(dir);
    const file = join(dir, 'node.json');
    writeFileSync(file, JSON.stringify({ id: 'n1', port: 7000, host: '0.0.0.0', tickMs: 20 }));
    const config = loadConfig({
      file,
      env: { DISTSYNC_PORT: '7100', DISTSYNC_TICK_MS: '30' },
      flags: { port: '7200', peers: 'n2=127.0.0.1:7402,n3=http://h3:7403', secret: 'x'.repeat(16) },
    });
    expect(config).toMatchObject({
      id: 'n1',
      port: 7200,
      tickMs: 30,
      host: '0.0.0.0',
      advertise: 'http://127.0.0.1:7200',
      dataDir: join('.distsync', 'n1'),
      clusterId: 'distsync',
      peers: { n2: 'ws://127.0.0.1:7402', n3: 'ws://h3:7403' },
      maxLocks: 100_000,
    });
    expect(loadConfig({ flags: { id: 'n1', maxLocks: '250000' } }).maxLocks).toBe(250_000);
  });

  it('names the field, the flag and the variable in every error', () => {
    expect(errorOf(() => loadConfig({ flags: { id: 'n1', port: 'abc' } })).message).toMatch(
      /^port: expected an integer between 0 and 65535 \(got "abc"\) \[flag --port, env DISTSYNC_PORT\]/,
    );
    expect(
      errorOf(() => loadConfig({ env: { DISTSYNC_ID: 'n1', DISTSYNC_LOG_LEVEL: 'loud' } })).field,
    ).toBe('logLevel');
    expect(errorOf(() => loadConfig({ flags: { port: 1 } })).field).toBe('id');
    expect(errorOf(() => loadConfig({ flags: { id: 'n1', peers: 'n2' } })).field).toBe('peers');
    expect(
      errorOf(() => loadConfig({ flags: { id: 'n1', peers: 'n2=127.0.0.1:1' } })).message,
    ).toMatch(/^secret: required when peers are configured/);
    expect(
      errorOf(() => loadConfig({ env: { DISTSYNC_ID: 'n1', DISTSYNC_MAX_LOCKS: '0' } })).field,
    ).toBe('maxLocks');
    expect(errorOf(() => loadConfig({ flags: { id: 'n1', unknownKey: 1 } })).message).toMatch(
      /unknownKey|Unrecognized/,
    );
  });
});

describe('distsync node with a bad value', () => {
  afterEach(killAllChildren);

  it('exits with code 2 and names the field', async () => {
    const run = runCli(['node', '--id', 'n1', '--port', '70000']);
    expect(await run.exited).toBe(2);
    expect(run.output()).toMatch(/invalid configuration: port: .*\(got "70000"\)/);
    const fromEnv = runCli(['node', '--id', 'n1'], { DISTSYNC_ELECTION_TICKS: 'many' });
    expect(await fromEnv.exited).toBe(2);
    expect(fromEnv.output()).toMatch(/electionTicks: .*DISTSYNC_ELECTION_TICKS/);
  });
});
