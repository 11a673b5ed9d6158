// A cluster without a service gets no menu entry for it and `--scenario <it>` fails with a note
// instead of running a broken scenario. A one-node stand-in answers /status with kv and sessions
// only (no lock, queue or cache service).
import { createServer, type Server } from 'node:http';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT_FAILED, EXIT_OK, runDemo } from '@distsync/demo';
import { plain, waitFor } from './test-support/processes.js';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))),
  );
});

async function standIn(): Promise<string> {
  const server = createServer((request, response) => {
    if (request.url !== '/status') {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(
      JSON.stringify({
        id: 'f1',
        url: '',
        state: 'running',
        role: 'leader',
        term: 3,
        leader: 'f1',
        commitIndex: 7,
        appliedIndex: 7,
        lastIndex: 7,
        ready: true,
        services: ['kv', 'sessions'],
      }),
    );
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
}

function collect(): { output: PassThrough; text: () => string } {
  const output = new PassThrough();
  let text = '';
  output.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return { output, text: () => plain(text) };
}

describe('scenarios of services the cluster does not host', () => {
  it('--scenario locks exits 1 with a note, without running anything', async () => {
    const url = await standIn();
    const { output, text } = collect();
    const code = await runDemo({ endpoints: [url], scenario: 'locks', output, color: false });
    expect(code).toBe(EXIT_FAILED);
    expect(text()).toContain('Locks left out: the cluster has no "lock" service');
    expect(text()).not.toContain('━━ Locks');
  });

  it('the menu lists only what the cluster offers', async () => {
    const url = await standIn();
    const { output, text } = collect();
    const input = new PassThrough();
    const done = runDemo({ endpoints: [url], input, output, color: false });
    await waitFor(
      'the menu',
      () => (text().includes('? What would you like to see?') ? true : undefined),
      {
        timeoutMs: 30_000,
        detail: text,
      },
    );
    expect(text()).toMatch(/1\. Raft\s+2\. Cluster status\s+3\. Key-value\s+4\. Exit/);
    expect(text()).not.toMatch(/\d\. (Locks|Queue|Cache)/);
    input.write('\u0003');
    expect(await done).toBe(EXIT_OK);
  });
});
