// With a certificate, key and CA, nodes serve https/wss, talk mutual TLS to their peers, elect a
// leader and replicate. (Refusal of untrusted peer certificates is tested in transport-ws.)
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { loadConfig, startNode, type RunningNode } from '@distsync/node';
import { freePort, removeDir, SECRET, tempDir, waitFor } from './test-support/processes.js';

let dir = '';
const nodes: RunningNode[] = [];

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** A CA and one certificate for 127.0.0.1 signed by it (used by every node, server and client). */
function makeCertificates(): void {
  const key = ['-newkey', 'rsa:2048', '-nodes', '-days', '1'];
  openssl(
    'req',
    '-x509',
    ...key,
    '-subj',
    '/CN=distsync test CA',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
  );
  writeFileSync(join(dir, 'node.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=node',
    '-keyout',
    'node.key',
    '-out',
    'node.csr',
  );
  openssl(
    ...['x509', '-req', '-in', 'node.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key'],
    ...['-CAcreateserial', '-days', '1', '-out', 'node.pem', '-extfile', 'node.ext'],
  );
}

function getJson(url: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: readFileSync(join(dir, 'ca.pem')) }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  dir = tempDir('tls');
  makeCertificates();
  const ports = [await freePort(), await freePort(), await freePort()];
  const ids = ['n1', 'n2', 'n3'];
  for (const [index, id] of ids.entries()) {
    const peers = ids.map((peer, at) => `${peer}=127.0.0.1:${ports[at]}`).join(',');
    const config = loadConfig({
      flags: {
        id,
        port: ports[index],
        peers,
        secret: SECRET,
        dataDir: join(dir, id),
        tlsCertFile: join(dir, 'node.pem'),
        tlsKeyFile: join(dir, 'node.key'),
        tlsCaFile: join(dir, 'ca.pem'),
      },
    });
    expect(config.advertise).toBe(`https://127.0.0.1:${ports[index]}`);
    nodes.push(await startNode(config, { logger: pino({ level: 'silent' }) }));
  }
});

afterAll(async () => {
  await Promise.all(nodes.map((node) => node.drain()));
  removeDir(dir);
});

describe('TLS between nodes', () => {
  it('elects a leader over mutual TLS and replicates a write', async () => {
    const leader = await waitFor('a leader over TLS', () =>
      nodes.find((node) => node.raft.status().role === 'leader'),
    );
    const written = await leader.raft.command('kv', { op: 'put', key: 'secure', value: 1 });
    expect(written.ok).toBe(true);
    const follower = nodes.find((node) => node !== leader)!;
    const status = await getJson(`https://127.0.0.1:${follower.port}/status`);
    expect(status.body).toMatchObject({ url: `https://127.0.0.1:${follower.port}` });
    const read = await getJson(`https://127.0.0.1:${follower.port}/v1/kv/secure`);
    expect(read).toEqual({
      status: 200,
      body: { value: 1, version: expect.any(Number) as number },
    });
    const peers = (status.body as { peers: { connection: string; url: string }[] }).peers;
    expect(
      peers.every((peer) => peer.connection === 'connected' && peer.url.startsWith('https://')),
    ).toBe(true);
  });
});
